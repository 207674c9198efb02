//! The admin API's override body (`POST /api/v1/targets/{target}/override`):
//! any body is accepted or refused with a message (a 400), never a panic;
//! an accepted one asks for the state it names, lapsing no earlier than
//! the request.
#![no_main]

use std::time::SystemTime;

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
});
