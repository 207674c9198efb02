//! The rise/fall state machine of one target: pure, no time, no I/O.
//!
//! A healthy target goes down after `fall` consecutive failed probes; a down
//! target comes back after `rise` consecutive successes. Any other result
//! resets the opposing counter. This is haproxy's and gdnsd's hysteresis, and
//! what Route 53 calls the failure threshold.

pub use crate::config::check::{Health, Thresholds};

/// A flip of the hysteresis: the state changed, after `count` results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flip {
    /// State before.
    pub from: Health,
    /// State after.
    pub to: Health,
    /// The consecutive results that caused it (= rise or fall).
    pub count: u32,
}

/// One target's hysteresis state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    health: Health,
    successes: u32,
    failures: u32,
}

impl State {
    /// A target that starts in `initial`.
    pub fn new(initial: Health) -> State {
        State {
            health: initial,
            successes: 0,
            failures: 0,
        }
    }

    /// Current health.
    pub fn health(&self) -> Health {
        self.health
    }

    /// Consecutive successes so far.
    pub fn successes(&self) -> u32 {
        self.successes
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Feeds one probe result; returns the transition it caused, if any.
    pub fn observe(&mut self, passed: bool, thresholds: Thresholds) -> Option<Flip> {
        if passed {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
        }
        let (to, count) = match self.health {
            Health::Down if passed && self.successes >= thresholds.rise => {
                (Health::Up, self.successes)
            }
            Health::Up if !passed && self.failures >= thresholds.fall => {
                (Health::Down, self.failures)
            }
            _ => return None,
        };
        let from = self.health;
        self.health = to;
        Some(Flip { from, to, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds { rise: 2, fall: 3 };

    fn feed(state: &mut State, results: &[bool]) -> Vec<Option<Health>> {
        results
            .iter()
            .map(|&passed| state.observe(passed, T).map(|t| t.to))
            .collect()
    }

    #[test]
    fn goes_down_after_fall_consecutive_failures() {
        let mut state = State::new(Health::Up);
        let changes = feed(&mut state, &[false, false, true, false, false, false]);
        assert_eq!(changes, [None, None, None, None, None, Some(Health::Down)]);
        assert_eq!(state.health(), Health::Down);
        assert_eq!(state.failures(), 3);
    }

    #[test]
    fn comes_back_after_rise_consecutive_successes() {
        let mut state = State::new(Health::Down);
        let changes = feed(&mut state, &[true, false, true, true, true]);
        assert_eq!(changes, [None, None, None, Some(Health::Up), None]);
    }

    #[test]
    fn transitions_report_the_count() {
        let mut state = State::new(Health::Up);
        feed(&mut state, &[false, false]);
        let transition = state.observe(false, T).unwrap();
        assert_eq!(
            transition,
            Flip {
                from: Health::Up,
                to: Health::Down,
                count: 3
            }
        );
    }

    #[test]
    fn thresholds_of_one_flip_at_once() {
        let one = Thresholds { rise: 1, fall: 1 };
        let mut state = State::new(Health::Up);
        assert!(state.observe(false, one).is_some());
        assert!(state.observe(true, one).is_some());
        assert!(state.observe(true, one).is_none());
    }
}
