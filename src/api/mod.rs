//! The admin HTTP API: liveness, metrics, status, overrides, a drill's
//! simulated failures, reload and the status page. Read-only views, except
//! through the slots' control (the probe loops apply it) and the reload
//! command (the service applies it).
//!
//! Served by a loop of its own over hyper rather than `axum::serve`, for
//! what that one lacks: a connection limit (at which the connection idle
//! longest makes room, as for DNS over TCP), an idle timeout, a limit on
//! the time to send a request's head, and a pause instead of an error
//! logged each second when `accept` runs out of file descriptors.

mod html;
mod process;
pub(crate) mod prometheus;
pub(crate) mod status;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::answer::SharedTable;
use crate::exhaustion::{Backoff, Throttle};
use crate::health::Transition;
use crate::health::slot::{Override, Slot};
use crate::health::state::Health;
use crate::metrics::Metrics;
use crate::server::{Activity, Connection, Connections, Limits};
use crate::service::Command;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct Api {
    /// The published table.
    pub table: SharedTable,
    /// Recent transitions.
    pub history: Arc<Mutex<VecDeque<Transition>>>,
    /// The server's counters.
    pub metrics: Arc<Metrics>,
    /// Commands to the service.
    pub commands: mpsc::Sender<Command>,
    /// Bearer token required by state-changing requests, if set.
    pub token: Option<Arc<str>>,
    /// The cluster, when this instance is one of one: overrides go
    /// through it to every instance.
    pub cluster: Option<crate::cluster::Handle>,
}

/// Failed accepts, logged at most once a minute.
static ACCEPT_FAILURES: Throttle = Throttle::new(60);

/// Serves the API on `listener` until `shutdown`, at most `limits.max`
/// connections at once, each closed once idle past `limits.idle` or when
/// a request's head takes longer than `header_read_timeout`; then lets the
/// requests in progress finish.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    api: Api,
    limits: Limits,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
) {
    let counters = api.metrics.api.clone();
    let router = axum::Router::new()
        .route("/", get(page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .route("/api/v1/targets/{target}/override", post(set_override))
        .route(
            "/api/v1/targets/{target}/simulate",
            post(simulate).delete(end_simulation),
        )
        .route("/api/v1/reload", post(reload))
        .with_state(api);
    let connections = Connections::new(limits, counters.clone());
    // Runs until the last connection ends, shutdown or not: a client that
    // stops reading its response must not hold shutdown up.
    let sweeping = CancellationToken::new();
    let sweeper = tokio::spawn(connections.clone().sweep(sweeping.clone()));
    let mut backoff = Backoff::default();
    let mut open = tokio::task::JoinSet::new();
    loop {
        let Some((stream, _)) = crate::exhaustion::accept(
            &listener,
            &mut backoff,
            &counters.accept_errors,
            &ACCEPT_FAILURES,
            "API",
            &shutdown,
        )
        .await
        else {
            break;
        };
        while open.try_join_next().is_some() {}
        let Some(slot) = connections.admit() else {
            tracing::debug!("API connection limit reached and every connection busy, closing");
            continue;
        };
        open.spawn(connection(
            stream,
            router.clone(),
            slot,
            header_read_timeout,
            shutdown.clone(),
        ));
        // Lets the connection read its request (and so turn busy) before
        // more are accepted: at the limit, each new one would otherwise
        // be evicted by those queued after it before it ran.
        tokio::task::yield_now().await;
    }
    drop(listener);
    while open.join_next().await.is_some() {}
    sweeping.cancel();
    let _ = sweeper.await;
}

/// Serves one connection until the client closes it, its table closes it,
/// or, once `shutdown` comes, its request in progress is answered.
async fn connection(
    stream: TcpStream,
    router: axum::Router,
    slot: Connection,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let activity = slot.activity().clone();
    let service = {
        let (activity, router) = (activity.clone(), TowerToHyperService::new(router));
        hyper::service::service_fn(move |request: axum::http::Request<Incoming>| {
            // Busy from the head read to the response handed back: a
            // reload that takes a while is not idleness.
            let busy = activity.busy();
            let response = hyper::service::Service::call(&router, request);
            async move {
                let response = response.await;
                drop(busy);
                response
            }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let served = builder.serve_connection(TokioIo::new(Watched { stream, activity }), service);
    let mut served = std::pin::pin!(served);
    let mut draining = false;
    loop {
        tokio::select! {
            biased;
            _ = slot.closed() => return,
            _ = shutdown.cancelled(), if !draining => {
                served.as_mut().graceful_shutdown();
                draining = true;
            }
            result = served.as_mut() => {
                if let Err(err) = result {
                    if err.is_timeout() {
                        slot.timed_out();
                    }
                    tracing::debug!(%err, "API connection ended");
                }
                return;
            }
        }
    }
}

/// A connection's stream, telling its table each time bytes move.
struct Watched {
    stream: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The status page, filled with the status so it shows without JavaScript.
async fn page(State(api): State<Api>) -> Html<String> {
    Html(html::render(
        include_str!("page.html"),
        &current_status(&api),
    ))
}

async fn metrics(State(api): State<Api>) -> Response {
    let text = prometheus::render(&api.metrics, &api.table.load(), api.cluster.as_ref());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn status(State(api): State<Api>) -> Json<status::Status> {
    Json(current_status(&api))
}

fn current_status(api: &Api) -> status::Status {
    let history = api
        .history
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    status::status(&api.table.load(), &history, api.cluster.as_ref())
}

/// `POST /api/v1/targets/{target}/override` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideRequest {
    state: String,
    #[serde(rename = "for")]
    duration: Option<String>,
}

async fn set_override(
    State(api): State<Api>,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refusal) = refuse_unauthorized(&api, &headers) {
        return refusal;
    }
    let (request, forced) = match read_override(&body, SystemTime::now()) {
        Ok(read) => read,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let table = api.table.load();
    let Some((index, slot)) = find_target(&table, &target) else {
        return error(StatusCode::NOT_FOUND, format!("no target {target:?}"));
    };
    slot.set_override(forced);
    if let Some(cluster) = &api.cluster {
        cluster.set_override(&target, forced);
    }
    tracing::info!(%target, state = %request.state, r#for = ?request.duration, "override requested");
    // The loop applies it at once; answer with the state it will have:
    // auto and up also release a manual-failback hold.
    let mut view = status::target(&table, index, slot, api.cluster.as_ref());
    if forced.is_none_or(|o| o.state == Health::Up) {
        view.held = false;
    }
    view.serving = crate::health::slot::standing(view.state, view.held, forced).serving();
    Json(view).into_response()
}

/// Target `key` of `table`: its index and its slot.
fn find_target<'t>(table: &'t crate::answer::Table, key: &str) -> Option<(usize, &'t Slot)> {
    let index = table
        .targets()
        .iter()
        .position(|t| t.key.to_string() == key)?;
    Some((index, table.board().slot(index as u32)?))
}

/// An override body read and checked, its `for` counted from `now`: the
/// request and the override it asks for, or why it is refused (a 400).
fn read_override(
    body: &[u8],
    now: SystemTime,
) -> Result<(OverrideRequest, Option<Override>), String> {
    let request: OverrideRequest =
        serde_json::from_slice(body).map_err(|err| format!("body: {err}"))?;
    let until = match request.duration.as_deref() {
        None => None,
        Some(text) => Some(read_for(text, now)?),
    };
    let Some(forced) = Override::from_word(&request.state, until) else {
        return Err(format!("state {:?}: use down, up or auto", request.state));
    };
    Ok((request, forced))
}

/// A body's `for` (`30m`), counted from `now`: when it ends, or why it is
/// refused (a 400).
fn read_for(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let duration =
        crate::config::parse_duration(text).map_err(|message| format!("for: {message}"))?;
    now.checked_add(duration)
        .ok_or_else(|| format!("for: {text:?} is too long"))
}

/// The longest lease a simulated failure may have: a drill renews its
/// lease, so a long one only keeps a failure simulated after a drill that
/// died.
const MAX_SIMULATION: Duration = Duration::from_secs(3600);

/// `POST /api/v1/targets/{target}/simulate` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimulateRequest {
    #[serde(rename = "for")]
    duration: String,
}

/// A simulate body read and checked, its `for` counted from `now`: when the
/// simulated failure's lease ends, or why it is refused (a 400).
fn read_simulation(body: &[u8], now: SystemTime) -> Result<SystemTime, String> {
    let request: SimulateRequest =
        serde_json::from_slice(body).map_err(|err| format!("body: {err}"))?;
    let until = read_for(&request.duration, now)?;
    match until.duration_since(now) {
        Ok(lease) if !lease.is_zero() && lease <= MAX_SIMULATION => Ok(until),
        _ => Err(format!(
            "for: {:?}: a simulated failure's lease is more than 0s and at most {}",
            request.duration,
            humantime::format_duration(MAX_SIMULATION)
        )),
    }
}

/// Starts or renews a drill's simulated failure of a target: its probes
/// fail, as the checks would see an outage, until the lease in `for` ends
/// or `DELETE` ends it. Kept in this instance only, never saved.
async fn simulate(
    State(api): State<Api>,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refusal) = refuse_unauthorized(&api, &headers) {
        return refusal;
    }
    let now = SystemTime::now();
    let until = match read_simulation(&body, now) {
        Ok(until) => until,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let table = api.table.load();
    let Some((index, slot)) = find_target(&table, &target) else {
        return error(StatusCode::NOT_FOUND, format!("no target {target:?}"));
    };
    let until_text = crate::health::transition::rfc3339::format(until);
    match slot.set_simulation(Some(until), now) {
        // A drill renews its lease every few seconds: not worth a line each.
        Some(_) => tracing::debug!(%target, until = %until_text, "simulated failure renewed"),
        None => tracing::info!(%target, until = %until_text, "simulated failure started (drill)"),
    }
    Json(status::target(&table, index, slot, api.cluster.as_ref())).into_response()
}

/// Ends a drill's simulated failure of a target (none is no error).
async fn end_simulation(
    State(api): State<Api>,
    Path(target): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = refuse_unauthorized(&api, &headers) {
        return refusal;
    }
    let table = api.table.load();
    let Some((index, slot)) = find_target(&table, &target) else {
        return error(StatusCode::NOT_FOUND, format!("no target {target:?}"));
    };
    if slot.set_simulation(None, SystemTime::now()).is_some() {
        tracing::info!(%target, "simulated failure ended (drill)");
    }
    Json(status::target(&table, index, slot, api.cluster.as_ref())).into_response()
}

/// The override body as `set_override` reads it, for the fuzz target
/// `fuzz/fuzz_targets/api_body.rs`: not an interface.
#[doc(hidden)]
pub fn fuzz_override_body(body: &[u8], now: SystemTime) -> Result<Option<Override>, String> {
    read_override(body, now).map(|(_, forced)| forced)
}

/// The simulated failure's body as `simulate` reads it, for the same fuzz
/// target: the lease's end, or why it is refused (a 400). Not an interface.
#[doc(hidden)]
pub fn fuzz_simulate_body(body: &[u8], now: SystemTime) -> Result<SystemTime, String> {
    read_simulation(body, now)
}

async fn reload(State(api): State<Api>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refuse_unauthorized(&api, &headers) {
        return refusal;
    }
    let (reply, answer) = oneshot::channel();
    if api
        .commands
        .send(Command::Reload(Some(reply)))
        .await
        .is_err()
    {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    }
    match answer.await {
        Ok(Ok(reloaded)) => Json(
            serde_json::json!({"ok": true, "zones": reloaded.zones, "targets": reloaded.targets}),
        )
        .into_response(),
        Ok(Err(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({
                "ok": false,
                "errors": errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })),
        )
            .into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into()),
    }
}

fn error(code: StatusCode, message: String) -> Response {
    (code, Json(serde_json::json!({"error": message}))).into_response()
}

/// The 401 for a state-changing request without a valid token.
fn refuse_unauthorized(api: &Api, headers: &HeaderMap) -> Option<Response> {
    (!authorized(api, headers)).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required".into(),
        )
    })
}

/// State-changing requests need `Authorization: Bearer TOKEN` when a token
/// is configured; compared in constant time.
fn authorized(api: &Api, headers: &HeaderMap) -> bool {
    let Some(token) = &api.token else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    constant_time_eq(given.as_bytes(), token.as_bytes())
}

/// Equal bytes, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    #[test]
    fn a_simulation_body_needs_a_lease_within_bounds() {
        let now = SystemTime::now();
        let read = |body: &str| super::read_simulation(body.as_bytes(), now);
        assert_eq!(read(r#"{"for": "20s"}"#), Ok(now + Duration::from_secs(20)));
        assert_eq!(
            read(r#"{"for": "1h"}"#),
            Ok(now + Duration::from_secs(3600))
        );
        for bad in [
            r#"{}"#,
            r#"{"for": null}"#,
            r#"{"for": "soon"}"#,
            r#"{"for": "0s"}"#,
            r#"{"for": "61m"}"#,
            r#"{"for": "500000000000y"}"#,
            r#"{"for": "99999999999999999999999s"}"#,
            r#"{"for": "20s", "state": "down"}"#,
            "not json",
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        let too_long = read(r#"{"for": "500000000000y"}"#).unwrap_err();
        assert!(too_long.contains("too long"), "{too_long}");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(super::constant_time_eq(b"secret", b"secret"));
        assert!(!super::constant_time_eq(b"secret", b"secreT"));
        assert!(!super::constant_time_eq(b"secret", b"secrets"));
        assert!(!super::constant_time_eq(b"", b"x"));
    }
}
