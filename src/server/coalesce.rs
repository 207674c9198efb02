//! `udp-coalesce`: a UDP worker that has answered every query that had
//! arrived (its socket or XDP ring is drained) pauses this long before it
//! looks again, so that its next batch gathers the queries that arrived
//! meanwhile — what interrupt moderation (`ethtool -C rx-usecs`) or NAPI's
//! `gro_flush_timeout` do for a NIC.
//!
//! Below saturation a worker otherwise wakes for every query or two, and
//! going to sleep and being woken costs more than answering. The pause
//! trades latency for CPU: each answer may wait up to the pause, and the
//! worker spends less CPU per query the fuller its batches get. A
//! saturated worker never pauses (its batches are full), and the first
//! query after an idle spell is answered at once: the pause comes once the
//! worker is drained, not before it answers. Off (zero) by default.

use std::time::Duration;

/// One worker's pause; zero for none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Coalesce {
    pause: Duration,
}

impl Coalesce {
    /// A pause of `pause` (zero: never pause).
    pub fn new(pause: Duration) -> Coalesce {
        Coalesce { pause }
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

    /// Pauses the worker, if a pause is set; true when it did.
    #[inline]
    pub fn pause(&self) -> bool {
        if !self.is_on() {
            return false;
        }
        std::thread::sleep(self.pause);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn zero_never_pauses() {
        assert!(!Coalesce::default().pause());
    }

    #[test]
    fn a_pause_lasts_at_least_its_length() {
        let coalesce = Coalesce::new(Duration::from_micros(300));
        coalesce.enter_thread();
        let started = Instant::now();
        assert!(coalesce.pause());
        assert!(started.elapsed() >= Duration::from_micros(300));
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
