//! Calculated checks: the probes of a check's children, run together
//! against the same address, combined by its operator into one result
//! that feeds the target's own rise and fall.
//!
//! # Design
//! A calculated check is one target with one probe loop and one slot, like
//! any other: its children are not targets, have no state and keep no
//! counters of their own, so the one writer of the target's slot stays its
//! loop. Each probe runs every child's probe concurrently (each within its
//! own timeout) and waits for all of them, so that the reason can name
//! every child that failed.
//!
//! A child's probe that could not run for want of a local resource
//! (`local`) is neither a pass nor a fail. The result is a pass when enough
//! children passed, a fail when even counting those as passes would not be
//! enough, and otherwise `local` too: the checker cannot tell, and the
//! target's state does not move.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::probe::{Outcome, Plan, ReasonClass};
use crate::config::Operator;

/// Probes every child of a calculated check at once and combines the
/// results by `operator`.
pub(crate) async fn probe(operator: Operator, children: &[Plan]) -> Outcome {
    let started = Instant::now();
    let outcomes = all(children.iter().map(Plan::probe).collect()).await;
    let named: Vec<(&str, Outcome)> = children
        .iter()
        .map(|child| child.check().name.as_str())
        .zip(outcomes)
        .collect();
    Outcome {
        latency: started.elapsed(),
        ..combine(operator, &named)
    }
}

/// Waits for every one of `futures`, polling them together; their results
/// in order.
async fn all<T>(mut futures: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut done: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, result) in futures.iter_mut().zip(done.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *result = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// The result of a calculated check from its children's, by name, in
/// order: passed when at least as many passed as `operator` needs. The
/// reason counts them and names each child that failed (and each that
/// could not run), with its own reason; a fail takes the class of the
/// first child that failed. The latency is left at zero, for the caller.
pub(crate) fn combine(operator: Operator, children: &[(&str, Outcome)]) -> Outcome {
    let needed = operator.needed(children.len());
    let passed = children.iter().filter(|(_, o)| o.passed).count();
    let failed: Vec<&(&str, Outcome)> = children
        .iter()
        .filter(|(_, o)| !o.passed && o.class != ReasonClass::Local)
        .collect();
    let unknown: Vec<&(&str, Outcome)> = children
        .iter()
        .filter(|(_, o)| !o.passed && o.class == ReasonClass::Local)
        .collect();
    let mut reason = format!("{passed} of {} passed, {needed} needed", children.len());
    for (what, list) in [("failed", &failed), ("could not run", &unknown)] {
        if list.is_empty() {
            continue;
        }
        reason.push_str("; ");
        reason.push_str(what);
        reason.push_str(": ");
        let each: Vec<String> = list
            .iter()
            .map(|(name, outcome)| format!("{name}: {}", outcome.reason))
            .collect();
        reason.push_str(&each.join(", "));
    }
    let (ok, class) = if passed >= needed {
        (true, ReasonClass::Ok)
    } else if passed + unknown.len() >= needed {
        (false, ReasonClass::Local)
    } else {
        (false, failed[0].1.class)
    };
    Outcome {
        passed: ok,
        reason,
        class,
        latency: Duration::ZERO,
        waited: children
            .iter()
            .map(|(_, o)| o.waited)
            .max()
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass() -> Outcome {
        outcome(true, "connected", ReasonClass::Ok)
    }

    fn fail(reason: &str, class: ReasonClass) -> Outcome {
        outcome(false, reason, class)
    }

    fn local() -> Outcome {
        outcome(false, "no exec slot", ReasonClass::Local)
    }

    fn outcome(passed: bool, reason: &str, class: ReasonClass) -> Outcome {
        Outcome {
            passed,
            reason: reason.into(),
            class,
            latency: Duration::from_millis(5),
            waited: Duration::ZERO,
        }
    }

    /// Whether `operator` passes over results of `children` (true, false;
    /// `None` for local), and its class.
    fn judged(operator: Operator, children: &[Option<bool>]) -> (bool, ReasonClass) {
        let named: Vec<(&str, Outcome)> = children
            .iter()
            .map(|result| match result {
                Some(true) => ("c", pass()),
                Some(false) => ("c", fail("refused", ReasonClass::Connect)),
                None => ("c", local()),
            })
            .collect();
        let outcome = combine(operator, &named);
        (outcome.passed, outcome.class)
    }

    #[test]
    fn each_operator_counts_the_children_that_passed() {
        let (t, f) = (Some(true), Some(false));
        let up = (true, ReasonClass::Ok);
        let down = (false, ReasonClass::Connect);
        assert_eq!(judged(Operator::All, &[t, t, t]), up);
        assert_eq!(judged(Operator::All, &[t, f, t]), down);
        assert_eq!(judged(Operator::Any, &[f, f, t]), up);
        assert_eq!(judged(Operator::Any, &[f, f, f]), down);
        assert_eq!(judged(Operator::AtLeast(2), &[t, f, t]), up);
        assert_eq!(judged(Operator::AtLeast(2), &[f, f, t]), down);
        assert_eq!(judged(Operator::AtLeast(3), &[t, t, t]), up);
    }

    #[test]
    fn a_child_that_could_not_run_moves_the_result_only_when_it_cannot_matter() {
        let (t, f, l) = (Some(true), Some(false), None);
        let undecided = (false, ReasonClass::Local);
        // Decided whatever the local error would have been.
        assert_eq!(
            judged(Operator::All, &[l, f]),
            (false, ReasonClass::Connect)
        );
        assert_eq!(judged(Operator::Any, &[l, t]), (true, ReasonClass::Ok));
        assert_eq!(
            judged(Operator::AtLeast(2), &[t, t, l]),
            (true, ReasonClass::Ok)
        );
        assert_eq!(
            judged(Operator::AtLeast(2), &[f, f, l]),
            (false, ReasonClass::Connect)
        );
        // Undecided: neither a pass nor a fail, as a local error.
        assert_eq!(judged(Operator::All, &[t, l]), undecided);
        assert_eq!(judged(Operator::Any, &[f, l]), undecided);
        assert_eq!(judged(Operator::AtLeast(2), &[t, f, l]), undecided);
    }

    #[test]
    fn the_reason_counts_and_names_the_children_that_failed() {
        let outcome = combine(
            Operator::AtLeast(2),
            &[
                ("web", pass()),
                ("db", fail("connect: refused", ReasonClass::Connect)),
                ("app", fail("exit 1: no quorum", ReasonClass::Exit)),
            ],
        );
        assert_eq!(
            outcome.reason,
            "1 of 3 passed, 2 needed; failed: db: connect: refused, app: exit 1: no quorum"
        );
        assert_eq!(
            (outcome.passed, outcome.class),
            (false, ReasonClass::Connect),
            "the first child's class"
        );
        let outcome = combine(Operator::All, &[("web", pass()), ("app", local())]);
        assert_eq!(
            outcome.reason,
            "1 of 2 passed, 2 needed; could not run: app: no exec slot"
        );
        let outcome = combine(Operator::Any, &[("web", pass()), ("db", pass())]);
        assert_eq!(outcome.reason, "2 of 2 passed, 1 needed");
    }

    #[test]
    fn the_wait_for_a_slot_is_the_longest_child_s() {
        let mut slow = pass();
        slow.waited = Duration::from_millis(300);
        let outcome = combine(Operator::All, &[("a", pass()), ("b", slow)]);
        assert_eq!(outcome.waited, Duration::from_millis(300));
    }

    #[tokio::test]
    async fn children_are_probed_together_on_the_same_address() {
        use crate::health::TargetKey;
        use crate::health::exec::Limit;
        use crate::health::probe::{Clients, Shared};

        // Each child marks that it started and waits for the other's mark:
        // one after the other, the first would wait out its timeout.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let child = |name: &str, other: &str, port: u16, exit: u8| {
            format!(
                "[check.{name}]\ntype = \"exec\"\nport = {port}\ntimeout = \"20s\"\ninterval = \"30s\"\n\
                 command = [\"/bin/sh\", \"-c\", \"echo $0 {{check}} {{port}} > {d}/{name}; \
                 while [ ! -e {d}/{other} ]; do sleep 0.01; done; exit {exit}\", \"{{address}}\"]\n"
            )
        };
        let config = crate::config::parse(
            std::path::Path::new("t.toml"),
            &format!(
                "{}{}[check.both]\ntype = \"all\"\nchecks = [\"a\", \"b\"]\ninterval = \"30s\"\n",
                child("a", "b", 1, 0),
                child("b", "a", 2, 1),
            ),
        )
        .unwrap_or_else(|e| panic!("{e:#?}"));
        let shared = Shared {
            clients: Clients::new().unwrap(),
            exec: Limit::new(4),
        };
        let key = TargetKey {
            check: "both".into(),
            host: "192.0.2.7".into(),
            port: 0,
        };
        let plan = Plan::new(&config.checks["both"], &key, &shared).unwrap();
        let outcome = plan.probe().await;
        assert_eq!(
            (outcome.passed, outcome.class, outcome.reason.as_str()),
            (
                false,
                ReasonClass::Exit,
                "1 of 2 passed, 2 needed; failed: b: exit 1"
            )
        );
        let read = |name| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("a"), "192.0.2.7 a 1\n");
        assert_eq!(read("b"), "192.0.2.7 b 2\n");
    }
}
