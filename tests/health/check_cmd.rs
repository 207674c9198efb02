//! `healthdns check --config` on health annotations: every error as
//! `file:line: message`, exit 1; the documented syntax passes. Fixtures in
//! `tests/data/health/`; line numbers are looked up by content so the
//! fixtures can gain comments.

use std::path::PathBuf;

use crate::util::{data, run_healthdns};

fn fixture(name: &str) -> PathBuf {
    data("health").join(name)
}

/// The 1-based line of `errors.zone` that contains `text`.
fn line_of(text: &str) -> usize {
    line_in("errors.zone", text)
}

/// The 1-based line of fixture `file` that contains `text`.
fn line_in(file: &str, text: &str) -> usize {
    let zone = std::fs::read_to_string(fixture(file)).unwrap();
    zone.lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("{text:?} not in {file}"))
        + 1
}

/// Runs `healthdns check --config FILE`: exit code and stderr lines.
fn check(config: &str) -> (i32, Vec<String>) {
    let out = run_healthdns(&[
        "check".as_ref(),
        "--config".as_ref(),
        fixture(config).as_os_str(),
    ]);
    let code = out.status.code().expect("check killed by a signal");
    let stderr = String::from_utf8_lossy(&out.stderr);
    (code, stderr.lines().map(str::to_string).collect())
}

/// Asserts some stderr line names `errors.zone:LINE:` for one of `lines`
/// and mentions one of `words` (case-insensitive).
#[track_caller]
fn assert_error(stderr: &[String], lines: &[usize], words: &[&str], what: &str) {
    assert_error_in(stderr, "errors.zone", lines, words, what);
}

#[track_caller]
fn assert_error_in(stderr: &[String], file: &str, lines: &[usize], words: &[&str], what: &str) {
    let tags: Vec<String> = lines.iter().map(|l| format!("{file}:{l}:")).collect();
    let found: Vec<&String> = stderr
        .iter()
        .filter(|l| tags.iter().any(|t| l.contains(t)))
        .collect();
    assert!(
        !found.is_empty(),
        "{what}: no error names {tags:?}; stderr:\n{}",
        stderr.join("\n")
    );
    assert!(
        found.iter().any(|l| {
            let l = l.to_ascii_lowercase();
            words.iter().any(|w| l.contains(&w.to_ascii_lowercase()))
        }),
        "{what}: the error should mention one of {words:?}: {found:#?}"
    );
}

#[test]
fn an_undefined_check_is_reported_at_its_record() {
    let (code, stderr) = check("undefined-check.toml");
    assert_eq!(code, 1, "stderr:\n{}", stderr.join("\n"));
    assert_error_in(
        &stderr,
        "undefined-check.zone",
        &[line_in("undefined-check.zone", "check=wbe")],
        &["wbe"],
        "a check the config does not define",
    );
}

/// Every error at once, an undefined check among set errors: all reported.
#[test]
fn annotation_errors_are_all_reported_with_their_lines() {
    let (code, stderr) = check("errors.toml");
    assert_eq!(code, 1, "stderr:\n{}", stderr.join("\n"));
    assert_error(
        &stderr,
        &[line_of("check=wbe")],
        &["wbe"],
        "a check the config does not define",
    );
    // Errors about a set may name either member.
    assert_error(
        &stderr,
        &[line_of("192.0.2.31"), line_of("192.0.2.32")],
        &["polic", "failover", "multivalue"],
        "two policies in one set",
    );
    assert_error(
        &stderr,
        &[line_of("192.0.2.41"), line_of("192.0.2.42")],
        &["plain", "annotat"],
        "a plain record among annotated ones",
    );
    assert_error(
        &stderr,
        &[line_of("192.0.2.51"), line_of("192.0.2.52")],
        &["max"],
        "set-wide options that disagree",
    );
    let fine = format!("errors.zone:{}:", line_of("2001:db8::21"));
    assert!(
        !stderr.iter().any(|l| l.contains(&fine)),
        "an AAAA set beside an A set of another policy is fine: {stderr:#?}"
    );
}

#[test]
fn the_documented_annotations_and_check_keys_pass() {
    let (code, stderr) = check("clean.toml");
    assert_eq!(code, 0, "stderr:\n{}", stderr.join("\n"));
}
