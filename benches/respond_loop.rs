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
//! weighted). A third argument `cache` answers through a worker's response
//! cache ([`healthdns::answer::Cache`]), as the UDP workers do: the static
//! and NXDOMAIN names then come from it after their first asking; `rrl`
//! does the same and then judges each response as `[rate-limit]` does,
//! at a rate no flow reaches (the cost of limiting when it limits
//! nothing). Run directly, it times the same loop.

mod common;

use std::time::Instant;

use common::{fixture_table, query};
use healthdns::answer::{Cache, Transport, respond};
use healthdns::config::RateLimitConfig;
use healthdns::server::{Limiter, RateLimit, RateLimitCounters};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let kind = args.next().unwrap_or_else(|| "mix".to_string());
    let count: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let mode = args.next();
    let mut cache = match mode.as_deref() {
        None => None,
        Some("cache" | "rrl") => Some(Cache::new()),
        Some(other) => panic!("unknown mode {other}: cache, rrl or nothing"),
    };
    let rate_limit = RateLimit::new(&RateLimitConfig {
        responses_per_second: u16::MAX.into(),
        slip: 2,
        ipv4_prefix_length: 24,
        ipv6_prefix_length: 56,
        exempt: Vec::new(),
        table_size: 1 << 20,
    });
    let counters = RateLimitCounters::default();
    let mut limiter =
        (mode.as_deref() == Some("rrl")).then(|| Limiter::new(&rate_limit, &counters));
    let source = std::net::IpAddr::from([192, 0, 2, 1]);
    let table = fixture_table();
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
    let queries: Vec<Vec<u8>> = names.iter().map(|name| query(name, 1, true)).collect();
    let mut out = vec![0u8; 65535];
    let started = Instant::now();
    let mut bytes = 0;
    for i in 0..count {
        let packet = &queries[i % queries.len()];
        bytes += match (&mut cache, &mut limiter) {
            (None, _) => respond(&table, packet, Transport::Udp, &mut out),
            (Some(cache), None) => cache.respond(&table, packet, Transport::Udp, &mut out),
            (Some(cache), Some(limiter)) => {
                if i % 32 == 0 {
                    limiter.tick();
                }
                let answered = cache.answer(&table, packet, Transport::Udp, &mut out);
                answered.and_then(|answered| limiter.judge(source, packet, &answered, &mut out))
            }
        }
        .expect("an answer");
    }
    let elapsed = started.elapsed();
    println!(
        "{kind}: {count} answers, {bytes} bytes, {:.0} ns per answer",
        elapsed.as_nanos() as f64 / count as f64
    );
}
