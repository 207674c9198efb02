//! Lookup + encode on the real answer path, per kind of answer, for the
//! shipped example zone.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use healthdns::answer::{Transport, build, respond};
use healthdns::name::Name;

fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    packet.extend(Name::from_text(name, None).unwrap().as_wire());
    packet.extend(qtype.to_be_bytes());
    packet.extend(1u16.to_be_bytes());
    if edns {
        packet[11] = 1;
        packet.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    packet
}

fn answers(c: &mut Criterion) {
    // The health-annotated names are a test fixture; nothing probes them
    // here, so every member keeps its initial "up".
    let config = healthdns::config::parse(
        Path::new("tests/data/c.toml"),
        "[check.web]\ntype = \"http\"\n",
    )
    .expect("config");
    let example = healthdns::zone::load(Path::new("zones/example.com.zone"), None)
        .expect("example zone loads");
    let dynamic = healthdns::zone::load(Path::new("tests/data/dyn.test.zone"), None)
        .expect("dynamic zone loads");
    let table = build(&[example.zone, dynamic.zone], &config.checks);
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
}

criterion_group!(benches, answers);
criterion_main!(benches);
