//! The admin API's request bodies, each read as its route reads it: any
//! body is accepted or refused with a message (a 400), never a panic.
//! As an override (`POST /api/v1/targets/{target}/override`), an accepted
//! one asks for the state it names, lapsing no earlier than the request;
//! as a drill's simulated failure (`POST /api/v1/targets/{target}/simulate`),
//! an accepted one holds a lease of more than nothing and at most an hour.
#![no_main]

use std::time::{Duration, SystemTime};

use healthdns::health::state::Health;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::now();
    match healthdns::fuzz_override_body(data, now) {
        Err(message) => {
            assert!(
                ["body: ", "for: ", "state "]
                    .iter()
                    .any(|p| message.starts_with(p)),
                "{message}"
            );
        }
        Ok(forced) => {
            let body: serde_json::Value = serde_json::from_slice(data).expect("accepted JSON");
            let state = body["state"].as_str().expect("a state");
            match forced {
                None => assert_eq!(state, "auto"),
                Some(o) => {
                    let want = if state == "down" {
                        Health::Down
                    } else {
                        Health::Up
                    };
                    assert_eq!(o.state, want);
                    assert_eq!(
                        o.until.is_some(),
                        body.get("for").is_some_and(|f| !f.is_null())
                    );
                    assert!(o.until.is_none_or(|until| until >= now));
                }
            }
        }
    }
    match healthdns::fuzz_simulate_body(data, now) {
        Err(message) => {
            assert!(
                ["body: ", "for: "].iter().any(|p| message.starts_with(p)),
                "{message}"
            );
        }
        Ok(until) => {
            let lease = until.duration_since(now).expect("a lease ending after now");
            assert!(!lease.is_zero() && lease <= Duration::from_secs(3600), "{lease:?}");
        }
    }
});
