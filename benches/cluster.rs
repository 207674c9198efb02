//! `[cluster]` measured: real `healthdns serve` instances on a real etcd
//! (`etcd` on PATH: Debian's etcd-server), probing HTTP backends that run
//! in this process.
//!
//! `cargo bench --bench cluster [-- PART...]`, parts:
//! - `convergence[:RUNS]` (5 runs): three instances probing from 127.0.0.2,
//!   .3 and .4 (`source`), one failover set (primary 127.0.0.21, secondary
//!   127.0.0.22). The primary starts answering 503 for everyone at once;
//!   each instance's answer is polled over UDP every 20 ms. Per run: when
//!   each instance first answered the secondary, the spread of those times,
//!   and the time from the quorum-making probe (the second instance's
//!   `checks flipped` line to `down`: the majority of three) to the last
//!   instance answering the secondary.
//! - `load:TARGETSxINSTANCES` (default `load:1000x3` and `load:10000x1`):
//!   etcd's own write counters and the instances' `cluster_etcd_writes_total`
//!   over start-up, a steady window, and a storm in which 1,000 targets fail
//!   at once and then recover, with the time until every instance answers
//!   alike and until every instance holds every view.
//!
//! Checks everywhere: HTTP, interval 1 s, timeout 500 ms, fall 2, rise 2.
//! The backends are one listener bound to the loopback device taking every
//! 127/8 address (as in `benches/checker.rs`); an address marked down
//! answers 503. Each part starts its own etcd on free loopback ports with
//! its data in a tempdir. Every child process is killed when its handle is
//! dropped (also on a panic) and, through `PR_SET_PDEATHSIG`, when this
//! process dies without unwinding.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PRIMARY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 21);
const SECONDARY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 22);
const SOURCES: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
const CHECK: &str = "interval = \"1s\"\ntimeout = \"500ms\"\nfall = 2\nrise = 2\n";
/// How often each instance's answer is asked for while it converges.
const POLL: Duration = Duration::from_millis(20);
/// How often the load part reads every instance's /metrics: its text grows
/// with the targets (a few MB at 10,000), so not much more often.
const SCRAPE: Duration = Duration::from_millis(250);
/// Time for the probe schedule to settle before the steady window.
const WARM_UP: Duration = Duration::from_secs(5);
const STEADY: Duration = Duration::from_secs(20);
/// Targets that fail at once in a storm.
const STORM: usize = 1000;
/// Only turns a hang into a clear message: nothing here should take long.
const DEADLINE: Duration = Duration::from_secs(60);

fn main() {
    let mut parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if parts.is_empty() {
        parts = ["convergence", "load:1000x3", "load:10000x1"]
            .map(str::to_owned)
            .to_vec();
    }
    let limit = healthdns::server::raise_open_files_limit().expect("open files limit");
    println!("cargo bench --bench cluster -- {}", parts.join(" "));
    println!("{}", machine());
    println!("open files limit {limit}");
    let backends = Backends::start();
    for part in &parts {
        println!();
        let (kind, arg) = part.split_once(':').unwrap_or((part, ""));
        match kind {
            "convergence" => convergence(&backends, arg.parse().unwrap_or(5)),
            "load" => {
                let (targets, instances) = arg
                    .split_once('x')
                    .and_then(|(t, i)| Some((t.parse().ok()?, i.parse().ok()?)))
                    .unwrap_or_else(|| panic!("{part}: write load:TARGETSxINSTANCES"));
                load(&backends, targets, instances);
            }
            _ => panic!("unknown part {part:?}: convergence[:RUNS] or load:TARGETSxINSTANCES"),
        }
    }
}

/// The date, the host and what etcd is.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = command_line("uname", &["-r"]);
    let etcd = command_line("etcd", &["--version"]);
    format!(
        "{} · {cores} cores ({cpu}) · Linux {kernel} · {etcd} · load {}",
        humantime::format_rfc3339_seconds(SystemTime::now()),
        loadavg()
    )
}

/// The first line `program ARGS` prints.
fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("{program}: not found"))
}

/// The 1-minute load average: other work on a shared machine shows here.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split(' ').next().map(str::to_owned))
        .unwrap_or_default()
}

// ---------------------------------------------------------------- convergence

fn convergence(backends: &Backends, runs: usize) {
    println!(
        "Convergence: 3 instances (probes from {}), failover {PRIMARY} -> {SECONDARY}, \
         HTTP check, interval 1 s, timeout 500 ms, fall 2, rise 2, quorum majority; \
         answers polled every {} ms",
        SOURCES.join(", "),
        POLL.as_millis()
    );
    backends.clear();
    let etcd = Etcd::start();
    let prefix = format!("/healthdns-bench/convergence/{}", std::process::id());
    let zone = format!(
        "$ORIGIN c.test.\n$TTL 300\n@ IN SOA ns hostmaster 1 7200 3600 1209600 60\n\
         @ IN NS ns\nns IN A 192.0.2.1\n\
         api 5 IN A {PRIMARY} ; healthdns failover=primary check=web\n\
         api 5 IN A {SECONDARY} ; healthdns failover=secondary check=web\n"
    );
    let instances: Vec<Instance> = SOURCES
        .iter()
        .enumerate()
        .map(|(i, source)| {
            let check = format!(
                "[check.web]\ntype = \"http\"\nport = {}\npath = \"/health\"\n{CHECK}\
                 source = \"{source}\"\n",
                backends.port
            );
            Instance::start(&format!("ns{}", i + 1), &etcd, &prefix, &zone, &check)
        })
        .collect();
    let target = format!("{PRIMARY}:{}/web", backends.port);
    let settled = || {
        wait_until(
            "every instance answering the primary, seeing 3 up votes",
            || {
                for instance in &instances {
                    let answer = instance.answer("api.c.test")?;
                    if answer != [PRIMARY] {
                        return Err(format!("{} answers {answer:?}", instance.name));
                    }
                    let metrics = instance.metrics()?;
                    let votes = labelled(&metrics, "cluster_target_votes", "state=\"up\"");
                    if votes.get(&target) != Some(&3.0)
                        || sample(&metrics, "cluster_members") != 3.0
                    {
                        return Err(format!(
                            "{}: up votes {:?}",
                            instance.name,
                            votes.get(&target)
                        ));
                    }
                }
                Ok(())
            },
        );
    };
    settled();
    println!(
        "{:>4} {:>8} {:>8} {:>8} {:>8} {:>10} {:>11} {:>10}",
        "run", "ns1 s", "ns2 s", "ns3 s", "spread", "quorum s", "quorum→all", "log spread"
    );
    let mut spreads = Vec::new();
    let mut quorum_to_all = Vec::new();
    let mut log_spreads = Vec::new();
    let mut switches: Vec<Vec<f64>> = vec![Vec::new(); instances.len()];
    let mut quorums = Vec::new();
    for run in 1..=runs {
        // Lands the failure at a different point of each probe schedule.
        thread::sleep(Duration::from_millis(u64::from(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos()
                % 1000,
        )));
        let marks: Vec<usize> = instances.iter().map(Instance::events_seen).collect();
        let failed_at = SystemTime::now();
        backends.set(PRIMARY, true);
        let switched = poll_until_all_answer(&instances, SECONDARY, Duration::from_secs(15));
        // The lines come before the answers change; give the readers a moment.
        thread::sleep(Duration::from_millis(100));
        let mut flips: Vec<SystemTime> = Vec::new();
        let mut transitions: Vec<SystemTime> = Vec::new();
        for (instance, &mark) in instances.iter().zip(&marks) {
            for event in instance.events_since(mark) {
                if event.target != target || event.to != "down" {
                    continue;
                }
                if event.message.starts_with("checks flipped") {
                    flips.push(event.time);
                } else if event.message.starts_with("health transition") {
                    transitions.push(event.time);
                }
            }
        }
        flips.sort();
        let times: Vec<Option<f64>> = switched
            .iter()
            .map(|t| t.map(|t| seconds_between(failed_at, t)))
            .collect();
        let reached: Vec<f64> = times.iter().flatten().copied().collect();
        let all = reached.len() == instances.len();
        let spread = all.then(|| max(&reached) - min(&reached));
        let quorum = flips.get(1).map(|&t| seconds_between(failed_at, t));
        let last = all.then(|| max(&reached));
        let quorum_all = quorum.zip(last).map(|(q, l)| l - q);
        let log_spread = (transitions.len() == instances.len()).then(|| {
            let t: Vec<f64> = transitions
                .iter()
                .map(|&t| seconds_between(failed_at, t))
                .collect();
            max(&t) - min(&t)
        });
        println!(
            "{run:>4} {:>8} {:>8} {:>8} {:>8} {:>10} {:>11} {:>10}",
            opt(times[0]),
            opt(times[1]),
            opt(times[2]),
            opt(spread),
            opt(quorum),
            opt(quorum_all),
            opt(log_spread),
        );
        for (column, time) in switches.iter_mut().zip(&times) {
            column.extend(*time);
        }
        spreads.extend(spread);
        quorum_to_all.extend(quorum_all);
        log_spreads.extend(log_spread);
        quorums.extend(quorum);
        backends.set(PRIMARY, false);
        settled();
    }
    println!(
        "{:>4} {:>8} {:>8} {:>8} {:>8} {:>10} {:>11} {:>10}",
        "med",
        opt(median(&switches[0])),
        opt(median(&switches[1])),
        opt(median(&switches[2])),
        opt(median(&spreads)),
        opt(median(&quorums)),
        opt(median(&quorum_to_all)),
        opt(median(&log_spreads)),
    );
    println!(
        "seconds after the failure; spread = max − min of the three answer switches; \
         quorum = the 2nd `checks flipped … to=down`; log spread = of the three \
         `health transition` lines; load {}",
        loadavg()
    );
    report_problems(&instances);
}

/// Asks every instance every [`POLL`] until each answers only `want`; when
/// each first did (`None`: not before `deadline`).
fn poll_until_all_answer(
    instances: &[Instance],
    want: Ipv4Addr,
    deadline: Duration,
) -> Vec<Option<SystemTime>> {
    let mut switched = vec![None; instances.len()];
    let start = Instant::now();
    let mut next = start;
    while switched.iter().any(Option::is_none) && start.elapsed() < deadline {
        for (instance, switched) in instances.iter().zip(&mut switched) {
            if switched.is_none() && instance.answer("api.c.test").is_ok_and(|a| a == [want]) {
                *switched = Some(SystemTime::now());
            }
        }
        next += POLL;
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    switched
}

// ----------------------------------------------------------------------- load

/// Counters read at one moment: etcd's and the instances' summed.
#[derive(Clone, Copy, Default)]
struct Counters {
    at: Option<Instant>,
    /// etcd_mvcc_put_total: keys put, one per key in a transaction.
    puts: f64,
    /// etcd_mvcc_delete_total (lease expiries and revocations included).
    deletes: f64,
    /// etcd_server_proposals_committed_total: write requests through raft
    /// (transactions, lease grants and revocations; not keep-alives).
    /// etcd_mvcc_txn_total would leave out a transaction of one operation.
    requests: f64,
    /// cluster_etcd_writes_total over every instance.
    written: f64,
    /// health_checks_total over every instance.
    probes: f64,
}

impl Counters {
    fn read(etcd: &Etcd, instances: &[Instance]) -> Counters {
        let e = etcd.metrics();
        let mut counters = Counters {
            at: Some(Instant::now()),
            puts: sample(&e, "etcd_mvcc_put_total"),
            deletes: sample(&e, "etcd_mvcc_delete_total"),
            requests: sample(&e, "etcd_server_proposals_committed_total"),
            ..Counters::default()
        };
        for instance in instances {
            let m = instance.metrics().expect("metrics");
            counters.written += sample(&m, "cluster_etcd_writes_total");
            counters.probes += sample(&m, "health_checks_total");
        }
        counters
    }

    /// What happened from `earlier` to this.
    fn since(self, earlier: Counters) -> Counters {
        Counters {
            at: earlier.at,
            puts: self.puts - earlier.puts,
            deletes: self.deletes - earlier.deletes,
            requests: self.requests - earlier.requests,
            written: self.written - earlier.written,
            probes: self.probes - earlier.probes,
        }
    }
}

fn load_header() {
    println!(
        "{:<10} {:>8} {:>9} {:>9} {:>8} {:>9} {:>10} {:>8} {:>7} {:>9}",
        "phase",
        "seconds",
        "probes/s",
        "keys put",
        "deleted",
        "requests",
        "inst. keys",
        "keys/s",
        "req/s",
        "agreed s",
    );
}

fn load_row(phase: &str, seconds: f64, c: Counters, agreed: Option<f64>) {
    println!(
        "{phase:<10} {seconds:>8.1} {:>9.0} {:>9.0} {:>8.0} {:>9.0} {:>10.0} {:>8.1} {:>7.1} {:>9}",
        c.probes / seconds,
        c.puts,
        c.deletes,
        c.requests,
        c.written,
        (c.puts + c.deletes) / seconds,
        c.requests / seconds,
        opt(agreed),
    );
}

/// `127.0.x.y` for target `i`, clear of the convergence addresses.
fn address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, (1 + i / 250) as u8, (1 + i % 250) as u8)
}

fn load(backends: &Backends, targets: usize, count: usize) {
    assert!(targets >= STORM, "a storm needs {STORM} targets");
    println!(
        "etcd load: {targets} targets, {count} instance(s), HTTP check, interval 1 s, \
         timeout 500 ms, fall 2, rise 2; storm: {STORM} targets fail at once, then recover"
    );
    backends.clear();
    let etcd = Etcd::start();
    let prefix = format!("/healthdns-bench/load/{}", std::process::id());
    let mut zone = String::from(
        "$ORIGIN bench.test.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n",
    );
    for i in 0..targets {
        zone.push_str(&format!(
            "t{i} A {} ; healthdns multivalue check=c\n",
            address(i)
        ));
    }
    let check = format!(
        "[check.c]\ntype = \"http\"\nport = {}\npath = \"/health\"\n{CHECK}",
        backends.port
    );
    let before_start = Counters::read(&etcd, &[]);
    let started = Instant::now();
    let instances: Vec<Instance> = (1..=count)
        .map(|i| Instance::start(&format!("ns{i}"), &etcd, &prefix, &zone, &check))
        .collect();
    let key = |i: usize| format!("{}:{}/c", address(i), backends.port);
    let keys: Vec<String> = (0..targets).map(key).collect();
    // Joined: every instance holds every instance's view of every target.
    wait_until("every view of every target everywhere", || {
        let state = agreement(&instances, &keys, |_| true)?;
        if state.views {
            Ok(())
        } else {
            Err(state.detail)
        }
    });
    let startup_seconds = started.elapsed().as_secs_f64();
    let startup = Counters::read(&etcd, &instances).since(before_start);
    load_header();
    load_row("start-up", startup_seconds, startup, None);
    thread::sleep(WARM_UP);
    let before = Counters::read(&etcd, &instances);
    thread::sleep(STEADY);
    let after = Counters::read(&etcd, &instances);
    let window = after.at.unwrap().duration_since(before.at.unwrap());
    load_row("steady", window.as_secs_f64(), after.since(before), None);
    for (phase, down) in [("storm down", true), ("storm up", false)] {
        let before = Counters::read(&etcd, &instances);
        let start = Instant::now();
        for i in 0..STORM {
            backends.set(address(i), down);
        }
        let expected = |i: usize| i >= STORM || !down;
        // Answers agree once every instance serves exactly the expected
        // targets; the storm is over once every view has reached everyone.
        let mut agreed = None;
        wait_until(&format!("{phase}: every view everywhere"), || {
            let state = agreement(&instances, &keys, expected)?;
            if agreed.is_none() && state.answers {
                agreed = Some(start.elapsed().as_secs_f64());
            }
            if state.views {
                Ok(())
            } else {
                Err(state.detail)
            }
        });
        let seconds = start.elapsed().as_secs_f64();
        let after = Counters::read(&etcd, &instances);
        load_row(phase, seconds, after.since(before), agreed);
    }
    println!(
        "start-up: from spawning to every view everywhere; steady: {} s after {} s more; \
         storm: from the flap until every instance holds every view (agreed s: until every \
         instance answers alike); keys put, deleted, requests: etcd's own counters; inst. keys = \
         cluster_etcd_writes_total summed; load {}",
        STEADY.as_secs(),
        WARM_UP.as_secs(),
        loadavg()
    );
    report_problems(&instances);
}

/// Where the instances stand on `keys`, `up(i)` being what key `i` should be.
struct Agreement {
    /// Every instance serves exactly the targets that should be up.
    answers: bool,
    /// Every instance holds every instance's view, as it should be.
    views: bool,
    /// The first thing out of place, for a timeout message.
    detail: String,
}

fn agreement(
    instances: &[Instance],
    keys: &[String],
    up: impl Fn(usize) -> bool,
) -> Result<Agreement, String> {
    let mut state = Agreement {
        answers: true,
        views: true,
        detail: String::new(),
    };
    let count = instances.len() as f64;
    for instance in instances {
        let metrics = instance.metrics()?;
        if sample(&metrics, "cluster_members") != count {
            return Err(format!("{}: not all members seen", instance.name));
        }
        let serving = labelled(&metrics, "endpoint_serving", "");
        let ups = labelled(&metrics, "cluster_target_votes", "state=\"up\"");
        let downs = labelled(&metrics, "cluster_target_votes", "state=\"down\"");
        for (i, key) in keys.iter().enumerate() {
            let want = up(i);
            if serving.get(key) != Some(&f64::from(u8::from(want))) {
                state.answers = false;
                state.views = false;
                state.detail = format!("{}: {key} serving {:?}", instance.name, serving.get(key));
                return Ok(state);
            }
            let votes = if want { &ups } else { &downs };
            if votes.get(key) != Some(&count) && state.views {
                state.views = false;
                state.detail = format!("{}: {key} votes {:?}", instance.name, votes.get(key));
            }
        }
    }
    Ok(state)
}

// ------------------------------------------------------------------ processes

/// A child process, killed when dropped.
struct Process(Child);

impl Process {
    /// Spawns `command`. Called from the main thread only: the parent-death
    /// signal follows the thread that forked, not the process.
    fn spawn(command: &mut Command) -> Process {
        // SAFETY: prctl is async-signal-safe and touches nothing of this
        // process's state between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let program = command.get_program().to_owned();
        Process(
            command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {program:?}: {e}")),
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A single-node etcd on free loopback ports, data in a tempdir.
struct Etcd {
    _process: Process,
    port: u16,
    dir: tempfile::TempDir,
}

impl Etcd {
    fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, peer_port) = (free_port(), free_port());
        let client = format!("http://127.0.0.1:{port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).expect("etcd log");
        let process = Process::spawn(
            Command::new("etcd")
                .arg("--name=bench")
                .arg(format!("--data-dir={}", dir.path().join("data").display()))
                .arg(format!("--listen-client-urls={client}"))
                .arg(format!("--advertise-client-urls={client}"))
                .arg(format!("--listen-peer-urls={peer}"))
                .arg(format!("--initial-advertise-peer-urls={peer}"))
                .arg(format!("--initial-cluster=bench={peer}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log),
        );
        let etcd = Etcd {
            _process: process,
            port,
            dir,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_until("etcd to answer /health", || {
            let body = http_get(addr, "/health")?;
            if body.contains("true") {
                Ok(())
            } else {
                Err(body)
            }
        });
        etcd
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// etcd's own Prometheus text.
    fn metrics(&self) -> String {
        http_get(SocketAddr::from(([127, 0, 0, 1], self.port)), "/metrics").unwrap_or_else(|e| {
            let log = std::fs::read_to_string(self.dir.path().join("etcd.log"));
            panic!("etcd /metrics: {e}\n{}", log.unwrap_or_default())
        })
    }
}

/// A line an instance logged that the bench looks at.
#[derive(Clone)]
struct Event {
    time: SystemTime,
    message: String,
    target: String,
    to: String,
}

#[derive(Default)]
struct Log {
    events: Vec<Event>,
    /// Warnings, errors and lines that were not JSON.
    problems: Vec<String>,
}

/// One `healthdns serve` in the cluster.
struct Instance {
    name: String,
    _process: Process,
    dns: UdpSocket,
    api: SocketAddr,
    log: Arc<Mutex<Log>>,
    _dir: tempfile::TempDir,
}

impl Instance {
    fn start(name: &str, etcd: &Etcd, prefix: &str, zone: &str, check: &str) -> Instance {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("bench.zone"), zone).expect("zone");
        let config = format!(
            "{check}[[zone]]\nfile = \"bench.zone\"\n[api]\nlisten = \"127.0.0.1:0\"\n\
             [cluster]\netcd = [\"{}\"]\nname = \"{name}\"\nprefix = \"{prefix}\"\n",
            etcd.endpoint()
        );
        let path = dir.path().join("healthdns.toml");
        std::fs::write(&path, config).expect("config");
        let mut process = Process::spawn(
            Command::new(env!("CARGO_BIN_EXE_healthdns"))
                .args(["--log-format", "json", "serve", "--config"])
                .arg(&path)
                .args(["--listen", "127.0.0.1:0"])
                .env("HEALTHDNS_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let log = Arc::new(Mutex::new(Log::default()));
        let stderr = process.0.stderr.take().expect("stderr");
        let sink = log.clone();
        thread::spawn(move || read_log(stderr, &sink));
        let (lines, ready) = mpsc::channel();
        let stdout = process.0.stdout.take().expect("stdout");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let (mut dns, mut api) = (None, None);
        while api.is_none() {
            let line = ready.recv_timeout(DEADLINE).unwrap_or_else(|_| {
                let log = log.lock().unwrap_or_else(|e| e.into_inner());
                panic!("{name} did not start:\n{}", log.problems.join("\n"))
            });
            if let Some(addr) = line.strip_prefix("api listening on ") {
                api = addr.trim().parse::<SocketAddr>().ok();
            } else if let Some(addr) = line.strip_prefix("listening on ") {
                dns = dns.or(addr.trim().parse::<SocketAddr>().ok());
            }
        }
        let dns_addr = dns.expect("a `listening on` line");
        let dns = UdpSocket::bind("127.0.0.1:0").expect("udp");
        dns.connect(dns_addr).expect("connect");
        dns.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        Instance {
            name: name.to_owned(),
            _process: process,
            dns,
            api: api.expect("api"),
            log,
            _dir: dir,
        }
    }

    /// The A records `name` answers now.
    fn answer(&self, name: &str) -> Result<Vec<Ipv4Addr>, String> {
        let id = (SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos()
            & 0xffff) as u16;
        self.dns.send(&query(id, name)).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 1500];
        loop {
            let n = self.dns.recv(&mut buf).map_err(|e| e.to_string())?;
            // A late reply to an earlier query is skipped.
            if n >= 2 && buf[..2] == id.to_be_bytes() {
                return a_records(&buf[..n]).ok_or_else(|| "malformed reply".to_owned());
            }
        }
    }

    fn metrics(&self) -> Result<String, String> {
        http_get(self.api, "/metrics").map_err(|e| format!("{}: {e}", self.name))
    }

    fn events_seen(&self) -> usize {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .events
            .len()
    }

    fn events_since(&self, mark: usize) -> Vec<Event> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).events[mark..].to_vec()
    }
}

/// Keeps the lines the bench needs from an instance's JSON log.
fn read_log(stderr: impl Read, log: &Mutex<Log>) {
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        let read_at = SystemTime::now();
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(json) = serde_json::from_str::<Value>(&line) else {
            log.problems.push(line);
            continue;
        };
        let fields = &json["fields"];
        let message = fields["message"].as_str().unwrap_or_default();
        if message.starts_with("checks flipped") || message.starts_with("health transition") {
            let time = json["timestamp"]
                .as_str()
                .and_then(|t| humantime::parse_rfc3339(t).ok())
                .unwrap_or(read_at);
            let event = Event {
                time,
                message: message.to_owned(),
                target: fields["target"].as_str().unwrap_or_default().to_owned(),
                to: fields["to"].as_str().unwrap_or_default().to_owned(),
            };
            log.events.push(event);
        }
        if matches!(json["level"].as_str(), Some("WARN" | "ERROR")) {
            log.problems.push(line);
        }
    }
}

/// Prints what the instances warned about, a few lines each.
fn report_problems(instances: &[Instance]) {
    for instance in instances {
        let log = instance.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.problems.is_empty() {
            continue;
        }
        println!(
            "{} logged {} warning(s), first ones:",
            instance.name,
            log.problems.len()
        );
        for line in log.problems.iter().take(5) {
            println!("  {line}");
        }
    }
}

// ------------------------------------------------------------------- backends

/// The HTTP backends of every target: one listener on the loopback device
/// taking every 127/8 address, 503 for an address marked down.
struct Backends {
    port: u16,
    /// By the last two octets of the address (the targets are 127.0.x.y).
    down: Arc<Vec<AtomicBool>>,
    _runtime: tokio::runtime::Runtime,
}

impl Backends {
    fn start() -> Backends {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let down: Arc<Vec<AtomicBool>> = Arc::new((0..1 << 16).map(|_| false.into()).collect());
        let listener = runtime.block_on(async { loopback_listener() });
        let port = listener.local_addr().expect("local addr").port();
        let marks = down.clone();
        runtime.spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    // EMFILE and the like: pass, do not stop.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                tokio::spawn(serve(conn, marks.clone()));
            }
        });
        Backends {
            port,
            down,
            _runtime: runtime,
        }
    }

    fn set(&self, ip: Ipv4Addr, down: bool) {
        self.down[slot(ip)].store(down, Ordering::Relaxed);
    }

    fn clear(&self) {
        for mark in self.down.iter() {
            mark.store(false, Ordering::Relaxed);
        }
    }
}

fn slot(ip: Ipv4Addr) -> usize {
    let [_, _, high, low] = ip.octets();
    usize::from(high) << 8 | usize::from(low)
}

/// One listener for every 127/8 address on a free port.
fn loopback_listener() -> tokio::net::TcpListener {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.bind_device(Some(b"lo")).expect("bind to lo");
    socket.set_reuse_address(true).expect("reuse");
    socket
        .bind(&SocketAddr::from(([0, 0, 0, 0], 0)).into())
        .expect("bind");
    socket.listen(4096).expect("listen");
    socket.set_nonblocking(true).expect("nonblocking");
    tokio::net::TcpListener::from_std(socket.into()).expect("listener")
}

/// Answers each request read on `conn` (a probe sends one at a time).
async fn serve(mut conn: tokio::net::TcpStream, down: Arc<Vec<AtomicBool>>) {
    let index = match conn.local_addr() {
        Ok(SocketAddr::V4(addr)) => slot(*addr.ip()),
        _ => return,
    };
    let mut buf = [0u8; 2048];
    while let Ok(n) = conn.read(&mut buf).await {
        if n == 0 {
            return;
        }
        let reply: &[u8] = if down[index].load(Ordering::Relaxed) {
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        };
        if conn.write_all(reply).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------- wire

/// A query for `name` A IN.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut packet = id.to_be_bytes().to_vec();
    packet.extend([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        packet.push(label.len() as u8);
        packet.extend(label.as_bytes());
    }
    packet.extend([0, 0, 1, 0, 1]);
    packet
}

/// The A records in the answer section of `reply`.
fn a_records(reply: &[u8]) -> Option<Vec<Ipv4Addr>> {
    let count = |at: usize| Some(u16::from_be_bytes(reply.get(at..at + 2)?.try_into().ok()?));
    let (questions, answers) = (count(4)?, count(6)?);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(reply, at)? + 4;
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        at = skip_name(reply, at)?;
        let rtype = count(at)?;
        let length = usize::from(count(at + 8)?);
        let data = reply.get(at + 10..at + 10 + length)?;
        if rtype == 1 && length == 4 {
            records.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + length;
    }
    records.sort();
    Some(records)
}

/// Where the name starting at `at` ends.
fn skip_name(packet: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = *packet.get(at)?;
        match length {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

// ---------------------------------------------------------------------- utils

/// The body of `GET path` from `addr`.
fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut conn =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        conn,
        "GET {path} HTTP/1.0\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    conn.read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no end of headers")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(head.to_owned());
    }
    Ok(body.to_owned())
}

/// A metric's samples (every label set) summed.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// `name{target="T",…}` samples whose labels contain `filter`, by target.
fn labelled(metrics: &str, name: &str, filter: &str) -> HashMap<String, f64> {
    let prefix = format!("{name}{{target=\"");
    metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (labels, value) = rest.rsplit_once(' ')?;
            if !labels.contains(filter) {
                return None;
            }
            let (target, _) = labels.split_once('"')?;
            Some((target.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Polls `cond` every [`SCRAPE`] until it holds; panics after [`DEADLINE`]
/// with its last complaint.
fn wait_until(what: &str, mut cond: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match cond() {
            Ok(()) => return,
            Err(last) if Instant::now() >= deadline => {
                panic!("waited {DEADLINE:?} for {what}; last: {last}")
            }
            Err(_) => thread::sleep(SCRAPE),
        }
    }
}

fn seconds_between(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Seconds to three decimals, or `-`.
fn opt(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}
