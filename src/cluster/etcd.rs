//! The few etcd v3 calls the cluster needs, through etcd's JSON gateway
//! (`/v3/...` over HTTP): leases, puts, deletes, ranges and a watch. The
//! gateway is part of every etcd since 3.3 and needs no gRPC stack; keys
//! and values travel base64-encoded, numbers as strings.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::config::ClusterTls;

/// Why a call to etcd failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EtcdError {
    /// No endpoint answered.
    #[error("etcd at {endpoint}: {source}")]
    Http {
        /// The endpoint tried last.
        endpoint: String,
        /// Why.
        source: reqwest::Error,
    },
    /// An answer that was not what the call expects.
    #[error("etcd at {endpoint}: {message}")]
    Answer {
        /// The endpoint.
        endpoint: String,
        /// What was wrong.
        message: String,
    },
    /// The session with etcd ended: the lease expired or the watch broke.
    #[error("etcd: {0}")]
    Lost(&'static str),
}

/// A key-value change, as a watch reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The key now holds this value.
    Put(String, String),
    /// The key is gone (deleted, or its lease expired).
    Delete(String),
}

/// A client of one etcd cluster: its endpoints, tried in turn.
#[derive(Debug, Clone)]
pub(crate) struct Etcd {
    endpoints: Vec<String>,
    http: reqwest::Client,
    /// The endpoint that answered last, tried first.
    preferred: usize,
    /// A token from `/v3/auth/authenticate`, when credentials are set.
    token: Option<String>,
    credentials: Option<(String, String)>,
}

/// How long one call may take: etcd answers in milliseconds, and a call
/// that hangs must not hold up the cluster task's other work for long.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

impl Etcd {
    /// A client of `endpoints` (`http://HOST:PORT` or `https://…`, trusting
    /// `tls.ca` besides the system's roots and showing `tls.identity`).
    pub(crate) fn new(
        endpoints: Vec<String>,
        credentials: Option<(String, String)>,
        tls: &ClusterTls,
    ) -> Result<Etcd, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(CALL_TIMEOUT);
        if let Some(ca) = &tls.ca {
            for cert in reqwest::Certificate::from_pem_bundle(ca)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(identity) = &tls.identity {
            builder = builder.identity(reqwest::Identity::from_pem(identity)?);
        }
        let http = builder.build()?;
        Ok(Etcd {
            endpoints,
            http,
            preferred: 0,
            token: None,
            credentials,
        })
    }

    /// Logs in when credentials are set (etcd's auth): the token then goes
    /// with every call.
    pub(crate) async fn authenticate(&mut self) -> Result<(), EtcdError> {
        let Some((name, password)) = self.credentials.clone() else {
            return Ok(());
        };
        self.token = None;
        let answer = self
            .call(
                "auth/authenticate",
                json!({"name": name, "password": password}),
            )
            .await?;
        self.token = answer["token"].as_str().map(str::to_owned);
        Ok(())
    }

    /// One call of the JSON gateway, on the endpoints in turn from the one
    /// that answered last.
    async fn call(&mut self, path: &str, body: Value) -> Result<Value, EtcdError> {
        let mut last = None;
        for attempt in 0..self.endpoints.len() {
            let index = (self.preferred + attempt) % self.endpoints.len();
            let endpoint = &self.endpoints[index];
            let mut request = self
                .http
                .post(format!("{endpoint}/v3/{path}"))
                .timeout(CALL_TIMEOUT)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
            if let Some(token) = &self.token {
                request = request.header(reqwest::header::AUTHORIZATION, token);
            }
            match request.send().await {
                // etcd said no (bad credentials, no permission, a bad
                // request): another endpoint of the cluster would too.
                Ok(response) if !response.status().is_success() => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    let message = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| v["error"].as_str().map(str::to_owned))
                        .unwrap_or(body);
                    return Err(EtcdError::Answer {
                        endpoint: endpoint.clone(),
                        message: format!("{status}: {message}"),
                    });
                }
                Ok(response) => {
                    let bytes = response.bytes().await.map_err(|source| EtcdError::Http {
                        endpoint: endpoint.clone(),
                        source,
                    })?;
                    let value: Value =
                        serde_json::from_slice(&bytes).map_err(|err| EtcdError::Answer {
                            endpoint: endpoint.clone(),
                            message: err.to_string(),
                        })?;
                    self.preferred = index;
                    return Ok(value);
                }
                Err(source) => {
                    last = Some(EtcdError::Http {
                        endpoint: endpoint.clone(),
                        source,
                    })
                }
            }
        }
        Err(last.unwrap_or_else(|| EtcdError::Answer {
            endpoint: String::new(),
            message: "no endpoint".into(),
        }))
    }

    fn answer_error(&self, message: impl Into<String>) -> EtcdError {
        EtcdError::Answer {
            endpoint: self.endpoints[self.preferred].clone(),
            message: message.into(),
        }
    }

    /// A lease of `ttl`; its id.
    pub(crate) async fn grant(&mut self, ttl: Duration) -> Result<i64, EtcdError> {
        let answer = self
            .call("lease/grant", json!({"TTL": ttl.as_secs().to_string()}))
            .await?;
        number(&answer["ID"]).ok_or_else(|| self.answer_error("lease grant without an ID"))
    }

    /// Renews a lease; false when it has expired (its keys are gone).
    pub(crate) async fn keep_alive(&mut self, lease: i64) -> Result<bool, EtcdError> {
        let answer = self
            .call("lease/keepalive", json!({"ID": lease.to_string()}))
            .await?;
        Ok(number(&answer["result"]["TTL"]).is_some_and(|ttl| ttl > 0))
    }

    /// Ends a lease at once, deleting its keys.
    pub(crate) async fn revoke(&mut self, lease: i64) -> Result<(), EtcdError> {
        self.call("lease/revoke", json!({"ID": lease.to_string()}))
            .await
            .map(drop)
    }

    /// Writes these puts (`Some` value) and deletes (`None`) in one
    /// transaction, the puts under `lease` (0: none).
    pub(crate) async fn write(
        &mut self,
        changes: &[(String, Option<String>)],
        lease: i64,
    ) -> Result<(), EtcdError> {
        // etcd refuses transactions of more than 128 operations by default.
        for batch in changes.chunks(128) {
            let ops: Vec<Value> = batch
                .iter()
                .map(|(key, value)| match value {
                    Some(value) => json!({"request_put": {
                        "key": BASE64.encode(key),
                        "value": BASE64.encode(value),
                        "lease": lease.to_string(),
                    }}),
                    None => json!({"request_delete_range": {"key": BASE64.encode(key)}}),
                })
                .collect();
            self.call("kv/txn", json!({"success": ops})).await?;
        }
        Ok(())
    }

    /// Every key under `prefix` with its value, and the revision they are
    /// of.
    pub(crate) async fn range(
        &mut self,
        prefix: &str,
    ) -> Result<(Vec<(String, String)>, i64), EtcdError> {
        let answer = self
            .call(
                "kv/range",
                json!({"key": BASE64.encode(prefix), "range_end": BASE64.encode(range_end(prefix))}),
            )
            .await?;
        let revision = number(&answer["header"]["revision"])
            .ok_or_else(|| self.answer_error("range without a revision"))?;
        let kvs = answer["kvs"].as_array().cloned().unwrap_or_default();
        let mut pairs = Vec::with_capacity(kvs.len());
        for kv in kvs {
            if let (Some(key), Some(value)) = (text(&kv["key"]), text(&kv["value"])) {
                pairs.push((key, value));
            }
        }
        Ok((pairs, revision))
    }

    /// Watches every key under `prefix` from revision `from` on: changes
    /// arrive on the channel, in order, until the stream breaks, when the
    /// channel closes.
    pub(crate) async fn watch(
        &mut self,
        prefix: &str,
        from: i64,
    ) -> Result<mpsc::Receiver<Vec<Change>>, EtcdError> {
        let endpoint = self.endpoints[self.preferred].clone();
        let body = json!({"create_request": {
            "key": BASE64.encode(prefix),
            "range_end": BASE64.encode(range_end(prefix)),
            "start_revision": from.to_string(),
        }});
        let mut request = self
            .http
            .post(format!("{endpoint}/v3/watch"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(token) = &self.token {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        let mut response = request
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|source| EtcdError::Http {
                endpoint: endpoint.clone(),
                source,
            })?;
        let (sender, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut buffer: Vec<u8> = Vec::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                buffer.extend_from_slice(&chunk);
                while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buffer.drain(..=end).collect();
                    let Ok(message) = serde_json::from_slice::<WatchMessage>(&line) else {
                        continue;
                    };
                    let Some(result) = message.result else {
                        // An error from the gateway ends the stream.
                        return;
                    };
                    if result.canceled {
                        return;
                    }
                    let changes: Vec<Change> = result
                        .events
                        .iter()
                        .filter_map(WatchEvent::change)
                        .collect();
                    if !changes.is_empty() && sender.send(changes).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(receiver)
    }
}

#[derive(Deserialize)]
struct WatchMessage {
    result: Option<WatchResult>,
}

#[derive(Deserialize)]
struct WatchResult {
    #[serde(default)]
    events: Vec<WatchEvent>,
    #[serde(default)]
    canceled: bool,
}

#[derive(Deserialize)]
struct WatchEvent {
    /// Absent for a put (the gateway leaves out default values).
    #[serde(rename = "type")]
    kind: Option<String>,
    kv: Value,
}

impl WatchEvent {
    fn change(&self) -> Option<Change> {
        let key = text(&self.kv["key"])?;
        match self.kind.as_deref() {
            Some("DELETE") => Some(Change::Delete(key)),
            _ => Some(Change::Put(
                key,
                text(&self.kv["value"]).unwrap_or_default(),
            )),
        }
    }
}

/// The end of the range of keys that start with `prefix`.
fn range_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A base64 field as text.
fn text(value: &Value) -> Option<String> {
    let bytes = BASE64.decode(value.as_str()?).ok()?;
    String::from_utf8(bytes).ok()
}

/// An int64 field: the gateway writes them as strings.
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => text.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_where_its_keys_do() {
        assert_eq!(range_end("/h/"), b"/h0");
        assert_eq!(range_end("a\u{7f}"), b"a\x80");
    }

    #[test]
    fn watch_events_become_changes() {
        let put: WatchEvent = serde_json::from_str(
            r#"{"kv":{"key":"L2gvYg==","create_revision":"3","mod_revision":"3","version":"1","value":"ZG93bg=="}}"#,
        )
        .unwrap();
        assert_eq!(
            put.change(),
            Some(Change::Put("/h/b".into(), "down".into()))
        );
        let delete: WatchEvent =
            serde_json::from_str(r#"{"type":"DELETE","kv":{"key":"L2gvYQ==","mod_revision":"4"}}"#)
                .unwrap();
        assert_eq!(delete.change(), Some(Change::Delete("/h/a".into())));
        assert_eq!(number(&json!("42")), Some(42));
    }
}
