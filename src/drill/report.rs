//! What a drill found: figures, answers, and whether it passed, for a
//! person or (`--json`) a machine.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

/// A drill's report. Times are seconds: `detect_s` and `switch_s` from the
/// start of the simulated failure, `resolver_switch_s` too, `failback_s`
/// from its end.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The set's owner name.
    pub name: String,
    /// The set's type.
    #[serde(rename = "type")]
    pub rr_type: String,
    /// The server asked.
    pub server: String,
    /// The resolver asked, if any.
    pub resolver: Option<String>,
    /// The targets whose failure was simulated: those behind the answer.
    pub targets: Vec<String>,
    /// The answer before the drill.
    pub before: Vec<String>,
    /// The answer once it moved.
    pub during: Vec<String>,
    /// The answer at the end.
    pub after: Vec<String>,
    /// Until the first target went down, per the status API.
    pub detect_s: Option<f64>,
    /// Until the server's answer moved.
    pub switch_s: Option<f64>,
    /// Until the resolver's answer moved; none without a resolver.
    pub resolver_switch_s: Option<f64>,
    /// The TTL the resolver's answer had before the drill.
    pub resolver_ttl: Option<u32>,
    /// From the end of the simulated failure until the answer was back.
    pub failback_s: Option<f64>,
    /// Targets that recovered and stayed out, held by manual failback.
    pub held: Vec<String>,
    /// Whether the drill released those holds (`--release`).
    pub released: bool,
    /// Whether nothing is left simulated (checked through the status API).
    pub restored: bool,
    /// The limit on `switch_s`.
    pub max_switch_s: f64,
    /// Whether the drill passed.
    pub passed: bool,
    /// Why it did not.
    pub reason: Option<String>,
}

/// Seconds, to the millisecond.
pub(crate) fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

impl Report {
    /// Records why the drill failed; the first reason stays.
    pub(crate) fn fail(&mut self, reason: impl std::fmt::Display) {
        self.passed = false;
        if self.reason.is_none() {
            self.reason = Some(reason.to_string());
        }
    }

    /// The report for a person.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed { "PASSED" } else { "FAILED" };
        let _ = writeln!(
            out,
            "drill {} {} on {}: {verdict}",
            self.name, self.rr_type, self.server
        );
        if let Some(reason) = &self.reason {
            let _ = writeln!(out, "  why:       {reason}");
        }
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(out, "  simulated: {}", list(&self.targets));
        let _ = writeln!(out, "  before:    {}", list(&self.before));
        let _ = writeln!(out, "  during:    {}", list(&self.during));
        let _ = writeln!(out, "  after:     {}", list(&self.after));
        let time = |t: Option<f64>| t.map_or("-".to_owned(), |t| format!("{t:.3} s"));
        let _ = writeln!(
            out,
            "  detected:  {:<10} first target down (status API)",
            time(self.detect_s)
        );
        let _ = writeln!(
            out,
            "  switched:  {:<10} the server's answer moved (limit {} s)",
            time(self.switch_s),
            self.max_switch_s
        );
        if let Some(resolver) = &self.resolver {
            let ttl = self
                .resolver_ttl
                .map_or(String::new(), |ttl| format!(", TTL {ttl} s"));
            let _ = writeln!(
                out,
                "  resolver:  {:<10} {resolver}'s answer moved{ttl}",
                time(self.resolver_switch_s)
            );
        }
        let _ = writeln!(
            out,
            "  failback:  {:<10} the answer back, after the simulation ended",
            time(self.failback_s)
        );
        if !self.held.is_empty() {
            let what = if self.released {
                "released by the drill"
            } else {
                "still held: release with `healthdns override TARGET auto`"
            };
            let _ = writeln!(
                out,
                "  held:      {} (failback = manual; {what})",
                list(&self.held)
            );
        }
        let _ = writeln!(
            out,
            "  left:      {}",
            if self.restored {
                "nothing simulated"
            } else {
                "A SIMULATED FAILURE MAY REMAIN until its lease ends"
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_has_every_figure_null_when_unknown() {
        let report = Report {
            name: "app.example.".into(),
            rr_type: "A".into(),
            before: vec!["192.0.2.1".into()],
            switch_s: Some(seconds(Duration::from_micros(2_345_678))),
            ..Report::default()
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["switch_s"], 2.346);
        for key in ["detect_s", "failback_s", "resolver_switch_s", "reason"] {
            assert!(json[key].is_null(), "{key}: {json}");
        }
        assert_eq!(json["before"], serde_json::json!(["192.0.2.1"]));
        assert_eq!(json["during"], serde_json::json!([]));
        assert_eq!(json["passed"], false);
    }

    #[test]
    fn the_first_reason_stays() {
        let mut report = Report {
            passed: true,
            ..Report::default()
        };
        report.fail("first");
        report.fail("second");
        assert!(!report.passed);
        assert_eq!(report.reason.as_deref(), Some("first"));
        assert!(report.human().contains("why:       first"));
    }
}
