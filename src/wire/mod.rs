//! The DNS message on the wire: parsing queries and writing responses.
//!
//! Both halves work on caller-provided buffers and never allocate, because
//! they run once per query. hickory-proto's `Message` would allocate a `Vec`
//! per section and a `Name` per label; it is kept for tests, where it serves as
//! an independent decoder of what we write.

pub mod header;
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
    pub const HINFO: u16 = 13;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const NAPTR: u16 = 35;
    pub const DNAME: u16 = 39;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const SSHFP: u16 = 44;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const TLSA: u16 = 52;
    pub const CDS: u16 = 59;
    pub const SVCB: u16 = 64;
    pub const HTTPS: u16 = 65;
    pub const SPF: u16 = 99;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const ANY: u16 = 255;
    pub const CAA: u16 = 257;
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

/// Bits of the header's flags word ([`header::FLAGS`]).
pub mod flag {
    #![allow(missing_docs)]
    pub const QR: u16 = 0x8000;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const CD: u16 = 0x0010;
    pub const OPCODE_MASK: u16 = 0x7800;
    /// The 4-bit header RCODE: the low bits of an extended one (RFC 6891).
    pub const RCODE_MASK: u16 = 0x000f;
}

/// Class IN.
pub const CLASS_IN: u16 = 1;
/// QCLASS ANY (RFC 1035 §3.2.5).
pub const CLASS_ANY: u16 = 255;
/// The UDP payload every client takes (RFC 1035 §4.2.1): the limit of an
/// answer to a query without EDNS, and the least an EDNS payload counts as
/// (RFC 6891 §6.2.5).
pub const MIN_UDP_PAYLOAD: u16 = 512;
/// The UDP payload size we advertise and cap answers at (DNS flag day 2020,
/// also Knot's and NSD's default).
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// Size of the OPT record we append (root name, fixed fields, no options).
pub const OPT_LEN: usize = 11;
/// Room for one UDP answer: the largest payload, and past it the room
/// [`Writer::new`] asks for the OPT record.
pub const MAX_UDP_ANSWER: usize = MAX_UDP_PAYLOAD as usize + OPT_LEN;
