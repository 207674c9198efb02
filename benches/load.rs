//! Zone loading at scale: reading and checking a generated 1,000,000-record
//! zone, and building the answer table from it (what start-up and every
//! reload do). The goal is ≤ 2 s for the two together.
//!
//! `cargo bench --bench load` (10 samples of each; about a minute).

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use healthdns::answer::{Transport, build, respond};
use healthdns::config::Checks;
use healthdns::name::Name;

const RECORDS: usize = 1_000_000;

/// A zone like a large hosting zone: SOA, NS and glue, then one A record
/// per name.
fn write_zone(path: &std::path::Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "$ORIGIN big.test.\n$TTL 300").unwrap();
    writeln!(out, "@ SOA ns1 hostmaster 1 7200 3600 1209600 300").unwrap();
    writeln!(out, "@ NS ns1\n@ NS ns2\nns1 A 192.0.2.1\nns2 A 192.0.2.2").unwrap();
    for i in 0..RECORDS - 5 {
        writeln!(
            out,
            "h{i} A 10.{}.{}.{}",
            i >> 16 & 255,
            i >> 8 & 255,
            i & 255
        )
        .unwrap();
    }
}

fn load(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.test.zone");
    write_zone(&path);
    let checks = Checks::new();

    // The figures mean nothing unless the zone loads and answers.
    let loaded = healthdns::zone::load(&path, None).expect("zone loads");
    assert_eq!(loaded.zone.records.len(), RECORDS);
    let table = build(std::slice::from_ref(&loaded.zone), &checks);
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend(
        Name::from_text("h999993.big.test.", None)
            .unwrap()
            .as_wire(),
    );
    query.extend([0, 1, 0, 1]);
    let mut out = vec![0u8; 65535];
    let len = respond(&table, &query, Transport::Udp, &mut out).expect("an answer");
    assert_eq!(
        &out[len - 4..len],
        &[10, 15, 66, 57],
        "h999993 is 10.15.66.57"
    );
    drop(table);

    let mut group = c.benchmark_group("load 1M records");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("read + check", |b| {
        b.iter(|| healthdns::zone::load(black_box(&path), None).expect("zone loads"))
    });
    group.bench_function("build table", |b| {
        b.iter(|| build(black_box(std::slice::from_ref(&loaded.zone)), &checks))
    });
    group.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
