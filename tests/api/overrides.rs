//! `POST /api/v1/targets/{target}/override`: drain and force up whatever the
//! checks say, `for` expiring back to auto, releasing a manual-failback
//! hold, and the 404/400/401 answers.

use super::{Env, Opts, PRIMARY, SECONDARY, start, start_with, wait_until};
use crate::health::{DEADLINE, wait_answer};
use crate::util::backend::HttpMode;

#[test]
fn drain_moves_answers_to_the_secondary_and_auto_brings_the_primary_back() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();

    let t = env.override_ok(&p, r#"{"state": "down"}"#);
    assert_eq!(t["target"], p.as_str(), "the target's status:\n{t:#}");
    assert_eq!(t["override"]["state"], "down", "{t:#}");
    assert!(
        t["override"]["until"].is_null(),
        "no `for`: no expiry:\n{t:#}"
    );
    assert_eq!(t["serving"], false, "drained:\n{t:#}");
    wait_answer(&env.server, "api", "A", &[SECONDARY]);

    // The checks still see it healthy: endpoint_health is their view.
    let t = env.target(&p);
    assert_eq!(t["state"], "up", "checks' state while drained:\n{t:#}");
    let m = env.metrics();
    assert_eq!(
        m.value("endpoint_health", &[("target", &p), ("check", "web")]),
        Some(1.0),
        "endpoint_health while drained:\n{}",
        m.text
    );
    // The override shows in metrics: serving 0, and the override itself.
    let labels = [("target", p.as_str()), ("check", "web")];
    assert_eq!(
        m.value("endpoint_serving", &labels),
        Some(0.0),
        "{}",
        m.text
    );
    let forced = [("target", p.as_str()), ("check", "web"), ("state", "down")];
    assert_eq!(
        m.value("endpoint_override", &forced),
        Some(1.0),
        "{}",
        m.text
    );

    let t = env.override_ok(&p, r#"{"state": "auto"}"#);
    assert!(t["override"].is_null(), "auto clears the override:\n{t:#}");
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    assert_eq!(env.target(&p)["serving"], true);
    let m = env.metrics();
    assert_eq!(
        m.value("endpoint_serving", &labels),
        Some(1.0),
        "{}",
        m.text
    );
    assert_eq!(
        m.value("endpoint_override", &forced),
        None,
        "cleared:\n{}",
        m.text
    );
}

#[test]
fn override_up_forces_a_failing_target_in() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();
    env.primary.set(HttpMode::Status(500));
    wait_answer(&env.server, "api", "A", &[SECONDARY]);

    let t = env.override_ok(&p, r#"{"state": "up"}"#);
    assert_eq!(t["override"]["state"], "up", "{t:#}");
    assert_eq!(t["serving"], true, "{t:#}");
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    assert_eq!(env.target(&p)["state"], "down", "the checks still fail");

    env.override_ok(&p, r#"{"state": "auto"}"#);
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
}

#[test]
fn an_override_for_a_while_expires_back_to_auto() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();
    let t = env.override_ok(&p, r#"{"state": "down", "for": "1s"}"#);
    assert_eq!(t["override"]["state"], "down", "{t:#}");
    assert!(
        t["override"]["until"]
            .as_str()
            .is_some_and(|u| !u.is_empty()),
        "`for` sets `until`:\n{t:#}"
    );
    assert_eq!(t["serving"], false, "drained until it expires:\n{t:#}");
    env.wait_target(&p, "the override to expire", |t| {
        t["override"].is_null() && t["serving"] == true
    });
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
}

#[test]
fn a_longer_override_shows_its_expiry_and_stays() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();
    let t = env.override_ok(&p, r#"{"state": "down", "for": "30m"}"#);
    assert!(t["override"]["until"].is_string(), "{t:#}");
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    // Several probe rounds later it is still drained.
    let seen = env.primary.requests();
    env.primary.wait_requests(seen + 5, DEADLINE);
    let t = env.target(&p);
    assert_eq!(t["override"]["state"], "down", "{t:#}");
    crate::health::assert_answer(&env.server, "api", "A", &[SECONDARY], "still drained");
}

#[test]
fn auto_releases_a_manual_failback_hold() {
    let env = start_with(Opts {
        check: &[("failback", "\"manual\""), ("initial", "\"up\"")],
        ..Opts::default()
    });
    let p = env.primary_key();
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    env.primary.set(HttpMode::Status(500));
    wait_answer(&env.server, "api", "A", &[SECONDARY]);

    env.primary.set(HttpMode::Healthy);
    let t = env.wait_target(&p, "up again but held", |t| {
        t["state"] == "up" && t["held"] == true
    });
    assert_eq!(t["serving"], false, "held out of the answer:\n{t:#}");
    let seen = env.primary.requests();
    env.primary.wait_requests(seen + 6, DEADLINE);
    crate::health::assert_answer(
        &env.server,
        "api",
        "A",
        &[SECONDARY],
        "failback = manual keeps the secondary",
    );

    let t = env.override_ok(&p, r#"{"state": "auto"}"#);
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    env.wait_target(&p, "the hold released", |t| {
        t["held"] == false && t["serving"] == true
    });
    // The response is the target's status after the change.
    assert_eq!(
        t["held"], false,
        "the response to auto still shows the hold:\n{t:#}"
    );
}

#[test]
fn an_unknown_target_is_404() {
    let env = start();
    for key in [
        "127.0.0.99:1/web".to_string(),
        format!("{}/nocheck", env.primary.target()),
    ] {
        let r = env.override_raw(&key, r#"{"state": "down"}"#, None);
        assert_eq!(r.status, 404, "override {key}:\n{r}");
    }
}

#[test]
fn bad_bodies_are_400_and_change_nothing() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();
    for body in [
        r#"{"state": "sideways"}"#,
        r#"{"state": "down", "for": "soon"}"#,
        r#"{"for": "30m"}"#,
        "not json",
        "",
    ] {
        let r = env.override_raw(&p, body, None);
        assert_eq!(r.status, 400, "body {body:?}:\n{r}");
    }
    let t = env.target(&p);
    assert!(t["override"].is_null(), "{t:#}");
    assert_eq!(t["serving"], true, "{t:#}");
}

#[test]
fn an_expiry_past_the_end_of_time_is_a_400_not_a_panic() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();
    let r = env.override_raw(&p, r#"{"state": "down", "for": "500000000000y"}"#, None);
    assert_eq!(r.status, 400, "{r}");
    assert!(r.body.contains("too long"), "{r}");
    // The handler did not die with it: the API still answers.
    let t = env.target(&p);
    assert!(t["override"].is_null(), "{t:#}");
    let r = env.override_raw(&p, r#"{"state": "down", "for": "1h"}"#, None);
    assert_eq!(r.status, 200, "{r}");
}

/// 401 without a token and with a wrong one, for overrides and reloads;
/// GETs never need it.
fn token_guards_posts(env: &Env, token: &str) {
    let p = env.primary_key();
    let drain = r#"{"state": "down"}"#;
    let r = env.override_raw(&p, drain, None);
    assert_eq!(r.status, 401, "no Authorization header:\n{r}");
    let r = env.override_raw(&p, drain, Some("wrong"));
    assert_eq!(r.status, 401, "wrong token:\n{r}");
    let r = env.reload(None);
    assert_eq!(r.status, 401, "reload without a token:\n{r}");
    let r = env.reload(Some(&format!("{token}x")));
    assert_eq!(r.status, 401, "reload with a wrong token:\n{r}");
    assert!(
        env.target(&p)["override"].is_null(),
        "refused: nothing changed"
    );

    for path in ["/api/v1/status", "/metrics", "/healthz"] {
        let r = env.get(path);
        assert_eq!(r.status, 200, "GET {path} needs no token:\n{r}");
    }

    let r = env.override_raw(&p, drain, Some(token));
    assert_eq!(r.status, 200, "right token:\n{r}");
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    let r = env.reload(Some(token));
    assert_eq!(r.status, 200, "reload with the right token:\n{r}");
}

#[test]
fn a_token_guards_posts() {
    let env = start_with(Opts {
        api: "token = \"secret\"",
        ..Opts::default()
    });
    token_guards_posts(&env, "secret");
}

#[test]
fn a_token_file_guards_posts() {
    // An absolute path; the trailing newline editors leave is not part of
    // the token.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api.token");
    std::fs::write(&file, "s3cret-from-file\n").unwrap();
    let api = format!("token-file = {:?}", file.display().to_string());
    let env = start_with(Opts {
        api: &api,
        ..Opts::default()
    });
    token_guards_posts(&env, "s3cret-from-file");
}

#[test]
fn an_override_survives_until_changed_and_shows_in_status_only() {
    // Draining the secondary while the primary serves changes no answer but
    // shows in the status; `auto` clears it.
    let env = start();
    env.wait_settled();
    let s = env.secondary_key();
    env.override_ok(&s, r#"{"state": "down"}"#);
    let status = env.status();
    let t = super::find_target(&status, &s).unwrap();
    assert_eq!(t["override"]["state"], "down", "{t:#}");
    assert_eq!(t["serving"], false, "{t:#}");
    crate::health::assert_answer(&env.server, "api", "A", &[PRIMARY], "primary unaffected");
    env.override_ok(&s, r#"{"state": "auto"}"#);
    wait_until("the secondary serving again", || {
        let t = env.target(&s);
        if t["serving"] == true {
            Ok(())
        } else {
            Err(format!("{t:#}"))
        }
    });
}

#[test]
fn an_override_expiring_while_a_probe_runs_still_ends() {
    // Regression: probes that take most of the interval (a hanging backend,
    // timeout 180ms of 200ms; fall high enough that the target stays up), so
    // the expiry most likely falls inside a probe. The expired override must
    // still give the target back to its checks.
    let env = start_with(Opts {
        check: &[
            ("initial", "\"up\""),
            ("timeout", "\"180ms\""),
            ("fall", "100000"),
        ],
        ..Opts::default()
    });
    env.primary.set(HttpMode::Hang);
    let p = env.primary_key();
    env.primary.wait_requests(3, DEADLINE);
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    for round in 0..3 {
        let t = env.override_ok(&p, r#"{"state": "down", "for": "1s"}"#);
        assert_eq!(t["serving"], false, "round {round}:\n{t:#}");
        env.wait_target(&p, &format!("round {round}: the override to expire"), |t| {
            t["override"].is_null() && t["serving"] == true
        });
        wait_answer(&env.server, "api", "A", &[PRIMARY]);
    }
}
