//! The UDP worker loop, one for both transports: kernel sockets (`udp.rs`,
//! `recvmmsg`/`sendmmsg`) and AF_XDP (`xdp/`), as Knot drives its one UDP
//! handler over a table of transport functions (`udp_api_t`).
//!
//! A worker is a plain thread that owns its transport and its response
//! cache for life. Per batch it loads the table once, answers every query
//! against that load through the cache, prefetching the next query's cache
//! entry while it answers one, and hands the answers to the transport to
//! send. The transport is a type parameter, so each worker's loop is
//! compiled for its own: no call through a pointer per query.
//!
//! Per query the loop makes no syscall, reads no clock, takes no lock and
//! allocates nothing; what a transport does per batch, and when it has
//! nothing to answer, is its own.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::rate_limit::{Limiter, RateLimit};
use super::{Coalesce, SharedTable};
use crate::answer::{Cache, Transport};
use crate::metrics::Metrics;

/// Largest UDP query taken; a longer one cannot be a sane DNS query.
pub(super) const QUERY_MAX: usize = 4096;
/// How often an idle worker looks at the shutdown token.
pub(super) const WAKE: Duration = Duration::from_millis(200);

/// Where a worker's queries come from and its answers go, a batch at a
/// time. Query indices are below the count the batch was received with.
pub(super) trait Datagrams {
    /// Takes the next batch of queries; how many (zero: none came).
    fn receive(&mut self) -> usize;

    /// None came: pauses when drained (`udp-coalesce`, through `coalesce`),
    /// or waits a while; how many arrived meanwhile, taken as the next
    /// batch (zero: none, the loop goes round again).
    fn idle(&mut self, coalesce: &mut Coalesce) -> usize;

    /// Whether this batch is timed for the response-time histogram.
    fn timed(&self) -> bool;

    /// Asks the CPU to start loading query `i`'s bytes, ahead of use.
    fn prefetch(&self, _i: usize) {}

    /// Query `i`'s DNS message as received (maybe malformed: only to
    /// prefetch its cache entry).
    fn peek(&self, i: usize) -> &[u8];

    /// The address query `i` came from, if known: asked only when rate
    /// limiting is on.
    fn source(&self, i: usize) -> Option<IpAddr>;

    /// Answers query `i`: `respond` writes the answer to a query into the
    /// buffer given and says its length, or `None` for no answer. Queues
    /// the answer to be sent, or drops the query; true when answered.
    fn answer(&mut self, i: usize, respond: impl FnOnce(&[u8], &mut [u8]) -> Option<usize>)
    -> bool;

    /// Ends a batch of `received` queries, `answered` of them answered:
    /// sends the answers, and may look at `coalesce` to tell whether it is
    /// drained.
    fn finish(&mut self, received: usize, answered: usize, coalesce: &mut Coalesce);

    /// The worker stops: sends what waits, says what it did.
    fn stop(&mut self) {}
}

/// Runs a worker over `io` on this thread until `shutdown` is cancelled,
/// limiting its responses' rates with `rate_limit` when given.
pub(super) fn run<D: Datagrams>(
    mut io: D,
    table: SharedTable,
    mut coalesce: Coalesce,
    metrics: &Metrics,
    rate_limit: Option<&RateLimit>,
    shutdown: CancellationToken,
) {
    let mut cache = Cache::new();
    let mut limiter = rate_limit.map(|shared| Limiter::new(shared, &metrics.rate_limit));
    coalesce.enter_thread();
    while !shutdown.is_cancelled() {
        let mut received = io.receive();
        if let Some(limiter) = &mut limiter {
            limiter.tick();
        }
        if received == 0 {
            received = io.idle(&mut coalesce);
            count_pauses(&mut coalesce, metrics);
            if received == 0 {
                continue;
            }
        }
        let table = table.load();
        // Timed per batch, not per query: each answer is recorded as the
        // batch's mean, and two clock reads per query would cost more
        // than a cached answer.
        let started = io.timed().then(Instant::now);
        // Ahead of each query: its bytes two on, and the cache entry of the
        // next one, whose bytes came in one query ago.
        io.prefetch(0);
        if received > 1 {
            io.prefetch(1);
        }
        let mut answered = 0;
        for i in 0..received {
            if i + 2 < received {
                io.prefetch(i + 2);
            }
            if i + 1 < received {
                cache.prefetch(io.peek(i + 1));
            }
            let source = limiter.as_ref().and_then(|_| io.source(i));
            let respond = |query: &[u8], out: &mut [u8]| {
                let answered = cache.answer(&table, query, Transport::Udp, out)?;
                match (&mut limiter, source) {
                    (Some(limiter), Some(source)) => limiter.judge(source, query, &answered, out),
                    _ => Some(answered.len),
                }
            };
            if io.answer(i, respond) {
                answered += 1;
            }
        }
        if let Some(started) = started {
            metrics
                .response
                .observe_many(started.elapsed() / received as u32, received as u64);
        }
        cache.publish(&metrics.cached);
        if let Some(limiter) = &mut limiter {
            limiter.publish();
        }
        coalesce.answered(received as u32);
        io.finish(received, answered, &mut coalesce);
        count_pauses(&mut coalesce, metrics);
    }
    io.stop();
}

/// Adds the pauses `coalesce` took since it was last asked to the shared
/// count: a branch per batch or idle round, the atomic only after a pause.
#[inline]
fn count_pauses(coalesce: &mut Coalesce, metrics: &Metrics) {
    let pauses = coalesce.take_pauses();
    if pauses > 0 {
        metrics.udp_pauses.fetch_add(pauses, Ordering::Relaxed);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use arc_swap::ArcSwap;

    use crate::wire::MAX_UDP_ANSWER;

    use super::*;
    use crate::answer::{Table, build, respond};

    /// A transport in memory: hands out `batches` in order (an empty one
    /// is a round in which none came), records what the loop did, and
    /// cancels `shutdown` once out of batches.
    #[derive(Default)]
    struct Fake {
        batches: Vec<Vec<Vec<u8>>>,
        current: Vec<Vec<u8>>,
        answers: Vec<Option<Vec<u8>>>,
        idles: usize,
        finished: Vec<(usize, usize)>,
        stopped: bool,
        shutdown: CancellationToken,
    }

    impl Datagrams for &mut Fake {
        fn receive(&mut self) -> usize {
            if self.batches.is_empty() {
                self.shutdown.cancel();
            } else {
                self.current = self.batches.remove(0);
            }
            self.current.len()
        }

        fn idle(&mut self, _coalesce: &mut Coalesce) -> usize {
            self.idles += 1;
            0
        }

        fn timed(&self) -> bool {
            true
        }

        fn peek(&self, i: usize) -> &[u8] {
            &self.current[i]
        }

        fn source(&self, _i: usize) -> Option<IpAddr> {
            Some(IpAddr::from([192, 0, 2, 1]))
        }

        fn answer(
            &mut self,
            i: usize,
            respond: impl FnOnce(&[u8], &mut [u8]) -> Option<usize>,
        ) -> bool {
            let mut out = [0; MAX_UDP_ANSWER];
            let len = respond(&self.current[i], &mut out);
            self.answers.push(len.map(|len| out[..len].to_vec()));
            len.is_some()
        }

        fn finish(&mut self, received: usize, answered: usize, _coalesce: &mut Coalesce) {
            self.finished.push((received, answered));
            self.current.clear();
        }

        fn stop(&mut self) {
            self.stopped = true;
        }
    }

    /// The table of the shipped example zone.
    pub(in crate::server) fn table() -> Table {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/example.com.zone");
        let zone = crate::zone::load(&path, None)
            .expect("the example zone")
            .zone;
        build(&[zone], &Default::default())
    }

    /// A query for `name` (labels) type A with ID 0x1234.
    pub(in crate::server) fn query(labels: &[&str]) -> Vec<u8> {
        let mut dns = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in labels {
            dns.push(label.len() as u8);
            dns.extend(label.as_bytes());
        }
        dns.extend([0, 0, 1, 0, 1]);
        dns
    }

    #[test]
    fn every_query_of_a_batch_is_answered_as_respond_answers_it() {
        let www = query(&["www", "example", "com"]);
        let nowhere = query(&["nope", "example", "com"]);
        let mut fake = Fake {
            batches: vec![
                vec![www.clone(), nowhere.clone(), b"\x12".to_vec()],
                vec![],
                vec![www.clone(), www.clone()],
            ],
            ..Fake::default()
        };
        let shutdown = fake.shutdown.clone();
        let table = Arc::new(ArcSwap::from_pointee(table()));
        let metrics = Metrics::default();
        run(
            &mut fake,
            table.clone(),
            Coalesce::default(),
            &metrics,
            None,
            shutdown,
        );
        let want = |query: &[u8]| {
            let mut out = [0; MAX_UDP_ANSWER];
            respond(&table.load(), query, Transport::Udp, &mut out).map(|n| out[..n].to_vec())
        };
        let (answer, nxdomain) = (want(&www), want(&nowhere));
        assert!(answer.is_some() && nxdomain.is_some());
        assert_eq!(
            fake.answers,
            [answer.clone(), nxdomain, None, answer.clone(), answer],
            "the cache answers the second asking as the first"
        );
        assert_eq!(fake.finished, [(3, 2), (2, 2)], "(received, answered)");
        assert_eq!(fake.idles, 2, "the empty round, and the last");
        assert!(fake.stopped);
        assert_eq!(
            metrics.cached.load(Ordering::Relaxed),
            2,
            "counted where given"
        );
        assert_eq!(metrics.response.totals().0, 5, "every answer timed");
    }
}
