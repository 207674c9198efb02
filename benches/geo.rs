//! The networks map at the size of a country database: about 400,000
//! random prefixes (nine in ten IPv4, /8 to /32 weighted towards /16–/24 as
//! routing tables are; the rest IPv6, /16 to /64), loaded from a file and
//! looked up. Prints the map's ranges and heap bytes before the figures.
//!
//! `cargo bench --bench geo` (about a minute).

use std::hint::black_box;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use healthdns::config::Region;
use healthdns::geo::Networks;

const PREFIXES: usize = 400_000;
const REGIONS: usize = 250;
const LOOKUPS: usize = 4096;

/// xorshift64*: the same file every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn regions() -> Vec<String> {
    let mut names: Vec<String> = (0..REGIONS).map(|i| format!("r{i}")).collect();
    names.sort();
    names
}

/// Writes `PREFIXES` distinct networks (a network given twice with two
/// regions would be refused).
fn write_networks(path: &Path, rng: &mut Rng) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut seen = std::collections::HashSet::new();
    let mut i = 0;
    while seen.len() < PREFIXES {
        i += 1;
        let region = rng.next() as usize % REGIONS;
        let line = if i % 10 == 9 {
            let length = 16 + (rng.next() % 49) as u32;
            let bits = (u128::from(rng.next()) << 64) & !(u128::MAX >> length);
            format!("{}/{length} r{region}", Ipv6Addr::from(bits))
        } else {
            // Lengths 8–32, most between 16 and 24.
            let length = match rng.next() % 10 {
                0 => 8 + (rng.next() % 8) as u32,
                9 => 25 + (rng.next() % 8) as u32,
                _ => 16 + (rng.next() % 9) as u32,
            };
            let bits = (rng.next() as u32) & !(u32::MAX.checked_shr(length).unwrap_or(0));
            format!("{}/{length} r{region}", Ipv4Addr::from(bits))
        };
        let network = line.split(' ').next().unwrap().to_owned();
        if seen.insert(network) {
            writeln!(out, "{line}").unwrap();
        }
    }
}

fn geo(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("networks.txt");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    write_networks(&path, &mut rng);
    let regions = regions();
    let started = Instant::now();
    let networks = Networks::load(&path, &regions, Region(0)).expect("the networks load");
    println!(
        "{} networks ({} bytes of file) in {:?}: {} ranges, {} heap bytes",
        networks.networks(),
        std::fs::metadata(&path).unwrap().len(),
        started.elapsed(),
        networks.ranges(),
        networks.heap_bytes()
    );

    let v4: Vec<Ipv4Addr> = (0..LOOKUPS)
        .map(|_| Ipv4Addr::from(rng.next() as u32))
        .collect();
    let v6: Vec<Ipv6Addr> = (0..LOOKUPS)
        .map(|_| Ipv6Addr::from(u128::from(rng.next()) << 64 | u128::from(rng.next())))
        .collect();
    // The figures mean nothing if every lookup lands on the default.
    let matched = v4
        .iter()
        .filter(|&&a| networks.lookup_v4(a).region != Region(0))
        .count();
    assert!(
        matched > LOOKUPS / 2,
        "only {matched} addresses matched a network"
    );

    let mut group = c.benchmark_group("geo lookup");
    group.throughput(Throughput::Elements(LOOKUPS as u64));
    group.bench_function("ipv4", |b| {
        b.iter(|| {
            for &addr in &v4 {
                black_box(networks.lookup_v4(black_box(addr)));
            }
        })
    });
    group.bench_function("ipv6", |b| {
        b.iter(|| {
            for &addr in &v6 {
                black_box(networks.lookup_v6(black_box(addr)));
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("geo load");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("400k networks", |b| {
        b.iter(|| Networks::load(black_box(&path), &regions, Region(0)).expect("the networks load"))
    });
    group.finish();
}

criterion_group!(benches, geo);
criterion_main!(benches);
