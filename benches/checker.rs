//! Checker load: N targets probed every second by the real `healthdns`
//! binary. Prints the server's CPU use (in all and per 1,000 targets), the
//! probe rate the backends saw (N per second when the schedule is kept), the
//! probes that failed, and how late probes started: p50, p99 and max of the
//! server's own `health_probe_lateness_seconds` over the measure window.
//!
//! `cargo bench --bench checker [-- N...]` (default 1000 2000 5000 10000).
//! The targets are 127.0.x.y:P. The backends run in this process on one
//! listener: 0.0.0.0:P bound to the loopback device, which takes every
//! 127/8 address and nothing from outside. A listener per target would cost
//! an fd per target besides the pooled HTTP connection per target, over
//! 20,000 at 10,000 targets: the usual hard limit. The CPU figure is the
//! server's alone, from /proc/PID/stat; the lateness comes from scraping
//! its /metrics (API on a loopback port 0) at the start and end of the
//! window and taking quantiles of the bucket differences, so each is the
//! upper bound of its bucket; the mean is exact. On a shared machine a busy
//! neighbour shows up as probes late while the server's CPU stays low:
//! `runq %` (time its threads were runnable but not running, from
//! schedstat) and the machine's load average say when that happened.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WARM_UP: Duration = Duration::from_secs(5);
const MEASURE: Duration = Duration::from_secs(15);
const LATENESS: &str = "health_probe_lateness_seconds";

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![1000, 2000, 5000, 10000]
    } else {
        counts
    };
    // Soft to hard, for the backends' accepted connections.
    let limit = healthdns::server::raise_open_files_limit().expect("open files limit");
    let most = counts.iter().copied().max().unwrap_or(0) as u64;
    assert!(
        limit > most + 64,
        "open files limit {limit} is too low for {most} targets (ulimit -Hn)"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{:>8} {:>5} {:>7} {:>12} {:>8} {:>9} {:>7} {:>11} {:>11} {:>11} {:>11} {:>6}",
        "targets",
        "kind",
        "CPU %",
        "CPU%/1k tgt",
        "runq %",
        "probes/s",
        "failed",
        "late p50 ≤",
        "late p99 ≤",
        "late max ≤",
        "late mean",
        "load"
    );
    for &n in &counts {
        for kind in ["http", "tcp"] {
            let r = runtime.block_on(measure(n, kind));
            println!(
                "{n:>8} {kind:>5} {:>7.1} {:>12.2} {:>8.1} {:>9.0} {:>7} {:>11} {:>11} {:>11} {:>11} {:>6}",
                r.cpu,
                r.cpu / (n as f64 / 1000.0),
                r.runq,
                r.rate,
                r.failed,
                seconds(r.lateness.quantile(0.5)),
                seconds(r.lateness.quantile(0.99)),
                seconds(r.lateness.quantile(1.0)),
                seconds(r.lateness.mean()),
                r.load,
            );
            if r.accept_errors > 0 {
                println!(
                    "         ({} accept errors in the backends)",
                    r.accept_errors
                );
            }
        }
    }
}

fn address(i: usize) -> String {
    format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250)
}

struct Run {
    cpu: f64,
    /// Time the server's threads were runnable but waiting for a CPU, in
    /// % of the window: high when neighbours starve it.
    runq: f64,
    rate: f64,
    failed: u64,
    lateness: Buckets,
    accept_errors: u64,
    /// The machine's 1-minute load average after the window: the server
    /// shares the CPUs with the backends and with whatever else runs.
    load: String,
}

/// One listener for every 127/8 address on a free port.
fn loopback_listener() -> TcpListener {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind_device(Some(b"lo")).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket
        .bind(&SocketAddr::from(([0, 0, 0, 0], 0)).into())
        .unwrap();
    socket.listen(4096).unwrap();
    socket.set_nonblocking(true).unwrap();
    TcpListener::from_std(socket.into()).unwrap()
}

async fn measure(n: usize, kind: &str) -> Run {
    let probes = Arc::new(AtomicU64::new(0));
    let accept_errors = Arc::new(AtomicU64::new(0));
    let listener = loopback_listener();
    let port = listener.local_addr().unwrap().port();
    let backends = {
        let probes = probes.clone();
        let accept_errors = accept_errors.clone();
        tokio::spawn(async move {
            loop {
                let mut conn = match listener.accept().await {
                    Ok((conn, _)) => conn,
                    Err(_) => {
                        // EMFILE and the like pass: count them, do not stop.
                        accept_errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let probes = probes.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    loop {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => {
                                // A TCP check connects and closes.
                                probes.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                            Ok(_) => {
                                probes.fetch_add(1, Ordering::Relaxed);
                                let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                                if conn.write_all(reply).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let mut zone = String::from(
        "$ORIGIN bench.test.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n",
    );
    for i in 0..n {
        zone.push_str(&format!(
            "t{i} A {} ; healthdns multivalue check=c\n",
            address(i)
        ));
    }
    std::fs::write(dir.path().join("bench.zone"), zone).unwrap();
    let config = format!(
        "[check.c]\ntype = \"{kind}\"\nport = {port}\ninterval = \"1s\"\ntimeout = \"500ms\"\n\
         [api]\nlisten = \"127.0.0.1:0\"\n[[zone]]\nfile = \"bench.zone\"\n"
    );
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_healthdns"))
        .args(["serve", "--config"])
        .arg(dir.path().join("c.toml"))
        .args(["--listen", "127.0.0.1:0"])
        .env("HEALTHDNS_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut api = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(addr) = line.strip_prefix("api listening on ") {
            api = Some(addr.trim().parse::<SocketAddr>().unwrap());
            break;
        }
        assert!(line.starts_with("listening on"), "{line}");
    }
    let api = api.expect("an `api listening on` line");
    tokio::time::sleep(WARM_UP).await;
    let (cpu_before, wait_before, probes_before, metrics_before, started) = (
        cpu_ticks(child.id()),
        runqueue_wait(child.id()),
        probes.load(Ordering::Relaxed),
        scrape(api).await,
        Instant::now(),
    );
    tokio::time::sleep(MEASURE).await;
    let (cpu_after, wait_after, probes_after, metrics_after) = (
        cpu_ticks(child.id()),
        runqueue_wait(child.id()),
        probes.load(Ordering::Relaxed),
        scrape(api).await,
    );
    let elapsed = started.elapsed().as_secs_f64();
    child.kill().unwrap();
    child.wait().unwrap();
    backends.abort();
    let _ = backends.await;
    let before = Buckets::parse(&metrics_before);
    let after = Buckets::parse(&metrics_after);
    Run {
        cpu: (cpu_after - cpu_before) as f64 / ticks_per_second() / elapsed * 100.0,
        runq: wait_after.saturating_sub(wait_before) as f64 / 1e9 / elapsed * 100.0,
        rate: (probes_after - probes_before) as f64 / elapsed,
        failed: failed(&metrics_after) - failed(&metrics_before),
        lateness: after.minus(&before),
        accept_errors: accept_errors.load(Ordering::Relaxed),
        load: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split(' ').next().map(str::to_owned))
            .unwrap_or_default(),
    }
}

/// The body of GET /metrics.
async fn scrape(api: SocketAddr) -> String {
    let mut conn = TcpStream::connect(api).await.unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// health_checks_total{result="fail"}, summed.
fn failed(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("health_checks_total{") && l.contains("result=\"fail\""))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum()
}

/// The lateness histogram: cumulative counts by upper bound (the last one
/// +Inf), and the sum in seconds.
struct Buckets {
    cumulative: Vec<(f64, u64)>,
    sum: f64,
}

impl Buckets {
    fn parse(metrics: &str) -> Buckets {
        let mut cumulative = Vec::new();
        let mut sum = 0.0;
        for line in metrics.lines() {
            let Some((key, value)) = line.rsplit_once(' ') else {
                continue;
            };
            if let Some(rest) = key.strip_prefix(&format!("{LATENESS}_bucket{{le=\"")) {
                let bound = rest.trim_end_matches("\"}");
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().unwrap()
                };
                cumulative.push((bound, value.parse().unwrap()));
            } else if key == format!("{LATENESS}_sum") {
                sum = value.parse().unwrap();
            }
        }
        assert!(
            cumulative.last().is_some_and(|b| b.0.is_infinite()),
            "no {LATENESS} buckets up to +Inf in /metrics"
        );
        Buckets { cumulative, sum }
    }

    fn minus(&self, earlier: &Buckets) -> Buckets {
        Buckets {
            cumulative: self
                .cumulative
                .iter()
                .zip(&earlier.cumulative)
                .map(|(&(bound, now), &(_, then))| (bound, now - then))
                .collect(),
            sum: self.sum - earlier.sum,
        }
    }

    fn count(&self) -> u64 {
        self.cumulative.last().map_or(0, |b| b.1)
    }

    /// The upper bound of the bucket holding quantile `q`; NaN when empty.
    fn quantile(&self, q: f64) -> f64 {
        let rank = (q * self.count() as f64).ceil().max(1.0) as u64;
        self.cumulative
            .iter()
            .find(|b| b.1 >= rank)
            .map_or(f64::NAN, |b| b.0)
    }

    fn mean(&self) -> f64 {
        self.sum / self.count() as f64
    }
}

/// 0.00025 as "250us", 2.5 as "2.5s".
fn seconds(s: f64) -> String {
    if s.is_nan() {
        "-".to_owned()
    } else if s.is_infinite() {
        "+Inf".to_owned()
    } else if s < 0.001 {
        format!("{:.0}us", s * 1e6)
    } else if s < 1.0 {
        format!("{}ms", (s * 1e4).round() / 10.0)
    } else {
        format!("{}s", (s * 100.0).round() / 100.0)
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Nanoseconds the threads of a process spent waiting on a run queue
/// (/proc/PID/task/TID/schedstat, second field).
fn runqueue_wait(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split(' ').nth(1)?.parse::<u64>().ok())
        .sum()
}

fn ticks_per_second() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100.0)
}
