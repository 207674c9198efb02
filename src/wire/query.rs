//! Parsing one query message, without allocating.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU16;

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
    /// Where the value of the query's client subnet option (RFC 7871)
    /// starts in the message, if it had one (already checked well formed):
    /// two bytes rather than the parsed subnet, so that the many queries
    /// without one do not copy a larger `Edns` for it.
    pub client_subnet_at: Option<NonZeroU16>,
}

impl Edns {
    /// The client subnet of `packet`, the message this was parsed from.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by geo answers (issue 21), not built yet")
    )]
    pub(crate) fn client_subnet(&self, packet: &[u8]) -> Option<ClientSubnet> {
        let at = usize::from(self.client_subnet_at?.get());
        let len = packet.get(at - 2..at)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        ClientSubnet::parse(packet.get(at..at + len)?)
    }
}

/// The EDNS option code of the client subnet (RFC 7871).
pub(crate) const OPTION_CLIENT_SUBNET: u16 = 8;

/// A client subnet from a query (RFC 7871 §6): the network the resolver
/// says its client is in, to answer for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientSubnet {
    /// The network's address; bits past `source` are zero.
    pub addr: IpAddr,
    /// SOURCE PREFIX-LENGTH: how many leading bits of `addr` count. 0
    /// asks for an answer that does not depend on the client.
    pub source: u8,
}

impl ClientSubnet {
    /// The option's FAMILY: 1 for IPv4, 2 for IPv6 (IANA address family
    /// numbers).
    pub(crate) fn family(&self) -> u16 {
        if self.addr.is_ipv4() { 1 } else { 2 }
    }

    /// The ADDRESS octets the option carries: as many as `source` needs.
    pub(crate) fn address_octets(&self) -> ([u8; 16], usize) {
        let mut octets = [0u8; 16];
        match self.addr {
            IpAddr::V4(v4) => octets[..4].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => octets = v6.octets(),
        }
        (octets, usize::from(self.source).div_ceil(8))
    }

    /// Reads the option's value; `None` when RFC 7871 §6 makes it
    /// malformed: too short, an unknown family, a source prefix longer
    /// than the family's addresses, other than the octets that prefix
    /// needs, or bits set past the prefix. A SCOPE PREFIX-LENGTH other
    /// than 0 (the RFC asks for 0 in queries) is ignored, as Knot does.
    fn parse(value: &[u8]) -> Option<ClientSubnet> {
        let (&[family_high, family_low, source, _scope], address) =
            value.split_first_chunk::<4>()?;
        let width = match u16::from_be_bytes([family_high, family_low]) {
            1 => 32,
            2 => 128,
            _ => return None,
        };
        if source > width || address.len() != usize::from(source).div_ceil(8) {
            return None;
        }
        let mut octets = [0u8; 16];
        octets[..address.len()].copy_from_slice(address);
        if let Some(&last) = address.last() {
            let kept_bits = (u32::from(source) - 1) % 8 + 1;
            if last & 0xffu8.checked_shr(kept_bits).unwrap_or(0) != 0 {
                return None;
            }
        }
        let addr = if width == 32 {
            IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(octets))
        };
        Some(ClientSubnet { addr, source })
    }
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

/// Why a message could not be parsed as a query, and what can still be
/// answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseError<'a> {
    /// Too short for a header, or a response: send nothing.
    Drop,
    /// Answer FORMERR with this header (no question).
    FormErr {
        /// Message ID.
        id: u16,
        /// Raw flags word of the query.
        flags: u16,
    },
    /// A well-formed message of another opcode than QUERY (NOTIFY, UPDATE,
    /// …): not looked up, but answered with its header and question.
    Opcode(Other<'a>),
}

/// A message whose opcode is not QUERY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Other<'a> {
    /// Message ID.
    pub id: u16,
    /// The raw flags word (opcode, RD, CD, …).
    pub flags: u16,
    /// Its question (the zone, for UPDATE), when it has one.
    pub question: Option<Question<'a>>,
    /// The OPT record, if it had one.
    pub edns: Option<Edns>,
}

/// A question as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Question<'a> {
    /// Uncompressed wire name, original case.
    pub name: &'a [u8],
    /// Type.
    pub qtype: u16,
    /// Class.
    pub qclass: u16,
}

/// Parses `packet` as a query.
///
/// Refuses (FORMERR) what RFC 1035 and RFC 6891 make malformed: a question
/// count other than one, answer or authority records in a query, a compressed
/// or overlong question name, more than one OPT or an OPT not owned by the
/// root, truncated records and trailing bytes.
///
/// Another opcode than QUERY is parsed by the same rules, but may have no
/// question (it is answered all the same) and records in every section, as
/// a NOTIFY (RFC 1996) or an UPDATE (RFC 2136) does; an OPT record counts
/// only in the additional section.
pub(crate) fn parse_query(packet: &[u8]) -> Result<Query<'_>, ParseError<'_>> {
    if packet.len() < header::LEN {
        return Err(ParseError::Drop);
    }
    let id = header::get(packet, ID);
    let flags = header::get(packet, FLAGS);
    if flags & flag::QR != 0 {
        return Err(ParseError::Drop);
    }
    let is_query = flags & flag::OPCODE_MASK == 0;
    let formerr = ParseError::FormErr { id, flags };
    let count = |field| header::get(packet, field);
    let (qdcount, ancount, nscount, arcount) = (
        count(QDCOUNT),
        count(ANCOUNT),
        count(NSCOUNT),
        count(ARCOUNT),
    );
    let well_counted = if is_query {
        qdcount == 1 && ancount == 0 && nscount == 0
    } else {
        qdcount <= 1
    };
    if !well_counted {
        return Err(formerr);
    }
    let mut at = header::LEN;
    let question = if qdcount == 1 {
        let name_len = uncompressed_name_len(&packet[at..]).ok_or(formerr)?;
        let name = &packet[at..at + name_len];
        at += name_len;
        let fixed = packet.get(at..at + 4).ok_or(formerr)?;
        at += 4;
        Some(Question {
            name,
            qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
        })
    } else {
        None
    };

    let mut edns = None;
    let before_additional = u32::from(ancount) + u32::from(nscount);
    for i in 0..before_additional + u32::from(arcount) {
        let owner_len = skip_name(packet, at).ok_or(formerr)?;
        let owner_is_root = packet[at] == 0;
        at += owner_len;
        let fixed = packet.get(at..at + 10).ok_or(formerr)?;
        let rr_type = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rr_class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let rdata = packet.get(at + 10..at + 10 + rdlen).ok_or(formerr)?;
        if rr_type == rtype::OPT {
            if i < before_additional || edns.is_some() || !owner_is_root {
                return Err(formerr);
            }
            let Ok(client_subnet_at) = options(rdata, at + 10) else {
                return Err(formerr);
            };
            edns = Some(Edns {
                payload: rr_class.max(MIN_UDP_PAYLOAD),
                version: fixed[5],
                dnssec_ok: fixed[6] & 0x80 != 0,
                client_subnet_at,
            });
        }
        at += 10 + rdlen;
    }
    if at != packet.len() {
        return Err(formerr);
    }
    match question {
        Some(question) if is_query => Ok(Query {
            id,
            flags,
            qname: question.name,
            qtype: question.qtype,
            qclass: question.qclass,
            edns,
        }),
        _ => Err(ParseError::Opcode(Other {
            id,
            flags,
            question,
            edns,
        })),
    }
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

/// The options of an OPT record: (code, length, value) triples filling
/// the RDATA exactly, which starts at `offset` in the message. Of them,
/// the client subnet is checked, and where its value starts returned;
/// `Err` when the RDATA is malformed, or the client subnet is (RFC 7871 §6
/// asks for FORMERR) or given twice.
fn options(mut rdata: &[u8], mut offset: usize) -> Result<Option<NonZeroU16>, Malformed> {
    let mut client_subnet_at = None;
    while !rdata.is_empty() {
        let Some((&[code_high, code_low, len_high, len_low], rest)) = rdata.split_first_chunk()
        else {
            return Err(Malformed);
        };
        let len = usize::from(u16::from_be_bytes([len_high, len_low]));
        let (value, rest) = rest.split_at_checked(len).ok_or(Malformed)?;
        offset += 4;
        if u16::from_be_bytes([code_high, code_low]) == OPTION_CLIENT_SUBNET {
            if client_subnet_at.is_some() {
                return Err(Malformed);
            }
            ClientSubnet::parse(value).ok_or(Malformed)?;
            let at = u16::try_from(offset).map_err(|_| Malformed)?;
            client_subnet_at = Some(NonZeroU16::new(at).ok_or(Malformed)?);
        }
        offset += len;
        rdata = rest;
    }
    Ok(client_subnet_at)
}

/// An OPT record's RDATA that is not what RFC 6891 and RFC 7871 allow.
#[derive(Debug)]
struct Malformed;

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
                dnssec_ok: true,
                client_subnet_at: None,
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

    /// A query whose OPT record holds `options`, each (code, value).
    fn with_options(options: &[(u16, &[u8])]) -> Vec<u8> {
        let mut rdata = Vec::new();
        for (code, value) in options {
            rdata.extend(code.to_be_bytes());
            rdata.extend((value.len() as u16).to_be_bytes());
            rdata.extend_from_slice(value);
        }
        let mut opt = vec![0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0];
        opt.extend((rdata.len() as u16).to_be_bytes());
        opt.extend(rdata);
        query(b"\x00", 1, Some(&opt))
    }

    fn subnet_of(options: &[(u16, &[u8])]) -> Result<Option<ClientSubnet>, ()> {
        let packet = with_options(options);
        match parse_query(&packet) {
            Ok(query) => {
                let edns = query.edns.unwrap();
                let subnet = edns.client_subnet(&packet);
                assert_eq!(subnet.is_some(), edns.client_subnet_at.is_some());
                Ok(subnet)
            }
            Err(ParseError::FormErr { .. }) => Err(()),
            Err(other) => panic!("{other:?}"),
        }
    }

    fn subnet(addr: &str, source: u8) -> Option<ClientSubnet> {
        Some(ClientSubnet {
            addr: addr.parse().unwrap(),
            source,
        })
    }

    #[test]
    fn reads_the_client_subnet() {
        let ecs = OPTION_CLIENT_SUBNET;
        assert_eq!(subnet_of(&[]), Ok(None));
        assert_eq!(
            subnet_of(&[(10, &[1; 8])]),
            Ok(None),
            "a cookie is no subnet"
        );
        assert_eq!(
            subnet_of(&[(ecs, &[0, 1, 24, 0, 192, 0, 2])]),
            Ok(subnet("192.0.2.0", 24))
        );
        assert_eq!(
            subnet_of(&[(10, &[1; 8]), (ecs, &[0, 1, 32, 0, 192, 0, 2, 1])]),
            Ok(subnet("192.0.2.1", 32))
        );
        assert_eq!(
            subnet_of(&[(ecs, &[0, 1, 23, 0, 192, 0, 2])]),
            Ok(subnet("192.0.2.0", 23))
        );
        assert_eq!(subnet_of(&[(ecs, &[0, 1, 0, 0])]), Ok(subnet("0.0.0.0", 0)));
        assert_eq!(subnet_of(&[(ecs, &[0, 2, 0, 0])]), Ok(subnet("::", 0)));
        assert_eq!(
            subnet_of(&[(ecs, &[0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x80])]),
            Ok(subnet("2001:db8:0:8000::", 56))
        );
        let full = [[0, 2, 128, 0].as_slice(), &[0xff; 16]].concat();
        assert_eq!(
            subnet_of(&[(ecs, &full)]),
            Ok(subnet("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128))
        );
        // A scope in a query (which RFC 7871 says must be 0) is ignored,
        // as Knot ignores it.
        assert_eq!(
            subnet_of(&[(ecs, &[0, 1, 24, 16, 192, 0, 2])]),
            Ok(subnet("192.0.2.0", 24))
        );
    }

    /// What RFC 7871 §6 makes malformed is FORMERR. Knot 3.2.6 (with
    /// `edns-client-subnet: on`) answers FORMERR to the first five; it
    /// takes the next three, which the RFC says SHOULD be refused.
    #[test]
    fn refuses_a_malformed_client_subnet() {
        let ecs = OPTION_CLIENT_SUBNET;
        for (value, why) in [
            (&[0u8, 1, 24][..], "shorter than its fixed fields"),
            (&[0, 1, 24, 0, 192, 0], "too few address octets"),
            (&[0, 1, 33, 0, 192, 0, 2, 0, 0], "a prefix past 32 bits"),
            (&[0, 3, 24, 0, 192, 0, 2], "an unknown family"),
            (&[0, 0, 0, 0], "family 0"),
            (&[0, 1, 24, 0, 192, 0, 2, 0], "too many address octets"),
            (&[0, 1, 23, 0, 192, 0, 3], "a bit set past the prefix"),
            (&[0, 2, 1, 0, 0x40], "a bit set past the prefix (IPv6)"),
        ] {
            assert_eq!(subnet_of(&[(ecs, value)]), Err(()), "{why}");
        }
        let v129 = [[0u8, 2, 129, 0].as_slice(), &[0; 17]].concat();
        assert_eq!(
            subnet_of(&[(ecs, &v129)]),
            Err(()),
            "a prefix past 128 bits"
        );
        let twice: &[u8] = &[0, 1, 24, 0, 192, 0, 2];
        assert_eq!(
            subnet_of(&[(ecs, twice), (ecs, twice)]),
            Err(()),
            "two client subnets: which one is the client's?"
        );
    }

    #[test]
    fn other_opcodes_keep_their_question_and_edns() {
        let mut packet = query(b"\x02Ex\x00", 6, Some(OPT));
        packet[2] = 0x21; // opcode 4 (NOTIFY), RD
        let Err(ParseError::Opcode(other)) = parse_query(&packet) else {
            panic!("{:?}", parse_query(&packet));
        };
        assert_eq!((other.id, other.flags), (0x1234, 0x2100));
        let question = other.question.unwrap();
        assert_eq!(
            (question.name, question.qtype, question.qclass),
            (&b"\x02Ex\x00"[..], 6, 1)
        );
        assert!(other.edns.unwrap().dnssec_ok);
    }

    #[test]
    fn other_opcodes_may_have_records_in_every_section_or_no_question() {
        // A NOTIFY with the new SOA in the answer section (owner compressed
        // to the question), and an UPDATE with a prerequisite and an update.
        let soa_rdata = [
            0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let mut notify = query(b"\x01a\x00", 6, None);
        notify[2] = 0x20;
        notify[7] = 1;
        notify.extend_from_slice(&[0xc0, 0x0c, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22]);
        notify.extend_from_slice(&soa_rdata);
        assert!(matches!(parse_query(&notify), Err(ParseError::Opcode(_))));
        let mut update = query(b"\x01a\x00", 6, Some(OPT));
        update[2] = 0x28;
        update[7] = 1;
        update[9] = 1;
        let opt_at = update.len() - OPT.len();
        let a = [1u8, b'b', 0xc0, 0x0c, 0, 1, 0, 254, 0, 0, 0, 0, 0, 0];
        update.splice(opt_at..opt_at, a.iter().chain(a.iter()).copied());
        let Err(ParseError::Opcode(other)) = parse_query(&update) else {
            panic!("{:?}", parse_query(&update));
        };
        assert!(other.edns.is_some(), "the OPT after the update section");
        let mut bare = vec![0x12, 0x34, 0x78, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
        let Err(ParseError::Opcode(other)) = parse_query(&bare) else {
            panic!("{:?}", parse_query(&bare));
        };
        assert_eq!(other.question, None);
        // The same rules otherwise: two questions, an OPT outside the
        // additional section and trailing bytes are malformed.
        bare[5] = 2;
        assert!(matches!(
            parse_query(&bare),
            Err(ParseError::FormErr { .. })
        ));
        let mut opt_in_answer = query(b"\x00", 6, None);
        opt_in_answer[2] = 0x20;
        opt_in_answer[7] = 1;
        opt_in_answer.extend_from_slice(OPT);
        assert!(matches!(
            parse_query(&opt_in_answer),
            Err(ParseError::FormErr { .. })
        ));
        notify.push(0);
        assert!(matches!(
            parse_query(&notify),
            Err(ParseError::FormErr { .. })
        ));
    }
}
