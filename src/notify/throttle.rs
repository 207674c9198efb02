//! At most one log line per window for a repeated warning.
//!
//! When ten thousand targets flap at once, a full notifier queue drops
//! events by the thousand; a warning for each buries the log. A
//! [`Throttle`] lets the first one through, counts the rest, and lets the
//! next one through once the window has passed, carrying the count.

use std::time::Duration;

use tokio::time::Instant;

/// How often a throttled warning may be logged.
pub(super) const WINDOW: Duration = Duration::from_secs(10);

/// One repeated warning's state: when it was last logged and how many
/// occurrences (each of some size, e.g. events dropped) were not.
#[derive(Debug, Default)]
pub(super) struct Throttle {
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    /// Counts `n` occurrences at `now`. Some(total) when a line should be
    /// logged now, covering these `n` and every one held back since the last
    /// line; None when the window is still running (they are held).
    pub(super) fn hit(&mut self, n: u64, now: Instant) -> Option<u64> {
        self.held += n;
        match self.last {
            Some(last) if now.saturating_duration_since(last) < WINDOW => None,
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }

    /// What is held back and never logged, for a last line on shutdown.
    pub(super) fn held(&self) -> u64 {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_passes_the_rest_wait_for_the_window() {
        let t0 = Instant::now();
        let mut throttle = Throttle::default();
        assert_eq!(throttle.hit(1, t0), Some(1));
        assert_eq!(throttle.hit(1, t0 + Duration::from_secs(1)), None);
        assert_eq!(throttle.hit(5, t0 + Duration::from_secs(9)), None);
        assert_eq!(throttle.held(), 6);
        // The window has passed: this line carries the six held back.
        assert_eq!(throttle.hit(1, t0 + WINDOW), Some(7));
        assert_eq!(throttle.held(), 0);
        assert_eq!(throttle.hit(2, t0 + WINDOW + Duration::from_secs(1)), None);
        assert_eq!(throttle.hit(0, t0 + 3 * WINDOW), Some(2));
    }
}
