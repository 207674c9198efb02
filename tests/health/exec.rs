//! Exec checks end to end: a failover set whose members are checked by a
//! shell script the test writes, told what to do per address by a mode
//! file the test rewrites (`up`: exit 0; `down`: exit 1; `hang`: start a
//! child and wait forever; `fork`: start a child and exit 0).
//!
//! The scripts run as `/bin/sh SCRIPT`: the test writes them while other
//! tests fork, and executing a file another process may still hold open
//! for writing fails with ETXTBSY; reading it does not.
//!
//! Processes are judged from `/proc`. A killed child whose parent (the
//! script) is gone is re-parented to PID 1; where PID 1 does not reap (a
//! bare container), it stays a zombie, which is as dead as it gets: what
//! must never remain is a live process of a command's group, or a zombie
//! of the server's own (a command it did not reap).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::{
    DEADLINE, Env, POLL, assert_answer, check_section, metrics, serve_with_api, target_status,
    wait_answer,
};

const PRIMARY: &str = "127.0.0.31";
const SECONDARY: &str = "127.0.0.32";

/// The script: its mode per address from `DIR/mode-ADDRESS` (default up).
const APP: &str = r#"#!/bin/sh
dir=$(dirname "$0")
mode=$(cat "$dir/mode-$1" 2>/dev/null || echo up)
case "$mode" in
up) echo "app on $1 is fine"; exit 0 ;;
down) echo "app on $1: no quorum"; echo "details for the debug log" >&2; exit 1 ;;
hang) echo $$ >> "$dir/leaders-$1"; sleep 1000 & echo $! >> "$dir/children-$1"; wait ;;
fork) sleep 1000 & echo $! >> "$dir/children-$1"; echo "started a helper"; exit 0 ;;
esac
"#;

/// The scripts' directory and the check running `APP` on it.
struct Scripts {
    dir: tempfile::TempDir,
}

impl Scripts {
    fn new() -> Scripts {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.sh"), APP).unwrap();
        Scripts { dir }
    }

    /// `[check.app]`: the script on each member's address, every 500 ms
    /// within 400 ms (room for a busy machine to start a shell).
    fn check(&self) -> String {
        self.check_every("\"500ms\"", "\"400ms\"")
    }

    /// `[check.app]` with this interval and timeout (TOML values).
    fn check_every(&self, interval: &str, timeout: &str) -> String {
        let script = self.dir.path().join("app.sh");
        check_section(
            "app",
            "exec",
            &[
                (
                    "command",
                    &format!("[\"/bin/sh\", \"{}\", \"{{address}}\"]", script.display()),
                ),
                ("interval", interval),
                ("timeout", timeout),
            ],
        )
    }

    /// What the script does for `address` from its next run on.
    fn set(&self, address: &str, mode: &str) {
        let path = self.dir.path().join(format!("mode-{address}"));
        let temporary = path.with_extension("new");
        std::fs::write(&temporary, mode).unwrap();
        std::fs::rename(&temporary, &path).unwrap();
    }

    /// The pids the script wrote to `NAME-ADDRESS`, one a line.
    fn pids(&self, name: &str, address: &str) -> Vec<u32> {
        let path = self.dir.path().join(format!("{name}-{address}"));
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()
    }

    /// Waits until the script wrote at least `n` pids to `NAME-ADDRESS`.
    fn wait_pids(&self, name: &str, address: &str, n: usize) -> Vec<u32> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let pids = self.pids(name, address);
            if pids.len() >= n {
                return pids;
            }
            assert!(
                Instant::now() < deadline,
                "waited {DEADLINE:?} for {n} pids in {name}-{address}: {pids:?}"
            );
            thread::sleep(POLL);
        }
    }
}

/// A failover set `app`: the primary and the secondary, both checked by
/// `app`.
fn records() -> String {
    format!(
        "app 30 IN A {PRIMARY} ; healthdns failover=primary check=app\n\
         app 30 IN A {SECONDARY} ; healthdns failover=secondary check=app\n"
    )
}

/// A process as `/proc/PID/stat` has it.
#[derive(Debug, Clone)]
struct Proc {
    pid: u32,
    state: char,
    ppid: u32,
    pgid: u32,
}

fn proc_of(pid: u32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid pgrp …; comm may hold blanks and parentheses.
    let mut fields = stat[stat.rfind(')')? + 2..].split(' ');
    Some(Proc {
        pid,
        state: fields.next()?.chars().next()?,
        ppid: fields.next()?.parse().ok()?,
        pgid: fields.next()?.parse().ok()?,
    })
}

/// Every process on the host.
fn processes() -> Vec<Proc> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(proc_of)
        .collect()
}

/// What remains of the process groups led by `leaders` and of `children`:
/// live members, and zombies the server has not reaped.
fn leftovers(server: u32, leaders: &[u32], children: &[u32]) -> Vec<Proc> {
    let groups: BTreeSet<u32> = leaders.iter().copied().collect();
    let mut left: Vec<Proc> = processes()
        .into_iter()
        .filter(|p| groups.contains(&p.pgid))
        .filter(|p| p.state != 'Z' || p.ppid == server)
        .collect();
    // A child the script started is in its group; should it have left
    // it, it is still the script's.
    for &pid in children {
        let live = proc_of(pid).filter(|p| p.state != 'Z');
        if let Some(p) = live.filter(|p| !left.iter().any(|q| q.pid == p.pid)) {
            left.push(p);
        }
    }
    left
}

/// Waits until nothing of `leaders`' groups and `children` remains, at
/// most `within`.
fn wait_no_leftovers(server: u32, leaders: &[u32], children: &[u32], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = leftovers(server, leaders, children);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {within:?}, still there of groups {leaders:?} and children {children:?}: \
             {left:#?}"
        );
        thread::sleep(POLL);
    }
}

fn key(address: &str) -> String {
    format!("{address}:0/app")
}

#[test]
fn a_command_that_exits_0_keeps_the_primary_with_its_first_line_as_reason() {
    let scripts = Scripts::new();
    let (env, api) = serve_with_api(&records(), &[scripts.check()]);
    let s = &env.server;
    wait_answer(s, "app", "A", &[PRIMARY]);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let target = target_status(api, &key(PRIMARY));
        if target["last_probe"]["ok"] == true {
            assert_eq!(target["last_probe"]["reason"], "app on 127.0.0.31 is fine");
            assert_eq!(
                (target["state"].as_str(), target["serving"].as_bool()),
                (Some("up"), Some(true))
            );
            break;
        }
        assert!(Instant::now() < deadline, "no passed probe: {target:#}");
        thread::sleep(POLL);
    }
    assert_answer(s, "app", "A", &[PRIMARY], "the command exits 0");
}

#[test]
fn a_command_that_exits_1_fails_over_with_its_first_line_as_reason() {
    let scripts = Scripts::new();
    let (env, api) = serve_with_api(&records(), &[scripts.check()]);
    let s = &env.server;
    wait_answer(s, "app", "A", &[PRIMARY]);

    scripts.set(PRIMARY, "down");
    wait_answer(s, "app", "A", &[SECONDARY]);
    let target = target_status(api, &key(PRIMARY));
    assert_eq!(target["state"], "down", "{target:#}");
    assert_eq!(
        target["last_transition"]["reason"], "exit 1: app on 127.0.0.31: no quorum",
        "{target:#}"
    );
    assert_eq!(target["last_transition"]["class"], "exit", "{target:#}");
    assert_eq!(
        target["last_probe"]["reason"], "exit 1: app on 127.0.0.31: no quorum",
        "{target:#}"
    );

    scripts.set(PRIMARY, "up");
    wait_answer(s, "app", "A", &[PRIMARY]);
}

#[test]
fn a_hanging_command_is_killed_with_its_group_at_the_timeout_and_reaped() {
    let scripts = Scripts::new();
    let (env, api) = serve_with_api(&records(), &[scripts.check()]);
    let s = &env.server;
    wait_answer(s, "app", "A", &[PRIMARY]);

    scripts.set(PRIMARY, "hang");
    wait_answer(s, "app", "A", &[SECONDARY]);
    let target = target_status(api, &key(PRIMARY));
    assert_eq!(
        target["last_transition"]["reason"], "timeout after 400ms",
        "{target:#}"
    );
    // Two hung runs at least (fall 2); then no more, and each run's
    // script, and the child it started, must be gone.
    scripts.wait_pids("leaders", PRIMARY, 2);
    scripts.set(PRIMARY, "down");
    let started = scripts.pids("leaders", PRIMARY).len();
    // A run that started hanging before the mode changed ends by its
    // timeout: wait for a run of the new mode to have ended too.
    let failures = |t: &serde_json::Value| t["failures"].as_u64().unwrap_or(0);
    let before = failures(&target_status(api, &key(PRIMARY)));
    let deadline = Instant::now() + DEADLINE;
    while failures(&target_status(api, &key(PRIMARY))) < before + 2 {
        assert!(Instant::now() < deadline, "no more failed probes");
        thread::sleep(POLL);
    }
    let leaders = scripts.pids("leaders", PRIMARY);
    let children = scripts.pids("children", PRIMARY);
    assert!(
        leaders.len() >= started && leaders.len() >= 2,
        "{leaders:?}"
    );
    assert_eq!(leaders.len(), children.len(), "a child per hung run");
    wait_no_leftovers(s.pid(), &leaders, &children, DEADLINE);
    // And the server has no zombie of its own at all, once its probes
    // have been reaped (a run may be ending just now: wait for none).
    let deadline = Instant::now() + DEADLINE;
    loop {
        let zombies: Vec<Proc> = processes()
            .into_iter()
            .filter(|p| p.ppid == s.pid() && p.state == 'Z')
            .collect();
        if zombies.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "zombies of the server: {zombies:#?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn what_a_command_leaves_behind_is_killed_when_it_exits() {
    let scripts = Scripts::new();
    scripts.set(PRIMARY, "fork");
    let (env, _api) = serve_with_api(&records(), &[scripts.check()]);
    let s = &env.server;
    wait_answer(s, "app", "A", &[PRIMARY]);
    let children = scripts.wait_pids("children", PRIMARY, 3);
    assert_answer(s, "app", "A", &[PRIMARY], "each run exits 0");
    scripts.set(PRIMARY, "up");
    // No group leader left to judge by: each child on its own.
    let deadline = Instant::now() + DEADLINE;
    for pid in children {
        while let Some(p) = proc_of(pid).filter(|p| p.state != 'Z') {
            assert!(
                Instant::now() < deadline,
                "the helper {pid} a run started outlived it: {p:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A primary whose runs hang for `SLOW` (its timeout), one run begun.
fn hanging_for_long() -> (Scripts, Env, SocketAddr, u32) {
    let scripts = Scripts::new();
    scripts.set(PRIMARY, "hang");
    let (env, api) = serve_with_api(&records(), &[scripts.check_every(SLOW, SLOW)]);
    // The first run starts within the first interval.
    let leader = scripts.wait_pids("leaders", PRIMARY, 1)[0];
    scripts.wait_pids("children", PRIMARY, 1);
    (scripts, env, api, leader)
}

/// An interval and timeout far longer than a kill takes: a run that ends
/// within [`KILLED_WITHIN`] was not ended by its timeout.
const SLOW: &str = "\"25s\"";
const KILLED_WITHIN: Duration = Duration::from_secs(10);

#[test]
fn a_reload_that_restarts_the_loop_kills_and_reaps_the_command_it_was_running() {
    let (scripts, env, api, leader) = hanging_for_long();
    // Another interval: the target's loop restarts, and its probe is dropped.
    let text = std::fs::read_to_string(env.config()).unwrap();
    std::fs::write(
        env.config(),
        text.replace("interval = \"25s\"", "interval = \"26s\""),
    )
    .unwrap();
    let reply = crate::util::http::request(api, "POST", "/api/v1/reload", &[], None).unwrap();
    assert_eq!(reply.status, 200, "{reply}");
    let children = scripts.pids("children", PRIMARY);
    wait_no_leftovers(env.server.pid(), &[leader], &children[..1], KILLED_WITHIN);
}

#[test]
fn shutdown_kills_the_command_a_loop_was_running() {
    let (scripts, env, _api, leader) = hanging_for_long();
    let status = env.server.terminate();
    assert!(status.success(), "{status}");
    let children = scripts.pids("children", PRIMARY);
    // The server is gone: a zombie of its own would now be init's.
    wait_no_leftovers(0, &[leader], &children, KILLED_WITHIN);
}

/// The lateness histogram's buckets, `le` to count, from a scrape.
fn lateness(api: SocketAddr) -> BTreeMap<String, f64> {
    metrics(api)
        .matching("health_probe_lateness_seconds_bucket", &[])
        .map(|sample| (sample.labels["le"].clone(), sample.value))
        .collect()
}

/// How many lines of `log` each address wrote.
fn runs(log: &Path) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        *counts.entry(line.trim().to_owned()).or_default() += 1;
    }
    counts
}

#[test]
fn two_hundred_targets_each_probed_every_second_keep_their_schedule() {
    const TARGETS: u32 = 200;
    const WINDOW: Duration = Duration::from_secs(10);
    let dir = tempfile::tempdir().unwrap();
    let log: PathBuf = dir.path().join("runs");
    let script = dir.path().join("count.sh");
    std::fs::write(&script, "echo \"$1\" >> \"$2\"\necho counted\n").unwrap();
    let records: String = (0..TARGETS)
        .map(|i| {
            format!(
                "many 30 IN A 127.0.{}.{} ; healthdns multivalue check=count max=8\n",
                1 + i / 250,
                1 + i % 250
            )
        })
        .collect();
    let check = check_section(
        "count",
        "exec",
        &[
            (
                "command",
                &format!(
                    "[\"/bin/sh\", \"{}\", \"{{address}}\", \"{}\"]",
                    script.display(),
                    log.display()
                ),
            ),
            ("interval", "\"1s\""),
            ("timeout", "\"500ms\""),
        ],
    );
    let (env, api) = serve_with_api(&records, &[check]);
    // Every loop has started (each within its first interval) and probed.
    let deadline = Instant::now() + DEADLINE;
    while runs(&log).len() < TARGETS as usize {
        assert!(
            Instant::now() < deadline,
            "{} of {TARGETS} targets probed; server stderr:\n{}",
            runs(&log).len(),
            env.server.stderr_so_far()
        );
        thread::sleep(POLL);
    }
    thread::sleep(Duration::from_secs(2));

    let (before, counted_before) = (lateness(api), runs(&log));
    let started = Instant::now();
    thread::sleep(WINDOW);
    let (after, counted_after) = (lateness(api), runs(&log));
    let window = started.elapsed();

    // Lateness of the probes that started in the window, bucket by bucket.
    let late = |le: &str| after[le] - before[le];
    let all = late("+Inf");
    let expected = f64::from(TARGETS) * window.as_secs_f64();
    assert!(
        all >= 0.8 * expected,
        "{all} probes in {window:?}, {expected} due"
    );
    assert!(
        late("0.25") >= 0.99 * all,
        "p99 later than 250 ms: {} of {all} within it; buckets before {before:?} after {after:?}",
        late("0.25")
    );
    assert_eq!(late("1"), all, "a probe more than 1 s late: {after:?}");
    // Each target as often as its interval says (±10 % jitter, and the
    // window's edges): about 10 each.
    let due = window.as_secs_f64();
    let mut each = Vec::new();
    for i in 0..TARGETS {
        let address = format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250);
        let n = counted_after.get(&address).copied().unwrap_or(0)
            - counted_before.get(&address).copied().unwrap_or(0);
        assert!(
            f64::from(n) >= 0.7 * due && f64::from(n) <= 1.3 * due + 1.0,
            "{address} probed {n} times in {window:?}"
        );
        each.push(n);
    }
    // What was measured, for `--nocapture`: the bucket (upper bound) of
    // the 50th and 99th percentile and of the latest probe.
    let mut bounds: Vec<(f64, f64)> = after
        .keys()
        .filter_map(|le| Some((le.parse::<f64>().ok()?, late(le))))
        .collect();
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bucket = |share: f64| {
        bounds
            .iter()
            .find(|&&(_, n)| n >= share * all)
            .map_or(f64::INFINITY, |&(le, _)| le)
    };
    eprintln!(
        "{TARGETS} exec targets every 1s: {all} probes in {window:.1?}, {} to {} per target; \
         lateness p50 <= {}s, p99 <= {}s, max <= {}s",
        each.iter().min().unwrap_or(&0),
        each.iter().max().unwrap_or(&0),
        bucket(0.5),
        bucket(0.99),
        bucket(1.0)
    );
    // Nothing could not run for want of a slot or a process.
    let local = metrics(api)
        .value("health_check_local_errors_total", &[("check", "count")])
        .unwrap_or(0.0);
    assert_eq!(local, 0.0);
}
