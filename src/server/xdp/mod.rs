//! UDP over AF_XDP: queries taken off the interface before the kernel's IP
//! and UDP layers, answered, and sent back through the same frames.
//!
//! On kernel sockets most of a query's CPU time is the kernel's (see
//! `benches/compare.sh`, which also runs a server doing no DNS work at
//! all). An XDP program (`bpf.rs`) redirects plain IPv4 and IPv6 UDP
//! frames for one listener of each to one AF_XDP socket (`xsk.rs`) per
//! interface queue, each served by a worker thread running the UDP worker
//! loop (`server/worker.rs`) over the socket's rings. Everything the
//! program does not take — IPv4 options, IPv6 extension headers,
//! fragments, VLAN tags, a queue without a socket — reaches the UDP socket
//! bound to the same address as before, so turning XDP on never loses a
//! query; TCP is untouched.
//!
//! Needs root (or CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_IPC_LOCK) and
//! Linux ≥ 5.9. On `lo` it runs in the generic (copy) mode, and IPv4
//! replies need `net.ipv4.conf.lo.route_localnet=1` and `accept_local=1`:
//! they arrive without the route a local socket's packet carries.

mod bpf;
pub mod frame;
mod xsk;

use std::net::{IpAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::worker::{self, Datagrams, QUERY_MAX, WAKE};
use super::{Coalesce, Settings, SharedTable};
use crate::metrics::{Metrics, XdpCounters};
use crate::wire::MAX_UDP_ANSWER;
use xsk::Socket;

/// How many times an idle worker looks at the RX ring before it sleeps
/// (a few microseconds): at a busy worker's rate the next query is usually
/// there by then, and sleeping and being woken cost more than the look
/// (`perf stat -e syscalls:sys_enter_poll` counts the sleeps it saves).
const SPIN: u32 = 64;
/// One batch in this many is timed for the response-time histogram: XDP
/// batches are small at the rates it serves, and a clock read per batch
/// shows in its CPU profile; the histogram is a sample of answers, its
/// mean still right.
const TIMED_EVERY: u32 = 8;
/// Frames per round.
const BATCH: u32 = 64;

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
        settings: &Settings,
        shutdown: &CancellationToken,
    ) -> Vec<impl FnOnce() + Send + 'static> {
        let ours = self.ours;
        self.sockets
            .drain(..)
            .map(|socket| {
                let (table, shutdown) = (table.clone(), shutdown.clone());
                let (coalesce, metrics) = (settings.udp_coalesce, settings.metrics.clone());
                let rate_limit = settings.rate_limit.clone();
                move || {
                    let queue = XdpQueue::new(socket, ours, metrics.clone());
                    worker::run(
                        queue,
                        table,
                        coalesce,
                        &metrics,
                        rate_limit.as_deref(),
                        shutdown,
                    )
                }
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

/// One queue's AF_XDP socket as a worker's transport: queries are answered
/// in place in their frames, which go back out on the TX ring.
struct XdpQueue {
    socket: Socket,
    ours: Ours,
    /// The query being answered, copied out of its frame, since its answer
    /// is written over it.
    query: Box<[u8; QUERY_MAX]>,
    /// Where the queues' counters are (`metrics.xdp`).
    metrics: Arc<Metrics>,
    kernel: Kernel,
    /// Rounds so far, with queries or without: one batch in
    /// [`TIMED_EVERY`] is timed, and the kernel's counters are looked at
    /// now and then.
    batches: u32,
    /// This queue's answers, for the line logged when it stops.
    answered: u64,
}

impl XdpQueue {
    fn new(socket: Socket, ours: Ours, metrics: Arc<Metrics>) -> XdpQueue {
        metrics.xdp.queues.fetch_add(1, Ordering::Relaxed);
        XdpQueue {
            socket,
            ours,
            query: Box::new([0; QUERY_MAX]),
            metrics,
            kernel: Kernel::default(),
            batches: 0,
            answered: 0,
        }
    }
}

impl Datagrams for XdpQueue {
    fn receive(&mut self) -> usize {
        // A clock read a batch is worth saving: the kernel's counters are
        // looked at only every 64Ki batches (well under a second busy) and
        // before sleeping.
        self.batches = self.batches.wrapping_add(1);
        if self.batches.is_multiple_of(65536) {
            self.kernel
                .publish_now_and_then(&self.socket, &self.metrics.xdp);
        }
        self.socket.recycle();
        self.socket.received(BATCH) as usize
    }

    /// Sends what waits. Then, busy and with udp-coalesce, lets queries
    /// gather; else looks again for a moment before sleeping, since going
    /// to sleep and being woken costs more than answering several queries.
    fn idle(&mut self, coalesce: &mut Coalesce) -> usize {
        self.socket.flush();
        let mut received = 0;
        if coalesce.drained() {
            received = self.socket.received(BATCH);
        } else {
            for _ in 0..SPIN {
                received = self.socket.received(BATCH);
                if received > 0 {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        if received == 0 {
            self.kernel
                .publish_now_and_then(&self.socket, &self.metrics.xdp);
            self.socket.wait(WAKE.as_millis() as i32);
        }
        received as usize
    }

    fn timed(&self) -> bool {
        self.batches.is_multiple_of(TIMED_EVERY)
    }

    /// The kernel wrote the frame on another CPU.
    fn prefetch(&self, i: usize) {
        self.socket.prefetch(i as u32);
    }

    fn peek(&self, i: usize) -> &[u8] {
        frame::payload(self.socket.peek_frame(i as u32))
    }

    fn source(&self, i: usize) -> Option<IpAddr> {
        frame::source(self.socket.peek_frame(i as u32))
    }

    fn answer(
        &mut self,
        i: usize,
        respond: impl FnOnce(&[u8], &mut [u8]) -> Option<usize>,
    ) -> bool {
        let (frame_addr, len, frame) = self.socket.frame(i as u32);
        match answer(frame, len, self.ours, &mut self.query, respond) {
            Some(reply_len) => {
                self.socket.send(frame_addr, reply_len);
                true
            }
            None => {
                self.socket.drop_frame(frame_addr);
                false
            }
        }
    }

    fn finish(&mut self, received: usize, answered: usize, _coalesce: &mut Coalesce) {
        let (received, answered) = (received as u64, answered as u64);
        self.answered += answered;
        self.metrics
            .xdp
            .answered
            .fetch_add(answered, Ordering::Relaxed);
        if answered < received {
            self.metrics
                .xdp
                .dropped
                .fetch_add(received - answered, Ordering::Relaxed);
        }
        self.socket.finish(received as u32);
    }

    /// Replies still waiting for a kick go out before the socket closes.
    fn stop(&mut self) {
        self.socket.flush();
        self.kernel.publish(&self.socket, &self.metrics.xdp);
        self.metrics.xdp.queues.fetch_sub(1, Ordering::Relaxed);
        if let Some(stats) = self.socket.statistics() {
            tracing::info!(
                answered = self.answered,
                rx_dropped = stats.rx_dropped,
                rx_ring_full = stats.rx_ring_full,
                fill_ring_empty = stats.rx_fill_ring_empty_descs,
                "XDP queue stopped"
            );
        }
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

/// Answers the query in `frame` (`len` bytes received) in place, its DNS
/// message copied to `query` for `respond` to answer; the reply frame's
/// length, or `None` to drop it.
fn answer(
    frame: &mut [u8],
    len: usize,
    ours: Ours,
    query: &mut [u8; QUERY_MAX],
    respond: impl FnOnce(&[u8], &mut [u8]) -> Option<usize>,
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
    let room = frame.len().min(at + MAX_UDP_ANSWER);
    let out = frame.get_mut(at..room)?;
    let answer_len = respond(query, out)?;
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
    use crate::answer::{Cache, Table, Transport};
    use crate::server::worker::tests::{query, table};

    use std::net::Ipv4Addr;

    const OURS: Ours = Ours {
        v4: Some(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 53), 53)),
        v6: None,
    };

    /// [`answer`] through a fresh response cache over `table`, as a
    /// worker answers.
    fn respond(
        table: &Table,
        frame: &mut [u8],
        len: usize,
        ours: Ours,
        scratch: &mut [u8; QUERY_MAX],
    ) -> Option<usize> {
        answer(frame, len, ours, scratch, |message, out| {
            Cache::new().respond(table, message, Transport::Udp, out)
        })
    }

    /// A query for `name` (labels) type A with ID 0x1234, in a frame from
    /// 192.0.2.7:40000 to 192.0.2.53:53, padded to the room a UMEM frame
    /// leaves in copy mode.
    fn query_frame(labels: &[&str]) -> (Vec<u8>, usize) {
        let mut frame = frame::tests::frame(&query(labels));
        let len = frame.len();
        frame.resize(xsk::FRAME_SIZE as usize - 256, 0);
        (frame, len)
    }

    #[test]
    fn a_query_frame_becomes_its_answer_in_place() {
        let table = table();
        let mut scratch = Box::new([0u8; QUERY_MAX]);
        let (mut f, len) = query_frame(&["www", "example", "com"]);
        let reply = respond(&table, &mut f, len, OURS, &mut scratch).expect("an answer");
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
        let reply = respond(&table, &mut f, len, OURS, &mut scratch).unwrap();
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
        let reply = respond(&table, &mut f, len, ours, &mut scratch).expect("an answer");
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
        assert_eq!(respond(&table, &mut f, len, elsewhere, &mut scratch), None);
        // An IPv6 frame when no IPv6 listener is ours.
        let mut f = frame::tests::frame6(&f[frame::PAYLOAD_AT..len]);
        let len6 = f.len();
        assert_eq!(respond(&table, &mut f, len6, OURS, &mut scratch), None);
        let mut f = frame::tests::frame(b"\x12");
        let len = f.len();
        assert_eq!(
            respond(&table, &mut f, len, OURS, &mut scratch),
            None,
            "no header"
        );
    }
}
