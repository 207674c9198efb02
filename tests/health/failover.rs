//! Failover sets: the healthy records of the first tier that has any.

use super::{Env, assert_answer, http_check, serve, wait_answer};
use crate::util::backend::{HttpBackend, HttpMode};

const PRIMARY: &str = "127.0.0.21";
const SECONDARY: &str = "127.0.0.22";
const TERTIARY: &str = "127.0.0.23";

/// `api` with a primary and a secondary, each probed on its own backend.
fn pair(check_extra: &[(&str, &str)]) -> (Env, HttpBackend, HttpBackend) {
    let p = HttpBackend::start(PRIMARY);
    let s = HttpBackend::start(SECONDARY);
    let records = format!(
        "api 30 IN A {PRIMARY} ; healthdns failover=primary check=web target={}\n\
         api 30 IN A {SECONDARY} ; healthdns failover=secondary check=web target={}\n",
        p.target(),
        s.target()
    );
    let env = serve(&records, &[http_check("web", check_extra)]);
    (env, p, s)
}

/// Healthy primary → primary only; primary failing in `down` → secondary;
/// primary healthy again → primary.
fn fails_over_and_back(down: HttpMode) {
    let (env, primary, _secondary) = pair(&[]);
    let s = &env.server;
    // Both healthy from the start, and after the first probes.
    primary.wait_requests(3, super::DEADLINE);
    wait_answer(s, "api", "A", &[PRIMARY]);
    assert_answer(s, "api", "A", &[PRIMARY], "primary healthy");

    primary.set(down.clone());
    wait_answer(s, "api", "A", &[SECONDARY]);

    primary.set(HttpMode::Healthy);
    wait_answer(s, "api", "A", &[PRIMARY]);
}

#[test]
fn primary_answering_500_fails_over_and_back() {
    fails_over_and_back(HttpMode::Status(500));
}

#[test]
fn primary_hanging_past_the_timeout_fails_over_and_back() {
    fails_over_and_back(HttpMode::Hang);
}

#[test]
fn primary_refusing_connections_fails_over_and_back() {
    fails_over_and_back(HttpMode::Closed);
}

#[test]
fn manual_failback_stays_on_the_secondary_after_the_primary_recovers() {
    let rise = 2;
    // initial = "up" so that the primary is in the answer from the start
    // (a target that starts down under manual failback may need a release).
    let (env, primary, _secondary) = pair(&[("failback", "\"manual\""), ("initial", "\"up\"")]);
    let s = &env.server;
    wait_answer(s, "api", "A", &[PRIMARY]);

    primary.set(HttpMode::Status(500));
    wait_answer(s, "api", "A", &[SECONDARY]);

    primary.set(HttpMode::Healthy);
    // Let the primary pass several rise cycles: with failback = "auto" it
    // would be back after `rise` successes; wait for 3×rise of them (plus
    // one in flight when the mode switched).
    let seen = primary.requests();
    primary.wait_requests(seen + 1 + 3 * rise, super::DEADLINE);
    for _ in 0..5 {
        assert_answer(
            s,
            "api",
            "A",
            &[SECONDARY],
            "failback = manual: the recovered primary stays out until released",
        );
    }
}

#[test]
fn three_tiers_fall_through_in_order() {
    let p = HttpBackend::start(PRIMARY);
    let s2 = HttpBackend::start(SECONDARY);
    let s3 = HttpBackend::start(TERTIARY);
    let records = format!(
        "api 30 IN A {PRIMARY} ; healthdns failover=primary check=web target={}\n\
         api 30 IN A {SECONDARY} ; healthdns failover=secondary check=web target={}\n\
         api 30 IN A {TERTIARY} ; healthdns failover=3 check=web target={}\n",
        p.target(),
        s2.target(),
        s3.target()
    );
    let env = serve(&records, &[http_check("web", &[])]);
    let s = &env.server;
    wait_answer(s, "api", "A", &[PRIMARY]);

    p.set(HttpMode::Status(500));
    s2.set(HttpMode::Status(500));
    wait_answer(s, "api", "A", &[TERTIARY]);

    // The secondary back: tier 2 beats tier 3.
    s2.set(HttpMode::Healthy);
    wait_answer(s, "api", "A", &[SECONDARY]);

    p.set(HttpMode::Healthy);
    wait_answer(s, "api", "A", &[PRIMARY]);
}

#[test]
fn a_tier_answers_all_its_healthy_records() {
    // Two records in the primary tier: both while healthy, the survivor
    // when one fails, the secondary only when both fail.
    let a = HttpBackend::start("127.0.0.24");
    let b = HttpBackend::start("127.0.0.25");
    let c = HttpBackend::start("127.0.0.26");
    let records = format!(
        "api 30 IN A 127.0.0.24 ; healthdns failover=primary check=web target={}\n\
         api 30 IN A 127.0.0.25 ; healthdns failover=primary check=web target={}\n\
         api 30 IN A 127.0.0.26 ; healthdns failover=secondary check=web target={}\n",
        a.target(),
        b.target(),
        c.target()
    );
    let env = serve(&records, &[http_check("web", &[])]);
    let s = &env.server;
    wait_answer(s, "api", "A", &["127.0.0.24", "127.0.0.25"]);
    a.set(HttpMode::Status(503));
    wait_answer(s, "api", "A", &["127.0.0.25"]);
    b.set(HttpMode::Status(503));
    wait_answer(s, "api", "A", &["127.0.0.26"]);
}

#[test]
fn after_a_total_outage_manual_failback_answers_the_healthy_secondary_not_the_dead_primary() {
    // Regression: both members fall, so both are held; both recover and
    // stay held, so no member serves. Each later primary outage must then
    // answer the secondary, whose checks pass, rather than fail open to
    // the dead primary.
    let fall = 2;
    let (env, primary, secondary) = pair(&[("failback", "\"manual\""), ("initial", "\"up\"")]);
    let s = &env.server;
    wait_answer(s, "api", "A", &[PRIMARY]);

    // Both fail for well over `fall` probes (one may be in flight when the
    // mode switches): both down and held.
    primary.set(HttpMode::Status(500));
    secondary.set(HttpMode::Status(500));
    let (p, q) = (primary.requests(), secondary.requests());
    primary.wait_requests(p + 1 + 2 * fall, super::DEADLINE);
    secondary.wait_requests(q + 1 + 2 * fall, super::DEADLINE);
    assert_answer(
        s,
        "api",
        "A",
        &[PRIMARY],
        "all down: fail open to the primary",
    );

    primary.set(HttpMode::Healthy);
    secondary.set(HttpMode::Healthy);
    for round in 0..3 {
        // Both up but held: the first tier.
        let (p, q) = (primary.requests(), secondary.requests());
        primary.wait_requests(p + 1 + 2 * fall, super::DEADLINE);
        secondary.wait_requests(q + 1 + 2 * fall, super::DEADLINE);
        assert_answer(
            s,
            "api",
            "A",
            &[PRIMARY],
            &format!("round {round}: both up, both held"),
        );

        primary.set(HttpMode::Status(500));
        wait_answer(s, "api", "A", &[SECONDARY]);
        let p = primary.requests();
        primary.wait_requests(p + 1 + 2 * fall, super::DEADLINE);
        assert_answer(
            s,
            "api",
            "A",
            &[SECONDARY],
            &format!("round {round}: the primary is down, the held secondary is up"),
        );
        primary.set(HttpMode::Healthy);
        wait_answer(s, "api", "A", &[PRIMARY]);
    }
}
