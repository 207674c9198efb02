//! The answer path against hand-built zones, decoded with hickory-proto.

use std::path::Path;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::serialize::binary::BinDecodable;

use super::{Cache, Transport, build, respond};
use crate::name::Name;
use crate::wire::rtype;
use crate::zone::{Location, Record, Zone};

fn name(text: &str) -> Name {
    Name::from_text(text, Some(&Name::from_text("example.com.", None).unwrap())).unwrap()
}

fn record(owner: &str, rr_type: u16, ttl: u32, rdata: Vec<u8>) -> Record {
    Record {
        owner: name(owner),
        rtype: rr_type,
        ttl,
        rdata: rdata.into(),
        location: Location {
            file: Path::new("test.zone").into(),
            line: 1,
            column: 0,
        },
        health: None,
    }
}

fn wire(text: &str) -> Vec<u8> {
    name(text).as_wire().to_vec()
}

fn zone() -> Zone {
    let mut soa = wire("ns1");
    soa.extend(wire("hostmaster"));
    for value in [1u32, 7200, 3600, 1209600, 300] {
        soa.extend(value.to_be_bytes());
    }
    let mut mx = vec![0, 10];
    mx.extend(wire("mail"));
    let records = vec![
        record("@", rtype::SOA, 3600, soa),
        record("@", rtype::NS, 3600, wire("ns1")),
        record("@", rtype::MX, 3600, mx),
        record("ns1", rtype::A, 3600, vec![192, 0, 2, 53]),
        record("mail", rtype::A, 3600, vec![192, 0, 2, 25]),
        record("www", rtype::A, 300, vec![192, 0, 2, 1]),
        record("www", rtype::A, 300, vec![192, 0, 2, 2]),
        record("a.b.c", rtype::A, 300, vec![192, 0, 2, 3]),
        record("alias", rtype::CNAME, 300, wire("alias2")),
        record("alias2", rtype::CNAME, 300, wire("www")),
        record("dangling", rtype::CNAME, 300, wire("nowhere")),
        record("loop1", rtype::CNAME, 300, wire("loop2")),
        record("loop2", rtype::CNAME, 300, wire("loop1")),
        record("outside", rtype::CNAME, 300, wire("www.example.net.")),
        record("*.wild", rtype::A, 60, vec![192, 0, 2, 9]),
        record("x.y.wild", rtype::TXT, 60, b"\x02hi".to_vec()),
        record("sub", rtype::NS, 3600, wire("ns.sub")),
        record("sub", rtype::DS, 3600, vec![0, 1, 8, 2, 0xab]),
        record("ns.sub", rtype::A, 3600, vec![192, 0, 2, 54]),
        record(
            "alias-svc",
            rtype::HTTPS,
            300,
            [&[0, 0][..], &wire("www")].concat(),
        ),
        record(
            "svc",
            rtype::SVCB,
            300,
            [&[0, 1][..], &wire("svc-target")].concat(),
        ),
        record(
            "svc-target",
            rtype::SVCB,
            300,
            [&[0, 1][..], &[0], &[0, 3, 0, 2, 0x20, 0xfb]].concat(),
        ),
        record(
            "svc-target",
            rtype::AAAA,
            300,
            [0x20, 1, 0xd, 0xb8]
                .into_iter()
                .chain([0; 11])
                .chain([1])
                .collect(),
        ),
        record("old", rtype::DNAME, 600, wire("new")),
        record("host.new", rtype::A, 600, vec![192, 0, 2, 77]),
        record(
            "s",
            rtype::DNAME,
            600,
            wire("a-target-name-long-enough-to-overflow-255-octets"),
        ),
        record(
            "big",
            rtype::TXT,
            300,
            [&[255u8][..], &[b'x'; 255]].concat(),
        ),
        record(
            "big",
            rtype::TXT,
            300,
            [&[255u8][..], &[b'y'; 255]].concat(),
        ),
    ];
    Zone {
        origin: name("@"),
        records,
    }
}

struct Q {
    name: &'static str,
    qtype: u16,
    edns: Option<(u16, u8)>,
    transport: Transport,
}

fn q(name: &'static str, qtype: u16) -> Q {
    Q {
        name,
        qtype,
        edns: None,
        transport: Transport::Udp,
    }
}

fn packet(query: &Q) -> Vec<u8> {
    let mut packet = vec![0xbe, 0xef, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0];
    packet.extend(Name::from_text(query.name, None).unwrap().as_wire());
    packet.extend(query.qtype.to_be_bytes());
    packet.extend(1u16.to_be_bytes());
    if let Some((payload, version)) = query.edns {
        packet[11] = 1;
        packet.extend([0, 0, 41]);
        packet.extend(payload.to_be_bytes());
        packet.extend([0, version, 0, 0, 0, 0]);
    }
    packet
}

fn ask(query: Q) -> Message {
    let table = build(&[zone()], &Default::default());
    let mut out = vec![0u8; 65535];
    let len = respond(&table, &packet(&query), query.transport, &mut out).expect("an answer");
    Message::from_bytes(&out[..len]).expect("hickory reads our answer")
}

fn lines(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

#[test]
fn positive_answer_is_authoritative_and_keeps_question_case() {
    let m = ask(q("WwW.Example.COM.", rtype::A));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert!(m.metadata.recursion_desired && m.metadata.checking_disabled);
    assert_eq!(m.metadata.id, 0xbeef);
    assert_eq!(m.queries[0].name().to_string(), "WwW.Example.COM.");
    assert_eq!(
        lines(&m.answers),
        [
            "WwW.Example.COM. 300 A 192.0.2.1",
            "WwW.Example.COM. 300 A 192.0.2.2"
        ]
    );
    assert!(m.authorities.is_empty());
}

#[test]
fn nxdomain_and_nodata_carry_the_negative_soa() {
    let m = ask(q("nope.example.com.", rtype::A));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].ttl, 300, "min(SOA TTL 3600, MINIMUM 300)");
    let m = ask(q("www.example.com.", rtype::AAAA));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(
        m.authorities[0].record_type(),
        hickory_proto::rr::RecordType::SOA
    );
}

#[test]
fn empty_non_terminals_are_nodata() {
    for ent in ["c.example.com.", "b.c.example.com."] {
        let m = ask(q(ent, rtype::A));
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{ent}");
        assert!(m.answers.is_empty());
        assert_eq!(m.authorities.len(), 1);
    }
}

#[test]
fn cname_chains_stop_at_loops_missing_names_and_the_zone_edge() {
    let m = ask(q("alias.example.com.", rtype::A));
    assert_eq!(
        lines(&m.answers),
        [
            "alias.example.com. 300 CNAME alias2.example.com.",
            "alias2.example.com. 300 CNAME www.example.com.",
            "www.example.com. 300 A 192.0.2.1",
            "www.example.com. 300 A 192.0.2.2",
        ]
    );
    let m = ask(q("dangling.example.com.", rtype::A));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.answers.len(), 1);
    let m = ask(q("loop1.example.com.", rtype::A));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 2);
    let m = ask(q("outside.example.com.", rtype::A));
    assert_eq!(
        lines(&m.answers),
        ["outside.example.com. 300 CNAME www.example.net."]
    );
    let m = ask(q("alias.example.com.", rtype::CNAME));
    assert_eq!(m.answers.len(), 1);
}

#[test]
fn wildcards_synthesise_unless_blocked() {
    let m = ask(q("anything.wild.example.com.", rtype::A));
    assert_eq!(
        lines(&m.answers),
        ["anything.wild.example.com. 60 A 192.0.2.9"]
    );
    assert!(m.metadata.authoritative);
    // y.wild exists as an empty non-terminal: no synthesis there or below it.
    let m = ask(q("y.wild.example.com.", rtype::A));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    let m = ask(q("z.y.wild.example.com.", rtype::A));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    // Wildcard exists but not for this type: NODATA.
    let m = ask(q("other.wild.example.com.", rtype::MX));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
}

#[test]
fn delegations_refer_with_glue_and_answer_ds_from_the_parent() {
    for qname in ["sub.example.com.", "deep.host.sub.example.com."] {
        let m = ask(q(qname, rtype::A));
        assert!(!m.metadata.authoritative, "{qname}");
        assert!(m.answers.is_empty());
        assert_eq!(
            lines(&m.authorities),
            ["sub.example.com. 3600 NS ns.sub.example.com."]
        );
        assert_eq!(
            lines(&m.additionals),
            ["ns.sub.example.com. 3600 A 192.0.2.54"]
        );
    }
    let m = ask(q("sub.example.com.", rtype::DS));
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 1);
}

/// `sub.example.com.` as its own zone: the child of the delegation in
/// [`zone`].
fn child_zone() -> Zone {
    let mut soa = wire("ns.sub");
    soa.extend(wire("hostmaster"));
    for value in [1u32, 7200, 3600, 1209600, 600] {
        soa.extend(value.to_be_bytes());
    }
    Zone {
        origin: name("sub"),
        records: vec![
            record("sub", rtype::SOA, 3600, soa),
            record("sub", rtype::NS, 3600, wire("ns.sub")),
            record("ns.sub", rtype::A, 3600, vec![192, 0, 2, 54]),
            record("www.sub", rtype::A, 3600, vec![192, 0, 2, 55]),
        ],
    }
}

fn ask_zones(zones: &[Zone], query: Q) -> Message {
    let table = build(zones, &Default::default());
    let mut out = vec![0u8; 65535];
    let len = respond(&table, &packet(&query), query.transport, &mut out).expect("an answer");
    Message::from_bytes(&out[..len]).expect("hickory reads our answer")
}

#[test]
fn ds_at_a_served_child_apex_comes_from_the_parent() {
    let both = [zone(), child_zone()];
    let m = ask_zones(&both, q("sub.example.com.", rtype::DS));
    assert!(m.metadata.authoritative);
    assert_eq!(
        m.answers.len(),
        1,
        "the parent's DS, not the child's NODATA"
    );
    assert_eq!(
        m.answers[0].record_type(),
        hickory_proto::rr::RecordType::DS
    );
    // Everything else at and below the child apex is the child's.
    let m = ask_zones(&both, q("sub.example.com.", rtype::NS));
    assert!(m.metadata.authoritative);
    assert_eq!(
        lines(&m.answers),
        ["sub.example.com. 3600 NS ns.sub.example.com."]
    );
    let m = ask_zones(&both, q("www.sub.example.com.", rtype::DS));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        lines(&m.authorities)[0]
            .split(' ')
            .take(3)
            .collect::<Vec<_>>(),
        ["sub.example.com.", "600", "SOA"],
        "a DS below the child apex is the child's NODATA"
    );
    // With the child alone, its own apex answers: NODATA.
    let m = ask_zones(&[child_zone()], q("sub.example.com.", rtype::DS));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative && m.answers.is_empty());
    assert_eq!(m.authorities[0].name.to_string(), "sub.example.com.");
}

#[test]
fn dname_synthesises_a_cname_and_follows_it() {
    let m = ask(q("host.old.example.com.", rtype::A));
    // hickory-proto 0.26 shows DNAME RDATA as opaque bytes: compare those.
    assert_eq!(
        m.answers[0].record_type(),
        hickory_proto::rr::RecordType::DNAME
    );
    assert_eq!(m.answers[0].name.to_string(), "old.example.com.");
    let dname =
        hickory_proto::serialize::binary::BinEncodable::to_bytes(&m.answers[0].data).unwrap();
    assert_eq!(dname, wire("new"));
    assert_eq!(
        lines(&m.answers[1..]),
        [
            "host.old.example.com. 600 CNAME host.new.example.com.",
            "host.new.example.com. 600 A 192.0.2.77",
        ]
    );
    // A CNAME query is answered by the synthesised CNAME itself (as Knot).
    let m = ask(q("gone.old.example.com.", rtype::CNAME));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 2);
    assert!(m.authorities.is_empty());
    let long = Box::leak(format!("{}s.example.com.", "abcdefghij.".repeat(21)).into_boxed_str());
    let m = ask(q(long, rtype::A));
    assert_eq!(m.metadata.response_code, ResponseCode::YXDomain);
    assert_eq!(m.answers.len(), 1, "the DNAME alone");
}

#[test]
fn additional_section_has_mx_target_addresses() {
    let m = ask(q("example.com.", rtype::MX));
    assert_eq!(
        lines(&m.additionals),
        ["mail.example.com. 3600 A 192.0.2.25"]
    );
}

#[test]
fn additional_section_has_svcb_and_https_target_addresses_and_sets() {
    // AliasMode: the target's addresses.
    let m = ask(q("alias-svc.example.com.", rtype::HTTPS));
    assert_eq!(
        lines(&m.additionals),
        [
            "www.example.com. 300 A 192.0.2.1",
            "www.example.com. 300 A 192.0.2.2"
        ]
    );
    // ServiceMode: the target's addresses and its own SVCB set.
    let m = ask(q("svc.example.com.", rtype::SVCB));
    let found: Vec<(String, hickory_proto::rr::RecordType)> = m
        .additionals
        .iter()
        .map(|r| (r.name.to_string(), r.record_type()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "svc-target.example.com.".into(),
                hickory_proto::rr::RecordType::AAAA
            ),
            (
                "svc-target.example.com.".into(),
                hickory_proto::rr::RecordType::SVCB
            ),
        ]
    );
    // "." names no other host: nothing to add.
    let m = ask(q("svc-target.example.com.", rtype::SVCB));
    assert!(m.additionals.is_empty(), "{:?}", m.additionals);
}

#[test]
fn other_opcodes_keep_rd_clear_cd_and_echo_the_question() {
    let table = build(&[zone()], &Default::default());
    let mut out = vec![0u8; 65535];
    for (opcode, code) in [
        (1u8, ResponseCode::NotImp),
        (2, ResponseCode::NotImp),
        (4, ResponseCode::NotAuth),
        (5, ResponseCode::NotAuth),
        (15, ResponseCode::NotImp),
    ] {
        let mut query = packet(&Q {
            edns: Some((1232, 0)),
            ..q("example.com.", rtype::SOA)
        });
        query[2] = opcode << 3 | 1; // RD
        query[3] = 0x30; // AD, CD
        let len = respond(&table, &query, Transport::Udp, &mut out).expect("an answer");
        let m = Message::from_bytes(&out[..len]).expect("hickory reads our answer");
        assert_eq!(m.metadata.response_code, code, "opcode {opcode}");
        assert_eq!(u8::from(m.metadata.op_code), opcode);
        assert!(m.metadata.recursion_desired, "opcode {opcode}");
        assert!(
            !m.metadata.checking_disabled && !m.metadata.authentic_data,
            "opcode {opcode}"
        );
        assert!(!m.metadata.authoritative);
        assert_eq!(m.queries.len(), 1);
        assert!(m.answers.is_empty() && m.authorities.is_empty());
        assert!(m.edns.is_some());
    }
}

#[test]
fn names_outside_every_zone_are_refused() {
    let m = ask(q("www.example.net.", rtype::A));
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(!m.metadata.authoritative);
}

#[test]
fn udp_size_limits_set_tc_and_tcp_has_room() {
    let m = ask(q("big.example.com.", rtype::TXT));
    assert!(m.metadata.truncation);
    assert!(
        m.answers.is_empty() && m.authorities.is_empty(),
        "as Knot: the question only"
    );
    let m = ask(Q {
        edns: Some((4096, 0)),
        ..q("big.example.com.", rtype::TXT)
    });
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 2);
    assert_eq!(m.edns.as_ref().unwrap().max_payload(), 1232);
    let m = ask(Q {
        transport: Transport::Tcp,
        ..q("big.example.com.", rtype::TXT)
    });
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 2);
}

#[test]
fn edns_version_above_zero_is_badvers() {
    let m = ask(Q {
        edns: Some((1232, 1)),
        ..q("www.example.com.", rtype::A)
    });
    // 16 is BADVERS in OPT (hickory names the code after TSIG's BADSIG).
    assert_eq!(u16::from(m.metadata.response_code), 16);
    assert!(m.answers.is_empty());
}

#[test]
fn any_is_minimal_over_udp_and_full_over_tcp() {
    let m = ask(q("example.com.", rtype::ANY));
    assert_eq!(m.answers.len(), 1);
    let m = ask(Q {
        transport: Transport::Tcp,
        ..q("example.com.", rtype::ANY)
    });
    assert_eq!(m.answers.len(), 3, "SOA, NS and MX");
}

#[test]
fn mutated_packets_never_panic_and_answers_decode() {
    let table = build(&[zone()], &Default::default());
    let mut out = vec![0u8; 65535];
    let seeds: Vec<Vec<u8>> = [
        q("www.example.com.", rtype::A),
        q("alias.example.com.", rtype::A),
        q("host.old.example.com.", rtype::A),
        Q {
            edns: Some((1232, 0)),
            ..q("big.example.com.", rtype::TXT)
        },
    ]
    .iter()
    .map(packet)
    .collect();
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    for round in 0..20_000 {
        let mut input = seeds[round % seeds.len()].clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % input.len();
            match next() % 3 {
                0 => input[at] = next() as u8,
                1 => input.truncate(at.max(1)),
                _ => input.insert(at, next() as u8),
            }
        }
        for transport in [Transport::Udp, Transport::Tcp] {
            if let Some(len) = respond(&table, &input, transport, &mut out) {
                assert!(len >= 12 && out[..2] == input[..2]);
                if transport == Transport::Udp {
                    assert!(len <= 1232);
                }
                Message::from_bytes(&out[..len]).unwrap_or_else(|err| panic!("{err}: {input:?}"));
            }
        }
    }
}

/// A xorshift generator from `seed` (not zero): the mutation tests'
/// source of repeatable noise.
pub(super) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// A query with a client subnet is answered as any other, the option not
/// echoed while no answer depends on it; a malformed one is FORMERR
/// (RFC 7871 §6), through the cache as without it.
#[test]
fn client_subnet_is_checked_and_not_echoed() {
    let table = build(&[zone()], &Default::default());
    let with_subnet = |value: &[u8]| {
        let mut packet = packet(&q("www.example.com.", rtype::A));
        packet[11] = 1;
        packet.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
        packet.extend(((4 + value.len()) as u16).to_be_bytes());
        packet.extend([0, 8]);
        packet.extend((value.len() as u16).to_be_bytes());
        packet.extend_from_slice(value);
        packet
    };
    let mut cache = Cache::new();
    let mut out = vec![0u8; 65535];
    for _ in 0..2 {
        for (value, code) in [
            (&[0u8, 1, 24, 0, 192, 0, 2][..], ResponseCode::NoError),
            (&[0, 1, 24, 0, 192, 0, 2, 0], ResponseCode::FormErr),
            (&[0, 1, 33, 0, 192, 0, 2, 0, 0], ResponseCode::FormErr),
        ] {
            let packet = with_subnet(value);
            let len = respond(&table, &packet, Transport::Udp, &mut out).unwrap();
            let plain = out[..len].to_vec();
            let len = cache
                .respond(&table, &packet, Transport::Udp, &mut out)
                .unwrap();
            assert_eq!(out[..len], plain, "the cache answers as respond does");
            let m = Message::from_bytes(&plain).unwrap();
            assert_eq!(m.metadata.response_code, code, "{value:?}");
            if code == ResponseCode::NoError {
                assert_eq!(m.answers.len(), 2);
                // The OPT record ends the message, with no RDATA.
                let opt = &plain[plain.len() - 11..];
                assert_eq!((&opt[..3], &opt[9..]), (&[0, 0, 41][..], &[0, 0][..]));
            }
        }
    }
}
