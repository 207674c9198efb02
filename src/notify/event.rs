//! What notifiers deliver: an [`Event`] per target transition and per
//! answer change, each with an id and a sequence number.
//!
//! The id lets a receiver drop a delivery it already has (a retry after a
//! lost 2xx carries the same id); the sequence number, increasing by one
//! per event within one run of the server, lets it order events and see
//! gaps. Ids are `INSTANCE-SEQUENCE`, where INSTANCE is random per start,
//! so ids never repeat across restarts while sequences start again at 1.
//!
//! The JSON form is documented in `docs/operations.md` ("Notifications")
//! and in `docs/event.schema.json`; a test checks emitted events against it.

use std::time::SystemTime;

use serde::Serialize;

use crate::health::transition::rfc3339;
use crate::health::{ReasonClass, Transition};

/// One announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Event {
    /// Unique across events and restarts; equal on every retry.
    pub(crate) id: String,
    /// 1, 2, 3, … in the order events happened within one run.
    pub(crate) sequence: u64,
    /// What changed (in JSON: `kind` and its fields, inline).
    #[serde(flatten)]
    pub(crate) change: Change,
    /// Why, in a word: `ok`, `status`, `timeout`, `connect`, `body`, `tls`,
    /// `error`, `override`, `cluster` or `drill`.
    pub(crate) reason: ReasonClass,
    /// Why, in full (the probe's result or the error text).
    pub(crate) detail: String,
    /// When (in JSON: RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    pub(crate) time: SystemTime,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Change {
    /// A target started or stopped serving, or its checks flipped.
    Target(TargetChange),
    /// A dynamic set's answer moved from some endpoints to others.
    Answer(AnswerChange),
}

/// A target's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TargetChange {
    /// `ADDRESS:PORT/CHECK`.
    pub(crate) target: String,
    /// The check's name.
    pub(crate) check: String,
    /// The record sets that use it, as `NAME TYPE`.
    pub(crate) record_sets: Vec<String>,
    /// Whether answers used it before: `up` or `down`.
    pub(crate) from: &'static str,
    /// Whether answers use it now: `up` or `down`. An operator's drain is
    /// `up` to `down` with reason `override`, whatever the checks say.
    pub(crate) to: &'static str,
    /// What its checks (or the cluster's verdict) say now: `up` or `down`.
    /// Differs from `to` while an override or a manual-failback hold rules.
    pub(crate) checks: &'static str,
    /// `to == "up"`.
    pub(crate) serving: bool,
    /// Consecutive probe results that caused it (0 for an operator's action).
    pub(crate) consecutive: u32,
}

/// A dynamic set's answer change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AnswerChange {
    /// The owner name, e.g. `api.example.com.`.
    pub(crate) name: String,
    /// The type, e.g. `A`.
    #[serde(rename = "type")]
    pub(crate) rr_type: String,
    /// `NAME TYPE`, as target events' `record_sets` name it.
    pub(crate) record_set: String,
    /// `failover`, `multivalue` or `weighted`.
    pub(crate) policy: &'static str,
    /// What queries got before (RDATA as text, e.g. `192.0.2.1`).
    pub(crate) from_endpoints: Vec<String>,
    /// What queries get now.
    pub(crate) to_endpoints: Vec<String>,
    /// No member serves: the answer is the all-down fallback.
    pub(crate) failing_open: bool,
    /// The id of the target event that caused the change.
    pub(crate) cause: String,
}

impl Change {
    /// `target` or `answer`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Change::Target(_) => "target",
            Change::Answer(_) => "answer",
        }
    }
}

fn state(serving: bool) -> &'static str {
    if serving { "up" } else { "down" }
}

impl TargetChange {
    /// The change `transition` reports.
    pub(crate) fn of(transition: &Transition) -> TargetChange {
        TargetChange {
            target: transition.target.clone(),
            check: transition.check.clone(),
            record_sets: transition.record_sets.clone(),
            from: state(transition.was_serving),
            to: state(transition.serving),
            checks: transition.to.as_str(),
            serving: transition.serving,
            consecutive: transition.consecutive,
        }
    }
}

/// Hands out ids and sequence numbers: one per service, used by one task.
#[derive(Debug)]
pub(crate) struct Sequence {
    instance: String,
    last: u64,
}

impl Default for Sequence {
    fn default() -> Self {
        Sequence::new()
    }
}

impl Sequence {
    /// Starts at 1 with a random instance part.
    pub(crate) fn new() -> Sequence {
        let nanos = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        let random = crate::random::below(u64::MAX);
        Sequence {
            instance: format!("{:016x}", random ^ nanos.rotate_left(32)),
            last: 0,
        }
    }

    /// The next event.
    pub(crate) fn event(
        &mut self,
        change: Change,
        reason: ReasonClass,
        detail: String,
        time: SystemTime,
    ) -> Event {
        self.last += 1;
        Event {
            id: format!("{}-{}", self.instance, self.last),
            sequence: self.last,
            change,
            reason,
            detail,
            time,
        }
    }

    /// The event of a target's transition.
    pub(crate) fn target(&mut self, transition: &Transition) -> Event {
        self.event(
            Change::Target(TargetChange::of(transition)),
            transition.class,
            transition.reason.clone(),
            transition.time,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::health::state::Health;

    pub(crate) fn drain() -> Transition {
        Transition {
            target: "127.0.0.21:8080/web".into(),
            check: "web".into(),
            record_sets: vec!["api.h.test. A".into()],
            from: Health::Up,
            to: Health::Up,
            was_serving: true,
            serving: false,
            reason: "override: down".into(),
            class: ReasonClass::Override,
            consecutive: 0,
            time: UNIX_EPOCH + Duration::from_millis(1_795_320_306_789),
        }
    }

    #[test]
    fn a_drain_is_up_to_down_by_override() {
        let mut seq = Sequence::new();
        let event = seq.target(&drain());
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "target");
        assert_eq!(json["from"], "up");
        assert_eq!(json["to"], "down");
        assert_eq!(json["checks"], "up");
        assert_eq!(json["serving"], false);
        assert_eq!(json["reason"], "override");
        assert_eq!(json["detail"], "override: down");
        assert_eq!(json["time"], "2026-11-22T04:05:06.789Z");
        assert_eq!(json["sequence"], 1);
    }

    #[test]
    fn ids_are_unique_and_sequences_increase() {
        let mut seq = Sequence::new();
        let a = seq.target(&drain());
        let b = seq.target(&drain());
        assert_eq!((a.sequence, b.sequence), (1, 2));
        assert_ne!(a.id, b.id);
        assert!(a.id.ends_with("-1") && b.id.ends_with("-2"), "{a:?}");
        let other = Sequence::new().target(&drain());
        assert_ne!(other.id, a.id, "another start, another id");
    }
}
