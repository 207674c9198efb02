//! Sockets: UDP workers and TCP connections, feeding [`crate::answer::respond`].
//!
//! hickory-server is not used: its `ServerFuture` spawns a task and allocates
//! per datagram. Here each UDP worker is a thread running one loop
//! (`worker.rs`) over its transport, which it owns with its buffers for
//! life: one SO_REUSEPORT socket batched with recvmmsg/sendmmsg
//! (`udp.rs`), or with `xdp` one AF_XDP queue of an interface, whose
//! queries bypass the kernel's IP and UDP layers ([`xdp`]). Either way the
//! published table is loaded once per batch. TCP runs on tokio.

mod bind;
mod coalesce;
mod conns;
mod limits;
mod plain;
mod rate_limit;
mod sockopt;
mod tcp;
mod tcp_framing;
mod udp;
mod worker;
pub mod xdp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::answer::SharedTable;
use crate::metrics::Metrics;
pub use crate::metrics::RateLimitCounters;
pub use bind::{Listener, bind};
pub use coalesce::Coalesce;
pub use conns::{Activity, Busy, Connection, Connections, Limits};
pub use limits::raise_open_files_limit;
pub use rate_limit::{Limiter, RateLimit};

/// Socket settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Idle TCP connections are closed after this long while at most half
    /// of `tcp_max_connections` are open.
    pub tcp_idle_timeout: Duration,
    /// ... and after this long once all are (`tcp-busy-idle-timeout`).
    pub tcp_busy_idle_timeout: Duration,
    /// Most TCP connections open at once; at the limit, the one idle
    /// longest is closed for a new one.
    pub tcp_max_connections: u32,
    /// The UDP and XDP workers' pause once drained (`udp-coalesce`).
    pub udp_coalesce: Coalesce,
    /// Where the sockets count what they answer.
    pub metrics: Arc<Metrics>,
    /// The UDP workers' response rate limiting, when on.
    pub rate_limit: Option<Arc<RateLimit>>,
}

/// Serves every listener, and `xdp`'s queues when given, until `shutdown`
/// is cancelled, then lets open TCP connections answer the queries they
/// have already read whole.
pub async fn serve(
    listeners: Vec<Listener>,
    mut xdp: Option<xdp::Xdp>,
    table: SharedTable,
    settings: Settings,
    shutdown: CancellationToken,
) {
    let mut tasks = JoinSet::new();
    if let Some(xdp) = &mut xdp {
        for worker in xdp.workers(&table, &settings, &shutdown) {
            tasks.spawn_blocking(worker);
        }
    }
    let connections = Connections::new(
        Limits {
            max: settings.tcp_max_connections,
            idle: settings.tcp_idle_timeout,
            busy_idle: settings.tcp_busy_idle_timeout,
        },
        settings.metrics.tcp.clone(),
    );
    tasks.spawn(connections.clone().sweep(shutdown.clone()));
    for listener in listeners {
        for socket in listener.udp {
            // A thread of its own: it blocks in recvmmsg, not in the runtime.
            let (table, shutdown) = (table.clone(), shutdown.clone());
            let (coalesce, metrics) = (settings.udp_coalesce, settings.metrics.clone());
            let rate_limit = settings.rate_limit.clone();
            tasks.spawn_blocking(move || {
                udp::run(
                    socket,
                    table,
                    coalesce,
                    &metrics,
                    rate_limit.as_deref(),
                    shutdown,
                )
            });
        }
        tasks.spawn(tcp::run(
            listener.tcp,
            table.clone(),
            settings.clone(),
            connections.clone(),
            shutdown.clone(),
        ));
    }
    while let Some(result) = tasks.join_next().await {
        if let Err(err) = result {
            tracing::error!(%err, "server task failed");
        }
    }
    // Detaches the XDP program only once no worker uses its sockets.
    drop(xdp);
}

/// Bound addresses, for logging and the `listening on` lines.
pub fn addresses(listeners: &[Listener]) -> Vec<SocketAddr> {
    listeners.iter().map(|listener| listener.addr).collect()
}
