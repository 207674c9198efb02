//! Kernel UDP sockets as a worker's transport ([`super::worker`]): up to
//! [`BATCH`] datagrams taken with one `recvmmsg`, their answers sent with
//! one `sendmmsg` — the design of gdnsd and Knot.
//!
//! Per datagram it makes no syscall and allocates nothing: the buffers,
//! iovecs and address slots are the worker's for its whole life. A receive
//! timeout (`SO_RCVTIMEO`) wakes the thread now and then to notice
//! shutdown.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::os::fd::AsRawFd;

use tokio_util::sync::CancellationToken;

use super::plain::zeroed;
use super::rate_limit::RateLimit;
use super::worker::{self, Datagrams, QUERY_MAX, WAKE};
use super::{Coalesce, SharedTable};
use crate::metrics::Metrics;
use crate::wire::MAX_UDP_ANSWER;

/// Datagrams per `recvmmsg`.
const BATCH: usize = 32;

/// Runs a worker on `socket` on this thread until `shutdown` is cancelled.
pub(super) fn run(
    socket: UdpSocket,
    table: SharedTable,
    coalesce: Coalesce,
    metrics: &Metrics,
    rate_limit: Option<&RateLimit>,
    shutdown: CancellationToken,
) {
    match KernelUdp::new(socket) {
        Ok(io) => worker::run(io, table, coalesce, metrics, rate_limit, shutdown),
        Err(err) => tracing::error!(%err, "cannot set up UDP socket"),
    }
}

/// How the next `recvmmsg` looks at the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// It waits for the first datagram, up to the receive timeout.
    Wait,
    /// It does not wait (`MSG_DONTWAIT`): the last batch was not full and
    /// the worker is busy enough for `udp-coalesce` to pause, but it pauses
    /// only if the socket is drained, which only a non-blocking receive can
    /// tell. Answering took a while: more may be waiting already.
    Look,
    /// That look found the socket drained: pause, then wait as usual.
    Drained,
}

/// One UDP socket and its batch buffers.
struct KernelUdp {
    socket: UdpSocket,
    batch: Batch,
    next: Next,
    /// Answers queued for the next `sendmmsg`.
    queued: usize,
}

impl KernelUdp {
    /// Makes `socket` blocking with the receive timeout [`WAKE`].
    fn new(socket: UdpSocket) -> std::io::Result<KernelUdp> {
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(WAKE))?;
        Ok(KernelUdp {
            socket,
            batch: Batch::new(),
            next: Next::Wait,
            queued: 0,
        })
    }
}

impl Datagrams for KernelUdp {
    fn receive(&mut self) -> usize {
        let flags = if self.next == Next::Look {
            libc::MSG_DONTWAIT
        } else {
            libc::MSG_WAITFORONE
        };
        match self.batch.receive(&self.socket, flags) {
            Ok(received) => received,
            Err(err) if self.next == Next::Look && err.kind() == std::io::ErrorKind::WouldBlock => {
                self.next = Next::Drained;
                0
            }
            Err(err) => {
                if !matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) {
                    tracing::debug!(%err, "UDP receive failed");
                }
                0
            }
        }
    }

    /// A receive that waited came back empty (the timeout) or failed: go
    /// round again. One that looked found the socket drained: pause.
    fn idle(&mut self, coalesce: &mut Coalesce) -> usize {
        if self.next == Next::Drained {
            self.next = Next::Wait;
            coalesce.drained();
        }
        0
    }

    /// Every batch: beside its two syscalls, a batch's clock reads are
    /// noise.
    fn timed(&self) -> bool {
        true
    }

    fn peek(&self, i: usize) -> &[u8] {
        // msg_len is the datagram's length, which may exceed the buffer.
        let len = (self.batch.receive[i].msg_len as usize).min(QUERY_MAX);
        &self.batch.queries[i][..len]
    }

    fn source(&self, i: usize) -> Option<IpAddr> {
        peer_address(&self.batch.peers[i])
    }

    fn answer(
        &mut self,
        i: usize,
        respond: impl FnOnce(&[u8], &mut [u8]) -> Option<usize>,
    ) -> bool {
        let batch = &mut self.batch;
        let message = &batch.receive[i];
        // A datagram longer than QUERY_MAX was cut short: drop it.
        if message.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return false;
        }
        let query = &batch.queries[i][..message.msg_len as usize];
        let Some(len) = respond(query, &mut batch.answers[self.queued]) else {
            return false;
        };
        batch.prepare_send(self.queued, i, len);
        self.queued += 1;
        true
    }

    /// Sends the answers. A batch that was not full may have drained the
    /// socket: when the worker is busy enough for `udp-coalesce` to pause,
    /// the next receive looks first, and it pauses only if the socket is
    /// drained; else the worker counts as drained now and the next receive
    /// waits as usual.
    fn finish(&mut self, received: usize, _answered: usize, coalesce: &mut Coalesce) {
        if let Err(err) = self.batch.send(&self.socket, self.queued) {
            tracing::debug!(%err, "UDP send failed");
        }
        self.queued = 0;
        self.next = Next::Wait;
        if received < BATCH {
            if coalesce.wants_pause() {
                self.next = Next::Look;
            } else {
                coalesce.drained();
            }
        }
    }
}

/// The address in a peer's `sockaddr`; an IPv4-mapped IPv6 one (a dual-stack
/// socket) as the IPv4 address it is.
fn peer_address(peer: &libc::sockaddr_storage) -> Option<IpAddr> {
    match libc::c_int::from(peer.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for any.
            let v4 =
                unsafe { &*(peer as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, a sockaddr_in6.
            let v6 =
                unsafe { &*(peer as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let addr = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(addr.to_ipv4_mapped().map_or(IpAddr::V6(addr), IpAddr::V4))
        }
        _ => None,
    }
}

/// Everything one `recvmmsg`/`sendmmsg` round needs, allocated once.
struct Batch {
    queries: Box<[[u8; QUERY_MAX]; BATCH]>,
    answers: Box<[[u8; MAX_UDP_ANSWER]; BATCH]>,
    peers: Box<[libc::sockaddr_storage; BATCH]>,
    receive_iov: Box<[libc::iovec; BATCH]>,
    receive: Box<[libc::mmsghdr; BATCH]>,
    send_iov: Box<[libc::iovec; BATCH]>,
    send: Box<[libc::mmsghdr; BATCH]>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            queries: Box::new([[0; QUERY_MAX]; BATCH]),
            answers: Box::new([[0; MAX_UDP_ANSWER]; BATCH]),
            peers: Box::new(zeroed()),
            receive_iov: Box::new(zeroed()),
            receive: Box::new(zeroed()),
            send_iov: Box::new(zeroed()),
            send: Box::new(zeroed()),
        }
    }

    /// Takes up to [`BATCH`] datagrams; returns how many. With
    /// `MSG_WAITFORONE` it waits for the first (up to the socket's receive
    /// timeout), with `MSG_DONTWAIT` not at all.
    fn receive(&mut self, socket: &UdpSocket, flags: libc::c_int) -> std::io::Result<usize> {
        for i in 0..BATCH {
            self.receive_iov[i] = libc::iovec {
                iov_base: self.queries[i].as_mut_ptr().cast(),
                iov_len: QUERY_MAX,
            };
            let header = &mut self.receive[i].msg_hdr;
            header.msg_name = (&mut self.peers[i] as *mut libc::sockaddr_storage).cast();
            header.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_iov = &mut self.receive_iov[i];
            header.msg_iovlen = 1;
            header.msg_control = std::ptr::null_mut();
            header.msg_controllen = 0;
            header.msg_flags = 0;
            self.receive[i].msg_len = 0;
        }
        // SAFETY: every header points at buffers owned by `self` that live
        // as long as the call; the kernel writes at most the lengths given.
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.receive.as_mut_ptr(),
                BATCH as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(received as usize)
    }

    /// Queues answer slot `slot` (`len` bytes) to the sender of datagram `i`.
    fn prepare_send(&mut self, slot: usize, i: usize, len: usize) {
        self.send_iov[slot] = libc::iovec {
            iov_base: self.answers[slot].as_mut_ptr().cast(),
            iov_len: len,
        };
        let header = &mut self.send[slot].msg_hdr;
        header.msg_name = (&mut self.peers[i] as *mut libc::sockaddr_storage).cast();
        header.msg_namelen = self.receive[i].msg_hdr.msg_namelen;
        header.msg_iov = &mut self.send_iov[slot];
        header.msg_iovlen = 1;
        header.msg_control = std::ptr::null_mut();
        header.msg_controllen = 0;
        header.msg_flags = 0;
    }

    /// Sends the first `count` queued answers.
    fn send(&mut self, socket: &UdpSocket, count: usize) -> std::io::Result<()> {
        let mut sent = 0;
        while sent < count {
            // SAFETY: headers 0..count were filled by `prepare_send` and
            // point at buffers owned by `self`.
            let n = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    self.send[sent..].as_mut_ptr(),
                    (count - sent) as libc::c_uint,
                    0,
                )
            };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                // Skip the datagram that failed (e.g. an unreachable peer).
                sent += 1;
                if sent >= count {
                    return Err(err);
                }
                continue;
            }
            sent += n as usize;
        }
        Ok(())
    }
}
