//! `POST /api/v1/reload` and SIGHUP: new data served once the call returns,
//! refused data leaving the old serving, health state kept across a reload,
//! and a soak of 50 reloads under UDP and TCP load.

use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use super::{Opts, PRIMARY, SECONDARY, dns, start, start_with, write_atomic};
use crate::health::{DEADLINE, assert_answer, wait_answer, zone_text};
use crate::util::backend::HttpMode;

const NEW: &str = "new 60 IN A 192.0.2.55";

#[test]
fn a_reload_serves_a_new_record_when_it_returns() {
    let env = start();
    env.wait_settled();
    let r = env.server.dig(&["new.h.test", "A"]);
    assert_eq!(r.rcode, "NXDOMAIN", "before the reload:\n{r}");

    env.write_zone(NEW);
    env.reload_ok();
    // No polling: the new answers are served once the reload returned.
    assert_answer(&env.server, "new", "A", &["192.0.2.55"], "after the reload");
    assert_answer(&env.server, "api", "A", &[PRIMARY], "the pair unchanged");
}

/// `…FILE:LINE…` somewhere in `error`.
fn has_file_line(error: &str, file: &str) -> bool {
    error.match_indices(&format!("{file}:")).any(|(i, m)| {
        error[i + m.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn a_broken_zone_is_refused_with_file_and_line_and_the_old_data_serves() {
    let env = start();
    env.wait_settled();
    env.write_zone(NEW);
    env.reload_ok();

    env.write_zone("bad 60 IN A not-an-address\nworse 60 IN A 192.0.2.300\n");
    let r = env.reload(None);
    assert_eq!(r.status, 422, "broken zone:\n{r}");
    let v = r.json();
    assert_eq!(v["ok"], false, "{r}");
    let errors: Vec<&str> = v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("errors array:\n{r}"))
        .iter()
        .map(|e| e.as_str().expect("errors are strings"))
        .collect();
    assert!(errors.len() >= 2, "every error, not the first:\n{r}");
    for e in &errors {
        assert!(has_file_line(e, "h.test.zone"), "file:line in {e:?}");
    }
    // The old data keeps serving, the new lines are not half-loaded.
    assert_answer(&env.server, "new", "A", &["192.0.2.55"], "old data kept");
    assert_answer(&env.server, "api", "A", &[PRIMARY], "old data kept");
    let r = env.server.dig(&["bad.h.test", "A"]);
    assert_eq!(r.rcode, "NXDOMAIN", "{r}");

    // Fixed again: loads.
    env.write_zone("");
    env.reload_ok();
    let r = env.server.dig(&["new.h.test", "A"]);
    assert_eq!(r.rcode, "NXDOMAIN", "the record removed:\n{r}");
}

#[test]
fn a_broken_config_is_refused_with_file_and_line() {
    let env = start();
    env.wait_settled();
    let config = env.config();
    let good = std::fs::read_to_string(&config).unwrap();
    write_atomic(&config, &format!("no-such-key = 1\n{good}"));
    let r = env.reload(None);
    assert_eq!(r.status, 422, "unknown config key:\n{r}");
    let v = r.json();
    assert_eq!(v["ok"], false, "{r}");
    assert!(
        v["errors"].as_array().is_some_and(|a| a.iter().any(|e| e
            .as_str()
            .is_some_and(|e| has_file_line(e, "healthdns.toml")))),
        "healthdns.toml:LINE in the errors:\n{r}"
    );
    assert_answer(&env.server, "api", "A", &[PRIMARY], "old data kept");
    // The API is still there and still reloads once the file is fixed.
    write_atomic(&config, &good);
    env.reload_ok();
}

/// The pid of the `healthdns serve` whose command line names `config`
/// (the harness does not expose its child's pid; each test has its own
/// tempdir, so the config path is unique).
fn server_pid(config: &Path) -> u32 {
    let want = config.as_os_str().as_bytes();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_healthdns = args.first().is_some_and(|a| a.ends_with(b"healthdns"));
        if is_healthdns && args.contains(&&b"serve"[..]) && args.contains(&want) {
            found.push(pid);
        }
    }
    assert_eq!(
        found.len(),
        1,
        "healthdns serve --config {config:?}: {found:?}"
    );
    found[0]
}

#[test]
fn sighup_reloads_like_the_api() {
    let env = start();
    env.wait_settled();
    let pid = server_pid(&env.config()).to_string();
    env.write_zone(NEW);
    let ok = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("run kill");
    assert!(ok.success(), "kill -HUP {pid}");
    wait_answer(&env.server, "new", "A", &["192.0.2.55"]);
    // Still serving, API included.
    assert_eq!(env.get("/healthz").status, 200);
    assert_answer(&env.server, "api", "A", &[PRIMARY], "the pair unchanged");
}

#[test]
fn a_down_target_stays_down_across_a_reload() {
    // initial = "up": a target whose state were reset by the reload would
    // come back into the answer at once.
    let env = start_with(Opts {
        check: &[("initial", "\"up\"")],
        ..Opts::default()
    });
    env.wait_settled();
    let p = env.primary_key();
    env.primary.set(HttpMode::Status(500));
    wait_answer(&env.server, "api", "A", &[SECONDARY]);
    let before = env.wait_target(&p, "state down", |t| t["state"] == "down");
    let secondary_before = env.target(&env.secondary_key());

    env.write_zone(NEW);
    env.reload_ok();
    let after = env.target(&p);
    assert_eq!(after["state"], "down", "kept across the reload:\n{after:#}");
    assert_eq!(after["serving"], false, "{after:#}");
    assert!(
        after["failures"].as_f64() >= before["failures"].as_f64(),
        "counters kept: before\n{before:#}\nafter\n{after:#}"
    );
    assert_eq!(after["last_transition"], before["last_transition"]);
    let s_after = env.target(&env.secondary_key());
    assert!(
        s_after["successes"].as_f64() >= secondary_before["successes"].as_f64(),
        "counters kept: before\n{secondary_before:#}\nafter\n{s_after:#}"
    );

    // No flap: through several probe rounds, the secondary only.
    let seen = env.primary.requests();
    let mut checks = 0;
    while env.primary.requests() < seen + 6 {
        assert_answer(
            &env.server,
            "api",
            "A",
            &[SECONDARY],
            "no flap after a reload",
        );
        checks += 1;
        assert!(
            checks < 1000,
            "the primary is no longer probed after the reload"
        );
    }
    let status = env.status();
    let flapped = status["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["target"] == p.as_str() && t["to"] == "up" && t["from"] == "down");
    assert!(!flapped, "a down → up transition of {p}:\n{status:#}");
    assert_answer(&env.server, "new", "A", &["192.0.2.55"], "the reload took");
}

#[test]
fn a_removed_target_is_no_longer_probed() {
    let env = start();
    env.wait_settled();
    let s = env.secondary_key();
    let only_primary = format!(
        "api 30 IN A {PRIMARY} ; healthdns failover=primary check=web target={}\n",
        env.primary.target()
    );
    write_atomic(&env.zone(), &zone_text(&only_primary));
    env.reload_ok();
    let status = env.status();
    assert!(
        super::find_target(&status, &s).is_none(),
        "removed target {s} still in the status:\n{status:#}"
    );
    // One probe may have been in flight; after that, none.
    let seen = env.secondary.requests() + 1;
    let p_seen = env.primary.requests();
    env.primary.wait_requests(p_seen + 6, DEADLINE);
    assert!(
        env.secondary.requests() <= seen,
        "the removed target still probed: {} requests, {seen} at most",
        env.secondary.requests()
    );
}

#[derive(Default, Debug)]
struct Tally {
    ok: usize,
    timeouts: usize,
    failures: Vec<String>,
    seen: BTreeSet<String>,
}

/// Queries `soak.h.test A` with `ask` until `stop`.
fn hammer(stop: Arc<AtomicBool>, ask: impl Fn(u16) -> Result<dns::Answer, dns::Failure>) -> Tally {
    let mut t = Tally::default();
    let mut id = 0u16;
    while !stop.load(Ordering::SeqCst) {
        id = id.wrapping_add(1);
        match ask(id) {
            Ok(a) if a.rcode == 0 && a.a.len() == 1 => {
                t.ok += 1;
                t.seen.insert(a.a[0].clone());
            }
            Ok(a) => t.failures.push(format!("{a:?}")),
            Err(dns::Failure::Timeout) => t.timeouts += 1,
            Err(dns::Failure::Error(e)) => t.failures.push(e),
        }
    }
    t
}

#[test]
fn fifty_reloads_under_load_lose_no_query() {
    const V1: &str = "192.0.2.1";
    const V2: &str = "192.0.2.2";
    let version = |ip: &str| format!("soak 30 IN A {ip}");
    let env = start_with(Opts {
        records: &version(V1),
        ..Opts::default()
    });
    env.wait_settled();
    let server = env.server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let udp = {
        let stop = stop.clone();
        thread::spawn(move || hammer(stop, |id| dns::udp(server, id, "soak.h.test")))
    };
    let tcp = {
        let stop = stop.clone();
        thread::spawn(move || hammer(stop, |id| dns::tcp(server, id, "soak.h.test")))
    };
    let mut last = V1;
    for i in 0..50 {
        last = if i % 2 == 0 { V2 } else { V1 };
        env.write_zone(&version(last));
        let r = env.reload(None);
        assert_eq!(r.status, 200, "reload {i}:\n{r}");
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    let udp = udp.join().expect("UDP thread");
    let tcp = tcp.join().expect("TCP thread");
    for (proto, t) in [("udp", &udp), ("tcp", &tcp)] {
        assert!(t.ok > 0, "{proto}: no query answered: {t:?}");
        assert_eq!(t.timeouts, 0, "{proto}: timeouts: {t:?}");
        assert!(t.failures.is_empty(), "{proto}: failed queries: {t:?}");
    }
    let seen: BTreeSet<String> = udp.seen.union(&tcp.seen).cloned().collect();
    assert_eq!(
        seen,
        BTreeSet::from([V1.to_string(), V2.to_string()]),
        "both zone versions answered; udp {udp:?} tcp {tcp:?}"
    );
    assert_answer(&env.server, "soak", "A", &[last], "the last version serves");
}
