//! The probe loops: one tokio task per target, started at a jittered
//! offset, probing at a jittered interval, feeding the rise/fall machine and
//! publishing flips to the [`Board`](super::Board).

use std::sync::Arc;
use std::time::Duration;

use std::time::SystemTime;

use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::probe::{Outcome, Plan, ReasonClass, Shared};
use super::slot::{self, Override, Probe, Slot};
use super::state::Health;
use super::{Change, Changes, Target, Transition};
use crate::config::Failback;
use crate::exhaustion::Throttle;
use crate::metrics::{Histogram, Metrics};
use crate::random;

/// Probes that could not run for want of a local resource, logged at most
/// once every ten seconds: a shortage fails every target's probes at once.
static LOCAL_ERRORS: Throttle = Throttle::new(10);

/// Where a probe loop tells what happened.
#[derive(Debug, Clone)]
pub(crate) struct Outlets {
    /// Transitions, for the notifiers and the history.
    pub(crate) events: broadcast::Sender<Transition>,
    /// Each publish, for the watcher of answers.
    pub(crate) changes: Changes,
    /// This instance's views, when it is one of a cluster.
    pub(crate) views: Option<Views>,
    /// Woken when the target's override or manual-failback hold changes:
    /// the writer of the state file, when there is one.
    pub(crate) saved: Option<Arc<Notify>>,
}

/// Starts the probe loop of one target on its slot, telling `outlets`
/// and counting into `metrics`. The loop stops when `shutdown` is
/// cancelled. `None` when the target cannot be probed (logged).
pub(crate) fn spawn(
    target: &Target,
    slot: Arc<Slot>,
    shared: &Shared,
    outlets: Outlets,
    metrics: &Arc<Metrics>,
    shutdown: CancellationToken,
) -> Option<JoinHandle<()>> {
    let prober = match Plan::new(&target.check, &target.key, shared) {
        Ok(plan) => Network(plan),
        Err(err) => {
            tracing::error!(target = %target.key, %err, "cannot probe target");
            return None;
        }
    };
    let run = Loop {
        target: target.clone(),
        prober,
        jitter: true,
        events: outlets.events,
        changes: outlets.changes,
        latency: metrics.probe_histogram(&target.check.name),
        metrics: metrics.clone(),
        effective: slot.detail().effective,
        intent: (slot.forced(SystemTime::now()), slot.detail().held),
        slot,
        views: outlets.views,
        saved: outlets.saved,
        first_failure: None,
    };
    Some(tokio::spawn(run.run(shutdown)))
}

/// Something that probes one target.
trait Prober {
    fn probe(&mut self) -> impl Future<Output = Outcome> + Send;
}

/// The real thing: over the network, a command, or a calculated check's
/// children.
struct Network(Plan);

impl Prober for Network {
    fn probe(&mut self) -> impl Future<Output = Outcome> + Send {
        self.0.probe()
    }
}

struct Loop<P> {
    target: Target,
    slot: Arc<Slot>,
    prober: P,
    /// Off in tests: start at once, probe exactly every interval.
    jitter: bool,
    events: broadcast::Sender<Transition>,
    /// Where the watcher of answers hears of each publish.
    changes: Changes,
    /// Where lateness is counted.
    metrics: Arc<Metrics>,
    /// Where each probe's latency goes: its check's
    /// `health_check_duration_seconds`.
    latency: Arc<Histogram>,
    /// Where this instance's views go when it is one of a cluster.
    views: Option<Views>,
    /// The state file's writer, woken when `intent` changes.
    saved: Option<Arc<Notify>>,
    /// The override and hold as of the last settle.
    intent: (Option<Override>, bool),
    /// What answers follow as of the last settle.
    effective: Health,
    /// Start of the current run of failures, for `failover_duration_seconds`.
    first_failure: Option<Instant>,
}

/// What a probe due during a drill's simulated failure yields in its place.
fn simulated_failure() -> Outcome {
    Outcome {
        passed: false,
        reason: "drill: simulated failure".to_owned(),
        class: ReasonClass::Drill,
        latency: Duration::ZERO,
        waited: Duration::ZERO,
    }
}

/// A flip of this instance's checks on a target, for the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct View {
    /// The target, as `ADDRESS:PORT/CHECK`.
    pub(crate) target: String,
    /// What the checks say now.
    pub(crate) health: Health,
}

/// Where probe loops send their views.
pub(crate) type Views = tokio::sync::mpsc::UnboundedSender<View>;

impl<P: Prober> Loop<P> {
    async fn run(mut self, shutdown: CancellationToken) {
        let check = self.target.check.clone();
        // A reused slot may carry an override or a hold: apply it now.
        self.apply_control();
        let offset = if self.jitter {
            random::duration_below(check.interval)
        } else {
            Duration::ZERO
        };
        let mut next = Instant::now() + offset;
        loop {
            let expiry = self
                .slot
                .forced(SystemTime::now())
                .and_then(|o| o.until)
                .map(|until| {
                    Instant::now() + until.duration_since(SystemTime::now()).unwrap_or_default()
                });
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = self.slot.woken() => {
                    self.apply_control();
                    continue;
                }
                _ = tokio::time::sleep_until(expiry.unwrap_or(next)), if expiry.is_some_and(|e| e < next) => {
                    self.apply_control();
                    continue;
                }
                _ = tokio::time::sleep_until(next) => {}
            }
            let started = Instant::now();
            // A drill's simulated failure stands in for the probe, which
            // does not run: the backend sees nothing of the drill.
            let outcome = match self.slot.simulated(SystemTime::now()) {
                Some(_) => simulated_failure(),
                None => tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => return,
                    outcome = self.prober.probe() => outcome,
                },
            };
            // From when the timer fired and the task was polled, so that a
            // busy runtime shows up as lateness, not as a slower probe; and
            // a probe that waited for an exec slot started that much later.
            self.metrics
                .lateness
                .observe(started.saturating_duration_since(next) + outcome.waited);
            self.observe(&outcome, started);
            // An override may have lapsed while the probe ran, when no
            // timer was waiting for it: settle the serving state now.
            self.apply_control();
            // ±10 % so that loops started together drift apart.
            next = if self.jitter {
                let spread = check.interval / 5;
                started + check.interval - spread / 2 + random::duration_below(spread)
            } else {
                started + check.interval
            };
        }
    }

    /// Feeds one probe result to the state machine; a flip is this
    /// instance's new view (told to the cluster, when there is one), and
    /// what answers follow may change with it. A probe that could not run
    /// for want of a local resource says nothing of the target: it is
    /// counted and logged, and the state machine does not see it.
    fn observe(&mut self, outcome: &Outcome, started: Instant) {
        if outcome.class == ReasonClass::Local {
            self.slot
                .probes_local
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(held) = LOCAL_ERRORS.allow() {
                tracing::warn!(
                    target = %self.target.key,
                    reason = %outcome.reason,
                    not_logged = held,
                    "probe could not run for want of a local resource; not counted against the target"
                );
            }
            return;
        }
        let check = &self.target.check;
        let counter = if outcome.passed {
            &self.slot.probes_ok
        } else {
            &self.slot.probes_failed
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // A simulated failure took no time: it says nothing of latency.
        if outcome.class != ReasonClass::Drill {
            self.latency.observe(outcome.latency);
        }
        if outcome.passed {
            self.first_failure = None;
        } else {
            self.first_failure.get_or_insert(started);
        }
        tracing::debug!(target = %self.target.key, passed = outcome.passed, reason = %outcome.reason, latency = ?outcome.latency, "probe");
        let now = SystemTime::now();
        let flip = self.slot.update(|detail| {
            detail.last_probe = Some(Probe {
                ok: outcome.passed,
                reason: outcome.reason.clone(),
                latency: outcome.latency,
                time: now,
            });
            detail.state.observe(outcome.passed, check.thresholds)
        });
        if let (Some(flip), Some(views)) = (flip, &self.views) {
            tracing::info!(
                target = %self.target.key,
                from = %flip.from,
                to = %flip.to,
                reason = %outcome.reason,
                consecutive = flip.count,
                "checks flipped: view sent to the cluster"
            );
            // The cluster task outlives every loop; a send fails only at
            // shutdown.
            let _ = views.send(View {
                target: self.target.key.to_string(),
                health: flip.to,
            });
        }
        let count = flip.map_or(0, |flip| flip.count);
        self.settle(Some((outcome, count)), now);
    }

    /// Applies an operator's override or hold release, or the cluster's
    /// new verdict.
    fn apply_control(&mut self) {
        if self.slot.take_release() {
            self.slot.update(|detail| detail.held = false);
        }
        self.settle(None, SystemTime::now());
    }

    /// Brings what answers follow (the effective health) and the
    /// standing in line with the checks, the cluster's verdict, the hold
    /// and any override; publishes, logs and announces what changed, and
    /// wakes the state file's writer when the override or hold did.
    /// `probe` is the probe that may have moved the checks, with its
    /// flip's count.
    fn settle(&mut self, probe: Option<(&Outcome, u32)>, now: SystemTime) {
        let forced = self.slot.forced(now);
        let held = self.settle_answers(probe, forced, now);
        if self.intent != (forced, held) {
            self.intent = (forced, held);
            if let Some(saved) = &self.saved {
                saved.notify_one();
            }
        }
    }

    /// What [`Loop::settle`] does for answers, logs and events; returns
    /// the hold.
    fn settle_answers(
        &mut self,
        probe: Option<(&Outcome, u32)>,
        forced: Option<Override>,
        now: SystemTime,
    ) -> bool {
        let check = self.target.check.clone();
        let verdict = self.slot.verdict();
        let from = self.effective;
        let was_serving = self.slot.serving();
        // A transition is kept in the same lock as the state it reports,
        // so that no reader sees one without the other.
        let (changed, standing, held) = self.slot.update(|detail| {
            let to = verdict.as_ref().map_or(detail.state.health(), |v| v.health);
            if to == from {
                return (None, slot::standing(to, detail.held, forced), detail.held);
            }
            if to == Health::Down {
                detail.held = check.failback == Failback::Manual;
            }
            detail.effective = to;
            let standing = slot::standing(to, detail.held, forced);
            let serving = standing.serving();
            let (reason, consecutive, class) = match (&verdict, probe) {
                (Some(verdict), _) => (verdict.reason.clone(), 0, ReasonClass::Cluster),
                (None, Some((outcome, count))) => (outcome.reason.clone(), count, outcome.class),
                (None, None) => (
                    "cluster verdict lapsed: back to this instance's checks".to_owned(),
                    0,
                    ReasonClass::Cluster,
                ),
            };
            let transition = Transition {
                consecutive,
                ..self.transition(from, to, was_serving, serving, &reason, class, now)
            };
            detail.last_transition = Some(transition.clone());
            (Some(transition), standing, detail.held)
        });
        let serving = standing.serving();
        if let Some(transition) = changed {
            self.effective = transition.to;
            self.slot.publish(standing);
            let failing_for = if transition.to == Health::Down {
                self.first_failure.take().map(|first| first.elapsed())
            } else {
                None
            };
            tracing::info!(
                target = %self.target.key,
                from = %transition.from,
                to = %transition.to,
                reason = %transition.reason,
                consecutive = transition.consecutive,
                serving,
                "health transition{}",
                if held && transition.to == Health::Up { " (held: failback = manual)" } else { "" }
            );
            self.announce(transition, failing_for);
            return held;
        }
        let before = self.slot.standing();
        if standing == before {
            return held;
        }
        self.slot.publish(standing);
        let reason = match forced {
            Some(o) => format!("override: {}", o.state),
            None => "override cleared: back to checks".to_owned(),
        };
        tracing::info!(target = %self.target.key, serving, held, %reason, "operator change");
        // Between held and out (a held target drained or let go) answers
        // change only for a set that has no serving member.
        if serving != before.serving() {
            let transition = self.transition(
                from,
                from,
                was_serving,
                serving,
                &reason,
                ReasonClass::Override,
                now,
            );
            self.announce(transition, None);
        }
        held
    }

    /// A transition of this loop's target.
    #[allow(clippy::too_many_arguments)]
    fn transition(
        &self,
        from: Health,
        to: Health,
        was_serving: bool,
        serving: bool,
        reason: &str,
        class: ReasonClass,
        time: SystemTime,
    ) -> Transition {
        Transition {
            target: self.target.key.to_string(),
            check: self.target.check.name.clone(),
            record_sets: self.target.record_sets.clone(),
            from,
            to,
            was_serving,
            serving,
            reason: reason.to_owned(),
            class,
            consecutive: 0,
            time,
        }
    }

    /// Sends a transition to the notifiers and the history, and to the
    /// watcher of answers, which counts the failovers it caused.
    fn announce(&self, transition: Transition, failing_for: Option<Duration>) {
        // The watcher outlives every loop; a send fails only at shutdown.
        let _ = self.changes.send(Change {
            transition: transition.clone(),
            class: transition.class,
            failing_for,
        });
        // No receiver is fine: nobody listens when nothing is configured.
        let _ = self.events.send(transition);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::config::check::{self, Check};
    use crate::health::TargetKey;
    use crate::health::slot::Override;
    use crate::health::state::Thresholds;

    /// Plays back results (`None`: a local error), each probe taking its
    /// delay (none when the delays run out), and records the (virtual) time
    /// of each probe.
    struct Script {
        results: VecDeque<Option<bool>>,
        delays: VecDeque<Duration>,
        /// How long each probe says it waited for a slot before it ran.
        waits: VecDeque<Duration>,
        seen: Arc<Mutex<Vec<Duration>>>,
        epoch: Instant,
    }

    impl Prober for Script {
        fn probe(&mut self) -> impl Future<Output = Outcome> + Send {
            let result = self.results.pop_front().unwrap_or(Some(true));
            let delay = self.delays.pop_front().unwrap_or_default();
            let waited = self.waits.pop_front().unwrap_or_default();
            self.seen.lock().unwrap().push(self.epoch.elapsed());
            async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Outcome {
                    passed: result == Some(true),
                    reason: String::new(),
                    class: match result {
                        Some(true) => ReasonClass::Ok,
                        Some(false) => ReasonClass::Error,
                        None => ReasonClass::Local,
                    },
                    latency: delay,
                    waited,
                }
            }
        }
    }

    fn target(failback: Failback) -> Target {
        let mut check: Check = crate::config::parse(
            std::path::Path::new("t.toml"),
            "[check.c]\ntype = \"tcp\"\nport = 1\ninterval = \"1s\"\n",
        )
        .unwrap()
        .checks["c"]
            .as_ref()
            .clone();
        check.thresholds = Thresholds { rise: 2, fall: 2 };
        check.failback = failback;
        assert_eq!(check.timeout, check::DEFAULT_TIMEOUT);
        Target {
            key: TargetKey {
                check: "c".into(),
                host: "192.0.2.1".into(),
                port: 1,
            },
            check: Arc::new(check),
            record_sets: vec!["api.example. A".into()],
        }
    }

    struct Running {
        slot: Arc<Slot>,
        /// Woken when the override or hold changes.
        saved: Arc<Notify>,
        events: broadcast::Receiver<Transition>,
        changes: tokio::sync::mpsc::UnboundedReceiver<Change>,
        seen: Arc<Mutex<Vec<Duration>>>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        task: JoinHandle<()>,
    }

    fn start(failback: Failback, initial: Health, results: &[bool], jitter: bool) -> Running {
        let results: Vec<Option<bool>> = results.iter().copied().map(Some).collect();
        start_delayed(failback, initial, &results, jitter, &[])
    }

    /// [`start`] with probes that take `delays`, counting into metrics of
    /// the test's own.
    fn start_delayed(
        failback: Failback,
        initial: Health,
        results: &[Option<bool>],
        jitter: bool,
        delays: &[Duration],
    ) -> Running {
        start_script(failback, initial, results, jitter, delays, &[])
    }

    /// [`start_delayed`] with probes that say they waited `waits` for a
    /// slot before they ran.
    fn start_script(
        failback: Failback,
        initial: Health,
        results: &[Option<bool>],
        jitter: bool,
        delays: &[Duration],
        waits: &[Duration],
    ) -> Running {
        let metrics = Arc::new(Metrics::default());
        let slot = Arc::new(Slot::new(initial));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (sender, events) = broadcast::channel(64);
        let (changes, changed) = tokio::sync::mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let saved = Arc::new(Notify::new());
        let run = Loop {
            target: target(failback),
            slot: slot.clone(),
            prober: Script {
                results: results.iter().copied().collect(),
                delays: delays.iter().copied().collect(),
                waits: waits.iter().copied().collect(),
                seen: seen.clone(),
                epoch: Instant::now(),
            },
            jitter,
            events: sender,
            changes,
            latency: metrics.probe_histogram("test"),
            metrics: metrics.clone(),
            views: None,
            saved: Some(saved.clone()),
            intent: (None, false),
            effective: initial,
            first_failure: None,
        };
        let task = tokio::spawn(run.run(shutdown.clone()));
        Running {
            slot,
            saved,
            events,
            changes: changed,
            seen,
            metrics,
            shutdown,
            task,
        }
    }

    /// Runs a loop over `results`; returns the serving state half an
    /// interval after each probe.
    async fn run(failback: Failback, initial: Health, results: &[bool]) -> Vec<bool> {
        let results: Vec<Option<bool>> = results.iter().copied().map(Some).collect();
        run_with_local_errors(failback, initial, &results).await
    }

    /// [`run`] where `None` is a probe that hit a local error.
    async fn run_with_local_errors(
        failback: Failback,
        initial: Health,
        results: &[Option<bool>],
    ) -> Vec<bool> {
        let running = start_delayed(failback, initial, results, false, &[]);
        let mut states = Vec::new();
        tokio::time::sleep(Duration::from_millis(500)).await;
        for _ in results {
            states.push(running.slot.serving());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        running.shutdown.cancel();
        running.task.await.unwrap();
        for (i, t) in running.seen.lock().unwrap().iter().enumerate() {
            assert_eq!(
                *t,
                Duration::from_secs(i as u64),
                "probe {i} on the interval"
            );
        }
        states
    }

    #[tokio::test(start_paused = true)]
    async fn goes_down_after_fall_and_back_after_rise() {
        let states = run(
            Failback::Auto,
            Health::Up,
            &[true, false, false, false, true, true, true],
        )
        .await;
        assert_eq!(states, [true, true, false, false, false, true, true]);
    }

    #[tokio::test(start_paused = true)]
    async fn local_errors_are_neither_failures_nor_successes() {
        // Fall 2: the two failures count as consecutive across the local
        // errors between them, and the local errors alone take nothing
        // down.
        let (f, l, p) = (Some(false), None, Some(true));
        let states =
            run_with_local_errors(Failback::Auto, Health::Up, &[l, l, l, f, l, l, f, l]).await;
        assert_eq!(states, [true, true, true, true, true, true, false, false]);
        // Rise 2: nor do they reset a run of successes, or bring a down
        // target back.
        let states = run_with_local_errors(Failback::Auto, Health::Down, &[l, p, l, l, p, l]).await;
        assert_eq!(states, [false, false, false, false, true, true]);
    }

    #[tokio::test(start_paused = true)]
    async fn local_errors_are_counted_apart() {
        let running = start_delayed(
            Failback::Auto,
            Health::Up,
            &[None, None, Some(false), None],
            false,
            &[],
        );
        tokio::time::sleep(Duration::from_millis(3500)).await;
        running.shutdown.cancel();
        let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            (
                count(&running.slot.probes_local),
                count(&running.slot.probes_failed),
                count(&running.slot.probes_ok)
            ),
            (3, 1, 0)
        );
        assert!(
            running.slot.detail().last_probe.is_some_and(|p| !p.ok),
            "the last probe that ran is the failed one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn manual_failback_holds_a_recovered_target_out() {
        let states = run(
            Failback::Manual,
            Health::Up,
            &[false, false, true, true, true, true],
        )
        .await;
        assert_eq!(states, [true, false, false, false, false, false]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_target_that_recovers_stands_held_not_out() {
        use crate::health::slot::Standing;
        let running = start(
            Failback::Manual,
            Health::Up,
            &[false, false, true, true, true],
            false,
        );
        let woken = tokio::time::timeout(Duration::from_secs(10), running.saved.notified());
        woken.await.expect("the hold wakes the state file's writer");
        assert!(running.slot.detail().held);
        assert_eq!(running.slot.standing(), Standing::Out, "down and held");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(running.slot.detail().state.health(), Health::Up);
        assert_eq!(
            running.slot.standing(),
            Standing::Held,
            "up again, held: answers use it only when nothing serves"
        );
        running.slot.set_override(None);
        tokio::time::timeout(Duration::from_secs(10), running.saved.notified())
            .await
            .expect("the release wakes the writer");
        assert_eq!(running.slot.standing(), Standing::Serving);
        running.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn initial_down_comes_up_after_rise() {
        let states = run(Failback::Manual, Health::Down, &[true, true, true]).await;
        assert_eq!(
            states,
            [false, true, true],
            "manual failback holds only after a fall"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn transitions_are_announced_with_their_record_sets() {
        let mut running = start(
            Failback::Auto,
            Health::Up,
            &[false, false, true, true],
            false,
        );
        let down = running.events.recv().await.unwrap();
        assert_eq!(
            (down.from, down.to, down.serving, down.consecutive),
            (Health::Up, Health::Down, false, 2)
        );
        assert_eq!(down.record_sets, ["api.example. A"]);
        assert_eq!(down.target, "192.0.2.1:1/c");
        let up = running.events.recv().await.unwrap();
        assert_eq!((up.to, up.serving), (Health::Up, true));
        assert_eq!(
            running.slot.detail().last_transition.unwrap().to,
            Health::Up
        );
        // The watcher of answers hears of both, with the reason's class
        // and, for the fall, the time since the first failed probe (one
        // interval: the probes at 0 s and 1 s failed).
        let fall = running.changes.recv().await.unwrap();
        assert_eq!(fall.transition, down);
        assert_eq!(fall.class, ReasonClass::Error);
        assert_eq!(fall.failing_for, Some(Duration::from_secs(1)));
        let rise = running.changes.recv().await.unwrap();
        assert_eq!(rise.transition, up);
        assert_eq!((rise.class, rise.failing_for), (ReasonClass::Ok, None));
        running.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn overrides_apply_at_once_expire_and_release_holds() {
        let running = start(Failback::Manual, Health::Up, &[true; 100], false);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(running.slot.serving());
        // Drain for 10 s: out at once (no probe in between), back after.
        let until = SystemTime::now() + Duration::from_secs(10);
        running.slot.set_override(Some(Override {
            state: Health::Down,
            until: Some(until),
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!running.slot.serving(), "drained before the next probe");
        // Paused tokio time does not move SystemTime: expire it by hand.
        running.slot.set_override(Some(Override {
            state: Health::Down,
            until: Some(SystemTime::now() - Duration::from_secs(1)),
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(running.slot.serving(), "an expired override is gone");
        // A hold from manual failback is released by "auto".
        running.slot.update(|d| d.held = true);
        running.slot.set_override(Some(Override {
            state: Health::Down,
            until: None,
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
        running.slot.set_override(None);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!running.slot.detail().held);
        assert!(running.slot.serving());
        running.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_overruns_its_interval_makes_the_next_one_late() {
        // Interval 1 s, no jitter. Probe 0 takes 1.25 s, so probe 1, due at
        // 1 s, starts at 1.25 s: 250 ms late. Probe 2 is due 1 s after
        // probe 1 started and starts on time, as do the rest.
        let running = start_delayed(
            Failback::Auto,
            Health::Up,
            &[Some(true); 10],
            false,
            &[Duration::from_millis(1250)],
        );
        tokio::time::sleep(Duration::from_millis(4500)).await;
        running.shutdown.cancel();
        running.task.await.unwrap();
        let ms = Duration::from_millis;
        assert_eq!(
            *running.seen.lock().unwrap(),
            [ms(0), ms(1250), ms(2250), ms(3250), ms(4250)]
        );
        assert_eq!(running.metrics.lateness.totals(), (5, ms(250)));
        assert_eq!(running.metrics.lateness.at_most(0.0001), 4, "four on time");
        assert_eq!(running.metrics.lateness.at_most(0.1), 4);
        assert_eq!(running.metrics.lateness.at_most(0.25), 5, "one 250 ms late");
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_waited_for_a_slot_counts_the_wait_as_lateness() {
        // Probes on time, the second of which waited 300 ms for an exec
        // slot before its command ran: it started that much late.
        let ms = Duration::from_millis;
        let running = start_script(
            Failback::Auto,
            Health::Up,
            &[Some(true); 3],
            false,
            &[],
            &[ms(0), ms(300)],
        );
        tokio::time::sleep(ms(2500)).await;
        running.shutdown.cancel();
        running.task.await.unwrap();
        assert_eq!(running.metrics.lateness.totals(), (3, ms(300)));
        assert_eq!(running.metrics.lateness.at_most(0.25), 2);
        assert_eq!(running.metrics.lateness.at_most(0.5), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn lateness_is_measured_from_the_jittered_deadline() {
        // With ±10 % jitter the deadlines are 0.9–1.1 s apart; measured
        // from them, probes on an idle runtime are late by less than the
        // timer's 1 ms tick, where `started - (last start + interval)`
        // would show up to 100 ms.
        let running = start(Failback::Auto, Health::Up, &[true; 100], true);
        tokio::time::sleep(Duration::from_secs(20)).await;
        running.shutdown.cancel();
        running.task.await.unwrap();
        let probes = running.seen.lock().unwrap().len() as u64;
        assert!(probes >= 17, "{probes} probes in 20 s");
        let (count, sum) = running.metrics.lateness.totals();
        assert_eq!(count, probes, "one observation per probe");
        assert_eq!(
            running.metrics.lateness.at_most(0.001),
            count,
            "all within 1 ms"
        );
        assert!(sum < Duration::from_millis(probes), "{sum:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_simulated_failure_stands_in_for_probes_until_it_ends() {
        // Every real probe passes. A simulation makes the probes due fail
        // without running: down after fall (2) with the class `drill`;
        // ended, the real probes run again and rise (2) brings it back.
        let mut running = start(Failback::Auto, Health::Up, &[true; 100], false);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(running.seen.lock().unwrap().len(), 2, "probes at 0 s, 1 s");
        // Paused tokio time does not move SystemTime: a lease far ahead.
        let lease = SystemTime::now() + Duration::from_secs(3600);
        running.slot.set_simulation(Some(lease), SystemTime::now());
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            running.slot.serving(),
            "applied at the next probe, not at once"
        );
        // With time paused, waiting for an event that never comes would
        // run the loop forever: bound it.
        let within = Duration::from_secs(10);
        let down = tokio::time::timeout(within, running.events.recv())
            .await
            .expect("down by the simulated failure")
            .unwrap();
        assert_eq!(
            (down.to, down.serving, down.class),
            (Health::Down, false, ReasonClass::Drill)
        );
        assert_eq!(down.consecutive, 2);
        assert_eq!(down.reason, "drill: simulated failure");
        let fall = running.changes.recv().await.unwrap();
        assert_eq!(
            fall.class,
            ReasonClass::Drill,
            "metrics count a drill's move"
        );
        assert_eq!(fall.failing_for, Some(Duration::from_secs(1)));
        assert_eq!(
            running.seen.lock().unwrap().len(),
            2,
            "no real probe ran while the failure was simulated"
        );
        let probe = running.slot.detail().last_probe.unwrap();
        assert!(!probe.ok);
        assert_eq!(probe.reason, "drill: simulated failure");
        let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            count(&running.slot.probes_failed),
            2,
            "counted as failed probes"
        );
        assert_eq!(
            running.metrics.probe_histogram("test").totals().0,
            2,
            "the simulated probes add no latency"
        );
        running.slot.set_simulation(None, SystemTime::now());
        let up = tokio::time::timeout(within, running.events.recv())
            .await
            .expect("up by the real probes")
            .unwrap();
        assert_eq!(
            (up.to, up.serving, up.class),
            (Health::Up, true, ReasonClass::Ok)
        );
        assert_eq!(running.seen.lock().unwrap().len(), 4, "real probes again");
        running.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_lapsed_simulation_fails_nothing() {
        let running = start(Failback::Auto, Health::Up, &[true; 100], false);
        let lapsed = SystemTime::now() - Duration::from_secs(1);
        running.slot.set_simulation(Some(lapsed), SystemTime::now());
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert!(running.slot.serving());
        assert_eq!(running.seen.lock().unwrap().len(), 4, "every probe ran");
        running.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_a_sleeping_loop() {
        let running = start(Failback::Auto, Health::Up, &[], true);
        tokio::time::sleep(Duration::from_millis(10)).await;
        running.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(1), running.task)
            .await
            .expect("the loop ends at once")
            .unwrap();
    }
}
