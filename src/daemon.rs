//! The server as a library: what `healthdns serve` does between reading its
//! command line and exiting, so that the binary is only the command line and
//! a test can run a server inside the test's own process.
//!
//! [`Daemon::bind`] reads the config and zones and binds every socket before
//! any runtime exists (the runtime's size comes from the config);
//! [`Daemon::run`] then serves until it is told to stop. Signals reach it as
//! [`Command`]s, like the API's requests, through one channel.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::{self, Api};
use crate::catalog::{Catalog, Problem};
use crate::config::{ApiConfig, Config};
use crate::health::saved::{self, Saved};
use crate::metrics::Metrics;
use crate::server::{self, Listener};
use crate::service::{Command, Service, Source};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config or a zone is wrong: every problem found.
    #[error("{} error(s) in config or zones", .0.len())]
    Invalid(Vec<Problem>),
    /// `--xdp` names no interface.
    #[error("--xdp: {0}")]
    Interface(#[from] crate::config::InterfaceNameError),
    /// A listening socket could not be opened.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// XDP could not be set up.
    #[error(transparent)]
    Xdp(#[from] server::xdp::XdpError),
    /// The state directory or its file could not be read or written.
    #[error(transparent)]
    State(#[from] crate::health::saved::StateError),
    /// The HTTP clients of the checks could not be built.
    #[error("cannot set up the HTTP checks")]
    Checks(#[from] reqwest::Error),
    /// A task of the server failed.
    #[error("a server task failed")]
    Task(#[from] tokio::task::JoinError),
}

/// Where a running server listens, as said once it does.
#[derive(Debug, Clone)]
pub struct Ready {
    /// DNS addresses, UDP and TCP each.
    pub dns: Vec<SocketAddr>,
    /// The admin API, if configured.
    pub api: Option<SocketAddr>,
    /// Zones served.
    pub zones: usize,
    /// Targets probed.
    pub targets: usize,
}

/// A server with its config read, zones loaded and sockets bound.
pub struct Daemon {
    source: Source,
    config: Config,
    catalog: Catalog,
    /// What the state directory held.
    saved: Option<Saved>,
    listeners: Vec<Listener>,
    xdp: Option<server::xdp::Xdp>,
    workers: usize,
    api: Option<std::net::TcpListener>,
    metrics: Arc<Metrics>,
}

impl Daemon {
    /// Loads what `source` names and binds its listeners; with `xdp`, also
    /// answers UDP on that interface over AF_XDP (overriding the config's).
    pub fn bind(source: Source, xdp: Option<String>) -> Result<Daemon, Error> {
        let (config, catalog) = source.load().map_err(Error::Invalid)?;
        let xdp = match xdp.map(|name| crate::config::interface_name(&name)) {
            Some(Ok(name)) => Some(name),
            Some(Err(err)) => return Err(Error::Interface(err)),
            None => config.xdp.clone(),
        };
        for warning in &catalog.warnings {
            tracing::warn!("{warning}");
        }
        let saved = match &config.state_dir {
            Some(dir) => load_state(dir)?,
            None => None,
        };
        let workers = config
            .udp_workers
            .map(|n| n as usize)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let mut listeners = Vec::new();
        for &addr in &config.listen {
            listeners.push(
                server::bind(addr, workers).map_err(|source| Error::Listen { addr, source })?,
            );
        }
        let xdp = match xdp {
            Some(interface) => Some(open_xdp(&interface, &listeners)?),
            None => None,
        };
        let api = match &config.api {
            Some(api) => Some(
                std::net::TcpListener::bind(api.listen)
                    .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
                    .map_err(|source| Error::Listen {
                        addr: api.listen,
                        source,
                    })?,
            ),
            None => None,
        };
        Ok(Daemon {
            source,
            config,
            catalog,
            saved,
            listeners,
            xdp,
            workers,
            api,
            metrics: Arc::default(),
        })
    }

    /// Threads the runtime should have: one per UDP worker of an address.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Serves until [`Command::Shutdown`] arrives on `commands` or every
    /// sender is gone, then lets open TCP connections finish the query
    /// they are on. `ready` is called once every socket listens, before
    /// the first query is answered. The API sends its commands through
    /// `sender`, which should feed `commands`.
    pub async fn run(
        self,
        sender: mpsc::Sender<Command>,
        mut commands: mpsc::Receiver<Command>,
        ready: impl FnOnce(&Ready),
    ) -> Result<(), Error> {
        let Daemon {
            source,
            config,
            catalog,
            saved,
            listeners,
            xdp,
            api,
            metrics,
            ..
        } = self;
        let shutdown = CancellationToken::new();
        let mut service = Service::start(&config, &catalog, saved, metrics.clone(), &shutdown)?;
        let targets = service.table().load().targets().len();
        let clients = config
            .tcp_max_connections
            .saturating_add(config.api.as_ref().map_or(0, |api| api.max_connections));
        raise_open_files_limit(targets, clients);
        ready(&Ready {
            dns: server::addresses(&listeners),
            api: api.as_ref().and_then(|l| l.local_addr().ok()),
            zones: catalog.zones.len(),
            targets,
        });
        crate::catalog::dispose(catalog);
        if !config.udp_coalesce.is_zero() {
            tracing::info!(
                pause = ?config.udp_coalesce,
                from_load = config.udp_coalesce_load,
                "UDP workers pause once drained while busy (udp-coalesce)"
            );
        }
        let settings = server::Settings {
            tcp_idle_timeout: config.tcp_idle_timeout,
            tcp_busy_idle_timeout: config.tcp_busy_idle_timeout,
            tcp_max_connections: config.tcp_max_connections,
            udp_coalesce: server::Coalesce::new(config.udp_coalesce, config.udp_coalesce_load),
            metrics: metrics.clone(),
            rate_limit: config.rate_limit.as_ref().map(|limit| {
                tracing::info!(
                    responses_per_second = limit.responses_per_second,
                    slip = limit.slip,
                    "UDP responses are rate limited (rate-limit)"
                );
                Arc::new(server::RateLimit::new(limit))
            }),
        };
        let sockets = tokio::spawn(server::serve(
            listeners,
            xdp,
            service.table().clone(),
            settings,
            shutdown.clone(),
        ));
        let api_thread = match (api, &config.api) {
            (Some(listener), Some(settings)) => {
                let api = Api {
                    table: service.table().clone(),
                    history: service.history().clone(),
                    metrics,
                    commands: sender,
                    token: settings.token.as_deref().map(Arc::from),
                    cluster: service.cluster(),
                };
                Some(spawn_api(listener, api, settings, shutdown.clone())?)
            }
            // Without the API, the caller's senders alone keep `commands` open.
            _ => {
                drop(sender);
                None
            }
        };
        while let Some(Command::Reload(reply)) = commands.recv().await {
            let result = service.reload(&source);
            match &result {
                // A reload may add targets: the limit raised at start-up
                // may no longer cover them.
                Ok(reloaded) => raise_open_files_limit(reloaded.targets, clients),
                Err(errors) => {
                    for error in errors {
                        tracing::error!("reload refused, old data kept: {error}");
                    }
                }
            }
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
        tracing::info!("shutting down");
        shutdown.cancel();
        service.stop().await;
        sockets.await?;
        if let Some(thread) = api_thread {
            // The thread ends once its connections have; wait off the
            // runtime's threads.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        Ok(())
    }
}

/// Reads the overrides and holds kept in `dir`, and writes them back at
/// once: a state directory the server cannot write stops the start here,
/// not the first drain after it.
fn load_state(dir: &std::path::Path) -> Result<Option<Saved>, Error> {
    let loaded = saved::load(dir)?;
    saved::save(dir, loaded.as_ref().unwrap_or(&Saved::default()))?;
    Ok(loaded)
}

/// Serves the API on a thread of its own, with a runtime of its own, until
/// `shutdown`: whatever its clients do takes no time from the runtime that
/// answers DNS over TCP and runs the probes.
fn spawn_api(
    listener: std::net::TcpListener,
    api: Api,
    settings: &ApiConfig,
    shutdown: CancellationToken,
) -> Result<std::thread::JoinHandle<()>, Error> {
    let addr = settings.listen;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Listen { addr, source })?;
    let limits = server::Limits {
        max: settings.max_connections,
        idle: settings.idle_timeout,
        busy_idle: settings.idle_timeout,
    };
    let header_read_timeout = settings.header_read_timeout;
    std::thread::Builder::new()
        .name("healthdns-api".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => {
                        api::serve(listener, api, limits, header_read_timeout, shutdown).await
                    }
                    Err(err) => tracing::error!(%err, %addr, "cannot register the API listener"),
                }
            })
        })
        .map_err(|source| Error::Listen { addr, source })
}

/// Attaches XDP to `interface` for the first IPv4 and the first IPv6
/// listener (their ports, and their addresses unless unspecified).
fn open_xdp(interface: &str, listeners: &[Listener]) -> Result<server::xdp::Xdp, Error> {
    let mut ours = server::xdp::Ours { v4: None, v6: None };
    for listener in listeners {
        match listener.addr {
            SocketAddr::V4(addr) if ours.v4.is_none() => ours.v4 = Some(addr),
            SocketAddr::V6(addr) if ours.v6.is_none() => ours.v6 = Some(addr),
            other => {
                tracing::warn!(%other, "XDP serves one listener per IP version; this one stays on sockets")
            }
        }
    }
    let xdp = server::xdp::Xdp::open(interface, ours)?;
    tracing::info!(interface, v4 = ?ours.v4, v6 = ?ours.v6, queues = xdp.queues(), "answering UDP over AF_XDP");
    Ok(xdp)
}

/// Raises the open-files limit ([`server::raise_open_files_limit`]): each
/// HTTP target keeps a pooled connection and each TCP probe a socket, so the
/// usual soft limit of 1024 runs out at about a thousand targets. Warns when
/// even the hard limit is below what `targets` and `clients` (DNS over TCP
/// and API connections at their limits) need.
fn raise_open_files_limit(targets: usize, clients: u32) {
    let needed = targets as u64 + u64::from(clients);
    let limit = match server::raise_open_files_limit() {
        Ok(limit) => limit,
        Err(err) => {
            tracing::debug!(%err, "cannot read the open files limit");
            return;
        }
    };
    tracing::debug!(limit, "open files");
    // Sockets, the API, logs and zone files need a few more.
    if limit < needed + 64 {
        tracing::warn!(
            limit,
            needed = needed + 64,
            "the open files limit (ulimit -n) is below what the targets and TCP clients may use; probes may fail with \"too many open files\""
        );
    }
}
