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
    let zone = healthdns::zone::load(Path::new("zones/example.com.zone"), None)
        .expect("example zone loads");
    let table = build(&[zone.zone], &Default::default());
    let mut out = vec![0u8; 65535];
    let cases = [
        ("static A", query("www.example.com.", 1, true)),
        ("NXDOMAIN", query("nothing.example.com.", 1, true)),
        ("CNAME", query("api.example.com.", 1, true)),
        ("wildcard", query("x.apps.example.com.", 1, true)),
        ("referral", query("host.sub.example.com.", 1, true)),
        ("MX + additional", query("example.com.", 15, false)),
    ];
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
