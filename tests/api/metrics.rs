//! `/healthz` and `/metrics`: every family with HELP and TYPE, the query
//! counters, the health and failover series following a failure, answer
//! moves counted per set (and nothing else counted), failing open, reloads,
//! the build and the process.

use std::time::Duration;

use super::{NAME, Opts, PRIMARY, SECONDARY, dns, start, start_with};

/// The `name` and `type` labels of the set.
const SET: [(&str, &str); 2] = [("name", NAME), ("type", "A")];
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
    ("record_set_healthy_members", "gauge"),
    ("record_set_failing_open", "gauge"),
    ("record_set_member_info", "gauge"),
    ("reloads_total", "counter"),
    ("last_reload_success_timestamp_seconds", "gauge"),
    ("build_info", "gauge"),
    ("process_cpu_seconds_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_virtual_memory_bytes", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_max_fds", "gauge"),
    ("process_start_time_seconds", "gauge"),
];

/// `SET` and more labels.
fn set_and<'a>(more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    SET.iter().chain(more).copied().collect()
}

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
    // The answer, and the target deciding it: the join to endpoint_health.
    assert_eq!(
        m.value(
            "active_endpoint_info",
            &set_and(&[("endpoint", PRIMARY), ("target", &p)])
        ),
        Some(1.0),
        "active_endpoint_info for the primary, with its target:\n{}",
        m.text
    );
    assert_eq!(
        m.sum("active_endpoint_info", &set_and(&[("endpoint", SECONDARY)])),
        0.0,
        "the secondary is not in the answer:\n{}",
        m.text
    );
    for (endpoint, key) in [(PRIMARY, &p), (SECONDARY, &s)] {
        assert_eq!(
            m.value(
                "record_set_member_info",
                &set_and(&[("endpoint", endpoint), ("target", key)])
            ),
            Some(1.0),
            "record_set_member_info for {endpoint}:\n{}",
            m.text
        );
    }
    assert_eq!(
        m.value("record_set_healthy_members", &SET),
        Some(2.0),
        "{}",
        m.text
    );
    assert_eq!(
        m.value("record_set_failing_open", &SET),
        Some(0.0),
        "{}",
        m.text
    );
    // No label packs two things: name and type apart, no `record`.
    assert!(
        !m.text.contains("record=\""),
        "a `record` label is left:\n{}",
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
    let events0 = m.sum("failover_events_total", &SET);
    assert_eq!(events0, 0.0, "no failover yet:\n{}", m.text);

    env.primary.set(HttpMode::Status(500));
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    let m = env.wait_metrics("endpoint_health of the primary = 0", |m| {
        health(m) == Some(0.0)
    });
    let m2 = env.wait_metrics("failover_events_total to count the failover", |m| {
        m.sum("failover_events_total", &SET) >= 1.0
    });
    let event = m2
        .matching("failover_events_total", &SET)
        .find(|s| s.value >= 1.0)
        .expect("a failover event sample");
    let keys: Vec<&str> = event.labels.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["from_endpoint", "name", "reason", "to_endpoint", "type"],
        "failover_events_total labels: {event:?}"
    );
    assert_eq!(
        m2.value(
            "failover_events_total",
            &set_and(&[
                ("from_endpoint", PRIMARY),
                ("to_endpoint", SECONDARY),
                ("reason", "status")
            ])
        ),
        Some(1.0),
        "the answer moved from the primary to the secondary on an HTTP status:\n{}",
        m2.text
    );
    assert_eq!(
        m2.value("failover_duration_seconds_count", &SET),
        Some(1.0),
        "failover_duration_seconds_count of the set after a failover:\n{}",
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
            &set_and(&[("endpoint", SECONDARY), ("target", &env.secondary_key())]),
        ) == 1.0
            && m.sum("active_endpoint_info", &set_and(&[("endpoint", PRIMARY)])) == 0.0
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

/// `failover_events_total` samples of the set above zero, as
/// (from_endpoint, to_endpoint, reason, count), sorted.
fn moves(m: &super::Metrics) -> Vec<(String, String, String, f64)> {
    let mut all: Vec<_> = m
        .matching("failover_events_total", &SET)
        .filter(|s| s.value > 0.0)
        .map(|s| {
            let label = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
            (
                label("from_endpoint"),
                label("to_endpoint"),
                label("reason"),
                s.value,
            )
        })
        .collect();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    all
}

/// (from, to, reason, count) as owned strings.
fn one_move(from: &str, to: &str, reason: &str, count: f64) -> (String, String, String, f64) {
    (from.into(), to.into(), reason.into(), count)
}

#[test]
fn a_failover_counts_one_answer_move_with_its_endpoints() {
    let env = start();
    env.wait_settled();
    env.primary.set(HttpMode::Status(500));
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    let m = env.wait_metrics("the failover counted", |m| !moves(m).is_empty());
    assert_eq!(
        moves(&m),
        [one_move(PRIMARY, SECONDARY, "status", 1.0)],
        "one move, from the primary to the secondary:\n{}",
        m.text
    );
    // The primary keeps failing: probes go on, the answer does not move.
    let probed = env.primary.requests();
    env.primary
        .wait_requests(probed + 5, crate::health::DEADLINE);
    env.primary.set(HttpMode::Healthy);
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    let m = env.wait_metrics("the failback counted", |m| moves(m).len() == 2);
    assert_eq!(
        moves(&m),
        [
            one_move(PRIMARY, SECONDARY, "status", 1.0),
            one_move(SECONDARY, PRIMARY, "ok", 1.0),
        ],
        "exactly one move each way:\n{}",
        m.text
    );
    assert_eq!(
        m.value("failover_duration_seconds_count", &SET),
        Some(1.0),
        "the fall's time to the new answer, once; a rise is no failure:\n{}",
        m.text
    );
    let within_a_minute = m.sum(
        "failover_duration_seconds_bucket",
        &set_and(&[("le", "60")]),
    );
    assert_eq!(within_a_minute, 1.0, "{}", m.text);
}

#[test]
fn health_changes_that_move_no_answer_count_no_failover() {
    let env = start();
    env.wait_settled();
    let s = env.secondary_key();
    let serving = |m: &super::Metrics| {
        m.value(
            "endpoint_serving",
            &[("target", s.as_str()), ("check", "web")],
        )
    };
    // An override on the secondary, which is not answering: drained and
    // back to its checks.
    env.override_ok(&s, r#"{"state": "down"}"#);
    env.wait_metrics("the secondary drained", |m| serving(m) == Some(0.0));
    env.override_ok(&s, r#"{"state": "auto"}"#);
    env.wait_metrics("the secondary back", |m| serving(m) == Some(1.0));
    // A blip of the backup: down on its checks, and up again.
    env.secondary.set(HttpMode::Status(500));
    env.wait_metrics("the secondary down on its checks", |m| {
        serving(m) == Some(0.0)
    });
    env.secondary.set(HttpMode::Healthy);
    env.wait_metrics("the secondary up again", |m| serving(m) == Some(1.0));
    assert_answer_is_primary(&env);
    // Then a move that counts: drain the primary. The watcher hears of
    // flips in the order their loops published them, so once this one is
    // counted, the secondary's were looked at too.
    env.override_ok(&env.primary_key(), r#"{"state": "down"}"#);
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    let m = env.wait_metrics("the drain counted", |m| !moves(m).is_empty());
    assert_eq!(
        moves(&m),
        [one_move(PRIMARY, SECONDARY, "override", 1.0)],
        "only the drain of the answering primary moved the answer:\n{}",
        m.text
    );
    assert_eq!(
        m.sum("failover_duration_seconds_count", &SET),
        0.0,
        "no probe failed before that move:\n{}",
        m.text
    );
}

#[track_caller]
fn assert_answer_is_primary(env: &super::Env) {
    crate::health::assert_answer(&env.server, "api", "A", &[PRIMARY], "the primary answers");
}

#[test]
fn a_set_with_every_member_down_shows_it_is_failing_open() {
    let env = start();
    env.wait_settled();
    let m = env.metrics();
    assert_eq!(
        m.value("record_set_failing_open", &SET),
        Some(0.0),
        "{}",
        m.text
    );
    env.primary.set(HttpMode::Status(500));
    env.secondary.set(HttpMode::Status(500));
    let m = env.wait_metrics("record_set_failing_open = 1", |m| {
        m.value("record_set_failing_open", &SET) == Some(1.0)
    });
    assert_eq!(
        m.value("record_set_healthy_members", &SET),
        Some(0.0),
        "{}",
        m.text
    );
    // Answering from the all-down rule (first: the primary tier).
    assert_eq!(
        m.sum("active_endpoint_info", &set_and(&[("endpoint", PRIMARY)])),
        1.0,
        "{}",
        m.text
    );
    assert_answer_is_primary(&env);
    let status = env.status();
    let set = super::find_record_set(&status, NAME, "A").expect("the set in the status");
    assert_eq!(set["failing_open"], true, "{set:#}");
    // One member back: no longer failing open.
    env.secondary.set(HttpMode::Healthy);
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    let m = env.wait_metrics("record_set_failing_open = 0", |m| {
        m.value("record_set_failing_open", &SET) == Some(0.0)
    });
    assert_eq!(
        m.value("record_set_healthy_members", &SET),
        Some(1.0),
        "{}",
        m.text
    );
}

#[test]
fn reloads_are_counted_by_result_with_the_last_success_time() {
    let env = start();
    let last = |m: &super::Metrics| {
        m.value("last_reload_success_timestamp_seconds", &[])
            .expect("last_reload_success_timestamp_seconds")
    };
    let reloads = |m: &super::Metrics, result| m.value("reloads_total", &[("result", result)]);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let m = env.metrics();
    let started = last(&m);
    assert!(
        started > 0.0 && started <= now(),
        "the load at start counts:\n{}",
        m.text
    );
    assert_eq!(reloads(&m, "ok"), Some(0.0), "{}", m.text);
    assert_eq!(reloads(&m, "error"), Some(0.0), "{}", m.text);

    // Past the millisecond the start was stamped with.
    std::thread::sleep(Duration::from_millis(5));
    env.reload_ok();
    let m = env.metrics();
    assert_eq!(reloads(&m, "ok"), Some(1.0), "{}", m.text);
    let reloaded = last(&m);
    assert!(reloaded > started, "{reloaded} > {started}:\n{}", m.text);

    env.write_zone("bad 60 IN A not-an-address\n");
    let r = env.reload(None);
    assert_eq!(r.status, 422, "a broken zone is refused:\n{r}");
    let m = env.metrics();
    assert_eq!(reloads(&m, "error"), Some(1.0), "{}", m.text);
    assert_eq!(reloads(&m, "ok"), Some(1.0), "{}", m.text);
    assert_eq!(
        last(&m),
        reloaded,
        "a refused reload loads nothing:\n{}",
        m.text
    );
}

#[test]
fn build_info_and_the_process_figures() {
    let env = start();
    let m = env.metrics();
    assert_eq!(
        m.value("build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        Some(1.0),
        "{}",
        m.text
    );
    let get = |name: &str| {
        m.value(name, &[])
            .unwrap_or_else(|| panic!("no {name}:\n{}", m.text))
    };
    let fds = get("process_open_fds");
    assert!(fds >= 3.0 && fds <= get("process_max_fds"), "{}", m.text);
    assert!(get("process_resident_memory_bytes") > 1e6, "{}", m.text);
    assert!(get("process_cpu_seconds_total") >= 0.0, "{}", m.text);
    // The server started during this test, within the last few minutes.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = get("process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 600.0,
        "started {started}, now {now}:\n{}",
        m.text
    );
}
