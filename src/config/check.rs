//! `[check.NAME]`: a validated health check, every option with its default.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::template::{Argument, CheckField};
use crate::files;

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
    /// `http`, `https`, `tcp`, `exec`, `all`, `any` or `at-least`.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// Port to probe (default 80 for http, 443 for https; required for
    /// tcp; optional for exec).
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
    /// exec: the program and its arguments, run without a shell.
    pub command: Option<Spanned<Vec<Spanned<String>>>>,
    /// all, any, at-least: the checks combined.
    pub checks: Option<Spanned<Vec<Spanned<String>>>>,
    /// at-least: how many of `checks` must pass.
    pub count: Option<Spanned<u32>>,
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
    /// A command that exits 0.
    Exec,
    /// Other checks of the same address, probed together and combined.
    Calculated(Operator),
}

/// How a calculated check combines its children's results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `all`: every child passes.
    All,
    /// `any`: one child passes.
    Any,
    /// `at-least`: this many children pass.
    AtLeast(u32),
}

impl Operator {
    /// How many of `children` must pass.
    pub fn needed(self, children: usize) -> usize {
        match self {
            Operator::All => children,
            Operator::Any => 1,
            Operator::AtLeast(count) => count as usize,
        }
    }
}

/// An exec check's command: the program, never a template, and its
/// arguments, each rendered on its own per target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    /// An absolute path, or a bare name looked up in `PATH`.
    pub program: String,
    /// The arguments.
    pub args: Vec<Argument>,
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
    /// Time a probe may take; for a calculated check, the longest of its
    /// children's, whose probes it waits for.
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
    /// An exec check's command; `None` for every other kind.
    pub command: Option<ExecCommand>,
    /// A calculated check's children, in the order written, each probing
    /// with its own settings (port, path, timeout, …; their interval, rise,
    /// fall, initial and failback are not used here); empty for every
    /// other kind.
    pub children: Vec<Arc<Check>>,
}

/// The value of `type` for each kind, as the error for an unknown one
/// lists them.
const KINDS: &str = "http, https, tcp, exec, all, any or at-least";

/// Validates one `[check.NAME]` on its own; `fail(span, message)` records
/// each problem. A calculated check comes back without its children:
/// [`super::calculated::resolve`] finds them among the others.
pub(crate) fn validate(
    name: &str,
    raw: &CheckSection,
    mut fail: impl FnMut(Option<Range<usize>>, String),
) -> Option<Check> {
    let errors_before = std::cell::Cell::new(0usize);
    let mut bad = |span, message: String| {
        errors_before.set(errors_before.get() + 1);
        fail(span, format!("check {name}: {message}"));
    };
    let kind_span = Some(raw.kind.span());
    let kind = match raw.kind.get_ref().as_str() {
        "http" => Kind::Http,
        "https" => Kind::Https,
        "tcp" => Kind::Tcp,
        "exec" => Kind::Exec,
        "all" => Kind::Calculated(Operator::All),
        "any" => Kind::Calculated(Operator::Any),
        "at-least" => Kind::Calculated(Operator::AtLeast(at_least(raw, &mut bad))),
        other => {
            // Judged as http below, so one mistake gives one error.
            bad(kind_span.clone(), format!("type {other:?}: use {KINDS}"));
            Kind::Http
        }
    };
    let calculated = matches!(kind, Kind::Calculated(_));
    let port = match (raw.port, kind) {
        (Some(_), Kind::Calculated(_)) => {
            bad(
                kind_span.clone(),
                "port applies to the checks a calculated check names, each probing its own".into(),
            );
            0
        }
        (Some(0), _) => {
            bad(None, "port 0 cannot be probed".into());
            0
        }
        (Some(port), _) => port,
        (None, Kind::Http) => 80,
        (None, Kind::Https) => 443,
        (None, Kind::Tcp) => {
            bad(kind_span.clone(), "a tcp check needs a port".into());
            0
        }
        // No port: the target is the address alone.
        (None, Kind::Exec | Kind::Calculated(_)) => 0,
    };
    let http_only = [
        ("path", raw.path.is_some()),
        ("host", raw.host.is_some()),
        ("method", raw.method.is_some()),
        ("headers", !raw.headers.is_empty()),
        ("expect-status", raw.expect_status.is_some()),
        ("body-contains", raw.body_contains.is_some()),
        ("follow-redirects", raw.follow_redirects.is_some()),
        // Never refused on tcp, where it was always ignored.
        ("max-body", raw.max_body.is_some() && kind != Kind::Tcp),
    ];
    if !matches!(kind, Kind::Http | Kind::Https) {
        for (key, given) in http_only {
            if given {
                bad(
                    kind_span.clone(),
                    format!("{key} applies to http and https checks only"),
                );
            }
        }
    }
    if kind != Kind::Https && raw.tls_verify.is_some() {
        bad(
            kind_span.clone(),
            "tls-verify applies to https checks only".into(),
        );
    }
    if let (Kind::Exec | Kind::Calculated(_), Some(source)) = (kind, &raw.source) {
        bad(
            Some(source.span()),
            "source applies to http, https and tcp checks only (an exec check's command \
             connects as it likes; a calculated check's children have their own)"
                .into(),
        );
    }
    if let (true, Some(timeout)) = (calculated, &raw.timeout) {
        bad(
            Some(timeout.span()),
            "a calculated check has no timeout of its own: each check it names keeps its own"
                .into(),
        );
    }
    let command = match (&raw.command, kind) {
        (Some(argv), Kind::Exec) => command(argv, raw.port.is_some(), &mut bad),
        (None, Kind::Exec) => {
            bad(
                kind_span.clone(),
                "an exec check needs command = [\"/path/to/program\", \"{address}\", …]".into(),
            );
            None
        }
        (Some(argv), _) => {
            bad(
                Some(argv.span()),
                "command applies to exec checks only".into(),
            );
            None
        }
        (None, _) => None,
    };
    match (&raw.checks, calculated) {
        (Some(names), true) if names.get_ref().is_empty() => bad(
            Some(names.span()),
            "checks is empty: name the checks to combine, e.g. checks = [\"web\", \"db\"]".into(),
        ),
        (Some(_), true) => {}
        (None, true) => bad(
            kind_span.clone(),
            format!(
                "type {} needs checks = [\"NAME\", …]: the checks it combines",
                raw.kind.get_ref()
            ),
        ),
        (Some(names), false) => bad(
            Some(names.span()),
            "checks applies to all, any and at-least checks only".into(),
        ),
        (None, false) => {}
    }
    if let (Some(count), false) = (
        &raw.count,
        matches!(kind, Kind::Calculated(Operator::AtLeast(_))),
    ) {
        bad(
            Some(count.span()),
            "count applies to at-least checks only".into(),
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
    // A calculated check's is its children's longest, found when they are.
    let timeout = match calculated {
        true => Duration::ZERO,
        false => duration(&raw.timeout, DEFAULT_TIMEOUT.min(interval)),
    };
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
    let source = match kind {
        Kind::Exec | Kind::Calculated(_) => None,
        _ => raw.source.as_ref().and_then(|text| {
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
        }),
    };
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
        command,
        children: Vec::new(),
    })
}

/// An at-least check's `count`: at least 1, at most the checks named
/// (the names themselves are judged when they are resolved).
fn at_least(raw: &CheckSection, bad: &mut impl FnMut(Option<Range<usize>>, String)) -> u32 {
    let named = raw.checks.as_ref().map(|names| names.get_ref().len());
    match (&raw.count, named) {
        (None, _) => {
            bad(
                Some(raw.kind.span()),
                "an at-least check needs count = N: how many of its checks must pass".into(),
            );
            1
        }
        (Some(count), _) if *count.get_ref() == 0 => {
            bad(Some(count.span()), "count must be at least 1".into());
            1
        }
        (Some(count), Some(named)) if *count.get_ref() as usize > named && named > 0 => {
            bad(
                Some(count.span()),
                format!(
                    "count {} is more than the {named} checks named: it could never pass",
                    count.get_ref()
                ),
            );
            1
        }
        (Some(count), _) => *count.get_ref(),
    }
}

/// An exec check's `command`: a program that is no template (an absolute
/// path, which must be an executable file, or a bare name looked up in
/// `PATH` when it runs) and arguments with [`CheckField`] placeholders; `{port}`
/// needs the check to have a port.
fn command(
    argv: &Spanned<Vec<Spanned<String>>>,
    has_port: bool,
    bad: &mut impl FnMut(Option<Range<usize>>, String),
) -> Option<ExecCommand> {
    let Some((program, rest)) = argv.get_ref().split_first() else {
        bad(
            Some(argv.span()),
            "command needs at least the program: command = [\"/path/to/program\", \"{address}\"]"
                .into(),
        );
        return None;
    };
    let mut ok = true;
    let text = program.get_ref();
    let mut wrong = |message: String| {
        bad(Some(program.span()), message);
        ok = false;
    };
    if text.is_empty() {
        wrong("the command's program is empty".into());
    } else if !matches!(Argument::parse(text), Ok(parsed) if !parsed.has_fields()) {
        wrong("the command's program cannot hold placeholders (pass them as arguments)".into());
    } else if text.starts_with('/') {
        if let Some(problem) = not_runnable(Path::new(text)) {
            wrong(problem);
        }
    } else if text.contains('/') {
        wrong(format!(
            "command {text:?} is a relative path: give an absolute path, or a bare name looked \
             up in PATH"
        ));
    }
    let mut args = Vec::new();
    for arg in rest {
        match Argument::parse(arg.get_ref()) {
            Ok(parsed) if !has_port && uses(&parsed, CheckField::Port) => {
                bad(
                    Some(arg.span()),
                    format!(
                        "command argument {:?} uses {{port}}, and the check has no port: give it one",
                        arg.get_ref()
                    ),
                );
                ok = false;
            }
            Ok(parsed) => args.push(parsed),
            Err(err) => {
                bad(
                    Some(arg.span()),
                    format!("command argument {:?}: {err}", arg.get_ref()),
                );
                ok = false;
            }
        }
    }
    ok.then(|| ExecCommand {
        program: text.clone(),
        args,
    })
}

/// Whether `argument` holds `placeholder`.
fn uses(argument: &Argument, placeholder: CheckField) -> bool {
    let mut found = false;
    argument.render(|field, _| found |= field == placeholder);
    found
}

/// Why the program at `path` cannot run, if it cannot: it must be a
/// file (or a symlink to one) with an execute bit. Whether this user may
/// run it is for the server to find out when it does.
fn not_runnable(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = files::shown(path);
    match std::fs::metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Some(format!("command {shown} does not exist"))
        }
        Err(err) => Some(format!("cannot inspect command {shown}: {err}")),
        Ok(meta) if meta.is_dir() => Some(format!("command {shown} is a directory")),
        Ok(meta) if !meta.is_file() => Some(format!("command {shown} is not a regular file")),
        Ok(meta) if meta.permissions().mode() & 0o111 == 0 => {
            Some(format!("command {shown} is not executable (chmod +x it)"))
        }
        Ok(_) => None,
    }
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
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::Kind;
    use crate::config::parse;
    use crate::config::tests::{assert_errors, errors};

    #[test]
    fn an_exec_check_takes_a_command_and_maybe_a_port() {
        let config = parse(
            Path::new("t.toml"),
            "[check.app]\ntype = \"exec\"\n\
             command = [\"/bin/sh\", \"-c\", \"exit 0\", \"{address}\", \"--port={port}\", \"{{x}}\"]\n\
             port = 8080\ninterval = \"5s\"\nfall = 2\nrise = 2\n\
             [check.bare]\ntype = \"exec\"\ncommand = [\"check_app.sh\", \"{address}\", \"{check}\", \"{timeout}\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e:#?}"));
        let app = &config.checks["app"];
        assert_eq!((app.kind, app.port), (Kind::Exec, 8080));
        let command = app.command.as_ref().unwrap();
        assert_eq!(command.program, "/bin/sh");
        let args: Vec<String> = command.args.iter().map(ToString::to_string).collect();
        assert_eq!(
            args,
            ["-c", "exit 0", "{address}", "--port={port}", "{{x}}"],
            "as written"
        );
        let bare = &config.checks["bare"];
        assert_eq!(bare.port, 0, "no port: the target is the address");
        assert_eq!(bare.command.as_ref().unwrap().program, "check_app.sh");
        assert!(bare.children.is_empty());
        assert_eq!(
            parse(Path::new("t.toml"), "").unwrap().max_exec_checks,
            crate::config::DEFAULT_MAX_EXEC_CHECKS
        );
        let config = parse(Path::new("t.toml"), "[server]\nmax-exec-checks = 8\n").unwrap();
        assert_eq!(config.max_exec_checks, 8);
        assert_eq!(
            errors("[server]\nmax-exec-checks = 0\n"),
            ["t.toml:2:19: max-exec-checks must be at least 1"]
        );
    }

    #[test]
    fn a_command_that_cannot_run_is_refused_at_its_program() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.sh");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (d, p) = (dir.path().display(), plain.display());
        assert_errors(
            &format!(
                "[check.missing]\ntype = \"exec\"\ncommand = [\"{d}/nope.sh\", \"{{address}}\"]\n\
                 [check.plain]\ntype = \"exec\"\ncommand = [\"{p}\"]\n\
                 [check.dir]\ntype = \"exec\"\ncommand = [\"{d}\"]\n\
                 [check.relative]\ntype = \"exec\"\ncommand = [\"bin/check.sh\"]\n\
                 [check.empty]\ntype = \"exec\"\ncommand = []\n\
                 [check.blank]\ntype = \"exec\"\ncommand = [\"\"]\n\
                 [check.templated]\ntype = \"exec\"\ncommand = [\"/bin/{{check}}\"]\n\
                 [check.none]\ntype = \"exec\"\n"
            ),
            &[
                &format!("t.toml:3:12: check missing: command {d}/nope.sh does not exist"),
                &format!("t.toml:6:12: check plain: command {p} is not executable (chmod +x it)"),
                &format!("t.toml:9:12: check dir: command {d} is a directory"),
                "t.toml:12:12: check relative: command \"bin/check.sh\" is a relative path",
                "t.toml:15:11: check empty: command needs at least the program",
                "t.toml:18:12: check blank: the command's program is empty",
                "t.toml:21:12: check templated: the command's program cannot hold placeholders",
                "t.toml:23:8: check none: an exec check needs command = ",
            ],
        );
    }

    #[test]
    fn command_arguments_and_keys_that_do_not_apply_are_refused() {
        assert_errors(
            "[check.app]\ntype = \"exec\"\ncommand = [\"/bin/true\", \"{target}\", \"{port}\", \"{x\"]\n\
             path = \"/health\"\ntls-verify = false\nsource = \"127.0.0.1\"\nchecks = [\"web\"]\n\
             [check.web]\ntype = \"http\"\ncommand = [\"/bin/true\"]\n",
            &[
                "t.toml:3:25: check app: command argument \"{target}\": unknown placeholder {target} \
                 (use {address}, {port}, {check}, {timeout}",
                "t.toml:3:37: check app: command argument \"{port}\" uses {port}, and the check has no port",
                "t.toml:3:47: check app: command argument \"{x\": unclosed {",
                "t.toml:2:8: check app: path applies to http and https checks only",
                "t.toml:2:8: check app: tls-verify applies to https checks only",
                "t.toml:6:10: check app: source applies to http, https and tcp checks only",
                "t.toml:7:10: check app: checks applies to all, any and at-least checks only",
                "t.toml:10:11: check web: command applies to exec checks only",
            ],
        );
    }

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
