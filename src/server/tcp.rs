//! TCP: 2-byte length framing (RFC 1035 §4.2.2), several queries per
//! connection (RFC 7766), idle timeouts and a connection limit kept by the
//! listener's [`Connections`] table.
//!
//! A connection reads as much as the socket holds, answers every complete
//! query in it against one load of the table, and writes all those answers
//! with one `write` — gdnsd's and NSD's shape, which pipelining clients
//! (RFC 7766 §6.2.1.1) reward. Per query it makes no syscall, arms no timer
//! and allocates nothing.
//!
//! The buffers it reads into and answers into are its runtime thread's
//! ([`Scratch`]), not its own: a round runs from a read to the end of its
//! write without an `.await`, so one pair per thread serves every
//! connection. A connection keeps bytes of its own only when a round ends
//! with a message cut short (the start of the next query) or with answers
//! the socket could not take at once; an idle connection holds no buffer.

use std::cell::RefCell;
use std::io;
use std::net::TcpListener as StdTcpListener;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::conns::{Connection, Connections};
use super::tcp_framing::Messages;
use super::{Settings, SharedTable};
use crate::answer::{Table, Transport, respond};
use crate::exhaustion::{Backoff, Throttle};

/// The longest length-prefixed message: a 2-byte length and 65,535 bytes.
/// The input buffer holds one, so a partial message always fits once moved
/// to the front.
const PREFIXED_MAX: usize = 2 + u16::MAX as usize;
/// `respond` over TCP fills up to 65,535 bytes (the OPT record included).
const TCP_ANSWER_MAX: usize = u16::MAX as usize;
/// Answers are written once this many bytes are waiting, even mid-read, so
/// a client pipelining thousands of queries costs bounded memory.
const FLUSH_AT: usize = 64 * 1024;
/// The most a connection keeps of the buffers it had to fill itself once
/// they are empty again: enough for the start of a query, far below what
/// a burst left behind.
const KEEP: usize = 4096;

/// Failed accepts, logged at most once a minute.
static ACCEPT_FAILURES: Throttle = Throttle::new(60);

pub(super) async fn run(
    listener: StdTcpListener,
    table: SharedTable,
    settings: Settings,
    connections: Arc<Connections>,
    shutdown: CancellationToken,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(%err, "cannot register TCP listener");
            return;
        }
    };
    let counters = settings.metrics.tcp.clone();
    let mut backoff = Backoff::default();
    let mut open = tokio::task::JoinSet::new();
    loop {
        let Some((stream, peer)) = crate::exhaustion::accept(
            &listener,
            &mut backoff,
            &counters.accept_errors,
            &ACCEPT_FAILURES,
            "TCP",
            &shutdown,
        )
        .await
        else {
            break;
        };
        // Reap finished connections so the set stays small.
        while open.try_join_next().is_some() {}
        let Some(slot) = connections.admit() else {
            tracing::debug!(%peer, "TCP connection limit reached, closing");
            continue;
        };
        let (table, settings, shutdown) = (table.clone(), settings.clone(), shutdown.clone());
        open.spawn(async move {
            if let Err(err) = connection(stream, &table, &settings, &slot, &shutdown).await {
                tracing::debug!(%err, %peer, "TCP connection ended");
            }
        });
        // Lets the connection read its first query before more are
        // accepted: with a queue of new connections at the limit, each
        // would otherwise be evicted by those after it before it ran.
        tokio::task::yield_now().await;
    }
    // Let connections answer what they have read; they stop at their next read.
    while open.join_next().await.is_some() {}
}

/// A runtime thread's buffers, lent to one connection's round at a time.
struct Scratch {
    /// What the round read, after what the connection held from before.
    input: Box<[u8]>,
    /// The round's framed answers: `respond` writes each straight after its
    /// length prefix. Below [`FLUSH_AT`] there is always room for one more,
    /// largest, answer.
    output: Box<[u8]>,
}

thread_local! {
    /// Made on a thread's first TCP query.
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// What a connection keeps between rounds; both empty most of the time.
#[derive(Default)]
struct Held {
    /// Bytes read and not answered yet: the start of a query, or whole
    /// queries when the last round stopped at a write that had to wait.
    input: Vec<u8>,
    /// Answers the socket could not take at once.
    output: Vec<u8>,
}

/// How a round went.
enum Round {
    /// The client closed its side.
    Closed,
    /// Nothing to read after all.
    Nothing,
    /// Read (or took from what was held) and answered; true when any whole
    /// message was consumed.
    Answered(bool),
}

/// Serves one connection until the client closes it, the table closes it
/// (idle too long, or to make room), or shutdown; in the last case it
/// first answers what it has already read whole, as every round does
/// before reading again.
async fn connection(
    mut stream: TcpStream,
    table: &SharedTable,
    settings: &Settings,
    slot: &Connection,
    shutdown: &CancellationToken,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut held = Held::default();
    loop {
        // Whole queries left by a write that had to wait are answered
        // before anything more is read.
        let read = !has_whole_message(&held.input);
        if read {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                _ = slot.closed() => return Ok(()),
                ready = stream.readable() => ready?,
            }
        }
        let round = SCRATCH.with_borrow_mut(|scratch| {
            let scratch = scratch.get_or_insert_with(|| Scratch {
                input: vec![0u8; PREFIXED_MAX].into_boxed_slice(),
                output: vec![0u8; FLUSH_AT + 2 + TCP_ANSWER_MAX].into_boxed_slice(),
            });
            answer_round(&stream, &table.load(), settings, scratch, &mut held, read)
        })?;
        match round {
            Round::Closed => return Ok(()),
            Round::Nothing => continue,
            // Moves on only when a message completes: a client trickling
            // the bytes of one query does not hold its slot past the
            // timeout either.
            Round::Answered(consumed) => {
                if consumed {
                    slot.activity().touch();
                }
            }
        }
        if held.input.is_empty() && held.input.capacity() > KEEP {
            held.input = Vec::new();
        }
        if held.output.is_empty() {
            continue;
        }
        // A client that stops reading gets the idle timeout too, or it
        // would hold its slot for ever. The table would close it; this
        // timer also bounds shutdown, after which the table sweeps no more.
        let timeout = slot.idle_timeout();
        tokio::select! {
            biased;
            _ = slot.closed() => return Ok(()),
            written = tokio::time::timeout(timeout, stream.write_all(&held.output)) => match written {
                Ok(written) => written?,
                Err(_) => {
                    slot.timed_out();
                    return Ok(());
                }
            },
        }
        // From now, not from the read: a slow write is not idleness.
        slot.activity().touch();
        held.output.clear();
        if held.output.capacity() > KEEP {
            held.output = Vec::new();
        }
    }
}

/// Whether `buf` starts with a whole length-prefixed message.
fn has_whole_message(buf: &[u8]) -> bool {
    Messages::new(buf).next().is_some()
}

/// One round, without an `.await`: reads what the socket holds (when
/// `read`) after what `held` kept, answers every whole query, and writes
/// the answers as they fill the buffer. What the socket does not take at
/// once, and the input not answered yet, go back into `held`.
fn answer_round(
    stream: &TcpStream,
    table: &Table,
    settings: &Settings,
    scratch: &mut Scratch,
    held: &mut Held,
    read: bool,
) -> io::Result<Round> {
    let mut end = held.input.len();
    scratch.input[..end].copy_from_slice(&held.input);
    if read {
        // Room for at least a byte: a message cut short is shorter than
        // the buffer, and whole ones are answered before reading.
        match stream.try_read(&mut scratch.input[end..]) {
            Ok(0) => return Ok(Round::Closed),
            Ok(n) => end += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(Round::Nothing),
            Err(err) => return Err(err),
        }
    }
    let mut messages = Messages::new(&scratch.input[..end]);
    let (mut answered, mut busy) = (0, Duration::ZERO);
    loop {
        let started = Instant::now();
        let (len, more) = answer(table, &mut messages, &mut scratch.output, &mut answered);
        busy += started.elapsed();
        if len > 0 {
            let written = match stream.try_write(&scratch.output[..len]) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
                Err(err) => return Err(err),
            };
            if written < len {
                held.output.extend_from_slice(&scratch.output[written..len]);
                break;
            }
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
    let consumed = messages.consumed();
    held.input.clear();
    held.input.extend_from_slice(&scratch.input[consumed..end]);
    Ok(Round::Answered(consumed > 0))
}

/// Answers `messages` into `out` until they run out or `out` is due to be
/// written; returns the bytes written and whether messages are left.
/// Empty messages and queries that get no answer are skipped; `answered`
/// counts the queries tried.
fn answer(
    table: &Table,
    messages: &mut Messages<'_>,
    out: &mut [u8],
    answered: &mut u32,
) -> (usize, bool) {
    let mut len = 0;
    while len < FLUSH_AT {
        let Some(query) = messages.next() else {
            return (len, false);
        };
        if query.is_empty() {
            continue;
        }
        *answered += 1;
        let (prefix, rest) = out[len..].split_at_mut(2);
        if let Some(n) = respond(table, query, Transport::Tcp, &mut rest[..TCP_ANSWER_MAX]) {
            prefix.copy_from_slice(&(n as u16).to_be_bytes());
            len += 2 + n;
        }
    }
    (len, true)
}
