//! Lookup + encode on the real answer path, per kind of answer, for the
//! shipped example zone, plain and through a worker's response cache; and
//! a health transition up to the first answer that shows it.

mod common;

use std::hint::black_box;

use common::{fixture_table, query};
use criterion::{Criterion, criterion_group, criterion_main};
use healthdns::answer::{Cache, Table, Transport, respond};
use healthdns::health::slot;
use healthdns::health::state::{Health, Thresholds};

fn answers(c: &mut Criterion) {
    let table = fixture_table();
    let mut out = vec![0u8; 65535];
    let cases = [
        ("static A", query("www.example.com.", 1, true)),
        ("NXDOMAIN", query("nothing.example.com.", 1, true)),
        ("CNAME", query("api.example.com.", 1, true)),
        ("wildcard", query("x.apps.example.com.", 1, true)),
        ("referral", query("host.sub.example.com.", 1, true)),
        ("MX + additional", query("example.com.", 15, false)),
        ("failover", query("api.dyn.test.", 1, true)),
        ("multivalue", query("www.dyn.test.", 1, true)),
        ("weighted", query("cdn.dyn.test.", 1, true)),
    ];
    // Every case must really answer (NOERROR or NXDOMAIN as named, with
    // records), or its figure means nothing.
    for (label, packet) in &cases {
        let len = respond(&table, packet, Transport::Udp, &mut out).expect("an answer");
        let (rcode, answers, authority) = (
            out[3] & 0xf,
            u16::from_be_bytes([out[6], out[7]]),
            u16::from_be_bytes([out[8], out[9]]),
        );
        match *label {
            "NXDOMAIN" => assert_eq!((rcode, authority), (3, 1), "{label}"),
            "referral" => assert_eq!((rcode, authority), (0, 1), "{label}"),
            _ => assert!(
                rcode == 0 && answers >= 1 && len > 12,
                "{label}: rcode {rcode}, {answers} answers"
            ),
        }
    }
    let mut group = c.benchmark_group("respond");
    for (label, packet) in &cases {
        group.bench_function(*label, |b| {
            b.iter(|| {
                respond(
                    black_box(&table),
                    black_box(packet),
                    Transport::Udp,
                    &mut out,
                )
            })
        });
    }
    group.finish();
    // The same through a worker's response cache, warmed by one asking:
    // static kinds are copied from it, dynamic ones answered as above.
    let mut cache = Cache::new();
    let mut group = c.benchmark_group("respond (cached)");
    for (label, packet) in &cases {
        cache.respond(&table, packet, Transport::Udp, &mut out);
        group.bench_function(*label, |b| {
            b.iter(|| {
                cache.respond(
                    black_box(&table),
                    black_box(packet),
                    Transport::Udp,
                    &mut out,
                )
            })
        });
    }
    group.finish();
    transition(c, &table, &mut out);
}

/// A transition is published by one atomic store in the target's slot; no
/// table is rebuilt. Measured: the primary of a failover set goes down (as
/// the probe loop does it: the state machine under the slot's detail lock,
/// then the store), a query answers with the secondary, the primary comes
/// back, a query answers with it again.
fn transition(c: &mut Criterion, table: &Table, out: &mut [u8]) {
    let primary = table
        .targets()
        .iter()
        .position(|t| t.key.host == "192.0.2.10")
        .expect("api's primary is a target") as u32;
    let slot = table.board().slot(primary).expect("its slot").clone();
    let once = Thresholds { rise: 1, fall: 1 };
    let flip = |passed: bool| {
        let to = slot
            .update(|detail| detail.state.observe(passed, once))
            .expect("a transition")
            .to;
        slot.publish(slot::standing(to, false, None));
    };
    let packet = query("api.dyn.test.", 1, false);
    let first_address = |out: &mut [u8]| {
        let len = respond(table, &packet, Transport::Udp, out).expect("an answer");
        // One A record answers: its RDATA ends the message.
        [out[len - 4], out[len - 3], out[len - 2], out[len - 1]]
    };
    assert_eq!(first_address(out), [192, 0, 2, 10]);
    flip(false);
    assert_eq!(first_address(out), [192, 0, 2, 11], "the secondary answers");
    flip(true);
    assert_eq!(first_address(out), [192, 0, 2, 10], "the primary is back");
    let mut group = c.benchmark_group("transition");
    group.bench_function("down + answer + up + answer", |b| {
        b.iter(|| {
            flip(false);
            black_box(first_address(out));
            flip(true);
            black_box(first_address(out))
        })
    });
    group.finish();
    assert_eq!(slot.detail().state.health(), Health::Up);
}

criterion_group!(benches, answers);
criterion_main!(benches);
