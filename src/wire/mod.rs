//! The DNS message on the wire: parsing queries and writing responses.
//!
//! Both halves work on caller-provided buffers and never allocate, because
//! they run once per query. hickory-proto's `Message` would allocate a `Vec`
//! per section and a `Name` per label; it is kept for tests, where it serves as
//! an independent decoder of what we write.

mod query;
mod writer;

pub use query::{Edns, ParseError, Query, parse_query};
pub use writer::{Full, RdataLayout, Section, Writer, put_opt};

/// Resource record types the server itself needs to name.
pub mod rtype {
    #![allow(missing_docs)]
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const DNAME: u16 = 39;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const SVCB: u16 = 64;
    pub const HTTPS: u16 = 65;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const ANY: u16 = 255;
}

/// Response codes, including the extended ones carried in OPT.
pub mod rcode {
    #![allow(missing_docs)]
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    pub const YXDOMAIN: u16 = 6;
    pub const NOTAUTH: u16 = 9;
    pub const BADVERS: u16 = 16;
}

/// Header flag bits (second 16-bit word of the header).
pub mod flag {
    #![allow(missing_docs)]
    pub const QR: u16 = 0x8000;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const CD: u16 = 0x0010;
    pub const OPCODE_MASK: u16 = 0x7800;
}

/// Class IN.
pub const CLASS_IN: u16 = 1;
/// QCLASS ANY (RFC 1035 §3.2.5).
pub const CLASS_ANY: u16 = 255;
/// The UDP payload size we advertise and cap answers at (DNS flag day 2020,
/// also Knot's and NSD's default).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// Size of the OPT record we append (root name, fixed fields, no options).
pub const OPT_LEN: usize = 11;
