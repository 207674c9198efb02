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

/// One record of every type with a text form, and its RDATA as Knot serves
/// it (the types Knot 3.2 reads) or, for the rest, as dnspython encodes it
/// (all but the few it lacks: MD, MF, MB, MG, MR, NXT, EID, NIMLOC, ATMA,
/// SINK, RKEY, TALINK, DOA, CLA, IPN, TA, whose bytes were checked by hand,
/// some in the tests below). The differential test serves the same records.
#[rustfmt::skip]
const SAMPLES: &[(u16, &str, &str)] = &[
    (2, "NS1.Example.NET.", "036e7331076578616d706c65036e657400"),
    (5, "Target.Example.NET.", "06746172676574076578616d706c65036e657400"),
    (6, "NS1.Example.NET. Host.Example.NET. 1 2 3 4 5",
        "036e7331076578616d706c65036e65740004686f7374076578616d706c65036e657400\
         0000000100000002000000030000000400000005"),
    (39, "New.Example.NET.", "036e6577076578616d706c65036e657400"),
    (1, "192.0.2.1", "c0000201"),
    (28, "2001:db8::1", "20010db8000000000000000000000001"),
    (3, "Mail.Example.NET.", "046d61696c076578616d706c65036e657400"),
    (4, "Mail.Example.NET.", "046d61696c076578616d706c65036e657400"),
    (7, "MailBox.Example.NET.", "076d61696c626f78076578616d706c65036e657400"),
    (8, "Member.Example.NET.", "066d656d626572076578616d706c65036e657400"),
    (9, "NewName.Example.NET.", "076e65776e616d65076578616d706c65036e657400"),
    (11, "192.0.2.1 TCP smtp domain 80 443", "c0000201060000004000000400000080000000000000000000000000000000000000000000000000000000000000000000000000000000000000000010"),
    (12, "Host.Example.NET.", "04686f7374076578616d706c65036e657400"),
    (13, "\"Generic PC\" Linux", "0a47656e65726963205043054c696e7578"),
    (14, "RMailbx.Example.NET. EMailbx.types.test.", "07726d61696c6278076578616d706c65036e65740007656d61696c6278057479706573047465737400"),
    (15, "10 Mail.Example.NET.", "000a046d61696c076578616d706c65036e657400"),
    (16, "\"hello\" world", "0568656c6c6f05776f726c64"),
    (17, "Admin.Example.NET. Info.Example.NET.", "0561646d696e076578616d706c65036e65740004696e666f076578616d706c65036e657400"),
    (18, "1 AFS.Example.NET.", "000103616673076578616d706c65036e657400"),
    (19, "311061700956", "0c333131303631373030393536"),
    (20, "\"150862028003217\" 004", "0f31353038363230323830303332313703303034"),
    (21, "10 Relay.Example.NET.", "000a0572656c6179076578616d706c65036e657400"),
    (22, "0x47.0005.80.005a00.0000.0001.e133.ffffff000162.00", "47000580005a0000000001e133ffffff00016200"),
    (23, "Host.Example.NET.", "04486f7374074578616d706c65034e455400"),
    (24, "A 8 3 3600 20300101000000 20200101000000 12345 Signer.Example.NET. dGVzdA==", "0001080300000e1070dbd8805e0be1003039067369676e6572076578616d706c65036e65740074657374"),
    (25, "256 3 8 AwEAAQ==", "0100030803010001"),
    (26, "10 Map822.Example.NET. MapX400.Example.NET.", "000a066d6170383232076578616d706c65036e657400076d617078343030076578616d706c65036e657400"),
    (27, "-32.6882 116.8652 10.0", "082d33322e36383832083131362e383635320431302e30"),
    (29, "52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m", "000016138b3cf018810cbce0009895b8"),
    (30, "Next.Example.NET. A MX NXT", "046e657874076578616d706c65036e65740040010002"),
    (31, "0123456789abcdef", "0123456789abcdef"),
    (32, "32 21 2A", "32212a"),
    (33, "10 20 5060 SIP.Example.NET.", "000a001413c403736970076578616d706c65036e657400"),
    (34, "+358.400.1234567", "0133353834303031323334353637"),
    (35, "100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.net!\" Repl.Example.NET.", "0064000a0155074532552b7369701b215e2e2a24217369703a696e666f406578616d706c652e6e657421047265706c076578616d706c65036e657400"),
    (36, "10 KX.Example.NET.", "000a026b78076578616d706c65036e657400"),
    (37, "PGP 0 0 dGVzdA==", "000300000074657374"),
    (40, "1 2 dGVzdA==", "010274657374"),
    (42, "1:192.168.32.0/21 !1:192.168.38.0/28 2:2001:db8::/32", "00011503c0a82000011c83c0a8260002200420010db8"),
    (43, "12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE49FD46E6C4B45C55D4AC69CB", "3039080249fd46e6c4b45c55d4ac69cbd3cd34ac1afe51de49fd46e6c4b45c55d4ac69cb"),
    (44, "1 1 123456789abcdef67890123456789abcdef67890", "0101123456789abcdef67890123456789abcdef67890"),
    (45, "10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==", "0a0102c0000226010351537986ed35533b6064478eeeb27b5bd74dae149b6e81ba3a0521af82ab7801"),
    (46, "A RSASHA256 3 3600 20300101000000 20200101000000 12345 Signer.Example.NET. dGVzdA==", "0001080300000e1070dbd8805e0be1003039067369676e6572076578616d706c65036e65740074657374"),
    (47, "Next.Example.NET. A NS SOA MX RRSIG NSEC DNSKEY TYPE1234", "044e657874074578616d706c65034e455400000762010000000380041b000000000000000000000000000000000000000000000000000020"),
    (48, "257 3 ECDSAP256SHA256 AwEA AQ==", "0101030d03010001"),
    (49, "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=", "000201636fc0b8271c82825bb1ac5c41cf5351aa69b4febd94e8f17cdb95000da48c40"),
    (50, "1 1 12 aabbccdd 2VPTU5TIMAMQTTGL4LUU9KG21E0AOR3S A RRSIG", "0101000c04aabbccdd1417f3df17b2b2adaef615257de4d2020b80ac6c7c0006400000000002"),
    (51, "1 0 12 aabbccdd", "0100000c04aabbccdd"),
    (52, "3 1 1 0123456789abcdef", "0301010123456789abcdef"),
    (53, "3 1 1 0123456789abcdef", "0301010123456789abcdef"),
    (55, "2 200100107B1A74DF365639CC39F1D578 AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkUs7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3rMXdXF5D RVS1.Example.NET. RVS2.Example.NET.", "10020084200100107b1a74df365639cc39f1d57803010001b771ca136e4aeb5ce44333c53b3d2c13c22243851fc708bcce29f7e2eb5787b5f56ccad34f8223acc10904ddb56b2ec4a6d6232f3b50ea094f0914b3b941bbe529af582c36bbadefdaf2adaf9b4911906f5b2522603c615272b880ec8fb930cc6ee39c444daa75b1678f005a4b2499d1da5433f805c7a5ad3237acc5dd5c5e430452565331074578616d706c65034e4554000452565332074578616d706c65034e455400"),
    (56, "\"info\"", "04696e666f"),
    (57, "0 3 8 AwEAAQ==", "0000030803010001"),
    (58, "Prev.Example.NET. Next.Example.NET.", "0450726576074578616d706c65034e455400044e657874074578616d706c65034e455400"),
    (59, "12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE49FD46E6C4B45C55D4AC69CB", "3039080249fd46e6c4b45c55d4ac69cbd3cd34ac1afe51de49fd46e6c4b45c55d4ac69cb"),
    (60, "257 3 8 AwEAAQ==", "0101030803010001"),
    (61, "dGVzdA==", "74657374"),
    (62, "66 3 A NS AAAA", "000000420003000460000008"),
    (63, "2018031500 1 1 FEBE3D4CE2EC2FFA4BA99D46CD69D6D29711E55217057BEE7EB1A7B641A47BA7FED2DD5B97AE499FAFA4F22C6BD647DE", "7848b78c0101febe3d4ce2ec2ffa4ba99d46cd69d6d29711e55217057bee7eb1a7b641a47ba7fed2dd5b97ae499fafa4f22c6bd647de"),
    (64, "1 svc.Example.NET. alpn=h2 port=8443", "000103737663074578616d706c65034e455400000100030268320003000220fb"),
    (65, "1 . alpn=h3", "00010000010003026833"),
    (66, "CDS 1 5359 Notify.Example.NET.", "003b0114ef064e6f74696679074578616d706c65034e455400"),
    (67, "dGVzdA==", "74657374"),
    (68, "dGVzdA==", "74657374"),
    (99, "\"v=spf1 -all\"", "0b763d73706631202d616c6c"),
    (104, "10 0014:4fff:ff20:ee64", "000a00144fffff20ee64"),
    (105, "10 10.1.2.0", "000a0a010200"),
    (106, "10 2001:0DB8:1140:1000", "000a20010db811401000"),
    (107, "10 L64-subnet.Example.NET.", "000a0a4c36342d7375626e6574074578616d706c65034e455400"),
    (108, "00-00-5e-00-53-2a", "00005e00532a"),
    (109, "00-00-5e-ef-10-00-00-2a", "00005eef1000002a"),
    (256, "10 1 \"https://www.example.net/\"", "000a000168747470733a2f2f7777772e6578616d706c652e6e65742f"),
    (257, "0 issue \"ca.example.net\"", "0005697373756563612e6578616d706c652e6e6574"),
    (258, "\"app-name:WOLFGANG|app-class:OAM\"", "1f6170702d6e616d653a574f4c4647414e477c6170702d636c6173733a4f414d"),
    (259, "0 1 2 \"image/pgn\" aHR0cHM6Ly93d3cuaXNjLm9yZy8=", "00000000000000010209696d6167652f70676e68747470733a2f2f7777772e6973632e6f72672f"),
    (260, "10 0 3 AMTRelay.Example.NET.", "0a0308414d5452656c6179074578616d706c65034e455400"),
    (261, "qnamemin exterr=15,16,17", "08716e616d656d696e0f6578746572723d31352c31362c3137"),
    (262, "\"BTC\" \"bc1qexample\"", "034254430b626331716578616d706c65"),
    (263, "\"TCPCLv4\"", "07544350434c7634"),
    (264, "4294967297", "0000000100000001"),
    (32768, "12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE49FD46E6C4B45C55D4AC69CB", "3039080249fd46e6c4b45c55d4ac69cbd3cd34ac1afe51de49fd46e6c4b45c55d4ac69cb"),
    (32769, "12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE49FD46E6C4B45C55D4AC69CB", "3039080249fd46e6c4b45c55d4ac69cbd3cd34ac1afe51de49fd46e6c4b45c55d4ac69cb"),
];

fn unhex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    text::hex(text.as_bytes()).unwrap()
}

#[test]
fn every_type_with_a_text_form_has_a_sample() {
    for info in TYPES.iter().filter(|t| t.encoder.is_some()) {
        assert!(
            SAMPLES.iter().any(|s| s.0 == info.code),
            "no sample of {}",
            info.name
        );
    }
}

#[test]
fn every_sample_encodes_as_knot_serves_it() {
    for &(rtype, text, wire) in SAMPLES {
        assert_eq!(
            hex_of(&ok(rtype, text)),
            hex_of(&unhex(wire)),
            "{} {text}",
            type_name(rtype)
        );
    }
}

/// RFC 3597 §5: the generic form of any type reads as the text form does.
#[test]
fn every_sample_reads_the_same_in_generic_form() {
    for &(rtype, text, _) in SAMPLES {
        let wire = ok(rtype, text);
        let generic = format!(r"\# {} {}", wire.len(), hex_of(&wire));
        assert_eq!(ok(rtype, &generic), wire, "{} {text}", type_name(rtype));
        // And as TYPEnnn, through the reader's mnemonic lookup.
        assert_eq!(type_code(format!("TYPE{rtype}").as_bytes()), Some(rtype));
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn mnemonics_in_any_case() {
    for info in TYPES {
        assert_eq!(type_code(info.name.as_bytes()), Some(info.code));
        let lower = info.name.to_ascii_lowercase();
        assert_eq!(type_code(lower.as_bytes()), Some(info.code), "{lower}");
        assert_eq!(type_name(info.code), info.name);
    }
    assert!(TYPES.windows(2).all(|w| w[0].code < w[1].code), "sorted");
    assert_eq!(type_code(b"TYPE0"), Some(0));
    assert_eq!(type_code(b"type65535"), Some(65535));
    for bad in ["TYPE", "TYPE65536", "TYPEx", "FOO", "A6X", "", "NSAPPTR"] {
        assert_eq!(type_code(bad.as_bytes()), None, "{bad}");
    }
}

/// The RFC 4034 §6.2 types lower-case their names in generic form too, as
/// Knot does; a known type's generic data must be what the type holds.
#[test]
fn generic_data_is_checked_and_canonical() {
    assert_eq!(ok(15, r"\# 5 000a014100"), [0, 10, 1, b'a', 0]);
    assert_eq!(ok(17, r"\# 6 014100014200"), b"\x01a\x00\x01b\x00");
    // TALINK is no RFC 4034 type: its names keep their case.
    assert_eq!(ok(58, r"\# 6 014100014200"), b"\x01A\x00\x01B\x00");
    assert!(err(15, r"\# 1 00").contains("not a valid MX RDATA: it is too short"));
    assert!(err(15, r"\# 3 000a05").contains("domain name in it is malformed"));
    assert!(err(2, r"\# 2 0000").contains("bytes after its last field"));
    assert!(err(13, r"\# 2 0561").contains("character-string in it is cut short"));
    assert!(err(6, r"\# 2 0000").contains("too short"));
    assert!(err(104, r"\# 9 000a00000000000000").contains("too short"));
    // Types of no fixed layout take any bytes, none included.
    assert_eq!(ok(16, r"\# 0"), b"");
    assert_eq!(ok(10, r"\# 3 010203"), [1, 2, 3]);
}

/// Where an error points: `line:col` of the field at fault.
fn err_at(rtype: u16, text: &str) -> (String, (u32, u32)) {
    let e = enc(rtype, text).unwrap_err();
    (e.to_string(), (e.at.line, e.at.col))
}

#[test]
fn errors_point_at_the_field() {
    assert_eq!(
        err_at(15, "10 a..b"),
        (
            r#"MX name "a..b" is not a valid name: empty label in name"#.into(),
            (1, 4)
        )
    );
    // A missing field: just past the last one.
    assert_eq!(err_at(15, "10").1, (1, 3));
    assert_eq!(err_at(1, "").1, (1, 1), "no field at all: the type");
    // Past the end: the extra token.
    assert_eq!(err_at(1, "192.0.2.1 x").1, (1, 11));
    // A blob split across lines: its first token.
    let (message, at) = err_at(48, "257 3 8 ( AwEA\n  AQ=x )");
    assert!(message.contains("public key"), "{message}");
    assert_eq!(at, (1, 11));
    // A field on a later line of a record in parentheses: that line.
    assert_eq!(err_at(6, "ns hm (\n 1 2 3\n 4 5x )").1, (3, 4));
}

#[test]
fn obsolete_and_experimental_types_by_hand() {
    // NXT: the name, then one bit per type 1-127: A (1), MX (15), NXT (30).
    assert_eq!(ok(30, "n. A MX NXT"), b"\x01n\x00\x40\x01\x00\x02");
    assert!(err(30, "n. TYPE200").contains("is not 1-127"));
    // ATMA: format 1 and the E.164 digits, or format 0 and the AESA bytes.
    assert_eq!(ok(34, "+1.202.555"), b"\x011202555");
    assert_eq!(ok(34, "47.0005.80"), [0, 0x47, 0x00, 0x05, 0x80]);
    assert!(err(34, "+12a").contains("decimal digits"));
    // IPN: one 64-bit number, or two 32-bit halves.
    assert_eq!(ok(264, "4294967297"), [0, 0, 0, 1, 0, 0, 0, 1]);
    assert_eq!(ok(264, "1.1"), [0, 0, 0, 1, 0, 0, 0, 1]);
    assert!(err(264, "18446744073709551616").contains("64-bit"));
    // WKS: address, protocol, one bit per port.
    let wks = ok(11, "192.0.2.1 udp 0 domain 9");
    assert_eq!(wks, [192, 0, 2, 1, 17, 0x80, 0x40, 0, 0, 0, 0, 0x04]);
    assert!(err(11, "192.0.2.1 tcp gopherx").contains("write the port number"));
    // EID, NIMLOC: hex, split as one likes.
    assert_eq!(ok(31, "01 23 4567"), [1, 0x23, 0x45, 0x67]);
    // SINK, DOA: numbers and base64 (DOA's `-` for no data).
    assert_eq!(ok(40, "1 2 aGk="), b"\x01\x02hi");
    assert_eq!(
        ok(259, "1 2 3 \"a/b\" -"),
        b"\x00\x00\x00\x01\x00\x00\x00\x02\x03\x03a/b"
    );
    // TA and DLV are DS; RKEY is DNSKEY; TALINK is two names.
    assert_eq!(ok(32768, "1 RSASHA256 2 ab"), [0, 1, 8, 2, 0xab]);
    assert_eq!(ok(57, "0 3 8 aGk="), [0, 0, 3, 8, b'h', b'i']);
    assert_eq!(ok(58, "A. B."), b"\x01A\x00\x01B\x00");
}

#[test]
fn addresses_and_locators() {
    // APL: trailing zero bytes of each address are not sent (RFC 3123 §4).
    assert_eq!(
        ok(42, "1:192.168.32.0/21 !2:2001:db8::/32"),
        [
            0, 1, 21, 3, 192, 168, 32, 0, 2, 32, 0x84, 0x20, 0x01, 0x0d, 0xb8
        ]
    );
    assert_eq!(ok(42, ""), b"", "an empty list");
    assert!(err(42, "1:192.168.0.0/33").contains("item"));
    assert!(err(42, "3:1.2.3.4/8").contains("item"));
    assert_eq!(ok(105, "10 10.1.2.0"), [0, 10, 10, 1, 2, 0]);
    assert_eq!(
        ok(106, "10 2001:DB8:1140:1000"),
        [0, 10, 0x20, 0x01, 0x0d, 0xb8, 0x11, 0x40, 0x10, 0x00]
    );
    assert!(err(104, "10 1:2:3").contains("four groups"));
    assert!(err(104, "10 1:2:3:12345").contains("four groups"));
    assert_eq!(ok(108, "00-00-5E-00-53-2a"), [0, 0, 0x5e, 0, 0x53, 0x2a]);
    assert!(err(108, "00-00-5e-00-53").contains("6 pairs"));
    assert!(err(109, "00:00:5e:ef:10:00:00:2a").contains("8 pairs"));
    assert_eq!(ok(22, "0x47.0005"), [0x47, 0x00, 0x05]);
    assert!(err(22, "47.0005").contains("0x"));
    assert_eq!(ok(260, "10 1 1 192.0.2.1"), [10, 0x81, 192, 0, 2, 1]);
    assert_eq!(ok(260, "10 0 0 ."), [10, 0]);
    assert!(err(260, "10 2 0 .").contains("0 or 1"));
    assert!(err(260, "10 0 0 x.").contains("must be ."));
    assert_eq!(ok(45, "10 0 2 . aGk="), [10, 0, 2, b'h', b'i']);
    assert_eq!(
        ok(45, "10 3 2 Gw.Example."),
        b"\x0a\x03\x02\x02Gw\x07Example\x00"
    );
    assert!(err(45, "10 1 2 ::1").contains("IPv4"));
}

#[test]
fn loc_as_rfc_1876_and_knot_write_it() {
    // RFC 1876 §3's example and its defaults: 1 m size, 10 km / 10 m
    // precision.
    let wire = ok(29, "42 21 54 N 71 06 18 W -24m");
    let expect = [
        0, 0x12, 0x16, 0x13, // version, size, precisions
        0x89, 0x17, 0x2d, 0xd0, // 2^31 + 42°21'54"
        0x70, 0xbe, 0x15, 0xf0, // 2^31 - 71°06'18"
        0x00, 0x98, 0x8d, 0x20, // 10 000 000 - 2 400 cm
    ];
    assert_eq!(wire, expect);
    assert_eq!(
        ok(29, "42 21 54.000 n 71 6 18 w -24.00m 1m 10000m 10m"),
        expect
    );
    assert_eq!(ok(29, "0 N 0 E 0")[4..12], [0x80, 0, 0, 0, 0x80, 0, 0, 0]);
    assert!(err(29, "91 N 0 E 0").contains("latitude degrees"));
    assert!(err(29, "90 1 N 0 E 0").contains("beyond 90 degrees"));
    assert!(err(29, "1 60 N 0 E 0").contains("latitude minutes"));
    assert!(err(29, "1 2 3.1234 N 0 E 0").contains("latitude seconds"));
    assert!(err(29, "1 X 0 E 0").contains("latitude minutes"));
    assert!(err(29, "1 N 0 0 0 N 0").contains("longitude hemisphere"));
    assert!(err(29, "1 N 0 E 0 90000001m").contains("size"));
    assert!(err(29, "1 N 0 E -100000.01m").contains("altitude"));
    assert_eq!(err(29, "1 N 0 E"), "LOC altitude is missing");
    // GPOS: three decimal strings within their ranges.
    assert_eq!(ok(27, "-32.6 116.8 10"), b"\x05-32.6\x05116.8\x0210");
    assert!(err(27, "90.5 0 0").contains("latitude"));
    assert!(err(27, "0 -180.1 0").contains("longitude"));
    assert!(err(27, "0 0 high").contains("altitude"));
}

#[test]
fn dnssec_types() {
    let rrsig = ok(
        46,
        "NSEC 13 2 3600 20300101000000 1577836800 7 Example. ( aGk= )",
    );
    assert_eq!(rrsig[..4], [0, 47, 13, 2]);
    assert_eq!(rrsig[8..12], 1893456000u32.to_be_bytes());
    assert_eq!(rrsig[12..16], 1577836800u32.to_be_bytes());
    assert!(rrsig.ends_with(b"\x07example\x00hi"), "lower-cased signer");
    assert!(err(46, "FOO 13 2 3600 1 1 7 e. aGk=").contains("type covered"));
    assert!(err(46, "A 13 2 3600 20301301000000 1 7 e. aGk=").contains("expiration"));
    assert!(err(46, "A BOGUS 2 3600 1 1 7 e. aGk=").contains("algorithm mnemonic"));
    assert_eq!(
        ok(47, "Next. A TYPE1234"),
        b"\x04Next\x00\x00\x01\x40\x04\x1b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20"
    );
    assert_eq!(ok(47, "n."), b"\x01n\x00", "no types");
    assert_eq!(ok(51, "1 0 0 -"), [1, 0, 0, 0, 0]);
    assert!(err(51, "1 0 0 xyz").contains("salt"));
    assert!(err(50, "1 0 0 - 2VPTU5TIMAMQTTGL4LUU9KG21E0AOR3W").contains("base32hex"));
    assert_eq!(ok(62, "1 3"), [0, 0, 0, 1, 0, 3]);
    assert_eq!(ok(48, "256 3 ED25519 aGk="), [1, 0, 3, 15, b'h', b'i']);
    assert!(err(48, "256 3 8").contains("public key is missing"));
    assert_eq!(ok(25, "49152 3 0"), [0xc0, 0, 3, 0], "a KEY without a key");
    assert_eq!(ok(37, "IPKIX 1 0 aGk="), [0, 4, 0, 1, 0, b'h', b'i']);
    assert_eq!(
        ok(37, "65535 1 PRIVATEOID aGk="),
        [0xff, 0xff, 0, 1, 254, b'h', b'i']
    );
    assert!(err(37, "X509 1 0 aGk=").contains("certificate type mnemonic"));
    assert_eq!(ok(66, "cds 1 5359 n."), [0, 59, 1, 0x14, 0xef, 1, b'n', 0]);
    let hip = ok(55, "2 0102 aGk= Rvs.Example.");
    assert_eq!(hip[..8], [2, 2, 0, 2, 1, 2, b'h', b'i']);
    assert!(hip.ends_with(b"\x03Rvs\x07Example\x00"));
    assert_eq!(ok(63, "1 1 1 abcd"), [0, 0, 0, 1, 1, 1, 0xab, 0xcd]);
    assert!(err(49, "!!!!").contains("base64"));
}

#[test]
fn the_rfc_1035_family() {
    assert_eq!(ok(19, "311061700956"), b"\x0c311061700956");
    assert!(err(19, "31a").contains("at least 4 decimal digits"));
    assert_eq!(ok(20, "150862028003217"), b"\x0f150862028003217");
    assert_eq!(ok(20, "1 2"), b"\x011\x012");
    assert!(err(20, "1 2 3").contains("unexpected"));
    assert_eq!(ok(14, "R.Ex. E.Ex."), b"\x01r\x02ex\x00\x01e\x02ex\x00");
    assert_eq!(ok(26, "1 A. B."), b"\x00\x01\x01a\x00\x01b\x00");
    assert_eq!(ok(256, "1 2 x"), b"\x00\x01\x00\x02x");
    assert!(err(256, r#"1 2 """#).contains("empty"));
    for rtype in [56, 258, 261, 262, 263] {
        assert_eq!(ok(rtype, "a \"b c\""), b"\x01a\x03b c");
    }
}
