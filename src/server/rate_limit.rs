//! Response rate limiting (RRL) on UDP, as Knot's and NSD's: a flood of
//! queries with a forged source gets the victim few responses, while a
//! real client behind that address still gets through, over TCP if need
//! be.
//!
//! # Design
//! A *flow* is a source network (a /24 or a /56 by default), a response
//! [`Class`] and the name the response is about ([`Subject`]: the zone for
//! NXDOMAIN, so that random names under it are one flow). Each flow has a
//! token bucket of `responses-per-second`, refilled continuously and
//! holding at most one second's worth. A response that finds its bucket
//! empty is *limited*: every `slip`th one goes out truncated (TC, question
//! only), which a real resolver retries over TCP, and the rest are dropped.
//!
//! - The buckets are one table shared by every worker, one `AtomicU64`
//!   each, updated with a compare-and-swap: SO_REUSEPORT spreads one
//!   source's queries over every worker, so per-worker tables would grant a
//!   flow the rate once per worker. A flow hashes (keyed, seeded at start)
//!   to one bucket; a bucket holding another flow is taken over, as in a
//!   direct-mapped cache: an attacker with many flows evicts, at worst,
//!   budgets that restart full.
//! - Time is a coarse clock read once per batch, in milliseconds.
//! - The worker whose response first finds a flow's bucket empty logs that
//!   the flow is limited and watches the bucket; once a second it looks
//!   again, and when the flow has stayed under its rate for a second it
//!   logs that limiting stopped. A worker watches at most [`WATCHED`]
//!   flows; the ones past that are counted in one line a second.
//! - Counts go to the shared metrics once per batch.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::answer::{Answered, Class};
use crate::config::{Network, RateLimitConfig};
use crate::metrics::RateLimitCounters;
use crate::name::wire_name_len;
use crate::wire::header::{self, ANCOUNT, ARCOUNT, FLAGS, NSCOUNT, QDCOUNT};
use crate::wire::{OPT_LEN, flag, rtype};

/// Flows one worker watches to log when they stop being limited.
const WATCHED: usize = 64;
/// Milliseconds in which a bucket fills from empty; and how often a worker
/// looks at the flows it watches.
const SECOND_MS: u32 = 1000;

/// The table of flows, shared by every worker.
#[derive(Debug)]
pub struct RateLimit {
    buckets: Box<[AtomicU64]>,
    rate: u32,
    slip: u32,
    ipv4_prefix_length: u8,
    ipv6_prefix_length: u8,
    /// The bits of an address that name its network.
    ipv4_mask: u32,
    ipv6_mask: u128,
    exempt: Box<[Network]>,
    /// The flow hash's keys, drawn at start so that nobody outside can
    /// choose flows that share a bucket.
    keys: [u64; 2],
}

impl RateLimit {
    /// An empty table for `config`.
    pub fn new(config: &RateLimitConfig) -> RateLimit {
        RateLimit {
            buckets: (0..config.table_size.max(1))
                .map(|_| AtomicU64::new(0))
                .collect(),
            rate: config.responses_per_second.clamp(1, u32::from(u16::MAX)),
            slip: config.slip,
            ipv4_prefix_length: config.ipv4_prefix_length,
            ipv6_prefix_length: config.ipv6_prefix_length,
            ipv4_mask: u32::MAX
                .checked_shl(32 - u32::from(config.ipv4_prefix_length.min(32)))
                .unwrap_or(0),
            ipv6_mask: u128::MAX
                .checked_shl(128 - u32::from(config.ipv6_prefix_length.min(128)))
                .unwrap_or(0),
            exempt: config.exempt.clone().into_boxed_slice(),
            keys: {
                let random = std::hash::RandomState::new();
                // Odd multipliers keep every bit of what they mix.
                [random.hash_one(1u8) | 1, random.hash_one(2u8) | 1]
            },
        }
    }

    /// The network `source` counts in.
    fn network(&self, source: IpAddr) -> Network {
        let length = match source {
            IpAddr::V4(_) => self.ipv4_prefix_length,
            IpAddr::V6(_) => self.ipv6_prefix_length,
        };
        Network::new(source, length)
    }

    /// The network bits of `source`; IPv4 ones as IPv4-mapped IPv6
    /// (`::ffff:0:0/96`), which is what they are.
    fn network_bits(&self, source: IpAddr) -> u128 {
        match source {
            IpAddr::V4(v4) => 0xffff << 32 | u128::from(u32::from(v4) & self.ipv4_mask),
            IpAddr::V6(v6) => u128::from(v6) & self.ipv6_mask,
        }
    }

    /// The hash of a flow: its network's bits, class, and name compared
    /// without regard to ASCII case, eight bytes at a time.
    fn flow(&self, network: u128, class: Class, name: &[u8]) -> u64 {
        let [k0, k1] = self.keys;
        let mut h = mix(k0 ^ class as u64 ^ (name.len() as u64) << 8, k1);
        h = mix(h ^ network as u64, k0);
        h = mix(h ^ (network >> 64) as u64, k1);
        let mut words = name.chunks_exact(8);
        for word in &mut words {
            h = mix(h ^ ascii_lowercase(word_at(word)), k0);
        }
        let rest = words.remainder().len();
        if rest > 0 {
            // The last eight bytes, overlapping the word before; a short
            // name's bytes, padded.
            let last = match name.len().checked_sub(8) {
                Some(from) => word_at(&name[from..]),
                None => name
                    .iter()
                    .rev()
                    .fold(0, |word, &byte| word << 8 | u64::from(byte)),
            };
            h = mix(h ^ ascii_lowercase(last), k1);
        }
        h
    }

    /// Takes a token from flow `hash`'s bucket at `now` (milliseconds).
    fn take(&self, hash: u64, now: u32) -> Take {
        let bucket = &self.buckets[hash as usize & (self.buckets.len() - 1)];
        let tag = Bucket::tag_of(hash);
        let mut old = bucket.load(Ordering::Relaxed);
        loop {
            let mut state = Bucket::unpack(old);
            if state.tag != tag || old == 0 {
                state = Bucket::full(tag, self.rate, now);
            } else {
                state.refill(self.rate, now);
            }
            let take = if state.tokens > 0 {
                state.tokens -= 1;
                Take::Pass
            } else if state.limited {
                Take::Limited
            } else {
                state.limited = true;
                Take::Started
            };
            match bucket.compare_exchange_weak(
                old,
                state.pack(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return take,
                Err(now_there) => old = now_there,
            }
        }
    }

    /// Whether flow `hash`, limited, has stayed under its rate for a second
    /// by `now` (or lost its bucket); if so its bucket no longer counts it
    /// as limited, so that its next flood is logged again.
    fn stopped(&self, hash: u64, now: u32) -> bool {
        let bucket = &self.buckets[hash as usize & (self.buckets.len() - 1)];
        let tag = Bucket::tag_of(hash);
        let mut old = bucket.load(Ordering::Relaxed);
        loop {
            let mut state = Bucket::unpack(old);
            if state.tag != tag || !state.limited {
                return true;
            }
            state.refill(self.rate, now);
            if state.tokens < self.rate {
                return false;
            }
            state.limited = false;
            match bucket.compare_exchange_weak(
                old,
                state.pack(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now_there) => old = now_there,
            }
        }
    }
}

/// What a flow's bucket said to one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    /// A token: send it.
    Pass,
    /// No token, and the flow was limited already.
    Limited,
    /// No token: the flow is limited from this response on.
    Started,
}

/// A bucket, packed in a `u64`: a tag from the flow's hash (15 bits),
/// whether the flow is limited, the time of the last refill (milliseconds,
/// wrapping) and the tokens left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    tag: u16,
    limited: bool,
    time: u32,
    tokens: u32,
}

impl Bucket {
    /// The tag of a flow: hash bits above the ones that pick its bucket.
    fn tag_of(hash: u64) -> u16 {
        (hash >> 49) as u16
    }

    fn full(tag: u16, rate: u32, now: u32) -> Bucket {
        Bucket {
            tag,
            limited: false,
            time: now,
            tokens: rate,
        }
    }

    fn unpack(bits: u64) -> Bucket {
        Bucket {
            tag: (bits >> 49) as u16,
            limited: bits >> 48 & 1 == 1,
            time: (bits >> 16) as u32,
            tokens: (bits & 0xffff) as u32,
        }
    }

    fn pack(self) -> u64 {
        u64::from(self.tag) << 49
            | u64::from(self.limited) << 48
            | u64::from(self.time) << 16
            | u64::from(self.tokens)
    }

    /// Adds the tokens earned since the last refill: `rate` a second, at
    /// most `rate` held. Time advances only by what the tokens added are
    /// worth, so that no fraction of a token is lost between queries.
    fn refill(&mut self, rate: u32, now: u32) {
        let elapsed = now.wrapping_sub(self.time);
        // A clock behind the bucket's (a worker's older reading) earns
        // nothing; one far ahead fills it.
        if elapsed > u32::MAX / 2 {
            return;
        }
        if elapsed >= SECOND_MS {
            self.tokens = rate;
            self.time = now;
            return;
        }
        let earned = u64::from(elapsed) * u64::from(rate) / u64::from(SECOND_MS);
        if earned == 0 {
            return;
        }
        let tokens = (u64::from(self.tokens) + earned).min(u64::from(rate));
        self.tokens = tokens as u32;
        self.time = if self.tokens == rate {
            now
        } else {
            self.time
                .wrapping_add((earned * u64::from(SECOND_MS) / u64::from(rate)) as u32)
        };
    }
}

/// A worker's side of rate limiting: its clock, its slip count, what it
/// counted since it last published, and the flows it watches.
#[derive(Debug)]
pub struct Limiter<'a> {
    shared: &'a RateLimit,
    counters: &'a RateLimitCounters,
    /// Milliseconds, read once a batch.
    now: u32,
    /// When the watched flows were last looked at.
    looked: u32,
    /// Limited responses so far, for `slip`.
    limited_seen: u32,
    counts: Counts,
    watched: Vec<Watched>,
    /// Flows limited from this worker's responses but not watched, since
    /// the last look.
    unwatched: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    limited: u64,
    slipped: u64,
    dropped: u64,
}

/// A limited flow a worker watches, to log when it stops.
#[derive(Debug)]
struct Watched {
    hash: u64,
    network: Network,
    class: Class,
    name: String,
    since: u32,
}

impl<'a> Limiter<'a> {
    /// A worker's limiter over `shared`, counting in `counters`.
    pub fn new(shared: &'a RateLimit, counters: &'a RateLimitCounters) -> Limiter<'a> {
        let now = clock_ms();
        Limiter {
            shared,
            counters,
            now,
            looked: now,
            limited_seen: 0,
            counts: Counts::default(),
            watched: Vec::with_capacity(WATCHED),
            unwatched: 0,
        }
    }

    /// Reads the clock: once a batch, and when idle. Once a second, looks
    /// at the flows this worker watches.
    pub fn tick(&mut self) {
        self.now = clock_ms();
        if self.now.wrapping_sub(self.looked) >= SECOND_MS {
            self.looked = self.now;
            self.look();
        }
    }

    /// Judges `answered`, the response to `query` from `source`, written in
    /// `out`: its length as sent (cut to a truncated response for a slip),
    /// or `None` to drop it.
    pub fn judge(
        &mut self,
        source: IpAddr,
        query: &[u8],
        answered: &Answered,
        out: &mut [u8],
    ) -> Option<usize> {
        let shared = self.shared;
        if shared.exempt.iter().any(|network| network.contains(source)) {
            return Some(answered.len);
        }
        let name = answered.subject.name(query);
        let hash = shared.flow(shared.network_bits(source), answered.class, name);
        match shared.take(hash, self.now) {
            Take::Pass => return Some(answered.len),
            Take::Limited => {}
            Take::Started => self.started(hash, shared.network(source), answered.class, name),
        }
        self.counts.limited += 1;
        self.limited_seen = self.limited_seen.wrapping_add(1);
        if shared.slip > 0 && self.limited_seen.is_multiple_of(shared.slip) {
            self.counts.slipped += 1;
            Some(slip(out, answered.len))
        } else {
            self.counts.dropped += 1;
            None
        }
    }

    /// Adds what this worker counted to the shared metrics: once a batch.
    pub fn publish(&mut self) {
        if self.counts.limited == 0 {
            return;
        }
        let Counts {
            limited,
            slipped,
            dropped,
        } = std::mem::take(&mut self.counts);
        self.counters.limited.fetch_add(limited, Ordering::Relaxed);
        self.counters.slipped.fetch_add(slipped, Ordering::Relaxed);
        self.counters.dropped.fetch_add(dropped, Ordering::Relaxed);
    }

    /// A flow is limited from now: log it, and watch it if there is room.
    #[cold]
    fn started(&mut self, hash: u64, network: Network, class: Class, name: &[u8]) {
        self.counters.flows.fetch_add(1, Ordering::Relaxed);
        if self.watched.len() == WATCHED {
            self.unwatched += 1;
            return;
        }
        let name = shown(name);
        tracing::warn!(
            source = %network,
            class = class.as_str(),
            name = %name,
            "rate limiting responses"
        );
        self.watched.push(Watched {
            hash,
            network,
            class,
            name,
            since: self.now,
        });
    }

    /// Logs the watched flows that stopped, and the flows limited past
    /// what this worker watches.
    #[cold]
    fn look(&mut self) {
        let (shared, now) = (self.shared, self.now);
        self.watched.retain(|flow| {
            if !shared.stopped(flow.hash, now) {
                return true;
            }
            tracing::info!(
                source = %flow.network,
                class = flow.class.as_str(),
                name = %flow.name,
                after = ?std::time::Duration::from_millis(now.wrapping_sub(flow.since).into()),
                "rate limiting stopped"
            );
            false
        });
        if self.unwatched > 0 {
            tracing::warn!(
                flows = self.unwatched,
                "rate limiting responses to more flows, not logged one by one"
            );
            self.unwatched = 0;
        }
    }
}

/// Cuts the response in `out` (`len` bytes) to a truncated one: the
/// header with TC, the question, and the OPT record if it had one, as Knot
/// slips. A real client retries over TCP, where no limit applies.
fn slip(out: &mut [u8], len: usize) -> usize {
    let mut end = header::LEN;
    if header::get(out, QDCOUNT) == 1
        && let Some(name_len) = wire_name_len(&out[header::LEN..len])
    {
        end += name_len + 4;
    }
    let had_opt = header::get(out, ARCOUNT) > 0
        && len >= end + OPT_LEN
        && out[len - OPT_LEN..len - OPT_LEN + 3] == [0, (rtype::OPT >> 8) as u8, rtype::OPT as u8];
    header::set(out, FLAGS, header::get(out, FLAGS) | flag::TC);
    header::set(out, ANCOUNT, 0);
    header::set(out, NSCOUNT, 0);
    header::set(out, ARCOUNT, u16::from(had_opt));
    if had_opt {
        out.copy_within(len - OPT_LEN..len, end);
        end += OPT_LEN;
    }
    end.min(len)
}

/// The folded multiply: the high and low halves of the 128-bit product,
/// xored, mix every bit of both inputs.
#[inline]
fn mix(x: u64, key: u64) -> u64 {
    let product = u128::from(x) * u128::from(key);
    (product as u64) ^ (product >> 64) as u64
}

/// The first eight bytes of `bytes`, little-endian.
#[inline]
fn word_at(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

/// Eight bytes with every ASCII capital made small, at once.
#[inline]
fn ascii_lowercase(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let seven_bits = word & (ONES * 0x7f);
    // Per byte, the top bit: above 'Z', and at least 'A'.
    let above_z = seven_bits + ONES * (0x7f - b'Z' as u64);
    let from_a = seven_bits + ONES * (0x80 - b'A' as u64);
    let upper = (from_a ^ above_z) & !word & (ONES * 0x80);
    word | upper >> 2
}

/// A wire name for a log line, in lower case.
fn shown(name: &[u8]) -> String {
    crate::name::Name::from_wire(name).map_or_else(
        |_| "(none)".to_owned(),
        |n| n.to_string().to_ascii_lowercase(),
    )
}

/// Milliseconds on a coarse monotonic clock (wrapping): a vDSO read, no
/// syscall.
fn clock_ms() -> u32 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the struct it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1000)
        .wrapping_add(ts.tv_nsec as u64 / 1_000_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{Cache, Subject, Table, Transport};
    use crate::metrics::Metrics;
    use crate::server::worker::tests::{query, table};
    use crate::wire::MAX_UDP_ANSWER;

    fn config(rate: u32, slip: u32) -> RateLimitConfig {
        RateLimitConfig {
            responses_per_second: rate,
            slip,
            ipv4_prefix_length: 24,
            ipv6_prefix_length: 56,
            exempt: vec![Network::parse("198.51.100.0/24").unwrap()],
            table_size: 1024,
        }
    }

    fn addr(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// A query of type `qtype` for `name` (dotted, relative to the root).
    fn ask(name: &str, qtype: u16) -> Vec<u8> {
        let labels: Vec<&str> = name.split('.').filter(|l| !l.is_empty()).collect();
        let mut packet = query(&labels);
        let at = packet.len() - 4;
        packet[at..at + 2].copy_from_slice(&qtype.to_be_bytes());
        packet
    }

    /// `cache`'s answer to `packet`, twice: the second from the cache
    /// when it keeps it; both must say the same.
    fn answered(table: &Table, cache: &mut Cache, packet: &[u8]) -> (Class, Vec<u8>) {
        let mut out = [0u8; MAX_UDP_ANSWER];
        let first = cache
            .answer(table, packet, Transport::Udp, &mut out)
            .unwrap();
        let again = cache
            .answer(table, packet, Transport::Udp, &mut out)
            .unwrap();
        assert_eq!(first, again, "the cached answer is classed alike");
        (first.class, first.subject.name(packet).to_vec())
    }

    fn wire(name: &str) -> Vec<u8> {
        crate::name::Name::from_text(name, None)
            .unwrap()
            .as_wire()
            .to_vec()
    }

    #[test]
    fn each_response_is_classed_and_about_the_name_rrl_imputes() {
        let table = table();
        let mut cache = Cache::new();
        let a = crate::wire::rtype::A;
        let cases = [
            ("www.example.com.", a, Class::Positive, "www.example.com."),
            ("www.example.com.", 16, Class::NoData, "www.example.com."),
            ("nope.example.com.", a, Class::NxDomain, "example.com."),
            ("x.y.example.com.", a, Class::NxDomain, "example.com."),
            (
                "host.sub.example.com.",
                a,
                Class::Referral,
                "sub.example.com.",
            ),
            (
                "web.apps.example.com.",
                a,
                Class::Wildcard,
                "apps.example.com.",
            ),
            (
                "web.apps.example.com.",
                16,
                Class::Wildcard,
                "apps.example.com.",
            ),
            ("www.example.org.", a, Class::Error, "."),
        ];
        for (name, qtype, class, about) in cases {
            assert_eq!(
                answered(&table, &mut cache, &ask(name, qtype)),
                (class, wire(about)),
                "{name} type {qtype}"
            );
        }
        let mut out = [0u8; MAX_UDP_ANSWER];
        let formerr = cache
            .answer(
                &table,
                b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff",
                Transport::Udp,
                &mut out,
            )
            .unwrap();
        assert_eq!(
            (formerr.class, formerr.subject),
            (Class::Error, Subject::NONE)
        );
    }

    #[test]
    fn flows_differ_by_network_class_and_name_but_not_case() {
        let limit = RateLimit::new(&config(10, 2));
        let v4 = limit.network_bits(addr("192.0.2.1"));
        let name = wire("www.example.com.");
        let flow = limit.flow(v4, Class::Positive, &name);
        assert_eq!(
            flow,
            limit.flow(v4, Class::Positive, &wire("WwW.eXAMPLE.Com."))
        );
        assert_ne!(flow, limit.flow(v4, Class::NoData, &name));
        assert_ne!(
            flow,
            limit.flow(v4, Class::Positive, &wire("www.example.net."))
        );
        assert_ne!(
            flow,
            limit.flow(v4, Class::Positive, &wire("www.example.com.x."))
        );
        assert_eq!(
            flow,
            limit.flow(
                limit.network_bits(addr("192.0.2.200")),
                Class::Positive,
                &name
            )
        );
        assert_ne!(
            flow,
            limit.flow(
                limit.network_bits(addr("192.0.3.1")),
                Class::Positive,
                &name
            )
        );
        assert_ne!(
            flow,
            limit.flow(
                limit.network_bits(addr("::c000:201")),
                Class::Positive,
                &name
            )
        );
        for short in ["a.", "Ab.", "abc.de."] {
            assert_eq!(
                limit.flow(v4, Class::Positive, &wire(short)),
                limit.flow(v4, Class::Positive, &wire(&short.to_ascii_lowercase())),
            );
            assert_ne!(
                limit.flow(v4, Class::Positive, &wire(short)),
                limit.flow(v4, Class::Positive, &wire(&format!("x{short}"))),
            );
        }
        for byte in 0..=255u8 {
            let word = u64::from_le_bytes([byte, b'Q', b'@', b'[', b'z', 0xc1, b'a', b'Z']);
            let want = u64::from_le_bytes([
                byte.to_ascii_lowercase(),
                b'q',
                b'@',
                b'[',
                b'z',
                0xc1,
                b'a',
                b'z',
            ]);
            assert_eq!(ascii_lowercase(word), want, "byte {byte}");
        }
    }

    #[test]
    fn a_bucket_packs_and_refills_without_losing_fractions() {
        let bucket = Bucket {
            tag: 0x7fff,
            limited: true,
            time: 0xdead_beef,
            tokens: 65535,
        };
        assert_eq!(Bucket::unpack(bucket.pack()), bucket);
        // 5 a second asked every 100 ms: half a token each time, kept.
        let mut bucket = Bucket::full(1, 5, 0);
        bucket.tokens = 0;
        let mut earned = 0;
        for step in 1..=10 {
            let before = bucket.tokens;
            bucket.refill(5, step * 100);
            earned += bucket.tokens - before;
        }
        assert_eq!(earned, 5, "a second earns a second's worth");
        // A clock behind the bucket's earns nothing; a second fills it.
        let mut bucket = Bucket::full(1, 50, 10_000);
        bucket.tokens = 3;
        bucket.refill(50, 9_000);
        assert_eq!(bucket.tokens, 3);
        bucket.refill(50, 11_000);
        assert_eq!(bucket.tokens, 50);
    }

    #[test]
    fn a_flow_gets_its_rate_then_is_limited_until_it_earns_more() {
        let limit = RateLimit::new(&config(10, 2));
        let flow = limit.flow(
            limit.network_bits(addr("192.0.2.7")),
            Class::Positive,
            b"\0",
        );
        let other = limit.flow(
            limit.network_bits(addr("203.0.113.7")),
            Class::Positive,
            b"\0",
        );
        let takes: Vec<Take> = (0..13).map(|_| limit.take(flow, 1_000)).collect();
        assert_eq!(&takes[..10], &[Take::Pass; 10]);
        assert_eq!(&takes[10..], &[Take::Started, Take::Limited, Take::Limited]);
        assert_eq!(
            limit.take(other, 1_000),
            Take::Pass,
            "another network has its own"
        );
        assert_eq!(limit.take(flow, 1_100), Take::Pass, "100 ms earn one");
        assert_eq!(limit.take(flow, 1_100), Take::Limited);
        assert!(!limit.stopped(flow, 1_500), "still within its second");
        assert!(limit.stopped(flow, 2_200), "a second under its rate");
        let again: Vec<Take> = (0..11).map(|_| limit.take(flow, 2_200)).collect();
        assert_eq!(again[10], Take::Started, "a new flood is a new start");
    }

    #[test]
    fn one_network_is_one_flow_and_exempt_networks_are_never_limited() {
        let limit = RateLimit::new(&config(1, 1));
        let network = |a| limit.network_bits(addr(a));
        assert_eq!(network("192.0.2.1"), network("192.0.2.254"));
        assert_ne!(network("192.0.2.1"), network("192.0.3.1"));
        assert_eq!(network("2001:db8:0:ff::1"), network("2001:db8:0:1::2"));
        assert_ne!(network("2001:db8:0:100::1"), network("2001:db8::1"));
        let metrics = Metrics::default();
        let mut limiter = Limiter::new(&limit, &metrics.rate_limit);
        let table = table();
        let packet = ask("www.example.com.", 1);
        let mut out = [0u8; MAX_UDP_ANSWER];
        for _ in 0..5 {
            let answered = Cache::new()
                .answer(&table, &packet, Transport::Udp, &mut out)
                .unwrap();
            let judged = limiter.judge(addr("198.51.100.9"), &packet, &answered, &mut out);
            assert_eq!(judged, Some(answered.len));
        }
        limiter.publish();
        assert_eq!(metrics.rate_limit.limited.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn every_slip_th_limited_response_goes_out_truncated_the_rest_are_dropped() {
        let limit = RateLimit::new(&config(2, 3));
        let metrics = Metrics::default();
        let mut limiter = Limiter::new(&limit, &metrics.rate_limit);
        let table = table();
        // With EDNS: the slipped response keeps its OPT record.
        let mut packet = ask("WWW.example.com.", 1);
        packet[11] = 1;
        packet.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
        let mut cache = Cache::new();
        let mut sent = Vec::new();
        for _ in 0..11 {
            let mut out = [0u8; MAX_UDP_ANSWER];
            let answered = cache
                .answer(&table, &packet, Transport::Udp, &mut out)
                .unwrap();
            let judged = limiter.judge(addr("192.0.2.1"), &packet, &answered, &mut out);
            sent.push(judged.map(|len| out[..len].to_vec()));
        }
        limiter.publish();
        let full = sent
            .iter()
            .flatten()
            .filter(|r| header::get(r, ANCOUNT) > 0)
            .count();
        let slipped: Vec<&Vec<u8>> = sent
            .iter()
            .flatten()
            .filter(|r| header::get(r, FLAGS) & flag::TC != 0)
            .collect();
        assert_eq!(full, 2, "the rate");
        assert_eq!(slipped.len(), 3, "every third of the nine limited");
        assert_eq!(sent.iter().filter(|r| r.is_none()).count(), 6);
        let slip = slipped[0];
        let question_end = header::LEN + packet.len() - header::LEN - OPT_LEN;
        assert_eq!(
            &slip[header::LEN..question_end],
            &packet[header::LEN..question_end],
            "the question as asked"
        );
        assert_eq!(
            &slip[question_end..],
            &sent[0].as_ref().unwrap()[sent[0].as_ref().unwrap().len() - OPT_LEN..],
            "the OPT record"
        );
        assert_eq!(
            [QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT].map(|f| header::get(slip, f)),
            [1, 0, 0, 1]
        );
        assert_eq!(header::get(slip, header::ID), 0x1234);
        let counters = &metrics.rate_limit;
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        assert_eq!(
            [
                &counters.limited,
                &counters.slipped,
                &counters.dropped,
                &counters.flows
            ]
            .map(count),
            [9, 3, 6, 1]
        );
    }

    #[test]
    fn random_names_under_one_zone_are_one_flow_and_distinct_names_are_not() {
        let limit = RateLimit::new(&config(3, 0));
        let metrics = Metrics::default();
        let mut limiter = Limiter::new(&limit, &metrics.rate_limit);
        let table = table();
        let mut cache = Cache::new();
        let mut sent = |name: String| {
            let packet = ask(&name, 1);
            let mut out = [0u8; MAX_UDP_ANSWER];
            let answered = cache
                .answer(&table, &packet, Transport::Udp, &mut out)
                .unwrap();
            limiter
                .judge(addr("192.0.2.1"), &packet, &answered, &mut out)
                .is_some()
        };
        let random = (0..10)
            .filter(|i| sent(format!("r{i}.example.com.")))
            .count();
        assert_eq!(random, 3, "NXDOMAIN is about the zone");
        let names = ["www", "mail", "ns1", "ns2"];
        let distinct = names
            .iter()
            .filter(|n| sent(format!("{n}.example.com.")))
            .count();
        assert_eq!(distinct, 4, "each name its own flow");
    }
}
