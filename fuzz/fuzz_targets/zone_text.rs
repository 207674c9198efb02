//! The zone reader: any text loads or fails with located errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("healthdns-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("fuzz.zone");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Err(errors) = healthdns::zone::load(&path, None) {
        assert!(!errors.is_empty());
        for error in errors {
            assert!(error.location.line >= 1, "{error}");
        }
    }
});
