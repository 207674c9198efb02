//! `source = "ADDRESS"`: where probes leave from, seen by the backend; a
//! backend failing only the probes from one source fails over only the
//! server probing from there; a source the target cannot be reached from,
//! and one that is no address.

use std::thread;
use std::time::Instant;

use super::{
    DEADLINE, POLL, assert_answer, check_section, http_check, serve, wait_answer, write_config,
};
use crate::util::backend::{HttpBackend, HttpMode, TcpBackend, TcpMode};
use crate::util::run_healthdns;

const PRIMARY: &str = "127.0.0.21";
const SECONDARY: &str = "127.0.0.22";

/// `api` primary/secondary on `PRIMARY` and `SECONDARY`, probed at the
/// given targets, the primary with `primary_check`, the secondary with `web`.
fn records(primary_check: &str, primary: &str, secondary: &str) -> String {
    format!(
        "api 30 IN A {PRIMARY} ; healthdns failover=primary check={primary_check} target={primary}\n\
         api 30 IN A {SECONDARY} ; healthdns failover=secondary check=web target={secondary}\n"
    )
}

/// Healthy HTTP backends on `PRIMARY` and `SECONDARY`, and [`records`] for
/// them.
fn http_pair(primary_check: &str) -> (HttpBackend, HttpBackend, String) {
    let p = HttpBackend::start(PRIMARY);
    let s = HttpBackend::start(SECONDARY);
    let records = records(primary_check, &p.target(), &s.target());
    (p, s, records)
}

/// `source = "IP"` as a check key.
fn source(ip: &str) -> String {
    format!("{ip:?}")
}

#[test]
fn http_probes_leave_from_the_source() {
    let (p, _s, records) = http_pair("web");
    let from = source("127.0.0.3");
    let env = serve(&records, &[http_check("web", &[("source", &from)])]);
    p.wait_requests(3, DEADLINE);
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    let seen = p.requests();
    assert_eq!(
        p.requests_from("127.0.0.3"),
        seen,
        "every probe from the source; last: {:?}",
        p.last_request()
    );
}

/// The single-instance half of the cluster test: one backend, two servers
/// probing it from two sources, and only one source's probes fail.
#[test]
fn a_backend_failing_one_source_fails_over_only_the_server_probing_from_it() {
    let (p, _s, records) = http_pair("web");
    p.set_from("127.0.0.3", HttpMode::Status(503));
    let (from_3, from_2) = (source("127.0.0.3"), source("127.0.0.2"));
    let failing = serve(&records, &[http_check("web", &[("source", &from_3)])]);
    let passing = serve(&records, &[http_check("web", &[("source", &from_2)])]);
    wait_answer(&failing.server, "api", "A", &[SECONDARY]);
    assert!(
        p.requests_from("127.0.0.3") >= 2,
        "the failing server's probes reached the backend and got the 503"
    );
    // The other server went on probing from its source and passing.
    p.wait_requests_from("127.0.0.2", p.requests_from("127.0.0.2") + 4, DEADLINE);
    assert_answer(
        &passing.server,
        "api",
        "A",
        &[PRIMARY],
        "probes from 127.0.0.2 pass",
    );
    p.clear_from("127.0.0.3");
    wait_answer(&failing.server, "api", "A", &[PRIMARY]);
}

#[test]
fn tcp_probes_leave_from_the_source_and_fail_alone_when_it_is_dropped() {
    let p = TcpBackend::start(PRIMARY);
    let s = TcpBackend::start(SECONDARY);
    p.set_from("127.0.0.3", TcpMode::Closed);
    let records = records("web", &p.target(), &s.target());
    let tcp = |ip: &str| check_section("web", "tcp", &[("port", "9"), ("source", &source(ip))]);
    let failing = serve(&records, &[tcp("127.0.0.3")]);
    let passing = serve(&records, &[tcp("127.0.0.2")]);
    wait_answer(&failing.server, "api", "A", &[SECONDARY]);
    s.wait_connections_from("127.0.0.3", 2, DEADLINE);
    p.wait_connections_from("127.0.0.2", p.connections_from("127.0.0.2") + 4, DEADLINE);
    assert_answer(
        &passing.server,
        "api",
        "A",
        &[PRIMARY],
        "connects from 127.0.0.2 pass",
    );
    assert_eq!(
        p.connections_from("127.0.0.2"),
        p.connections(),
        "every connect from a source: the dropped ones never arrive"
    );
    p.clear_from("127.0.0.3");
    wait_answer(&failing.server, "api", "A", &[PRIMARY]);
}

#[test]
fn a_source_of_the_other_family_fails_the_probe_and_says_why() {
    let (p, _s, records) = http_pair("v6");
    let from = source("::1");
    let env = serve(
        &records,
        &[
            http_check("v6", &[("source", &from)]),
            http_check("web", &[]),
        ],
    );
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    let why = format!("source ::1 is IPv6, and target {PRIMARY} has no IPv6 address");
    let deadline = Instant::now() + DEADLINE;
    while !env.server.stderr_so_far().contains(&why) {
        assert!(
            Instant::now() < deadline,
            "no {why:?} in the log:\n{}",
            env.server.stderr_so_far()
        );
        thread::sleep(POLL);
    }
    assert_eq!(p.requests(), 0, "nothing was sent from another address");
}

#[test]
fn a_source_that_is_no_address_is_reported_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "api 30 IN A 192.0.2.21 ; healthdns failover=primary check=web\n",
        &[http_check("web", &[("source", "\"127.0.0.300\"")])],
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("source ="))
        .unwrap();
    let out = run_healthdns(&["check".as_ref(), "--config".as_ref(), path.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    let want =
        format!("healthdns.toml:{line}:10: check web: source \"127.0.0.300\" is not an IP address");
    assert!(
        stderr.lines().any(|l| l.contains(&want)),
        "no {want:?} in:\n{stderr}"
    );
}
