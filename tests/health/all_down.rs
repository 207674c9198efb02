//! What a failover set answers when every member is down, per `all-down`
//! mode, and the defaults of each policy.
//!
//! Each test first sees the set fail over (so the checks demonstrably run),
//! then takes the remaining members down and waits for the all-down answer;
//! the primary stays down throughout, so a primary answer at the end is the
//! all-down rule, not a recovery.

use super::{Env, http_check, is_nodata, rdata, serve, wait_answer, wait_for};
use crate::util::backend::{HttpBackend, HttpMode};

const P: &str = "127.0.0.31";
const S: &str = "127.0.0.32";
const T: &str = "127.0.0.33";

/// `api` in three tiers with `option` (e.g. `all-down=empty`) on the
/// primary; returns once the set has failed over to the secondary and the
/// other two members are failing too.
fn all_down(option: &str) -> (Env, [HttpBackend; 3]) {
    let b = [P, S, T].map(HttpBackend::start);
    let records = format!(
        "api 30 IN A {P} ; healthdns failover=primary check=web target={} {option}\n\
         api 30 IN A {S} ; healthdns failover=secondary check=web target={}\n\
         api 30 IN A {T} ; healthdns failover=3 check=web target={}\n",
        b[0].target(),
        b[1].target(),
        b[2].target()
    );
    let env = serve(&records, &[http_check("web", &[])]);
    let s = &env.server;
    wait_answer(s, "api", "A", &[P]);
    b[0].set(HttpMode::Status(500));
    wait_answer(s, "api", "A", &[S]);
    b[1].set(HttpMode::Status(500));
    b[2].set(HttpMode::Status(500));
    (env, b)
}

#[test]
fn all_down_first_answers_the_primary_tier() {
    let (env, _b) = all_down("all-down=first");
    wait_answer(&env.server, "api", "A", &[P]);
}

#[test]
fn failover_defaults_to_all_down_first() {
    let (env, _b) = all_down("");
    wait_answer(&env.server, "api", "A", &[P]);
}

#[test]
fn all_down_all_answers_every_member() {
    let (env, _b) = all_down("all-down=all");
    wait_answer(&env.server, "api", "A", &[P, S, T]);
}

#[test]
fn all_down_empty_answers_nodata() {
    let (env, _b) = all_down("all-down=empty");
    let r = wait_for(&env.server, "api", "A", "NODATA with the SOA", is_nodata);
    assert!(rdata(&r, "A").is_empty());
}

#[test]
fn all_down_servfail_answers_servfail() {
    let (env, b) = all_down("all-down=servfail");
    wait_for(&env.server, "api", "A", "SERVFAIL", |r| {
        r.rcode == "SERVFAIL"
    });
    // One member back: answers again.
    b[2].set(HttpMode::Healthy);
    wait_answer(&env.server, "api", "A", &[T]);
}

#[test]
fn multivalue_defaults_to_all_down_all() {
    let b = ["127.0.0.34", "127.0.0.35"].map(HttpBackend::start);
    let records = format!(
        "www 20 IN A 127.0.0.34 ; healthdns multivalue check=web target={}\n\
         www 20 IN A 127.0.0.35 ; healthdns multivalue check=web target={}\n",
        b[0].target(),
        b[1].target()
    );
    let env = serve(&records, &[http_check("web", &[])]);
    let s = &env.server;
    b[0].set(HttpMode::Status(500));
    wait_answer(s, "www", "A", &["127.0.0.35"]);
    b[1].set(HttpMode::Status(500));
    // Fail open: both members, as if healthy.
    wait_answer(s, "www", "A", &["127.0.0.34", "127.0.0.35"]);
}
