//! One UDP worker: a plain thread that receives up to [`BATCH`] datagrams
//! with one `recvmmsg`, answers them all against one load of the table, and
//! sends the answers with one `sendmmsg` — the design of gdnsd and Knot.
//!
//! Per datagram it makes no syscall, takes no lock and allocates nothing:
//! the buffers, iovecs and address slots are the worker's for its whole
//! life. A receive timeout (`SO_RCVTIMEO`) wakes the thread now and then
//! to notice shutdown.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::plain::zeroed;
use super::{Coalesce, SharedTable};
use crate::answer::{Cache, Transport};
use crate::wire::{MAX_UDP_PAYLOAD, OPT_LEN};

/// Datagrams per `recvmmsg`.
const BATCH: usize = 32;
/// Largest query kept; a longer datagram (flagged `MSG_TRUNC`) is dropped.
const QUERY_MAX: usize = 4096;
/// Largest UDP answer (the OPT record may go past the payload limit).
const ANSWER_MAX: usize = MAX_UDP_PAYLOAD as usize + OPT_LEN;
/// How often an idle worker looks at the shutdown token.
const WAKE: Duration = Duration::from_millis(200);

/// Runs the worker on this thread until `shutdown` is cancelled.
pub(super) fn run(
    socket: UdpSocket,
    table: SharedTable,
    mut coalesce: Coalesce,
    shutdown: CancellationToken,
) {
    if let Err(err) = socket
        .set_nonblocking(false)
        .and_then(|()| socket.set_read_timeout(Some(WAKE)))
    {
        tracing::error!(%err, "cannot set up UDP socket");
        return;
    }
    let mut batch = Batch::new();
    let mut cache = Cache::new();
    coalesce.enter_thread();
    // With udp-coalesce, after a batch that was not full: whether the
    // socket is drained, which only a non-blocking receive can tell.
    let mut drained_maybe = false;
    while !shutdown.is_cancelled() {
        let flags = if drained_maybe {
            libc::MSG_DONTWAIT
        } else {
            libc::MSG_WAITFORONE
        };
        let received = match batch.receive(&socket, flags) {
            Ok(received) => received,
            // Drained: pause, then wait as usual.
            Err(err) if drained_maybe && err.kind() == std::io::ErrorKind::WouldBlock => {
                drained_maybe = false;
                coalesce.drained();
                continue;
            }
            Err(err) => {
                if !matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) {
                    tracing::debug!(%err, "UDP receive failed");
                }
                continue;
            }
        };
        let table = table.load();
        // Timed per batch: two clock reads per query cost ~6 % of the CPU
        // per query here; each answer is recorded as the batch's mean.
        let started = Instant::now();
        let mut answers = 0;
        for i in 0..received {
            // A datagram longer than QUERY_MAX was cut short: drop it.
            let message = &batch.receive[i];
            if message.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                continue;
            }
            if i + 1 < received {
                // The next query's cache slot, while this one is answered.
                // (msg_len is the datagram's length, which may exceed the buffer.)
                let next = &batch.queries[i + 1];
                let len = (batch.receive[i + 1].msg_len as usize).min(next.len());
                cache.prefetch(&next[..len]);
            }
            let query = &batch.queries[i][..message.msg_len as usize];
            let answered =
                cache.respond(&table, query, Transport::Udp, &mut batch.answers[answers]);
            if let Some(len) = answered {
                batch.prepare_send(answers, i, len);
                answers += 1;
            }
        }
        if received > 0 {
            let metrics = crate::metrics::global();
            metrics
                .response
                .observe_many(started.elapsed() / received as u32, received as u64);
            cache.publish(&metrics.cached);
        }
        if let Err(err) = batch.send(&socket, answers) {
            tracing::debug!(%err, "UDP send failed");
        }
        coalesce.answered(received as u32);
        // Not a full batch: the socket may be drained. When the worker is
        // busy enough for udp-coalesce to pause, look first (answering
        // took a while: more may be waiting already), and pause only if it
        // is drained. Else the next receive waits as usual.
        drained_maybe = false;
        if received < BATCH {
            if coalesce.wants_pause() {
                drained_maybe = true;
            } else {
                coalesce.drained();
            }
        }
    }
}

/// Everything one `recvmmsg`/`sendmmsg` round needs, allocated once.
struct Batch {
    queries: Box<[[u8; QUERY_MAX]; BATCH]>,
    answers: Box<[[u8; ANSWER_MAX]; BATCH]>,
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
            answers: Box::new([[0; ANSWER_MAX]; BATCH]),
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
