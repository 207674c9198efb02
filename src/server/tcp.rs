//! TCP: 2-byte length framing (RFC 1035 §4.2.2), several queries per
//! connection (RFC 7766), an idle timeout and a connection limit.

use std::net::TcpListener as StdTcpListener;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{Settings, SharedTable};
use crate::answer::{Transport, respond};

pub(super) async fn run(
    listener: StdTcpListener,
    table: SharedTable,
    settings: Settings,
    connections: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(%err, "cannot register TCP listener");
            return;
        }
    };
    let mut open = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::debug!(%err, "TCP accept failed");
                    continue;
                }
            },
        };
        // Reap finished connections so the set stays small.
        while open.try_join_next().is_some() {}
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "TCP connection limit reached, closing");
            continue;
        };
        let (table, settings, shutdown) = (table.clone(), settings.clone(), shutdown.clone());
        open.spawn(async move {
            if let Err(err) = connection(stream, &table, &settings, &shutdown).await {
                tracing::debug!(%err, %peer, "TCP connection ended");
            }
            drop(permit);
        });
    }
    // Let connections answer what they have read; they stop at their next read.
    while open.join_next().await.is_some() {}
}

async fn connection(
    mut stream: TcpStream,
    table: &SharedTable,
    settings: &Settings,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut query = vec![0u8; 65535];
    let mut response = vec![0u8; 65537];
    loop {
        let mut len = [0u8; 2];
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(()),
            read = tokio::time::timeout(settings.tcp_idle_timeout, stream.read_exact(&mut len)) => match read {
                Ok(read) => { read?; }
                Err(_) => return Ok(()),
            },
        }
        let len = u16::from_be_bytes(len) as usize;
        let read = tokio::time::timeout(
            settings.tcp_idle_timeout,
            stream.read_exact(&mut query[..len]),
        )
        .await;
        match read {
            Ok(read) => read?,
            Err(_) => return Ok(()),
        };
        let started = std::time::Instant::now();
        let answered = respond(
            &table.load(),
            &query[..len],
            Transport::Tcp,
            &mut response[2..],
        );
        crate::metrics::global().response.observe(started.elapsed());
        let Some(answer_len) = answered else {
            continue;
        };
        response[..2].copy_from_slice(&(answer_len as u16).to_be_bytes());
        stream.write_all(&response[..2 + answer_len]).await?;
    }
}
