//! Counters and histograms in atomics: no lock on the answer path.
//!
//! One [`Metrics`] is made per server and passed to whoever counts: the
//! answer table (query counters per zone, looked up when a table is built,
//! not per query), the workers, the probe loops. Counters that must survive
//! reloads live here. What describes the current table (endpoint health,
//! active endpoints) is not kept here but read from it when scraped, and
//! the Prometheus text is written by the API (`api::prometheus`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::name::Name;
use crate::wire::{rcode, rtype};

/// Query types counted on their own; the rest count as `OTHER`.
const QTYPES: [(u16, &str); 15] = [
    (rtype::A, "A"),
    (rtype::NS, "NS"),
    (rtype::CNAME, "CNAME"),
    (rtype::SOA, "SOA"),
    (rtype::PTR, "PTR"),
    (rtype::MX, "MX"),
    (rtype::TXT, "TXT"),
    (rtype::AAAA, "AAAA"),
    (rtype::SRV, "SRV"),
    (rtype::DS, "DS"),
    (rtype::SVCB, "SVCB"),
    (rtype::HTTPS, "HTTPS"),
    (rtype::CAA, "CAA"),
    (rtype::ANY, "ANY"),
    (0, "OTHER"),
];
/// RCODEs counted on their own (extended ones included); the rest `OTHER`.
const RCODES: [(u16, &str); 10] = [
    (rcode::NOERROR, "NOERROR"),
    (rcode::FORMERR, "FORMERR"),
    (rcode::SERVFAIL, "SERVFAIL"),
    (rcode::NXDOMAIN, "NXDOMAIN"),
    (rcode::NOTIMP, "NOTIMP"),
    (rcode::REFUSED, "REFUSED"),
    (rcode::YXDOMAIN, "YXDOMAIN"),
    (rcode::NOTAUTH, "NOTAUTH"),
    (rcode::BADVERS, "BADVERS"),
    (u16::MAX, "OTHER"),
];
const PROTOS: [&str; 2] = ["udp", "tcp"];

/// Query counts of one zone by (qtype, rcode, protocol).
#[derive(Debug)]
pub struct QueryCounters {
    cells: Box<[AtomicU64]>,
}

/// The index in [`QueryCounters::cells`] of a query type, RCODE and
/// transport; types and RCODEs not counted on their own count as `OTHER`.
#[inline]
fn cell(qtype: u16, rcode: u16, tcp: bool) -> usize {
    let q = QTYPES
        .iter()
        .position(|&(t, _)| t == qtype)
        .unwrap_or(QTYPES.len() - 1);
    let r = RCODES
        .iter()
        .position(|&(c, _)| c == rcode)
        .unwrap_or(RCODES.len() - 1);
    (q * RCODES.len() + r) * PROTOS.len() + usize::from(tcp)
}

impl Default for QueryCounters {
    fn default() -> QueryCounters {
        QueryCounters {
            cells: (0..QTYPES.len() * RCODES.len() * PROTOS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

impl QueryCounters {
    /// Counts one answered query.
    #[inline]
    pub fn count(&self, qtype: u16, rcode: u16, tcp: bool) {
        self.cells[cell(qtype, rcode, tcp)].fetch_add(1, Ordering::Relaxed);
    }

    /// The count of one (qtype, rcode, transport) cell.
    #[cfg(test)]
    pub(crate) fn get(&self, qtype: u16, rcode: u16, tcp: bool) -> u64 {
        self.cells[cell(qtype, rcode, tcp)].load(Ordering::Relaxed)
    }

    /// Every count above zero as (qtype, rcode, protocol, count), by type,
    /// then RCODE, then protocol.
    pub fn counts(&self) -> impl Iterator<Item = (&'static str, &'static str, &'static str, u64)> {
        let labels = QTYPES.iter().flat_map(|&(_, qtype)| {
            RCODES
                .iter()
                .flat_map(move |&(_, rcode)| PROTOS.iter().map(move |&proto| (qtype, rcode, proto)))
        });
        labels
            .zip(self.cells.iter())
            .map(|((qtype, rcode, proto), cell)| {
                (qtype, rcode, proto, cell.load(Ordering::Relaxed))
            })
            .filter(|&(.., count)| count > 0)
    }
}

/// A histogram with fixed bucket bounds, in atomics.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// Seconds: 100 µs to 10 s, for probes.
const PROBE_BOUNDS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Seconds: 100 µs to 5 s, a probe's start after its due time. Below 1 ms
/// is tokio's timer tick; seconds mean the loops cannot keep their interval.
const LATENESS_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Seconds: 100 ms to 5 min, first failed probe to new answer.
const FAILOVER_BOUNDS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Seconds: 1 µs to 10 ms, one response.
const RESPONSE_BOUNDS: &[f64] = &[
    0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.001, 0.01,
];

impl Histogram {
    /// An empty histogram with the buckets of `health_probe_lateness_seconds`.
    pub fn for_lateness() -> Histogram {
        Histogram::new(LATENESS_BOUNDS)
    }

    /// An empty histogram with these bucket bounds (seconds, ascending).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    #[inline]
    pub fn observe(&self, duration: Duration) {
        self.observe_many(duration, 1);
    }

    /// Records `count` durations of `each` (a batch's mean).
    #[inline]
    pub fn observe_many(&self, each: Duration, count: u64) {
        let seconds = each.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|&bound| seconds <= bound) {
            self.buckets[i].fetch_add(count, Ordering::Relaxed);
        }
        self.sum_nanos
            .fetch_add(each.as_nanos() as u64 * count, Ordering::Relaxed);
        self.count.fetch_add(count, Ordering::Relaxed);
    }

    /// Observations so far and their sum.
    pub fn totals(&self) -> (u64, Duration) {
        (
            self.count.load(Ordering::Relaxed),
            Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)),
        )
    }

    /// Each bucket's bound (seconds) and the observations at or below it
    /// (cumulative, as Prometheus has them).
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> {
        self.bounds
            .iter()
            .zip(self.buckets.iter())
            .scan(0, |sum, (&bound, bucket)| {
                *sum += bucket.load(Ordering::Relaxed);
                Some((bound, *sum))
            })
    }

    /// Observations at or below `bound`; for tests.
    #[cfg(test)]
    pub(crate) fn at_most(&self, bound: f64) -> u64 {
        self.cumulative()
            .take_while(|&(b, _)| b <= bound)
            .last()
            .map_or(0, |(_, count)| count)
    }
}

/// What the AF_XDP queues did, summed over queues: frames answered, frames
/// taken but dropped (not a query healthdns answers), and the kernel's
/// drops (its `XDP_STATISTICS`), which workers add about once a second.
#[derive(Debug, Default)]
pub struct XdpCounters {
    /// Queues running; nothing is rendered while it is zero.
    pub queues: AtomicU64,
    /// Frames answered.
    pub answered: AtomicU64,
    /// Frames redirected to us and dropped unanswered.
    pub dropped: AtomicU64,
    /// Kernel: frames dropped for other reasons.
    pub rx_dropped: AtomicU64,
    /// Kernel: the RX ring was full.
    pub rx_ring_full: AtomicU64,
    /// Kernel: no frame was in the fill ring.
    pub fill_ring_empty: AtomicU64,
}

/// What response rate limiting did (`[rate-limit]`), added by each worker
/// once a batch.
#[derive(Debug, Default)]
pub struct RateLimitCounters {
    /// Responses over their flow's rate: slipped or dropped.
    pub limited: AtomicU64,
    /// Limited responses sent truncated.
    pub slipped: AtomicU64,
    /// Limited responses not sent.
    pub dropped: AtomicU64,
    /// Times a flow started being limited.
    pub flows: AtomicU64,
}

/// The labels of one `failover_events_total` sample: the set's name and
/// type, the endpoints answered before and after, and the reason's class.
pub(crate) type FailoverLabels = (String, String, String, String, &'static str);

/// A record set: owner name and type mnemonic.
pub(crate) type SetLabels = (String, String);
/// What one listener's connection table saw: the TCP connections of DNS,
/// or those of the API. Atomics: the table counts under its own lock, the
/// scrape reads without one.
#[derive(Debug, Default)]
pub struct ConnectionCounters {
    /// Connections open now, those being closed included.
    pub open: AtomicU64,
    /// Closed by the server after their idle timeout (or, for the API, a
    /// request's head that took too long).
    pub timed_out: AtomicU64,
    /// Closed, idle longest, to make room for a new one at the limit.
    pub evicted: AtomicU64,
    /// Closed on accept: the limit reached and none of the others idle.
    pub refused: AtomicU64,
    /// `accept` calls that failed (a file descriptor limit, most often).
    pub accept_errors: AtomicU64,
}

/// One server's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// The AF_XDP path's counters, shown once a queue has started.
    pub xdp: XdpCounters,
    zones: Mutex<HashMap<Name, Arc<QueryCounters>>>,
    /// Queries for names in no served zone, and malformed ones.
    pub unzoned: Arc<QueryCounters>,
    /// Time to answer one query.
    pub response: Histogram,
    /// Queries answered from a worker's response cache (counted in
    /// `dns_queries_total` too), added by each worker once a batch.
    pub cached: AtomicU64,
    /// Pauses the UDP workers took (`udp-coalesce`), counted as each one
    /// starts: a pause is a syscall, which dwarfs the shared atomic.
    pub udp_pauses: AtomicU64,
    /// Keys this instance wrote to etcd (`[cluster]`).
    pub cluster_writes: AtomicU64,
    /// Response rate limiting (`[rate-limit]`).
    pub rate_limit: RateLimitCounters,
    /// Reloads that took effect.
    pub reloads_ok: AtomicU64,
    /// Reloads refused (the old data kept serving).
    pub reloads_failed: AtomicU64,
    /// When the config and zones in force were loaded (start or reload),
    /// in milliseconds since the Unix epoch; 0 before the first load.
    pub last_load_ms: AtomicU64,
    /// The connection table of DNS over TCP.
    pub tcp: Arc<ConnectionCounters>,
    /// The connection table of the API.
    pub api: Arc<ConnectionCounters>,
    /// How late probes start after their due time, across every loop: one
    /// histogram, not one per check, so a probe costs no lock to count it.
    pub lateness: Histogram,
    probes: Mutex<BTreeMap<String, Arc<Histogram>>>,
    /// Answer moves; behind a lock, as they come rarely and from one task.
    failovers: Mutex<BTreeMap<FailoverLabels, u64>>,
    /// First failed probe to new answer, by set.
    failover_durations: Mutex<BTreeMap<SetLabels, Arc<Histogram>>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            xdp: XdpCounters::default(),
            zones: Mutex::default(),
            unzoned: Arc::default(),
            response: Histogram::new(RESPONSE_BOUNDS),
            cached: AtomicU64::new(0),
            udp_pauses: AtomicU64::new(0),
            cluster_writes: AtomicU64::new(0),
            rate_limit: RateLimitCounters::default(),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            last_load_ms: AtomicU64::new(0),
            tcp: Arc::default(),
            api: Arc::default(),
            lateness: Histogram::for_lateness(),
            probes: Mutex::default(),
            failovers: Mutex::default(),
            failover_durations: Mutex::default(),
        }
    }
}

impl Metrics {
    /// The query counters of a zone, the same across reloads.
    pub fn zone(&self, apex: &Name) -> Arc<QueryCounters> {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        zones.entry(apex.clone()).or_default().clone()
    }

    /// Every zone's query counters, by name.
    pub fn zones(&self) -> Vec<(Name, Arc<QueryCounters>)> {
        let zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = zones.iter().map(|(n, c)| (n.clone(), c.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The probe-latency histogram of a check, made on first use. A probe
    /// loop takes it once and observes into it, so a probe costs no lock
    /// and no allocation here.
    pub fn probe_histogram(&self, check: &str) -> Arc<Histogram> {
        let mut probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
        probes
            .entry(check.to_owned())
            .or_insert_with(|| Arc::new(Histogram::new(PROBE_BOUNDS)))
            .clone()
    }

    /// Every check's probe-latency histogram, by check.
    pub fn probe_histograms(&self) -> Vec<(String, Arc<Histogram>)> {
        let probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
        probes.iter().map(|(c, h)| (c.clone(), h.clone())).collect()
    }

    /// Counts a set's answer moving between endpoints.
    pub fn count_failover(&self, labels: FailoverLabels) {
        let mut failovers = self.failovers.lock().unwrap_or_else(|e| e.into_inner());
        *failovers.entry(labels).or_default() += 1;
    }

    /// Answer moves counted so far, by labels.
    pub fn failovers(&self) -> Vec<(FailoverLabels, u64)> {
        let failovers = self.failovers.lock().unwrap_or_else(|e| e.into_inner());
        failovers.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Records how long a set took from the first failed probe to its new
    /// answer.
    pub fn observe_failover(&self, set: SetLabels, duration: Duration) {
        let mut durations = self
            .failover_durations
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        durations
            .entry(set)
            .or_insert_with(|| Arc::new(Histogram::new(FAILOVER_BOUNDS)))
            .observe(duration);
    }

    /// Every set's failover-duration histogram, by set.
    pub fn failover_durations(&self) -> Vec<(SetLabels, Arc<Histogram>)> {
        let durations = self
            .failover_durations
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        durations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Counts a reload, and when it succeeded, the time of the load.
    pub fn count_reload(&self, ok: bool) {
        if ok {
            self.reloads_ok.fetch_add(1, Ordering::Relaxed);
            self.loaded();
        } else {
            self.reloads_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notes that the config and zones in force were loaded now.
    pub fn loaded(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.last_load_ms
            .store(now.as_millis() as u64, Ordering::Relaxed);
    }
}
