//! The operator's drill, end to end: Unbound in front of healthdns as a
//! resolver would be, a real Prometheus scraping `/metrics` with the
//! shipped alerting rules loaded, a failover, a drain, and a restart in
//! the middle. At every step the answer Unbound gives, the status API,
//! healthdns's metrics and what Prometheus stored must tell one story.
//!
//! | file | covers |
//! |---|---|
//! | `mod` | the operator's drill by hand: Unbound, Prometheus, a failover, a drain, a restart |
//! | `command` | `healthdns drill`: a pass, a failing secondary, Unbound's cache, manual failback and `--release`, SIGTERM and SIGKILL mid-drill |
//! | `simulate` | `POST/DELETE /api/v1/targets/{target}/simulate`: the lease lapsing by itself, bad input, the token, a restart forgetting it |

mod command;
mod simulate;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::api::{NAME, Opts, PRIMARY, SECONDARY, start_with, wait_until};
use crate::util::backend::HttpMode;
use crate::util::{dig, free_port, http, which};

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Unbound on `port`, resolving `h.test.` from healthdns on `dns` and
/// keeping answers at most `max_ttl` seconds (1: it follows a failover as
/// soon as healthdns does).
fn unbound(dir: &Path, port: u16, dns: u16, max_ttl: u32) -> Running {
    let config = dir.join("unbound.conf");
    std::fs::write(
        &config,
        format!(
            "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-daemonize: no\n\
             \x20 use-syslog: no\n  logfile: \"\"\n  username: \"\"\n  chroot: \"\"\n\
             \x20 directory: \"{dir}\"\n  pidfile: \"{dir}/unbound.pid\"\n\
             \x20 do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n\
             \x20 cache-max-ttl: {max_ttl}\n  cache-max-negative-ttl: 1\n  num-threads: 1\n\
             \x20 module-config: \"iterator\"\n  local-zone: \"test.\" nodefault\n\
             \x20 do-ip6: no\n  so-reuseport: no\n\
             stub-zone:\n  name: \"h.test.\"\n  stub-addr: 127.0.0.1@{dns}\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("unbound.log")).unwrap();
    let child = Command::new("unbound")
        .args(["-d", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("unbound (Debian package unbound)");
    Running(child)
}

/// Prometheus on `port`, scraping `api` every second, with the shipped
/// rules.
fn prometheus(dir: &Path, port: u16, api: SocketAddr) -> Running {
    let rules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/prometheus/healthdns-rules.yml");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules}\n\
             scrape_configs:\n  - job_name: healthdns\n    static_configs:\n\
             \x20     - targets: [\"{api}\"]\n",
            rules = rules.display()
        ),
    )
    .unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian package prometheus)");
    Running(child)
}

/// Prometheus's instant query `query`: its result vector.
fn query(port: u16, query: &str) -> Result<Vec<Value>, String> {
    let path = format!("/api/v1/query?query={}", http::percent_encode(query));
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let reply = http::request(addr, "GET", &path, &[], None).map_err(|e| e.to_string())?;
    if reply.status != 200 {
        return Err(format!("{reply}"));
    }
    let body = reply.json();
    Ok(body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// The single value of `q`, as a number.
fn value(port: u16, q: &str) -> Result<f64, String> {
    let result = query(port, q)?;
    match result.as_slice() {
        [one] => one["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{one}")),
        other => Err(format!("{q}: {other:?}")),
    }
}

/// What Unbound answers for `NAME A`.
fn resolved(port: u16) -> Result<Vec<String>, String> {
    // A resolver's client asks for recursion; the harness's dig does not.
    let run = dig::run(port, &["+recurse", "+tries=1", "+time=2", NAME, "A"])?;
    let response = run.responses.first().ok_or(run.output.clone())?;
    if response.rcode != "NOERROR" {
        return Err(format!("{response:?}"));
    }
    let mut answer: Vec<String> = response
        .answer_of("A")
        .iter()
        .map(|rr| rr.rdata.clone())
        .collect();
    answer.sort();
    Ok(answer)
}

/// Waits until Unbound answers `want`.
fn wait_resolved(port: u16, want: &str) {
    wait_until(&format!("Unbound to answer {want}"), || {
        match resolved(port) {
            Ok(answer) if answer == [want] => Ok(()),
            Ok(answer) => Err(format!("{answer:?}")),
            Err(err) => Err(err),
        }
    });
}

#[test]
fn unbound_prometheus_and_a_restart_tell_one_story() {
    assert!(
        which("unbound").is_some() && which("prometheus").is_some(),
        "unbound and prometheus are installed by scripts/setup-debian.sh"
    );
    let (dns, resolver, prom) = (free_port(), free_port(), free_port());
    let state = tempfile::tempdir().unwrap();
    let server = format!(
        "listen = [\"127.0.0.1:{dns}\"]\nstate-dir = {:?}",
        state.path().display().to_string()
    );
    let env = start_with(Opts {
        server: &server,
        check: &[("interval", "\"300ms\"")],
        ..Opts::default()
    });
    env.wait_settled();
    let work = tempfile::tempdir().unwrap();
    let _unbound = unbound(work.path(), resolver, dns, 1);
    let _prometheus = prometheus(work.path(), prom, env.api);

    // 1. All up: the primary, everywhere.
    wait_resolved(resolver, PRIMARY);
    wait_until("Prometheus to scrape healthdns", || {
        match value(prom, "up{job=\"healthdns\"}") {
            Ok(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let set = format!("name=\"{NAME}\",type=\"A\"");
    let started = value(prom, "process_start_time_seconds").unwrap_or(0.0);

    // 2. The primary fails: Unbound follows, one failover counted, and
    // Prometheus holds it and fires the shipped alert.
    env.primary.set(HttpMode::Status(500));
    wait_resolved(resolver, SECONDARY);
    let moved = format!(
        "failover_events_total{{{set},from_endpoint=\"{PRIMARY}\",to_endpoint=\"{SECONDARY}\"}}"
    );
    let m = env.wait_metrics("the failover counted", |m| {
        m.sum(
            "failover_events_total",
            &[("from_endpoint", PRIMARY), ("to_endpoint", SECONDARY)],
        ) == 1.0
    });
    assert_eq!(m.sum("record_set_failing_open", &[("name", NAME)]), 0.0);
    wait_until("Prometheus to hold the failover", || {
        match value(prom, &moved) {
            Ok(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    wait_until("the HealthdnsFailover alert to fire", || {
        match value(
            prom,
            "ALERTS{alertname=\"HealthdnsFailover\",alertstate=\"firing\"}",
        ) {
            Ok(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(env.status_answer(), [SECONDARY], "the status API agrees");

    // 3. The operator drains the primary, then it recovers: it stays out.
    let primary = env.primary_key();
    env.override_ok(&primary, r#"{"state": "down"}"#);
    env.primary.set(HttpMode::Healthy);
    let seen = env.primary.requests();
    env.primary.wait_requests(seen + 5, crate::health::DEADLINE);
    assert_eq!(resolved(resolver).unwrap(), [SECONDARY], "drained");

    // 4. A restart in the middle: the drain holds from the first query
    // Unbound sends the new process, and Prometheus sees a new process.
    let (env, _) = env.restart();
    env.wait_api();
    for _ in 0..10 {
        assert_eq!(
            resolved(resolver).unwrap(),
            [SECONDARY],
            "after the restart the drain holds"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(env.target(&primary)["override"]["state"], "down");
    wait_until("Prometheus to see the new process", || {
        match value(prom, "process_start_time_seconds") {
            Ok(now) if now > started => Ok(()),
            other => Err(format!("{other:?} (before: {started})")),
        }
    });

    // 5. Back to the checks: the primary again, counted as a move by the
    // operator, in healthdns and in Prometheus.
    env.override_ok(&primary, r#"{"state": "auto"}"#);
    wait_resolved(resolver, PRIMARY);
    env.wait_metrics("the failback counted", |m| {
        m.sum(
            "failover_events_total",
            &[
                ("from_endpoint", SECONDARY),
                ("to_endpoint", PRIMARY),
                ("reason", "override"),
            ],
        ) == 1.0
    });
    let back = format!(
        "failover_events_total{{{set},from_endpoint=\"{SECONDARY}\",to_endpoint=\"{PRIMARY}\",reason=\"override\"}}"
    );
    wait_until("Prometheus to hold the failback", || {
        match value(prom, &back) {
            Ok(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(env.status_answer(), [PRIMARY]);
}
