//! `/healthz` and `/metrics`: every family with HELP and TYPE, the query
//! counters, and the health and failover series following a failure.

use std::time::Duration;

use super::{NAME, Opts, PRIMARY, SECONDARY, dns, start, start_with};

/// The `record` label of the set: owner and type.
const RECORD: &str = "api.h.test. A";
use crate::health::wait_answer;
use crate::util::backend::HttpMode;

/// Every family the contract names, with its type.
const FAMILIES: &[(&str, &str)] = &[
    ("failover_events_total", "counter"),
    ("endpoint_health", "gauge"),
    ("active_endpoint_info", "gauge"),
    ("failover_duration_seconds", "histogram"),
    ("health_checks_total", "counter"),
    ("health_check_duration_seconds", "histogram"),
    ("health_probe_lateness_seconds", "histogram"),
    ("dns_queries_total", "counter"),
    ("dns_response_duration_seconds", "histogram"),
    ("dns_cached_responses_total", "counter"),
    ("dns_udp_pauses_total", "counter"),
    ("dns_rate_limited_total", "counter"),
    ("dns_rate_limit_slipped_total", "counter"),
    ("dns_rate_limit_dropped_total", "counter"),
    ("dns_rate_limit_flows_total", "counter"),
];

#[test]
fn healthz_answers_ok() {
    let env = start();
    let r = env.get("/healthz");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.body.trim(), "ok", "{r}");
}

#[test]
fn metrics_has_every_family_with_help_and_type() {
    let env = start();
    env.wait_settled();
    // A query so the response histogram has observations.
    dns::udp(env.server.addr, 7, NAME).expect("one UDP query");
    let r = env.get("/metrics");
    assert_eq!(r.status, 200, "{r}");
    let ctype = r.header("Content-Type").unwrap_or("");
    assert!(
        ctype.starts_with("text/plain") && ctype.replace(' ', "").contains(";version=0.0.4"),
        "Content-Type {ctype:?}, want text/plain; version=0.0.4"
    );
    let m = env.metrics();
    for (family, kind) in FAMILIES {
        assert_eq!(
            m.types.get(*family).map(String::as_str),
            Some(*kind),
            "# TYPE {family} {kind} missing or different:\n{}",
            m.text
        );
        assert!(
            m.helps.iter().any(|h| h == family),
            "no # HELP {family}:\n{}",
            m.text
        );
    }
    // Histograms that have observations by now: buckets up to +Inf, sum, count.
    for family in [
        "health_check_duration_seconds",
        "health_probe_lateness_seconds",
        "dns_response_duration_seconds",
    ] {
        let inf = m.sum(&format!("{family}_bucket"), &[("le", "+Inf")]);
        let count = m.sum(&format!("{family}_count"), &[]);
        assert!(count >= 1.0, "{family}_count {count}:\n{}", m.text);
        assert_eq!(inf, count, "{family}: +Inf bucket != _count:\n{}", m.text);
        assert!(
            m.matching(&format!("{family}_sum"), &[]).next().is_some(),
            "no {family}_sum:\n{}",
            m.text
        );
    }
    // The checks' view of both targets and the current answer.
    let p = env.primary_key();
    let s = env.secondary_key();
    for key in [&p, &s] {
        assert_eq!(
            m.value("endpoint_health", &[("target", key), ("check", "web")]),
            Some(1.0),
            "endpoint_health {key}:\n{}",
            m.text
        );
    }
    assert!(
        m.sum("health_checks_total", &[("check", "web"), ("result", "ok")]) >= 1.0,
        "health_checks_total ok:\n{}",
        m.text
    );
    assert_eq!(
        m.sum(
            "active_endpoint_info",
            &[("record", RECORD), ("endpoint", PRIMARY)]
        ),
        1.0,
        "active_endpoint_info for the primary:\n{}",
        m.text
    );
    assert_eq!(
        m.sum(
            "active_endpoint_info",
            &[("record", RECORD), ("endpoint", SECONDARY)]
        ),
        0.0,
        "the secondary is not in the answer:\n{}",
        m.text
    );
}

#[test]
fn dns_queries_total_counts_udp_and_tcp_queries() {
    let env = start();
    let labels = |proto| {
        [
            ("zone", "h.test."),
            ("qtype", "A"),
            ("rcode", "NOERROR"),
            ("proto", proto),
        ]
    };
    let before = env.metrics();
    let udp0 = before.sum("dns_queries_total", &labels("udp"));
    let tcp0 = before.sum("dns_queries_total", &labels("tcp"));
    let sent = 25;
    for id in 0..sent {
        let a = dns::udp(env.server.addr, id, NAME).expect("UDP query");
        assert_eq!(a.rcode, 0, "{a:?}");
    }
    for id in 0..3 {
        dns::tcp(env.server.addr, id, NAME).expect("TCP query");
    }
    env.wait_metrics(&format!("{sent} more udp and 3 more tcp queries"), |m| {
        m.sum("dns_queries_total", &labels("udp")) >= udp0 + f64::from(sent)
            && m.sum("dns_queries_total", &labels("tcp")) >= tcp0 + 3.0
    });
    // Exactly the labels the contract names.
    let m = env.metrics();
    for s in m.matching("dns_queries_total", &[]) {
        let keys: Vec<&str> = s.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["proto", "qtype", "rcode", "zone"], "{s:?}");
    }
}

#[test]
fn repeated_static_questions_are_answered_from_the_cache() {
    let env = start_with(Opts {
        records: "static 300 IN A 192.0.2.99",
        ..Opts::default()
    });
    let cached = |m: &super::Metrics| m.sum("dns_cached_responses_total", &[]);
    let before = cached(&env.metrics());
    // From a fresh port each: the queries spread over the UDP workers,
    // and each worker's first asking fills its own cache.
    let sent = 40;
    for id in 0..sent {
        let a = dns::udp(env.server.addr, id, "static.h.test.").expect("UDP query");
        assert_eq!((a.rcode, a.a.clone()), (0, vec!["192.0.2.99".to_string()]));
        // The failover name is never cached: it answers from health.
        dns::udp(env.server.addr, id, NAME).expect("UDP query");
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    env.wait_metrics("the static answers counted as cached", |m| {
        cached(m) - before >= f64::from(sent) - workers
    });
    let m = env.metrics();
    assert!(
        cached(&m) - before <= f64::from(sent),
        "no more cached answers than static queries:\n{}",
        m.text
    );
}

/// `dns_udp_pauses_total`.
fn pauses(m: &super::Metrics) -> f64 {
    m.sum("dns_udp_pauses_total", &[])
}

/// Starts a server with one UDP worker, a 1 ms pause and `server` lines
/// besides, sends it a burst of 200 queries and one more, and returns it
/// with the pauses counted before the burst.
///
/// The worker counts a pause just before it takes it, after the answers of
/// the batch before. Had the burst's last batch led to one, it is usually
/// counted before the one more query is answered, but not always: the
/// worker may take that query in before it finds itself drained.
fn after_a_burst(server: &str) -> (super::Env, f64) {
    let server = format!("udp-coalesce = \"1ms\"\nudp-workers = 1\n{server}");
    let env = start_with(Opts {
        server: &server,
        ..Opts::default()
    });
    let before = pauses(&env.metrics());
    crate::util::udp_burst(env.server.addr, NAME, 200, Duration::from_secs(20));
    dns::udp(env.server.addr, 201, NAME).expect("one more query");
    (env, before)
}

#[test]
fn with_udp_coalesce_at_any_load_a_burst_makes_the_worker_pause() {
    let (env, before) = after_a_burst("udp-coalesce-load = 0");
    env.wait_metrics("a pause counted", |m| pauses(m) > before);
}

#[test]
fn with_udp_coalesce_a_worker_under_its_load_mark_does_not_pause() {
    // The default mark: a worker idle since it started is far under it.
    // A wrong pause shows here but in the rare order `after_a_burst`
    // tells of: then this misses it, and never fails wrongly.
    let (env, before) = after_a_burst("");
    let m = env.metrics();
    assert_eq!(pauses(&m), before, "no pause:\n{}", m.text);
}

#[test]
fn health_and_failover_series_follow_a_failure() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();
    let health =
        |m: &super::Metrics| m.value("endpoint_health", &[("target", &p), ("check", "web")]);
    let m = env.wait_metrics("endpoint_health of the primary = 1", |m| {
        health(m) == Some(1.0)
    });
    let events0 = m.sum("failover_events_total", &[("record", RECORD)]);
    let durations0 = m.sum("failover_duration_seconds_count", &[]);

    env.primary.set(HttpMode::Status(500));
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    let m = env.wait_metrics("endpoint_health of the primary = 0", |m| {
        health(m) == Some(0.0)
    });
    let m2 = env.wait_metrics("failover_events_total to count the failover", |m| {
        m.sum("failover_events_total", &[("record", RECORD)]) >= events0 + 1.0
    });
    let event = m2
        .matching("failover_events_total", &[("record", RECORD)])
        .find(|s| s.value >= 1.0)
        .expect("a failover event sample");
    let keys: Vec<&str> = event.labels.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["from", "reason", "record", "to"],
        "failover_events_total labels: {event:?}"
    );
    assert!(
        m2.sum(
            "failover_events_total",
            &[("record", RECORD), ("from", "up"), ("to", "down")]
        ) >= 1.0,
        "a failover event from up to down:\n{}",
        m2.text
    );
    assert!(
        m2.sum("failover_duration_seconds_count", &[]) >= durations0 + 1.0,
        "failover_duration_seconds_count after a failover:\n{}",
        m2.text
    );
    assert!(
        m.sum(
            "health_checks_total",
            &[("check", "web"), ("result", "fail")]
        ) >= 2.0,
        "health_checks_total fail after fall = 2 failures:\n{}",
        m.text
    );
    let m = env.wait_metrics("active_endpoint_info to follow the answer", |m| {
        m.sum(
            "active_endpoint_info",
            &[("record", RECORD), ("endpoint", SECONDARY)],
        ) == 1.0
            && m.sum(
                "active_endpoint_info",
                &[("record", RECORD), ("endpoint", PRIMARY)],
            ) == 0.0
    });
    // The secondary's health is untouched.
    assert_eq!(
        m.value(
            "endpoint_health",
            &[("target", &env.secondary_key()), ("check", "web")]
        ),
        Some(1.0),
        "{}",
        m.text
    );
}
