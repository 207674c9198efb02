//! TCP: 2-byte length framing (RFC 1035 §4.2.2), several queries per
//! connection (RFC 7766), an idle timeout and a connection limit.
//!
//! A connection reads as much as the socket holds into a buffer of its own,
//! answers every complete query in it against one load of the table, and
//! writes all those answers with one `write_all` — gdnsd's and NSD's shape,
//! which pipelining clients (RFC 7766 §6.2.1.1) reward. Per query it makes
//! no syscall, arms no timer and allocates nothing.

use std::net::TcpListener as StdTcpListener;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::tcp_framing::Messages;
use super::{Settings, SharedTable};
use crate::answer::{Table, Transport, respond};

/// The longest length-prefixed message: a 2-byte length and 65,535 bytes.
/// The input buffer holds one, so a partial message always fits once moved
/// to the front.
const PREFIXED_MAX: usize = 2 + u16::MAX as usize;
/// `respond` over TCP fills up to 65,535 bytes (the OPT record included).
const TCP_ANSWER_MAX: usize = u16::MAX as usize;
/// Answers are written once this many bytes are waiting, even mid-read, so
/// a client pipelining thousands of queries costs bounded memory.
const FLUSH_AT: usize = 64 * 1024;

pub(super) async fn run(
    listener: StdTcpListener,
    table: SharedTable,
    settings: Settings,
    connections: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(%err, "cannot register TCP listener");
            return;
        }
    };
    let mut open = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!(%err, "TCP accept failed");
                    continue;
                }
            },
        };
        // Reap finished connections so the set stays small.
        while open.try_join_next().is_some() {}
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "TCP connection limit reached, closing");
            continue;
        };
        let (table, settings, shutdown) = (table.clone(), settings.clone(), shutdown.clone());
        open.spawn(async move {
            if let Err(err) = connection(stream, &table, &settings, &shutdown).await {
                tracing::debug!(%err, %peer, "TCP connection ended");
            }
            drop(permit);
        });
    }
    // Let connections answer what they have read; they stop at their next read.
    while open.join_next().await.is_some() {}
}

/// Serves one connection until the client closes it, it stays idle past
/// the timeout, or shutdown; in the last case it first answers what it has
/// already read whole, as every round does before reading again.
async fn connection(
    mut stream: TcpStream,
    table: &SharedTable,
    settings: &Settings,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    // The bytes read and not yet answered are input[start..end].
    let mut input = vec![0u8; PREFIXED_MAX].into_boxed_slice();
    let (mut start, mut end) = (0, 0);
    let mut output = Output::new();
    // Moves on only when a message completes: a client trickling the bytes of
    // one query does not hold its slot past the timeout either.
    let mut deadline = Instant::now() + settings.tcp_idle_timeout;
    loop {
        if end == input.len() {
            // Only a partial message is left; it fits at the front.
            input.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        let read = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(()),
            read = tokio::time::timeout_at(deadline, stream.read(&mut input[end..])) => read,
        };
        let Ok(read) = read else {
            return Ok(()); // idle, or stalled inside a message
        };
        match read? {
            0 => return Ok(()),
            n => end += n,
        }
        let mut messages = Messages::new(&input[start..end]);
        let (mut answered, mut busy) = (0, Duration::ZERO);
        loop {
            let started = Instant::now();
            let more = output.answer(&table.load(), &mut messages, &mut answered);
            busy += started.elapsed();
            if !output.is_empty() {
                // A client that stops reading gets the idle timeout too,
                // or it would hold its slot (and shutdown) for ever.
                let write = stream.write_all(output.bytes());
                match tokio::time::timeout(settings.tcp_idle_timeout, write).await {
                    Ok(written) => written?,
                    Err(_) => return Ok(()),
                }
                output.clear();
            }
            if !more {
                break;
            }
        }
        if answered > 0 {
            settings
                .metrics
                .response
                .observe_many(busy / answered, u64::from(answered));
        }
        if messages.consumed() > 0 {
            // From now, not from the read: a slow write is not idleness.
            deadline = Instant::now() + settings.tcp_idle_timeout;
        }
        start += messages.consumed();
        if start == end {
            (start, end) = (0, 0);
        }
    }
}

/// Framed answers waiting to be written, built in place: `respond` writes
/// each message straight after its length prefix, so nothing is copied.
struct Output {
    buf: Box<[u8]>,
    len: usize,
}

impl Output {
    fn new() -> Output {
        // Below FLUSH_AT there is always room for one more, largest, answer.
        Output {
            buf: vec![0u8; FLUSH_AT + 2 + TCP_ANSWER_MAX].into_boxed_slice(),
            len: 0,
        }
    }

    /// Answers `messages` until they run out or the buffer is due to be
    /// written; true when messages are left. Empty messages and queries that
    /// get no answer are skipped; `answered` counts the queries tried.
    fn answer(&mut self, table: &Table, messages: &mut Messages<'_>, answered: &mut u32) -> bool {
        while self.len < FLUSH_AT {
            let Some(query) = messages.next() else {
                return false;
            };
            if query.is_empty() {
                continue;
            }
            *answered += 1;
            let (prefix, rest) = self.buf[self.len..].split_at_mut(2);
            if let Some(n) = respond(table, query, Transport::Tcp, &mut rest[..TCP_ANSWER_MAX]) {
                prefix.copy_from_slice(&(n as u16).to_be_bytes());
                self.len += 2 + n;
            }
        }
        true
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}
