//! What the drill reads of `GET /api/v1/status`: the fields it needs, as
//! any client of the API would read them.

use serde::Deserialize;

/// The status document.
#[derive(Debug, Deserialize)]
pub(crate) struct Status {
    /// Every target.
    pub(crate) targets: Vec<Target>,
    /// Every health-aware record set.
    pub(crate) record_sets: Vec<Set>,
}

/// One target.
#[derive(Debug, Deserialize)]
pub(crate) struct Target {
    /// `ADDRESS:PORT/CHECK`.
    pub(crate) target: String,
    /// What answers follow: `up` or `down`.
    pub(crate) state: String,
    /// Whether answers use it.
    pub(crate) serving: bool,
    /// Held out by manual failback.
    pub(crate) held: bool,
    /// An operator's override, if any.
    #[serde(rename = "override")]
    pub(crate) forced: Option<serde_json::Value>,
    /// A drill's simulated failure, if any.
    #[serde(default)]
    pub(crate) simulated: Option<serde_json::Value>,
    /// The last probe.
    pub(crate) last_probe: Option<Probe>,
    /// The last transition.
    pub(crate) last_transition: Option<Transition>,
}

/// A probe's result.
#[derive(Debug, Deserialize)]
pub(crate) struct Probe {
    /// Passed.
    pub(crate) ok: bool,
    /// Why.
    pub(crate) reason: String,
}

/// A transition.
#[derive(Debug, Deserialize)]
pub(crate) struct Transition {
    /// `up` or `down`.
    pub(crate) to: String,
    /// The reason's class (`drill`, `status`, …).
    pub(crate) class: String,
    /// RFC 3339.
    pub(crate) time: String,
}

/// One health-aware record set.
#[derive(Debug, Deserialize)]
pub(crate) struct Set {
    /// Owner name, absolute.
    pub(crate) name: String,
    /// Type mnemonic.
    #[serde(rename = "type")]
    pub(crate) rr_type: String,
    /// `failover`, `multivalue` or `weighted`.
    pub(crate) policy: String,
    /// The answer's TTL.
    pub(crate) ttl: u32,
    /// The members.
    pub(crate) members: Vec<Member>,
    /// No member serves and the all-down rule answers anyway.
    pub(crate) failing_open: bool,
}

/// One member of a set.
#[derive(Debug, Deserialize)]
pub(crate) struct Member {
    /// RDATA as text.
    pub(crate) rdata: String,
    /// The target deciding its health; none when unchecked.
    pub(crate) target: Option<String>,
}

impl Status {
    /// Reads the document.
    pub(crate) fn read(value: serde_json::Value) -> Result<Status, serde_json::Error> {
        serde_json::from_value(value)
    }

    /// Target `key`.
    pub(crate) fn target(&self, key: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.target == key)
    }

    /// The set `name` (absolute, any case) of type `rr_type`.
    pub(crate) fn set(&self, name: &str, rr_type: &str) -> Option<&Set> {
        self.record_sets
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name) && s.rr_type.eq_ignore_ascii_case(rr_type))
    }
}

impl Target {
    /// Down by its checks (or the cluster's verdict).
    pub(crate) fn down(&self) -> bool {
        self.state == "down"
    }

    /// Why it does not pass its checks now, if it does not.
    pub(crate) fn failing(&self) -> Option<String> {
        if self.simulated.is_some() {
            return Some("its failure is simulated".to_owned());
        }
        if self.down() {
            let why = self.last_probe.as_ref().map_or("", |p| p.reason.as_str());
            return Some(format!("down ({why})"));
        }
        if !self.serving {
            return Some(if self.held {
                "held out by manual failback".to_owned()
            } else {
                "not serving".to_owned()
            });
        }
        match &self.last_probe {
            Some(probe) if !probe.ok => Some(format!("its last probe failed ({})", probe.reason)),
            _ => None,
        }
    }
}
