//! `GET /api/v1/status`: the fields of targets, record sets and transitions,
//! and how they follow a failover.

use serde_json::Value;

use super::{NAME, PRIMARY, SECONDARY, find_record_set, find_target, start, strings, wait_until};
use crate::health::wait_answer;
use crate::util::backend::HttpMode;

/// Asserts `v[key]` is a string (non-empty) and returns it.
#[track_caller]
fn string<'a>(v: &'a Value, key: &str) -> &'a str {
    match v[key].as_str() {
        Some(s) if !s.is_empty() => s,
        _ => panic!("{key}: want a non-empty string in\n{v:#}"),
    }
}

#[track_caller]
fn number(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key}: want a number in\n{v:#}"))
}

#[test]
fn status_lists_targets_and_record_sets() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();
    // Probes ran; wait until both report a successful last probe.
    for key in [&p, &env.secondary_key()] {
        env.wait_target(key, "a successful probe", |t| t["last_probe"]["ok"] == true);
    }
    let status = env.status();
    assert_eq!(
        status["version"],
        env!("CARGO_PKG_VERSION"),
        "version:\n{status:#}"
    );
    string(&status, "time");
    assert!(status["transitions"].is_array(), "transitions:\n{status:#}");

    for (key, ip) in [(&p, PRIMARY), (&env.secondary_key(), SECONDARY)] {
        let t = find_target(&status, key).unwrap_or_else(|| panic!("no target {key}:\n{status:#}"));
        let backend = if ip == PRIMARY {
            &env.primary
        } else {
            &env.secondary
        };
        assert_eq!(t["address"], backend.target(), "address:\n{t:#}");
        assert_eq!(t["check"], "web", "{t:#}");
        assert_eq!(t["state"], "up", "{t:#}");
        assert_eq!(t["serving"], true, "{t:#}");
        assert_eq!(t["held"], false, "{t:#}");
        assert!(t["override"].is_null(), "override:\n{t:#}");
        let probe = &t["last_probe"];
        assert_eq!(probe["ok"], true, "{t:#}");
        string(probe, "reason");
        string(probe, "time");
        assert!(number(probe, "latency_ms") >= 0.0, "{t:#}");
        assert!(number(t, "successes") >= 1.0, "{t:#}");
        assert_eq!(number(t, "failures"), 0.0, "{t:#}");
        let lt = &t["last_transition"];
        assert!(
            lt.is_null() || lt.is_object(),
            "last_transition null or an object:\n{t:#}"
        );
    }

    let set = find_record_set(&status, NAME, "A")
        .unwrap_or_else(|| panic!("no record set {NAME} A:\n{status:#}"));
    assert_eq!(set["policy"], "failover", "{set:#}");
    assert_eq!(set["ttl"], 30, "{set:#}");
    assert_eq!(strings(&set["answer"]), [PRIMARY], "{set:#}");
    let members = set["members"].as_array().expect("members array");
    assert_eq!(members.len(), 2, "{set:#}");
    let member = |ip: &str| {
        members
            .iter()
            .find(|m| m["rdata"] == ip)
            .unwrap_or_else(|| panic!("no member {ip}:\n{set:#}"))
    };
    assert_eq!(member(PRIMARY)["target"], p.as_str(), "{set:#}");
    assert_eq!(member(PRIMARY)["rank"], 1, "{set:#}");
    assert_eq!(member(PRIMARY)["serving"], true, "{set:#}");
    assert_eq!(member(SECONDARY)["target"], env.secondary_key(), "{set:#}");
    assert_eq!(member(SECONDARY)["rank"], 2, "{set:#}");
}

#[test]
fn status_follows_a_failover() {
    let env = start();
    env.wait_settled();
    let p = env.primary_key();
    let before = env.status()["transitions"].as_array().map_or(0, Vec::len);

    env.primary.set(HttpMode::Status(500));
    let t = env.wait_target(&p, "state down", |t| t["state"] == "down");
    assert_eq!(t["serving"], false, "{t:#}");
    assert_eq!(t["last_probe"]["ok"], false, "{t:#}");
    string(&t["last_probe"], "reason");
    assert!(number(&t, "failures") >= 2.0, "fall = 2:\n{t:#}");
    let lt = &t["last_transition"];
    assert_eq!(lt["from"], "up", "{t:#}");
    assert_eq!(lt["to"], "down", "{t:#}");
    string(lt, "time");
    string(lt, "reason");

    // The newest transition is the primary going down, and it names the set.
    let status = wait_until("a new transition", || {
        let s = env.status();
        let n = s["transitions"].as_array().map_or(0, Vec::len);
        if n > before {
            Ok(s)
        } else {
            Err(format!("{s:#}"))
        }
    });
    let tr = &status["transitions"][0];
    assert_eq!(tr["target"], p.as_str(), "newest first:\n{status:#}");
    assert_eq!(tr["check"], "web", "{tr:#}");
    assert_eq!(tr["from"], "up", "{tr:#}");
    assert_eq!(tr["to"], "down", "{tr:#}");
    assert_eq!(tr["serving"], false, "{tr:#}");
    string(tr, "reason");
    string(tr, "time");
    assert!(number(tr, "consecutive") >= 1.0, "{tr:#}");
    assert!(
        tr["record_sets"].to_string().contains(NAME),
        "record_sets names {NAME}:\n{tr:#}"
    );

    // The answer follows, in the status and on the wire.
    wait_until("status answer = secondary", || {
        let a = env.status_answer();
        if a == [SECONDARY] {
            Ok(())
        } else {
            Err(format!("{a:?}"))
        }
    });
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    let status = env.status();
    let set = find_record_set(&status, NAME, "A").unwrap();
    let primary = set["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["rdata"] == PRIMARY)
        .unwrap();
    assert_eq!(primary["serving"], false, "{set:#}");

    // And back.
    env.primary.set(HttpMode::Healthy);
    env.wait_target(&p, "state up again", |t| t["state"] == "up");
    wait_until("status answer = primary", || {
        let a = env.status_answer();
        if a == [PRIMARY] {
            Ok(())
        } else {
            Err(format!("{a:?}"))
        }
    });
    wait_answer(&env.server, "api", "A", &[PRIMARY]);
    let status = env.status();
    assert_eq!(status["transitions"][0]["to"], "up", "{status:#}");
}
