//! The admin HTTP API: liveness, metrics, status, overrides, reload and the
//! status page. Read-only views, except through the slots' control (the
//! probe loops apply it) and the reload command (the service applies it).

pub(crate) mod prometheus;
pub(crate) mod status;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::answer::SharedTable;
use crate::health::Transition;
use crate::health::slot::Override;
use crate::health::state::Health;
use crate::metrics::Metrics;
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

/// Serves the API on `listener` until `shutdown`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    api: Api,
    shutdown: CancellationToken,
) {
    let router = axum::Router::new()
        .route("/", get(page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/status", get(status))
        .route("/api/v1/targets/{target}/override", post(set_override))
        .route("/api/v1/reload", post(reload))
        .with_state(api);
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(err) = result {
        tracing::error!(%err, "API server failed");
    }
}

async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
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
    let history = api
        .history
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Json(status::status(
        &api.table.load(),
        &history,
        api.cluster.as_ref(),
    ))
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
    if !authorized(&api, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required".into(),
        );
    }
    let (request, forced) = match read_override(&body, SystemTime::now()) {
        Ok(read) => read,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let table = api.table.load();
    let Some(index) = table
        .targets()
        .iter()
        .position(|t| t.key.to_string() == target)
    else {
        return error(StatusCode::NOT_FOUND, format!("no target {target:?}"));
    };
    let slot = table.board().slot(index as u32).expect("a slot per target");
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
    view.serving = crate::health::slot::serving(view.state, view.held, forced);
    Json(view).into_response()
}

/// An override body read and checked, its `for` counted from `now`: the
/// request and the override it asks for, or why it is refused (a 400).
fn read_override(
    body: &[u8],
    now: SystemTime,
) -> Result<(OverrideRequest, Option<Override>), String> {
    let request: OverrideRequest =
        serde_json::from_slice(body).map_err(|err| format!("body: {err}"))?;
    let until = match request
        .duration
        .as_deref()
        .map(crate::config::parse_duration)
    {
        None => None,
        Some(Ok(duration)) => match now.checked_add(duration) {
            Some(until) => Some(until),
            None => {
                let text = request.duration.as_deref().unwrap_or_default();
                return Err(format!("for: {text:?} is too long"));
            }
        },
        Some(Err(message)) => return Err(format!("for: {message}")),
    };
    let Some(forced) = Override::from_word(&request.state, until) else {
        return Err(format!("state {:?}: use down, up or auto", request.state));
    };
    Ok((request, forced))
}

/// The override body as `set_override` reads it, for the fuzz target
/// `fuzz/fuzz_targets/api_body.rs`: not an interface.
#[doc(hidden)]
pub fn fuzz_override_body(body: &[u8], now: SystemTime) -> Result<Option<Override>, String> {
    read_override(body, now).map(|(_, forced)| forced)
}

async fn reload(State(api): State<Api>, headers: HeaderMap) -> Response {
    if !authorized(&api, &headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required".into(),
        );
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
    #[test]
    fn constant_time_eq_compares() {
        assert!(super::constant_time_eq(b"secret", b"secret"));
        assert!(!super::constant_time_eq(b"secret", b"secreT"));
        assert!(!super::constant_time_eq(b"secret", b"secrets"));
        assert!(!super::constant_time_eq(b"", b"x"));
    }
}
