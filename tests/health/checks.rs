//! What a check counts as a failure, where it probes, what it sends, and
//! where a target starts.

use super::{DEADLINE, assert_answer, check_section, http_check, serve, wait_answer};
use crate::util::backend::{HttpBackend, HttpMode, TcpBackend, TcpMode};

/// `api` primary/secondary on two backends, the check `web` with `extra`.
fn pair(ips: [&str; 2], extra: &[(&str, &str)]) -> (super::Env, HttpBackend, HttpBackend) {
    let p = HttpBackend::start(ips[0]);
    let s = HttpBackend::start(ips[1]);
    let records = format!(
        "api 30 IN A {} ; healthdns failover=primary check=web target={}\n\
         api 30 IN A {} ; healthdns failover=secondary check=web target={}\n",
        ips[0],
        p.target(),
        ips[1],
        s.target()
    );
    let env = serve(&records, &[http_check("web", extra)]);
    (env, p, s)
}

#[test]
fn a_body_without_the_expected_text_is_a_failure() {
    let ips = ["127.0.0.61", "127.0.0.62"];
    let (env, p, _s) = pair(ips, &[("body-contains", "\"ok\"")]);
    let s = &env.server;
    wait_answer(s, "api", "A", &[ips[0]]);
    p.set(HttpMode::Body("degraded".into()));
    wait_answer(s, "api", "A", &[ips[1]]);
    p.set(HttpMode::Body("all ok here".into()));
    wait_answer(s, "api", "A", &[ips[0]]);
}

#[test]
fn a_status_outside_expect_status_is_a_failure() {
    // 204 passes the default 200-299 but not expect-status = [200].
    let ips = ["127.0.0.63", "127.0.0.64"];
    let (env, p, _s) = pair(ips, &[("expect-status", "[200]")]);
    let s = &env.server;
    wait_answer(s, "api", "A", &[ips[0]]);
    p.set(HttpMode::Status(204));
    wait_answer(s, "api", "A", &[ips[1]]);
    p.set(HttpMode::Healthy);
    wait_answer(s, "api", "A", &[ips[0]]);
}

#[test]
fn a_status_in_an_expect_status_range_is_a_success() {
    // expect-status = ["200-299", 404]: 404 healthy, 500 not.
    let ips = ["127.0.0.65", "127.0.0.66"];
    let (env, p, _s) = pair(ips, &[("expect-status", "[\"200-299\", 404]")]);
    let s = &env.server;
    p.set(HttpMode::Status(404));
    p.wait_requests(p.requests() + 4, DEADLINE);
    wait_answer(s, "api", "A", &[ips[0]]);
    p.set(HttpMode::Status(500));
    wait_answer(s, "api", "A", &[ips[1]]);
}

#[test]
fn initial_down_starts_out_of_the_answer_and_rises() {
    // `cold` starts down; fall = 100 means that had it started up, 100
    // failing probes (20 s) would pass before it went down, so a hanging
    // backend keeps it in the answer for all that time — unless it starts
    // down, which is what we assert right after start-up.
    let warm = HttpBackend::start("127.0.0.67");
    let cold = HttpBackend::start("127.0.0.68");
    cold.set(HttpMode::Hang);
    let records = format!(
        "www 20 IN A 127.0.0.67 ; healthdns multivalue check=web target={}\n\
         www 20 IN A 127.0.0.68 ; healthdns multivalue check=cold target={}\n",
        warm.target(),
        cold.target()
    );
    let env = serve(
        &records,
        &[
            http_check("web", &[("initial", "\"up\"")]),
            http_check("cold", &[("initial", "\"down\""), ("fall", "100")]),
        ],
    );
    let s = &env.server;
    for _ in 0..5 {
        assert_answer(
            s,
            "www",
            "A",
            &["127.0.0.67"],
            "initial = down: out of the answer until it rises",
        );
    }
    cold.set(HttpMode::Healthy);
    wait_answer(s, "www", "A", &["127.0.0.67", "127.0.0.68"]);
}

#[test]
fn a_tcp_check_follows_connects() {
    // The records' own addresses on the check's port (no target=).
    let (p, sec) = TcpBackend::pair_on_one_port("127.0.0.69", "127.0.0.70");
    let port = p.port().to_string();
    let records = "db 30 IN A 127.0.0.69 ; healthdns failover=primary check=db\n\
                   db 30 IN A 127.0.0.70 ; healthdns failover=secondary check=db\n";
    let env = serve(records, &[check_section("db", "tcp", &[("port", &port)])]);
    let s = &env.server;
    p.wait_connections(2, DEADLINE);
    sec.wait_connections(2, DEADLINE);
    wait_answer(s, "db", "A", &["127.0.0.69"]);
    p.set(TcpMode::Closed);
    wait_answer(s, "db", "A", &["127.0.0.70"]);
    p.set(TcpMode::Open);
    wait_answer(s, "db", "A", &["127.0.0.69"]);
}

#[test]
fn an_http_probe_sends_the_configured_request_to_the_record_address() {
    // No target=: each record's own address on the check's port, with the
    // check's method, path and Host header.
    let (p, sec) = HttpBackend::pair_on_one_port("127.0.0.71", "127.0.0.72");
    let port = p.port().to_string();
    let records = "api 30 IN A 127.0.0.71 ; healthdns failover=primary check=web\n\
                   api 30 IN A 127.0.0.72 ; healthdns failover=secondary check=web\n";
    let env = serve(
        records,
        &[http_check(
            "web",
            &[
                ("port", &port),
                ("path", "\"/deep/health?x=1\""),
                ("host", "\"api.example.com\""),
                ("method", "\"HEAD\""),
            ],
        )],
    );
    p.wait_requests(2, DEADLINE);
    sec.wait_requests(2, DEADLINE);
    for b in [&p, &sec] {
        let r = b.last_request().unwrap();
        assert_eq!(r.method, "HEAD", "{r:?}");
        assert_eq!(r.path, "/deep/health?x=1", "{r:?}");
        let host = r.host.unwrap_or_default();
        assert!(
            host == "api.example.com" || host.starts_with("api.example.com:"),
            "Host header {host:?}"
        );
    }
    let s = &env.server;
    wait_answer(s, "api", "A", &["127.0.0.71"]);
    p.set(HttpMode::Status(500));
    wait_answer(s, "api", "A", &["127.0.0.72"]);
}

#[test]
fn a_tcp_check_probes_the_target_when_given() {
    let p = TcpBackend::start("127.0.0.73");
    let sec = TcpBackend::start("127.0.0.74");
    let records = format!(
        "db 30 IN A 192.0.2.73 ; healthdns failover=primary check=db target={}\n\
         db 30 IN A 192.0.2.74 ; healthdns failover=secondary check=db target={}\n",
        p.target(),
        sec.target()
    );
    // The check's port is nobody's: only target= reaches the backends.
    let env = serve(&records, &[check_section("db", "tcp", &[("port", "9")])]);
    let s = &env.server;
    wait_answer(s, "db", "A", &["192.0.2.73"]);
    p.set(TcpMode::Closed);
    wait_answer(s, "db", "A", &["192.0.2.74"]);
    let before = p.connections();
    p.set(TcpMode::Open);
    wait_answer(s, "db", "A", &["192.0.2.73"]);
    assert!(
        p.connections() > before,
        "probes reached the re-opened target"
    );
}
