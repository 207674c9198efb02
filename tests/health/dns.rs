//! A raw UDP DNS client for the tests that need thousands of queries
//! (weighted shares) or the answer order as sent (multivalue shuffling):
//! dig is a process per run and its parsed answers are sorted.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// One answer record: type, TTL, RDATA (addresses as text, else hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: String,
}

/// The parts of a response the health tests look at.
#[derive(Debug, Clone)]
pub struct Reply {
    pub rcode: u8,
    /// Answer records in the order the server sent them.
    pub answer: Vec<Record>,
}

impl Reply {
    /// The RDATA of the answer records, in order.
    pub fn rdata(&self) -> Vec<String> {
        self.answer.iter().map(|r| r.rdata.clone()).collect()
    }
}

/// A UDP socket connected to the server.
pub struct Client {
    socket: UdpSocket,
    id: u16,
}

impl Client {
    pub fn new(server: SocketAddr) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind UDP client");
        socket.connect(server).expect("connect UDP client");
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        Client { socket, id: 1 }
    }

    /// Sends one query (`qtype` 1 = A, 28 = AAAA) and returns the reply;
    /// resends on a lost datagram, panics after 5 tries.
    pub fn query(&mut self, name: &str, qtype: u16) -> Reply {
        self.id = self.id.wrapping_add(1);
        let q = query(self.id, name, qtype);
        for _ in 0..5 {
            self.socket.send(&q).expect("send query");
            let mut buf = [0u8; 4096];
            while let Ok(n) = self.socket.recv(&mut buf) {
                // Not ours (a late answer to a resent query) or not a
                // response: keep reading.
                if n < 12 || buf[..2] != self.id.to_be_bytes() || buf[2] & 0x80 == 0 {
                    continue;
                }
                return parse(&buf[..n]).unwrap_or_else(|e| {
                    panic!("bad response to {name}/{qtype}: {e}: {:02x?}", &buf[..n])
                });
            }
        }
        panic!("no response to {name}/{qtype} after 5 tries");
    }
}

pub use crate::util::wire::query;

fn skip_name(m: &[u8], mut i: usize) -> Result<usize, String> {
    loop {
        let len = *m.get(i).ok_or("name runs past the end")? as usize;
        if len & 0xc0 == 0xc0 {
            return Ok(i + 2);
        }
        i += 1;
        if len == 0 {
            return Ok(i);
        }
        i += len;
    }
}

fn u16_at(m: &[u8], i: usize) -> Result<u16, String> {
    m.get(i..i + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| "truncated".to_string())
}

fn parse(m: &[u8]) -> Result<Reply, String> {
    let rcode = m[3] & 0x0f;
    let qd = u16_at(m, 4)?;
    let an = u16_at(m, 6)?;
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(m, i)? + 4;
    }
    let mut answer = Vec::new();
    for _ in 0..an {
        i = skip_name(m, i)?;
        let rtype = u16_at(m, i)?;
        let ttl = u32::from(u16_at(m, i + 4)?) << 16 | u32::from(u16_at(m, i + 6)?);
        let len = u16_at(m, i + 8)? as usize;
        i += 10;
        let data = m.get(i..i + len).ok_or("RDATA runs past the end")?;
        i += len;
        let rdata = match (rtype, len) {
            (1, 4) => Ipv4Addr::new(data[0], data[1], data[2], data[3]).to_string(),
            (28, 16) => {
                let b: [u8; 16] = data.try_into().unwrap();
                Ipv6Addr::from(b).to_string()
            }
            _ => data.iter().map(|b| format!("{b:02x}")).collect(),
        };
        answer.push(Record { rtype, ttl, rdata });
    }
    Ok(Reply { rcode, answer })
}
