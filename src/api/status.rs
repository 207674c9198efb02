//! The status document: every target and every dynamic record set, as the
//! API returns it and the status page shows it.

use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

use serde::Serialize;

use crate::answer::{SetView, Table};
use crate::cluster::{ClusterStatus, Handle};
use crate::health::Transition;
use crate::health::slot::Slot;
use crate::health::state::Health;
use crate::health::transition::rfc3339;

/// `GET /api/v1/status`.
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    /// Server version.
    pub version: &'static str,
    /// When this document was made.
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// Every target.
    pub targets: Vec<TargetStatus>,
    /// Every dynamic record set.
    pub record_sets: Vec<SetView>,
    /// The last transitions, newest first.
    pub transitions: Vec<Transition>,
    /// The cluster this instance is one of, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStatus>,
}

/// One target.
#[derive(Debug, Serialize)]
pub(crate) struct TargetStatus {
    /// `ADDRESS:PORT/CHECK`.
    pub target: String,
    /// `ADDRESS:PORT`.
    pub address: String,
    /// The check.
    pub check: String,
    /// What answers follow: the cluster's verdict when there is one, else
    /// what this instance's checks say.
    pub state: Health,
    /// In a cluster: what this instance's checks say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Health>,
    /// In a cluster: each live instance's view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub views: Option<BTreeMap<String, Health>>,
    /// Whether answers use it.
    pub serving: bool,
    /// Held out by manual failback.
    pub held: bool,
    /// An operator's override.
    #[serde(rename = "override")]
    pub forced: Option<OverrideStatus>,
    /// A drill's simulated failure in force: its probes fail without
    /// running until the lease ends.
    pub simulated: Option<SimulationStatus>,
    /// The last probe.
    pub last_probe: Option<ProbeStatus>,
    /// Consecutive successes.
    pub successes: u32,
    /// Consecutive failures.
    pub failures: u32,
    /// The last transition of what answers follow.
    pub last_transition: Option<Transition>,
}

/// An override in force.
#[derive(Debug, Serialize)]
pub(crate) struct OverrideStatus {
    /// Forced state.
    pub state: Health,
    /// Expiry, if any.
    pub until: Option<String>,
}

/// A simulated failure in force.
#[derive(Debug, Serialize)]
pub(crate) struct SimulationStatus {
    /// When its lease ends, unless renewed.
    pub until: String,
}

/// The last probe.
#[derive(Debug, Serialize)]
pub(crate) struct ProbeStatus {
    /// Passed.
    pub ok: bool,
    /// Why.
    pub reason: String,
    /// Latency in milliseconds.
    pub latency_ms: f64,
    /// When.
    pub time: String,
}

/// The status of target `index` of `table`, with its views in `cluster`.
pub(crate) fn target(
    table: &Table,
    index: usize,
    slot: &Slot,
    cluster: Option<&Handle>,
) -> TargetStatus {
    let target = &table.targets()[index];
    let detail = slot.detail();
    let now = SystemTime::now();
    TargetStatus {
        target: target.key.to_string(),
        address: target.key.authority(),
        check: target.check.name.clone(),
        state: detail.effective,
        checks: cluster.map(|_| detail.state.health()),
        views: cluster.map(|cluster| cluster.views(&target.key.to_string())),
        serving: slot.serving(),
        held: detail.held,
        forced: slot.forced(now).map(|o| OverrideStatus {
            state: o.state,
            until: o.until.map(rfc3339::format),
        }),
        simulated: slot.simulated(now).map(|until| SimulationStatus {
            until: rfc3339::format(until),
        }),
        last_probe: detail.last_probe.map(|p| ProbeStatus {
            ok: p.ok,
            reason: p.reason,
            latency_ms: p.latency.as_secs_f64() * 1000.0,
            time: rfc3339::format(p.time),
        }),
        successes: detail.state.successes(),
        failures: detail.state.failures(),
        last_transition: detail.last_transition,
    }
}

/// The whole document.
pub(crate) fn status(
    table: &Table,
    history: &VecDeque<Transition>,
    cluster: Option<&Handle>,
) -> Status {
    let targets = (0..table.targets().len())
        .filter_map(|i| {
            table
                .board()
                .slot(i as u32)
                .map(|slot| target(table, i, slot, cluster))
        })
        .collect();
    Status {
        version: env!("CARGO_PKG_VERSION"),
        time: SystemTime::now(),
        targets,
        record_sets: table.dynamic_sets(),
        transitions: history.iter().cloned().collect(),
        cluster: cluster.map(Handle::status),
    }
}
