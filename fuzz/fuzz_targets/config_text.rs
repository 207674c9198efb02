//! The config reader: any text validates or fails with errors that each
//! name a place inside the text (or none, for a problem with no place),
//! never a panic.
//!
//! The config sits at the repository's root, so the seeds' relative zone
//! paths (`zones/example.com.zone`) resolve and validation goes past them.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz.toml"))
}

fuzz_target!(|data: &[u8]| {
    // `config::load` refuses what is not UTF-8 before it parses.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Err(errors) = healthdns::config::parse(path(), text) else {
        return;
    };
    assert!(!errors.is_empty());
    let lines = text.split('\n').count();
    for error in &errors {
        let shown = error.to_string();
        assert!(!error.message.is_empty(), "{shown}");
        if error.line > 0 {
            assert!(error.line <= lines, "{shown}: past the last line");
            assert!(error.column >= 1, "{shown}");
        } else {
            assert_eq!(error.column, 0, "{shown}");
        }
    }
});
