//! End-to-end tests of `healthdns`: one integration test binary, one module
//! per area, one shared harness (`util`).
//!
//! | module | covers |
//! |---|---|
//! | `util` | the server on port 0, Knot DNS, the `dig` runner and parser |
//! | `alloc` | a counting allocator: the UDP answer path, and TCP connections once established, allocate nothing |
//! | `battery` | the query battery against the fixture zone (RFC 1034/2308/6672/4592/8482/6891) |
//! | `differential` | healthdns vs Knot DNS on the same zone, section by section |
//! | `cluster` | `[cluster]`: three instances on a real etcd agreeing on health, overrides, etcd outages, the state file's overrides against etcd's |
//! | `drill` | the operator's drill: Unbound in front, Prometheus scraping with the shipped rules, a failover, a drain and a restart tell one story; `healthdns drill` and the simulated failures it asks the API for |
//! | `demo` | `healthdns demo`: the failover example fails over and back as its primary is stopped and started |
//! | `check` | `healthdns check` on broken and clean zones and configs |
//! | `hostile` | devices, FIFOs, directories, oversized zones and junk given to `check`, `serve` and reload; floods of idle TCP and API connections; a server out of file descriptors |
//! | `layers` | the modules of `src/` use only the layers below their own |
//! | `health` | health-aware record sets: failover, multivalue, weighted, checks, all-down, TTLs |
//! | `api` | the operations API: metrics, status, overrides, reload, the CLI client, overrides and holds kept across restarts (`state-dir`) |
//! | `library` | `Daemon` run in the test's own process: answers, reloads and stops on command |
//! | `notify` | `[[notify]]` webhooks and commands hearing a failover, and their config errors |
//! | `status_page` | the status page (`GET /`) in headless Chromium: fixture documents, errors, the live server |
//! | `transport` | TCP framing, idle timeouts (shorter as connections near the limit), the connection idle longest making room, malformed datagrams, config files |
//! | `xdp` | `serve --xdp lo` in a network namespace answers as the socket path (root only) |
//!
//! Area modules live in directories (`tests/NAME/mod.rs`) so Cargo does not
//! build each of them as a test binary of its own.

mod alloc;
mod api;
mod battery;
mod check;
mod cluster;
mod demo;
mod differential;
mod drill;
mod health;
mod hostile;
mod layers;
mod library;
mod notify;
mod status_page;
mod transport;
mod util;
mod xdp;

/// Counts allocations for `alloc`; forwards to the system allocator.
#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;
