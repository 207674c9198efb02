//! `healthdns check`: every error printed as `file:line: message` on
//! stderr, all of them (not only the first), exit status 1 on any error and
//! 0 when clean. Fixtures are in `tests/data/check/` (BIND's
//! `named-checkzone` rejects the broken ones for the same reasons).

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Output;

use crate::util::{data, fixture_zone, run_healthdns};

fn fixture(name: &str) -> PathBuf {
    data("check").join(name)
}

fn check(args: &[PathBuf], config: Option<PathBuf>) -> (i32, Vec<String>, Output) {
    let mut argv: Vec<&OsStr> = vec![OsStr::new("check")];
    if let Some(c) = &config {
        argv.push(OsStr::new("--config"));
        argv.push(c.as_os_str());
    }
    argv.extend(args.iter().map(|a| a.as_os_str()));
    let out = run_healthdns(&argv);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("check killed by a signal: {:?}", out.status));
    (code, stderr.lines().map(str::to_string).collect(), out)
}

/// The error lines that name `file:line:` (the file by its last component).
fn lines_at<'a>(lines: &'a [String], file: &str, line: u32) -> Vec<&'a String> {
    let tag = format!("{file}:{line}:");
    lines.iter().filter(|l| l.contains(&tag)).collect()
}

/// Asserts one error line names `file:line:` and mentions one of `words`
/// (case-insensitive).
fn assert_error(lines: &[String], file: &str, line: u32, words: &[&str]) {
    let found = lines_at(lines, file, line);
    assert!(
        !found.is_empty(),
        "no error line names {file}:{line}: in stderr:\n{}",
        lines.join("\n")
    );
    assert!(
        found.iter().any(|l| {
            let l = l.to_ascii_lowercase();
            words.iter().any(|w| l.contains(&w.to_ascii_lowercase()))
        }),
        "the error at {file}:{line} should mention one of {words:?}: {found:?}"
    );
}

#[test]
fn clean_zone_exits_0() {
    let (code, lines, _) = check(&[fixture("clean.zone")], None);
    assert_eq!(code, 0, "stderr:\n{}", lines.join("\n"));
}

#[test]
fn fixture_zone_is_clean() {
    let (code, lines, _) = check(&[fixture_zone(), data("min.test.zone")], None);
    assert_eq!(code, 0, "stderr:\n{}", lines.join("\n"));
}

#[test]
fn clean_config_exits_0() {
    let (code, lines, _) = check(&[], Some(fixture("clean.toml")));
    assert_eq!(code, 0, "stderr:\n{}", lines.join("\n"));
}

#[test]
fn broken_zone_lists_every_error_with_its_line() {
    let (code, lines, _) = check(&[fixture("broken.zone")], None);
    assert_eq!(code, 1, "stderr:\n{}", lines.join("\n"));
    assert_error(
        &lines,
        "broken.zone",
        6,
        &["MX", "preference", "range", "70000"],
    );
    assert_error(&lines, "broken.zone", 7, &["BOGUSTYPE", "type"]);
    assert_error(&lines, "broken.zone", 8, &["zone", "www.example.net"]);
    for ok_line in [1, 2, 3, 4, 5, 9] {
        assert!(
            lines_at(&lines, "broken.zone", ok_line).is_empty(),
            "line {ok_line} is fine but got: {:?}",
            lines_at(&lines, "broken.zone", ok_line)
        );
    }
}

#[test]
fn zone_without_soa_is_an_error_naming_the_file() {
    let (code, lines, _) = check(&[fixture("nosoa.zone")], None);
    assert_eq!(code, 1, "stderr:\n{}", lines.join("\n"));
    // The message after `nosoa.zone:LINE:` mentions SOA (the file name
    // itself contains "soa", so only the message is searched).
    let tagged: Vec<&String> = lines
        .iter()
        .filter(|l| message_after(l, "nosoa.zone").is_some_and(|m| m.contains("SOA")))
        .collect();
    assert!(
        !tagged.is_empty(),
        "expected a `nosoa.zone:LINE: ... SOA ...` line in:\n{}",
        lines.join("\n")
    );
}

#[test]
fn errors_from_several_zones_are_all_listed() {
    let (code, lines, _) = check(
        &[
            fixture("broken.zone"),
            fixture("clean.zone"),
            fixture("nosoa.zone"),
        ],
        None,
    );
    assert_eq!(code, 1, "stderr:\n{}", lines.join("\n"));
    for l in [6, 7, 8] {
        assert!(
            !lines_at(&lines, "broken.zone", l).is_empty(),
            "broken.zone:{l} missing once other zones follow:\n{}",
            lines.join("\n")
        );
    }
    assert!(
        lines.iter().any(|l| has_file_line(l, "nosoa.zone")),
        "nosoa.zone's error missing:\n{}",
        lines.join("\n")
    );
    assert!(
        !lines.iter().any(|l| l.contains("clean.zone:")),
        "clean.zone has no error:\n{}",
        lines.join("\n")
    );
}

/// `FILE:DIGITS:` somewhere in the line.
fn has_file_line(line: &str, file: &str) -> bool {
    message_after(line, file).is_some()
}

/// The text after `FILE:DIGITS:` (and `COL:` if present), when the line
/// has that prefix.
fn message_after<'a>(line: &'a str, file: &str) -> Option<&'a str> {
    let tag = format!("{file}:");
    line.match_indices(&tag).find_map(|(i, _)| {
        let rest = &line[i + tag.len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let rest = rest[digits..].strip_prefix(':').filter(|_| digits > 0)?;
        let col = rest.chars().take_while(char::is_ascii_digit).count();
        Some(match rest[col..].strip_prefix(':') {
            Some(after) if col > 0 => after,
            _ => rest,
        })
    })
}

#[test]
fn config_unknown_key_is_refused_with_its_line() {
    let (code, lines, _) = check(&[], Some(fixture("unknown-key.toml")));
    assert_eq!(code, 1, "stderr:\n{}", lines.join("\n"));
    assert_error(&lines, "unknown-key.toml", 3, &["colour"]);
}

/// An unknown key hides no other error: the others are listed with it,
/// each at its `file:line:col`, in the order of the file.
#[test]
fn config_unknown_key_comes_with_every_other_error() {
    let (code, lines, _) = check(&[], Some(fixture("every-error.toml")));
    assert_eq!(code, 1, "stderr:\n{}", lines.join("\n"));
    let expected = [
        (3, 1, "unknown field `colour`"),
        (4, 29, "listen address \"nonsense\" is not ADDR:PORT"),
        (5, 23, "invalid type: string \"many\", expected u32"),
        (10, 11, "check web: timeout must not exceed interval"),
        (11, 1, "unknown field `weight`"),
        (15, 8, "invalid type: string \"5432\", expected u16"),
        (22, 8, "does-not-exist.zone does not exist"),
    ];
    let listed: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("every-error.toml:"))
        .collect();
    assert_eq!(
        listed.len(),
        expected.len(),
        "one line per error:\n{}",
        lines.join("\n")
    );
    for ((line, column, words), found) in expected.iter().zip(&listed) {
        let tag = format!("every-error.toml:{line}:{column}: ");
        assert!(
            found.contains(&tag) && found.contains(words),
            "expected {tag}…{words}…, got {found}\nall:\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn config_missing_zone_files_are_all_listed() {
    let (code, lines, _) = check(&[], Some(fixture("missing-zones.toml")));
    assert_eq!(code, 1, "stderr:\n{}", lines.join("\n"));
    assert_error(&lines, "missing-zones.toml", 5, &["does-not-exist.zone"]);
    assert_error(&lines, "missing-zones.toml", 11, &["also-missing.zone"]);
    assert!(
        !lines.iter().any(|l| l.contains("clean.zone:")),
        "clean.zone loads fine:\n{}",
        lines.join("\n")
    );
}

#[test]
fn config_zone_errors_name_the_zone_file_and_line() {
    let (code, lines, _) = check(&[], Some(fixture("broken-zone.toml")));
    assert_eq!(code, 1, "stderr:\n{}", lines.join("\n"));
    assert_error(
        &lines,
        "broken.zone",
        6,
        &["MX", "preference", "range", "70000"],
    );
    assert_error(&lines, "broken.zone", 7, &["BOGUSTYPE", "type"]);
    assert_error(&lines, "broken.zone", 8, &["zone", "www.example.net"]);
}

#[test]
fn serve_refuses_a_broken_zone() {
    let zone = fixture("broken.zone");
    let mut child = std::process::Command::new(crate::util::bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg(&zone)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn healthdns serve");
    // A deadline against a hang only: a server that starts on a broken zone
    // would run until killed.
    let deadline = std::time::Instant::now() + crate::util::STARTUP_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve kept running on a broken zone");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_ne!(status.code(), Some(0), "serve must fail on a broken zone");
    assert!(
        stderr.contains("broken.zone:6:"),
        "serve prints the zone errors too:\n{stderr}"
    );
}

/// The configs shipped for users to start from: the README's quick start
/// and the failover example `healthdns demo` serves.
const SHIPPED: [&str; 2] = ["healthdns.toml", "examples/failover/healthdns.toml"];

#[test]
fn every_shipped_config_is_clean_and_refuses_an_unknown_key() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for shipped in SHIPPED {
        let (code, lines, _) = check(&[], Some(root.join(shipped)));
        assert_eq!(code, 0, "{shipped}: {lines:?}");
        // A copy beside the original (its zones are relative to it) with
        // one misspelt key.
        let path = root.join(shipped);
        let copy = path.with_file_name("unknown-key.test.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\n[server]\n"), "{shipped} has a [server]");
        let misspelt = text.replacen("\n[server]\n", "\n[server]\nlisen = 1\n", 1);
        std::fs::write(&copy, misspelt).unwrap();
        let (code, lines, _) = check(&[], Some(copy.clone()));
        std::fs::remove_file(&copy).unwrap();
        assert_eq!(code, 1, "{shipped}: {lines:?}");
        assert!(
            lines.iter().any(
                |l| l.contains("unknown-key.test.toml:") && l.contains("unknown field `lisen`")
            ),
            "{shipped}: {lines:?}"
        );
    }
}

/// Exec and calculated checks that cannot work, each at its
/// `file:line:col`, all of them: a program that is missing or not
/// executable, a calculated check naming itself, a cycle of three, a name
/// no check has, a count out of range.
#[test]
fn config_exec_and_calculated_check_errors_are_all_listed_with_their_place() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.sh");
    std::fs::write(&plain, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let missing = dir.path().join("missing.sh");
    let config = dir.path().join("checks.toml");
    std::fs::write(
        &config,
        format!(
            "[check.web]\ntype = \"tcp\"\nport = 80\n\
             [check.gone]\ntype = \"exec\"\ncommand = [\"{}\", \"{{address}}\"]\n\
             [check.plain]\ntype = \"exec\"\ncommand = [\"{}\"]\n\
             [check.me]\ntype = \"all\"\nchecks = [\"web\", \"me\"]\n\
             [check.a]\ntype = \"any\"\nchecks = [\"b\"]\n\
             [check.b]\ntype = \"any\"\nchecks = [\"web\", \"c\"]\n\
             [check.c]\ntype = \"all\"\nchecks = [\"a\"]\n\
             [check.typo]\ntype = \"any\"\nchecks = [\"web\", \"wbe\"]\n\
             [check.most]\ntype = \"at-least\"\ncount = 3\nchecks = [\"web\", \"plain\"]\n",
            missing.display(),
            plain.display()
        ),
    )
    .unwrap();
    let (code, lines, _) = check(&[], Some(config));
    assert_eq!(code, 1, "stderr:\n{}", lines.join("\n"));
    let expected = [
        (
            6,
            12,
            format!("check gone: command {} does not exist", missing.display()),
        ),
        (
            9,
            12,
            format!(
                "check plain: command {} is not executable (chmod +x it)",
                plain.display()
            ),
        ),
        (
            12,
            18,
            "check me: checks names me itself: a calculated check cannot include itself".into(),
        ),
        (21, 11, "check c: checks form a cycle: a → b → c → a".into()),
        (
            24,
            18,
            "check typo: checks names wbe, which is not defined: add a [check.wbe]".into(),
        ),
        (
            27,
            9,
            "check most: count 3 is more than the 2 checks named: it could never pass".into(),
        ),
    ];
    assert_eq!(
        lines.len(),
        expected.len(),
        "one line per error:\n{}",
        lines.join("\n")
    );
    for ((line, column, message), found) in expected.iter().zip(&lines) {
        assert!(
            found.ends_with(&format!("checks.toml:{line}:{column}: {message}")),
            "expected checks.toml:{line}:{column}: {message}\ngot {found}\nall:\n{}",
            lines.join("\n")
        );
    }
}

/// Asserts that `lines` name exactly `expected` (`line`, `column`, words
/// of the message) in `file`, in that order.
fn assert_exactly(lines: &[String], file: &str, expected: &[(u32, u32, &str)]) {
    let tagged = format!("{file}:");
    let listed: Vec<&String> = lines.iter().filter(|l| l.contains(&tagged)).collect();
    assert_eq!(
        listed.len(),
        expected.len(),
        "one line per error:\n{}",
        lines.join("\n")
    );
    for ((line, column, words), found) in expected.iter().zip(&listed) {
        let tag = format!("{file}:{line}:{column}: ");
        assert!(
            found.contains(&tag) && found.contains(words),
            "expected {tag}…{words}…, got {found}\nall:\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn geo_section_mistakes_are_all_listed_at_their_place() {
    let (code, lines, _) = check(&[], Some(fixture("geo-broken.toml")));
    assert_eq!(code, 1, "stderr:\n{}", lines.join("\n"));
    assert_exactly(
        &lines,
        "geo-broken.toml",
        &[
            (3, 12, "no-such-networks.txt does not exist"),
            (4, 11, "unknown region \"mars\""),
            (7, 13, "eu lists itself after another region"),
            (8, 19, "unknown region \"ap\""),
        ],
    );
}

#[test]
fn networks_file_mistakes_are_all_listed_at_their_place() {
    let (code, lines, _) = check(&[], Some(fixture("geo-networks.toml")));
    assert_eq!(code, 1, "stderr:\n{}", lines.join("\n"));
    assert_exactly(
        &lines,
        "geo-networks.txt",
        &[
            (4, 1, "\"10.1.2.3/8\" has bits set past its prefix length"),
            (5, 19, "unknown region \"mars\""),
            (6, 1, "\"203.0.113.0/33\": the prefix length is 0 to 32"),
            (
                8,
                1,
                "this network is at line 2 too, with region eu, here us",
            ),
            (9, 1, "no region after the network"),
        ],
    );
}

#[test]
fn a_clean_geo_section_and_networks_file_pass() {
    let (code, lines, out) = check(&[], Some(fixture("geo-clean.toml")));
    assert_eq!(code, 0, "stderr:\n{}", lines.join("\n"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("networks file OK: 3 networks"),
        "stdout:\n{stdout}"
    );
}
