//! One probe of one target: a TCP connect, or an HTTP(S) request judged by
//! status and body.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::{Check, Kind};
use crate::health::TargetKey;

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Whether the target passed.
    pub passed: bool,
    /// Why, in a few words (`HTTP 200`, `timeout after 1s`, …).
    pub reason: String,
    /// What kind of reason, for metrics.
    pub class: ReasonClass,
    /// How long the probe took.
    pub latency: Duration,
}

/// The kind of a probe's result or of an operator's change: few values, so
/// it can label a metric where the reason's text cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReasonClass {
    /// Passed.
    Ok,
    /// An HTTP status the check does not expect.
    Status,
    /// No answer within the timeout.
    Timeout,
    /// The connection failed (refused, reset, unreachable).
    Connect,
    /// The body lacked the text, or could not be read.
    Body,
    /// The TLS handshake or the certificate failed.
    Tls,
    /// Anything else.
    Error,
    /// An operator's override or its end.
    Override,
    /// The instances of a cluster agreed on it, or their verdict lapsed.
    Cluster,
}

impl ReasonClass {
    /// The `reason` label's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReasonClass::Ok => "ok",
            ReasonClass::Status => "status",
            ReasonClass::Timeout => "timeout",
            ReasonClass::Connect => "connect",
            ReasonClass::Body => "body",
            ReasonClass::Tls => "tls",
            ReasonClass::Error => "error",
            ReasonClass::Override => "override",
            ReasonClass::Cluster => "cluster",
        }
    }

    /// The class of a failed connect.
    fn of_io(err: &std::io::Error) -> ReasonClass {
        match err.kind() {
            std::io::ErrorKind::TimedOut => ReasonClass::Timeout,
            _ => ReasonClass::Connect,
        }
    }

    /// The class of a failed HTTP request. reqwest says timeouts, connects
    /// and bodies apart, but a TLS failure only in its causes' text.
    fn of_http(err: &reqwest::Error, text: &str) -> ReasonClass {
        let text = text.to_ascii_lowercase();
        if err.is_timeout() || text.contains("timed out") {
            ReasonClass::Timeout
        } else if text.contains("certificate") || text.contains("tls") {
            ReasonClass::Tls
        } else if err.is_body() || err.is_decode() {
            ReasonClass::Body
        } else if err.is_connect() || text.contains("refused") || text.contains("reset") {
            ReasonClass::Connect
        } else {
            ReasonClass::Error
        }
    }
}

/// Why a probe failed.
type Failure = (String, ReasonClass);

/// HTTP clients, shared by every target that can share one: reqwest pools
/// connections per client, and a client per target would cost a TLS config
/// each. Only https with a `host` needs its own (SNI comes from the URL).
#[derive(Debug)]
pub(crate) struct Clients {
    shared: HashMap<(bool, bool), reqwest::Client>,
}

impl Clients {
    /// Builds the shared clients.
    pub(crate) fn new() -> Result<Clients, reqwest::Error> {
        let mut shared = HashMap::new();
        for verify in [true, false] {
            for follow in [true, false] {
                shared.insert((verify, follow), builder(verify, follow).build()?);
            }
        }
        Ok(Clients { shared })
    }

    /// The client and URL for probing `key` with `check`.
    pub(crate) fn for_target(
        &self,
        check: &Check,
        key: &TargetKey,
    ) -> Result<(reqwest::Client, String), String> {
        let scheme = if check.kind == Kind::Https {
            "https"
        } else {
            "http"
        };
        match (&check.host, check.kind) {
            (Some(host), Kind::Https) => {
                let addr = key.authority().parse().map_err(|_| {
                    format!("https with host= needs an IP target, not {}", key.host)
                })?;
                let client = builder(check.tls_verify, check.follow_redirects)
                    .resolve(host, addr)
                    .build()
                    .map_err(|err| err.to_string())?;
                Ok((client, format!("https://{host}:{}{}", key.port, check.path)))
            }
            _ => {
                let client = self.shared[&(check.tls_verify, check.follow_redirects)].clone();
                Ok((
                    client,
                    format!("{scheme}://{}{}", key.authority(), check.path),
                ))
            }
        }
    }
}

fn builder(verify: bool, follow: bool) -> reqwest::ClientBuilder {
    let redirects = if follow {
        reqwest::redirect::Policy::limited(5)
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(!verify)
        .redirect(redirects)
        .no_proxy()
        .user_agent(concat!("healthdns/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(1)
}

/// Probes once, within the check's timeout.
pub(crate) async fn probe(
    check: &Check,
    key: &TargetKey,
    http: Option<&(reqwest::Client, String)>,
) -> Outcome {
    let started = Instant::now();
    let result = tokio::time::timeout(check.timeout, async {
        match (check.kind, http) {
            (Kind::Tcp, _) => tokio::net::TcpStream::connect(key.authority())
                .await
                .map(|_| "connected".to_owned())
                .map_err(|err| (format!("connect: {err}"), ReasonClass::of_io(&err))),
            (_, Some((client, url))) => request(check, client, url).await,
            (_, None) => Err(("no HTTP client".to_owned(), ReasonClass::Error)),
        }
    })
    .await;
    let latency = started.elapsed();
    let (passed, reason, class) = match result {
        Ok(Ok(reason)) => (true, reason, ReasonClass::Ok),
        Ok(Err((reason, class))) => (false, reason, class),
        Err(_) => (
            false,
            format!("timeout after {:?}", check.timeout),
            ReasonClass::Timeout,
        ),
    };
    Outcome {
        passed,
        reason,
        class,
        latency,
    }
}

async fn request(check: &Check, client: &reqwest::Client, url: &str) -> Result<String, Failure> {
    let mut request = if check.head {
        client.head(url)
    } else {
        client.get(url)
    };
    if let (Some(host), Kind::Http) = (&check.host, check.kind) {
        request = request.header(reqwest::header::HOST, host);
    }
    for (name, value) in &check.headers {
        request = request.header(name, value);
    }
    let mut response = request.send().await.map_err(|err| describe(&err))?;
    let status = response.status().as_u16();
    if !check
        .expect_status
        .iter()
        .any(|range| range.contains(&status))
    {
        return Err((format!("HTTP {status} not expected"), ReasonClass::Status));
    }
    let Some(needle) = &check.body_contains else {
        return Ok(format!("HTTP {status}"));
    };
    let mut body = Vec::new();
    while body.len() < check.max_body {
        match response.chunk().await.map_err(|err| describe(&err))? {
            Some(chunk) => {
                body.extend_from_slice(&chunk[..chunk.len().min(check.max_body - body.len())])
            }
            None => break,
        }
    }
    let found = body
        .windows(needle.len().max(1))
        .any(|window| window == needle.as_bytes());
    if found {
        Ok(format!("HTTP {status}, body has {needle:?}"))
    } else {
        Err((
            format!("HTTP {status} but body lacks {needle:?}"),
            ReasonClass::Body,
        ))
    }
}

/// reqwest's error with its causes, which say what really failed, and
/// its class.
fn describe(err: &reqwest::Error) -> Failure {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    let class = ReasonClass::of_http(err, &text);
    (text, class)
}
