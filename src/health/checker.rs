//! The probe loops: one tokio task per target, started at a jittered
//! offset, probing at a jittered interval, feeding the rise/fall machine and
//! publishing flips to the [`Board`].

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Board;
use super::probe::{Clients, Outcome, probe};
use super::state::{Health, State};
use crate::answer::Target;
use crate::config::Failback;

/// Starts one probe loop per target, each starting from the health the board
/// shows for it. The loops stop when `shutdown` is cancelled (or the
/// returned set is dropped).
pub fn spawn(
    targets: &[Target],
    board: Arc<Board>,
    shutdown: CancellationToken,
) -> Result<JoinSet<()>, reqwest::Error> {
    let clients = Clients::new()?;
    let mut tasks = JoinSet::new();
    for (index, target) in targets.iter().enumerate() {
        let http = match target.check.kind {
            crate::config::Kind::Tcp => None,
            _ => match clients.for_target(&target.check, &target.key) {
                Ok(http) => Some(http),
                Err(err) => {
                    tracing::error!(target = %target.key, %err, "cannot probe target");
                    continue;
                }
            },
        };
        let prober = Network {
            target: target.clone(),
            http,
        };
        let run = Loop {
            index: index as u32,
            target: target.clone(),
            board: board.clone(),
            prober,
            jitter: Some(Jitter::new(&target.key)),
        };
        tasks.spawn(run.run(shutdown.clone()));
    }
    Ok(tasks)
}

/// Something that probes one target.
trait Prober {
    fn probe(&mut self) -> impl Future<Output = Outcome> + Send;
}

/// The real thing: TCP or HTTP(S) over the network.
struct Network {
    target: Target,
    http: Option<(reqwest::Client, String)>,
}

impl Prober for Network {
    fn probe(&mut self) -> impl Future<Output = Outcome> + Send {
        probe(&self.target.check, &self.target.key, self.http.as_ref())
    }
}

struct Loop<P> {
    index: u32,
    target: Target,
    board: Arc<Board>,
    prober: P,
    /// `None` in tests: start at once, probe exactly every interval.
    jitter: Option<Jitter>,
}

impl<P: Prober> Loop<P> {
    async fn run(mut self, shutdown: CancellationToken) {
        let check = self.target.check.clone();
        let initial = if self.board.serving(self.index) {
            Health::Up
        } else {
            Health::Down
        };
        let mut state = State::new(initial);
        // Set when a target with manual failback went down; it then stays
        // out of answers after it recovers, until an operator releases it.
        let mut held = false;
        let offset = self
            .jitter
            .as_mut()
            .map_or(Duration::ZERO, |j| j.below(check.interval));
        if sleep_until(Instant::now() + offset, &shutdown)
            .await
            .is_err()
        {
            return;
        }
        loop {
            let started = Instant::now();
            let outcome = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                outcome = self.prober.probe() => outcome,
            };
            tracing::debug!(target = %self.target.key, passed = outcome.passed, reason = %outcome.reason, latency = ?outcome.latency, "probe");
            if let Some(transition) = state.observe(outcome.passed, check.thresholds) {
                let serving = match (transition.to, check.failback) {
                    (Health::Down, failback) => {
                        held = failback == Failback::Manual;
                        false
                    }
                    (Health::Up, _) => !held,
                };
                self.board.set(self.index, serving);
                tracing::info!(
                    target = %self.target.key,
                    from = %transition.from,
                    to = %transition.to,
                    reason = %outcome.reason,
                    consecutive = transition.count,
                    serving,
                    "health transition{}",
                    if held && transition.to == Health::Up { " (held: failback = manual)" } else { "" }
                );
            }
            // ±10 % so that loops started together drift apart.
            let next = match self.jitter.as_mut() {
                Some(jitter) => {
                    let spread = check.interval / 5;
                    started + check.interval - spread / 2 + jitter.below(spread)
                }
                None => started + check.interval,
            };
            if sleep_until(next, &shutdown).await.is_err() {
                return;
            }
        }
    }
}

/// Sleeps until `deadline`; `Err` when shutdown came first.
async fn sleep_until(deadline: Instant, shutdown: &CancellationToken) -> Result<(), ()> {
    tokio::select! {
        biased;
        _ = shutdown.cancelled() => Err(()),
        _ = tokio::time::sleep_until(deadline) => Ok(()),
    }
}

/// A small per-loop random source for start offsets and interval spread.
struct Jitter(u64);

impl Jitter {
    fn new(key: &impl Hash) -> Jitter {
        Jitter(std::collections::hash_map::RandomState::new().hash_one(key) | 1)
    }

    fn below(&mut self, bound: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let nanos = bound.as_nanos() as u64;
        if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.0 % nanos)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::config::check::{self, Check};
    use crate::health::TargetKey;
    use crate::health::state::Thresholds;

    /// Plays back results and records the (virtual) time of each probe.
    struct Script {
        results: VecDeque<bool>,
        seen: Arc<Mutex<Vec<(Duration, bool)>>>,
        epoch: Instant,
    }

    impl Prober for Script {
        fn probe(&mut self) -> impl Future<Output = Outcome> + Send {
            let passed = self.results.pop_front().unwrap_or(true);
            self.seen
                .lock()
                .unwrap()
                .push((self.epoch.elapsed(), passed));
            std::future::ready(Outcome {
                passed,
                reason: String::new(),
                latency: Duration::ZERO,
            })
        }
    }

    fn target(failback: Failback, initial: Health) -> Target {
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
        check.initial = initial;
        assert_eq!(check.timeout, check::DEFAULT_TIMEOUT);
        Target {
            key: TargetKey {
                check: "c".into(),
                host: "192.0.2.1".into(),
                port: 1,
            },
            check: Arc::new(check),
        }
    }

    /// Runs a loop over `results` and returns the board state after each
    /// probe, sampled half an interval later.
    async fn run(failback: Failback, initial: Health, results: &[bool]) -> Vec<bool> {
        let board = Arc::new(Board::new([initial == Health::Up]));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Script {
            results: results.iter().copied().collect(),
            seen: seen.clone(),
            epoch: Instant::now(),
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(
            Loop {
                index: 0,
                target: target(failback, initial),
                board: board.clone(),
                prober: script,
                jitter: None,
            }
            .run(shutdown.clone()),
        );
        let mut states = Vec::new();
        tokio::time::sleep(Duration::from_millis(500)).await;
        for _ in results {
            states.push(board.serving(0));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        shutdown.cancel();
        task.await.unwrap();
        let times: Vec<Duration> = seen.lock().unwrap().iter().map(|(t, _)| *t).collect();
        for (i, t) in times.iter().enumerate() {
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
    async fn initial_down_comes_up_after_rise() {
        let states = run(Failback::Manual, Health::Down, &[true, true, true]).await;
        assert_eq!(
            states,
            [false, true, true],
            "manual failback holds only after a fall"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_a_sleeping_loop() {
        let board = Arc::new(Board::new([true]));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(
            Loop {
                index: 0,
                target: target(Failback::Auto, Health::Up),
                board,
                prober: Script {
                    results: VecDeque::new(),
                    seen: Arc::default(),
                    epoch: Instant::now(),
                },
                jitter: Some(Jitter::new(&1)),
            }
            .run(shutdown.clone()),
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("the loop ends at once")
            .unwrap();
    }
}
