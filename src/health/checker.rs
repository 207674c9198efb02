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
use super::probe::{Clients, probe};
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
        let run = Loop {
            index: index as u32,
            target: target.clone(),
            board: board.clone(),
            http,
            jitter: Jitter::new(&target.key),
        };
        tasks.spawn(run.run(shutdown.clone()));
    }
    Ok(tasks)
}

struct Loop {
    index: u32,
    target: Target,
    board: Arc<Board>,
    http: Option<(reqwest::Client, String)>,
    jitter: Jitter,
}

impl Loop {
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
        let start = Instant::now() + self.jitter.below(check.interval);
        if sleep_until(start, &shutdown).await.is_err() {
            return;
        }
        loop {
            let started = Instant::now();
            let outcome = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                outcome = probe(&check, &self.target.key, self.http.as_ref()) => outcome,
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
            let spread = check.interval / 5;
            let next = started + check.interval - spread / 2 + self.jitter.below(spread);
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
