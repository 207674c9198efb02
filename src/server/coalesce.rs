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
//! The pause adapts to the load, as a NIC's adaptive moderation does, in
//! two ways:
//! - A worker pauses only while it is *busy*: at the rate of queries of its
//!   last [`WINDOW`], without pauses it would spend at least
//!   `udp-coalesce-load` of the time on the CPU, answering and in the
//!   kernel's work its syscalls do (by default
//!   [`DEFAULT_UDP_COALESCE_LOAD`]; 0 pauses at any load). Under that the
//!   pause costs CPU rather than saving it (its own timer and wake-up
//!   outweigh the fuller batches), and it would only delay answers. A
//!   window without pauses gives the load and the CPU per query; a window
//!   with them only the rate, since the pauses change the CPU per query.
//!   So a busy worker measures the CPU per query anew in one window of
//!   every [`PROBE_EVERY`], without pauses.
//! - A drained worker pauses only when it answered at least [`GATHER_AT`]
//!   queries since it last paused or slept. A query at a time means the
//!   next one is not about to come, and a pause would only delay it.
//!
//! A saturated worker is never drained and never pauses. Off (zero) by
//! default.

use std::time::{Duration, Instant};

#[cfg(doc)]
use crate::config::DEFAULT_UDP_COALESCE_LOAD;

/// Queries a worker answers between two waits for its next pause to be
/// worth it: one at a time means the load is light, and a pause would
/// only delay the next query.
pub(super) const GATHER_AT: u32 = 2;

/// How long a worker measures its load over before it decides anew
/// whether it is busy: long enough to smooth out a client's bursts, short
/// enough to follow a change in the load within a fraction of a second.
pub(super) const WINDOW: Duration = Duration::from_millis(100);

/// A busy worker's windows, one in this many without pauses, to measure the
/// CPU per query anew (it changes with the load). 5 s apart: a probe runs
/// at the CPU per query of no pause, and probing much more often costs a
/// busy worker queries per CPU-second at a client's peak, against one that
/// always paused (an A/B against gdnsd on XDP).
pub(super) const PROBE_EVERY: u32 = 50;

/// One worker's pause (zero for none), the queries it took since it last
/// waited, and its load.
#[derive(Debug, Clone, Copy, Default)]
pub struct Coalesce {
    pause: Duration,
    /// The load from which the worker is busy.
    from: f64,
    answered: u32,
    /// Whether the worker is busy, as of its last window.
    busy: bool,
    /// CPU seconds per query, from the last window without pauses that
    /// had queries.
    cost: f64,
    /// While busy, the windows with pauses left before the next one
    /// without (the probe); zero during the probe.
    before_probe: u32,
    /// The current window: when it started and the thread's CPU time
    /// then. None until [`Coalesce::enter_thread`], and for good with no
    /// pause or one at any load: there is no load to measure.
    window: Option<(Instant, Duration)>,
    /// Queries taken in the current window.
    taken: u64,
    /// Pauses taken since [`Coalesce::take_pauses`] last asked.
    pauses: u64,
}

impl Coalesce {
    /// A pause of `pause` (zero: never pause) from a load of `from` (a
    /// share of the CPU; zero: at any load).
    pub fn new(pause: Duration, from: f64) -> Coalesce {
        // Pausing at any load: busy from the start and for good, and never
        // a probe (no window is measured).
        let always = from <= 0.0;
        Coalesce {
            pause,
            from,
            busy: always,
            before_probe: u32::from(always),
            ..Coalesce::default()
        }
    }

    /// Called once on the worker's own thread, before its loop. With a
    /// pause, the thread's timer slack goes from Linux's default 50 µs to
    /// 1 µs, so that a pause of 20 µs lasts 20 µs and not up to 70; and the
    /// first window of its load starts, unless it pauses at any load.
    pub fn enter_thread(&mut self) {
        if self.is_on() {
            // SAFETY: PR_SET_TIMERSLACK takes a number and touches only
            // the calling thread's timer slack.
            let done = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong) };
            if done != 0 {
                let err = std::io::Error::last_os_error();
                tracing::debug!(%err, "cannot set the UDP worker's timer slack");
            }
            if self.from > 0.0 {
                self.window = Some((Instant::now(), thread_cpu()));
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
        self.taken += u64::from(n);
    }

    /// Whether a drained worker would pause now: a pause is set, the
    /// worker is busy and not measuring its CPU per query without pauses,
    /// and it answered `GATHER_AT` queries or more since it last waited.
    #[inline]
    pub fn wants_pause(&self) -> bool {
        self.is_on() && self.busy && self.before_probe > 0 && self.answered >= GATHER_AT
    }

    /// The worker is drained and about to wait: closes the window of its
    /// load if it has lasted `WINDOW`, pauses when
    /// [`Coalesce::wants_pause`], and starts counting anew either way.
    /// True when it paused.
    #[inline]
    pub fn drained(&mut self) -> bool {
        if let Some((started, cpu_then)) = self.window {
            // A clock read (vDSO) per wait, with a pause set only; the
            // thread's CPU time (a syscall) once a window.
            let now = Instant::now();
            let wall = now - started;
            if wall >= WINDOW {
                let cpu = thread_cpu();
                self.close_window(wall, cpu.saturating_sub(cpu_then), self.taken);
                self.window = Some((now, cpu));
                self.taken = 0;
            }
        }
        let pause = self.wants_pause();
        self.answered = 0;
        if pause {
            self.pauses += 1;
            std::thread::sleep(self.pause);
        }
        pause
    }

    /// Pauses taken since the last call, for the worker to count: a
    /// worker's own counter, added to the shared one once a batch.
    pub(super) fn take_pauses(&mut self) -> u64 {
        std::mem::take(&mut self.pauses)
    }

    /// Ends a window of `wall` in which the thread spent `cpu` on the CPU
    /// and took `queries`, and decides whether the worker is busy.
    fn close_window(&mut self, wall: Duration, cpu: Duration, queries: u64) {
        let load = if self.busy && self.before_probe > 0 {
            // With pauses: the load their rate would be without.
            self.before_probe -= 1;
            queries as f64 * self.cost / wall.as_secs_f64()
        } else {
            // Without (every window while idle; the probe while busy).
            if queries > 0 {
                self.cost = cpu.as_secs_f64() / queries as f64;
            }
            self.before_probe = PROBE_EVERY - 1;
            cpu.as_secs_f64() / wall.as_secs_f64()
        };
        let busy = load >= self.from;
        if busy != self.busy {
            tracing::trace!(load, busy, "UDP worker's load crossed the mark");
            self.before_probe = PROBE_EVERY - 1;
        }
        self.busy = busy;
    }
}

/// The calling thread's CPU time so far, user and system (and the softirq
/// work its syscalls do, which Linux charges to it).
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `now` is.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default mark.
    const FROM: f64 = crate::config::DEFAULT_UDP_COALESCE_LOAD;

    #[test]
    fn zero_never_pauses() {
        let mut coalesce = Coalesce::default();
        coalesce.answered(1000);
        assert!(!coalesce.wants_pause());
        assert!(!coalesce.drained());
    }

    #[test]
    fn a_pause_lasts_at_least_its_length() {
        let mut coalesce = Coalesce::new(Duration::from_micros(300), FROM);
        coalesce.enter_thread();
        coalesce.busy = true;
        coalesce.before_probe = PROBE_EVERY - 1;
        coalesce.answered(GATHER_AT);
        let started = Instant::now();
        assert!(coalesce.drained());
        assert!(started.elapsed() >= Duration::from_micros(300));
    }

    #[test]
    fn a_query_at_a_time_is_not_kept_waiting() {
        let mut coalesce = Coalesce::new(Duration::from_millis(1), FROM);
        // Woken for one query, then drained: the load is light.
        coalesce.answered(1);
        assert!(!coalesce.wants_pause());
        assert!(!coalesce.drained(), "no pause");
    }

    #[test]
    fn the_count_starts_anew_at_each_wait() {
        let mut coalesce = Coalesce::new(Duration::from_micros(20), FROM);
        coalesce.busy = true;
        coalesce.before_probe = PROBE_EVERY - 1;
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
    fn a_worker_not_yet_busy_does_not_pause() {
        let mut coalesce = Coalesce::new(Duration::from_millis(1), FROM);
        coalesce.answered(1000);
        assert!(!coalesce.wants_pause(), "not busy");
        assert!(!coalesce.drained());
    }

    /// Closes a window of 100,000 queries a second at `load` (of the CPU
    /// in that window), then says whether the next one pauses.
    fn window(coalesce: &mut Coalesce, load: f64) -> bool {
        coalesce.close_window(WINDOW, WINDOW.mul_f64(load), 10_000);
        coalesce.answered(GATHER_AT);
        coalesce.wants_pause()
    }

    #[test]
    fn a_load_of_zero_pauses_at_any_load() {
        let mut coalesce = Coalesce::new(Duration::from_micros(20), 0.0);
        coalesce.enter_thread();
        assert!(coalesce.window.is_none(), "no load to measure");
        for _ in 0..2 * PROBE_EVERY {
            coalesce.answered(GATHER_AT);
            assert!(coalesce.drained(), "from the start, with no probe");
        }
    }

    #[test]
    fn a_worker_pauses_from_the_mark() {
        let mut coalesce = Coalesce::new(Duration::from_micros(50), FROM);
        assert!(!window(&mut coalesce, 0.39), "light load");
        assert!(!window(&mut coalesce, 0.54), "just under the mark");
        assert!(window(&mut coalesce, 0.56), "over the mark: busy");
    }

    #[test]
    fn a_busy_worker_judges_its_load_by_the_rate() {
        let mut coalesce = Coalesce::new(Duration::from_micros(50), FROM);
        // 6 µs a query without pauses: busy.
        coalesce.close_window(WINDOW, WINDOW.mul_f64(0.6), 10_000);
        assert!(coalesce.busy);
        // The pauses saved CPU and the load fell under the mark: at the
        // same rate, that says nothing of the load without them.
        coalesce.close_window(WINDOW, WINDOW.mul_f64(0.4), 10_000);
        assert!(coalesce.busy);
        // At half the rate, the load without them is under the mark.
        coalesce.close_window(WINDOW, WINDOW.mul_f64(0.4), 5_000);
        assert!(!coalesce.busy);
        // Then every window is without pauses, and its load counts.
        coalesce.close_window(WINDOW, WINDOW.mul_f64(0.6), 5_000);
        assert!(coalesce.busy, "12 µs a query now");
    }

    #[test]
    fn a_busy_worker_measures_its_cpu_per_query_without_pauses_now_and_then() {
        let mut coalesce = Coalesce::new(Duration::from_micros(50), FROM);
        assert!(window(&mut coalesce, 0.6), "busy");
        for _ in 1..PROBE_EVERY - 1 {
            assert!(window(&mut coalesce, 0.3), "busy, by the rate");
        }
        assert!(!window(&mut coalesce, 0.3), "the probe: no pause");
        // The same rate now costs half the CPU without pauses (the load
        // changed: a different mix of queries, say): not busy.
        assert!(!window(&mut coalesce, 0.3), "idle");
        assert!(!window(&mut coalesce, 0.3));
    }

    #[test]
    fn a_worker_measures_its_own_cpu() {
        // On a thread of its own: the CPU time measured is the thread's.
        std::thread::spawn(|| {
            let mut coalesce = Coalesce::new(Duration::from_micros(50), FROM);
            coalesce.enter_thread();
            // Burn a window of CPU time, whatever the wall clock says.
            let mut spun = 0u64;
            while thread_cpu() < WINDOW {
                spun = std::hint::black_box(spun.wrapping_add(1));
            }
            // A window that started one WINDOW of wall time ago, with one
            // WINDOW of this thread's CPU time since: a load of about one.
            coalesce.window = Some((Instant::now() - WINDOW, thread_cpu() - WINDOW));
            coalesce.answered(GATHER_AT);
            assert!(coalesce.drained(), "busy: paused");
            // Up to the probe, a window of a second with no CPU time: idle.
            coalesce.before_probe = 0;
            coalesce.window = Some((Instant::now() - Duration::from_secs(1), thread_cpu()));
            coalesce.answered(GATHER_AT);
            assert!(!coalesce.drained(), "idle: no pause");
            assert!(!coalesce.busy);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn the_thread_gets_a_fine_timer_slack() {
        // On a thread of its own: the slack is per thread.
        std::thread::spawn(|| {
            Coalesce::new(Duration::from_micros(20), FROM).enter_thread();
            // SAFETY: PR_GET_TIMERSLACK reads the calling thread's slack.
            let slack = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK) };
            assert_eq!(slack, 1000, "nanoseconds");
        })
        .join()
        .unwrap();
    }
}
