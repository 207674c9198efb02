//! The query battery: the real server on the fixture zone
//! (`tests/data/example.com.zone`), queried with `dig`, one behaviour per
//! test. Expected values come from the RFCs named in each test and match
//! what Knot DNS 3.2 answers for the same zone (see `differential`).

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::util::{Response, Rr, Server, data, fixture_zone};

/// The negative-answer SOA of the fixture: TTL = min(SOA TTL 3600, MINIMUM 300).
const NEG_SOA: &str = "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300";

fn lines(rrs: &[Rr]) -> Vec<String> {
    rrs.iter().map(|r| r.to_string()).collect()
}

fn assert_rcode(r: &Response, rcode: &str) {
    assert_eq!(r.rcode, rcode, "rcode, in:\n{r}");
}

fn assert_aa(r: &Response, aa: bool) {
    assert_eq!(r.flag("aa"), aa, "AA should be {aa}, in:\n{r}");
}

/// NXDOMAIN or NODATA: authoritative, no answer, exactly the SOA in authority
/// with the negative TTL (RFC 2308 sections 3 and 5).
fn assert_negative(r: &Response, rcode: &str) {
    assert_rcode(r, rcode);
    assert_aa(r, true);
    assert_eq!(lines(&r.answer), Vec::<String>::new(), "answer, in:\n{r}");
    assert_eq!(lines(&r.authority), vec![NEG_SOA], "authority, in:\n{r}");
}

/// Positive authoritative answer whose answer section is exactly `expected`
/// (normalised lines, any order).
fn assert_answer(r: &Response, expected: &[&str]) {
    assert_rcode(r, "NOERROR");
    assert_aa(r, true);
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(lines(&r.answer), want, "answer, in:\n{r}");
}

#[test]
fn positive_answer_is_authoritative_with_both_records() {
    let s = Server::fixture();
    let r = s.dig(&["www.example.com", "A"]);
    assert_answer(&r, &["www.example.com. 300 IN A 192.0.2.10"]);
    assert!(!r.flag("tc"), "unexpected TC:\n{r}");
    let r = s.dig(&["www.example.com", "AAAA"]);
    assert_answer(&r, &["www.example.com. 300 IN AAAA 2001:db8::10"]);
}

#[test]
fn apex_soa_and_ns() {
    let s = Server::fixture();
    let r = s.dig(&["example.com", "SOA"]);
    assert_answer(
        &r,
        &[
            "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300",
        ],
    );
    let r = s.dig(&["example.com", "NS"]);
    assert_answer(
        &r,
        &[
            "example.com. 3600 IN NS ns1.example.com.",
            "example.com. 3600 IN NS ns2.example.com.",
        ],
    );
}

#[test]
fn record_types_are_served_as_written() {
    let s = Server::fixture();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "mx.example.com",
            "MX",
            &[
                "mx.example.com. 3600 IN MX 10 mail.example.com.",
                "mx.example.com. 3600 IN MX 20 mx-ext.example.net.",
            ],
        ),
        (
            "_sip._tcp.example.com",
            "SRV",
            &["_sip._tcp.example.com. 3600 IN SRV 10 60 5060 sip.example.com."],
        ),
        (
            "txt.example.com",
            "TXT",
            &["txt.example.com. 3600 IN TXT \"hello world\" \"second string\""],
        ),
        (
            "caa.example.com",
            "CAA",
            &[
                "caa.example.com. 3600 IN CAA 0 issue \"letsencrypt.org\"",
                "caa.example.com. 3600 IN CAA 128 iodef \"mailto:security@example.com\"",
            ],
        ),
        (
            "naptr.example.com",
            "NAPTR",
            &[
                "naptr.example.com. 3600 IN NAPTR 100 10 \"u\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .",
            ],
        ),
        (
            "sshfp.example.com",
            "SSHFP",
            &["sshfp.example.com. 3600 IN SSHFP 1 1 123456789ABCDEF67890123456789ABCDEF67890"],
        ),
        (
            "_443._tcp.www.example.com",
            "TLSA",
            &[
                "_443._tcp.www.example.com. 3600 IN TLSA 3 1 1 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF01234567 89ABCDEF",
            ],
        ),
        (
            "svc.example.com",
            "HTTPS",
            &["svc.example.com. 3600 IN HTTPS 1 . alpn=\"h2,h3\" port=8443"],
        ),
        (
            "10.rev.example.com",
            "PTR",
            &["10.rev.example.com. 3600 IN PTR www.example.com."],
        ),
        (
            "unknown.example.com",
            "TYPE65534",
            &["unknown.example.com. 3600 IN TYPE65534 \\# 4 0A000001"],
        ),
    ];
    for (name, t, want) in cases {
        let r = s.dig(&[name, t]);
        assert_answer(&r, want);
    }
}

#[test]
fn nxdomain_has_soa_with_negative_ttl() {
    let s = Server::fixture();
    assert_negative(&s.dig(&["nx.example.com", "A"]), "NXDOMAIN");
    assert_negative(&s.dig(&["deep.nx.example.com", "TXT"]), "NXDOMAIN");
}

#[test]
fn nodata_has_soa_with_negative_ttl() {
    let s = Server::fixture();
    assert_negative(&s.dig(&["www.example.com", "TXT"]), "NOERROR");
    assert_negative(&s.dig(&["example.com", "A"]), "NOERROR");
}

#[test]
fn negative_ttl_is_soa_ttl_when_below_minimum() {
    let s = Server::start(&[&fixture_zone(), &data("min.test.zone")]);
    for (q, rcode) in [("nx.min.test", "NXDOMAIN"), ("ns.min.test", "NOERROR")] {
        let r = s.dig(&[q, "TXT"]);
        assert_rcode(&r, rcode);
        assert_aa(&r, true);
        assert_eq!(
            lines(&r.authority),
            vec!["min.test. 60 IN SOA ns.min.test. hostmaster.min.test. 1 7200 3600 1209600 3600"],
            "negative TTL must be min(SOA TTL 60, MINIMUM 3600), in:\n{r}"
        );
    }
    // The first zone is still served next to the second.
    assert_answer(
        &s.dig(&["www.example.com", "A"]),
        &["www.example.com. 300 IN A 192.0.2.10"],
    );
}

#[test]
fn cname_chain_is_followed_in_zone() {
    let s = Server::fixture();
    let r = s.dig(&["chain1.example.com", "A"]);
    assert_answer(
        &r,
        &[
            "chain1.example.com. 3600 IN CNAME chain2.example.com.",
            "chain2.example.com. 3600 IN CNAME chain3.example.com.",
            "chain3.example.com. 3600 IN CNAME www.example.com.",
            "www.example.com. 300 IN A 192.0.2.10",
        ],
    );
}

#[test]
fn cname_query_type_returns_the_cname_only() {
    let s = Server::fixture();
    let r = s.dig(&["chain1.example.com", "CNAME"]);
    assert_answer(
        &r,
        &["chain1.example.com. 3600 IN CNAME chain2.example.com."],
    );
}

#[test]
fn cname_loop_terminates() {
    let s = Server::fixture();
    let r = s.dig(&["loop1.example.com", "A"]);
    assert_rcode(&r, "NOERROR");
    assert_aa(&r, true);
    let want = "loop1.example.com. 3600 IN CNAME loop2.example.com.";
    let got = lines(&r.answer);
    assert!(got.contains(&want.to_string()), "answer lacks {want}:\n{r}");
    assert!(
        r.answer.iter().all(|rr| rr.rtype == "CNAME") && got.len() <= 2,
        "a loop of two CNAMEs gives at most the two CNAMEs, each once:\n{r}"
    );
}

#[test]
fn cname_to_missing_in_zone_name_is_nxdomain() {
    let s = Server::fixture();
    let r = s.dig(&["dangling.example.com", "A"]);
    assert_rcode(&r, "NXDOMAIN");
    assert_aa(&r, true);
    assert_eq!(
        lines(&r.answer),
        vec!["dangling.example.com. 3600 IN CNAME missing.example.com."],
        "in:\n{r}"
    );
    assert_eq!(lines(&r.authority), vec![NEG_SOA], "in:\n{r}");
}

#[test]
fn cname_out_of_zone_is_not_chased() {
    let s = Server::fixture();
    let r = s.dig(&["ext.example.com", "A"]);
    assert_answer(&r, &["ext.example.com. 3600 IN CNAME www.example.net."]);
    assert!(r.authority.is_empty(), "authority should be empty:\n{r}");
}

#[test]
fn dname_synthesises_a_cname_with_the_dname_ttl() {
    let s = Server::fixture();
    let r = s.dig(&["www.old.example.com", "A"]);
    assert_answer(
        &r,
        &[
            "old.example.com. 3600 IN DNAME new.example.com.",
            "www.old.example.com. 3600 IN CNAME www.new.example.com.",
            "www.new.example.com. 3600 IN A 192.0.2.60",
        ],
    );
}

#[test]
fn dname_owner_itself_is_not_rewritten() {
    let s = Server::fixture();
    assert_negative(&s.dig(&["old.example.com", "A"]), "NOERROR");
    assert_answer(
        &s.dig(&["old.example.com", "DNAME"]),
        &["old.example.com. 3600 IN DNAME new.example.com."],
    );
}

#[test]
fn dname_result_too_long_is_yxdomain() {
    let s = Server::fixture();
    // 140 octets in wire form; with grow.example.com. (18) replaced by the
    // 141-octet target the name would be 263 > 255 (RFC 6672 section 2.2).
    let q = format!("{0}.{0}.grow.example.com", "q".repeat(60));
    let r = s.dig(&[&q, "A"]);
    assert_rcode(&r, "YXDOMAIN");
    assert!(
        r.answer_of("DNAME").len() == 1 && r.answer_of("CNAME").is_empty(),
        "YXDOMAIN carries the DNAME and no synthesised CNAME:\n{r}"
    );
}

#[test]
fn wildcard_synthesises_the_query_name() {
    let s = Server::fixture();
    let r = s.dig(&["foo.wild.example.com", "A"]);
    assert_answer(&r, &["foo.wild.example.com. 3600 IN A 192.0.2.70"]);
    let r = s.dig(&["a.b.foo.wild.example.com", "TXT"]);
    assert_answer(&r, &["a.b.foo.wild.example.com. 3600 IN TXT \"wildcard\""]);
    // A type the wildcard does not have: NODATA.
    assert_negative(&s.dig(&["foo.wild.example.com", "MX"]), "NOERROR");
}

#[test]
fn wildcard_is_blocked_by_an_existing_name() {
    let s = Server::fixture();
    assert_answer(
        &s.dig(&["exists.wild.example.com", "A"]),
        &["exists.wild.example.com. 3600 IN A 192.0.2.71"],
    );
    // exists.wild has no TXT: NODATA, not the wildcard's TXT.
    assert_negative(&s.dig(&["exists.wild.example.com", "TXT"]), "NOERROR");
    // Below an existing name the wildcard does not apply (RFC 4592 2.2.1).
    assert_negative(&s.dig(&["x.exists.wild.example.com", "A"]), "NXDOMAIN");
    // The wildcard's parent is an empty non-terminal.
    assert_negative(&s.dig(&["wild.example.com", "A"]), "NOERROR");
}

#[test]
fn wildcard_is_blocked_by_an_empty_non_terminal() {
    let s = Server::fixture();
    // y.ent exists only because x.y.ent does: NODATA, not *.ent's A.
    assert_negative(&s.dig(&["y.ent.example.com", "A"]), "NOERROR");
    // Below the ENT the closest encloser is y.ent, which has no wildcard.
    assert_negative(&s.dig(&["z.y.ent.example.com", "A"]), "NXDOMAIN");
    // Next to it the wildcard applies.
    assert_answer(
        &s.dig(&["other.ent.example.com", "A"]),
        &["other.ent.example.com. 3600 IN A 192.0.2.81"],
    );
}

#[test]
fn empty_non_terminals_answer_nodata() {
    let s = Server::fixture();
    for q in ["c.example.com", "b.c.example.com"] {
        for t in ["A", "TXT", "NS"] {
            assert_negative(&s.dig(&[q, t]), "NOERROR");
        }
    }
    assert_answer(
        &s.dig(&["a.b.c.example.com", "A"]),
        &["a.b.c.example.com. 3600 IN A 192.0.2.80"],
    );
}

fn assert_referral_to_sub(r: &Response) {
    assert_rcode(r, "NOERROR");
    assert_aa(r, false);
    assert!(r.answer.is_empty(), "referral has no answer:\n{r}");
    assert_eq!(
        lines(&r.authority),
        vec!["sub.example.com. 3600 IN NS ns.sub.example.com."],
        "in:\n{r}"
    );
    assert_eq!(
        lines(&r.additional),
        vec!["ns.sub.example.com. 3600 IN A 192.0.2.90"],
        "glue, in:\n{r}"
    );
}

#[test]
fn referral_below_a_cut_has_ns_and_glue() {
    let s = Server::fixture();
    for (q, t) in [
        ("x.sub.example.com", "A"),
        ("sub.example.com", "NS"),
        ("sub.example.com", "A"),
        ("ns.sub.example.com", "A"),
        ("a.b.sub.example.com", "MX"),
    ] {
        assert_referral_to_sub(&s.dig(&[q, t]));
    }
}

#[test]
fn ds_at_the_cut_is_answered_by_the_parent() {
    let s = Server::fixture();
    let r = s.dig(&["sub.example.com", "DS"]);
    assert_answer(
        &r,
        &[
            "sub.example.com. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF01234567 89ABCDEF",
        ],
    );
}

#[test]
fn wildcard_next_to_a_delegation() {
    let s = Server::fixture();
    let r = s.dig(&["x.deleg.dz.example.com", "A"]);
    assert_rcode(&r, "NOERROR");
    assert_aa(&r, false);
    assert!(r.answer.is_empty(), "referral, not the wildcard:\n{r}");
    assert_eq!(
        lines(&r.authority),
        vec!["deleg.dz.example.com. 3600 IN NS ns.other.example.net."],
        "in:\n{r}"
    );
    assert_answer(
        &s.dig(&["y.dz.example.com", "A"]),
        &["y.dz.example.com. 3600 IN A 192.0.2.100"],
    );
}

#[test]
fn name_outside_served_zones_is_refused() {
    let s = Server::fixture();
    for q in ["www.example.org", "com", ".", "example.com.evil.net"] {
        let r = s.dig(&[q, "A"]);
        assert_rcode(&r, "REFUSED");
        assert_aa(&r, false);
        assert!(r.answer.is_empty() && r.authority.is_empty(), "in:\n{r}");
    }
}

#[test]
fn opcodes_other_than_query_are_not_looked_up() {
    let s = Server::fixture();
    for (op, rcode) in [
        ("status", "NOTIMP"),
        ("3", "NOTIMP"),
        ("notify", "NOTAUTH"),
        ("update", "NOTAUTH"),
    ] {
        let arg = format!("+opcode={op}");
        let r = s.dig(&[&arg, "+rec", "+cdflag", "example.com", "SOA"]);
        assert_rcode(&r, rcode);
        assert!(r.flag("rd") && !r.flag("cd") && !r.flag("aa"), "in:\n{r}");
        assert_eq!(r.question, ["example.com. IN SOA"], "in:\n{r}");
        assert!(r.answer.is_empty() && r.authority.is_empty(), "in:\n{r}");
        assert!(r.edns.is_some(), "OPT echoed:\n{r}");
    }
    let r = s.dig(&["+opcode=update", "www.example.com", "A"]);
    assert_rcode(&r, "FORMERR");
}

#[test]
fn edns_is_echoed_and_absent_without_it() {
    let s = Server::fixture();
    let r = s.dig(&["+edns=0", "www.example.com", "A"]);
    let e = r
        .edns
        .as_ref()
        .unwrap_or_else(|| panic!("no OPT in reply to EDNS query:\n{r}"));
    assert_eq!(e.version, 0, "in:\n{r}");
    assert!(e.udp >= 512, "advertised UDP size {} < 512:\n{r}", e.udp);
    let r = s.dig(&["+noedns", "www.example.com", "A"]);
    assert!(
        r.edns.is_none(),
        "OPT in reply to a query without EDNS:\n{r}"
    );
    assert_answer(&r, &["www.example.com. 300 IN A 192.0.2.10"]);
}

#[test]
fn edns_do_bit_is_echoed() {
    let s = Server::fixture();
    let r = s.dig(&["+dnssec", "www.example.com", "A"]);
    let e = r.edns.as_ref().unwrap_or_else(|| panic!("no OPT:\n{r}"));
    assert!(e.flags.contains("do"), "DO not copied (RFC 3225):\n{r}");
    assert_answer(&r, &["www.example.com. 300 IN A 192.0.2.10"]);
}

#[test]
fn edns_version_1_is_badvers() {
    let s = Server::fixture();
    let r = s.dig(&["+edns=1", "+noednsnegotiation", "www.example.com", "A"]);
    assert_rcode(&r, "BADVERS");
    let e = r
        .edns
        .as_ref()
        .unwrap_or_else(|| panic!("BADVERS needs an OPT:\n{r}"));
    assert_eq!(e.version, 0, "responder's highest version, in:\n{r}");
    assert!(r.answer.is_empty(), "in:\n{r}");
}

#[test]
fn big_answer_is_truncated_over_udp_and_whole_over_tcp() {
    let s = Server::fixture();
    let r = s.dig(&["+noedns", "big.example.com", "TXT"]);
    assert!(
        r.flag("tc"),
        "an ~850-byte answer over 512-byte UDP needs TC:\n{r}"
    );
    assert!(r.flag("aa"), "in:\n{r}");
    assert!(
        r.answer.is_empty(),
        "no partial RRset in a truncated answer:\n{r}"
    );
    let r = s.dig(&["+noedns", "+bufsize=512", "big.example.com", "TXT"]);
    assert!(r.flag("tc"), "in:\n{r}");
    let r = s.dig(&["+edns=0", "+bufsize=512", "big.example.com", "TXT"]);
    assert!(r.flag("tc"), "EDNS payload 512 also truncates:\n{r}");
    let r = s.dig(&["+tcp", "+noedns", "big.example.com", "TXT"]);
    assert!(!r.flag("tc"), "in:\n{r}");
    assert_rcode(&r, "NOERROR");
    let txt = r.answer_of("TXT");
    assert_eq!(txt.len(), 1, "in:\n{r}");
    assert_eq!(
        txt[0].rdata.matches("-xxxx").count(),
        8,
        "all 8 strings:\n{r}"
    );
    // EDNS with the default 1232 bytes is enough over UDP.
    let r = s.dig(&["+edns=0", "+bufsize=1232", "big.example.com", "TXT"]);
    assert!(!r.flag("tc") && r.answer.len() == 1, "in:\n{r}");
}

#[test]
fn question_case_is_preserved() {
    let s = Server::fixture();
    let r = s.dig(&["WwW.ExAmPlE.cOm", "A"]);
    assert_eq!(r.question, vec!["WwW.ExAmPlE.cOm. IN A"], "in:\n{r}");
    assert_answer(&r, &["www.example.com. 300 IN A 192.0.2.10"]);
}

#[test]
fn rd_and_cd_are_copied_ra_is_not_set() {
    let s = Server::fixture();
    let r = s.dig(&["+rec", "+cdflag", "www.example.com", "A"]);
    assert!(r.flag("rd"), "RD not copied:\n{r}");
    assert!(r.flag("cd"), "CD not copied:\n{r}");
    assert!(
        !r.flag("ra"),
        "an authoritative-only server sets no RA:\n{r}"
    );
    let r = s.dig(&["+norec", "www.example.com", "A"]);
    assert!(!r.flag("rd") && !r.flag("cd"), "in:\n{r}");
}

#[test]
fn any_is_minimal_over_udp_and_full_over_tcp() {
    let s = Server::fixture();
    let full = [
        "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300",
        "example.com. 3600 IN NS ns1.example.com.",
        "example.com. 3600 IN NS ns2.example.com.",
        "example.com. 3600 IN MX 10 mail.example.com.",
        "example.com. 3600 IN TXT \"v=spf1 -all\"",
    ];
    let r = s.dig(&["+tcp", "example.com", "ANY"]);
    assert_answer(&r, &full);
    // dig 9.18 sends ANY over TCP unless told +notcp.
    let r = s.dig(&["+notcp", "example.com", "ANY"]);
    assert_rcode(&r, "NOERROR");
    assert_aa(&r, true);
    let types: std::collections::BTreeSet<&str> =
        r.answer.iter().map(|rr| rr.rtype.as_str()).collect();
    assert!(
        !r.answer.is_empty() && types.len() < 4,
        "RFC 8482: a UDP ANY answer holds a subset of the RRsets:\n{r}"
    );
    for rr in lines(&r.answer) {
        assert!(full.contains(&rr.as_str()), "{rr} not in the zone:\n{r}");
    }
}

#[test]
fn several_queries_over_one_tcp_connection_with_dig() {
    let s = Server::fixture();
    let all = s.dig_all(&[
        "+tcp",
        "+keepopen",
        "www.example.com",
        "A",
        "mx.example.com",
        "MX",
        "nx.example.com",
        "A",
    ]);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert_answer(&all[0], &["www.example.com. 300 IN A 192.0.2.10"]);
    assert_eq!(all[1].answer_of("MX").len(), 2, "in:\n{}", all[1]);
    assert_negative(&all[2], "NXDOMAIN");
}

#[test]
fn pipelined_queries_on_one_tcp_connection_all_answered() {
    let s = Server::fixture();
    let mut conn = TcpStream::connect(s.addr).expect("connect");
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let queries = [
        (0x1111u16, "www.example.com", 1u16, 0u8, 1u16),
        (0x2222, "nx.example.com", 1, 3, 0),
        (0x3333, "mx.example.com", 15, 0, 2),
    ];
    // All three written before any answer is read, in one segment.
    let mut out = Vec::new();
    for (id, name, t, _, _) in queries {
        let q = crate::util::wire::query(id, name, t);
        out.extend_from_slice(&(q.len() as u16).to_be_bytes());
        out.extend_from_slice(&q);
    }
    conn.write_all(&out).expect("write");
    let mut seen = Vec::new();
    for _ in 0..queries.len() {
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).expect("read length");
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        conn.read_exact(&mut msg).expect("read message");
        assert!(msg.len() >= 12, "short message {msg:?}");
        let id = u16::from_be_bytes([msg[0], msg[1]]);
        let rcode = msg[3] & 0x0f;
        let ancount = u16::from_be_bytes([msg[6], msg[7]]);
        seen.push((id, rcode, ancount));
    }
    seen.sort();
    let want: Vec<(u16, u8, u16)> = queries.iter().map(|q| (q.0, q.3, q.4)).collect();
    assert_eq!(seen, want, "(id, rcode, ancount) of the three answers");
}

#[test]
fn stops_on_sigterm() {
    let s = Server::fixture();
    // It answers first, so it is really up.
    assert_rcode(&s.dig(&["www.example.com", "A"]), "NOERROR");
    let status = s.terminate();
    assert!(
        status.code().is_some(),
        "healthdns should handle SIGTERM and exit, not die by the signal: {status}"
    );
}
