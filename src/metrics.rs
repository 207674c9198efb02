//! Prometheus metrics, kept in atomics: no lock on the answer path.
//!
//! Counters that must survive reloads live here, process-wide: query
//! counters per zone name (looked up when a table is built, not per query),
//! histograms, and transition counts. What describes the current table
//! (endpoint health, active endpoints) is read from it when scraped.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::answer::Table;
use crate::health::state::Health;
use crate::name::Name;
use crate::wire::rtype;

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
    (257, "CAA"),
    (rtype::ANY, "ANY"),
    (0, "OTHER"),
];
/// RCODEs counted on their own (extended ones included); the rest `OTHER`.
const RCODES: [(u16, &str); 10] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (6, "YXDOMAIN"),
    (9, "NOTAUTH"),
    (16, "BADVERS"),
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

impl QueryCounters {
    fn new() -> QueryCounters {
        QueryCounters {
            cells: (0..QTYPES.len() * RCODES.len() * PROTOS.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

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

    fn render(&self, zone: &str, out: &mut String) {
        for (q, (_, qtype)) in QTYPES.iter().enumerate() {
            for (r, (_, rcode)) in RCODES.iter().enumerate() {
                for (p, proto) in PROTOS.iter().enumerate() {
                    let value = self.cells[(q * RCODES.len() + r) * PROTOS.len() + p]
                        .load(Ordering::Relaxed);
                    if value > 0 {
                        let _ = writeln!(
                            out,
                            "dns_queries_total{{zone=\"{}\",qtype=\"{qtype}\",rcode=\"{rcode}\",proto=\"{proto}\"}} {value}",
                            escape(zone)
                        );
                    }
                }
            }
        }
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

    fn new(bounds: &'static [f64]) -> Histogram {
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

    /// Observations so far and their sum; for tests.
    #[cfg(test)]
    pub(crate) fn totals(&self) -> (u64, Duration) {
        (
            self.count.load(Ordering::Relaxed),
            Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)),
        )
    }

    /// Observations at or below `bound` (cumulative, as rendered); for tests.
    #[cfg(test)]
    pub(crate) fn at_most(&self, bound: f64) -> u64 {
        self.bounds
            .iter()
            .zip(self.buckets.iter())
            .take_while(|&(&b, _)| b <= bound)
            .map(|(_, bucket)| bucket.load(Ordering::Relaxed))
            .sum()
    }

    fn render(&self, name: &str, labels: &str, out: &mut String) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(self.buckets.iter()) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// The process-wide metrics.
#[derive(Debug)]
pub struct Metrics {
    /// The AF_XDP path's counters, shown once a queue has started.
    pub xdp: XdpCounters,
    zones: Mutex<HashMap<Name, Arc<QueryCounters>>>,
    /// Queries for names in no served zone, and malformed ones.
    pub unzoned: QueryCounters,
    /// Time to answer one query.
    pub response: Histogram,
    /// Queries answered from a worker's response cache (counted in
    /// `dns_queries_total` too), added by each worker once a batch.
    pub cached: AtomicU64,
    /// Pauses the UDP workers took (`udp-coalesce`), counted as each one
    /// starts: a pause is a syscall, which dwarfs the shared atomic.
    pub udp_pauses: AtomicU64,
    failover: Histogram,
    /// How late probes start after their due time, across every loop: one
    /// histogram, not one per check, so a probe costs no lock to count it.
    pub lateness: Histogram,
    probes: Mutex<BTreeMap<String, Arc<Histogram>>>,
    events: Mutex<BTreeMap<(String, String, String, String), u64>>,
}

/// The metrics of this process.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// What the XDP queues did, summed over queues: frames answered, frames
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

impl XdpCounters {
    fn render(&self, out: &mut String) {
        if self.queues.load(Ordering::Relaxed) == 0 {
            return;
        }
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        family(out, "xdp_queues", "gauge", "AF_XDP queues answering UDP.");
        let _ = writeln!(out, "xdp_queues {}", get(&self.queues));
        family(
            out,
            "xdp_frames_total",
            "counter",
            "Frames the XDP program gave healthdns, by what became of them.",
        );
        for (result, counter) in [("answered", &self.answered), ("dropped", &self.dropped)] {
            let _ = writeln!(
                out,
                "xdp_frames_total{{result=\"{result}\"}} {}",
                get(counter)
            );
        }
        family(
            out,
            "xdp_kernel_drops_total",
            "counter",
            "Frames for healthdns the kernel dropped, by reason (XDP_STATISTICS).",
        );
        for (reason, counter) in [
            ("rx_dropped", &self.rx_dropped),
            ("rx_ring_full", &self.rx_ring_full),
            ("fill_ring_empty", &self.fill_ring_empty),
        ] {
            let _ = writeln!(
                out,
                "xdp_kernel_drops_total{{reason=\"{reason}\"}} {}",
                get(counter)
            );
        }
    }
}

impl Metrics {
    fn new() -> Metrics {
        Metrics {
            xdp: XdpCounters::default(),
            zones: Mutex::new(HashMap::new()),
            unzoned: QueryCounters::new(),
            response: Histogram::new(RESPONSE_BOUNDS),
            cached: AtomicU64::new(0),
            udp_pauses: AtomicU64::new(0),
            failover: Histogram::new(FAILOVER_BOUNDS),
            lateness: Histogram::for_lateness(),
            probes: Mutex::new(BTreeMap::new()),
            events: Mutex::new(BTreeMap::new()),
        }
    }

    /// The query counters of a zone, the same across reloads.
    pub fn zone(&self, apex: &Name) -> Arc<QueryCounters> {
        let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        zones
            .entry(apex.clone())
            .or_insert_with(|| Arc::new(QueryCounters::new()))
            .clone()
    }

    /// The probe-latency histogram of a check, made on first use. A probe
    /// loop takes it once and observes into it, so a probe costs no lock
    /// and no allocation here.
    pub fn probe_histogram(&self, check: &str) -> Arc<Histogram> {
        let mut probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(histogram) = probes.get(check) {
            return histogram.clone();
        }
        let histogram = Arc::new(Histogram::new(PROBE_BOUNDS));
        probes.insert(check.to_owned(), histogram.clone());
        histogram
    }

    /// A target went down this long after its first failed probe.
    pub fn observe_failover(&self, duration: Duration) {
        self.failover.observe(duration);
    }

    /// A transition of a target used by these record sets.
    pub fn count_event(&self, record_sets: &[String], from: Health, to: Health, reason: &str) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        for record in record_sets {
            let key = (
                record.clone(),
                from.to_string(),
                to.to_string(),
                reason_class(reason).to_owned(),
            );
            *events.entry(key).or_default() += 1;
        }
    }

    /// The Prometheus text exposition for `table` (format 0.0.4).
    pub fn render(&self, table: &Table) -> String {
        let mut out = String::with_capacity(16 * 1024);
        family(
            &mut out,
            "dns_queries_total",
            "counter",
            "Queries answered, by zone, type, RCODE and transport.",
        );
        {
            let zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
            let mut names: Vec<&Name> = zones.keys().collect();
            names.sort();
            for name in names {
                zones[name].render(&name.to_string(), &mut out);
            }
        }
        self.unzoned.render("", &mut out);
        counter(
            &mut out,
            "dns_cached_responses_total",
            "Queries of those answered by copying a response kept from an earlier query.",
            &self.cached,
        );
        counter(
            &mut out,
            "dns_udp_pauses_total",
            "Pauses UDP workers took once drained, to gather queries (udp-coalesce).",
            &self.udp_pauses,
        );
        family(
            &mut out,
            "dns_response_duration_seconds",
            "histogram",
            "Time to answer one query.",
        );
        self.response
            .render("dns_response_duration_seconds", "", &mut out);

        family(
            &mut out,
            "endpoint_health",
            "gauge",
            "1 when a target passes its checks, 0 when not.",
        );
        for (i, target) in table.targets().iter().enumerate() {
            let up = table
                .board()
                .slot(i as u32)
                .is_some_and(|s| s.detail().state.health() == Health::Up);
            let _ = writeln!(
                out,
                "endpoint_health{{target=\"{}\",check=\"{}\"}} {}",
                escape(&target.key.to_string()),
                escape(&target.check.name),
                u8::from(up)
            );
        }
        // Each family's samples follow its own header (text format rule).
        let now = std::time::SystemTime::now();
        let mut overrides = String::new();
        family(
            &mut out,
            "endpoint_serving",
            "gauge",
            "1 when answers may use a target (checks, hold and override together).",
        );
        family(
            &mut overrides,
            "endpoint_override",
            "gauge",
            "1 for a target an operator forced up or down.",
        );
        for (i, target) in table.targets().iter().enumerate() {
            let Some(slot) = table.board().slot(i as u32) else {
                continue;
            };
            let labels = format!(
                "target=\"{}\",check=\"{}\"",
                escape(&target.key.to_string()),
                escape(&target.check.name)
            );
            let _ = writeln!(
                out,
                "endpoint_serving{{{labels}}} {}",
                u8::from(slot.serving())
            );
            if let Some(forced) = slot.forced(now) {
                let _ = writeln!(
                    overrides,
                    "endpoint_override{{{labels},state=\"{}\"}} 1",
                    forced.state
                );
            }
        }
        out.push_str(&overrides);
        family(
            &mut out,
            "active_endpoint_info",
            "gauge",
            "1 for each record in a dynamic set's current answer.",
        );
        for set in table.dynamic_sets() {
            for rdata in &set.answer {
                let _ = writeln!(
                    out,
                    "active_endpoint_info{{record=\"{}\",endpoint=\"{}\"}} 1",
                    escape(&set.name),
                    escape(rdata)
                );
            }
        }
        family(
            &mut out,
            "failover_events_total",
            "counter",
            "Health transitions, by record set, states and reason.",
        );
        for ((record, from, to, reason), count) in
            self.events.lock().unwrap_or_else(|e| e.into_inner()).iter()
        {
            let _ = writeln!(
                out,
                "failover_events_total{{record=\"{}\",from=\"{from}\",to=\"{to}\",reason=\"{reason}\"}} {count}",
                escape(record)
            );
        }
        family(
            &mut out,
            "failover_duration_seconds",
            "histogram",
            "First failed probe to new answer published.",
        );
        self.failover
            .render("failover_duration_seconds", "", &mut out);

        family(
            &mut out,
            "health_checks_total",
            "counter",
            "Probes run, by check and result.",
        );
        let mut by_check: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (i, target) in table.targets().iter().enumerate() {
            if let Some(slot) = table.board().slot(i as u32) {
                let entry = by_check.entry(&target.check.name).or_default();
                entry.0 += slot.probes_ok.load(Ordering::Relaxed);
                entry.1 += slot.probes_failed.load(Ordering::Relaxed);
            }
        }
        for (check, (ok, failed)) in by_check {
            let check = escape(check);
            let _ = writeln!(
                out,
                "health_checks_total{{check=\"{check}\",result=\"ok\"}} {ok}"
            );
            let _ = writeln!(
                out,
                "health_checks_total{{check=\"{check}\",result=\"fail\"}} {failed}"
            );
        }
        family(
            &mut out,
            "health_check_duration_seconds",
            "histogram",
            "Time one probe took, by check.",
        );
        for (check, histogram) in self.probes.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            histogram.render(
                "health_check_duration_seconds",
                &format!("check=\"{}\"", escape(check)),
                &mut out,
            );
        }
        family(
            &mut out,
            "health_probe_lateness_seconds",
            "histogram",
            "How long after its due time a probe started.",
        );
        self.lateness
            .render("health_probe_lateness_seconds", "", &mut out);
        self.xdp.render(&mut out);
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A counter family of one unlabelled sample.
fn counter(out: &mut String, name: &str, help: &str, value: &AtomicU64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
}

/// Label value escaping of the text format: backslash, quote, newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A low-cardinality class of a transition's reason.
pub fn reason_class(reason: &str) -> &'static str {
    let reason = reason.to_ascii_lowercase();
    if reason.starts_with("override") {
        "override"
    } else if reason.contains("timeout") || reason.contains("timed out") {
        "timeout"
    } else if reason.contains("certificate") || reason.contains("tls") {
        "tls"
    } else if reason.contains("not expected") {
        "status"
    } else if reason.contains("body") {
        "body"
    } else if reason.contains("connect") || reason.contains("refused") || reason.contains("reset") {
        "connect"
    } else if reason.starts_with("http") || reason.starts_with("connected") {
        "ok"
    } else {
        "error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::new(&[0.001, 0.01]);
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(1));
        let mut out = String::new();
        h.render("x", "a=\"b\"", &mut out);
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.01\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 3\n"), "{out}");
    }

    #[test]
    fn lateness_is_rendered_with_its_buckets() {
        let m = Metrics::new();
        m.lateness.observe(Duration::from_micros(50));
        m.lateness.observe(Duration::from_millis(300));
        m.lateness.observe(Duration::from_secs(7));
        let table = crate::answer::build(&[], &Default::default());
        let out = m.render(&table);
        assert!(
            out.contains("# TYPE health_probe_lateness_seconds histogram\n"),
            "{out}"
        );
        for line in [
            "health_probe_lateness_seconds_bucket{le=\"0.0001\"} 1\n",
            "health_probe_lateness_seconds_bucket{le=\"0.25\"} 1\n",
            "health_probe_lateness_seconds_bucket{le=\"0.5\"} 2\n",
            "health_probe_lateness_seconds_bucket{le=\"5\"} 2\n",
            "health_probe_lateness_seconds_bucket{le=\"+Inf\"} 3\n",
            "health_probe_lateness_seconds_count 3\n",
        ] {
            assert!(out.contains(line), "no {line:?} in\n{out}");
        }
    }

    #[test]
    fn xdp_counters_show_once_a_queue_runs() {
        let m = Metrics::new();
        let table = crate::answer::build(&[], &Default::default());
        assert!(
            !m.render(&table).contains("xdp_"),
            "no XDP, no XDP families"
        );
        m.xdp.queues.store(2, Ordering::Relaxed);
        m.xdp.answered.store(7, Ordering::Relaxed);
        m.xdp.rx_ring_full.store(3, Ordering::Relaxed);
        let out = m.render(&table);
        for line in [
            "# TYPE xdp_frames_total counter\n",
            "xdp_queues 2\n",
            "xdp_frames_total{result=\"answered\"} 7\n",
            "xdp_frames_total{result=\"dropped\"} 0\n",
            "xdp_kernel_drops_total{reason=\"rx_ring_full\"} 3\n",
        ] {
            assert!(out.contains(line), "no {line:?} in\n{out}");
        }
    }

    #[test]
    fn batches_count_every_answer() {
        let h = Histogram::new(&[0.001]);
        h.observe_many(Duration::from_micros(10), 5);
        let mut out = String::new();
        h.render("x", "", &mut out);
        assert!(out.contains("x_bucket{le=\"0.001\"} 5\n"), "{out}");
        assert!(
            out.contains("x_count 5\n") && out.contains("x_sum 0.00005\n"),
            "{out}"
        );
    }

    #[test]
    fn query_counters_by_type_rcode_and_transport() {
        let c = QueryCounters::new();
        c.count(rtype::A, 0, false);
        c.count(rtype::A, 0, false);
        c.count(65000, 3, true);
        let mut out = String::new();
        c.render("example.com.", &mut out);
        assert!(
            out.contains("{zone=\"example.com.\",qtype=\"A\",rcode=\"NOERROR\",proto=\"udp\"} 2"),
            "{out}"
        );
        assert!(
            out.contains(
                "{zone=\"example.com.\",qtype=\"OTHER\",rcode=\"NXDOMAIN\",proto=\"tcp\"} 1"
            ),
            "{out}"
        );
    }

    #[test]
    fn reasons_fall_into_few_classes() {
        assert_eq!(reason_class("HTTP 500 not expected"), "status");
        assert_eq!(reason_class("timeout after 1s"), "timeout");
        assert_eq!(
            reason_class("connect: Connection refused (os error 111)"),
            "connect"
        );
        assert_eq!(reason_class("HTTP 200 but body lacks \"ok\""), "body");
        assert_eq!(reason_class("override: down"), "override");
        assert_eq!(reason_class("HTTP 200"), "ok");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
