//! `GET /metrics`: the Prometheus text exposition (format 0.0.4) of the
//! server's [`Metrics`] and of the published table's targets and sets.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::answer::Table;
use crate::cluster::Handle;
use crate::health::state::Health;
use crate::metrics::{ConnectionCounters, Histogram, Metrics, QueryCounters, XdpCounters};

/// The exposition of `metrics`, `table` and, when there is one, `cluster`.
pub(crate) fn render(metrics: &Metrics, table: &Table, cluster: Option<&Handle>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    family(
        &mut out,
        "dns_queries_total",
        "counter",
        "Queries answered, by zone, type, RCODE and transport.",
    );
    for (name, counters) in metrics.zones() {
        queries(&counters, &name.to_string(), &mut out);
    }
    queries(&metrics.unzoned, "", &mut out);
    counter(
        &mut out,
        "dns_cached_responses_total",
        "Queries of those answered by copying a response kept from an earlier query.",
        &metrics.cached,
    );
    counter(
        &mut out,
        "dns_udp_pauses_total",
        "Pauses UDP workers took once drained, to gather queries (udp-coalesce).",
        &metrics.udp_pauses,
    );
    let limits = &metrics.rate_limit;
    for (name, help, value) in [
        (
            "dns_rate_limited_total",
            "UDP responses over their flow's rate (rate-limit): slipped or dropped.",
            &limits.limited,
        ),
        (
            "dns_rate_limit_slipped_total",
            "Limited responses sent truncated, for the client to retry over TCP.",
            &limits.slipped,
        ),
        (
            "dns_rate_limit_dropped_total",
            "Limited responses not sent.",
            &limits.dropped,
        ),
        (
            "dns_rate_limit_flows_total",
            "Times a flow (source network, response class, name) started being limited.",
            &limits.flows,
        ),
    ] {
        counter(&mut out, name, help, value);
    }
    connections(&metrics.tcp, ("dns_tcp", "DNS over TCP"), &mut out);
    connections(&metrics.api, ("api", "API"), &mut out);
    family(
        &mut out,
        "dns_response_duration_seconds",
        "histogram",
        "Time to answer one query.",
    );
    histogram(
        &metrics.response,
        "dns_response_duration_seconds",
        "",
        &mut out,
    );
    targets(table, &mut out);
    record_sets(table, &mut out);
    failovers(metrics, &mut out);
    family(
        &mut out,
        "health_checks_total",
        "counter",
        "Probes run, by check and result.",
    );
    let mut by_check: std::collections::BTreeMap<&str, (u64, u64, u64)> = Default::default();
    for (target, slot) in table.health().iter() {
        let entry = by_check.entry(&target.check.name).or_default();
        entry.0 += slot.probes_ok.load(Ordering::Relaxed);
        entry.1 += slot.probes_failed.load(Ordering::Relaxed);
        entry.2 += slot.probes_local.load(Ordering::Relaxed);
    }
    for (check, &(ok, failed, _)) in &by_check {
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
        "health_check_local_errors_total",
        "counter",
        "Probes that could not run for want of a local resource (file descriptors, memory, local ports), by check: neither passed nor failed.",
    );
    for (check, (_, _, local)) in by_check {
        let _ = writeln!(
            out,
            "health_check_local_errors_total{{check=\"{}\"}} {local}",
            escape(check)
        );
    }
    family(
        &mut out,
        "health_check_duration_seconds",
        "histogram",
        "Time one probe took, by check.",
    );
    for (check, probes) in metrics.probe_histograms() {
        histogram(
            &probes,
            "health_check_duration_seconds",
            &format!("check=\"{}\"", escape(&check)),
            &mut out,
        );
    }
    family(
        &mut out,
        "health_probe_lateness_seconds",
        "histogram",
        "How long after its due time a probe started.",
    );
    histogram(
        &metrics.lateness,
        "health_probe_lateness_seconds",
        "",
        &mut out,
    );
    xdp(&metrics.xdp, &mut out);
    if let Some(cluster) = cluster {
        cluster_families(metrics, table, cluster, &mut out);
    }
    reloads(metrics, &mut out);
    build_info(&mut out);
    process(&super::process::read(), &mut out);
    out
}

/// The dynamic sets' families: the answer, members, failing open.
fn record_sets(table: &Table, out: &mut String) {
    let sets = table.dynamic_sets();
    let labels: Vec<String> = sets
        .iter()
        .map(|set| {
            format!(
                "name=\"{}\",type=\"{}\"",
                escape(&set.owner),
                escape(&set.rr_type)
            )
        })
        .collect();
    // The target that decides a member's health, as a label: the join
    // from endpoints to `endpoint_health` and the other target families.
    let target = |target: &Option<String>| {
        target
            .as_deref()
            .map(|t| format!(",target=\"{}\"", escape(t)))
            .unwrap_or_default()
    };
    family(
        out,
        "active_endpoint_info",
        "gauge",
        "1 for each record in a dynamic set's current answer, with the target deciding it.",
    );
    for (set, labels) in sets.iter().zip(&labels) {
        for rdata in &set.answer {
            let member = set.members.iter().find(|m| &m.rdata == rdata);
            let _ = writeln!(
                out,
                "active_endpoint_info{{{labels},endpoint=\"{}\"{}}} 1",
                escape(rdata),
                target(&member.and_then(|m| m.target.clone()))
            );
        }
    }
    family(
        out,
        "record_set_member_info",
        "gauge",
        "1 for each member of a dynamic set, with the target deciding its health.",
    );
    for (set, labels) in sets.iter().zip(&labels) {
        for member in &set.members {
            let _ = writeln!(
                out,
                "record_set_member_info{{{labels},endpoint=\"{}\"{}}} 1",
                escape(&member.rdata),
                target(&member.target)
            );
        }
    }
    family(
        out,
        "record_set_healthy_members",
        "gauge",
        "Members of a dynamic set that answers may use (checks, hold and override together).",
    );
    for (set, labels) in sets.iter().zip(&labels) {
        let healthy = set.members.iter().filter(|m| m.serving).count();
        let _ = writeln!(out, "record_set_healthy_members{{{labels}}} {healthy}");
    }
    family(
        out,
        "record_set_failing_open",
        "gauge",
        "1 while a dynamic set has no member answers may use and answers by its all-down rule anyway.",
    );
    for (set, labels) in sets.iter().zip(&labels) {
        let _ = writeln!(
            out,
            "record_set_failing_open{{{labels}}} {}",
            u8::from(set.failing_open)
        );
    }
}

/// `failover_events_total` and `failover_duration_seconds`.
fn failovers(metrics: &Metrics, out: &mut String) {
    family(
        out,
        "failover_events_total",
        "counter",
        "Times a dynamic set's answer moved, by set, endpoints before and after, and the reason's class.",
    );
    for ((name, rr_type, from, to, reason), count) in metrics.failovers() {
        let _ = writeln!(
            out,
            "failover_events_total{{name=\"{}\",type=\"{}\",from_endpoint=\"{}\",to_endpoint=\"{}\",reason=\"{reason}\"}} {count}",
            escape(&name),
            escape(&rr_type),
            escape(&from),
            escape(&to)
        );
    }
    family(
        out,
        "failover_duration_seconds",
        "histogram",
        "First failed probe of a falling target to the new answer of a set it moved.",
    );
    for ((name, rr_type), durations) in metrics.failover_durations() {
        histogram(
            &durations,
            "failover_duration_seconds",
            &format!("name=\"{}\",type=\"{}\"", escape(&name), escape(&rr_type)),
            out,
        );
    }
}

/// `reloads_total` and `last_reload_success_timestamp_seconds`.
fn reloads(metrics: &Metrics, out: &mut String) {
    labelled(
        out,
        ("reloads_total", "result"),
        "Reloads (SIGHUP or the API), by result: ok, or error (the old data kept serving).",
        &[
            ("ok", &metrics.reloads_ok),
            ("error", &metrics.reloads_failed),
        ],
    );
    family(
        out,
        "last_reload_success_timestamp_seconds",
        "gauge",
        "When the config and zones in force were loaded, at start or by a reload.",
    );
    let ms = metrics.last_load_ms.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "last_reload_success_timestamp_seconds {}",
        ms as f64 / 1000.0
    );
}

/// `build_info`: the version serving.
fn build_info(out: &mut String) {
    family(
        out,
        "build_info",
        "gauge",
        "1, labelled with the version of healthdns and its build profile.",
    );
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let _ = writeln!(
        out,
        "build_info{{version=\"{}\",profile=\"{profile}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
}

/// The standard `process_*` families, those that could be read.
fn process(process: &super::process::Process, out: &mut String) {
    if let Some(seconds) = process.cpu_seconds {
        family(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
        );
        let _ = writeln!(out, "process_cpu_seconds_total {seconds}");
    }
    let gauges = [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            process.resident_bytes.map(|b| b as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            process.virtual_bytes.map(|b| b as f64),
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            process.open_fds.map(|n| n as f64),
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors.",
            process.max_fds.map(|n| n as f64),
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            process.start_time_seconds,
        ),
    ];
    for (name, help, value) in gauges {
        if let Some(value) = value {
            family(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
}

/// The cluster's families: connection, members, votes, writes.
fn cluster_families(metrics: &Metrics, table: &Table, cluster: &Handle, out: &mut String) {
    let status = cluster.status();
    family(
        out,
        "cluster_connected",
        "gauge",
        "1 while etcd is reachable.",
    );
    let _ = writeln!(out, "cluster_connected {}", u8::from(status.connected));
    family(
        out,
        "cluster_members",
        "gauge",
        "Live instances, this one included.",
    );
    let _ = writeln!(out, "cluster_members {}", status.members.len());
    counter(
        out,
        "cluster_etcd_writes_total",
        "Keys this instance wrote to etcd.",
        &metrics.cluster_writes,
    );
    family(
        out,
        "cluster_target_votes",
        "gauge",
        "Live instances that see a target up or down.",
    );
    for target in table.targets() {
        let key = target.key.to_string();
        let views = cluster.views(&key);
        for state in [Health::Up, Health::Down] {
            let votes = views.values().filter(|&&h| h == state).count();
            let _ = writeln!(
                out,
                "cluster_target_votes{{target=\"{}\",check=\"{}\",state=\"{state}\"}} {votes}",
                escape(&key),
                escape(&target.check.name)
            );
        }
    }
}

/// `endpoint_health`, `endpoint_serving`, `endpoint_override` and
/// `endpoint_simulated`.
fn targets(table: &Table, out: &mut String) {
    family(
        out,
        "endpoint_health",
        "gauge",
        "1 when a target passes its checks, 0 when not.",
    );
    for (target, slot) in table.health().iter() {
        let up = slot.detail().state.health() == Health::Up;
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
        out,
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
    let mut simulated = String::new();
    family(
        &mut simulated,
        "endpoint_simulated",
        "gauge",
        "1 for a target whose probes a drill makes fail (healthdns drill).",
    );
    for (target, slot) in table.health().iter() {
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
        if slot.simulated(now).is_some() {
            let _ = writeln!(simulated, "endpoint_simulated{{{labels}}} 1");
        }
    }
    out.push_str(&overrides);
    out.push_str(&simulated);
}

/// One zone's `dns_queries_total` samples.
fn queries(counters: &QueryCounters, zone: &str, out: &mut String) {
    for (qtype, rcode, proto, value) in counters.counts() {
        let _ = writeln!(
            out,
            "dns_queries_total{{zone=\"{}\",qtype=\"{qtype}\",rcode=\"{rcode}\",proto=\"{proto}\"}} {value}",
            escape(zone)
        );
    }
}

/// The families of one listener's connection table, named from `prefix`:
/// open connections, those the server closed by reason, failed accepts.
fn connections(counters: &ConnectionCounters, (prefix, what): (&str, &str), out: &mut String) {
    let name = format!("{prefix}_connections");
    family(
        out,
        &name,
        "gauge",
        &format!("{what} connections open, those being closed included."),
    );
    let _ = writeln!(out, "{name} {}", counters.open.load(Ordering::Relaxed));
    labelled(
        out,
        (&format!("{prefix}_closed_total"), "reason"),
        &format!(
            "{what} connections the server closed: idle past the timeout, evicted (idle longest, to make room at the limit), or refused (at the limit, none idle)."
        ),
        &[
            ("idle", &counters.timed_out),
            ("evicted", &counters.evicted),
            ("refused", &counters.refused),
        ],
    );
    counter(
        out,
        &format!("{prefix}_accept_errors_total"),
        &format!("Failed accepts of {what} connections (out of file descriptors, most often)."),
        &counters.accept_errors,
    );
}

/// A histogram's samples: cumulative buckets, `+Inf`, sum and count.
fn histogram(histogram: &Histogram, name: &str, labels: &str, out: &mut String) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (bound, cumulative) in histogram.cumulative() {
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
        );
    }
    let (count, sum) = histogram.totals();
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {}", sum.as_nanos() as f64 / 1e9);
    let _ = writeln!(out, "{name}_count{braces} {count}");
}

/// The XDP families, once a queue has started.
fn xdp(counters: &XdpCounters, out: &mut String) {
    if counters.queues.load(Ordering::Relaxed) == 0 {
        return;
    }
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    family(out, "xdp_queues", "gauge", "AF_XDP queues answering UDP.");
    let _ = writeln!(out, "xdp_queues {}", get(&counters.queues));
    labelled(
        out,
        ("xdp_frames_total", "result"),
        "Frames the XDP program gave healthdns, by what became of them.",
        &[
            ("answered", &counters.answered),
            ("dropped", &counters.dropped),
        ],
    );
    labelled(
        out,
        ("xdp_kernel_drops_total", "reason"),
        "Frames for healthdns the kernel dropped, by reason (XDP_STATISTICS).",
        &[
            ("rx_dropped", &counters.rx_dropped),
            ("rx_ring_full", &counters.rx_ring_full),
            ("fill_ring_empty", &counters.fill_ring_empty),
        ],
    );
}

/// A counter family with one label: a sample per (value, counter).
fn labelled(
    out: &mut String,
    (name, label): (&str, &str),
    help: &str,
    samples: &[(&str, &AtomicU64)],
) {
    family(out, name, "counter", help);
    for (value, counter) in samples {
        let _ = writeln!(
            out,
            "{name}{{{label}=\"{value}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::wire::rtype;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::new(&[0.001, 0.01]);
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(1));
        let mut out = String::new();
        histogram(&h, "x", "a=\"b\"", &mut out);
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.01\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 3\n"), "{out}");
    }

    #[test]
    fn lateness_is_rendered_with_its_buckets() {
        let m = Metrics::default();
        m.lateness.observe(Duration::from_micros(50));
        m.lateness.observe(Duration::from_millis(300));
        m.lateness.observe(Duration::from_secs(7));
        let table = crate::answer::build(&[], &Default::default());
        let out = render(&m, &table, None);
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
        let m = Metrics::default();
        let table = crate::answer::build(&[], &Default::default());
        assert!(
            !render(&m, &table, None).contains("xdp_"),
            "no XDP, no XDP families"
        );
        m.xdp.queues.store(2, Ordering::Relaxed);
        m.xdp.answered.store(7, Ordering::Relaxed);
        m.xdp.rx_ring_full.store(3, Ordering::Relaxed);
        let out = render(&m, &table, None);
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
        histogram(&h, "x", "", &mut out);
        assert!(out.contains("x_bucket{le=\"0.001\"} 5\n"), "{out}");
        assert!(
            out.contains("x_count 5\n") && out.contains("x_sum 0.00005\n"),
            "{out}"
        );
    }

    #[test]
    fn query_counters_by_type_rcode_and_transport() {
        let c = QueryCounters::default();
        c.count(rtype::A, 0, false);
        c.count(rtype::A, 0, false);
        c.count(65000, 3, true);
        let mut out = String::new();
        queries(&c, "example.com.", &mut out);
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
    fn connection_tables_are_rendered_per_listener() {
        let m = Metrics::default();
        m.tcp.open.store(12, Ordering::Relaxed);
        m.tcp.evicted.store(3, Ordering::Relaxed);
        m.api.accept_errors.store(5, Ordering::Relaxed);
        let table = crate::answer::build(&[], &Default::default());
        let out = render(&m, &table, None);
        for line in [
            "# TYPE dns_tcp_connections gauge\n",
            "dns_tcp_connections 12\n",
            "dns_tcp_closed_total{reason=\"evicted\"} 3\n",
            "dns_tcp_closed_total{reason=\"idle\"} 0\n",
            "dns_tcp_accept_errors_total 0\n",
            "api_connections 0\n",
            "api_accept_errors_total 5\n",
            "# TYPE health_check_local_errors_total counter\n",
        ] {
            assert!(out.contains(line), "no {line:?} in\n{out}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
