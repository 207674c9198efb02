//! `healthdns drill` against the real server and fake backends: a drill
//! that passes (events and metrics say `drill`, the backends see only
//! probes), one whose secondary is down too, one through Unbound, manual
//! failback with and without `--release`, and a drill stopped by SIGTERM
//! or killed outright. After each, nothing is left simulated.

use serde_json::Value;
use std::process::{Child, Command, Output, Stdio};

use super::simulate::assert_nothing_left;
use super::{Running, unbound};
use crate::api::{Env, NAME, Opts, PRIMARY, SECONDARY, start, start_with, wait_until};
use crate::health::wait_answer;
use crate::notify::{Receiver, events::check_schema, toml_string};
use crate::util::backend::HttpMode;
use crate::util::{bin, free_port, which};

/// `healthdns drill NAME A --server … --api … --json EXTRA…`.
fn command(env: &Env, name: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(bin());
    command
        .args(["drill", name, "A", "--json"])
        .args(["--server", &env.server.addr.to_string()])
        .args(["--api", &env.url()])
        .args(extra)
        .env_remove("HEALTHDNS_TOKEN")
        .stdin(Stdio::null());
    command
}

/// Runs a drill of `NAME A` to its end: its exit and its JSON report.
fn drill(env: &Env, extra: &[&str]) -> (Output, Value) {
    drill_set(env, NAME, extra)
}

/// [`drill`] of the set `name`.
fn drill_set(env: &Env, name: &str, extra: &[&str]) -> (Output, Value) {
    let output = command(env, name, extra)
        .output()
        .expect("run healthdns drill");
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", show(&output)));
    (output, report)
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn seconds(report: &Value, key: &str) -> f64 {
    report[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is no number: {report:#}"))
}

/// The webhook setup: the standard pair and one `[[notify]]` webhook.
fn start_with_webhook(receiver: &Receiver) -> Env {
    let sections = format!(
        "\n[[notify]]\nwebhook = {}\ntimeout = \"2s\"\nbackoff = \"50ms\"\n",
        toml_string(&receiver.url())
    );
    let env = start_with(Opts {
        sections: &sections,
        ..Opts::default()
    });
    env.wait_settled();
    env
}

#[test]
fn a_drill_fails_over_and_back_touching_no_backend() {
    let receiver = Receiver::start();
    let env = start_with_webhook(&receiver);
    let p = env.primary_key();

    let (output, report) = drill(&env, &["--lease", "2s"]);
    assert!(output.status.success(), "{}", show(&output));
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["targets"], serde_json::json!([p]), "{report:#}");
    assert_eq!(report["before"], serde_json::json!([PRIMARY]), "{report:#}");
    assert_eq!(
        report["during"],
        serde_json::json!([SECONDARY]),
        "{report:#}"
    );
    assert_eq!(report["after"], serde_json::json!([PRIMARY]), "{report:#}");
    let (detect, switch) = (seconds(&report, "detect_s"), seconds(&report, "switch_s"));
    assert!(detect > 0.0 && detect <= switch, "{report:#}");
    assert!(switch <= seconds(&report, "max_switch_s"), "{report:#}");
    assert!(seconds(&report, "failback_s") > 0.0, "{report:#}");
    assert!(report["resolver_switch_s"].is_null(), "{report:#}");
    assert!(report["reason"].is_null(), "{report:#}");
    assert_eq!(report["restored"], true, "{report:#}");

    // Nothing left, and the set is as it was.
    assert_nothing_left(&env);
    assert_eq!(env.status_answer(), [PRIMARY]);
    let t = env.target(&p);
    assert_eq!(
        (&t["state"], &t["held"]),
        (&Value::from("up"), &Value::from(false))
    );

    // As in an outage: the events and the metrics, with the class drill.
    let m = env.metrics();
    let moved = [
        ("from_endpoint", PRIMARY),
        ("to_endpoint", SECONDARY),
        ("reason", "drill"),
    ];
    assert_eq!(m.sum("failover_events_total", &moved), 1.0, "{}", m.text);
    let events = || receiver.events();
    wait_until("the webhook to hear the drill", || {
        let all = events();
        let down = all.iter().any(|e| {
            e["kind"] == "target"
                && e["target"] == p.as_str()
                && e["to"] == "down"
                && e["reason"] == "drill"
        });
        let answer = all.iter().any(|e| {
            e["kind"] == "answer"
                && e["from_endpoints"] == serde_json::json!([PRIMARY])
                && e["to_endpoints"] == serde_json::json!([SECONDARY])
                && e["reason"] == "drill"
        });
        if down && answer {
            Ok(())
        } else {
            Err(format!("{all:#?}"))
        }
    });
    check_schema(&events());

    // The backends saw probes and nothing else.
    for backend in [&env.primary, &env.secondary] {
        for request in backend.all_requests() {
            assert_eq!(
                (request.method.as_str(), request.path.as_str()),
                ("GET", "/health"),
                "{request:?}"
            );
        }
    }
}

#[test]
fn a_drill_whose_secondary_is_down_fails_and_restores() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();
    env.secondary.set(HttpMode::Status(500));
    env.wait_target(&env.secondary_key(), "down", |t| t["state"] == "down");

    // all-down=first: the answer stays with the primary, down or not.
    let (output, report) = drill(&env, &["--max-switch", "3s"]);
    assert!(!output.status.success(), "{}", show(&output));
    assert_eq!(report["passed"], false, "{report:#}");
    assert!(report["switch_s"].is_null(), "{report:#}");
    assert!(
        report["detect_s"].is_number(),
        "the primary went down: {report:#}"
    );
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("did not move"), "{report:#}");
    assert_eq!(report["restored"], true, "{report:#}");
    assert_nothing_left(&env);
    env.wait_target(&p, "up again", |t| t["state"] == "up");

    // all-down=all: the answer moves, to members failing their checks.
    env.write_zone(&format!(
        "all 30 IN A 127.0.0.131 ; healthdns failover=primary check=web target={} all-down=all\n\
         all 30 IN A 127.0.0.132 ; healthdns failover=secondary check=web target={} all-down=all",
        env.primary.target(),
        env.secondary.target()
    ));
    env.reload_ok();
    let (output, report) = drill_set(&env, "all.h.test.", &[]);
    assert!(!output.status.success(), "{}", show(&output));
    assert_eq!(
        report["during"],
        serde_json::json!(["127.0.0.131", "127.0.0.132"]),
        "{report:#}"
    );
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("does not pass its checks"), "{report:#}");
    assert_eq!(report["restored"], true, "{report:#}");
    assert_nothing_left(&env);
    env.wait_target(&p, "up again", |t| t["state"] == "up");
}

#[test]
fn through_unbound_the_resolver_follows_within_its_ttl() {
    assert!(
        which("unbound").is_some(),
        "unbound is installed by scripts/setup-debian.sh"
    );
    let env = start();
    env.wait_settled();
    let resolver = free_port();
    let work = tempfile::tempdir().unwrap();
    const TTL: f64 = 3.0;
    let _unbound: Running = unbound(work.path(), resolver, env.server.port(), TTL as u32);
    super::wait_resolved(resolver, PRIMARY);

    let resolver = format!("127.0.0.1:{resolver}");
    let (output, report) = drill(&env, &["--resolver", &resolver]);
    assert!(output.status.success(), "{}", show(&output));
    let (switch, followed) = (
        seconds(&report, "switch_s"),
        seconds(&report, "resolver_switch_s"),
    );
    assert!(followed >= switch, "{report:#}");
    // Generous slack: the resolver's cache lapses within its TTL of the
    // switch; the slack covers polling and a loaded machine.
    assert!(followed <= switch + TTL + 5.0, "{report:#}");
    assert!(
        report["resolver_ttl"]
            .as_u64()
            .is_some_and(|ttl| ttl <= TTL as u64),
        "{report:#}"
    );
    assert_eq!(report["after"], serde_json::json!([PRIMARY]), "{report:#}");
    assert_nothing_left(&env);
}

#[test]
fn manual_failback_is_reported_and_released_with_release() {
    let env = start_with(Opts {
        check: &[("failback", "\"manual\"")],
        ..Opts::default()
    });
    env.wait_settled();
    let p = env.primary_key();

    // Without --release: the hold is reported and left, as configured.
    let (output, report) = drill(&env, &[]);
    assert!(output.status.success(), "{}", show(&output));
    assert_eq!(report["held"], serde_json::json!([p]), "{report:#}");
    assert_eq!(report["released"], false, "{report:#}");
    assert!(report["failback_s"].is_null(), "{report:#}");
    assert_eq!(
        report["after"],
        serde_json::json!([SECONDARY]),
        "{report:#}"
    );
    let t = env.target(&p);
    assert_eq!(
        (&t["state"], &t["held"]),
        (&Value::from("up"), &Value::from(true)),
        "{t:#}"
    );
    assert_nothing_left(&env);
    env.override_ok(&p, r#"{"state": "auto"}"#);
    wait_answer(&env.server, "api", "A", &[PRIMARY]);

    // With --release: released, and the answer back.
    let (output, report) = drill(&env, &["--release"]);
    assert!(output.status.success(), "{}", show(&output));
    assert_eq!(report["held"], serde_json::json!([p]), "{report:#}");
    assert_eq!(report["released"], true, "{report:#}");
    assert!(seconds(&report, "failback_s") > 0.0, "{report:#}");
    assert_eq!(report["after"], serde_json::json!([PRIMARY]), "{report:#}");
    assert_eq!(env.target(&p)["held"], false);
    assert_nothing_left(&env);
}

/// Starts a drill that cannot pass soon (the secondary is down, the
/// answer stays), and waits until its simulation is in force.
fn start_stuck_drill(env: &Env, lease: &str) -> Child {
    env.secondary.set(HttpMode::Status(500));
    env.wait_target(&env.secondary_key(), "down", |t| t["state"] == "down");
    let child = command(env, NAME, &["--lease", lease, "--max-switch", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn healthdns drill");
    env.wait_target(&env.primary_key(), "simulated", |t| {
        t["simulated"].is_object()
    });
    child
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn sigterm_ends_a_drill_and_restores_at_once() {
    let env = start();
    env.wait_settled();
    // A lease longer than the wait below: what ends it is the drill.
    let child = start_stuck_drill(&env, "10m");
    signal(&child, "-TERM");
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "{}", show(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["reason"], "interrupted", "{report:#}");
    assert_eq!(report["restored"], true, "{report:#}");
    assert_nothing_left(&env);
}

#[test]
fn a_drill_killed_outright_leaves_a_simulation_that_lapses() {
    let env = start();
    env.wait_settled();
    let mut child = start_stuck_drill(&env, "5s");
    signal(&child, "-KILL");
    let _ = child.wait();
    let p = env.primary_key();
    assert!(env.target(&p)["simulated"].is_object(), "nobody ended it");
    env.wait_target(&p, "the lease to lapse", |t| t["simulated"].is_null());
    env.wait_target(&p, "up by its real probes", |t| t["state"] == "up");
    assert_nothing_left(&env);
}
