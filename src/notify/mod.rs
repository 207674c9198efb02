//! Announcing changes: every [`Event`] (a target's transition, a set's
//! answer change) goes to each `[[notify]]` (a webhook POST or a command),
//! retried with backoff.
//!
//! # Design
//!
//! ```text
//!   probe loops ─ Transition ─> service: ids, answer changes ─ broadcast::Sender<Event>
//!     ─> dispatcher ─┬─ queue ─> notifier task (webhook)
//!                    └─ queue ─> notifier task (exec)
//! ```
//!
//! Nothing here may slow a probe or an answer: the probe loops only `send`
//! on a broadcast channel, which never waits, and so does the service task
//! that numbers events and finds answer changes; a dispatcher that falls behind
//! loses the oldest events (and says how many). The dispatcher hands each
//! event to one bounded queue per notifier without waiting (a full queue
//! drops the event, with a warning), so a slow or dead webhook delays only
//! itself. Those warnings come at most once per `throttle::WINDOW` (10 s) each,
//! with the count since the last, however many targets flap. Each notifier
//! delivers its events one at a time, in order, each with its retries: a
//! webhook never sees `up` before the `down` it follows. A retry delivers
//! the same event: the same id, and for webhooks the same body bytes.
//!
//! On shutdown no new attempt starts (waiting events and retries are
//! dropped). An attempt already running is let finish: it is bounded by the
//! notifier's timeout, and a POST cut half-way helps no one.

pub(crate) mod event;
mod exec;
mod template;
mod throttle;
mod webhook;

use std::time::Duration;

use thiserror::Error;
use tokio::sync::{broadcast, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::notify::{MAX_BACKOFF, Notifier, Sink};
pub(crate) use event::Event;
use throttle::Throttle;

/// Events waiting for one notifier before new ones are dropped: far more
/// than a flapping fleet produces while a webhook retries one event.
pub(crate) const QUEUE: usize = 1024;

/// Why one attempt failed.
#[derive(Debug, Error)]
pub(crate) enum DeliveryError {
    /// No answer, or the command still ran, after the timeout.
    #[error("timeout after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The webhook answered, but not with 2xx.
    #[error("HTTP {0}")]
    Status(u16),
    /// The request failed (connect, TLS, …).
    #[error("{}", chain(.0))]
    Request(reqwest::Error),
    /// The shared HTTP client could not be built.
    #[error("no HTTP client: {0}")]
    NoClient(String),
    /// The event could not be written as JSON.
    #[error("cannot encode the event: {0}")]
    Encode(serde_json::Error),
    /// The command could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The command ended unsuccessfully.
    #[error("{status}{}", if .stderr.is_empty() { String::new() } else { format!(": {}", .stderr) })]
    Exit {
        /// How it ended.
        status: std::process::ExitStatus,
        /// The first line it wrote on stderr.
        stderr: String,
    },
}

/// An error and its sources, `outer: inner: innermost`.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}

/// The delay before retry number `retry` (1 for the first retry): `first`,
/// doubling each time, at most [`MAX_BACKOFF`].
pub(crate) fn backoff(first: Duration, retry: u32) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1));
    first.saturating_mul(factor).min(MAX_BACKOFF)
}

/// Delivers every event from `events` to every notifier until the sender
/// is gone and the queues are delivered, or until `shutdown`.
///
/// Must be called within a Tokio runtime. With no notifiers the task only
/// ends; the caller may as well not subscribe.
pub(crate) fn spawn(
    notifiers: Vec<Notifier>,
    events: broadcast::Receiver<Event>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(run(notifiers, events, shutdown))
}

async fn run(
    notifiers: Vec<Notifier>,
    mut events: broadcast::Receiver<Event>,
    shutdown: CancellationToken,
) {
    if notifiers.is_empty() {
        return;
    }
    let client = if notifiers.iter().any(|n| matches!(n.sink, Sink::Webhook(_))) {
        match webhook::client() {
            Ok(client) => Some(client),
            Err(err) => {
                warn!(error = %chain(&err), "notify: cannot build the HTTP client; webhooks will fail");
                None
            }
        }
    } else {
        None
    };
    let mut tasks = JoinSet::new();
    let mut queues = Vec::new();
    for notifier in notifiers {
        let (tx, rx) = mpsc::channel(QUEUE);
        let name = notifier.sink.to_string();
        let client = client.clone();
        tasks.spawn(notifier_loop(notifier, client, rx, shutdown.clone()));
        queues.push((name, tx, Throttle::default()));
    }
    // Drops are warned of at most once a throttle window each, with how
    // many: a flapping fleet would otherwise write a line per event.
    let mut lagged = Throttle::default();
    loop {
        let event = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            event = events.recv() => event,
        };
        match event {
            Ok(event) => {
                for (name, queue, full) in &mut queues {
                    if let Err(mpsc::error::TrySendError::Full(event)) =
                        queue.try_send(event.clone())
                        && let Some(dropped) = full.hit(1, Instant::now())
                    {
                        warn!(
                            notifier = %name,
                            dropped,
                            last_event = %event.id,
                            "notify: {QUEUE} events already wait; dropping new ones"
                        );
                    }
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                if let Some(dropped) = lagged.hit(missed, Instant::now()) {
                    warn!(
                        dropped,
                        "notify: fell behind the probe loops; the oldest events are dropped"
                    );
                }
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
    let held = lagged.held() + queues.iter().map(|(_, _, full)| full.held()).sum::<u64>();
    if held > 0 {
        warn!(
            dropped = held,
            "notify: events dropped since the last warning"
        );
    }
    // Closing the queues lets each notifier finish what waits (or stop at
    // once on shutdown); each ends within its own bounds.
    drop(queues);
    while tasks.join_next().await.is_some() {}
}

/// One notifier: its events one at a time, in order.
async fn notifier_loop(
    notifier: Notifier,
    client: Option<reqwest::Client>,
    mut queue: mpsc::Receiver<Event>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            event = queue.recv() => match event {
                Some(event) => event,
                None => return,
            },
        };
        deliver(&notifier, client.as_ref(), &event, &shutdown).await;
    }
}

/// Tries once, then up to `retries` more times with backoff.
async fn deliver(
    notifier: &Notifier,
    client: Option<&reqwest::Client>,
    event: &Event,
    shutdown: &CancellationToken,
) {
    let sink = &notifier.sink;
    let kind = event.change.kind();
    // Encoded once: every retry sends the same bytes (and signature).
    let body = match sink {
        Sink::Webhook(_) => match serde_json::to_vec(event) {
            Ok(body) => body,
            Err(err) => {
                let err = DeliveryError::Encode(err);
                warn!(notifier = %sink, id = %event.id, reason = %err, "notify: given up");
                return;
            }
        },
        Sink::Exec { .. } => Vec::new(),
    };
    let mut retry = 0;
    loop {
        let result = attempt(notifier, client, event, &body).await;
        let err = match result {
            Ok(()) => {
                debug!(notifier = %sink, id = %event.id, kind, "notify: delivered");
                return;
            }
            Err(err) => err,
        };
        if retry >= notifier.retries {
            warn!(
                notifier = %sink,
                id = %event.id,
                kind,
                attempts = retry + 1,
                reason = %err,
                "notify: given up"
            );
            return;
        }
        retry += 1;
        let delay = backoff(notifier.backoff, retry);
        info!(
            notifier = %sink,
            id = %event.id,
            kind,
            reason = %err,
            "notify: failed; retry {retry} of {} in {}",
            notifier.retries,
            humantime::format_duration(delay)
        );
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                info!(notifier = %sink, id = %event.id, "notify: shutting down; retries dropped");
                return;
            }
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// One attempt, bounded by the notifier's timeout.
async fn attempt(
    notifier: &Notifier,
    client: Option<&reqwest::Client>,
    event: &Event,
    body: &[u8],
) -> Result<(), DeliveryError> {
    match &notifier.sink {
        Sink::Webhook(hook) => {
            let client = client.ok_or_else(|| {
                DeliveryError::NoClient("it failed to build at start (see above)".into())
            })?;
            webhook::post(client, hook, &event.id, body, notifier.timeout).await
        }
        Sink::Exec { program, args } => {
            let args: Vec<String> = args.iter().map(|a| template::render(a, event)).collect();
            exec::run(program, &args, notifier.timeout).await
        }
    }
}

#[cfg(test)]
mod tests;
