//! healthdns: an authoritative DNS server whose failover, multivalue and
//! weighted record sets follow the health of their servers.
//!
//! Data flows one way:
//!
//! | module | owns |
//! |---|---|
//! | [`name`] | domain names in wire format, text parsing, canonical order |
//! | [`zone`] | RFC 1035 zone files with line numbers and annotations; the `Zone` model |
//! | [`config`] | the TOML file format and the validated `Config` |
//! | [`wire`] | query parsing and response writing (name compression, EDNS) |
//! | [`answer`] | the immutable answer table, its builder, the pure lookup, and the workers' response cache |
//! | [`health`] | check kinds, probe loops, rise/fall hysteresis |
//! | [`catalog`] | every zone of a config, loaded, with every problem found |
//! | `groups` | indices grouped by a dense key in input order (records by owner) |
//! | [`metrics`] | Prometheus counters and histograms in atomics |
//! | [`api`] | the admin HTTP API, metrics endpoint and status page |
//! | [`random`] | a per-thread random source for shuffles, weights and jitter |
//! | [`server`] | UDP and TCP sockets, framing, limits, shutdown, the UDP workers' `udp-coalesce` pause; UDP over AF_XDP (`server::xdp`) |
//! | [`notify`] | announcing transitions: webhooks and commands, retried with backoff |
//! | [`service`] | the published table and its probe loops, replaced together on reload; the commands it obeys |
//! | [`daemon`] | the server as a library: load, bind, run until told to stop |
//! | [`client`] | small clients of the admin API (`healthdns status`, `override`) |
#![warn(missing_docs)]

pub mod answer;
pub mod api;
pub mod catalog;
pub mod client;
pub mod config;
pub mod daemon;
mod groups;
pub mod health;
pub mod metrics;
pub mod name;
pub mod notify;
pub mod random;
pub mod server;
pub mod service;
pub mod wire;
pub mod zone;
