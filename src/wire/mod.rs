//! The DNS message on the wire: parsing queries and writing responses.
//!
//! Both halves work on caller-provided buffers and never allocate, because
//! they run once per query. hickory-proto's `Message` would allocate a `Vec`
//! per section and a `Name` per label; it is kept for tests, where it serves as
//! an independent decoder of what we write.

pub(crate) mod header;
mod query;
mod writer;

pub(crate) use query::{Edns, Other, ParseError, Query, parse_query};
pub(crate) use writer::{Full, RdataLayout, Section, Writer, put_opt};

/// Opcodes the server tells apart from QUERY (0).
pub(crate) mod opcode {
    #![allow(missing_docs)]
    pub(crate) const NOTIFY: u16 = 4;
    pub(crate) const UPDATE: u16 = 5;
}

/// Resource record types the server itself needs to name.
pub(crate) mod rtype {
    #![allow(missing_docs)]
    pub(crate) const A: u16 = 1;
    pub(crate) const NS: u16 = 2;
    pub(crate) const CNAME: u16 = 5;
    pub(crate) const SOA: u16 = 6;
    pub(crate) const PTR: u16 = 12;
    pub(crate) const MINFO: u16 = 14;
    pub(crate) const MX: u16 = 15;
    pub(crate) const TXT: u16 = 16;
    pub(crate) const AAAA: u16 = 28;
    pub(crate) const SRV: u16 = 33;
    pub(crate) const DNAME: u16 = 39;
    pub(crate) const OPT: u16 = 41;
    pub(crate) const DS: u16 = 43;
    pub(crate) const RRSIG: u16 = 46;
    pub(crate) const NSEC: u16 = 47;
    pub(crate) const SVCB: u16 = 64;
    pub(crate) const HTTPS: u16 = 65;
    pub(crate) const IXFR: u16 = 251;
    pub(crate) const AXFR: u16 = 252;
    pub(crate) const ANY: u16 = 255;
    pub(crate) const CAA: u16 = 257;
}

/// Response codes, including the extended ones carried in OPT.
pub(crate) mod rcode {
    #![allow(missing_docs)]
    pub(crate) const NOERROR: u16 = 0;
    pub(crate) const FORMERR: u16 = 1;
    pub(crate) const SERVFAIL: u16 = 2;
    pub(crate) const NXDOMAIN: u16 = 3;
    pub(crate) const NOTIMP: u16 = 4;
    pub(crate) const REFUSED: u16 = 5;
    pub(crate) const YXDOMAIN: u16 = 6;
    pub(crate) const NOTAUTH: u16 = 9;
    pub(crate) const BADVERS: u16 = 16;
}

/// Bits of the header's flags word ([`header::FLAGS`]).
pub(crate) mod flag {
    #![allow(missing_docs)]
    pub(crate) const QR: u16 = 0x8000;
    pub(crate) const AA: u16 = 0x0400;
    pub(crate) const TC: u16 = 0x0200;
    pub(crate) const RD: u16 = 0x0100;
    pub(crate) const CD: u16 = 0x0010;
    pub(crate) const OPCODE_MASK: u16 = 0x7800;
    /// The 4-bit header RCODE: the low bits of an extended one (RFC 6891).
    pub(crate) const RCODE_MASK: u16 = 0x000f;
}

/// Class IN.
pub(crate) const CLASS_IN: u16 = 1;
/// Class CH (CHAOS).
pub(crate) const CLASS_CH: u16 = 3;
/// QCLASS ANY (RFC 1035 §3.2.5).
pub(crate) const CLASS_ANY: u16 = 255;
/// The UDP payload every client takes (RFC 1035 §4.2.1): the limit of an
/// answer to a query without EDNS, and the least an EDNS payload counts as
/// (RFC 6891 §6.2.5).
pub(crate) const MIN_UDP_PAYLOAD: u16 = 512;
/// The UDP payload size we advertise and cap answers at (DNS flag day 2020,
/// also Knot's and NSD's default).
pub(crate) const MAX_UDP_PAYLOAD: u16 = 1232;
/// Size of the OPT record we append (root name, fixed fields, no options).
pub(crate) const OPT_LEN: usize = 11;
/// The longest client subnet option (RFC 7871) an answer carries: the
/// option's code and length, family, two prefix lengths and an IPv6
/// address.
pub(crate) const CLIENT_SUBNET_MAX_LEN: usize = 4 + 4 + 16;
/// Room for one UDP answer: the largest payload, and past it the room
/// [`Writer::new`] asks for the OPT record.
pub(crate) const MAX_UDP_ANSWER: usize = MAX_UDP_PAYLOAD as usize + OPT_LEN;
