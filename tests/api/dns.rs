//! Raw DNS queries for the counters and the soak: one UDP datagram (no
//! resend) or one TCP query on a fresh connection, each with a 2 s timeout,
//! returning what went wrong instead of panicking so a caller can count it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use crate::util::wire::query;

/// How long one query may take before it counts as a timeout.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a query did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No response within [`QUERY_TIMEOUT`].
    Timeout,
    /// Any other error: I/O, a malformed response.
    Error(String),
}

/// The rcode and the A records of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rcode: u8,
    pub a: Vec<String>,
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn io(e: std::io::Error) -> Failure {
    if is_timeout(&e) {
        Failure::Timeout
    } else {
        Failure::Error(e.to_string())
    }
}

/// One UDP query for `name A`, one datagram, no resend.
pub fn udp(server: SocketAddr, id: u16, name: &str) -> Result<Answer, Failure> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(io)?;
    socket.connect(server).map_err(io)?;
    socket.set_read_timeout(Some(QUERY_TIMEOUT)).map_err(io)?;
    socket.send(&query(id, name, 1)).map_err(io)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).map_err(io)?;
        if n >= 12 && buf[..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 {
            return parse(&buf[..n]).map_err(Failure::Error);
        }
    }
}

/// One TCP query for `name A` on a new connection.
pub fn tcp(server: SocketAddr, id: u16, name: &str) -> Result<Answer, Failure> {
    let mut stream = TcpStream::connect_timeout(&server, QUERY_TIMEOUT).map_err(io)?;
    stream.set_read_timeout(Some(QUERY_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(QUERY_TIMEOUT)).map_err(io)?;
    let q = query(id, name, 1);
    let mut out = (q.len() as u16).to_be_bytes().to_vec();
    out.extend(q);
    stream.write_all(&out).map_err(io)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(io)?;
    let mut m = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut m).map_err(io)?;
    if m.len() < 12 || m[..2] != id.to_be_bytes() {
        return Err(Failure::Error(format!("not our response: {m:02x?}")));
    }
    parse(&m).map_err(Failure::Error)
}

fn skip_name(m: &[u8], mut i: usize) -> Result<usize, String> {
    loop {
        let len = *m.get(i).ok_or("name runs past the end")? as usize;
        if len & 0xc0 == 0xc0 {
            return Ok(i + 2);
        }
        i += 1 + len;
        if len == 0 {
            return Ok(i);
        }
    }
}

fn u16_at(m: &[u8], i: usize) -> Result<u16, String> {
    m.get(i..i + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| "truncated".to_string())
}

fn parse(m: &[u8]) -> Result<Answer, String> {
    let rcode = m[3] & 0x0f;
    let mut i = 12;
    for _ in 0..u16_at(m, 4)? {
        i = skip_name(m, i)? + 4;
    }
    let mut a = Vec::new();
    for _ in 0..u16_at(m, 6)? {
        i = skip_name(m, i)?;
        let rtype = u16_at(m, i)?;
        let len = u16_at(m, i + 8)? as usize;
        i += 10;
        let data = m.get(i..i + len).ok_or("RDATA runs past the end")?;
        i += len;
        if rtype == 1 && len == 4 {
            a.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]).to_string());
        }
    }
    a.sort();
    Ok(Answer { rcode, a })
}
