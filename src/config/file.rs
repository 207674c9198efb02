//! The TOML file as written: serde structs that mirror it, unknown keys refused.
//!
//! Values checked after parsing keep their byte span ([`Spanned`]) so that
//! errors found later still point at `file:line:col`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) use super::check::CheckSection;
pub(crate) use super::cluster::ClusterSection;
pub(crate) use super::notify::NotifySection;

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct File {
    /// `[server]`
    #[serde(default)]
    pub server: ServerSection,
    /// `[[zone]]`
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneSection>,
    /// `[check.NAME]`
    #[serde(default, rename = "check")]
    pub checks: BTreeMap<String, CheckSection>,
    /// `[[notify]]`
    #[serde(default, rename = "notify")]
    pub notify: Vec<NotifySection>,
    /// `[api]`
    pub api: Option<ApiSection>,
    /// `[cluster]`
    pub cluster: Option<ClusterSection>,
}

/// `[api]`: the admin HTTP listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ApiSection {
    /// Address, default `127.0.0.1:8053`.
    pub listen: Option<Spanned<String>>,
    /// Bearer token for state-changing requests.
    pub token: Option<Spanned<String>>,
    /// A file holding the token (relative to the config file).
    pub token_file: Option<Spanned<String>>,
    /// Most connections open at once.
    pub max_connections: Option<Spanned<u32>>,
    /// How long a connection may stay idle.
    pub idle_timeout: Option<Spanned<String>>,
    /// How long a client may take to send a request's head.
    pub header_read_timeout: Option<Spanned<String>>,
}

/// `[server]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ServerSection {
    /// Addresses to serve UDP and TCP on.
    pub listen: Option<Vec<Spanned<String>>>,
    /// How long an idle TCP connection stays open.
    pub tcp_idle_timeout: Option<Spanned<String>>,
    /// How long once `tcp-max-connections` are open.
    pub tcp_busy_idle_timeout: Option<Spanned<String>>,
    /// Most TCP connections open at once.
    pub tcp_max_connections: Option<Spanned<u32>>,
    /// UDP worker sockets (SO_REUSEPORT), default one per core.
    pub udp_workers: Option<Spanned<u32>>,
    /// A network interface whose UDP queries are answered over AF_XDP.
    pub xdp: Option<Spanned<String>>,
    /// How long a UDP worker that has drained its socket or XDP ring
    /// waits before it looks again.
    pub udp_coalesce: Option<Spanned<String>>,
    /// The share of a UDP worker's time on the CPU from which it pauses.
    pub udp_coalesce_load: Option<Spanned<f64>>,
    /// The most bytes read of one zone, its `$INCLUDE`s counted: a number
    /// of bytes or a string such as `"512MiB"`.
    pub max_zone_file_size: Option<Spanned<toml::Value>>,
}

/// `[[zone]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ZoneSection {
    /// The zone file, relative to the config file's directory.
    pub file: Spanned<String>,
    /// The origin, when the SOA owner should not decide it.
    pub origin: Option<Spanned<String>>,
}
