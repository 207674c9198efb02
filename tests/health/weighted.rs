//! Weighted sets: one healthy record per answer, chosen with probability
//! proportional to its weight; weight 0 only when every weighted member
//! with a weight above 0 is down.

use std::collections::BTreeMap;
use std::thread;
use std::time::Instant;

use super::dns::Client;
use super::{DEADLINE, Env, POLL, fqdn, http_check, serve};
use crate::util::backend::{HttpBackend, HttpMode};

const HEAVY: &str = "127.0.0.51";
const LIGHT: &str = "127.0.0.52";
const ZERO: &str = "127.0.0.53";

/// How many answers named each record in `n` queries of `cdn A`; asserts
/// each answer is NOERROR with exactly one A record.
fn sample(client: &mut Client, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let r = client.query(&fqdn("cdn"), 1);
        assert_eq!(r.rcode, 0, "NOERROR: {r:?}");
        assert_eq!(r.answer.len(), 1, "a weighted answer is one record: {r:?}");
        *counts.entry(r.answer[0].rdata.clone()).or_insert(0) += 1;
    }
    counts
}

/// Samples bursts of 20 until every answer of a burst is in `only`; the
/// callers say why a burst cannot pass by chance before the change.
fn wait_only(env: &Env, client: &mut Client, only: &[&str], what: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let burst = sample(client, 20);
        if burst.keys().all(|k| only.contains(&k.as_str())) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited {DEADLINE:?} for {what}; last burst {burst:?}\nserver stderr:\n{}",
            env.server.stderr_so_far()
        );
        thread::sleep(POLL);
    }
}

/// `cdn` with weights 70 / 30 / 0 (the last only when `zero`).
fn start(zero: bool) -> (Env, Vec<HttpBackend>) {
    let mut backends = vec![HttpBackend::start(HEAVY), HttpBackend::start(LIGHT)];
    let mut records = format!(
        "cdn 60 IN A {HEAVY} ; healthdns weighted=70 check=web target={}\n\
         cdn 60 IN A {LIGHT} ; healthdns weighted=30 check=web target={}\n",
        backends[0].target(),
        backends[1].target()
    );
    if zero {
        let z = HttpBackend::start(ZERO);
        records.push_str(&format!(
            "cdn 60 IN A {ZERO} ; healthdns weighted=0 check=web target={}\n",
            z.target()
        ));
        backends.push(z);
    }
    let env = serve(&records, &[http_check("web", &[])]);
    // Every member healthy for rise (2) probes in a row, whatever its
    // initial state: after 4 requests each is up.
    for b in &backends {
        b.wait_requests(4, DEADLINE);
    }
    (env, backends)
}

#[test]
fn shares_follow_the_weights() {
    let (env, _b) = start(false);
    let mut client = Client::new(env.server.addr);
    // Both members in play before counting.
    let deadline = Instant::now() + DEADLINE;
    while sample(&mut client, 50).len() < 2 {
        assert!(Instant::now() < deadline, "never saw both members");
        thread::sleep(POLL);
    }
    // n = 4000 draws with p = 0.7: the heavy share has standard deviation
    // sqrt(0.7 × 0.3 / 4000) ≈ 0.72 percentage points, so ±5 points is about
    // 6.9 σ: a correct server fails this with probability below 1e-11,
    // while a uniform pick (50/50) or a weight-blind one misses by 20.
    let n = 4000;
    let counts = sample(&mut client, n);
    let heavy = *counts.get(HEAVY).unwrap_or(&0) as f64 / n as f64 * 100.0;
    let light = *counts.get(LIGHT).unwrap_or(&0) as f64 / n as f64 * 100.0;
    assert_eq!(counts.len(), 2, "only the two members: {counts:?}");
    assert!(
        (heavy - 70.0).abs() <= 5.0 && (light - 30.0).abs() <= 5.0,
        "weights 70/30, shares {heavy:.1}/{light:.1} over {n} answers (±5 points)"
    );
}

#[test]
fn a_down_member_is_never_answered() {
    let (env, b) = start(true);
    let mut client = Client::new(env.server.addr);
    b[0].set(HttpMode::Status(500));
    // A burst of 20 all LIGHT while HEAVY (70%) is still up: 0.3^20 ≈ 3e-11.
    wait_only(&env, &mut client, &[LIGHT], "only the 30 member");
    let counts = sample(&mut client, 1000);
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        [LIGHT],
        "the down 70 member and the weight-0 member stay out: {counts:?}"
    );
    b[0].set(HttpMode::Healthy);
    let deadline = Instant::now() + DEADLINE;
    while !sample(&mut client, 50).contains_key(HEAVY) {
        assert!(Instant::now() < deadline, "the 70 member never came back");
        thread::sleep(POLL);
    }
}

#[test]
fn weight_zero_answers_only_when_every_weighted_member_is_down() {
    let (env, b) = start(true);
    let mut client = Client::new(env.server.addr);
    let counts = sample(&mut client, 2000);
    assert!(
        !counts.contains_key(ZERO),
        "weight 0 while the weighted members are up: {counts:?}"
    );

    b[0].set(HttpMode::Status(500));
    b[1].set(HttpMode::Status(500));
    // A burst of 20 all ZERO while another member is up is impossible for a
    // correct server (weight 0 is never drawn then).
    wait_only(&env, &mut client, &[ZERO], "only the weight-0 member");
    let counts = sample(&mut client, 500);
    assert_eq!(counts.keys().collect::<Vec<_>>(), [ZERO], "{counts:?}");

    // One weighted member back: weight 0 out again.
    b[1].set(HttpMode::Healthy);
    wait_only(&env, &mut client, &[LIGHT], "the 30 member back, alone");
    let counts = sample(&mut client, 500);
    assert_eq!(counts.keys().collect::<Vec<_>>(), [LIGHT], "{counts:?}");
}
