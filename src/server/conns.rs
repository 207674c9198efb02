//! The open connections of one listener (DNS over TCP, or the API), and
//! what RFC 7766 §6.2.3 asks of a server running short of them: at the
//! limit, the connection idle longest is closed to make room for a new
//! one, rather than the new one refused; and idle timeouts shorten as the
//! table fills, as NSD's do past half its limit.
//!
//! A connection marks itself active with one atomic store
//! ([`Activity::touch`]): no lock per query or request. The table's lock is
//! taken to open and to close a connection, and by the sweeper a few times
//! a second, which closes the connections idle past the timeout the
//! table's fill allows now. A connection whose client sends nothing thus
//! needs no timer of its own.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::metrics::ConnectionCounters;

/// A table's limit and idle timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connections open at once (at least 1).
    pub max: u32,
    /// How long a connection may stay idle while the table is at most half
    /// full.
    pub idle: Duration,
    /// How long once it is full; in between, the timeout falls in
    /// proportion from `idle` to this (or stays at `idle`, when shorter).
    pub busy_idle: Duration,
}

/// The open connections of one listener.
#[derive(Debug)]
pub struct Connections {
    limits: Limits,
    /// What [`Shared::last`] counts from.
    epoch: Instant,
    /// Connections open and not being closed by the table: what the limit
    /// and the timeouts count. Written under `table`'s lock, read without
    /// by connections that want the timeout in force.
    live: AtomicUsize,
    counters: Arc<ConnectionCounters>,
    /// Behind a lock taken per connection opened or closed and per sweep,
    /// never per query.
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
}

#[derive(Debug)]
struct Slot {
    shared: Arc<Shared>,
    /// Closed by the table (idle, or evicted): no longer live, its task
    /// about to end.
    closing: bool,
}

/// What a connection and its table share.
#[derive(Debug)]
struct Shared {
    /// Last activity, in ms since the table's epoch: written by the
    /// connection alone, read by the sweeper; an atomic so neither locks.
    last: AtomicU64,
    /// Requests being handled (the API): a busy connection is not idle.
    busy: AtomicU32,
    /// Cancelled when the table closes the connection.
    close: CancellationToken,
}

impl Connections {
    /// An empty table, counting into `counters`.
    pub fn new(limits: Limits, counters: Arc<ConnectionCounters>) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            epoch: Instant::now(),
            live: AtomicUsize::new(0),
            counters,
            table: Mutex::default(),
        })
    }

    /// Takes a new connection in: at the limit, closes the one idle
    /// longest to make room. `None` when every other connection is busy:
    /// then the new one is to be closed.
    pub fn admit(self: &Arc<Self>) -> Option<Connection> {
        self.admit_at(self.now_ms())
    }

    /// [`Connections::admit`] at `now` (ms since the epoch).
    fn admit_at(self: &Arc<Self>, now: u64) -> Option<Connection> {
        let mut table = self.lock();
        if self.live.load(Ordering::Relaxed) >= self.limits.max as usize {
            let oldest = table
                .slots
                .iter_mut()
                .flatten()
                .filter(|slot| !slot.closing && slot.shared.busy.load(Ordering::Relaxed) == 0)
                .min_by_key(|slot| slot.shared.last.load(Ordering::Relaxed));
            match oldest {
                Some(slot) => {
                    self.close(slot);
                    self.counters.evicted.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    self.counters.refused.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            }
        }
        let shared = Arc::new(Shared {
            last: AtomicU64::new(now),
            busy: AtomicU32::new(0),
            close: CancellationToken::new(),
        });
        let slot = Some(Slot {
            shared: shared.clone(),
            closing: false,
        });
        let index = match table.free.pop() {
            Some(index) => {
                table.slots[index] = slot;
                index
            }
            None => {
                table.slots.push(slot);
                table.slots.len() - 1
            }
        };
        self.live.fetch_add(1, Ordering::Relaxed);
        self.counters.open.fetch_add(1, Ordering::Relaxed);
        Some(Connection {
            table: self.clone(),
            index,
            activity: Activity {
                shared,
                epoch: self.epoch,
            },
        })
    }

    /// The idle timeout in force now.
    pub fn idle_timeout(&self) -> Duration {
        self.timeout_for(self.live.load(Ordering::Relaxed))
    }

    /// The idle timeout with `live` connections open: `idle` up to half
    /// the limit, then falling in proportion to `busy_idle` at the limit.
    fn timeout_for(&self, live: usize) -> Duration {
        let Limits {
            max,
            idle,
            busy_idle,
        } = self.limits;
        let half = max as usize / 2;
        if live <= half || busy_idle >= idle {
            return idle;
        }
        let span = (max as usize - half) as u128;
        let over = (live - half).min(span as usize) as u128;
        // In nanoseconds, wide enough for any duration a config can give;
        // the cut is at most `idle - busy_idle`, so its seconds fit.
        let cut = (idle - busy_idle).as_nanos() * over / span;
        let cut = Duration::new((cut / 1_000_000_000) as u64, (cut % 1_000_000_000) as u32);
        idle.saturating_sub(cut)
    }

    /// Closes, until `shutdown`, the connections idle past the timeout in
    /// force, a few times per shortest timeout.
    pub async fn sweep(self: Arc<Self>, shutdown: CancellationToken) {
        let every = (self.limits.idle.min(self.limits.busy_idle) / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => self.sweep_at(self.now_ms()),
            }
        }
    }

    /// One pass of [`Connections::sweep`] at `now` (ms since the epoch).
    fn sweep_at(&self, now: u64) {
        let mut table = self.lock();
        let timeout = self.idle_timeout().as_millis() as u64;
        for slot in table.slots.iter_mut().flatten() {
            let idle = now.saturating_sub(slot.shared.last.load(Ordering::Relaxed));
            if !slot.closing && slot.shared.busy.load(Ordering::Relaxed) == 0 && idle >= timeout {
                self.close(slot);
                self.counters.timed_out.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Tells a connection to close and stops counting it as live (under
    /// the lock).
    fn close(&self, slot: &mut Slot) {
        slot.closing = true;
        slot.shared.close.cancel();
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    /// A connection ended.
    fn release(&self, index: usize) {
        let mut table = self.lock();
        if let Some(slot) = table.slots[index].take()
            && !slot.closing
        {
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
        table.free.push(index);
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One open connection's place in its table; frees it when dropped.
#[derive(Debug)]
pub struct Connection {
    table: Arc<Connections>,
    index: usize,
    activity: Activity,
}

impl Connection {
    /// What the connection's tasks tell the table.
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// Resolves once the table has closed the connection (idle too long,
    /// or evicted to make room): its task should end.
    pub async fn closed(&self) {
        self.activity.shared.close.cancelled().await;
    }

    /// The idle timeout in force now.
    pub fn idle_timeout(&self) -> Duration {
        self.table.idle_timeout()
    }

    /// Counts a timeout the connection ran into by itself (a write that
    /// waited too long, the API's limit on reading a request's head) with
    /// those of the table.
    pub fn timed_out(&self) {
        self.table
            .counters
            .timed_out
            .fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.table.release(self.index);
    }
}

/// A connection's activity, as its table sees it.
#[derive(Debug, Clone)]
pub struct Activity {
    shared: Arc<Shared>,
    epoch: Instant,
}

impl Activity {
    /// The connection was active now: it read or answered something.
    #[inline]
    pub fn touch(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.shared.last.store(now, Ordering::Relaxed);
    }

    /// Marks the connection busy (a request in progress) until the guard
    /// is dropped, which counts as activity too.
    pub fn busy(&self) -> Busy {
        self.shared.busy.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }
}

/// A request in progress; see [`Activity::busy`].
#[derive(Debug)]
pub struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.shared.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(max: u32) -> Arc<Connections> {
        Connections::new(
            Limits {
                max,
                idle: Duration::from_secs(10),
                busy_idle: Duration::from_millis(200),
            },
            Arc::default(),
        )
    }

    /// The tests' now, in ms since the table's epoch: far enough from it
    /// that connections can have been idle a while.
    const NOW: u64 = 1_000_000;

    /// Makes a connection look idle for `ms` at [`NOW`].
    fn idle_for(connection: &Connection, ms: u64) {
        connection
            .activity
            .shared
            .last
            .store(NOW - ms, Ordering::Relaxed);
    }

    fn closed(connection: &Connection) -> bool {
        connection.activity.shared.close.is_cancelled()
    }

    #[test]
    fn the_timeout_falls_from_half_full_to_full() {
        let t = table(1000);
        let ms = |live| t.timeout_for(live).as_millis();
        assert_eq!(ms(0), 10_000);
        assert_eq!(ms(500), 10_000, "half full");
        assert_eq!(ms(750), 5_100, "half way to full");
        assert_eq!(ms(1000), 200, "full");
        assert_eq!(ms(1200), 200, "past full, while evicted ones close");
        // A busy timeout above the idle one never lengthens it.
        let t = Connections::new(
            Limits {
                max: 10,
                idle: Duration::from_millis(100),
                busy_idle: Duration::from_secs(1),
            },
            Arc::default(),
        );
        assert_eq!(t.timeout_for(10), Duration::from_millis(100));
        // A table of one is full at once.
        assert_eq!(table(1).timeout_for(1), Duration::from_millis(200));
        // Any duration a config can give.
        let t = Connections::new(
            Limits {
                max: u32::MAX,
                idle: Duration::MAX,
                busy_idle: Duration::ZERO,
            },
            Arc::default(),
        );
        assert_eq!(t.timeout_for(usize::MAX), Duration::ZERO);
        assert!(t.timeout_for(u32::MAX as usize / 4 * 3) > Duration::ZERO);
    }

    #[test]
    fn at_the_limit_the_connection_idle_longest_makes_room() {
        let t = table(3);
        let a = t.admit_at(NOW).unwrap();
        let b = t.admit_at(NOW).unwrap();
        let c = t.admit_at(NOW).unwrap();
        idle_for(&a, 50);
        idle_for(&b, 90);
        idle_for(&c, 10);
        let d = t.admit_at(NOW).expect("room is made");
        assert!(closed(&b) && !closed(&a) && !closed(&c) && !closed(&d));
        assert_eq!(t.counters.evicted.load(Ordering::Relaxed), 1);
        assert_eq!(
            t.counters.open.load(Ordering::Relaxed),
            4,
            "b is still closing"
        );
        drop(b);
        assert_eq!(t.counters.open.load(Ordering::Relaxed), 3);
        // The next one makes room from the others.
        let e = t.admit_at(NOW).unwrap();
        assert!(closed(&a), "idle 50 ms: the longest of a, c, d");
        drop((a, c, d, e));
        assert_eq!(t.counters.open.load(Ordering::Relaxed), 0);
        assert_eq!(t.live.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn busy_connections_are_neither_evicted_nor_timed_out() {
        let t = table(2);
        let a = t.admit_at(NOW).unwrap();
        let b = t.admit_at(NOW).unwrap();
        let busy = (a.activity().busy(), b.activity().busy());
        idle_for(&a, 60_000);
        idle_for(&b, 60_000);
        t.sweep_at(NOW);
        assert!(!closed(&a) && !closed(&b));
        assert!(t.admit_at(NOW).is_none(), "nothing to make room from");
        assert_eq!(t.counters.refused.load(Ordering::Relaxed), 1);
        drop(busy);
        // A request that ended is activity: the connection is fresh again.
        let c = t
            .admit_at(NOW)
            .expect("room from a connection no longer busy");
        assert_eq!([closed(&a), closed(&b)].iter().filter(|&&c| c).count(), 1);
        drop(c);
    }

    #[test]
    fn the_sweep_closes_what_the_fill_makes_too_idle() {
        let t = table(4);
        let all: Vec<Connection> = (0..4).map(|_| t.admit_at(NOW).unwrap()).collect();
        // Full: 200 ms is too long.
        for (connection, ms) in all.iter().zip([0, 150, 250, 5000]) {
            idle_for(connection, ms);
        }
        t.sweep_at(NOW);
        let closed_now: Vec<bool> = all.iter().map(closed).collect();
        assert_eq!(closed_now, [false, false, true, true]);
        assert_eq!(t.counters.timed_out.load(Ordering::Relaxed), 2);
        // Half full now: 10 s again, and 150 ms is fine.
        t.sweep_at(NOW);
        assert!(!closed(&all[1]));
        assert_eq!(t.idle_timeout(), Duration::from_secs(10));
    }
}
