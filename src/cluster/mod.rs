//! Several instances, one truth: health agreed through etcd.
//!
//! # Design
//! Each instance keeps probing from where it stands and writes its *view*
//! of each target (up or down) to etcd under a lease of its own, so the
//! views of an instance that dies expire with it. It writes when a view
//! changes, not per probe: etcd's load grows with transitions, not with
//! targets. Every instance watches the whole prefix, so all of them hold
//! the same views and, with the same quorum rule ([`verdict`]), reach the
//! same verdict for each target, which they hand to the target's slot; the
//! probe loop then answers by the verdict instead of its own checks.
//!
//! ```text
//! PREFIX/members/NAME              {"since": …}            lease of NAME
//! PREFIX/views/NAME/ADDR:PORT/CHECK "up" | "down"          lease of NAME
//! PREFIX/overrides/ADDR:PORT/CHECK {"state": …, "until": …} no lease: kept
//! ```
//!
//! Without etcd an instance keeps serving: `partition = "freeze"` keeps the
//! last verdicts, `"local"` falls back to its own checks. When etcd
//! returns it writes its views again and reads everyone's, so the
//! instances converge without a restart. Operator overrides go through
//! etcd too, so one made through any instance applies on all of them.
//!
//! With a state directory, an instance also keeps the overrides in its
//! state file, as its last copy of etcd's: they apply from its first
//! answer, before etcd is reached (and if it cannot be). When it first
//! reaches etcd, etcd's overrides win: one restored from the file that
//! etcd no longer holds (cleared or expired through another instance
//! meanwhile) is withdrawn, without releasing a hold.

mod etcd;
mod verdict;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ClusterConfig, Health, Partition, Quorum};
use crate::health::Registry;
use crate::health::checker::{View, Views};
use crate::health::slot::{Override, Slot, Verdict};
use crate::metrics::Metrics;
use etcd::{Change, Etcd, EtcdError};
use verdict::Votes;

/// How long a lost instance waits before it tries etcd again, at first and
/// at most: soon enough to converge quickly, slow enough not to hammer a
/// recovering etcd.
const RETRY: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(5));

/// The running cluster member: the task that talks to etcd and what the
/// rest of the service hands it.
pub(crate) struct Cluster {
    views: Views,
    registry: watch::Sender<Arc<Registry>>,
    handle: Handle,
    task: JoinHandle<()>,
}

/// What the API may do with the cluster: read its state, make an override
/// cluster-wide.
#[derive(Clone)]
pub(crate) struct Handle {
    overrides: mpsc::UnboundedSender<(String, Option<Override>)>,
    shared: Arc<Mutex<Shared>>,
    config: Arc<ClusterConfig>,
}

/// What the task knows, for the API and metrics.
#[derive(Debug, Default)]
struct Shared {
    connected: bool,
    members: BTreeSet<String>,
    /// target → instance → view.
    views: HashMap<String, BTreeMap<String, Health>>,
}

/// The cluster as the status API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ClusterStatus {
    /// This instance.
    pub(crate) name: String,
    /// Whether etcd is reachable now.
    pub(crate) connected: bool,
    /// The live instances, by name.
    pub(crate) members: Vec<String>,
    /// The quorum rule.
    pub(crate) quorum: String,
    /// What happens without etcd: `freeze` or `local`.
    pub(crate) partition: &'static str,
}

impl Cluster {
    /// Joins the cluster of `config` once [`Cluster::serve`] gives it the
    /// targets; runs until `shutdown`, counting its etcd writes into
    /// `metrics`. `restored` are the overrides read from the state file,
    /// by target, to be checked against etcd's when it is first reached.
    pub(crate) fn start(
        config: ClusterConfig,
        restored: HashMap<String, Override>,
        metrics: Arc<Metrics>,
        shutdown: &CancellationToken,
    ) -> Result<Cluster, reqwest::Error> {
        let etcd = Etcd::new(config.etcd.clone(), config.credentials.clone(), &config.tls)?;
        let (views, view_rx) = mpsc::unbounded_channel();
        let (overrides, override_rx) = mpsc::unbounded_channel();
        let (registry_tx, registry_rx) = watch::channel(Arc::default());
        let shared = Arc::new(Mutex::new(Shared::default()));
        let config = Arc::new(config);
        let task = Task {
            config: config.clone(),
            etcd,
            shared: shared.clone(),
            metrics,
            registry: registry_rx,
            views: view_rx,
            overrides: override_rx,
            local: HashMap::new(),
            slots: HashMap::new(),
            remote: Remote::default(),
            dirty: Dirty::All,
            restored,
            shutdown: shutdown.clone(),
        };
        let task = tokio::spawn(task.run());
        Ok(Cluster {
            views,
            registry: registry_tx,
            handle: Handle {
                overrides,
                shared,
                config,
            },
            task,
        })
    }

    /// Where probe loops send their views.
    pub(crate) fn views(&self) -> Views {
        self.views.clone()
    }

    /// The targets are now `registry`'s (at start and after a reload).
    pub(crate) fn serve(&self, registry: Arc<Registry>) {
        self.registry.send_replace(registry);
    }

    /// What the API needs.
    pub(crate) fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Waits for the task, which leaves the cluster on shutdown.
    pub(crate) async fn stop(self) {
        let _ = self.task.await;
    }
}

impl Handle {
    /// Makes `forced` (`None`: back to the checks) the override of `target`
    /// on every instance.
    pub(crate) fn set_override(&self, target: &str, forced: Option<Override>) {
        let _ = self.overrides.send((target.to_owned(), forced));
    }

    /// The cluster's state now.
    pub(crate) fn status(&self) -> ClusterStatus {
        let shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        ClusterStatus {
            name: self.config.name.clone(),
            connected: shared.connected,
            members: shared.members.iter().cloned().collect(),
            quorum: match self.config.quorum {
                Quorum::Majority => "majority".to_owned(),
                Quorum::Any => "any".to_owned(),
                Quorum::All => "all".to_owned(),
                Quorum::Share(share) => share.to_string(),
            },
            partition: match self.config.partition {
                Partition::Freeze => "freeze",
                Partition::Local => "local",
            },
        }
    }

    /// Each live instance's view of `target`.
    pub(crate) fn views(&self, target: &str) -> BTreeMap<String, Health> {
        let shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        shared
            .views
            .get(target)
            .map(|views| {
                views
                    .iter()
                    .filter(|(member, _)| shared.members.contains(*member))
                    .map(|(member, health)| (member.clone(), *health))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What etcd holds, as the watch has told it.
#[derive(Debug, Default)]
struct Remote {
    members: BTreeSet<String>,
    /// target → instance → view.
    views: HashMap<String, BTreeMap<String, Health>>,
}

/// An override as kept in etcd.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StoredOverride {
    /// `down`, `up` or `auto`.
    state: String,
    /// Expiry, seconds since the epoch.
    until: Option<u64>,
    /// The instance that took it.
    by: String,
}

struct Task {
    config: Arc<ClusterConfig>,
    etcd: Etcd,
    shared: Arc<Mutex<Shared>>,
    metrics: Arc<Metrics>,
    registry: watch::Receiver<Arc<Registry>>,
    views: mpsc::UnboundedReceiver<View>,
    overrides: mpsc::UnboundedReceiver<(String, Option<Override>)>,
    /// This instance's views, as last written.
    local: HashMap<String, Health>,
    /// The registry's slots by target, as `ADDRESS:PORT/CHECK`.
    slots: HashMap<String, Arc<Slot>>,
    remote: Remote,
    /// What changed since the last publish: every target (a member came
    /// or went, the targets changed), or these.
    dirty: Dirty,
    /// Overrides restored from the state file, until etcd is first read.
    restored: HashMap<String, Override>,
    shutdown: CancellationToken,
}

impl Task {
    async fn run(mut self) {
        // Not before the first targets: the overrides read on joining
        // would find no slot to go to.
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => return,
            changed = self.registry.changed() => if changed.is_err() { return },
        }
        let mut wait = RETRY.0;
        // Whether the operator has been told etcd is out of reach: once per
        // outage, or once at start when it never was in reach.
        let mut told = false;
        loop {
            let result = self.session().await;
            let lost = {
                let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                std::mem::replace(&mut shared.connected, false)
            };
            let err = match result {
                Ok(()) => return,
                Err(err) => err,
            };
            if lost {
                told = false;
                wait = RETRY.0;
                if self.config.partition == Partition::Local {
                    for (_, slot) in self.registry.borrow().iter() {
                        slot.set_verdict(None);
                    }
                }
            }
            if told {
                tracing::debug!(%err, "cluster: etcd still unreachable");
            } else {
                let partition = match self.config.partition {
                    Partition::Freeze if lost => "keeping the last verdicts",
                    _ => "following this instance's checks",
                };
                let what = if lost {
                    "lost etcd"
                } else {
                    "cannot reach etcd"
                };
                tracing::warn!(%err, "cluster: {what}, {partition}; retrying");
                told = true;
            }
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(RETRY.1);
        }
    }

    fn key(&self, kind: &str, rest: &str) -> String {
        format!("{}/{kind}/{rest}", self.config.prefix)
    }

    /// One stay in the cluster: from joining until shutdown (`Ok`) or
    /// until etcd is lost (`Err`).
    async fn session(&mut self) -> Result<(), EtcdError> {
        self.etcd.authenticate().await?;
        let ttl = self.config.observation_ttl;
        let lease = self.etcd.grant(ttl).await?;
        // Before the first write: what the probe loops said meanwhile.
        while let Ok(view) = self.views.try_recv() {
            self.local.insert(view.target, view.health);
        }
        self.refresh_local();
        let member = serde_json::json!({ "since": unix_now() }).to_string();
        let mut writes = vec![(self.key("members", &self.config.name), Some(member))];
        writes.extend(self.local.iter().map(|(target, health)| {
            let key = self.key("views", &format!("{}/{target}", self.config.name));
            (key, Some(health.as_str().to_owned()))
        }));
        self.write(&writes, lease).await?;
        let (pairs, revision) = self.etcd.range(&format!("{}/", self.config.prefix)).await?;
        self.remote = Remote::default();
        self.dirty = Dirty::All;
        let mut overrides = Vec::new();
        for (key, value) in pairs {
            overrides.extend(self.learn(Change::Put(key, value)));
        }
        let mut watch = self
            .etcd
            .watch(&format!("{}/", self.config.prefix), revision + 1)
            .await?;
        {
            let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            shared.connected = true;
        }
        tracing::info!(
            name = %self.config.name,
            members = self.remote.members.len(),
            "cluster: connected to etcd"
        );
        self.withdraw_stale(&overrides);
        for (target, forced) in overrides {
            self.apply_override(&target, forced, true);
        }
        self.publish();
        let mut keep_alive = tokio::time::interval(ttl / 3);
        keep_alive.tick().await;
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => {
                    // Leave at once rather than when the lease runs out.
                    let _ = tokio::time::timeout(Duration::from_secs(1), self.etcd.revoke(lease)).await;
                    return Ok(());
                }
                _ = keep_alive.tick() => {
                    if !self.etcd.keep_alive(lease).await? {
                        return Err(EtcdError::Lost("the lease expired"));
                    }
                }
                changes = watch.recv() => {
                    let Some(changes) = changes else {
                        return Err(EtcdError::Lost("the watch ended"));
                    };
                    for change in changes {
                        if let Some((target, forced)) = self.learn(change) {
                            self.apply_override(&target, forced, false);
                        }
                    }
                    self.publish();
                }
                Some(view) = self.views.recv() => {
                    let mut changed = HashMap::from([(view.target, view.health)]);
                    while let Ok(view) = self.views.try_recv() {
                        changed.insert(view.target, view.health);
                    }
                    let mut writes = Vec::new();
                    for (target, health) in changed {
                        if self.local.insert(target.clone(), health) != Some(health) {
                            let key = self.key("views", &format!("{}/{target}", self.config.name));
                            writes.push((key, Some(health.as_str().to_owned())));
                        }
                    }
                    self.write(&writes, lease).await?;
                }
                Ok(()) = self.registry.changed() => {
                    let before: BTreeSet<String> = self.local.keys().cloned().collect();
                    self.refresh_local();
                    let mut writes = Vec::new();
                    for target in &before {
                        if !self.local.contains_key(target) {
                            writes.push((self.key("views", &format!("{}/{target}", self.config.name)), None));
                        }
                    }
                    for (target, health) in &self.local {
                        if !before.contains(target) {
                            let key = self.key("views", &format!("{}/{target}", self.config.name));
                            writes.push((key, Some(health.as_str().to_owned())));
                        }
                    }
                    self.write(&writes, lease).await?;
                    self.publish();
                }
                Some((target, forced)) = self.overrides.recv() => {
                    let stored = StoredOverride {
                        state: forced.map_or("auto", |o| o.state.as_str()).to_owned(),
                        until: forced.and_then(|o| o.until).and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs()),
                        by: self.config.name.clone(),
                    };
                    let value = serde_json::to_string(&stored).unwrap_or_default();
                    self.write(&[(self.key("overrides", &target), Some(value))], 0).await?;
                }
            }
        }
    }

    /// Writes to etcd, counting the keys written.
    async fn write(
        &mut self,
        writes: &[(String, Option<String>)],
        lease: i64,
    ) -> Result<(), EtcdError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.etcd.write(writes, lease).await?;
        self.metrics
            .cluster_writes
            .fetch_add(writes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// The local views of the registry's targets: kept for targets that
    /// remain, read from the slot for new ones.
    fn refresh_local(&mut self) {
        let registry = self.registry.borrow_and_update().clone();
        let mut local = HashMap::with_capacity(registry.targets().len());
        let mut slots = HashMap::with_capacity(registry.targets().len());
        for (target, slot) in registry.iter() {
            let key = target.key.to_string();
            let health = self
                .local
                .get(&key)
                .copied()
                .unwrap_or_else(|| slot.detail().state.health());
            local.insert(key.clone(), health);
            slots.insert(key, slot.clone());
        }
        self.local = local;
        self.slots = slots;
        self.dirty = Dirty::All;
    }

    /// Takes in one change of etcd's keys; an override, when it is one.
    fn learn(&mut self, change: Change) -> Option<(String, Option<Override>)> {
        let (key, value) = match change {
            Change::Put(key, value) => (key, Some(value)),
            Change::Delete(key) => (key, None),
        };
        let rest = key.strip_prefix(&format!("{}/", self.config.prefix))?;
        let (kind, rest) = rest.split_once('/')?;
        match kind {
            "members" => {
                let changed = if value.is_some() {
                    self.remote.members.insert(rest.to_owned())
                } else {
                    self.remote.members.remove(rest)
                };
                if changed {
                    self.dirty = Dirty::All;
                }
                None
            }
            "views" => {
                let (member, target) = rest.split_once('/')?;
                let health = match value.as_deref() {
                    Some("up") => Some(Health::Up),
                    Some("down") => Some(Health::Down),
                    _ => None,
                };
                let views = self.remote.views.entry(target.to_owned()).or_default();
                match health {
                    Some(health) => views.insert(member.to_owned(), health),
                    None => views.remove(member),
                };
                if let Dirty::Targets(targets) = &mut self.dirty {
                    targets.insert(target.to_owned());
                }
                None
            }
            "overrides" => {
                let stored: StoredOverride = serde_json::from_str(value.as_deref()?).ok()?;
                let until = stored
                    .until
                    .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
                let forced = Override::from_word(&stored.state, until)?;
                Some((rest.to_owned(), forced))
            }
            _ => None,
        }
    }

    /// Applies an override read from etcd. On joining (`replay`), an
    /// expired one or a return to the checks is history and is skipped.
    fn apply_override(&self, target: &str, forced: Option<Override>, replay: bool) {
        let now = SystemTime::now();
        let lapsed = forced.is_some_and(|o| o.until.is_some_and(|until| until <= now));
        if replay && (forced.is_none() || lapsed) {
            return;
        }
        if let Some(slot) = self.slots.get(target) {
            slot.set_override(forced);
        }
    }

    /// Withdraws each override restored from the state file that etcd,
    /// read for the first time (`overrides`), does not hold in force and
    /// that no one has changed since.
    fn withdraw_stale(&mut self, overrides: &[(String, Option<Override>)]) {
        let restored = std::mem::take(&mut self.restored);
        if restored.is_empty() {
            return;
        }
        let now = SystemTime::now();
        let live: HashSet<&str> = overrides
            .iter()
            .filter(|(_, forced)| forced.is_some_and(|o| o.until.is_none_or(|until| until > now)))
            .map(|(target, _)| target.as_str())
            .collect();
        for (target, kept) in restored {
            if live.contains(target.as_str()) {
                continue;
            }
            if let Some(slot) = self.slots.get(&target)
                && slot.forced(now) == Some(kept)
            {
                slot.withdraw_override();
                tracing::info!(%target, state = %kept.state, "cluster: override restored from the state file is not in etcd: withdrawn");
            }
        }
    }

    /// Hands the verdicts of what changed to their slots, and the state
    /// to the API.
    fn publish(&mut self) {
        let dirty = std::mem::replace(&mut self.dirty, Dirty::Targets(HashSet::new()));
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        match dirty {
            Dirty::All => {
                for (key, slot) in &self.slots {
                    slot.set_verdict(self.verdict(key));
                }
                shared.members = self.remote.members.clone();
                shared.views = self.remote.views.clone();
            }
            Dirty::Targets(targets) => {
                for key in targets {
                    if let Some(slot) = self.slots.get(&key) {
                        slot.set_verdict(self.verdict(&key));
                    }
                    match self.remote.views.get(&key) {
                        Some(views) => shared.views.insert(key, views.clone()),
                        None => shared.views.remove(&key),
                    };
                }
            }
        }
    }

    /// The verdict on `target` from the live members' views.
    fn verdict(&self, target: &str) -> Option<Verdict> {
        let mut votes = Votes::default();
        let views = self.remote.views.get(target).into_iter().flatten();
        for (member, health) in views {
            if !self.remote.members.contains(member) {
                continue;
            }
            match health {
                Health::Up => votes.up += 1,
                Health::Down => votes.down += 1,
            }
        }
        votes.verdict(self.config.quorum).map(|health| Verdict {
            health,
            reason: format!(
                "cluster: {} of {} instances see it down",
                votes.down,
                votes.up + votes.down
            ),
        })
    }
}

/// What a publish must look at again.
#[derive(Debug)]
enum Dirty {
    /// Every target.
    All,
    /// These targets.
    Targets(HashSet<String>),
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
