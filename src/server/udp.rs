//! One UDP worker: receive, answer, send, with buffers owned for life.

use std::net::UdpSocket as StdUdpSocket;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::SharedTable;
use crate::answer::{Transport, respond};

pub(super) async fn run(socket: StdUdpSocket, table: SharedTable, shutdown: CancellationToken) {
    let socket = match UdpSocket::from_std(socket) {
        Ok(socket) => socket,
        Err(err) => {
            tracing::error!(%err, "cannot register UDP socket");
            return;
        }
    };
    let mut query = vec![0u8; 65535].into_boxed_slice();
    let mut response = vec![0u8; 65535].into_boxed_slice();
    loop {
        let (len, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            received = socket.recv_from(&mut query) => match received {
                Ok(received) => received,
                Err(err) => {
                    tracing::debug!(%err, "UDP receive failed");
                    continue;
                }
            },
        };
        // Two vDSO clock reads per query, for dns_response_duration_seconds.
        let started = std::time::Instant::now();
        let answered = respond(&table.load(), &query[..len], Transport::Udp, &mut response);
        crate::metrics::global().response.observe(started.elapsed());
        if let Some(answer_len) = answered
            && let Err(err) = socket.send_to(&response[..answer_len], peer).await
        {
            tracing::debug!(%err, %peer, "UDP send failed");
        }
    }
}
