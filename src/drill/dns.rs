//! One DNS query over UDP for the drill: the records of the type asked,
//! as text, as the status API writes a set's members.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

/// What a server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The RCODE (`NOERROR`, `SERVFAIL`, …).
    pub(crate) rcode: String,
    /// The RDATA of the answer's records of the type asked, sorted.
    pub(crate) records: Vec<String>,
    /// The smallest TTL among them.
    pub(crate) ttl: Option<u32>,
}

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The socket failed.
    #[error("{server}: {source}")]
    Io {
        /// Asked.
        server: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Nothing came back in time.
    #[error("{server}: no answer within {timeout:?}")]
    Timeout {
        /// Asked.
        server: SocketAddr,
        /// Waited.
        timeout: Duration,
    },
    /// The query could not be written.
    #[error("the query: {0}")]
    Query(#[from] hickory_proto::ProtoError),
}

/// Asks `server` for `name` `rtype` once, with the RD flag when
/// `recursion` (a resolver's client asks for it), waiting at most
/// `timeout`. Datagrams that are not the answer to this query are ignored.
pub(crate) async fn ask(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    recursion: bool,
    timeout: Duration,
) -> Result<Answer, Error> {
    let io = |source| Error::Io { server, source };
    let id = crate::random::below(u64::from(u16::MAX) + 1) as u16;
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = recursion;
    query.add_query(Query::query(name.clone(), rtype));
    let bytes = query.to_vec()?;
    let local: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(io)?;
    socket.connect(server).await.map_err(io)?;
    socket.send(&bytes).await.map_err(io)?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let len = tokio::time::timeout_at(deadline, socket.recv(&mut buf))
            .await
            .map_err(|_| Error::Timeout { server, timeout })?
            .map_err(io)?;
        let Ok(response) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        if response.metadata.id != id || response.metadata.message_type != MessageType::Response {
            continue;
        }
        let asked = response
            .answers
            .iter()
            .filter(|record| record.record_type() == rtype);
        let mut records: Vec<String> = asked.clone().map(|r| r.data.to_string()).collect();
        records.sort();
        return Ok(Answer {
            rcode: rcode_name(u16::from(response.metadata.response_code)),
            records,
            ttl: asked.map(|r| r.ttl).min(),
        });
    }
}

/// An RCODE's mnemonic, as dig prints it.
fn rcode_name(code: u16) -> String {
    match code {
        0 => "NOERROR".to_owned(),
        1 => "FORMERR".to_owned(),
        2 => "SERVFAIL".to_owned(),
        3 => "NXDOMAIN".to_owned(),
        4 => "NOTIMP".to_owned(),
        5 => "REFUSED".to_owned(),
        other => format!("RCODE{other}"),
    }
}

impl Answer {
    /// NOERROR.
    pub(crate) fn is_noerror(&self) -> bool {
        self.rcode == "NOERROR"
    }

    /// The records, or the RCODE when there are none, for a report.
    pub(crate) fn describe(&self) -> String {
        describe(&self.records, &self.rcode)
    }
}

/// `records` joined, or `rcode` and "no records" when there are none.
pub(crate) fn describe(records: &[String], rcode: &str) -> String {
    if records.is_empty() {
        format!("no records ({rcode})")
    } else {
        records.join(", ")
    }
}
