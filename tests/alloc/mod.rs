//! The answer paths allocate nothing: a counting global allocator
//! (counting only on the thread that asks) watches thousands of queries of
//! every kind go through the real `respond`, through a worker's response
//! cache as the UDP workers answer (hits, misses, evictions), and through
//! a server's TCP connections once they are established.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::Ordering;

use healthdns::answer::{Cache, Transport, build, respond};
use healthdns::config::RateLimitConfig;
use healthdns::daemon::Daemon;
use healthdns::name::Name;
use healthdns::server::{Limiter, RateLimit, RateLimitCounters};
use healthdns::service::{Command, Source};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Counts allocations made on threads that switched counting on.
pub struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the bookkeeping touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn note() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|count| count.set(count.get() + 1));
        }
    });
}

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    COUNT.with(Cell::get)
}

fn query(name: &str, qtype: u16, edns: bool, questions: u8) -> Vec<u8> {
    let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, questions, 0, 0, 0, 0, 0, 0];
    packet.extend(Name::from_text(name, None).unwrap().as_wire());
    packet.extend(qtype.to_be_bytes());
    packet.extend(1u16.to_be_bytes());
    if edns {
        packet[11] = 1;
        packet.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    }
    packet
}

/// `packet` with another opcode than QUERY.
fn with_opcode(opcode: u8, mut packet: Vec<u8>) -> Vec<u8> {
    packet[2] = opcode << 3 | packet[2] & 0x07;
    packet
}

#[test]
fn the_udp_answer_path_allocates_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = healthdns::config::parse(
        &root.join("tests/data/c.toml"),
        "[check.web]\ntype = \"http\"\n",
    )
    .unwrap();
    let zones = [
        healthdns::zone::load(&root.join("tests/data/example.com.zone"), None)
            .unwrap()
            .zone,
        healthdns::zone::load(&root.join("tests/data/dyn.test.zone"), None)
            .unwrap()
            .zone,
    ];
    let table = build(&zones, &config.checks);
    let queries = [
        query("www.example.com.", 1, true, 1),
        query("WWW.Example.COM.", 28, false, 1),
        query("nothing.example.com.", 1, true, 1),
        query("example.com.", 15, false, 1),
        query("example.com.", 255, false, 1),
        query("www.old.example.com.", 1, true, 1),
        query("a.b.wild.example.com.", 1, true, 1),
        query("host.sub.example.com.", 1, true, 1),
        query("big.example.com.", 16, false, 1),
        query("www.example.net.", 1, true, 1),
        query("www.example.com.", 1, true, 2),
        query("api.dyn.test.", 1, true, 1),
        query("www.dyn.test.", 1, true, 1),
        query("cdn.dyn.test.", 1, false, 1),
        query("alias.dyn.test.", 1, true, 1),
        query("alias-https.example.com.", 65, true, 1),
        query("sub.example.com.", 43, false, 1),
        with_opcode(4, query("example.com.", 6, true, 1)),
        with_opcode(5, query("www.example.com.", 1, false, 1)),
        with_opcode(2, query("www.example.com.", 1, true, 1)),
    ];
    let mut out = vec![0u8; 65535];
    // Warm up: process-wide metrics and per-thread random state are made
    // on first use, once.
    for packet in &queries {
        respond(&table, packet, Transport::Udp, &mut out);
    }
    let mut answered = 0;
    let count = allocations(|| {
        for _ in 0..500 {
            for packet in &queries {
                answered +=
                    usize::from(respond(&table, packet, Transport::Udp, &mut out).is_some());
            }
        }
    });
    assert_eq!(answered, 500 * queries.len(), "every query answered");
    assert_eq!(
        count, 0,
        "allocations on the UDP answer path over {answered} queries"
    );
    // Through a cache, with names never asked before among them (misses
    // that fill slots, evicting others).
    let mut cache = Cache::new();
    let fresh: Vec<Vec<u8>> = (0..5000)
        .map(|i| query(&format!("nx{i}.example.com."), 1, i % 2 == 0, 1))
        .collect();
    let mut answered = 0;
    let count = allocations(|| {
        for round in 0..500 {
            for packet in queries.iter().chain(&fresh[round * 10..round * 10 + 10]) {
                answered += usize::from(
                    cache
                        .respond(&table, packet, Transport::Udp, &mut out)
                        .is_some(),
                );
            }
        }
    });
    assert_eq!(answered, 500 * (queries.len() + 10), "every query answered");
    // The seven reusable answers among the twenty come from the cache after
    // their first asking, but for the few times a fresh name evicts one
    // (about 5000 * 7 / 4096 = 9 expected); the fresh names never do.
    let hits = cache.hits();
    assert!(
        (499 * 7 - 100..=499 * 7).contains(&hits),
        "{hits} answers from the cache"
    );
    assert_eq!(
        count, 0,
        "allocations on the cached UDP answer path over {answered} queries"
    );
    // With rate limiting, past each flow's first second: some responses
    // sent, some slipped, most dropped, none allocating. (A flow that
    // starts being limited allocates its log line, once.)
    let limit = RateLimit::new(&RateLimitConfig {
        responses_per_second: 5,
        slip: 2,
        ipv4_prefix_length: 24,
        ipv6_prefix_length: 56,
        exempt: Vec::new(),
        table_size: 1024,
    });
    let counters = RateLimitCounters::default();
    let mut limiter = Limiter::new(&limit, &counters);
    let mut judge = |packet: &[u8], out: &mut [u8]| {
        let answered = cache.answer(&table, packet, Transport::Udp, out)?;
        limiter.judge(IpAddr::from([192, 0, 2, 1]), packet, &answered, out)
    };
    for _ in 0..20 {
        for packet in &queries {
            judge(packet, &mut out);
        }
    }
    let mut sent = 0;
    let count = allocations(|| {
        for _ in 0..500 {
            for packet in &queries {
                sent += usize::from(judge(packet, &mut out).is_some());
            }
        }
    });
    limiter.publish();
    let limited = counters.limited.load(Ordering::Relaxed) as usize;
    assert!(
        limited > 500 * queries.len() / 2 && sent > 0,
        "{limited} limited, {sent} sent"
    );
    assert_eq!(
        count,
        0,
        "allocations on the rate-limited UDP answer path over {} queries",
        500 * queries.len()
    );
    // The counter itself works: a Vec allocates.
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8; 10]))), 1);
}

/// `message` with its 2-byte length prefix.
fn framed(message: &[u8]) -> Vec<u8> {
    [&(message.len() as u16).to_be_bytes()[..], message].concat()
}

/// Writes `queries` (framed, in one write) and reads as many answers;
/// the number of those that were answers (a header with QR set at least).
async fn exchange(
    conn: &mut tokio::net::TcpStream,
    queries: &[u8],
    count: usize,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    conn.write_all(queries).await?;
    let mut answers = 0;
    for _ in 0..count {
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).await?;
        let len = u16::from_be_bytes(len) as usize;
        conn.read_exact(&mut buf[..len]).await?;
        answers += usize::from(len >= 12 && buf[2] & 0x80 != 0);
    }
    Ok(answers)
}

#[test]
fn tcp_connections_answer_without_allocating_once_established() {
    // The server and the client on this thread alone: every allocation
    // either makes while the counter is on is counted.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let source = Source {
        config: None,
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        zones: vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/example.com.zone")],
        state_dir: None,
    };
    let daemon = Daemon::bind(source, None).expect("bind");
    let (sender, commands) = tokio::sync::mpsc::channel(8);
    let control = sender.clone();
    runtime.block_on(async move {
        let (ready, addr) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(daemon.run(sender, commands, move |r| {
            let _ = ready.send(r.dns[0]);
        }));
        let addr = addr.await.unwrap();
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let one = framed(&query("www.example.com.", 1, true, 1));
        let burst: Vec<u8> = [
            query("www.example.com.", 1, true, 1),
            query("nothing.example.com.", 1, false, 1),
            query("example.com.", 255, false, 1),
            query("big.example.com.", 16, true, 1),
            query("www.example.com.", 1, true, 2),
        ]
        .iter()
        .cycle()
        .take(100)
        .flat_map(|q| framed(q))
        .collect();
        let mut buf = vec![0u8; 65535];
        // Warm up: this thread's buffers, the connection's.
        let warm = (
            exchange(&mut conn, &one, 1, &mut buf).await,
            exchange(&mut conn, &burst, 100, &mut buf).await,
        );
        COUNT.with(|c| c.set(0));
        COUNTING.with(|on| on.set(true));
        let mut answered = Ok(0);
        for _ in 0..200 {
            answered = match answered {
                Ok(n) => exchange(&mut conn, &one, 1, &mut buf).await.map(|m| n + m),
                failed => failed,
            };
        }
        for _ in 0..20 {
            answered = match answered {
                Ok(n) => exchange(&mut conn, &burst, 100, &mut buf)
                    .await
                    .map(|m| n + m),
                failed => failed,
            };
        }
        COUNTING.with(|on| on.set(false));
        let count = COUNT.with(Cell::get);
        // Stopped before asserting: a panic here would leave the UDP
        // workers running and the runtime waiting for them.
        drop(conn);
        control.send(Command::Shutdown).await.unwrap();
        server.await.unwrap().expect("the daemon stops cleanly");
        assert_eq!((warm.0.unwrap(), warm.1.unwrap()), (1, 100));
        assert_eq!(answered.unwrap(), 2200, "every query answered");
        assert_eq!(
            count, 0,
            "allocations over 2,200 queries on an established TCP connection"
        );
    });
}
