//! `state-dir`: what an operator asked for — an open-ended drain, a
//! manual-failback hold — survives a SIGTERM and a start on the same config,
//! from the first query on; an override that expired meanwhile is dropped;
//! a state file that cannot be parsed stops the start.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Instant, SystemTime};

use serde_json::Value;

use super::{Opts, PRIMARY, SECONDARY, start_with, wait_until};
use crate::health::{DEADLINE, POLL, assert_answer, http_check, wait_answer, write_config};
use crate::util::backend::HttpMode;

/// The `[server]` line keeping state in `dir`.
fn state_line(dir: &Path) -> String {
    format!("state-dir = {:?}", dir.display().to_string())
}

/// The state file in `dir`, parsed.
fn saved(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("state.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Waits until the state file in `dir` satisfies `ok`.
fn wait_saved(dir: &Path, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    wait_until(&format!("state file: {what}"), || {
        let v = saved(dir);
        if ok(&v) { Ok(v) } else { Err(format!("{v:#}")) }
    })
}

#[test]
fn an_open_ended_drain_survives_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let line = state_line(state.path());
    let env = start_with(Opts {
        server: &line,
        ..Opts::default()
    });
    env.wait_settled();
    let p = env.primary_key();
    env.override_ok(&p, r#"{"state": "down"}"#);
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    // A reload keeps it, in the slots and in the file.
    env.reload_ok();

    let (env, _) = env.restart();
    assert_answer(
        &env.server,
        "api",
        "A",
        &[SECONDARY],
        "the first query after the restart: the drained primary stays out",
    );
    env.wait_api();
    let t = env.target(&p);
    assert_eq!(t["override"]["state"], "down", "{t:#}");
    assert!(t["override"]["until"].is_null(), "open-ended:\n{t:#}");
    assert_eq!(t["serving"], false, "{t:#}");
    assert_eq!(t["state"], "up", "the checks pass meanwhile:\n{t:#}");
    let seen = env.primary.requests();
    env.primary.wait_requests(seen + 4, DEADLINE);
    assert_answer(&env.server, "api", "A", &[SECONDARY], "still drained");
    let log = env.server.stderr_so_far();
    assert!(
        log.contains("restored operator state") && log.contains(&p),
        "a log line says what was restored:\n{log}"
    );
    let file = saved(state.path());
    assert_eq!(file["version"], 1, "{file:#}");
    assert_eq!(file["targets"][&p]["override"], "down", "{file:#}");

    // Back to the checks: gone from the file, and after another restart
    // the primary answers.
    env.override_ok(&p, r#"{"state": "auto"}"#);
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    wait_saved(state.path(), "the drain gone", |v| {
        v["version"] == 1 && v["targets"].get(&p).is_none()
    });
    let (env, _) = env.restart();
    assert_answer(
        &env.server,
        "api",
        "A",
        &[PRIMARY],
        "nothing restored once cleared",
    );
}

#[test]
fn a_manual_failback_hold_survives_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let line = state_line(state.path());
    let env = start_with(Opts {
        server: &line,
        check: &[("failback", "\"manual\""), ("initial", "\"up\"")],
        ..Opts::default()
    });
    let p = env.primary_key();
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    env.primary.set(HttpMode::Status(500));
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    env.primary.set(HttpMode::Healthy);
    env.wait_target(&p, "up again but held", |t| {
        t["state"] == "up" && t["held"] == true
    });
    wait_saved(state.path(), "the hold", |v| {
        v["targets"][&p]["held"] == true
    });

    let (env, _) = env.restart();
    assert_answer(
        &env.server,
        "api",
        "A",
        &[SECONDARY],
        "the first query after the restart: the held primary stays out",
    );
    env.wait_api();
    let t = env.target(&p);
    assert_eq!(
        (&t["held"], &t["serving"]),
        (&Value::Bool(true), &Value::Bool(false)),
        "{t:#}"
    );
    let seen = env.primary.requests();
    env.primary.wait_requests(seen + 6, DEADLINE);
    assert_answer(
        &env.server,
        "api",
        "A",
        &[SECONDARY],
        "still held though its checks pass",
    );

    env.override_ok(&p, r#"{"state": "auto"}"#);
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    wait_saved(state.path(), "the hold released", |v| {
        v["version"] == 1 && v["targets"].get(&p).is_none()
    });
}

#[test]
fn an_override_that_expired_while_the_server_was_down_is_dropped() {
    let state = tempfile::tempdir().unwrap();
    let line = state_line(state.path());
    let env = start_with(Opts {
        server: &line,
        ..Opts::default()
    });
    env.wait_settled();
    let p = env.primary_key();
    let t = env.override_ok(&p, r#"{"state": "down", "for": "3s"}"#);
    let until = t["override"]["until"]
        .as_str()
        .expect("an expiry")
        .to_owned();
    let until = humantime::parse_rfc3339(&until).expect("RFC 3339");
    wait_answer(&env.server, "api", "A", &[SECONDARY]);

    let (env, _) = env.restart_after(|| {
        wait_saved(state.path(), "the override, with its expiry", |v| {
            v["targets"][&p]["until"].is_string()
        });
        wait_until("the override's expiry to pass", || {
            if SystemTime::now() > until {
                Ok(())
            } else {
                Err(format!("now is before {until:?}"))
            }
        });
    });
    assert_answer(
        &env.server,
        "api",
        "A",
        &[PRIMARY],
        "the first query after the restart: the expired drain is gone",
    );
    env.wait_api();
    assert!(env.target(&p)["override"].is_null());
    let log = env.server.stderr_so_far();
    assert!(
        log.contains("expired while the server was down") && log.contains(&p),
        "a log line says it was dropped:\n{log}"
    );
    wait_saved(state.path(), "the expired override gone", |v| {
        v["version"] == 1 && v["targets"].get(&p).is_none()
    });
}

/// Runs `healthdns serve --config CONFIG`, which must exit (refuse to
/// start) within [`DEADLINE`].
fn refused(config: &Path) -> Output {
    let mut child = Command::new(crate::util::bin())
        .args(["serve".as_ref(), "--config".as_ref(), config.as_os_str()])
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn healthdns serve");
    let deadline = Instant::now() + DEADLINE;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("wait");
            panic!(
                "healthdns serve did not refuse to start:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(POLL);
    }
    child.wait_with_output().expect("wait")
}

#[test]
fn a_corrupt_state_file_stops_the_start_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let config = write_config(
        dir.path(),
        "api 30 IN A 127.0.0.121 ; healthdns failover=primary check=web\n",
        &[http_check("web", &[("port", "1")])],
    );
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("[server]\n{}\n{text}", state_line(&state))).unwrap();
    let file = state.join("state.json");
    let shown = file.display().to_string();
    for (corrupt, place) in [
        (
            "{\n  \"version\": 1,\n  \"targets\": {\n    \"127.0.0.121:1/web\": {\"override\": \"sideways\"}\n  }\n}\n",
            format!("{shown}:4:"),
        ),
        // Cut short, as by a full disk under a writer that did not rename.
        (
            "{\n  \"version\": 1,\n  \"targets\": {\n    \"127.0.0.121:1/web\": {\"over",
            format!("{shown}:4:"),
        ),
        (
            "{\"version\": 7, \"targets\": {}}",
            format!("{shown}: version 7"),
        ),
    ] {
        std::fs::write(&file, corrupt).unwrap();
        let output = refused(&config);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!output.status.success(), "{corrupt:?}: {stderr}");
        assert!(
            !stdout.contains("listening on"),
            "{corrupt:?}: it never served:\n{stdout}"
        );
        assert!(
            stderr.contains(&place),
            "{corrupt:?}: the error names {place}:\n{stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            corrupt,
            "the file is left as it was"
        );
    }
}

#[test]
fn the_command_line_state_dir_is_used_and_the_shipped_unit_sets_one() {
    // `serve --state-dir DIR`, as the systemd unit runs it, without the key
    // in the config: the file is written at start.
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "", &[]);
    let server = crate::util::Server::start_args(&[
        "serve".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--state-dir".as_ref(),
        state.path().as_os_str(),
    ]);
    let v = saved(state.path());
    assert_eq!(v["version"], 1, "written at start: {v:#}");
    drop(server);

    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/healthdns.service"),
    )
    .unwrap();
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in the unit"))
            .to_owned()
    };
    let name = value("StateDirectory=");
    assert!(
        value("ExecStart=").contains(&format!(" --state-dir /var/lib/{name}")),
        "the unit's ExecStart keeps state in its StateDirectory"
    );
}
