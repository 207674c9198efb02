//! `POST /api/v1/targets/{target}/simulate` and `DELETE`: a drill's
//! simulated failure, its lease lapsing by itself once nobody renews it,
//! bad input, the token, and a restart forgetting it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::api::{Env, Opts, PRIMARY, SECONDARY, start, start_with, wait_until};
use crate::health::wait_answer;
use crate::util::http;

/// The simulate path of target `key`.
fn path(key: &str) -> String {
    format!("/api/v1/targets/{}/simulate", http::percent_encode(key))
}

/// `DELETE` of target `key`'s simulation, with `token` if given.
fn delete(env: &Env, key: &str, token: Option<&str>) -> http::Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    http::request(env.api, "DELETE", &path(key), &headers, None).unwrap()
}

/// Nothing simulated, nothing overridden, on any target.
#[track_caller]
pub(super) fn assert_nothing_left(env: &Env) {
    let status = env.status();
    for t in status["targets"].as_array().unwrap() {
        assert!(t["simulated"].is_null(), "left simulated:\n{t:#}");
        assert!(t["override"].is_null(), "left overridden:\n{t:#}");
    }
    let m = env.metrics();
    assert_eq!(m.sum("endpoint_simulated", &[]), 0.0, "{}", m.text);
}

#[test]
fn a_simulation_nobody_renews_lapses_by_itself() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();
    // A renewer, as a drill is: every 500 ms, a lease of 2 s.
    let alive = Arc::new(AtomicBool::new(true));
    let renewer = {
        let (alive, api, path) = (alive.clone(), env.api, path(&p));
        std::thread::spawn(move || {
            while alive.load(Ordering::SeqCst) {
                let r = http::request(
                    api,
                    "POST",
                    &path,
                    &[("Content-Type", "application/json")],
                    Some(r#"{"for": "2s"}"#),
                )
                .unwrap();
                assert_eq!(r.status, 200, "{r}");
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let t = env.wait_target(&p, "down by a simulated failure", |t| {
        t["state"] == "down" && t["last_probe"]["reason"] == "drill: simulated failure"
    });
    assert!(t["simulated"]["until"].is_string(), "{t:#}");
    assert_eq!(t["last_transition"]["class"], "drill", "{t:#}");
    assert!(
        t["override"].is_null(),
        "a simulation is no override: {t:#}"
    );
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    let labels = [("target", p.as_str()), ("check", "web")];
    let m = env.metrics();
    assert_eq!(
        m.value("endpoint_simulated", &labels),
        Some(1.0),
        "{}",
        m.text
    );
    assert_eq!(
        m.sum(
            "failover_events_total",
            &[
                ("from_endpoint", PRIMARY),
                ("to_endpoint", SECONDARY),
                ("reason", "drill")
            ]
        ),
        1.0,
        "{}",
        m.text
    );

    // The renewer dies: within its lease the failure is no longer
    // simulated, and the primary comes back by its real probes.
    alive.store(false, Ordering::SeqCst);
    renewer.join().unwrap();
    env.wait_target(&p, "the simulation lapsed", |t| t["simulated"].is_null());
    env.wait_target(&p, "up by its real probes", |t| {
        t["state"] == "up" && t["last_probe"]["ok"] == true
    });
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    assert_nothing_left(&env);
}

#[test]
fn bad_leases_are_400_a_missing_token_401_and_nothing_changes() {
    let env = start_with(Opts {
        api: "token = \"secret\"",
        ..Opts::default()
    });
    env.wait_settled();
    let p = env.primary_key();
    let post = |body: &str, token: Option<&str>| env.post(&path(&p), body, token);
    for body in [
        r#"{}"#,
        r#"{"for": "soon"}"#,
        r#"{"for": "-5s"}"#,
        r#"{"for": "0s"}"#,
        r#"{"for": "2h"}"#,
        r#"{"for": "500000000000y"}"#,
        r#"{"for": "99999999999999999999999999s"}"#,
        r#"{"for": 20}"#,
        r#"{"for": "20s", "state": "down"}"#,
        "",
    ] {
        let r = post(body, Some("secret"));
        assert_eq!(r.status, 400, "body {body:?}:\n{r}");
    }
    let r = post(r#"{"for": "500000000000y"}"#, Some("secret"));
    assert!(r.body.contains("too long"), "{r}");

    let r = post(r#"{"for": "20s"}"#, None);
    assert_eq!(r.status, 401, "no token:\n{r}");
    let r = post(r#"{"for": "20s"}"#, Some("wrong"));
    assert_eq!(r.status, 401, "wrong token:\n{r}");
    assert_nothing_left(&env);

    let r = env.post(
        &path("127.0.0.99:1/web"),
        r#"{"for": "20s"}"#,
        Some("secret"),
    );
    assert_eq!(r.status, 404, "unknown target:\n{r}");

    // With the token: on, then a DELETE without it refused, with it done.
    let r = post(r#"{"for": "10m"}"#, Some("secret"));
    assert_eq!(r.status, 200, "{r}");
    assert!(r.json()["simulated"]["until"].is_string(), "{r}");
    let r = delete(&env, &p, None);
    assert_eq!(r.status, 401, "DELETE without the token:\n{r}");
    assert!(env.target(&p)["simulated"].is_object());
    let r = delete(&env, &p, Some("secret"));
    assert_eq!(r.status, 200, "{r}");
    assert!(r.json()["simulated"].is_null(), "{r}");
    let r = delete(&env, &p, Some("secret"));
    assert_eq!(r.status, 200, "ending none is no error:\n{r}");
    assert_nothing_left(&env);
}

#[test]
fn a_restart_forgets_a_simulation_even_with_a_state_dir() {
    let state = tempfile::tempdir().unwrap();
    let server = format!("state-dir = {:?}", state.path().display().to_string());
    let env = start_with(Opts {
        server: &server,
        ..Opts::default()
    });
    env.wait_settled();
    let p = env.primary_key();
    let r = env.post(&path(&p), r#"{"for": "10m"}"#, None);
    assert_eq!(r.status, 200, "{r}");
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    let (env, _) = env.restart();
    env.wait_api();
    assert!(
        env.target(&p)["simulated"].is_null(),
        "not kept across a restart"
    );
    let saved = std::fs::read_to_string(state.path().join("state.json")).unwrap();
    assert!(!saved.contains("simul"), "not in the state file:\n{saved}");
    wait_until("the primary back after the restart", || {
        let answer = env.status_answer();
        if answer == [PRIMARY] {
            Ok(())
        } else {
            Err(format!("{answer:?}"))
        }
    });
    assert_nothing_left(&env);
}
