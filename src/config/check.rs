//! `[check.NAME]`: a validated health check, every option with its default.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// Probe every 2 s …
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// … give each probe 1 s …
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// … go down after 3 failures in a row, up after 2 successes.
pub(crate) const DEFAULT_THRESHOLDS: Thresholds = Thresholds { rise: 2, fall: 3 };
/// Read at most this much of an HTTP body for `body-contains`.
pub(crate) const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// Probe results needed to change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive successes that bring a down target up.
    pub rise: u32,
    /// Consecutive failures that take an up target down.
    pub fall: u32,
}

/// Up or down, as the checks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Passing its checks.
    Up,
    /// Failing its checks.
    Down,
}

impl Health {
    /// `up` or `down`, as the config, the API and metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[check.NAME]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct CheckSection {
    /// `http`, `https` or `tcp`.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// Port to probe (default 80 for http, 443 for https; required for tcp).
    pub port: Option<u16>,
    /// HTTP path.
    pub path: Option<Spanned<String>>,
    /// Host header, and SNI for https.
    pub host: Option<String>,
    /// `GET` or `HEAD`.
    pub method: Option<Spanned<String>>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Healthy status codes: numbers or `"200-299"` ranges.
    pub expect_status: Option<Vec<Spanned<StatusSpec>>>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// Most body bytes read.
    pub max_body: Option<usize>,
    /// Follow redirects (default false: a 3xx is judged as it is).
    pub follow_redirects: Option<bool>,
    /// Verify the https certificate (default true).
    pub tls_verify: Option<bool>,
    /// Time between probes.
    pub interval: Option<Spanned<String>>,
    /// Time a probe may take.
    pub timeout: Option<Spanned<String>>,
    /// Consecutive failures before down.
    pub fall: Option<Spanned<u32>>,
    /// Consecutive successes before up.
    pub rise: Option<Spanned<u32>>,
    /// `up` (default) or `down`.
    pub initial: Option<Spanned<String>>,
    /// `auto` (default) or `manual`.
    pub failback: Option<Spanned<String>>,
    /// Local address probes are sent from.
    pub source: Option<Spanned<String>>,
}

/// A status code or a range, as written.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum StatusSpec {
    /// `200`
    Code(u16),
    /// `"200-299"` or `"204"`
    Text(String),
}

/// What a check probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP request; healthy on an expected status (and body).
    Http,
    /// The same over TLS.
    Https,
    /// A TCP connection that opens.
    Tcp,
}

/// What happens when a target comes back after it went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failback {
    /// Serve it again as soon as it is up.
    Auto,
    /// Keep it out until an operator releases it.
    Manual,
}

/// A validated check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Its name in the config.
    pub name: String,
    /// What it probes.
    pub kind: Kind,
    /// Port to probe when the member gives none.
    pub port: u16,
    /// HTTP path (`/` by default).
    pub path: String,
    /// Host header / SNI.
    pub host: Option<String>,
    /// `HEAD` instead of `GET`.
    pub head: bool,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Healthy status codes (default 200–299).
    pub expect_status: Vec<RangeInclusive<u16>>,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// Most body bytes read.
    pub max_body: usize,
    /// Follow redirects.
    pub follow_redirects: bool,
    /// Verify https certificates.
    pub tls_verify: bool,
    /// Time between probes.
    pub interval: Duration,
    /// Time a probe may take.
    pub timeout: Duration,
    /// Rise and fall.
    pub thresholds: Thresholds,
    /// State before the first probe.
    pub initial: Health,
    /// Automatic or manual failback.
    pub failback: Failback,
    /// The local address probes are sent from; `None` leaves it to the
    /// routing table. Only targets of its family can be probed.
    pub source: Option<IpAddr>,
}

/// Validates one `[check.NAME]`; `fail(span, message)` records each problem.
pub(crate) fn validate(
    name: &str,
    raw: &CheckSection,
    mut fail: impl FnMut(Option<std::ops::Range<usize>>, String),
) -> Option<Check> {
    let errors_before = std::cell::Cell::new(0usize);
    let mut bad = |span, message: String| {
        errors_before.set(errors_before.get() + 1);
        fail(span, format!("check {name}: {message}"));
    };
    let kind = match raw.kind.get_ref().as_str() {
        "http" => Kind::Http,
        "https" => Kind::Https,
        "tcp" => Kind::Tcp,
        other => {
            // Judged as http below, so one mistake gives one error.
            bad(
                Some(raw.kind.span()),
                format!("type {other:?}: use http, https or tcp"),
            );
            Kind::Http
        }
    };
    let port = match (raw.port, kind) {
        (Some(0), _) => {
            bad(None, "port 0 cannot be probed".into());
            0
        }
        (Some(port), _) => port,
        (None, Kind::Http) => 80,
        (None, Kind::Https) => 443,
        (None, Kind::Tcp) => {
            bad(Some(raw.kind.span()), "a tcp check needs a port".into());
            0
        }
    };
    let http_only = [
        ("path", raw.path.is_some()),
        ("host", raw.host.is_some()),
        ("method", raw.method.is_some()),
        ("headers", !raw.headers.is_empty()),
        ("expect-status", raw.expect_status.is_some()),
        ("body-contains", raw.body_contains.is_some()),
        ("follow-redirects", raw.follow_redirects.is_some()),
    ];
    if kind == Kind::Tcp {
        for (key, given) in http_only {
            if given {
                bad(
                    Some(raw.kind.span()),
                    format!("{key} applies to http and https checks only"),
                );
            }
        }
    }
    if kind != Kind::Https && raw.tls_verify.is_some() {
        bad(
            Some(raw.kind.span()),
            "tls-verify applies to https checks only".into(),
        );
    }
    let path = match &raw.path {
        Some(path) if !path.get_ref().starts_with('/') => {
            bad(
                Some(path.span()),
                format!("path {:?} must start with /", path.get_ref()),
            );
            String::new()
        }
        Some(path) => path.get_ref().clone(),
        None => "/".into(),
    };
    let head = match raw
        .method
        .as_ref()
        .map(|m| (m.get_ref().as_str(), m.span()))
    {
        None | Some(("GET", _)) => false,
        Some(("HEAD", _)) => true,
        Some((other, span)) => {
            bad(Some(span), format!("method {other:?}: use GET or HEAD"));
            false
        }
    };
    if head && raw.body_contains.is_some() {
        bad(
            None,
            "body-contains needs method GET (HEAD has no body)".into(),
        );
    }
    let mut expect_status = Vec::new();
    for spec in raw.expect_status.iter().flatten() {
        match status_range(spec.get_ref()) {
            Some(range) => expect_status.push(range),
            None => bad(
                Some(spec.span()),
                "expect-status entries are codes 100–599 or ranges like \"200-299\"".into(),
            ),
        }
    }
    if expect_status.is_empty() {
        expect_status.push(200..=299);
    }
    let mut duration = |value: &Option<Spanned<String>>, default| match value {
        None => default,
        Some(text) => match super::parse_duration(text.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                bad(Some(text.span()), "a duration above zero is needed".into());
                default
            }
            Err(err) => {
                bad(Some(text.span()), err.to_string());
                default
            }
        },
    };
    let interval = duration(&raw.interval, DEFAULT_INTERVAL);
    let timeout = duration(&raw.timeout, DEFAULT_TIMEOUT.min(interval));
    if timeout > interval {
        bad(
            raw.timeout.as_ref().map(Spanned::span),
            "timeout must not exceed interval".into(),
        );
    }
    let mut count = |value: &Option<Spanned<u32>>, default: u32, key: &str| match value {
        Some(n) if *n.get_ref() == 0 => {
            bad(Some(n.span()), format!("{key} must be at least 1"));
            default
        }
        Some(n) => *n.get_ref(),
        None => default,
    };
    let thresholds = Thresholds {
        fall: count(&raw.fall, DEFAULT_THRESHOLDS.fall, "fall"),
        rise: count(&raw.rise, DEFAULT_THRESHOLDS.rise, "rise"),
    };
    let initial = match raw
        .initial
        .as_ref()
        .map(|v| (v.get_ref().as_str(), v.span()))
    {
        None | Some(("up", _)) => Health::Up,
        Some(("down", _)) => Health::Down,
        Some((other, span)) => {
            bad(Some(span), format!("initial {other:?}: use up or down"));
            Health::Up
        }
    };
    let failback = match raw
        .failback
        .as_ref()
        .map(|v| (v.get_ref().as_str(), v.span()))
    {
        None | Some(("auto", _)) => Failback::Auto,
        Some(("manual", _)) => Failback::Manual,
        Some((other, span)) => {
            bad(
                Some(span),
                format!("failback {other:?}: use auto or manual"),
            );
            Failback::Auto
        }
    };
    let source = raw.source.as_ref().and_then(|text| {
        let parsed = text.get_ref().parse::<IpAddr>();
        if parsed.is_err() {
            bad(
                Some(text.span()),
                format!(
                    "source {:?} is not an IP address: give the local IPv4 or IPv6 address probes are sent from",
                    text.get_ref()
                ),
            );
        }
        parsed.ok()
    });
    if errors_before.get() > 0 {
        return None;
    }
    Some(Check {
        name: name.to_owned(),
        kind,
        port,
        path,
        host: raw.host.clone(),
        head,
        headers: raw
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        expect_status,
        body_contains: raw.body_contains.clone(),
        max_body: raw.max_body.unwrap_or(DEFAULT_MAX_BODY),
        follow_redirects: raw.follow_redirects.unwrap_or(false),
        tls_verify: raw.tls_verify.unwrap_or(true),
        interval,
        timeout,
        thresholds,
        initial,
        failback,
        source,
    })
}

fn status_range(spec: &StatusSpec) -> Option<RangeInclusive<u16>> {
    let valid = |code: u16| (100..=599).contains(&code);
    let range = match spec {
        StatusSpec::Code(code) => *code..=*code,
        StatusSpec::Text(text) => match text.split_once('-') {
            Some((low, high)) => low.trim().parse().ok()?..=high.trim().parse().ok()?,
            None => {
                let code = text.trim().parse().ok()?;
                code..=code
            }
        },
    };
    (valid(*range.start()) && valid(*range.end()) && range.start() <= range.end()).then_some(range)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::parse;
    use crate::config::tests::assert_errors;

    #[test]
    fn source_is_an_ip_address_of_either_family() {
        let config = parse(
            Path::new("t.toml"),
            "[check.v4]\ntype = \"http\"\nsource = \"127.0.0.3\"\n\
             [check.v6]\ntype = \"tcp\"\nport = 22\nsource = \"::1\"\n\
             [check.any]\ntype = \"http\"\n",
        )
        .unwrap();
        assert_eq!(config.checks["v4"].source, Some([127, 0, 0, 3].into()));
        assert_eq!(
            config.checks["v6"].source,
            Some(std::net::Ipv6Addr::LOCALHOST.into())
        );
        assert_eq!(config.checks["any"].source, None);
    }

    #[test]
    fn a_source_that_is_not_an_address_is_reported_with_its_place() {
        assert_errors(
            "[check.web]\ntype = \"http\"\nsource = \"127.0.0.300\"\n\
             [check.raw]\ntype = \"tcp\"\nport = 22\nsource = \"eth0\"\n\
             [check.with-port]\ntype = \"http\"\nsource = \"127.0.0.3:80\"\n",
            &[
                "t.toml:3:10: check web: source \"127.0.0.300\" is not an IP address",
                "t.toml:7:10: check raw: source \"eth0\" is not an IP address",
                "t.toml:10:10: check with-port: source \"127.0.0.3:80\" is not an IP address",
            ],
        );
    }
}
