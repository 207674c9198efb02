//! Instructions per answer, for callgrind: answers one kind of query (or
//! the benches/compare.sh mix) N times through the real answer path, so the
//! difference of two runs is exact and free of the machine's noise:
//!
//! ```sh
//! cargo bench --bench respond_loop --no-run   # prints the binary's path
//! for n in 20000 40000; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/respond_loop-* mix $n 2>&1 | grep refs; done
//! ```
//!
//! (the second count minus the first, over 20,000). Kinds: static, nx,
//! failover, mix (6 static, 1 NXDOMAIN, 1 each failover, multivalue,
//! weighted). Run directly, it times the same loop.

use std::path::Path;
use std::time::Instant;

use healthdns::answer::{Transport, build, respond};
use healthdns::name::Name;

fn query(name: &str) -> Vec<u8> {
    let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    packet.extend(Name::from_text(name, None).unwrap().as_wire());
    packet.extend([0, 1, 0, 1]); // A, IN
    packet.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]); // OPT
    packet
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let kind = args.next().unwrap_or_else(|| "mix".to_string());
    let count: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let config = healthdns::config::parse(
        Path::new("tests/data/c.toml"),
        "[check.web]\ntype = \"http\"\n",
    )
    .expect("config");
    let example = healthdns::zone::load(Path::new("zones/example.com.zone"), None).expect("zone");
    let dynamic = healthdns::zone::load(Path::new("tests/data/dyn.test.zone"), None).expect("zone");
    let table = build(&[example.zone, dynamic.zone], &config.checks);
    let names: &[&str] = match kind.as_str() {
        "static" => &["www.example.com."],
        "nx" => &["nothing.example.com."],
        "failover" => &["api.dyn.test."],
        "mix" => &[
            "www.example.com.",
            "www.example.com.",
            "www.example.com.",
            "www.example.com.",
            "www.example.com.",
            "www.example.com.",
            "nothing.example.com.",
            "api.dyn.test.",
            "www.dyn.test.",
            "cdn.dyn.test.",
        ],
        other => panic!("unknown kind {other}: static, nx, failover or mix"),
    };
    let queries: Vec<Vec<u8>> = names.iter().map(|name| query(name)).collect();
    let mut out = vec![0u8; 65535];
    let started = Instant::now();
    let mut bytes = 0;
    for i in 0..count {
        bytes += respond(
            &table,
            &queries[i % queries.len()],
            Transport::Udp,
            &mut out,
        )
        .expect("an answer");
    }
    let elapsed = started.elapsed();
    println!(
        "{kind}: {count} answers, {bytes} bytes, {:.0} ns per answer",
        elapsed.as_nanos() as f64 / count as f64
    );
}
