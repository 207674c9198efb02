//! Multivalue sets: the healthy members, shuffled, at most `max`.

use std::collections::BTreeSet;

use super::dns::Client;
use super::{fqdn, http_check, serve, wait_answer, wait_for};
use crate::util::backend::{HttpBackend, HttpMode};

const IPS: [&str; 4] = ["127.0.0.41", "127.0.0.42", "127.0.0.43", "127.0.0.44"];

/// `www` with the four members of [`IPS`], `options` on the first.
fn records(b: &[HttpBackend; 4], options: &str) -> String {
    let mut z = String::new();
    for (i, (ip, backend)) in IPS.iter().zip(b).enumerate() {
        z.push_str(&format!(
            "www 20 IN A {ip} ; healthdns multivalue check=web target={} {}\n",
            backend.target(),
            if i == 0 { options } else { "" }
        ));
    }
    z
}

#[test]
fn answers_exactly_the_healthy_members_at_most_max() {
    let b = IPS.map(HttpBackend::start);
    let env = serve(&records(&b, "max=3"), &[http_check("web", &[])]);
    let s = &env.server;
    let all: BTreeSet<String> = IPS.iter().map(|s| s.to_string()).collect();

    // All four healthy: three distinct members of the four in every answer.
    wait_for(s, "www", "A", "3 records", |r| r.answer.len() == 3);
    let mut client = Client::new(s.addr);
    let mut union = BTreeSet::new();
    for _ in 0..100 {
        let r = client.query(&fqdn("www"), 1);
        assert_eq!(r.rcode, 0);
        let got: BTreeSet<String> = r.rdata().into_iter().collect();
        assert_eq!(got.len(), 3, "max=3, all distinct: {:?}", r.rdata());
        assert!(got.is_subset(&all), "{got:?}");
        union.extend(got);
    }
    assert_eq!(
        union, all,
        "over 100 answers of 3 of 4, every member shows up"
    );

    // One down: exactly the other three. Two down: exactly two.
    b[0].set(HttpMode::Status(500));
    wait_answer(s, "www", "A", &IPS[1..]);
    b[1].set(HttpMode::Hang);
    wait_answer(s, "www", "A", &IPS[2..]);
    for _ in 0..50 {
        let mut got = client.query(&fqdn("www"), 1).rdata();
        got.sort();
        assert_eq!(got, IPS[2..], "never a down member");
    }

    // Back up: back in the answer.
    b[0].set(HttpMode::Healthy);
    wait_answer(s, "www", "A", &[IPS[0], IPS[2], IPS[3]]);
}

#[test]
fn answers_are_shuffled() {
    let b = IPS.map(HttpBackend::start);
    // Three members (no max: the default 8 lets all three through).
    let records = records(&b, "")
        .lines()
        .take(3)
        .collect::<Vec<_>>()
        .join("\n");
    let env = serve(&records, &[http_check("web", &[])]);
    let s = &env.server;
    wait_answer(s, "www", "A", &IPS[..3]);
    let mut client = Client::new(s.addr);
    let mut first = BTreeSet::new();
    for _ in 0..50 {
        let r = client.query(&fqdn("www"), 1);
        let mut sorted = r.rdata();
        sorted.sort();
        assert_eq!(sorted, IPS[..3], "all three healthy members each time");
        first.insert(r.rdata()[0].clone());
    }
    // A uniform shuffle puts the same record first 50 times in a row with
    // probability 3 × (1/3)^50 ≈ 1e-23.
    assert!(
        first.len() > 1,
        "50 answers, always {first:?} first: not shuffled"
    );
}
