//! UDP over AF_XDP: queries taken off the interface before the kernel's IP
//! and UDP layers, answered, and sent back through the same frames.
//!
//! On kernel sockets about 90 % of a query's CPU time is the kernel's (see
//! `benches/compare.sh`: even a server doing no DNS work at all is only
//! ~1.1–1.2× gdnsd). An XDP program (`bpf.rs`) redirects plain IPv4 and
//! IPv6 UDP frames for one listener of each to one AF_XDP socket (`xsk.rs`)
//! per interface queue, each served by a worker thread like the socket
//! path's (`server/udp.rs`). Everything the program does not take — IPv4
//! options, IPv6 extension headers, fragments, VLAN tags, a queue without a
//! socket — reaches the UDP socket bound to the same address as before, so
//! turning XDP on never loses a query; TCP is untouched.
//!
//! Needs root (or CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_IPC_LOCK) and
//! Linux ≥ 5.9. On `lo` it runs in the generic (copy) mode, and IPv4
//! replies need `net.ipv4.conf.lo.route_localnet=1` and `accept_local=1`:
//! they arrive without the route a local socket's packet carries.

mod bpf;
pub mod frame;
mod xsk;

use std::net::{SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{Coalesce, SharedTable};
use crate::answer::{Cache, Transport};
use crate::metrics::XdpCounters;
use crate::wire::{MAX_UDP_PAYLOAD, OPT_LEN};
use xsk::Socket;

/// How many times an idle worker looks at the RX ring before it sleeps
/// (a few microseconds): at a few hundred thousand queries a second the
/// next one is usually there by then, and sleeping and being woken cost
/// more than the look. Under dnsperf on lo it cut the worker's `poll`
/// calls from ~84k to ~16k a second (`perf stat -e syscalls:sys_enter_poll`).
const SPIN: u32 = 64;
/// One batch in this many is timed for the response-time histogram.
const TIMED_EVERY: u32 = 8;
/// Frames per round.
const BATCH: u32 = 64;
/// How often an idle worker looks at the shutdown token, in milliseconds.
const WAKE_MS: i32 = 200;
/// Largest UDP answer (the OPT record may go past the payload limit).
const ANSWER_MAX: usize = MAX_UDP_PAYLOAD as usize + OPT_LEN;
/// Largest query taken; a longer one cannot be a sane DNS query over UDP.
const QUERY_MAX: usize = 4096;

/// What went wrong setting XDP up, and on which interface.
#[derive(Debug, thiserror::Error)]
#[error("XDP on {interface}: cannot {step}")]
pub struct XdpError {
    interface: String,
    step: &'static str,
    source: std::io::Error,
}

/// The program attached to an interface and a socket per queue; the
/// program is detached when this is dropped (or the process ends).
pub struct Xdp {
    sockets: Vec<Socket>,
    /// Holds the attachment; closing it detaches the program.
    _link: OwnedFd,
    ours: Ours,
}

impl Xdp {
    /// Attaches to `interface` for the UDP listeners `ours` (any address
    /// when unspecified).
    pub fn open(interface: &str, ours: Ours) -> Result<Xdp, XdpError> {
        let fail = |step| {
            move |source| XdpError {
                interface: interface.to_owned(),
                step,
                source,
            }
        };
        let name = std::ffi::CString::new(interface)
            .map_err(|_| fail("name the interface")(std::io::ErrorKind::InvalidInput.into()))?;
        // SAFETY: a NUL-terminated name; the call only reads it.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(fail("find the interface")(std::io::Error::last_os_error()));
        }
        let queues = queue_count(interface);
        let map = bpf::xsk_map(queues).map_err(fail("create the XSKMAP (needs root)"))?;
        let mut sockets = Vec::new();
        for queue in 0..queues {
            let socket = Socket::open(ifindex, queue).map_err(fail("open an AF_XDP socket"))?;
            bpf::set_socket(&map, queue, socket.fd())
                .map_err(fail("add a socket to the XSKMAP"))?;
            sockets.push(socket);
        }
        let code = bpf::program(
            ours.v4.map(|a| (a.port(), *a.ip())),
            ours.v6.map(|a| (a.port(), *a.ip())),
            map.as_raw_fd(),
            bpf::XDP_PASS,
        );
        let program = bpf::load(&code).map_err(fail("load the XDP program"))?;
        let link = bpf::attach(&program, ifindex).map_err(fail("attach the XDP program"))?;
        if interface == "lo" && ours.v4.is_some() && !loopback_replies_routed() {
            tracing::warn!(
                "XDP on lo: set net.ipv4.conf.lo.route_localnet=1 and net.ipv4.conf.lo.accept_local=1, or the kernel drops the IPv4 replies"
            );
        }
        Ok(Xdp {
            sockets,
            _link: link,
            ours,
        })
    }

    /// Queues served (one worker each).
    pub fn queues(&self) -> usize {
        self.sockets.len()
    }

    /// The workers, one per queue, each to run on a thread of its own;
    /// `self` (the attachment) must outlive them.
    pub fn workers(
        &mut self,
        table: &SharedTable,
        coalesce: Coalesce,
        shutdown: &CancellationToken,
    ) -> Vec<impl FnOnce() + Send + 'static> {
        let ours = self.ours;
        self.sockets
            .drain(..)
            .map(|socket| {
                let (table, shutdown) = (table.clone(), shutdown.clone());
                move || run(socket, ours, table, coalesce, shutdown)
            })
            .collect()
    }
}

/// The interface's receive queues (at least one).
fn queue_count(interface: &str) -> u32 {
    let dir = format!("/sys/class/net/{interface}/queues");
    let count = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count()
        })
        .unwrap_or(0);
    count.max(1) as u32
}

fn loopback_replies_routed() -> bool {
    let on = |key: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{key}"))
            .is_ok_and(|v| v.trim() == "1")
    };
    (on("lo/route_localnet") || on("all/route_localnet"))
        && (on("lo/accept_local") || on("all/accept_local"))
}

/// One queue's worker: until `shutdown`, answers what the RX ring holds,
/// a batch at a time against one load of the table.
fn run(
    mut socket: Socket,
    ours: Ours,
    table: SharedTable,
    mut coalesce: Coalesce,
    shutdown: CancellationToken,
) {
    let mut query = Box::new([0u8; QUERY_MAX]);
    let mut cache = Cache::new();
    let counters = &crate::metrics::global().xdp;
    counters.queues.fetch_add(1, Ordering::Relaxed);
    // This queue's answers, for the line logged when it stops.
    let mut answered: u64 = 0;
    let mut kernel = Kernel::default();
    let mut batches: u32 = 0;
    coalesce.enter_thread();
    while !shutdown.is_cancelled() {
        // A clock read a batch is worth saving: look at it only every
        // 64Ki batches (well under a second busy) and before sleeping.
        batches = batches.wrapping_add(1);
        if batches.is_multiple_of(65536) {
            kernel.publish_now_and_then(&socket, counters);
        }
        socket.recycle();
        let mut received = socket.received(BATCH);
        if received == 0 {
            // Nothing to answer: send what waits. Then, busy and with
            // udp-coalesce, let queries gather; else look again for a
            // moment before sleeping, since going to sleep and being woken
            // costs more than answering several queries.
            socket.flush();
            if coalesce.drained() {
                received = socket.received(BATCH);
            } else {
                for _ in 0..SPIN {
                    received = socket.received(BATCH);
                    if received > 0 {
                        break;
                    }
                    std::hint::spin_loop();
                }
            }
            if received == 0 {
                kernel.publish_now_and_then(&socket, counters);
                socket.wait(WAKE_MS);
                continue;
            }
        }
        let table = table.load();
        // One batch in TIMED_EVERY is timed (XDP batches are small at
        // these rates, and two clock reads a batch were ~2 % of the CPU);
        // the histogram is a sample of answers, its mean still right.
        let started = batches.is_multiple_of(TIMED_EVERY).then(Instant::now);
        // Ahead of each query: the frame two on (the kernel wrote it on
        // another CPU), and the cache slot of the next one, whose frame
        // came in one query ago.
        socket.prefetch(0);
        if received > 1 {
            socket.prefetch(1);
        }
        let mut sent = 0;
        for k in 0..received {
            if k + 2 < received {
                socket.prefetch(k + 2);
            }
            if k + 1 < received {
                cache.prefetch(frame::payload(socket.peek_frame(k + 1)));
            }
            let (frame_addr, len, frame) = socket.frame(k);
            match answer(&table, &mut cache, frame, len, ours, &mut query) {
                Some(reply_len) => {
                    socket.send(frame_addr, reply_len);
                    sent += 1;
                }
                None => socket.drop_frame(frame_addr),
            }
        }
        answered += sent;
        cache.publish(&crate::metrics::global().cached);
        coalesce.answered(received);
        counters.answered.fetch_add(sent, Ordering::Relaxed);
        if sent < u64::from(received) {
            counters
                .dropped
                .fetch_add(u64::from(received) - sent, Ordering::Relaxed);
        }
        if let Some(started) = started {
            crate::metrics::global()
                .response
                .observe_many(started.elapsed() / received, u64::from(received));
        }
        socket.finish(received);
    }
    // Replies still waiting for a kick go out before the socket closes.
    socket.flush();
    kernel.publish(&socket, counters);
    counters.queues.fetch_sub(1, Ordering::Relaxed);
    if let Some(stats) = socket.statistics() {
        tracing::info!(
            answered,
            rx_dropped = stats.rx_dropped,
            rx_ring_full = stats.rx_ring_full,
            fill_ring_empty = stats.rx_fill_ring_empty_descs,
            "XDP queue stopped"
        );
    }
}

/// The kernel's drop counters of one socket as last added to the metrics.
#[derive(Default)]
struct Kernel {
    published: [u64; 3],
    at: Option<Instant>,
}

impl Kernel {
    /// [`Kernel::publish`] when a second has passed: a `getsockopt` a
    /// second, not one per batch.
    fn publish_now_and_then(&mut self, socket: &Socket, counters: &XdpCounters) {
        if self
            .at
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            self.publish(socket, counters);
        }
    }

    /// Adds what the kernel counted since the last call.
    fn publish(&mut self, socket: &Socket, counters: &XdpCounters) {
        self.at = Some(Instant::now());
        let Some(stats) = socket.statistics() else {
            return;
        };
        let now = [
            stats.rx_dropped,
            stats.rx_ring_full,
            stats.rx_fill_ring_empty_descs,
        ];
        let targets = [
            &counters.rx_dropped,
            &counters.rx_ring_full,
            &counters.fill_ring_empty,
        ];
        for ((now, before), counter) in now.iter().zip(&mut self.published).zip(targets) {
            counter.fetch_add(now.saturating_sub(*before), Ordering::Relaxed);
            *before = *now;
        }
    }
}

/// Answers the query in `frame` (`len` bytes received) in place; the
/// reply frame's length, or `None` to drop it.
fn answer(
    table: &crate::answer::Table,
    cache: &mut Cache,
    frame: &mut [u8],
    len: usize,
    ours: Ours,
    query: &mut [u8; QUERY_MAX],
) -> Option<usize> {
    let ipv6 = frame::is_ipv6(frame);
    let (message, at) = match (ipv6, ours.v4, ours.v6) {
        (false, Some(v4), _) => (
            frame::query(&frame[..len], v4.port(), *v4.ip())?,
            frame::PAYLOAD_AT,
        ),
        (true, _, Some(v6)) => (
            frame::query6(&frame[..len], v6.port(), *v6.ip())?,
            frame::PAYLOAD_AT6,
        ),
        _ => return None,
    };
    let query = query.get_mut(..message.len())?;
    query.copy_from_slice(&frame[message]);
    let room = frame.len().min(at + ANSWER_MAX);
    let out = frame.get_mut(at..room)?;
    let answer_len = cache.respond(table, query, Transport::Udp, out)?;
    Some(if ipv6 {
        frame::reply6(frame, answer_len)
    } else {
        frame::reply(frame, answer_len)
    })
}

/// The UDP listeners XDP answers for: an IPv4 and an IPv6 one, each with
/// its port and its address (unspecified: any address).
#[derive(Debug, Clone, Copy)]
pub struct Ours {
    /// The IPv4 listener, if any.
    pub v4: Option<SocketAddrV4>,
    /// The IPv6 listener, if any.
    pub v6: Option<SocketAddrV6>,
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::serialize::binary::BinDecodable;

    use super::*;
    use crate::answer::{Table, build};

    use std::net::Ipv4Addr;

    const OURS: Ours = Ours {
        v4: Some(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 53), 53)),
        v6: None,
    };

    fn table() -> Table {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/example.com.zone");
        let zone = crate::zone::load(&path, None)
            .expect("the example zone")
            .zone;
        build(&[zone], &Default::default())
    }

    /// A query for `name` (labels) type A with ID 0x1234, in a frame from
    /// 192.0.2.7:40000 to 192.0.2.53:53, padded to the room a UMEM frame
    /// leaves in copy mode.
    fn query_frame(labels: &[&str]) -> (Vec<u8>, usize) {
        let mut dns = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in labels {
            dns.push(label.len() as u8);
            dns.extend(label.as_bytes());
        }
        dns.extend([0, 0, 1, 0, 1]);
        let mut frame = frame::tests::frame(&dns);
        let len = frame.len();
        frame.resize(xsk::FRAME_SIZE as usize - 256, 0);
        (frame, len)
    }

    #[test]
    fn a_query_frame_becomes_its_answer_in_place() {
        let table = table();
        let mut scratch = Box::new([0u8; QUERY_MAX]);
        let (mut f, len) = query_frame(&["www", "example", "com"]);
        let reply =
            answer(&table, &mut Cache::new(), &mut f, len, OURS, &mut scratch).expect("an answer");
        // Back to the client, from the address it asked.
        assert_eq!(f[0..6], [2, 0, 0, 0, 0, 7]);
        assert_eq!(
            (&f[26..30], &f[30..34]),
            (&[192, 0, 2, 53][..], &[192, 0, 2, 7][..])
        );
        assert_eq!(u16::from_be_bytes([f[36], f[37]]), 40000);
        assert_eq!(
            frame::query(&f[..reply], 40000, Ipv4Addr::UNSPECIFIED),
            Some(frame::PAYLOAD_AT..reply)
        );
        let message = Message::from_bytes(&f[frame::PAYLOAD_AT..reply]).expect("a DNS message");
        assert_eq!(message.metadata.id, 0x1234);
        assert!(message.metadata.authoritative);
        assert_eq!(message.answers.len(), 1, "{message:?}");
        let (mut f, len) = query_frame(&["nope", "example", "com"]);
        let reply = answer(&table, &mut Cache::new(), &mut f, len, OURS, &mut scratch).unwrap();
        let message = Message::from_bytes(&f[frame::PAYLOAD_AT..reply]).unwrap();
        assert_eq!(message.metadata.response_code, ResponseCode::NXDomain);
    }

    #[test]
    fn an_ipv6_query_frame_becomes_its_answer_in_place() {
        let table = table();
        let mut scratch = Box::new([0u8; QUERY_MAX]);
        let (f4, len4) = query_frame(&["www", "example", "com"]);
        let mut f = frame::tests::frame6(&f4[frame::PAYLOAD_AT..len4]);
        let len = f.len();
        f.resize(xsk::FRAME_SIZE as usize - 256, 0);
        let ours = Ours {
            v4: None,
            v6: Some(SocketAddrV6::new(frame::tests::SERVER6, 53, 0, 0)),
        };
        let reply =
            answer(&table, &mut Cache::new(), &mut f, len, ours, &mut scratch).expect("an answer");
        let message = Message::from_bytes(&f[frame::PAYLOAD_AT6..reply]).expect("a DNS message");
        assert_eq!(message.metadata.id, 0x1234);
        assert_eq!(message.answers.len(), 1, "{message:?}");
        assert_eq!(
            frame::query6(&f[..reply], 40000, std::net::Ipv6Addr::UNSPECIFIED),
            Some(frame::PAYLOAD_AT6..reply)
        );
    }

    #[test]
    fn frames_not_for_us_or_not_dns_get_no_answer() {
        let table = table();
        let mut scratch = Box::new([0u8; QUERY_MAX]);
        let (mut f, len) = query_frame(&["www", "example", "com"]);
        let elsewhere = Ours {
            v4: Some(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 53), 5353)),
            v6: None,
        };
        assert_eq!(
            answer(
                &table,
                &mut Cache::new(),
                &mut f,
                len,
                elsewhere,
                &mut scratch
            ),
            None
        );
        // An IPv6 frame when no IPv6 listener is ours.
        let mut f = frame::tests::frame6(&f[frame::PAYLOAD_AT..len]);
        let len6 = f.len();
        assert_eq!(
            answer(&table, &mut Cache::new(), &mut f, len6, OURS, &mut scratch),
            None
        );
        let mut f = frame::tests::frame(b"\x12");
        let len = f.len();
        assert_eq!(
            answer(&table, &mut Cache::new(), &mut f, len, OURS, &mut scratch),
            None,
            "no header"
        );
    }
}
