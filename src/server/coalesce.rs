//! `udp-coalesce`: a UDP worker that has answered every query that had
//! arrived (its socket or XDP ring is drained) pauses this long before it
//! looks again, so that its next batch gathers the queries that arrived
//! meanwhile — what interrupt moderation (`ethtool -C rx-usecs`) or NAPI's
//! `gro_flush_timeout` do for a NIC.
//!
//! Below saturation a worker otherwise wakes for every query or two, and
//! going to sleep and being woken costs more than answering. The pause
//! trades latency for CPU: each answer may wait up to the pause, and the
//! worker spends less CPU per query the fuller its batches get.
//!
//! The pause adapts to the load, as a NIC's adaptive moderation does: a
//! drained worker pauses only when it answered at least [`GATHER_AT`]
//! queries since it last paused or slept. A lightly loaded worker (a query
//! at a time) so answers every query at once, as with no pause; a busy one
//! gathers; a saturated one is never drained and never pauses. Off (zero)
//! by default.

use std::time::Duration;

/// Queries a worker answers between two waits for its next pause to be
/// worth it: one at a time means the load is light, and a pause would
/// only delay the next query.
pub const GATHER_AT: u32 = 2;

/// One worker's pause (zero for none), and the queries it took since it
/// last waited.
#[derive(Debug, Clone, Copy, Default)]
pub struct Coalesce {
    pause: Duration,
    answered: u32,
}

impl Coalesce {
    /// A pause of `pause` (zero: never pause).
    pub fn new(pause: Duration) -> Coalesce {
        Coalesce { pause, answered: 0 }
    }

    /// Called once on the worker's own thread, before its loop. With a
    /// pause, the thread's timer slack goes from Linux's default 50 µs to
    /// 1 µs, so that a pause of 20 µs lasts 20 µs and not up to 70.
    pub fn enter_thread(&self) {
        if self.is_on() {
            // SAFETY: PR_SET_TIMERSLACK takes a number and touches only
            // the calling thread's timer slack.
            let done = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong) };
            if done != 0 {
                let err = std::io::Error::last_os_error();
                tracing::debug!(%err, "cannot set the UDP worker's timer slack");
            }
        }
    }

    /// Whether a pause is set.
    pub fn is_on(&self) -> bool {
        !self.pause.is_zero()
    }

    /// Counts `n` queries taken off the socket or ring (answered, or
    /// dropped as not DNS): the load, whatever became of them.
    #[inline]
    pub fn answered(&mut self, n: u32) {
        self.answered = self.answered.saturating_add(n);
    }

    /// Whether a drained worker would pause now: a pause is set and the
    /// worker answered [`GATHER_AT`] queries or more since it last waited.
    #[inline]
    pub fn wants_pause(&self) -> bool {
        self.is_on() && self.answered >= GATHER_AT
    }

    /// The worker is drained and about to wait: pauses when
    /// [`Coalesce::wants_pause`], and starts counting anew either way.
    /// True when it paused.
    #[inline]
    pub fn drained(&mut self) -> bool {
        let pause = self.wants_pause();
        self.answered = 0;
        if pause {
            std::thread::sleep(self.pause);
        }
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn zero_never_pauses() {
        let mut coalesce = Coalesce::default();
        coalesce.answered(1000);
        assert!(!coalesce.wants_pause());
        assert!(!coalesce.drained());
    }

    #[test]
    fn a_pause_lasts_at_least_its_length() {
        let mut coalesce = Coalesce::new(Duration::from_micros(300));
        coalesce.enter_thread();
        coalesce.answered(GATHER_AT);
        let started = Instant::now();
        assert!(coalesce.drained());
        assert!(started.elapsed() >= Duration::from_micros(300));
    }

    #[test]
    fn a_query_at_a_time_is_not_kept_waiting() {
        let mut coalesce = Coalesce::new(Duration::from_millis(1));
        // Woken for one query, then drained: the load is light.
        coalesce.answered(1);
        assert!(!coalesce.wants_pause());
        assert!(!coalesce.drained(), "no pause");
    }

    #[test]
    fn the_count_starts_anew_at_each_wait() {
        let mut coalesce = Coalesce::new(Duration::from_micros(20));
        coalesce.answered(1);
        coalesce.answered(1);
        assert!(coalesce.wants_pause(), "two answered since the last wait");
        assert!(coalesce.drained());
        // The pause gathered one query only: the next wait is a plain one.
        coalesce.answered(1);
        assert!(!coalesce.drained());
        coalesce.answered(GATHER_AT - 1);
        assert!(!coalesce.wants_pause());
    }

    #[test]
    fn the_thread_gets_a_fine_timer_slack() {
        // On a thread of its own: the slack is per thread.
        std::thread::spawn(|| {
            Coalesce::new(Duration::from_micros(20)).enter_thread();
            // SAFETY: PR_GET_TIMERSLACK reads the calling thread's slack.
            let slack = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK) };
            assert_eq!(slack, 1000, "nanoseconds");
        })
        .join()
        .unwrap();
    }
}
