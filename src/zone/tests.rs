//! Whole-file tests of [`load`]: directives, includes, TTL rules, validation,
//! error reporting, and a never-panic loop over mangled input.

use std::path::{Path, PathBuf};

use super::*;

const HEAD: &str =
    "$ORIGIN example.com.\n$TTL 1h\n@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.53\n";

fn n(text: &str) -> Name {
    Name::from_text(text, None).unwrap()
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn load_text(text: &str) -> Result<Loaded, ZoneErrors> {
    let dir = Dir::new();
    load(&dir.write("z.zone", text), None)
}

fn load_ok(text: &str) -> Loaded {
    load_text(text).unwrap_or_else(|errors| panic!("{errors:#?}"))
}

/// `line: message` of every error, for compact assertions.
fn errors(text: &str) -> Vec<String> {
    let errors = load_text(text).map(|_| ()).unwrap_err();
    errors
        .iter()
        .map(|e| format!("{}: {}", e.location.line, e.message))
        .collect()
}

fn warnings(loaded: &Loaded) -> Vec<String> {
    loaded
        .warnings
        .iter()
        .map(|e| format!("{}: {}", e.location.line, e.message))
        .collect()
}

fn find<'a>(zone: &'a Zone, owner: &str, rtype: u16) -> Vec<&'a Record> {
    let owner = n(owner);
    zone.records
        .iter()
        .filter(|r| r.owner == owner && r.rtype == rtype)
        .collect()
}

#[test]
fn loads_a_plain_zone_with_locations_and_annotations() {
    let text = format!(
        "{HEAD}www 300 IN A 192.0.2.1 ; healthdns failover=primary check=web\n    300 A 192.0.2.2 ; healthdns failover=secondary check=web all-down=first\nWWW2 in 60 a 192.0.2.3\n"
    );
    let loaded = load_ok(&text);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let zone = &loaded.zone;
    assert_eq!(zone.origin, n("example.com."));
    let www = find(zone, "www.example.com.", 1);
    assert_eq!(www.len(), 2);
    assert_eq!(www[0].ttl, 300);
    assert_eq!(www[0].location.line, 6);
    let primary = www[0].health.as_ref().unwrap();
    assert_eq!(
        (primary.policy, primary.rank),
        (crate::zone::Policy::Failover, 1)
    );
    assert_eq!(primary.check.as_deref(), Some("web"));
    let secondary = www[1].health.as_ref().unwrap();
    assert_eq!(
        (secondary.policy, secondary.rank),
        (crate::zone::Policy::Failover, 2)
    );
    assert_eq!(secondary.all_down, Some(crate::zone::AllDown::First));
    assert_eq!(www[1].location.line, 7);
    let www2 = find(zone, "www2.example.com.", 1);
    assert_eq!(www2[0].owner.to_string(), "WWW2.example.com.");
    assert_eq!(www2[0].ttl, 60);
    assert_eq!(find(zone, "example.com.", 6)[0].ttl, 3600);
}

#[test]
fn configured_origin_needs_no_origin_directive() {
    let dir = Dir::new();
    let path = dir.write(
        "z",
        "@ 60 SOA ns hm 1 2 3 4 5\n@ 60 NS ns\nns 60 A 192.0.2.1\n",
    );
    let loaded = load(&path, Some(&n("example.org."))).unwrap();
    assert_eq!(loaded.zone.origin, n("example.org."));
    assert_eq!(find(&loaded.zone, "ns.example.org.", 1).len(), 1);
}

#[test]
fn origin_directive_is_relative_to_the_current_origin() {
    let text =
        format!("{HEAD}$ORIGIN sub\nwww A 192.0.2.9\n$ORIGIN example.com.\nx A 192.0.2.10\n");
    let zone = load_ok(&text).zone;
    assert_eq!(find(&zone, "www.sub.example.com.", 1).len(), 1);
    assert_eq!(find(&zone, "x.example.com.", 1).len(), 1);
}

#[test]
fn ttl_rules() {
    // $TTL with units; explicit TTL wins; class and TTL in either order.
    let text =
        "$ORIGIN example.com.\n$TTL 1H30m\n@ SOA ns hm 1 2 3 4 5\n@ IN 2d NS ns\nns A 192.0.2.1\n";
    let zone = load_ok(text).zone;
    assert_eq!(find(&zone, "example.com.", 6)[0].ttl, 5400);
    assert_eq!(find(&zone, "example.com.", 2)[0].ttl, 172_800);
    // No $TTL: the previous record's TTL (RFC 1035).
    let text = "$ORIGIN example.com.\n@ 100 SOA ns hm 1 2 3 4 5\n@ NS ns\nns 200 A 192.0.2.1\nx A 192.0.2.2\n";
    let zone = load_ok(text).zone;
    assert_eq!(find(&zone, "example.com.", 2)[0].ttl, 100);
    assert_eq!(find(&zone, "x.example.com.", 1)[0].ttl, 200);
    // No TTL at all: SOA falls back to its minimum with a warning...
    let text = "$ORIGIN example.com.\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";
    let loaded = load_ok(text);
    assert_eq!(find(&loaded.zone, "example.com.", 6)[0].ttl, 5);
    assert_eq!(
        warnings(&loaded),
        ["2: no TTL and no $TTL; using the SOA minimum 5"]
    );
    // ...anything else is an error.
    let text = "$ORIGIN example.com.\nns A 192.0.2.1\n@ 1 SOA ns hm 1 2 3 4 5\n@ NS ns\n";
    assert_eq!(errors(text), ["2: no TTL and no $TTL"]);
    // Above 2^31-1: 0 with a warning, as BIND.
    let text = format!("{HEAD}big 2147483648 A 192.0.2.1\n");
    let loaded = load_ok(&text);
    assert_eq!(find(&loaded.zone, "big.example.com.", 1)[0].ttl, 0);
    assert_eq!(loaded.warnings.len(), 1);
    // Sorted by place: the line, then the column (none first).
    assert_eq!(
        errors("$TTL 1x\n"),
        [
            "1: no SOA record (and no origin configured)",
            "1: TTL \"1x\" is not a valid time (digits, with optional units s, m, h, d, w)",
        ]
    );
}

#[test]
fn include_reads_relative_to_the_including_file_with_local_origin() {
    let dir = Dir::new();
    std::fs::create_dir(dir.0.path().join("sub")).unwrap();
    dir.write(
        "sub/hosts.inc",
        "www A 192.0.2.1\n$ORIGIN elsewhere.example.com.\nz A 192.0.2.2\n",
    );
    let main = dir.write(
        "z.zone",
        &format!("{HEAD}$INCLUDE sub/hosts.inc dept\nafter A 192.0.2.3\n"),
    );
    let zone = load(&main, None).unwrap().zone;
    assert_eq!(find(&zone, "www.dept.example.com.", 1).len(), 1);
    assert_eq!(find(&zone, "z.elsewhere.example.com.", 1).len(), 1);
    let after = find(&zone, "after.example.com.", 1);
    assert_eq!(after.len(), 1, "origin restored after the include");
    let www = find(&zone, "www.dept.example.com.", 1)[0];
    assert!(www.location.file.ends_with("sub/hosts.inc"));
    assert_eq!(www.location.line, 1);
}

#[test]
fn errors_in_included_files_name_that_file_and_line() {
    let dir = Dir::new();
    dir.write("bad.inc", "ok A 192.0.2.1\n\nmx MX ten mail\n");
    let main = dir.write("z.zone", &format!("{HEAD}$INCLUDE bad.inc\n"));
    let errors = load(&main, None).unwrap_err();
    assert_eq!(errors.len(), 1);
    let shown = errors[0].to_string();
    assert!(
        shown.ends_with("bad.inc:3:7: MX preference \"ten\" is not a number"),
        "{shown}"
    );
}

#[test]
fn include_loops_depth_and_missing_files() {
    let dir = Dir::new();
    dir.write("a.inc", "$INCLUDE b.inc\n");
    dir.write("b.inc", "$INCLUDE a.inc\n");
    let main = dir.write(
        "z.zone",
        &format!("{HEAD}$INCLUDE a.inc\n$INCLUDE missing.inc\n"),
    );
    let errors = load(&main, None).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].message.contains("$INCLUDE loop"));
    assert!(errors[0].location.file.ends_with("b.inc"));
    assert_eq!(errors[1].location.line, 7);
    assert!(errors[1].message.starts_with("cannot read"));
    // A chain of distinct files deeper than the limit.
    for i in 0..20 {
        dir.write(&format!("d{i}.inc"), &format!("$INCLUDE d{}.inc\n", i + 1));
    }
    let main = dir.write("deep.zone", &format!("{HEAD}$INCLUDE d0.inc\n"));
    let errors = load(&main, None).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].message.contains("nested deeper than 16"));
}

#[test]
fn directives_refused() {
    let text = format!("{HEAD}$GENERATE 1-10 h$ A 192.0.2.$\n$FOO bar\n$TTL\n$ORIGIN a..b\n");
    assert_eq!(
        errors(&text),
        [
            "6: $GENERATE is not supported; write the records out",
            "7: unknown directive $FOO",
            "8: $TTL takes one TTL",
            "9: $ORIGIN \"a..b\" is not a valid name: empty label in name",
        ]
    );
}

#[test]
fn classes_and_types() {
    let text = format!(
        "{HEAD}a CLASS1 TYPE1 192.0.2.1\nb 60 CLASS1 type65280 \\# 2 abcd\nc IN mx 10 ns1\nd CH A 192.0.2.1\ne IN FOO x\nf TYPE65280 hello\ng TYPE41 \\# 0\nh A\n"
    );
    assert_eq!(
        errors(&text),
        [
            "9: class CH is not supported (only IN)",
            "10: unknown record type \"FOO\"",
            "11: type TYPE65280 has no text form here: write its RDATA in RFC 3597 \\# syntax",
            "12: type OPT cannot appear in a zone file",
            "13: A address is missing",
        ]
    );
    let text = format!("{HEAD}a CLASS1 TYPE1 192.0.2.1\nb 60 CLASS1 type65280 \\# 2 abcd\n");
    let zone = load_ok(&text).zone;
    assert_eq!(
        &*find(&zone, "b.example.com.", 65280)[0].rdata,
        [0xab, 0xcd]
    );
}

#[test]
fn parentheses_and_escapes_in_records() {
    let text = "$ORIGIN example.com.\n$TTL 60\n@ SOA ( ns1 hostmaster ; comment\n  2024 ; serial\n  1h 15m 1w 1d )\n@ NS ns1\nns1 A 192.0.2.1\na\\.b TXT \"x;y\" ( \"z\" )\n";
    let zone = load_ok(text).zone;
    let txt = &zone.records[3];
    assert_eq!(txt.owner.as_wire()[..4], *b"\x03a.b");
    assert_eq!(&*txt.rdata, b"\x03x;y\x01z");
    assert_eq!(txt.location.line, 8);
}

#[test]
fn names_too_long_are_errors_with_lines() {
    let label = "a".repeat(64);
    let long = ["abcdefghi"; 26].join(".");
    let text = format!("{HEAD}{label} A 192.0.2.1\n{long}. A 192.0.2.1\nok CNAME {label}\n");
    assert_eq!(
        errors(&text),
        [
            format!("6: owner \"{label}\" is not a valid name: label longer than 63 octets"),
            format!("7: owner \"{long}.\" is not a valid name: name longer than 255 octets"),
            format!("8: CNAME target \"{label}\" is not a valid name: label longer than 63 octets"),
        ]
    );
}

#[test]
fn reports_all_errors_at_once() {
    let text =
        "$ORIGIN example.com.\n$TTL 60\nbad A 300.1.1.1\n  MX x y\n\"unclosed TXT\nsrv SRV 1 2\n";
    let found = errors(text);
    assert_eq!(found.len(), 6, "{found:#?}");
    // In file order.
    assert_eq!(found[0], "1: no SOA record (and no origin configured)");
    assert!(found[1].starts_with("3: A address \"300.1.1.1\""));
    assert!(found[2].starts_with("4: MX preference \"x\""));
    assert!(found[3].starts_with("5: quoted string not closed"));
    assert_eq!(found[4], "5: record type is missing");
    assert_eq!(found[5], "6: SRV port is missing");
}

#[test]
fn apex_rules() {
    assert_eq!(
        errors("$ORIGIN example.com.\n$TTL 60\nwww A 192.0.2.1\n"),
        ["3: no SOA record (and no origin configured)"]
    );
    let dir = Dir::new();
    let path = dir.write("z", "$TTL 60\nwww A 192.0.2.1\n");
    let errors_with_origin: Vec<String> = load(&path, Some(&n("example.com.")))
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors_with_origin.len(), 2);
    assert!(errors_with_origin[0].ends_with("z:2: no SOA record at the apex example.com."));
    assert!(errors_with_origin[1].ends_with("z:2: no NS records at the apex example.com."));
    assert_eq!(
        errors("$ORIGIN example.com.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\nns A 192.0.2.1\n"),
        ["3: no NS records at the apex example.com."]
    );
    let text = format!(
        "{HEAD}sub SOA ns hm 1 2 3 4 5\n@ SOA ns hm 2 2 3 4 5\n@ SOA ns1 hostmaster 1 2 3 4 5\n"
    );
    assert_eq!(
        errors(&text),
        [
            "6: SOA at sub.example.com. is not at the zone apex example.com.",
            "7: a second SOA record at the apex; a zone has exactly one",
        ]
    );
}

#[test]
fn out_of_zone_records_are_dropped_with_a_warning() {
    let text = format!("{HEAD}www.example.net. A 192.0.2.1\nxexample.com. A 192.0.2.1\n");
    let loaded = load_ok(&text);
    assert_eq!(loaded.zone.records.len(), 3);
    assert_eq!(
        warnings(&loaded),
        [
            "6: www.example.net. is out of zone example.com.: out of zone, ignored",
            "7: xexample.com. is out of zone example.com.: out of zone, ignored",
        ]
    );
}

#[test]
fn cname_and_dname_rules() {
    let text = format!(
        "{HEAD}@ CNAME x\na CNAME x\na A 192.0.2.1\nb CNAME x\nb CNAME y\nc DNAME x\nc DNAME y\nd DNAME x\nd A 192.0.2.1\n"
    );
    let found = errors(&text);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert_eq!(
        found[0],
        "6: CNAME at the zone apex example.com. is not allowed"
    );
    assert!(found[1].starts_with("7: CNAME at a.example.com. alongside other data (A at "));
    assert!(found[1].ends_with("z.zone:8)"));
    assert_eq!(
        found[2],
        "10: more than one CNAME at b.example.com.; only one is allowed"
    );
    assert_eq!(
        found[3],
        "12: more than one DNAME at c.example.com.; only one is allowed"
    );
}

#[test]
fn occluded_data_below_cuts_and_dnames() {
    let text = format!(
        "{HEAD}sub NS ns.sub\nsub A 192.0.2.7\nsub MX 10 mail\nns.sub A 192.0.2.8\nns.sub AAAA 2001:db8::8\ntxt.sub TXT hidden\nold DNAME new.example.\nx.old A 192.0.2.9\nold TXT kept\n"
    );
    let loaded = load_ok(&text);
    let zone = &loaded.zone;
    assert_eq!(find(zone, "ns.sub.example.com.", 1).len(), 1, "glue kept");
    assert_eq!(find(zone, "ns.sub.example.com.", 28).len(), 1, "glue kept");
    assert_eq!(
        find(zone, "sub.example.com.", 1).len(),
        1,
        "glue at the cut kept"
    );
    assert_eq!(find(zone, "old.example.com.", 16).len(), 1);
    assert_eq!(
        warnings(&loaded),
        [
            "8: sub.example.com. MX is occluded by the delegation at sub.example.com.; ignored",
            "11: txt.sub.example.com. TXT is occluded by the delegation at sub.example.com.; ignored",
            "13: x.old.example.com. A is occluded by the DNAME at old.example.com.; ignored",
        ]
    );
}

#[test]
fn duplicates_merge_and_rrset_ttls_unify() {
    let text = format!(
        "{HEAD}www 60 A 192.0.2.1\nWWW 60 A 192.0.2.1\nwww 120 A 192.0.2.2\nwww 300 A 192.0.2.1\n"
    );
    let loaded = load_ok(&text);
    let www = find(&loaded.zone, "www.example.com.", 1);
    assert_eq!(www.len(), 2);
    assert!(www.iter().all(|r| r.ttl == 60));
    assert_eq!(
        warnings(&loaded),
        [
            "8: TTL 120 differs from the TTL 60 of the www.example.com. A RRset; using 60",
            "9: TTL 300 differs from the TTL 60 of the www.example.com. A RRset; using 60",
        ]
    );
}

#[test]
fn blank_owner_without_previous_record() {
    let found = errors("$ORIGIN example.com.\n$TTL 60\n  A 192.0.2.1\n");
    assert!(
        found.contains(&"3: line starts with a blank but no owner came before it".to_owned()),
        "{found:#?}"
    );
}

#[test]
fn unreadable_file_is_an_error() {
    let errors = load(Path::new("/nonexistent/zone"), None).unwrap_err();
    assert!(
        errors[0]
            .to_string()
            .starts_with("/nonexistent/zone:1: cannot read")
    );
}

/// A tiny deterministic generator; no dependency needed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn never_panics_on_garbage_or_truncated_input() {
    let sample = format!(
        "{HEAD}$INCLUDE nothing.inc sub\nwww 60 IN A 192.0.2.1 ; healthdns x\n_svc HTTPS 1 . alpn=\"h2,h3\" ech=aGk= ipv6hint=::1 mandatory=alpn\ncaa CAA 0 issue \"ca\"\nt TXT \"a\\\"b\" \\065 ( c\n d )\nn NAPTR 1 2 \"s\" \"x\" \"\" .\nd DS 1 8 2 abcd ef01\ns SOA ns hm 1 1h 1m 1w 1d\ng TYPE999 \\# 2 0102\n"
    );
    let alphabet = b" \t\n;()\"\\$@.0123456789abcdefINSOAHTP#=,:*";
    let dir = Dir::new();
    let path = dir.0.path().join("fuzz.zone");
    let mut rng = Lcg(42);
    let bytes = sample.as_bytes();
    for round in 0..2000 {
        let mut data = bytes.to_vec();
        match round % 4 {
            0 => data.truncate(rng.next() as usize % (bytes.len() + 1)),
            1 => {
                for _ in 0..1 + rng.next() % 8 {
                    let at = rng.next() as usize % data.len();
                    data[at] = alphabet[rng.next() as usize % alphabet.len()];
                }
            }
            2 => {
                for _ in 0..1 + rng.next() % 8 {
                    let at = rng.next() as usize % data.len();
                    data[at] = rng.next() as u8;
                }
            }
            _ => {
                let len = rng.next() as usize % 200;
                data = (0..len).map(|_| rng.next() as u8).collect();
            }
        }
        std::fs::write(&path, &data).unwrap();
        let origin = (round % 2 == 0).then(|| n("example.com."));
        if let Err(errors) = load(&path, origin.as_ref()) {
            assert!(!errors.is_empty());
            assert!(errors.iter().all(|e| e.location.line >= 1), "{errors:?}");
        }
    }
}

#[test]
fn health_sets_load_with_their_annotations() {
    let text = format!(
        "{HEAD}api 30 A 192.0.2.10 ; healthdns failover=primary check=web\n\
         api 30 A 198.51.100.10 ; healthdns failover=secondary check=web ttl=10\n\
         cdn 60 CNAME a.example.net. ; healthdns weighted=70 check=web target=192.0.2.31:443\n\
         cdn 60 CNAME b.example.net. ; healthdns weighted=30 check=web target=192.0.2.32:443\n"
    );
    let loaded = load_ok(&text);
    assert_eq!(find(&loaded.zone, "api.example.com.", 1).len(), 2);
    assert_eq!(
        find(&loaded.zone, "cdn.example.com.", 5).len(),
        2,
        "a weighted CNAME set is no CNAME clash"
    );
}

#[test]
fn health_set_rules_are_reported_at_each_offending_line() {
    let text = format!(
        "{HEAD}a A 192.0.2.1 ; healthdns failover=primary check=web\n\
         a A 192.0.2.2 ; healthdns multivalue check=web\n\
         b A 192.0.2.3 ; healthdns multivalue ttl=5\n\
         b A 192.0.2.4 ; healthdns multivalue ttl=6\n\
         c A 192.0.2.5 ; healthdns weighted=1\n\
         c A 192.0.2.6\n\
         d MX 10 mail ; healthdns failover=1 check=smtp\n\
         e CNAME x.example.net. ; healthdns multivalue\n\
         e CNAME y.example.net. ; healthdns multivalue\n\
         f A 192.0.2.7 ; healthdns failover=primary chek=web\n"
    );
    let found = errors(&text);
    let expect = [
        "7: a.example.com. A is multivalue here but failover at",
        "9: b.example.com. A: ttl=6 here but ttl=5 at",
        "11: c.example.com. A mixes plain records with health-annotated ones",
        "12: d.example.com. MX: a checked MX member has no address to probe",
        "13: e.example.com. CNAME: multivalue would answer several CNAMEs",
        "14: e.example.com. CNAME: multivalue would answer several CNAMEs",
        "15: health annotation: unknown annotation key \"chek\"",
    ];
    for want in expect {
        assert!(
            found.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in {found:#?}"
        );
    }
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("14: more than one CNAME")),
        "{found:#?}"
    );
}

#[test]
fn undefined_checks_are_reported_with_every_other_error() {
    let dir = Dir::new();
    let text = "$ORIGIN example.com.\n$TTL 60\nmx MX ten mail\na A 192.0.2.1 ; healthdns failover=primary check=wbe\n";
    let path = dir.write("z.zone", text);
    let is_check = |name: &str| name == "web";
    let found: Vec<String> = load_checked(&path, None, &is_check, DEFAULT_MAX_ZONE_FILE_SIZE)
        .unwrap_err()
        .iter()
        .map(|e| format!("{}: {}", e.location.line, e.message))
        .collect();
    for want in [
        "4: no SOA record",
        "3: MX preference \"ten\"",
        "4: check \"wbe\" is not defined in the config; add [check.wbe]",
    ] {
        assert!(
            found.iter().any(|e| e.starts_with(want)),
            "missing {want:?} in {found:#?}"
        );
    }
}

#[test]
fn a_record_stays_small() {
    // A 1M-record zone holds a million of these at its load peak; the
    // annotation, on few records, is boxed so it costs the rest 8 bytes.
    let size = std::mem::size_of::<Record>();
    let inline = std::mem::size_of::<Option<Annotation>>();
    eprintln!("Record is {size} bytes; an inline annotation would add {inline}");
    assert!(size <= 72, "Record grew to {size} bytes");
}

/// A zone without `$ORIGIN` whose relative owner fails: the lines that
/// continue it belong to no name, so nothing is filed under the owner
/// before it, and each error names its own line.
#[test]
fn a_failed_owner_takes_its_continuation_lines_with_it() {
    let text = "cryptokeys.org. 3600 IN SOA ns1.cryptokeys.org. hm.cryptokeys.org. 1 2 3 4 5\n\
                cryptokeys.org. 3600 IN NS ns1.cryptokeys.org.\n\
                ns1.cryptokeys.org. 3600 IN A 192.0.2.1\n\
                www 3600 IN A 192.0.2.2\n\
                \x20   300 IN CNAME elsewhere.example.\n\
                \x20   3600 IN MX ten mail.cryptokeys.org.\n\
                \x20   3600 IN AAAA 2001:db8::1\n";
    assert_eq!(
        errors(text),
        [
            "4: owner \"www\" is not a valid name: relative name \"www\" but no origin is known",
            "6: MX preference \"ten\" is not a number",
        ]
    );
    // With the bad line fixed the zone loads, and ns1 holds only its A.
    let fixed = text
        .replace("www 3600", "www.cryptokeys.org. 3600")
        .replace("CNAME elsewhere.example.", "TXT x")
        .replace("ten", "10");
    let zone = load_ok(&fixed).zone;
    let ns1 = n("ns1.cryptokeys.org.");
    assert_eq!(zone.records.iter().filter(|r| r.owner == ns1).count(), 1);
    assert_eq!(find(&zone, "www.cryptokeys.org.", 28).len(), 1);
}

/// Errors in one field say `file:line:col`, the line being the field's own
/// in a record that spans lines; errors about a whole line say `file:line`.
#[test]
fn field_errors_name_their_column() {
    let text = format!(
        "{HEAD}mx MX  ten mail\nsoa2 SOA ns1 hm (\n  1 2 3\n  4 5x )\nbad..name A 192.0.2.1\nx 1y A 192.0.2.1\n  A 192.0.2.2\ny IN LOC 91 N 0 E 0\n"
    );
    let dir = Dir::new();
    let path = dir.write("z.zone", &text);
    let errors = load(&path, None).unwrap_err();
    let shown: Vec<String> = errors
        .iter()
        .map(|e| {
            let at = e.to_string();
            at.rsplit('/').next().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        shown,
        [
            "z.zone:6:8: MX preference \"ten\" is not a number",
            "z.zone:9:5: SOA minimum \"5x\" is not a valid time (digits, with optional units s, m, h, d, w)",
            "z.zone:10:1: owner \"bad..name\" is not a valid name: empty label in name",
            "z.zone:11:3: TTL \"1y\" is not a valid time (digits, with optional units s, m, h, d, w)",
            "z.zone:13:10: LOC latitude degrees \"91\" is not a whole number 0-90",
        ],
        "{errors:#?}"
    );
}

/// A zone holding one record of every type with a text form loads, each
/// record as its type (the types refused before are most of them).
#[test]
fn a_zone_of_every_type_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/types.test.zone");
    let loaded = load(&path, None).unwrap_or_else(|e| panic!("{e:#?}"));
    let types: std::collections::BTreeSet<u16> =
        loaded.zone.records.iter().map(|r| r.rtype).collect();
    for (rtype, owner) in [
        (99, "spf"),
        (29, "loc"),
        (17, "rp"),
        (48, "dnskey"),
        (62, "csync"),
    ] {
        let found = find(&loaded.zone, &format!("{owner}.types.test."), rtype);
        assert_eq!(found.len(), 1, "{owner}");
    }
    assert!(types.len() >= 80, "{} types: {types:?}", types.len());
    // NSEC3 is read, and kept out of the answers with one warning.
    assert!(!types.contains(&50));
    assert_eq!(
        warnings(&loaded),
        [
            "74: NSEC3 records and the RRSIGs over them (1 in all) are not served: their owner names exist for no query (RFC 5155 §7.2.8)"
        ]
    );
}
