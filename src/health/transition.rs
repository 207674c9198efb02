//! A health transition as the rest of the system hears of it: logs,
//! notifications, the status timeline, metrics.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::probe::ReasonClass;
use super::state::Health;

/// One target changed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The target, as `ADDRESS:PORT/CHECK` (e.g. `127.0.0.21:8080/web`).
    pub target: String,
    /// The check's name.
    pub check: String,
    /// The record sets that use the target, as `NAME TYPE`
    /// (e.g. `api.example.com. A`).
    pub record_sets: Vec<String>,
    /// What answers followed before: the checks (or the cluster's verdict).
    pub from: Health,
    /// What answers follow now. Equal to `from` when only an operator's
    /// override or a hold changed whether the target serves.
    pub to: Health,
    /// Whether answers used the target before this change.
    pub was_serving: bool,
    /// Whether answers use the target now (false while held by manual
    /// failback or forced down by an operator).
    pub serving: bool,
    /// Why, e.g. `HTTP 500 not expected`, `timeout after 1s`, `override: down`.
    pub reason: String,
    /// What kind of reason, in a word (`status`, `timeout`, `override`, …).
    pub class: ReasonClass,
    /// Consecutive probe results that caused it (0 for an operator's action).
    pub consecutive: u32,
    /// When (in JSON: RFC 3339, UTC).
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
}

/// A transition as the watcher of answers hears of it: each probe loop
/// sends one after publishing what answers may use of its target, with
/// what metrics need beyond what a notification carries.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// The transition, as notifiers hear of it.
    pub(crate) transition: Transition,
    /// Its reason's class, the `reason` label of the answer's move.
    pub(crate) class: ReasonClass,
    /// For a fall: the first failed probe of the run to this transition.
    /// `None` for anything else (a rise, an override, a verdict no probe
    /// of this instance failed for).
    pub(crate) failing_for: Option<Duration>,
}

/// Where probe loops send their [`Change`]s. Unbounded: a send never
/// waits, and the receiver does little per change.
pub(crate) type Changes = tokio::sync::mpsc::UnboundedSender<Change>;

/// `SystemTime` as an RFC 3339 UTC string (`2026-11-22T04:05:06.123Z`).
pub(crate) mod rfc3339 {
    use std::time::{SystemTime, UNIX_EPOCH};

    use serde::Serializer;

    /// Serializes as RFC 3339.
    pub(crate) fn serialize<S: Serializer>(
        time: &SystemTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*time))
    }

    /// Formats as RFC 3339 UTC with milliseconds.
    pub(crate) fn format(time: SystemTime) -> String {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs() as i64;
        let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            rest / 3600,
            rest / 60 % 60,
            rest % 60,
            since.subsec_millis()
        )
    }

    #[cfg(test)]
    mod tests {
        use std::time::{Duration, UNIX_EPOCH};

        #[test]
        fn formats_known_instants() {
            assert_eq!(super::format(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
            let t = UNIX_EPOCH + Duration::from_millis(1_795_320_306_789);
            assert_eq!(super::format(t), "2026-11-22T04:05:06.789Z");
            let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
            assert_eq!(super::format(leap), "2000-02-29T00:00:00.000Z");
        }
    }
}
