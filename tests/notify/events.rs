//! What a webhook receives, end to end: a failover is a target event and an
//! answer event, numbered; a retry repeats the id and the bytes; the
//! signature verifies with the secret; the operator's headers arrive; a
//! drain is `up` to `down` by `override`; every event fits
//! `docs/event.schema.json`.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::{Receiver, toml_string, wait};
use crate::api::{Env, Opts, PRIMARY, SECONDARY, start_with};
use crate::util::backend::HttpMode;

const SECRET: &str = "correct horse battery staple";
const SET: &str = "api.h.test. A";

/// The API setup with one webhook, signed, with a header of the operator's.
fn start(receiver: &Receiver, secret_dir: &std::path::Path) -> Env {
    let secret = secret_dir.join("hook.secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let sections = format!(
        "\n[[notify]]\nwebhook = {}\ntimeout = \"2s\"\nbackoff = \"50ms\"\n\
         headers = {{ \"X-Team\" = \"dns oncall\" }}\nsecret-file = {}\n",
        toml_string(&receiver.url()),
        toml_string(&secret.display().to_string()),
    );
    let env = start_with(Opts {
        sections: &sections,
        ..Opts::default()
    });
    env.wait_settled();
    env
}

fn hmac_hex(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn detail(receiver: &Receiver, env: &Env) -> String {
    format!(
        "webhook got: {:#?}\nserver stderr:\n{}",
        receiver.events(),
        env.server.stderr_so_far()
    )
}

fn find(events: &[Value], ok: impl Fn(&Value) -> bool) -> Option<Value> {
    events.iter().find(|e| ok(e)).cloned()
}

fn answer_moved(e: &Value, from: &str, to: &str) -> bool {
    e["kind"] == "answer"
        && e["record_set"] == SET
        && e["from_endpoints"] == serde_json::json!([from])
        && e["to_endpoints"] == serde_json::json!([to])
}

#[test]
fn a_failover_is_a_target_and_an_answer_event_signed_numbered_and_retried() {
    // The first POST fails: the event is delivered by its retry.
    let receiver = Receiver::failing_first(1);
    let secrets = tempfile::tempdir().unwrap();
    let env = start(&receiver, secrets.path());
    let primary = env.primary_key();
    env.primary.set(HttpMode::Status(500));

    let events = || receiver.events();
    wait(
        "a target event and an answer event for the failover",
        || {
            let e = events();
            find(&e, |e| {
                e["kind"] == "target" && e["target"] == primary.as_str() && e["to"] == "down"
            })
            .is_some()
                && find(&e, |e| answer_moved(e, PRIMARY, SECONDARY)).is_some()
        },
        || detail(&receiver, &env),
    );
    let all = events();
    let down = find(&all, |e| {
        e["kind"] == "target" && e["target"] == primary.as_str() && e["to"] == "down"
    })
    .unwrap();
    let moved = find(&all, |e| answer_moved(e, PRIMARY, SECONDARY)).unwrap();
    assert_eq!(down["from"], "up", "{down:#}");
    assert_eq!(down["checks"], "down", "{down:#}");
    assert_eq!(down["reason"], "status", "a class, not the text: {down:#}");
    assert!(
        down["detail"].as_str().is_some_and(|d| d.contains("500")),
        "the full text apart: {down:#}"
    );
    assert_eq!(moved["name"], "api.h.test.", "{moved:#}");
    assert_eq!(moved["type"], "A", "{moved:#}");
    assert_eq!(moved["policy"], "failover", "{moved:#}");
    assert_eq!(moved["failing_open"], false, "{moved:#}");
    assert_eq!(moved["reason"], "status", "{moved:#}");
    assert_eq!(
        moved["cause"], down["id"],
        "the answer names its cause: {moved:#}"
    );
    assert!(
        moved["sequence"].as_u64() > down["sequence"].as_u64(),
        "the answer follows its cause: {down:#}\n{moved:#}"
    );

    // Ids are unique, sequences increase in delivery order.
    let sequences: Vec<u64> = all.iter().filter_map(|e| e["sequence"].as_u64()).collect();
    assert_eq!(sequences.len(), all.len(), "{}", detail(&receiver, &env));
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "sequences {sequences:?}"
    );
    let mut ids: Vec<&str> = all.iter().filter_map(|e| e["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        all.len(),
        "ids unique: {}",
        detail(&receiver, &env)
    );

    let requests = receiver.requests();
    // The refused first POST and its retry: the same event, byte for byte.
    let (refused, retry) = (&requests[0], &requests[1]);
    assert_eq!(refused.status, 500);
    assert_eq!(retry.status, 200);
    assert_eq!(refused.body, retry.body, "a retry sends the same bytes");
    assert!(refused.header("x-healthdns-event").is_some(), "{refused:?}");
    assert_eq!(
        refused.header("x-healthdns-event"),
        retry.header("x-healthdns-event")
    );
    assert_eq!(
        retry.header("x-healthdns-event"),
        retry.json()["id"].as_str(),
        "the header names the body's id"
    );
    for request in &requests {
        assert_eq!(
            request.header("x-healthdns-signature"),
            Some(format!("sha256={}", hmac_hex(&request.body)).as_str()),
            "the signature verifies with the secret: {request:?}"
        );
        assert_eq!(request.header("x-team"), Some("dns oncall"), "{request:?}");
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
    check_schema(&all);
}

#[test]
fn a_drain_arrives_as_up_to_down_by_override() {
    let receiver = Receiver::start();
    let secrets = tempfile::tempdir().unwrap();
    let env = start(&receiver, secrets.path());
    let primary = env.primary_key();
    env.override_ok(&primary, r#"{"state": "down"}"#);
    let drained = |e: &Value| e["kind"] == "target" && e["target"] == primary.as_str();
    wait(
        "the drain and the answer it moves",
        || {
            let e = receiver.events();
            find(&e, drained).is_some()
                && find(&e, |e| answer_moved(e, PRIMARY, SECONDARY)).is_some()
        },
        || detail(&receiver, &env),
    );
    let all = receiver.events();
    let drain = find(&all, drained).unwrap();
    assert_eq!(drain["from"], "up", "{drain:#}");
    assert_eq!(drain["to"], "down", "{drain:#}");
    assert_eq!(drain["serving"], false, "{drain:#}");
    assert_eq!(drain["checks"], "up", "the checks still pass: {drain:#}");
    assert_eq!(drain["reason"], "override", "{drain:#}");
    let moved = find(&all, |e| answer_moved(e, PRIMARY, SECONDARY)).unwrap();
    assert_eq!(moved["reason"], "override", "{moved:#}");
    assert_eq!(moved["cause"], drain["id"], "{moved:#}");

    // Back to checks: down to up, and the answer returns.
    env.override_ok(&primary, r#"{"state": "auto"}"#);
    wait(
        "the release and the answer back",
        || find(&receiver.events(), |e| answer_moved(e, SECONDARY, PRIMARY)).is_some(),
        || detail(&receiver, &env),
    );
    let all = receiver.events();
    let back = find(&all, |e| drained(e) && e["to"] == "up").unwrap();
    assert_eq!(back["from"], "down", "{back:#}");
    assert_eq!(back["reason"], "override", "{back:#}");
    check_schema(&all);
}

/// Every event validates against `docs/event.schema.json`, and the schema
/// names every field an event has.
pub(crate) fn check_schema(events: &[Value]) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/event.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for event in events {
        if let Err(why) = validate(&schema, &schema, event) {
            panic!("{event:#}\ndoes not fit {path}: {why}");
        }
        let id = event["id"].as_str().unwrap_or_default();
        let (instance, sequence) = id.split_once('-').unwrap_or_default();
        assert!(
            instance.len() == 16 && instance.bytes().all(|b| b.is_ascii_hexdigit()),
            "id {id:?}"
        );
        assert_eq!(sequence, event["sequence"].to_string(), "id {id:?}");
        let time = event["time"].as_str().unwrap_or_default();
        assert!(
            time.len() == 24 && time.ends_with('Z') && &time[10..11] == "T",
            "time {time:?}"
        );
    }
}

/// The part of JSON Schema `docs/event.schema.json` uses (`pattern` is
/// checked by hand above): `$ref` to `#/$defs/…`, `oneOf`, `type`, `const`,
/// `enum`, `required`, `properties`, `additionalProperties: false`,
/// `items`, `minimum`.
fn validate(root: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference
            .strip_prefix("#/$defs/")
            .ok_or_else(|| format!("unsupported $ref {reference}"))?;
        return validate(root, &root["$defs"][name], value);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits: Vec<_> = options.iter().map(|o| validate(root, o, value)).collect();
        let n = fits.iter().filter(|f| f.is_ok()).count();
        if n != 1 {
            return Err(format!("fits {n} of oneOf: {fits:?}"));
        }
    }
    if let Some(kind) = schema["type"].as_str() {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "boolean" => value.is_boolean(),
            other => return Err(format!("unsupported type {other}")),
        };
        if !ok {
            return Err(format!("{value} is not {kind}"));
        }
    }
    if let Some(want) = schema.get("const")
        && want != value
    {
        return Err(format!("{value} is not {want}"));
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        return Err(format!("{value} is none of {options:?}"));
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_i64(), value.as_i64())
        && n < min
    {
        return Err(format!("{n} < {min}"));
    }
    if let Some(items) = schema.get("items") {
        for item in value.as_array().into_iter().flatten() {
            validate(root, items, item)?;
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap_or_default();
            if !object.contains_key(key) {
                return Err(format!("{key} is missing"));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (key, field) in object {
                match properties.get(key) {
                    Some(sub) => validate(root, sub, field).map_err(|e| format!("{key}: {e}"))?,
                    None if schema["additionalProperties"] == false => {
                        return Err(format!("{key} is not in the schema"));
                    }
                    None => {}
                }
            }
        }
    }
    Ok(())
}

#[test]
fn the_schema_validator_refuses_what_it_should() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/event.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let good = serde_json::json!({
        "id": "0123456789abcdef-3", "sequence": 3, "kind": "target",
        "target": "127.0.0.1:80/web", "check": "web", "record_sets": ["a.test. A"],
        "from": "up", "to": "down", "checks": "up", "serving": false, "consecutive": 0,
        "reason": "override", "detail": "override: down", "time": "2026-12-05T06:00:00.000Z"
    });
    assert_eq!(validate(&schema, &schema, &good), Ok(()));
    for (key, bad) in [
        ("reason", serde_json::json!("HTTP 500 not expected")),
        ("to", serde_json::json!("drained")),
        ("sequence", serde_json::json!(0)),
        ("kind", serde_json::json!("answer")),
        ("extra", serde_json::json!(1)),
    ] {
        let mut event = good.clone();
        event[key] = bad;
        assert!(validate(&schema, &schema, &event).is_err(), "{key}");
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("detail");
    assert!(validate(&schema, &schema, &missing).is_err());
}
