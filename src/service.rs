//! The running service: the published answer table, the probe loops that
//! keep its targets' slots current, the transition history, and reload.
//!
//! Probe loops are keyed by target and outlive tables: a reload renews the
//! health [`Registry`] (targets that still exist keep their slots), keeps
//! the loops of targets whose check and record sets are unchanged, starts
//! loops for new ones and stops the loops of removed ones.
//!
//! What each dynamic set answers is watched ([`Watch`]): after every
//! publish of a table and every flip a probe loop publishes, the sets
//! concerned are looked at again, and an answer that moved counts as a
//! failover (`failover_events_total`, `failover_duration_seconds`). Two
//! flips that land before the watcher looks count as one move, with the
//! first one's reason.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::answer::SharedTable;
use crate::answer::{self, Moved, Table, Watch};
use crate::catalog::{Catalog, Problem};
use crate::cluster::Cluster;
use crate::config::notify::Notifier;
use crate::config::{self, ClusterConfig, Config};
use crate::health::exec;
use crate::health::probe::{Clients, Shared};
use crate::health::saved::{self, Saved};
use crate::health::{Change, Changes, Registry, Slot, Target, TargetKey, Transition, checker};
use crate::metrics::Metrics;
use crate::notify::Event;
use crate::notify::event::{AnswerChange, Change as EventChange, Sequence};

/// Transitions kept for the status API and page.
pub const HISTORY: usize = 100;
/// Transitions the broadcast channel holds for a slow subscriber. A
/// subscriber that falls further behind skips the oldest; the history
/// keeper then still sees the newest [`HISTORY`], which is all it keeps.
const EVENTS: usize = 1024;
const _: () = assert!(EVENTS >= HISTORY);

/// Where the configuration comes from, for reloads.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// The config file, if any.
    pub config: Option<PathBuf>,
    /// `--listen` addresses from the command line.
    pub listen: Vec<std::net::SocketAddr>,
    /// Zone files from the command line.
    pub zones: Vec<PathBuf>,
    /// `--state-dir` from the command line: replaces the config's.
    pub state_dir: Option<PathBuf>,
}

impl Source {
    /// Reads the config and every zone; every problem found.
    pub fn load(&self) -> Result<(Config, Catalog), Vec<Problem>> {
        let config = config::gather(
            self.config.as_deref(),
            &self.listen,
            &self.zones,
            self.state_dir.as_deref(),
        )
        .map_err(|errors| errors.into_iter().map(Problem::Config).collect::<Vec<_>>())?;
        let catalog = crate::catalog::load(&config)?;
        Ok((config, catalog))
    }
}

/// What the service is asked to do, by signals and by the API.
#[derive(Debug)]
pub enum Command {
    /// Read config and zones again; the reply, if asked for, says how it went.
    Reload(Option<oneshot::Sender<Result<Reloaded, Vec<Problem>>>>),
    /// Stop serving.
    Shutdown,
}

/// What a reload did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reloaded {
    /// Zones now served.
    pub zones: usize,
    /// Targets now probed.
    pub targets: usize,
}

/// The table being served and the loops probing its targets.
pub struct Service {
    table: SharedTable,
    /// The targets of the published table.
    health: Arc<Registry>,
    /// This instance's part in a cluster, when configured.
    cluster: Option<Cluster>,
    /// The `[cluster]` it was started with: changes wait for a restart.
    cluster_config: Option<ClusterConfig>,
    /// Where overrides and holds are kept, as started with: changes wait
    /// for a restart.
    state_dir: Option<PathBuf>,
    /// The state read at start, until the first table's slots take it.
    restore: Option<Saved>,
    /// The state file's writer, when there is a state directory.
    writer: Option<saved::Writer>,
    loops: HashMap<TargetKey, Running>,
    /// What the probe loops share: HTTP clients, exec slots (sized at
    /// start, as the rest of `[server]`).
    probing: Shared,
    events: broadcast::Sender<Transition>,
    /// To the watcher of answers, for the probe loops.
    changes: Changes,
    /// What each set answered when last looked at: a lock, as both the
    /// watcher task and [`Service::serve`] look, each holding it while it
    /// loads the table and compares.
    watch: Arc<Mutex<Watch>>,
    /// Numbered target and answer events, for the notifiers.
    notices: broadcast::Sender<Event>,
    history: Arc<Mutex<VecDeque<Transition>>>,
    notifier: Option<Notifying>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
}

/// The notifier task and the configuration it runs with.
struct Notifying {
    notifiers: Vec<Notifier>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

struct Running {
    target: Target,
    slot: Arc<Slot>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Service {
    /// Serves `zones` as `config` says: publishes their table and starts
    /// probing its targets, counting into `metrics`. `saved` is what the
    /// state directory held ([`saved::load`]): its overrides and holds
    /// are in the slots before the first table is published. Must run
    /// inside the tokio runtime.
    pub fn start(
        config: &Config,
        catalog: &Catalog,
        saved: Option<Saved>,
        metrics: Arc<Metrics>,
        shutdown: &CancellationToken,
    ) -> Result<Service, reqwest::Error> {
        let (events, _) = broadcast::channel(EVENTS);
        let history = Arc::new(Mutex::new(VecDeque::with_capacity(HISTORY)));
        tokio::spawn(keep_history(
            events.subscribe(),
            history.clone(),
            shutdown.clone(),
        ));
        let cluster = match &config.cluster {
            Some(cluster) => Some(Cluster::start(
                cluster.clone(),
                saved
                    .as_ref()
                    .map(|saved| saved::overrides(saved, std::time::SystemTime::now()))
                    .unwrap_or_default(),
                metrics.clone(),
                shutdown,
            )?),
            None => None,
        };
        let table: SharedTable = Arc::new(ArcSwap::from_pointee(Table::empty()));
        let watch = Arc::new(Mutex::new(Watch::default()));
        let (changes, changed) = mpsc::unbounded_channel();
        tokio::spawn(watch_answers(
            changed,
            table.clone(),
            watch.clone(),
            metrics.clone(),
            shutdown.clone(),
        ));
        let (notices, _) = broadcast::channel(EVENTS);
        // Subscribed before any probe loop runs, so no transition is missed.
        let transitions = events.subscribe();
        let writer = config.state_dir.as_ref().map(|dir| {
            saved::Writer::start(
                dir.clone(),
                saved.clone().unwrap_or_default(),
                shutdown.clone(),
            )
        });
        if config.state_dir.is_some() && saved.is_none() {
            tracing::info!("no saved overrides or holds: none to restore");
        }
        let mut service = Service {
            table,
            health: Arc::default(),
            cluster,
            cluster_config: config.cluster.clone(),
            state_dir: config.state_dir.clone(),
            restore: saved,
            writer,
            loops: HashMap::new(),
            probing: Shared {
                clients: Clients::new()?,
                exec: exec::Limit::new(config.max_exec_checks),
            },
            events,
            changes,
            watch,
            notices: notices.clone(),
            history,
            notifier: None,
            metrics,
            shutdown: shutdown.clone(),
        };
        service.serve(config, catalog);
        service.metrics.loaded();
        tokio::spawn(number_events(
            transitions,
            service.table.clone(),
            notices,
            shutdown.clone(),
        ));
        Ok(service)
    }

    /// The published table, for the sockets and the API.
    pub fn table(&self) -> &SharedTable {
        &self.table
    }

    /// The cluster, for the API, when this instance is one of one.
    pub(crate) fn cluster(&self) -> Option<crate::cluster::Handle> {
        self.cluster.as_ref().map(Cluster::handle)
    }

    /// The last [`HISTORY`] transitions, newest first.
    pub fn history(&self) -> &Arc<Mutex<VecDeque<Transition>>> {
        &self.history
    }

    /// Reads config and zones again and swaps the new table in; on any
    /// error the old table keeps serving and the errors are returned.
    pub fn reload(&mut self, source: &Source) -> Result<Reloaded, Vec<Problem>> {
        let loaded = source.load();
        self.metrics.count_reload(loaded.is_ok());
        let (config, catalog) = loaded?;
        for warning in &catalog.warnings {
            tracing::warn!("{warning}");
        }
        let reloaded = self.serve(&config, &catalog);
        crate::catalog::dispose(catalog);
        tracing::info!(
            zones = reloaded.zones,
            targets = reloaded.targets,
            "reloaded"
        );
        Ok(reloaded)
    }

    /// Publishes the table of `zones` and brings the probe loops and the
    /// notifiers in line with it and `config`.
    fn serve(&mut self, config: &Config, catalog: &Catalog) -> Reloaded {
        if config.cluster != self.cluster_config {
            tracing::warn!("[cluster] changes take effect when the server restarts");
        }
        if config.state_dir != self.state_dir {
            tracing::warn!("state-dir changes take effect when the server restarts");
        }
        if config.max_exec_checks != self.probing.exec.max() {
            tracing::warn!("max-exec-checks changes take effect when the server restarts");
        }
        let health = Arc::new(self.health.renew(&catalog.zones, &config.checks));
        if let (Some(saved), Some(dir)) = (self.restore.take(), &self.state_dir) {
            saved::apply(
                &saved,
                &health,
                &saved::path(dir),
                std::time::SystemTime::now(),
            );
        }
        if let Some(cluster) = &self.cluster {
            cluster.serve(health.clone());
        }
        if let Some(writer) = &self.writer {
            writer.serve(health.clone());
        }
        let table = answer::build_with(&catalog.zones, health.clone(), &self.metrics);
        let removed = self.probe(&health);
        self.table.store(Arc::new(table));
        let moved = lock(&self.watch).published(&self.table.load());
        for moved in moved {
            count_move(&self.metrics, moved, "reload", None);
        }
        for running in removed {
            running.stop();
        }
        self.health = health;
        self.notify(config.notify.clone());
        Reloaded {
            zones: catalog.zones.len(),
            targets: self.health.targets().len(),
        }
    }

    /// Runs a loop for each of `health`'s targets; returns the loops of
    /// targets it no longer has, to be stopped once its table is published.
    fn probe(&mut self, health: &Registry) -> Vec<Running> {
        let mut keep: HashMap<TargetKey, Running> = HashMap::new();
        for (target, slot) in health.iter() {
            if let Some(running) = self.loops.remove(&target.key) {
                let unchanged = Arc::ptr_eq(&running.slot, slot)
                    && running.target.check == target.check
                    && running.target.record_sets == target.record_sets;
                if unchanged {
                    keep.insert(target.key.clone(), running);
                    continue;
                }
                running.stop();
            }
            let stop = self.shutdown.child_token();
            if let Some(task) = checker::spawn(
                target,
                slot.clone(),
                &self.probing,
                checker::Outlets {
                    events: self.events.clone(),
                    changes: self.changes.clone(),
                    views: self.cluster.as_ref().map(Cluster::views),
                    saved: self.writer.as_ref().map(saved::Writer::changes),
                },
                &self.metrics,
                stop.clone(),
            ) {
                keep.insert(
                    target.key.clone(),
                    Running {
                        target: target.clone(),
                        slot: slot.clone(),
                        stop,
                        task,
                    },
                );
            }
        }
        std::mem::replace(&mut self.loops, keep)
            .into_values()
            .collect()
    }

    /// Announces transitions to `notifiers` from now on; the running
    /// notifier is kept when they have not changed.
    fn notify(&mut self, notifiers: Vec<Notifier>) {
        if self
            .notifier
            .as_ref()
            .is_some_and(|n| n.notifiers == notifiers)
        {
            return;
        }
        if let Some(old) = self.notifier.take() {
            old.stop.cancel();
        }
        if notifiers.is_empty() {
            return;
        }
        let stop = self.shutdown.child_token();
        let task = crate::notify::spawn(notifiers.clone(), self.notices.subscribe(), stop.clone());
        self.notifier = Some(Notifying {
            notifiers,
            stop,
            task,
        });
    }

    /// Stops every probe loop and the notifier, and waits for them.
    pub async fn stop(self) {
        if let Some(notifier) = self.notifier {
            notifier.stop.cancel();
            let _ = notifier.task.await;
        }
        for running in self.loops.values() {
            running.stop.cancel();
        }
        for (_, running) in self.loops {
            let _ = running.task.await;
        }
        if let Some(cluster) = self.cluster {
            cluster.stop().await;
        }
        if let Some(writer) = self.writer {
            writer.stop().await;
        }
    }
}

impl Running {
    fn stop(self) {
        self.stop.cancel();
        // It ends at its next await; abort covers a probe stuck past that.
        self.task.abort();
    }
}

/// Looks at the sets a target's flip may have moved, once its loop has
/// published it, and counts those whose answer moved.
async fn watch_answers(
    mut changes: mpsc::UnboundedReceiver<Change>,
    table: SharedTable,
    watch: Arc<Mutex<Watch>>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    loop {
        let change = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            change = changes.recv() => change,
        };
        let Some(change) = change else { return };
        let moved = lock(&watch).flipped(&table.load(), &change.transition.record_sets);
        for moved in moved {
            count_move(&metrics, moved, change.class.as_str(), change.failing_for);
        }
    }
}

/// Logs and counts one set's answer moving; `failing_for` is how long its
/// cause, a fall, took from the first failed probe.
fn count_move(
    metrics: &Metrics,
    moved: Moved,
    reason: &'static str,
    failing_for: Option<std::time::Duration>,
) {
    let from = endpoints(&moved.from);
    let to = endpoints(&moved.to);
    tracing::info!(
        set = %format_args!("{} {}", moved.owner, moved.rr_type),
        %from,
        %to,
        reason,
        "answer changed"
    );
    if let Some(duration) = failing_for {
        metrics.observe_failover((moved.owner.clone(), moved.rr_type.clone()), duration);
    }
    metrics.count_failover((moved.owner, moved.rr_type, from, to, reason));
}

/// An answer as one label value: its records joined by commas, `none` for
/// no record (NODATA or SERVFAIL).
fn endpoints(answer: &[String]) -> String {
    if answer.is_empty() {
        "none".to_owned()
    } else {
        answer.join(",")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn keep_history(
    mut events: broadcast::Receiver<Transition>,
    history: Arc<Mutex<VecDeque<Transition>>>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            event = events.recv() => event,
        };
        match event {
            Ok(event) => {
                let mut history = history.lock().unwrap_or_else(|e| e.into_inner());
                history.push_front(event);
                history.truncate(HISTORY);
            }
            // Only older transitions than the newest EVENTS were skipped,
            // and of those the history would keep none (EVENTS >= HISTORY).
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "transition history skipped old events");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Turns transitions into numbered [`Event`]s for the notifiers: one per
/// transition, then one per dynamic set whose answer it changed.
///
/// Answers are compared with what this task last saw of the published
/// table, for the sets the transitions name; transitions that arrive
/// together are judged together, so a storm costs one look at the table
/// per batch, not per transition. An answer changed by a reload alone is
/// no event (nothing here sees reloads).
async fn number_events(
    mut transitions: broadcast::Receiver<Transition>,
    table: SharedTable,
    notices: broadcast::Sender<Event>,
    shutdown: CancellationToken,
) {
    let mut sequence = Sequence::new();
    let mut answers = answers_of(&table.load());
    loop {
        let first = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            event = transitions.recv() => event,
        };
        let mut batch = Vec::new();
        let mut next = first;
        loop {
            match next {
                Ok(transition) => batch.push(transition),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "events: fell behind the probe loops; transitions dropped"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
            next = match transitions.try_recv() {
                Ok(transition) => Ok(transition),
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    Err(broadcast::error::RecvError::Lagged(missed))
                }
                Err(_) => break,
            };
        }
        // Which target event, last in the batch, touched each set.
        let mut causes: HashMap<&str, (String, &Transition)> = HashMap::new();
        for transition in &batch {
            let event = sequence.target(transition);
            for set in &transition.record_sets {
                causes.insert(set, (event.id.clone(), transition));
            }
            // No receiver is fine: nobody listens when nothing is configured.
            let _ = notices.send(event);
        }
        let now = answers_of(&table.load());
        for set in now.values() {
            let Some((cause, transition)) = causes.get(set.name.as_str()) else {
                continue;
            };
            let Some(before) = answers.get(&set.name) else {
                continue;
            };
            if before.answer == set.answer {
                continue;
            }
            let change = EventChange::Answer(AnswerChange {
                name: set.owner.clone(),
                rr_type: set.rr_type.clone(),
                record_set: set.name.clone(),
                policy: set.policy,
                from_endpoints: before.answer.clone(),
                to_endpoints: set.answer.clone(),
                failing_open: set.failing_open,
                cause: cause.clone(),
            });
            let detail = format!("{}: {}", transition.target, transition.reason);
            tracing::info!(
                record_set = %set.name,
                from = ?before.answer,
                to = ?set.answer,
                %detail,
                "answer changed"
            );
            let _ = notices.send(sequence.event(change, transition.class, detail, transition.time));
        }
        answers = now;
    }
}

/// Each dynamic set of `table`, by `NAME TYPE`.
fn answers_of(table: &Table) -> HashMap<String, answer::SetView> {
    table
        .dynamic_sets()
        .into_iter()
        .map(|set| (set.name.clone(), set))
        .collect()
}
