//! Configuration: the file format (`file`) and the validated [`Config`].
//!
//! Loading reports every problem it finds, each as `file:line:col: message`.

pub(crate) mod calculated;
pub(crate) mod check;
pub(crate) mod cluster;
pub(crate) mod file;
pub(crate) mod geo;
pub(crate) mod notify;
pub(crate) mod rate_limit;
pub(crate) mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::files;
use crate::name::Name;
pub use check::{Check, ExecCommand, Failback, Health, Kind, Operator, Thresholds};
pub use cluster::{ClusterConfig, ClusterTls, Partition, Quorum};
pub use geo::{GeoConfig, Region};
pub use rate_limit::{Network, RateLimitConfig};

/// Health checks by name, shared with the targets that use them.
pub type Checks = BTreeMap<String, std::sync::Arc<Check>>;

/// Where the server listens when neither the config nor the command line says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5353";
/// Idle TCP connections are closed after this long (Knot's default).
pub const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// The idle timeout of TCP connections once `tcp-max-connections` are
/// open (NSD's past half its limit).
pub const DEFAULT_TCP_BUSY_IDLE_TIMEOUT: Duration = Duration::from_millis(200);
/// Most TCP connections served at once.
pub const DEFAULT_TCP_MAX_CONNECTIONS: u32 = 1000;
/// Most API connections open at once: far more than operators and
/// scrapers use, far fewer than DNS needs file descriptors for.
pub const DEFAULT_API_MAX_CONNECTIONS: u32 = 100;
/// An API connection neither sending, receiving nor handling a request is
/// closed after this long.
pub const DEFAULT_API_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest an API client may take to send a request's head, counted
/// from when the server starts waiting for it.
pub const DEFAULT_API_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest API timeout: far beyond any use, far from the overflow of
/// a deadline.
pub const MAX_API_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// The longest `udp-coalesce`: it delays an answer by up to that much.
pub const MAX_UDP_COALESCE: Duration = Duration::from_millis(1);
/// The share of its time on the CPU (without pauses) from which a UDP
/// worker pauses, unless `udp-coalesce-load` says otherwise: where, measured
/// against no pause, a pause stops costing CPU; under it the pause costs
/// more CPU than it saves, over it the pause saves CPU per query.
pub const DEFAULT_UDP_COALESCE_LOAD: f64 = 0.55;
/// The most bytes read of one zone, its `$INCLUDE`s counted, unless
/// `max-zone-file-size` says otherwise: some forty times a 1M-record zone,
/// while a file that never ends (`/dev/zero` is refused, but a growing
/// log named by mistake is not) stops well before memory does.
pub const DEFAULT_MAX_ZONE_FILE_SIZE: u64 = 1 << 30;
/// The most exec check commands running at once, unless `max-exec-checks`
/// says otherwise: room for a few hundred targets whose commands take a
/// good part of their interval, far below what a host's process and
/// descriptor limits allow (each command holds a process and three pipes).
pub const DEFAULT_MAX_EXEC_CHECKS: u32 = 256;
/// The most bytes read of a config file or an API token file: far above
/// any real one.
pub const MAX_CONFIG_FILE_SIZE: u64 = 4 << 20;
/// The most bytes read of a networks file: a country database written out
/// as networks (a few hundred thousand lines) is some tens of MiB.
pub const MAX_NETWORKS_FILE_SIZE: u64 = 1 << 30;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses to serve UDP and TCP on (the default when empty).
    pub listen: Vec<SocketAddr>,
    /// The zones to serve.
    pub zones: Vec<ZoneConfig>,
    /// Idle TCP timeout.
    pub tcp_idle_timeout: Duration,
    /// Idle TCP timeout once `tcp_max_connections` are open.
    pub tcp_busy_idle_timeout: Duration,
    /// TCP connection limit.
    pub tcp_max_connections: u32,
    /// UDP sockets per listen address; `None` = one per core.
    pub udp_workers: Option<u32>,
    /// The interface to answer UDP on over AF_XDP, if any.
    pub xdp: Option<String>,
    /// The UDP workers' pause, once drained, before looking again; zero
    /// (the default) for none.
    pub udp_coalesce: Duration,
    /// The share of its time on the CPU from which a UDP worker pauses
    /// (0: always).
    pub udp_coalesce_load: f64,
    /// The most bytes read of one zone, its `$INCLUDE`s counted.
    pub max_zone_file_size: u64,
    /// Where overrides and holds are kept across restarts (resolved
    /// against the config file's directory); `None`: not kept.
    pub state_dir: Option<PathBuf>,
    /// Health checks by name.
    pub checks: Checks,
    /// The most exec check commands running at once, across all targets.
    pub max_exec_checks: u32,
    /// Where transitions are announced.
    pub notify: Vec<notify::Notifier>,
    /// The admin API, when configured.
    pub api: Option<ApiConfig>,
    /// The instances this one agrees on health with, when configured.
    pub cluster: Option<ClusterConfig>,
    /// Response rate limiting, when on.
    pub rate_limit: Option<RateLimitConfig>,
    /// Client regions, when configured.
    pub geo: Option<GeoConfig>,
}

/// The API listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// Bearer token for requests that change state.
    pub token: Option<String>,
    /// Most connections open at once.
    pub max_connections: u32,
    /// Idle connections are closed after this long.
    pub idle_timeout: Duration,
    /// The longest a client may take to send a request's head.
    pub header_read_timeout: Duration,
}

/// Where the API listens when `[api]` gives no address.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8053";

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: Vec::new(),
            zones: Vec::new(),
            tcp_idle_timeout: DEFAULT_TCP_IDLE_TIMEOUT,
            tcp_busy_idle_timeout: DEFAULT_TCP_BUSY_IDLE_TIMEOUT,
            tcp_max_connections: DEFAULT_TCP_MAX_CONNECTIONS,
            udp_workers: None,
            xdp: None,
            udp_coalesce: Duration::ZERO,
            udp_coalesce_load: DEFAULT_UDP_COALESCE_LOAD,
            max_zone_file_size: DEFAULT_MAX_ZONE_FILE_SIZE,
            state_dir: None,
            checks: BTreeMap::new(),
            max_exec_checks: DEFAULT_MAX_EXEC_CHECKS,
            notify: Vec::new(),
            api: None,
            cluster: None,
            rate_limit: None,
            geo: None,
        }
    }
}

/// One zone to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    /// Path of the zone file (resolved against the config file's directory).
    pub file: PathBuf,
    /// Configured origin, if any.
    pub origin: Option<Name>,
}

/// A problem in a config file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line and column; 0 when the problem has no place in the file.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A message may quote the file (a key, a value, a name).
        let file = files::shown(&self.file);
        let message = files::escape(self.message.as_bytes());
        if self.line == 0 {
            write!(f, "{file}: {message}")
        } else {
            write!(f, "{file}:{}:{}: {message}", self.line, self.column)
        }
    }
}

/// The config file (if any) plus what the command line adds: the
/// configuration `serve`, `check` and reloads use. A `state_dir` given
/// replaces the config's.
pub fn gather(
    path: Option<&Path>,
    listen: &[SocketAddr],
    zones: &[PathBuf],
    state_dir: Option<&Path>,
) -> Result<Config, Vec<ConfigError>> {
    let mut config = match path {
        Some(path) => load(path)?,
        None => Config::default(),
    };
    if let Some(dir) = state_dir {
        config.state_dir = Some(dir.to_owned());
    }
    config.listen.extend_from_slice(listen);
    config.zones.extend(zones.iter().map(|file| ZoneConfig {
        file: file.clone(),
        origin: None,
    }));
    if config.listen.is_empty() {
        config
            .listen
            .push(DEFAULT_LISTEN.parse().expect("default address"));
    }
    Ok(config)
}

/// A name Linux would not take for an interface.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("xdp interface {0:?} is not an interface name (like eth0; at most 15 bytes)")]
pub struct InterfaceNameError(String);

/// An interface name as Linux takes it (at most 15 bytes, no `/`, no
/// blanks), for `xdp` and `--xdp`.
pub fn interface_name(name: &str) -> Result<String, InterfaceNameError> {
    let fits = !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && !name.contains(['/', ':'])
        && !name.chars().any(char::is_whitespace);
    if !fits {
        return Err(InterfaceNameError(name.to_owned()));
    }
    Ok(name.to_owned())
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
    let unplaced = |message| {
        vec![ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            message,
        }]
    };
    let bytes =
        files::read(path, MAX_CONFIG_FILE_SIZE).map_err(|err| unplaced(err.about("config")))?;
    let text = String::from_utf8(bytes).map_err(|err| {
        let at = err.utf8_error().valid_up_to();
        unplaced(format!("config is not UTF-8 (byte {at})"))
    })?;
    parse(path, &text)
}

/// Validates config text; `path` names it in errors and anchors relative paths.
pub fn parse(path: &Path, text: &str) -> Result<Config, Vec<ConfigError>> {
    let lines = LineStarts::of(text);
    let located = |span: Option<Range<usize>>, message: String| {
        let (line, column) = span.map_or((0, 0), |span| lines.line_column(span.start));
        ConfigError {
            file: path.to_owned(),
            line,
            column,
            message,
        }
    };
    let read = file::read(text);
    let mut errors: Vec<ConfigError> = read
        .errors
        .into_iter()
        .map(|found| located(found.span, found.message))
        .collect();
    let Some(raw) = read.file else {
        return Err(finished(path, errors, read.stopped));
    };

    let base = path.parent().unwrap_or(Path::new("."));
    let mut config = Config::default();
    for listen in raw.server.listen.iter().flatten() {
        match listen.get_ref().parse::<SocketAddr>() {
            Ok(addr) => config.listen.push(addr),
            Err(_) => errors.push(located(
                Some(listen.span()),
                format!(
                    "listen address {:?} is not ADDR:PORT (use [::1]:53 for IPv6)",
                    listen.get_ref()
                ),
            )),
        }
    }
    if let Some(timeout) = &raw.server.tcp_idle_timeout {
        match parse_duration(timeout.get_ref()) {
            Ok(duration) => config.tcp_idle_timeout = duration,
            Err(err) => errors.push(located(Some(timeout.span()), err.to_string())),
        }
    }
    if let Some(timeout) = &raw.server.tcp_busy_idle_timeout {
        match parse_duration(timeout.get_ref()) {
            Ok(duration) => config.tcp_busy_idle_timeout = duration,
            Err(err) => errors.push(located(Some(timeout.span()), err.to_string())),
        }
    }
    if let Some(max) = &raw.server.tcp_max_connections {
        match *max.get_ref() {
            0 => errors.push(located(
                Some(max.span()),
                "tcp-max-connections must be at least 1".into(),
            )),
            n => config.tcp_max_connections = n,
        }
    }
    if let Some(workers) = &raw.server.udp_workers {
        match *workers.get_ref() {
            0 => errors.push(located(
                Some(workers.span()),
                "udp-workers must be at least 1".into(),
            )),
            n => config.udp_workers = Some(n),
        }
    }
    if let Some(interface) = &raw.server.xdp {
        match interface_name(interface.get_ref()) {
            Ok(name) => config.xdp = Some(name),
            Err(err) => errors.push(located(Some(interface.span()), err.to_string())),
        }
    }
    if let Some(coalesce) = &raw.server.udp_coalesce {
        match parse_duration(coalesce.get_ref()) {
            Ok(duration) if duration <= MAX_UDP_COALESCE => config.udp_coalesce = duration,
            Ok(_) => errors.push(located(
                Some(coalesce.span()),
                format!(
                    "udp-coalesce is at most {} (it delays answers by up to that much)",
                    humantime::format_duration(MAX_UDP_COALESCE)
                ),
            )),
            Err(err) => errors.push(located(Some(coalesce.span()), err.to_string())),
        }
    }
    if let Some(size) = &raw.server.max_zone_file_size {
        match byte_size(size.get_ref()) {
            Ok(bytes) => config.max_zone_file_size = bytes,
            Err(err) => errors.push(located(
                Some(size.span()),
                format!("max-zone-file-size {err}"),
            )),
        }
    }
    if let Some(dir) = &raw.server.state_dir {
        if dir.get_ref().trim().is_empty() {
            errors.push(located(
                Some(dir.span()),
                "state-dir is empty: name a directory the server may write, or leave it out".into(),
            ));
        } else {
            config.state_dir = Some(base.join(dir.get_ref()));
        }
    }
    if let Some(load) = &raw.server.udp_coalesce_load {
        match *load.get_ref() {
            share if (0.0..=1.0).contains(&share) => config.udp_coalesce_load = share,
            _ => errors.push(located(
                Some(load.span()),
                "udp-coalesce-load is a share of the CPU, from 0 (always pause) to 1".into(),
            )),
        }
    }
    if let Some(max) = &raw.server.max_exec_checks {
        match *max.get_ref() {
            0 => errors.push(located(
                Some(max.span()),
                "max-exec-checks must be at least 1".into(),
            )),
            n => config.max_exec_checks = n,
        }
    }
    let mut valid = BTreeMap::new();
    for (name, section) in &raw.checks {
        let mut fail = |span, message| errors.push(located(span, message));
        if let Some(check) = check::validate(name, section, &mut fail) {
            valid.insert(name.clone(), check);
        }
    }
    let mut fail = |span, message| errors.push(located(span, message));
    config.checks = calculated::resolve(&raw.checks, &raw.unjudged_checks, valid, &mut fail);
    if let Some(section) = &raw.api {
        let listen = match &section.listen {
            None => Some(DEFAULT_API_LISTEN.parse().expect("default API address")),
            Some(text) => match text.get_ref().parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    errors.push(located(
                        Some(text.span()),
                        format!("api listen {:?} is not ADDR:PORT", text.get_ref()),
                    ));
                    None
                }
            },
        };
        let token = match (&section.token, &section.token_file) {
            (Some(_), Some(file)) => {
                errors.push(located(
                    Some(file.span()),
                    "give token or token-file, not both".into(),
                ));
                None
            }
            (Some(token), None) if token.get_ref().trim().is_empty() => {
                errors.push(located(Some(token.span()), "token is empty".into()));
                None
            }
            (Some(token), None) => Some(token.get_ref().trim().to_owned()),
            (None, Some(file)) => {
                let subject = format!("token-file {}", file.get_ref());
                let text = files::read(&base.join(file.get_ref()), MAX_CONFIG_FILE_SIZE)
                    .map_err(|err| err.about(&subject))
                    .and_then(|bytes| {
                        String::from_utf8(bytes).map_err(|_| format!("{subject} is not UTF-8"))
                    });
                match text {
                    Ok(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
                    Ok(_) => {
                        errors.push(located(Some(file.span()), format!("{subject} is empty")));
                        None
                    }
                    Err(message) => {
                        errors.push(located(Some(file.span()), message));
                        None
                    }
                }
            }
            (None, None) => None,
        };
        let max_connections = match &section.max_connections {
            None => DEFAULT_API_MAX_CONNECTIONS,
            Some(max) if *max.get_ref() == 0 => {
                errors.push(located(
                    Some(max.span()),
                    "api max-connections must be at least 1".into(),
                ));
                DEFAULT_API_MAX_CONNECTIONS
            }
            Some(max) => *max.get_ref(),
        };
        let mut positive = |key: &str, value: &Option<toml::Spanned<String>>, default| {
            let Some(text) = value else {
                return default;
            };
            match parse_duration(text.get_ref()) {
                Ok(duration) if !duration.is_zero() && duration <= MAX_API_TIMEOUT => duration,
                Ok(_) => {
                    errors.push(located(
                        Some(text.span()),
                        format!(
                            "api {key} must be more than 0s and at most {}",
                            humantime::format_duration(MAX_API_TIMEOUT)
                        ),
                    ));
                    default
                }
                Err(err) => {
                    errors.push(located(Some(text.span()), err.to_string()));
                    default
                }
            }
        };
        let idle_timeout = positive(
            "idle-timeout",
            &section.idle_timeout,
            DEFAULT_API_IDLE_TIMEOUT,
        );
        let header_read_timeout = positive(
            "header-read-timeout",
            &section.header_read_timeout,
            DEFAULT_API_HEADER_READ_TIMEOUT,
        );
        if let Some(listen) = listen {
            config.api = Some(ApiConfig {
                listen,
                token,
                max_connections,
                idle_timeout,
                header_read_timeout,
            });
        }
    }
    if let Some(section) = &raw.cluster {
        let mut fail = |span, message| errors.push(located(span, message));
        config.cluster = cluster::validate(section, base, &mut fail);
    }
    if let Some(section) = &raw.rate_limit {
        let mut fail = |span, message| errors.push(located(span, message));
        config.rate_limit = rate_limit::validate(section, &mut fail);
    }
    if let Some(section) = &raw.geo {
        let mut fail = |span, message| errors.push(located(span, message));
        config.geo = geo::validate(section, base, &mut fail);
    }
    for section in &raw.notify {
        let mut fail = |span, message| errors.push(located(span, message));
        if let Some(notifier) = notify::validate(section, base, &mut fail) {
            config.notify.push(notifier);
        }
    }
    for zone in &raw.zones {
        let origin = match &zone.origin {
            None => None,
            Some(origin) => match Name::from_text(origin.get_ref(), Some(&Name::root())) {
                Ok(name) => Some(name),
                Err(err) => {
                    errors.push(located(
                        Some(origin.span()),
                        format!("origin {:?}: {err}", origin.get_ref()),
                    ));
                    continue;
                }
            },
        };
        let file = base.join(zone.file.get_ref());
        // Judged again when the zone is read; here the error can point at
        // the key.
        let subject = format!("zone file {}", files::shown(&file));
        let problem = match files::inspect(&file, config.max_zone_file_size) {
            Ok(()) => None,
            Err(files::ReadError::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => {
                Some(format!("{subject} does not exist"))
            }
            Err(files::ReadError::TooLarge { size, limit }) => {
                Some(zone_too_large(&subject, size, limit))
            }
            Err(err) => Some(err.about(&subject)),
        };
        if let Some(message) = problem {
            errors.push(located(Some(zone.file.span()), message));
            continue;
        }
        config.zones.push(ZoneConfig { file, origin });
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(finished(path, errors, false))
    }
}

/// `errors` in the order of the file (those without a place last), capped;
/// `stopped` when reading gave up with more errors than it lists.
fn finished(path: &Path, mut errors: Vec<ConfigError>, stopped: bool) -> Vec<ConfigError> {
    errors.sort_by_key(|error| (error.line == 0, error.line, error.column));
    if stopped {
        errors.truncate(files::MAX_ERRORS);
        errors.push(ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            message: "… and possibly more errors: fix these first".into(),
        });
        return errors;
    }
    capped(path, errors)
}

/// Says that `subject` (a zone file, or the part of a zone an `$INCLUDE`
/// brings) is `size` bytes where `max-zone-file-size` allows `limit`.
pub(crate) fn zone_too_large(subject: &str, size: u64, limit: u64) -> String {
    format!(
        "{subject} is {}; max-zone-file-size is {}: raise it in [server] to read the zone",
        files::size(size),
        files::size(limit)
    )
}

/// The first [`files::MAX_ERRORS`] of `errors`, then one line counting
/// the rest.
fn capped(path: &Path, mut errors: Vec<ConfigError>) -> Vec<ConfigError> {
    if errors.len() > files::MAX_ERRORS {
        let more = errors.len() - files::MAX_ERRORS;
        errors.truncate(files::MAX_ERRORS);
        errors.push(ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            message: format!("… and {more} more errors"),
        });
    }
    errors
}

/// A byte count that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0}: write a number of bytes, or one with K, M or G (1024-based, also written KiB, MiB, \
     GiB), e.g. \"512MiB\""
)]
pub struct SizeError(String);

/// A byte count as `max-zone-file-size` takes it: a whole number of bytes
/// (an integer or a string), or a string with `K`, `M` or `G` (`KiB`,
/// `MiB`, `GiB` alike: 1024-based, as Knot and systemd read them). At
/// least 1.
pub fn byte_size(value: &toml::Value) -> Result<u64, SizeError> {
    let bad = || SizeError(value.to_string());
    let bytes = match value {
        toml::Value::Integer(n) => u64::try_from(*n).ok(),
        toml::Value::String(text) => {
            let text = text.trim();
            let digits = text
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len());
            let (number, unit) = text.split_at(digits);
            let shift = match unit.trim_start().to_ascii_lowercase().as_str() {
                "" | "b" => Some(0),
                "k" | "kib" => Some(10),
                "m" | "mib" => Some(20),
                "g" | "gib" => Some(30),
                _ => None,
            };
            let number = number.parse::<u64>().ok();
            number
                .zip(shift)
                .and_then(|(n, shift)| n.checked_mul(1 << shift))
        }
        _ => None,
    };
    bytes.filter(|&n| n > 0).ok_or_else(bad)
}

/// A duration that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("duration {text:?}: {reason} (write e.g. \"2s\" or \"500ms\")")]
pub struct DurationError {
    text: String,
    reason: String,
}

/// Parses `10s`, `500ms`, `2m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text).map_err(|err| DurationError {
        text: text.to_owned(),
        reason: err.to_string(),
    })
}

/// Where each line of a text starts, to place many errors without reading
/// the text again for each.
struct LineStarts {
    starts: Vec<usize>,
    len: usize,
}

impl LineStarts {
    fn of(text: &str) -> LineStarts {
        let after_newlines = text.match_indices('\n').map(|(i, _)| i + 1);
        LineStarts {
            starts: std::iter::once(0).chain(after_newlines).collect(),
            len: text.len(),
        }
    }

    /// The 1-based line and column (in bytes) of byte `offset`.
    fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.len);
        let line = self.starts.partition_point(|&start| start <= offset);
        (line, offset - self.starts[line - 1] + 1)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::files::MAX_ERRORS;

    /// Every error `parse` finds in `text`, as printed.
    pub(crate) fn errors(text: &str) -> Vec<String> {
        parse(Path::new("t.toml"), text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// `text` has exactly as many errors as `want`, each starting with one.
    #[track_caller]
    pub(crate) fn assert_errors(text: &str, want: &[&str]) {
        let found = errors(text);
        assert_eq!(found.len(), want.len(), "{found:#?}");
        for w in want {
            assert!(
                found.iter().any(|e| e.starts_with(w)),
                "missing {w:?} in {found:#?}"
            );
        }
    }

    #[test]
    fn places_are_lines_and_byte_columns() {
        let lines = LineStarts::of("ab\ncdé\n\nx");
        let placed: Vec<(usize, usize)> = [0, 1, 2, 3, 5, 7, 8, 9, 10, 99]
            .into_iter()
            .map(|offset| lines.line_column(offset))
            .collect();
        assert_eq!(
            placed,
            [
                (1, 1),
                (1, 2),
                (1, 3),
                (2, 1),
                (2, 3),
                (2, 5),
                (3, 1),
                (4, 1),
                (4, 2),
                (4, 2)
            ]
        );
    }

    #[test]
    fn reads_listen_and_timeouts() {
        let config = parse(
            Path::new("t.toml"),
            "[server]\nlisten = [\"127.0.0.1:53\", \"[::1]:53\"]\ntcp-idle-timeout = \"3s\"\n",
        )
        .unwrap();
        assert_eq!(config.listen.len(), 2);
        assert_eq!(config.tcp_idle_timeout, Duration::from_secs(3));
        assert!(config.zones.is_empty());
    }

    #[test]
    fn tcp_and_api_connection_limits_and_timeouts() {
        let config = parse(
            Path::new("t.toml"),
            "[server]\ntcp-busy-idle-timeout = \"50ms\"\n\
             [api]\nmax-connections = 7\nidle-timeout = \"5s\"\nheader-read-timeout = \"2s\"\n",
        )
        .unwrap();
        assert_eq!(config.tcp_busy_idle_timeout, Duration::from_millis(50));
        let api = config.api.unwrap();
        assert_eq!(
            (
                api.max_connections,
                api.idle_timeout,
                api.header_read_timeout
            ),
            (7, Duration::from_secs(5), Duration::from_secs(2))
        );
        let defaults = parse(Path::new("t.toml"), "[api]\n").unwrap();
        assert_eq!(
            defaults.tcp_busy_idle_timeout,
            DEFAULT_TCP_BUSY_IDLE_TIMEOUT
        );
        let api = defaults.api.unwrap();
        assert_eq!(
            (
                api.max_connections,
                api.idle_timeout,
                api.header_read_timeout
            ),
            (
                DEFAULT_API_MAX_CONNECTIONS,
                DEFAULT_API_IDLE_TIMEOUT,
                DEFAULT_API_HEADER_READ_TIMEOUT
            )
        );
        assert_errors(
            "[server]\ntcp-busy-idle-timeout = \"soon\"\n\
             [api]\nmax-connections = 0\nidle-timeout = \"0s\"\nheader-read-timeout = \"x\"\n",
            &[
                "t.toml:2:25: duration \"soon\"",
                "t.toml:4:19: api max-connections must be at least 1",
                "t.toml:5:16: api idle-timeout must be more than 0s and at most 1day",
                "t.toml:6:23: duration \"x\"",
            ],
        );
    }

    #[test]
    fn udp_coalesce_load_is_a_share_of_the_cpu() {
        let config = parse(Path::new("t.toml"), "[server]\nudp-coalesce-load = 0.7\n").unwrap();
        assert_eq!(config.udp_coalesce_load, 0.7);
        let config = parse(Path::new("t.toml"), "[server]\nudp-coalesce-load = 0.0\n").unwrap();
        assert_eq!(config.udp_coalesce_load, 0.0);
        assert_eq!(
            parse(Path::new("t.toml"), "").unwrap().udp_coalesce_load,
            DEFAULT_UDP_COALESCE_LOAD
        );
        for bad in ["1.5", "-0.1", "nan"] {
            let found = errors(&format!("[server]\nudp-coalesce-load = {bad}\n"));
            assert_eq!(
                found,
                [
                    "t.toml:2:21: udp-coalesce-load is a share of the CPU, from 0 (always pause) to 1"
                ],
                "{bad}"
            );
        }
    }

    #[test]
    fn udp_coalesce_is_a_short_duration() {
        let config = parse(Path::new("t.toml"), "[server]\nudp-coalesce = \"50us\"\n").unwrap();
        assert_eq!(config.udp_coalesce, Duration::from_micros(50));
        assert_eq!(
            parse(Path::new("t.toml"), "").unwrap().udp_coalesce,
            Duration::ZERO
        );
        let found = errors("[server]\nudp-coalesce = \"2ms\"\n");
        assert_eq!(
            found,
            ["t.toml:2:16: udp-coalesce is at most 1ms (it delays answers by up to that much)"]
        );
        let found = errors("[server]\nudp-coalesce = \"soon\"\n");
        assert!(
            found[0].starts_with("t.toml:2:16: duration \"soon\""),
            "{found:?}"
        );
    }

    #[test]
    fn state_dir_is_relative_to_the_config_file() {
        let config = parse(
            Path::new("/etc/healthdns/healthdns.toml"),
            "[server]\nstate-dir = \"state\"\n",
        )
        .unwrap();
        assert_eq!(
            config.state_dir.as_deref(),
            Some(Path::new("/etc/healthdns/state"))
        );
        let config = parse(
            Path::new("/etc/healthdns/healthdns.toml"),
            "[server]\nstate-dir = \"/var/lib/healthdns\"\n",
        )
        .unwrap();
        assert_eq!(
            config.state_dir.as_deref(),
            Some(Path::new("/var/lib/healthdns"))
        );
        assert_eq!(parse(Path::new("t.toml"), "").unwrap().state_dir, None);
        assert_eq!(
            errors("[server]\nstate-dir = \" \"\n"),
            [
                "t.toml:2:13: state-dir is empty: name a directory the server may write, or leave it out"
            ]
        );
    }

    #[test]
    fn xdp_names_an_interface() {
        let config = parse(Path::new("t.toml"), "[server]\nxdp = \"eth0\"\n").unwrap();
        assert_eq!(config.xdp.as_deref(), Some("eth0"));
        assert_eq!(parse(Path::new("t.toml"), "").unwrap().xdp, None);
        for bad in ["", "a-name-longer-than-15", "eth0/1", "eth 0"] {
            let found = errors(&format!("[server]\nlisten = []\nxdp = {bad:?}\n"));
            assert_eq!(found.len(), 1, "{bad:?}: {found:#?}");
            assert!(
                found[0].starts_with("t.toml:3:7: xdp interface"),
                "{bad:?}: {found:#?}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        assert_eq!(errors("[server]\nlisten = []\nlisen = 1\n").len(), 1);
        assert!(
            errors("[server]\nlisen = 1\n")[0].starts_with("t.toml:2:1: unknown field `lisen`")
        );
        assert_errors(
            "[[zone]]\nfile = \"x\"\nbogus = 1\n",
            &[
                "t.toml:2:8: zone file x does not exist",
                "t.toml:3:1: unknown field `bogus`",
            ],
        );
        assert!(errors("[sever]\n")[0].starts_with("t.toml:1:2: unknown field `sever`"));
    }

    #[test]
    fn an_unknown_key_hides_no_other_error() {
        let found = errors(
            "[sever]\nlisten = 1\n\
             [server]\nlisen = 1\ntcp-max-connections = \"many\"\nudp-workers = 0\n\
             listen = [\"127.0.0.1:53\", 53, \"nonsense\"]\n\
             [check.web]\ntype = \"tcp\"\nport = \"eighty\"\ncolour = \"red\"\n\
             [check.db]\ntype = \"tcp\"\nport = 5432\nfall = 0\nshade = 1\n\
             [[zone]]\nfile = \"missing.zone\"\nbogus = true\n\
             [[zone]]\norigin = \"example.com.\"\n",
        );
        assert_eq!(
            found,
            [
                "t.toml:1:2: unknown field `sever`, expected one of `server`, `zone`, `check`, \
                 `notify`, `api`, `cluster`, `rate-limit`, `geo`",
                "t.toml:4:1: unknown field `lisen`, expected one of `listen`, `tcp-idle-timeout`, `tcp-busy-idle-timeout`, \
                 `tcp-max-connections`, `udp-workers`, `xdp`, `udp-coalesce`, \
                 `udp-coalesce-load`, `max-zone-file-size`, `state-dir`, `max-exec-checks`",
                "t.toml:5:23: invalid type: string \"many\", expected u32",
                "t.toml:6:15: udp-workers must be at least 1",
                "t.toml:7:27: invalid type: integer `53`, expected a string",
                "t.toml:7:31: listen address \"nonsense\" is not ADDR:PORT (use [::1]:53 for IPv6)",
                "t.toml:10:8: invalid type: string \"eighty\", expected u16",
                "t.toml:11:1: unknown field `colour`, expected one of `type`, `port`, `path`, \
                 `host`, `method`, `headers`, `expect-status`, `body-contains`, `max-body`, \
                 `follow-redirects`, `tls-verify`, `interval`, `timeout`, `fall`, `rise`, \
                 `initial`, `failback`, `source`, `command`, `checks`, `count`",
                "t.toml:15:8: check db: fall must be at least 1",
                "t.toml:16:1: unknown field `shade`, expected one of `type`, `port`, `path`, \
                 `host`, `method`, `headers`, `expect-status`, `body-contains`, `max-body`, \
                 `follow-redirects`, `tls-verify`, `interval`, `timeout`, `fall`, `rise`, \
                 `initial`, `failback`, `source`, `command`, `checks`, `count`",
                "t.toml:18:8: zone file missing.zone does not exist",
                "t.toml:19:1: unknown field `bogus`, expected `file` or `origin`",
                "t.toml:20:1: missing field `file`",
            ],
            "{found:#?}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_leaves_only_its_section_unjudged() {
        // Neither "missing field `type`" for web nor "needs a port" for raw,
        // whose values were taken out; ok is judged.
        assert_eq!(
            errors(
                "[check.web]\ntype = 5\n[check.raw]\ntype = \"tcp\"\nport = \"x\"\n\
                 [check.ok]\ntype = \"tcp\"\n"
            ),
            [
                "t.toml:2:8: invalid type: integer `5`, expected a string",
                "t.toml:5:8: invalid type: string \"x\", expected u16",
                "t.toml:7:8: check ok: a tcp check needs a port",
            ]
        );
        // A key that is missing for want of being written is reported.
        assert_eq!(
            errors("[[zone]]\norigin = 5\n"),
            [
                "t.toml:1:1: missing field `file`",
                "t.toml:2:10: invalid type: integer `5`, expected a string",
            ]
        );
    }

    #[test]
    fn more_errors_than_listed_stop_the_reading() {
        let keys: String = (0..MAX_ERRORS + 50)
            .map(|i| format!("k{i} = 1\n"))
            .collect();
        let found = errors(&format!("[server]\n{keys}"));
        assert_eq!(found.len(), MAX_ERRORS + 1);
        assert!(found[0].starts_with("t.toml:2:1: unknown field `k0`"));
        assert_eq!(
            found[MAX_ERRORS],
            "t.toml: … and possibly more errors: fix these first"
        );
    }

    #[test]
    fn checks_get_their_defaults() {
        let config = parse(
            Path::new("t.toml"),
            "[check.web]\ntype = \"http\"\npath = \"/health\"\nexpect-status = [200, \"300-302\"]\n\
             [check.raw]\ntype = \"tcp\"\nport = 443\ninterval = \"1s\"\nfailback = \"manual\"\n",
        )
        .unwrap();
        let web = &config.checks["web"];
        assert_eq!(
            (web.kind, web.port, web.path.as_str()),
            (Kind::Http, 80, "/health")
        );
        assert_eq!(web.expect_status, [200..=200, 300..=302]);
        assert_eq!(
            (web.interval, web.timeout),
            (check::DEFAULT_INTERVAL, check::DEFAULT_TIMEOUT)
        );
        assert_eq!(web.thresholds, check::DEFAULT_THRESHOLDS);
        let raw = &config.checks["raw"];
        assert_eq!(
            (raw.kind, raw.port, raw.failback),
            (Kind::Tcp, 443, Failback::Manual)
        );
        assert_eq!(raw.timeout, check::DEFAULT_TIMEOUT);
    }

    #[test]
    fn bad_checks_are_reported_with_their_place() {
        let found = errors(
            "[check.a]\ntype = \"icmp\"\n[check.b]\ntype = \"tcp\"\npath = \"/x\"\n\
             [check.c]\ntype = \"http\"\ninterval = \"1s\"\ntimeout = \"2s\"\nfall = 0\nexpect-status = [\"600\"]\n\
             [check.d]\ntype = \"http\"\nbogus = 1\n",
        );
        assert_eq!(found.len(), 7, "{found:#?}");
        assert!(
            found[6].starts_with("t.toml:14:1: unknown field `bogus`"),
            "{found:#?}"
        );
        assert_errors(
            "[check.a]\ntype = \"icmp\"\n[check.b]\ntype = \"tcp\"\npath = \"/x\"\n\
             [check.c]\ntype = \"http\"\ninterval = \"1s\"\ntimeout = \"2s\"\nfall = 0\nexpect-status = [\"600\"]\n",
            &[
                "t.toml:2:8: check a: type \"icmp\": use http, https, tcp, exec, all, any or at-least",
                "t.toml:4:8: check b: a tcp check needs a port",
                "t.toml:4:8: check b: path applies to http and https checks only",
                "t.toml:11:18: check c: expect-status entries",
                "t.toml:9:11: check c: timeout must not exceed interval",
                "t.toml:10:8: check c: fall must be at least 1",
            ],
        );
    }

    #[test]
    fn byte_sizes_take_k_m_g_1024_based() {
        let size = |value: toml::Value| byte_size(&value);
        assert_eq!(size(1234.into()), Ok(1234));
        assert_eq!(size("1234".into()), Ok(1234));
        assert_eq!(size("64K".into()), Ok(64 << 10));
        assert_eq!(size("64 KiB".into()), Ok(64 << 10));
        assert_eq!(size("512MiB".into()), Ok(512 << 20));
        assert_eq!(size("2m".into()), Ok(2 << 20));
        assert_eq!(size("1GiB".into()), Ok(1 << 30));
        assert_eq!(size("3G".into()), Ok(3 << 30));
        assert_eq!(size("10B".into()), Ok(10));
        for bad in ["", "G", "1.5G", "1KB", "1TiB", "-1", "99999999999G", "0"] {
            assert!(size(bad.into()).is_err(), "{bad:?}");
        }
        assert!(size(0.into()).is_err());
        assert!(size((-1).into()).is_err());
        assert!(size(1.5.into()).is_err());
        assert_eq!(
            parse(Path::new("t.toml"), "").unwrap().max_zone_file_size,
            DEFAULT_MAX_ZONE_FILE_SIZE
        );
        let config = parse(
            Path::new("t.toml"),
            "[server]\nmax-zone-file-size = \"8M\"\n",
        );
        assert_eq!(config.unwrap().max_zone_file_size, 8 << 20);
        assert_eq!(
            errors("[server]\nmax-zone-file-size = \"lots\"\n"),
            [
                "t.toml:2:22: max-zone-file-size \"lots\": write a number of bytes, or one with \
                 K, M or G (1024-based, also written KiB, MiB, GiB), e.g. \"512MiB\""
            ]
        );
    }

    #[test]
    fn only_regular_files_are_read_and_refusals_point_at_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        crate::files::tests::mkfifo(&fifo);
        let big = dir.path().join("big.zone");
        std::fs::write(&big, [b'\n'; 2048]).unwrap();
        let (d, f, b) = (dir.path().display(), fifo.display(), big.display());
        let text = format!(
            "[server]\nmax-zone-file-size = \"1K\"\n[api]\ntoken-file = \"{f}\"\n\
             [[zone]]\nfile = \"{d}\"\n[[zone]]\nfile = \"/dev/zero\"\n\
             [[zone]]\nfile = \"{f}\"\n[[zone]]\nfile = \"{b}\"\n"
        );
        assert_eq!(
            errors(&text),
            [
                format!("t.toml:4:14: token-file {f} is a FIFO: only regular files are read"),
                format!("t.toml:6:8: zone file {d} is a directory: only regular files are read"),
                "t.toml:8:8: zone file /dev/zero is a character device: only regular files are \
                 read"
                    .to_owned(),
                format!("t.toml:10:8: zone file {f} is a FIFO: only regular files are read"),
                format!(
                    "t.toml:12:8: zone file {b} is 2 KiB; max-zone-file-size is 1 KiB: raise it \
                     in [server] to read the zone"
                ),
            ]
        );
        let found = load(&fifo).unwrap_err();
        assert_eq!(
            found[0].to_string(),
            format!("{f}: config is a FIFO: only regular files are read")
        );
        let found = load(dir.path()).unwrap_err();
        assert!(
            found[0]
                .message
                .ends_with("is a directory: only regular files are read")
        );
        let not_utf8 = dir.path().join("bad.toml");
        std::fs::write(&not_utf8, b"# caf\xe9\n").unwrap();
        assert_eq!(
            load(&not_utf8).unwrap_err()[0].message,
            "config is not UTF-8 (byte 5)"
        );
    }

    #[test]
    fn errors_are_capped_with_a_count_of_the_rest() {
        let text = "[[zone]]\nfile = \"missing.zone\"\n".repeat(MAX_ERRORS + 50);
        let found = errors(&text);
        assert_eq!(found.len(), MAX_ERRORS + 1);
        assert!(found[0].starts_with("t.toml:2:8: zone file missing.zone does not exist"));
        assert_eq!(found[MAX_ERRORS], "t.toml: … and 50 more errors");
    }

    #[test]
    fn messages_show_control_characters_escaped() {
        let found = errors("[api]\ntoken-file = \"a\\u001b[2J\"\n");
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("t.toml:2:14: cannot read token-file a\\027[2J: "),
            "{found:?}"
        );
    }

    #[test]
    fn every_bad_value_is_reported() {
        let found = errors(
            "[server]\nlisten = [\"nonsense\", \"127.0.0.1:53\"]\ntcp-idle-timeout = \"soon\"\n\
             [[zone]]\nfile = \"missing.zone\"\n[[zone]]\nfile = \"x\"\norigin = \"a..b\"\n",
        );
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].starts_with("t.toml:2:11: listen address \"nonsense\""));
        assert!(found[1].starts_with("t.toml:3:20: duration \"soon\""));
        assert!(found[2].starts_with("t.toml:5:8: zone file missing.zone does not exist"));
        assert!(found[3].starts_with("t.toml:8:10: origin \"a..b\""));
    }
}
