//! Per-type tests: hand-written wire bytes, and hickory's decoder as a second
//! opinion.

use hickory_proto::rr::{RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};

use super::*;
use crate::zone::lexer::lex;

fn origin() -> Name {
    Name::from_text("example.com.", None).unwrap()
}

fn enc(rtype: u16, text: &str) -> Result<Vec<u8>, Located> {
    let (entries, errors) = lex(text.as_bytes());
    assert!(errors.is_empty(), "{errors:?}");
    let tokens = entries
        .first()
        .map(|e| e.tokens.clone())
        .unwrap_or_default();
    encode(
        rtype,
        &tokens,
        Some(&origin()),
        Position { line: 1, col: 1 },
    )
}

fn ok(rtype: u16, text: &str) -> Vec<u8> {
    enc(rtype, text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(rtype: u16, text: &str) -> String {
    enc(rtype, text).unwrap_err().to_string()
}

/// Decodes with hickory and prints it back.
fn hickory(rtype: u16, wire: &[u8]) -> String {
    let mut decoder = BinDecoder::new(wire);
    let rdata = RData::read(
        &mut decoder,
        RecordType::from(rtype),
        Restrict::new(wire.len() as u16),
    )
    .unwrap();
    assert_eq!(decoder.index(), wire.len());
    rdata.to_string()
}

#[test]
fn addresses() {
    assert_eq!(ok(1, "192.0.2.1"), [192, 0, 2, 1]);
    assert_eq!(ok(28, "2001:db8::1")[..4], [0x20, 0x01, 0x0d, 0xb8]);
    assert_eq!(
        err(1, "192.0.2"),
        r#"A address "192.0.2" is not an IPv4 address"#
    );
    assert_eq!(
        err(28, "1.2.3.4"),
        r#"AAAA address "1.2.3.4" is not an IPv6 address"#
    );
    assert_eq!(err(1, ""), "A address is missing");
    assert_eq!(err(1, "1.2.3.4 5"), r#"unexpected "5" after the A RDATA"#);
}

#[test]
fn names_get_origin_and_canonical_case() {
    // The RFC 4034 §6.2 types are stored lower-cased, as Knot does.
    for rtype in [2, 5, 12, 39] {
        assert_eq!(ok(rtype, "Www"), b"\x03www\x07example\x03com\x00");
    }
    assert_eq!(ok(5, "@"), b"\x07example\x03com\x00");
    assert_eq!(ok(2, "ns.Other."), b"\x02ns\x05other\x00");
    // Other types keep the case written.
    assert_eq!(ok(23, "Www"), b"\x03Www\x07example\x03com\x00");
    assert!(err(5, "a..b").starts_with(r#"CNAME target "a..b" is not a valid name"#));
}

#[test]
fn mx_and_srv() {
    assert_eq!(ok(15, "10 mail"), b"\x00\x0a\x04mail\x07example\x03com\x00");
    assert_eq!(
        err(15, "ten mail"),
        r#"MX preference "ten" is not a number"#
    );
    assert_eq!(
        err(15, "65536 mail"),
        r#"MX preference "65536" is out of range (0-65535)"#
    );
    assert_eq!(
        hickory(33, &ok(33, "1 2 443 srv.example.net.")),
        "1 2 443 srv.example.net."
    );
    assert_eq!(err(33, "1 2 443"), "SRV target is missing");
}

#[test]
fn soa_accepts_time_units() {
    let wire = ok(6, "ns1 hostmaster ( 2024010101 1h 15m 1w 1d )");
    assert_eq!(
        hickory(6, &wire),
        "ns1.example.com. hostmaster.example.com. 2024010101 3600 900 604800 86400"
    );
    assert_eq!(
        err(6, "ns1 hm 1h 1 1 1 1"),
        r#"SOA serial "1h" is not a number"#
    );
    assert!(err(6, "ns1 hm 1 1 1 1 1x").starts_with(r#"SOA minimum "1x" is not a valid time"#));
}

#[test]
fn txt_strings() {
    assert_eq!(
        ok(16, r#""hello world" x "a\"b\059""#),
        b"\x0bhello world\x01x\x04a\"b;"
    );
    assert_eq!(ok(16, r#""""#), b"\x00");
    assert_eq!(ok(99, "v=spf1 -all"), b"\x06v=spf1\x04-all");
    let long = "a".repeat(256);
    assert_eq!(
        err(16, &long),
        format!("TXT string {long:?} is longer than 255 bytes")
    );
    assert!(err(16, r#""\300""#).contains("bad escape"));
    assert_eq!(ok(16, &"a".repeat(255)).len(), 256);
}

#[test]
fn hinfo_and_naptr() {
    assert_eq!(ok(13, r#""PC" Linux"#), b"\x02PC\x05Linux");
    let wire = ok(35, r#"100 10 "S" "SIP+D2U" "" _sip._udp"#);
    assert_eq!(
        hickory(35, &wire),
        "100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.com."
    );
}

#[test]
fn caa_value_quoted_or_not() {
    assert_eq!(
        ok(257, r#"0 issue "letsencrypt.org""#),
        b"\x00\x05issueletsencrypt.org"
    );
    assert_eq!(ok(257, "128 iodef mailto:a@b"), b"\x80\x05iodefmailto:a@b");
    assert!(err(257, "0 is-sue x").contains("CAA tag"));
}

#[test]
fn digests_allow_split_hex() {
    assert_eq!(ok(44, "1 1 0123 4567"), [1, 1, 0x01, 0x23, 0x45, 0x67]);
    assert_eq!(ok(52, "3 1 1 ABcd"), [3, 1, 1, 0xab, 0xcd]);
    let ds = ok(43, "60485 5 1 2BB183AF5F22588179A53B0A 98631FAD1A292118");
    assert_eq!(ds[..4], [0xec, 0x45, 5, 1]);
    assert_eq!(ds.len(), 24);
    assert_eq!(ok(59, "1 8 2 00"), [0, 1, 8, 2, 0]);
    assert!(err(44, "1 1 xyz").starts_with(r#"SSHFP fingerprint "xyz" is not hexadecimal"#));
    assert_eq!(err(52, "3 1 1"), "TLSA certificate data is missing");
}

#[test]
fn svcb_params_sorted_and_checked() {
    let wire = ok(
        65,
        r#"1 . port=8443 alpn="h2,h3" ipv4hint=192.0.2.1,192.0.2.2 mandatory=alpn,port no-default-alpn"#,
    );
    assert_eq!(
        hickory(65, &wire),
        // hickory prints a trailing comma after lists.
        "1 . mandatory=alpn,port, alpn=h2,h3, no-default-alpn= port=8443 ipv4hint=192.0.2.1,192.0.2.2,"
    );
    let wire = ok(64, "0 svc");
    assert_eq!(wire, b"\x00\x00\x03svc\x07example\x03com\x00");
    let wire = ok(65, "1 . ipv6hint=2001:db8::1 ech=aGVsbG8= key65000=x\\044y");
    assert_eq!(&wire[3..7], [0, 5, 0, 5]);
    assert!(wire.ends_with(&[0xfd, 0xe8, 0, 3, b'x', b',', b'y']));
    // RFC 9460 Appendix A: a literal comma and backslash inside one alpn id.
    let wire = ok(65, r#"1 . alpn="f\\\\oo\\,bar,h2""#);
    assert!(wire.ends_with(b"\x00\x01\x00\x0c\x08f\\oo,bar\x02h2"));
    assert!(err(65, "1 . foo=1").contains("unknown key"));
    assert!(err(65, "1 . port=1 port=2").contains("repeats a key"));
    assert!(err(65, "1 . port=x").contains("is not a port"));
    assert!(err(65, "1 . mandatory=port").contains("mandatory key"));
    assert!(err(65, "1 . no-default-alpn").contains("without alpn"));
    assert!(err(65, "1 . alpn=h2,,h3").contains("empty list item"));
    assert!(err(65, "1 . ech=!!").contains("base64"));
    assert!(err(65, "1 . ipv4hint=::1").contains("bad address"));
    assert!(err(65, "1 . alpn").contains("needs a value"));
}

#[test]
fn generic_form_for_any_type() {
    assert_eq!(ok(1, r"\# 4 C0000201"), [192, 0, 2, 1]);
    assert_eq!(ok(65280, r"\# 3 01 0203"), [1, 2, 3]);
    assert_eq!(ok(65280, r"\# 0"), b"");
    assert_eq!(ok(16, r"\# 2 0161"), b"\x01a");
    assert!(err(65280, r"\# 3 0102").contains("does not match the length 3"));
    assert!(err(1, r"\# 3 010203").contains("not a valid A RDATA"));
    assert!(err(65280, r"\# x 01").contains("is not a number"));
    assert_eq!(
        err(65280, "hello"),
        r"type TYPE65280 has no text form here: write its RDATA in RFC 3597 \# syntax"
    );
}

#[test]
fn type_names() {
    assert_eq!(type_name(15), "MX");
    assert_eq!(type_name(65), "HTTPS");
    assert_eq!(type_name(65280), "TYPE65280");
}
