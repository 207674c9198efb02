//! Parsing one query message, without allocating.

use super::header::{self, ANCOUNT, ARCOUNT, FLAGS, ID, NSCOUNT, QDCOUNT};
use super::{CLASS_IN, MIN_UDP_PAYLOAD, flag, rtype};
use crate::name::MAX_NAME_LEN;

/// EDNS(0) data from the query's OPT record (RFC 6891).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edns {
    /// Requestor's UDP payload size, raised to [`MIN_UDP_PAYLOAD`] when
    /// smaller.
    pub payload: u16,
    /// EDNS version.
    pub version: u8,
    /// The DO bit (RFC 3225), echoed back.
    pub dnssec_ok: bool,
}

/// A parsed query: borrowed from the packet where possible.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<'a> {
    /// Message ID.
    pub id: u16,
    /// The raw flags word (opcode, RD, CD, …).
    pub flags: u16,
    /// Question name as received (uncompressed wire, original case).
    pub qname: &'a [u8],
    /// Question type.
    pub qtype: u16,
    /// Question class.
    pub qclass: u16,
    /// The OPT record, if the query had one.
    pub edns: Option<Edns>,
}

impl Query<'_> {
    /// True for class IN.
    pub(crate) fn is_class_in(&self) -> bool {
        self.qclass == CLASS_IN
    }
}

/// Why a query could not be parsed, and what can still be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Too short for a header, or a response: send nothing.
    Drop,
    /// Answer FORMERR with this header (no question).
    FormErr {
        /// Message ID.
        id: u16,
        /// Raw flags word of the query.
        flags: u16,
    },
    /// The opcode is not QUERY: answer NOTIMP with this header.
    NotImp {
        /// Message ID.
        id: u16,
        /// Raw flags word of the query.
        flags: u16,
    },
}

/// Parses `packet` as a query.
///
/// Refuses (FORMERR) what RFC 1035 and RFC 6891 make malformed: a question
/// count other than one, answer or authority records in a query, a compressed
/// or overlong question name, more than one OPT or an OPT not owned by the
/// root, truncated records and trailing bytes.
pub(crate) fn parse_query(packet: &[u8]) -> Result<Query<'_>, ParseError> {
    if packet.len() < header::LEN {
        return Err(ParseError::Drop);
    }
    let id = header::get(packet, ID);
    let flags = header::get(packet, FLAGS);
    if flags & flag::QR != 0 {
        return Err(ParseError::Drop);
    }
    if flags & flag::OPCODE_MASK != 0 {
        return Err(ParseError::NotImp { id, flags });
    }
    let formerr = ParseError::FormErr { id, flags };
    let count = |field| header::get(packet, field);
    let (qdcount, ancount, nscount, arcount) = (
        count(QDCOUNT),
        count(ANCOUNT),
        count(NSCOUNT),
        count(ARCOUNT),
    );
    if qdcount != 1 || ancount != 0 || nscount != 0 {
        return Err(formerr);
    }
    let qname_len = uncompressed_name_len(&packet[header::LEN..]).ok_or(formerr)?;
    let qname = &packet[header::LEN..header::LEN + qname_len];
    let mut at = header::LEN + qname_len;
    let fixed = packet.get(at..at + 4).ok_or(formerr)?;
    let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let qclass = u16::from_be_bytes([fixed[2], fixed[3]]);
    at += 4;

    let mut edns = None;
    for _ in 0..arcount {
        let owner_len = skip_name(packet, at).ok_or(formerr)?;
        let owner_is_root = packet[at] == 0;
        at += owner_len;
        let fixed = packet.get(at..at + 10).ok_or(formerr)?;
        let rr_type = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rr_class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let rdata = packet.get(at + 10..at + 10 + rdlen).ok_or(formerr)?;
        if rr_type == rtype::OPT {
            if edns.is_some() || !owner_is_root || !options_well_formed(rdata) {
                return Err(formerr);
            }
            edns = Some(Edns {
                payload: rr_class.max(MIN_UDP_PAYLOAD),
                version: fixed[5],
                dnssec_ok: fixed[6] & 0x80 != 0,
            });
        }
        at += 10 + rdlen;
    }
    if at != packet.len() {
        return Err(formerr);
    }
    Ok(Query {
        id,
        flags,
        qname,
        qtype,
        qclass,
        edns,
    })
}

/// Length of an uncompressed name at the start of `bytes`.
fn uncompressed_name_len(bytes: &[u8]) -> Option<usize> {
    crate::name::wire_name_len(bytes)
}

/// Skips a possibly compressed name at `at`; returns the bytes it occupies there.
fn skip_name(packet: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    loop {
        let len = *packet.get(i)?;
        match len {
            0 => return Some(i + 1 - at),
            0xc0..=0xff => {
                packet.get(i + 1)?;
                return Some(i + 2 - at);
            }
            1..=63 => i += 1 + len as usize,
            _ => return None,
        }
        if i - at > MAX_NAME_LEN {
            return None;
        }
    }
}

/// EDNS options are (code, length, value) triples filling the RDATA exactly.
fn options_well_formed(mut rdata: &[u8]) -> bool {
    while !rdata.is_empty() {
        if rdata.len() < 4 {
            return false;
        }
        let len = u16::from_be_bytes([rdata[2], rdata[3]]) as usize;
        match rdata.get(4 + len..) {
            Some(rest) => rdata = rest,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(qname: &[u8], qtype: u16, opt: Option<&[u8]>) -> Vec<u8> {
        let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        packet.extend_from_slice(qname);
        packet.extend_from_slice(&qtype.to_be_bytes());
        packet.extend_from_slice(&1u16.to_be_bytes());
        if let Some(opt) = opt {
            packet[11] = 1;
            packet.extend_from_slice(opt);
        }
        packet
    }

    const OPT: &[u8] = &[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0];

    #[test]
    fn parses_plain_and_edns_queries() {
        let packet = query(b"\x03WwW\x07example\x00", 1, None);
        let q = parse_query(&packet).unwrap();
        assert_eq!((q.id, q.qtype, q.qclass), (0x1234, 1, 1));
        assert_eq!(q.qname, b"\x03WwW\x07example\x00");
        assert!(q.edns.is_none());
        let packet = query(b"\x00", 6, Some(OPT));
        let edns = parse_query(&packet).unwrap().edns.unwrap();
        assert_eq!(
            edns,
            Edns {
                payload: 1232,
                version: 0,
                dnssec_ok: true
            }
        );
    }

    #[test]
    fn small_payload_counts_as_512() {
        let opt = [0, 0, 41, 0, 100, 0, 0, 0, 0, 0, 0];
        let packet = query(b"\x00", 1, Some(&opt));
        assert_eq!(parse_query(&packet).unwrap().edns.unwrap().payload, 512);
    }

    #[test]
    fn drops_short_packets_and_responses() {
        assert!(matches!(parse_query(&[0; 11]), Err(ParseError::Drop)));
        let mut packet = query(b"\x00", 1, None);
        packet[2] |= 0x80;
        assert!(matches!(parse_query(&packet), Err(ParseError::Drop)));
    }

    #[test]
    fn refuses_malformed_queries() {
        let formerr = |p: &[u8]| matches!(parse_query(p), Err(ParseError::FormErr { .. }));
        let good = query(b"\x01a\x00", 1, None);
        let mut two_questions = good.clone();
        two_questions[5] = 2;
        assert!(formerr(&two_questions));
        assert!(formerr(&good[..good.len() - 1]));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(formerr(&trailing));
        assert!(formerr(&query(b"\xc0\x0c", 1, None)));
        let mut two_opts = query(b"\x00", 1, Some(OPT));
        two_opts[11] = 2;
        two_opts.extend_from_slice(OPT);
        assert!(formerr(&two_opts));
        let bad_option = [0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 3, 0, 10, 0];
        assert!(formerr(&query(b"\x00", 1, Some(&bad_option))));
    }

    #[test]
    fn other_opcodes_are_notimp() {
        let mut packet = query(b"\x00", 6, None);
        packet[2] = 0x20; // opcode 4, NOTIFY
        assert!(matches!(
            parse_query(&packet),
            Err(ParseError::NotImp { .. })
        ));
    }
}
