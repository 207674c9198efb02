//! Checker load: N targets probed every second by the real `healthdns`
//! binary. Prints the server's CPU use per 1,000 targets and the probe rate
//! the backends saw (N per second when the schedule is kept).
//!
//! `cargo bench --bench checker [-- N...]` (default 1000 2000 5000). The
//! backends run in this process on 127.0.x.y, one listener per target; the
//! CPU figure is the server's alone, from /proc/PID/stat.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const WARM_UP: Duration = Duration::from_secs(4);
const MEASURE: Duration = Duration::from_secs(15);

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![1000, 2000, 5000]
    } else {
        counts
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{:>8} {:>6} {:>10} {:>14} {:>12}",
        "targets", "kind", "CPU %", "CPU%/1k tgts", "probes/s"
    );
    for &n in &counts {
        for kind in ["http", "tcp"] {
            let (cpu, rate) = runtime.block_on(measure(n, kind));
            println!(
                "{n:>8} {kind:>6} {cpu:>10.1} {:>14.2} {rate:>12.0}",
                cpu / (n as f64 / 1000.0)
            );
        }
    }
}

fn address(i: usize) -> String {
    format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250)
}

async fn measure(n: usize, kind: &str) -> (f64, f64) {
    let probes = Arc::new(AtomicU64::new(0));
    let first = TcpListener::bind(format!("{}:0", address(0)))
        .await
        .unwrap();
    let port = first.local_addr().unwrap().port();
    let mut listeners = vec![first];
    for i in 1..n {
        listeners.push(
            TcpListener::bind(format!("{}:{port}", address(i)))
                .await
                .unwrap(),
        );
    }
    let mut backends = tokio::task::JoinSet::new();
    for listener in listeners {
        let probes = probes.clone();
        backends.spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
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
        });
    }
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
        "[check.c]\ntype = \"{kind}\"\nport = {port}\ninterval = \"1s\"\ntimeout = \"500ms\"\n[[zone]]\nfile = \"bench.zone\"\n"
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
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "{line}");
    tokio::time::sleep(WARM_UP).await;
    let (cpu_before, probes_before, started) = (
        cpu_ticks(child.id()),
        probes.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(MEASURE).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(child.id()) - cpu_before) as f64 / ticks_per_second() / elapsed * 100.0;
    let rate = (probes.load(Ordering::Relaxed) - probes_before) as f64 / elapsed;
    child.kill().unwrap();
    child.wait().unwrap();
    backends.abort_all();
    (cpu, rate)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn ticks_per_second() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100.0)
}
