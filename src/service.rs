//! The running service: the published answer table, the probe loops that
//! keep its targets' slots current, the transition history, and reload.
//!
//! Probe loops are keyed by target and outlive tables: a reload renews the
//! health [`Registry`] (targets that still exist keep their slots), keeps
//! the loops of targets whose check and record sets are unchanged, starts
//! loops for new ones and stops the loops of removed ones.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::answer::SharedTable;
use crate::answer::{self, Table};
use crate::catalog::{Catalog, Problem};
use crate::cluster::Cluster;
use crate::config::notify::Notifier;
use crate::config::{self, ClusterConfig, Config};
use crate::health::checker::Listeners;
use crate::health::probe::Clients;
use crate::health::saved::{self, Saved};
use crate::health::{Registry, Slot, Target, TargetKey, Transition, checker};
use crate::metrics::Metrics;

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
    clients: Clients,
    events: broadcast::Sender<Transition>,
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
            table: Arc::new(ArcSwap::from_pointee(Table::empty())),
            health: Arc::default(),
            cluster,
            cluster_config: config.cluster.clone(),
            state_dir: config.state_dir.clone(),
            restore: saved,
            writer,
            loops: HashMap::new(),
            clients: Clients::new()?,
            events,
            history,
            notifier: None,
            metrics,
            shutdown: shutdown.clone(),
        };
        service.serve(config, catalog);
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
        let (config, catalog) = source.load()?;
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
                &self.clients,
                self.events.clone(),
                &self.metrics,
                Listeners {
                    views: self.cluster.as_ref().map(Cluster::views),
                    saved: self.writer.as_ref().map(saved::Writer::changes),
                },
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
        let task = crate::notify::spawn(notifiers.clone(), self.events.subscribe(), stop.clone());
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
