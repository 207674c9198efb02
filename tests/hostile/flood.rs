//! Hostile clients and a starved process, end to end: floods of idle
//! connections to DNS over TCP and to the API, and a server that has run
//! out of file descriptors.
//!
//! The servers run under `prlimit --nofile`, so that the connections a
//! flood holds are what exhausts them, and the floods keep their
//! connections open from threads of their own, opening a new one for each
//! the server closes, as an attacker would.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::health::{check_section, wait_answer, write_config};
use crate::util::backend::TcpBackend;
use crate::util::http::Metrics;
use crate::util::wire::query;
use crate::util::{Server, bin, fixture_zone, free_port};

/// Generous: the tests wait on the server, never measure it.
const DEADLINE: Duration = Duration::from_secs(30);

/// How long one query or request of these tests may take before it counts
/// as unanswered: far above what an answer takes, far below the idle
/// timeouts that would free a slot.
const PATIENCE: Duration = Duration::from_secs(5);

/// Raises this process's soft limit on open files to at least `needed`
/// (the floods hold thousands of sockets).
fn raise_own_open_files_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    if limit.rlim_cur >= needed {
        return;
    }
    assert!(
        limit.rlim_max >= needed,
        "the test needs {needed} open files; the hard limit is {} (ulimit -Hn)",
        limit.rlim_max
    );
    let raised = libc::rlimit {
        rlim_cur: needed,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) }, 0);
}

/// Idle connections to one address, held open by a thread of their own:
/// each one the server closes is replaced by a new one. Stops when dropped.
struct Flood {
    stop: Arc<AtomicBool>,
    /// Passes over every connection made so far.
    passes: Arc<AtomicUsize>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Flood {
    fn start(addr: SocketAddr, count: usize) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let passes = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, passes) = (stop.clone(), passes.clone());
            thread::spawn(move || {
                let mut held: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
                while !stop.load(Ordering::Relaxed) {
                    for slot in held.iter_mut() {
                        if slot.as_ref().is_some_and(closed) {
                            *slot = None;
                        }
                        if slot.is_none() {
                            *slot = connect_without_waiting(addr);
                        }
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                    }
                    passes.fetch_add(1, Ordering::Relaxed);
                    // Often enough to keep the server at its limits, seldom
                    // enough to leave CPU to the tests running alongside.
                    thread::sleep(Duration::from_millis(250));
                }
            })
        };
        Flood {
            stop,
            passes,
            thread: Some(thread),
        }
    }

    /// Waits until every connection was opened (or tried) once.
    fn wait_first_pass(&self) {
        let deadline = Instant::now() + DEADLINE * 4;
        while self.passes.load(Ordering::Relaxed) == 0 {
            assert!(Instant::now() < deadline, "the flood never got going");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A non-blocking connection to `addr`, established or on its way: a
/// connection waiting in the listen queue of a server that does not accept
/// counts as held, as it does for an attacker.
fn connect_without_waiting(addr: SocketAddr) -> Option<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    socket.set_nonblocking(true).ok()?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(_) => return None,
    }
    Some(socket.into())
}

/// Whether the server closed a (non-blocking) connection, or it failed.
fn closed(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => err.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// One query over a new TCP connection; the answer's ID must match.
fn tcp_query(addr: SocketAddr, id: u16) -> Result<(), String> {
    let mut conn =
        TcpStream::connect_timeout(&addr, PATIENCE).map_err(|e| format!("connect: {e}"))?;
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    let q = query(id, "www.example.com", 1);
    let framed = [&(q.len() as u16).to_be_bytes()[..], &q].concat();
    conn.write_all(&framed).map_err(|e| format!("write: {e}"))?;
    let mut len = [0u8; 2];
    conn.read_exact(&mut len)
        .map_err(|e| format!("read the length: {e}"))?;
    let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
    conn.read_exact(&mut answer)
        .map_err(|e| format!("read the answer: {e}"))?;
    match answer.get(..2) {
        Some(got) if got == id.to_be_bytes() => Ok(()),
        _ => Err(format!("an answer to another query: {answer:?}")),
    }
}

/// `GET path` over a new connection, with [`PATIENCE`]; the whole reply.
fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut conn =
        TcpStream::connect_timeout(&addr, PATIENCE).map_err(|e| format!("connect: {e}"))?;
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply)
        .map_err(|e| format!("read: {e}"))?;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    if reply.starts_with("HTTP/1.1 200") {
        Ok(reply)
    } else {
        Err(format!("not a 200: {reply:?}"))
    }
}

/// `GET /metrics`, parsed, retried until the API answers.
fn metrics(api: SocketAddr) -> Metrics {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match get(api, "/metrics") {
            Ok(reply) => {
                let body = reply.split_once("\r\n\r\n").map_or("", |(_, body)| body);
                return Metrics::parse(body).unwrap_or_else(|e| panic!("{e}"));
            }
            Err(err) => assert!(Instant::now() < deadline, "GET /metrics: {err}"),
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// `healthdns serve --config CONFIG` with at most `files` open files, hard
/// limit included (serve raises the soft one to the hard one).
fn serve_with_open_files(config: &Path, files: u64) -> Server {
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--nofile={files}:{files}"))
        .arg("--")
        .arg(bin())
        .args(["serve", "--config"])
        .arg(config);
    Server::start_command(command)
}

/// CPU time (user and system) the process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // utime and stime: fields 14 and 15 of the whole line.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

#[test]
fn idle_floods_of_dns_and_api_connections_lock_out_neither() {
    const DNS_FLOOD: usize = 1200;
    const API_FLOOD: usize = 1000;
    raise_own_open_files_limit((DNS_FLOOD + API_FLOOD) as u64 + 256);
    let dir = tempfile::tempdir().unwrap();
    let api: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = dir.path().join("healthdns.toml");
    // Default limits throughout. The open-files limit leaves room for
    // tcp-max-connections and the API's limit, but not for both floods.
    std::fs::write(
        &config,
        format!(
            "[server]\nudp-workers = 2\n[[zone]]\nfile = {:?}\n[api]\nlisten = \"{api}\"\n",
            fixture_zone().display().to_string()
        ),
    )
    .unwrap();
    let s = serve_with_open_files(&config, 1600);
    let dns_flood = Flood::start(s.addr, DNS_FLOOD);
    let api_flood = Flood::start(api, API_FLOOD);
    dns_flood.wait_first_pass();
    api_flood.wait_first_pass();
    for round in 0..5u16 {
        if let Err(err) = tcp_query(s.addr, 0x4400 + round) {
            panic!(
                "round {round}: a TCP query under {DNS_FLOOD} idle connections: {err}\nserver stderr:\n{}",
                s.stderr_so_far()
            );
        }
        if let Err(err) = get(api, "/healthz") {
            panic!(
                "round {round}: GET /healthz under {API_FLOOD} idle API connections: {err}\nserver stderr:\n{}",
                s.stderr_so_far()
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
    // The floods were really held: both tables reached their limits (only
    // there is a connection evicted) and made room.
    let m = metrics(api);
    let evicted = |family| m.value(family, &[("reason", "evicted")]).unwrap_or(0.0);
    assert!(
        evicted("dns_tcp_closed_total") > 0.0,
        "the DNS table never reached its limit:\n{}",
        m.text
    );
    assert!(
        evicted("api_closed_total") > 0.0,
        "the API table never reached its limit:\n{}",
        m.text
    );
}

#[test]
fn out_of_file_descriptors_a_healthy_target_stays_up_and_accept_does_not_spin() {
    const FLOOD: usize = 160;
    raise_own_open_files_limit(FLOOD as u64 + 256);
    let primary = TcpBackend::start("127.0.0.181");
    let secondary = TcpBackend::start("127.0.0.182");
    let dir = tempfile::tempdir().unwrap();
    let records = format!(
        "db 30 IN A 127.0.0.181 ; healthdns failover=primary check=db target={} all-down=empty\n\
         db 30 IN A 127.0.0.182 ; healthdns failover=secondary check=db target={}\n",
        primary.target(),
        secondary.target()
    );
    let check = check_section("db", "tcp", &[("interval", "\"100ms\""), ("port", "9")]);
    let config = write_config(dir.path(), &records, &[check]);
    let api: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut text = std::fs::read_to_string(&config).unwrap();
    // A connection limit above the open-files limit: the flood runs the
    // process out of descriptors, not out of connection slots. An idle
    // timeout longer than the test: nothing frees one meanwhile.
    text = format!(
        "[server]\nudp-workers = 2\ntcp-max-connections = 1000\ntcp-idle-timeout = \"60s\"\n\
         {text}\n[api]\nlisten = \"{api}\"\n"
    );
    std::fs::write(&config, text).unwrap();
    let s = serve_with_open_files(&config, 64);
    wait_answer(&s, "db", "A", &["127.0.0.181"]);

    // Connections past the limit wait in the listen queue: accept fails
    // with EMFILE for as long as they do.
    let flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| TcpStream::connect_timeout(&s.addr, DEADLINE).expect("queued at least"))
        .collect();
    thread::sleep(Duration::from_millis(500));
    let (cpu_before, started) = (cpu_time(s.pid()), Instant::now());
    // Over some thirty probes, the primary stays in the answer. Both
    // targets' probes fail alike: were they judged down, the answer would
    // be empty.
    while started.elapsed() < Duration::from_secs(3) {
        let r = s.dig(&["db.h.test", "A"]);
        let rdata: Vec<&str> = r.answer.iter().map(|rr| rr.rdata.as_str()).collect();
        assert_eq!(
            rdata,
            ["127.0.0.181"],
            "out of file descriptors, the primary left the answer:\n{r}\nserver stderr:\n{}",
            s.stderr_so_far()
        );
        thread::sleep(Duration::from_millis(250));
    }
    let (cpu, wall) = (cpu_time(s.pid()) - cpu_before, started.elapsed());
    assert!(
        cpu < wall / 4,
        "the server used {cpu:?} of CPU in {wall:?} out of file descriptors: accept spins"
    );
    drop(flood);

    // With descriptors back: the probes that could not run were counted
    // as the checker's errors, not the target's, and accept was retried
    // a few hundred times a second at most.
    let m = metrics(api);
    let local = m.sum("health_check_local_errors_total", &[("check", "db")]);
    assert!(local > 0.0, "no probe counted as a local error");
    let fell = m.sum("failover_events_total", &[("to", "down")]);
    assert_eq!(fell, 0.0, "a transition to down");
    let accept_errors = m.value("dns_tcp_accept_errors_total", &[]).unwrap_or(0.0);
    assert!(
        (1.0..=1000.0).contains(&accept_errors),
        "{accept_errors} failed accepts"
    );
    // DNS over TCP serves again.
    let deadline = Instant::now() + DEADLINE;
    while let Err(err) = tcp_query(s.addr, 0x5500) {
        assert!(Instant::now() < deadline, "TCP after the flood: {err}");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn slow_and_silent_api_clients_are_closed_after_their_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let api: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = dir.path().join("healthdns.toml");
    std::fs::write(
        &config,
        format!(
            "[[zone]]\nfile = {:?}\n[api]\nlisten = \"{api}\"\n\
             idle-timeout = \"1s\"\nheader-read-timeout = \"1s\"\n",
            fixture_zone().display().to_string()
        ),
    )
    .unwrap();
    let s = Server::start_args(&["serve".as_ref(), "--config".as_ref(), config.as_os_str()]);
    let deadline = Instant::now() + DEADLINE;
    while get(api, "/healthz").is_err() {
        assert!(Instant::now() < deadline, "the API never answered");
        thread::sleep(Duration::from_millis(50));
    }
    // One sends nothing, one half a request head, one a request and then
    // keeps the connection without asking again.
    let silent = TcpStream::connect(api).unwrap();
    let mut slow = TcpStream::connect(api).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut kept = TcpStream::connect(api).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    for (name, mut conn) in [("silent", silent), ("slow", slow), ("kept", kept)] {
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut reply = Vec::new();
        let end = conn.read_to_end(&mut reply);
        assert!(
            end.is_ok()
                || end
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "{name}: not closed within {PATIENCE:?}: {end:?}"
        );
        if name == "kept" {
            assert!(
                reply.starts_with(b"HTTP/1.1 200"),
                "{name}: answered first: {:?}",
                String::from_utf8_lossy(&reply)
            );
        }
    }
    let page = get(api, "/metrics").unwrap();
    let m = Metrics::parse(page.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert!(
        m.value("api_closed_total", &[("reason", "idle")])
            .unwrap_or(0.0)
            >= 3.0,
        "{}\nserver stderr:\n{}",
        m.text,
        s.stderr_so_far()
    );
}
