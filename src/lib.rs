//! healthdns: an authoritative DNS server whose failover, multivalue and
//! weighted record sets follow the health of their servers.
//!
//! Data flows one way: each module uses only those of the layers above it
//! in this table (`tests/layers` checks it).
//!
//! ```text
//!   zone files ─┐                       ┌─> health::Registry (targets, slots; one probe loop each)
//!   config.toml ┴─> config ─> zone ─────┤                  │ Board: one atomic per target
//!                                       └─> answer::build ─┴─> SharedTable (one ArcSwap)
//!   UDP/TCP/XDP ─> server ─> answer::respond(&Table, query) ─> wire bytes
//!   service: reload and probe loops; api: read-only views and Commands; daemon: the whole
//! ```
//!
//! | layer | module | owns |
//! |---|---|---|
//! | 0 | [`name`], `random`, `groups`, [`client`], `files`, `exhaustion` | domain names in wire format; a per-thread random source; indices grouped by key; the admin API's command-line clients; reading the files an operator names (regular files only, bounded) and quoting them in messages; telling a local shortage (file descriptors, memory, ports, processes) from a peer's failure, pacing accept loops and logs through one |
//! | 1 | `wire`, [`drill`] | the DNS message: query parsing, response writing (compression, EDNS), header fields; `healthdns drill`, a failover drill through the admin API and DNS, as a client |
//! | 2 | [`config`], `metrics` | the TOML file format and the validated `Config`; counters and histograms in atomics |
//! | 3 | [`zone`], [`geo`] | RFC 1035 zone files with line numbers and annotations; the `Zone` model; the networks map (client address → region) |
//! | 4 | [`catalog`], [`health`] | every zone of a config, loaded, with every problem found; targets, their slots, check kinds, probe loops, rise/fall |
//! | 5 | [`answer`], `notify`, `cluster` | the immutable answer table, its builder, the pure lookup, the workers' response cache, what each set answered last (`Watch`); announcing transitions; health agreed with other instances through etcd |
//! | 6 | [`server`] | the UDP worker loop over sockets and AF_XDP, TCP, limits, `udp-coalesce` |
//! | 7 | [`service`] | the published table and its probe loops, replaced together on reload; the commands it obeys |
//! | 8 | `api` | the admin HTTP API, Prometheus text and status page |
//! | 9 | [`daemon`] | the server as a library: load, bind, run until told to stop |
//! | 10 | [`demo`] | `healthdns demo`: the failover example with two demo backends to stop and start |
#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod answer;
pub(crate) mod api;
#[doc(hidden)]
pub use api::{fuzz_override_body, fuzz_simulate_body};
pub mod catalog;
pub mod client;
pub(crate) mod cluster;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod drill;
pub(crate) mod exhaustion;
pub(crate) mod files;
pub mod geo;
mod groups;
pub mod health;
pub(crate) mod metrics;
pub mod name;
pub(crate) mod notify;
pub(crate) mod random;
pub mod server;
pub mod service;
pub(crate) mod wire;
pub mod zone;
