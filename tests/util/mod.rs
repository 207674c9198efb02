//! The shared harness: the real `healthdns` binary on a port it picks
//! (`--listen 127.0.0.1:0`), Knot DNS on a free loopback port for the
//! differential test, and a `dig` runner whose output is parsed into
//! [`dig::Response`].
//!
//! Every process started here is killed when its handle is dropped, so a
//! failing test does not leave servers behind. Deadlines (waiting for a
//! server to come up) are generous and only turn a hang into a clear failure;
//! no test asserts on how long something took.

pub mod backend;
pub mod dig;
pub mod etcd;
pub mod http;
pub mod wire;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub use dig::{Response, Rr};

/// How long a server may take to say it is listening before the test gives up.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// The `healthdns` binary Cargo built for this test run.
///
/// `option_env!` rather than `env!` so that the test binary still compiles
/// on a tree whose binary target does not exist yet; every test that needs
/// the binary then fails with this message.
pub fn bin() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_healthdns") {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "no `healthdns` binary target in this build (CARGO_BIN_EXE_healthdns unset): \
             src/main.rs has not landed yet"
        ),
    }
}

/// A file under `tests/data/`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name)
}

/// The fixture zone served by most tests: `example.com.`.
pub fn fixture_zone() -> PathBuf {
    data("example.com.zone")
}

/// Runs `healthdns ARGS...` to completion (for `check`).
pub fn run_healthdns(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn healthdns")
}

/// A running `healthdns serve`, killed on drop.
pub struct Server {
    child: Child,
    /// The address the server reported in its `listening on` line.
    pub addr: SocketAddr,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `healthdns serve --listen 127.0.0.1:0 ZONES...`.
    pub fn start(zones: &[&Path]) -> Server {
        let mut args: Vec<&std::ffi::OsStr> = vec!["serve".as_ref()];
        args.extend(zones.iter().map(|z| z.as_os_str()));
        Server::start_args(&args)
    }

    /// Starts the fixture zone.
    pub fn fixture() -> Server {
        Server::start(&[&fixture_zone()])
    }

    /// Starts `healthdns ARGS... --listen 127.0.0.1:0` and waits for the
    /// `listening on 127.0.0.1:PORT` line on stdout.
    pub fn start_args(args: &[&std::ffi::OsStr]) -> Server {
        let mut command = Command::new(bin());
        command.args(args);
        Server::start_command(command)
    }

    /// Runs `command` (which ends up running `healthdns serve …`) with
    /// `--listen 127.0.0.1:0` appended, and waits for its `listening on`
    /// line: for a server started through a wrapper such as `unshare`.
    pub fn start_command(mut command: Command) -> Server {
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn healthdns serve");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = collect_lines(child.stderr.take().expect("stderr"));
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let mut seen = Vec::new();
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    // The harness's own 127.0.0.1 listener; a config's
                    // other addresses may come first.
                    if let Some(addr) = line
                        .strip_prefix("listening on ")
                        .filter(|addr| addr.starts_with("127.0.0.1:"))
                    {
                        break addr
                            .trim()
                            .parse::<SocketAddr>()
                            .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    let err: Vec<String> = stderr.try_iter().collect();
                    panic!(
                        "healthdns serve never printed `listening on ADDR` (exit: {status:?})\n\
                         stdout: {seen:#?}\nstderr:\n{}",
                        err.join("\n")
                    );
                }
            }
        };
        assert!(addr.ip().is_loopback(), "listening on non-loopback {addr}");
        assert_ne!(addr.port(), 0, "server reported port 0");
        Server {
            child,
            addr,
            stderr,
        }
    }

    /// The port (UDP and TCP).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Runs one `dig` against this server; panics if it gets no response.
    pub fn dig(&self, args: &[&str]) -> Response {
        dig::query(self.port(), args)
    }

    /// The server's process id (for `nsenter` into its namespaces).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `dig` with several queries; returns every response.
    pub fn dig_all(&self, args: &[&str]) -> Vec<Response> {
        dig::query_all(self.port(), args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> ExitStatus {
        self.sigterm_and_wait()
    }

    /// [`Server::terminate`], then everything the server wrote on stderr
    /// (its last lines included: the pipe is read to its end).
    pub fn terminate_keep_stderr(mut self) -> (ExitStatus, String) {
        let status = self.sigterm_and_wait();
        // The reader thread sends what is left and ends at the pipe's end.
        let text = self.stderr.iter().collect::<Vec<_>>().join("\n");
        (status, text)
    }

    fn sigterm_and_wait(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -TERM {pid} failed");
        self.child.wait().expect("wait for healthdns")
    }

    /// What the server wrote on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a pipe line by line on a thread, so the child never blocks on it.
fn collect_lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Sends `count` queries for `name A` (IDs 1 to `count`) at once from one
/// UDP socket to `server`, and waits up to `deadline` for each: exactly one
/// answer per query, each NOERROR with more than a header.
pub fn udp_burst(server: SocketAddr, name: &str, count: u16, deadline: Duration) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(deadline)).unwrap();
    socket.connect(server).unwrap();
    let mut unanswered: std::collections::BTreeSet<u16> = (1..=count).collect();
    for id in 1..=count {
        socket.send(&wire::query(id, name, 1)).unwrap();
    }
    let mut buf = [0u8; 1500];
    while !unanswered.is_empty() {
        let len = socket.recv(&mut buf).expect("an answer to each query");
        assert!(len > 12 && buf[3] & 0x0f == 0, "NOERROR with data");
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        assert!(unanswered.remove(&id), "one answer per query, id {id}");
    }
}

/// A loopback port that is free for both TCP and UDP right now, for servers
/// (Knot) that cannot be told to pick one. It is taken below the kernel's
/// ephemeral range (32768 and up by default), where dig's random source
/// ports are: Knot binds UDP with SO_REUSEPORT, and dig on the same port
/// would receive its own queries. Another process may take the port before
/// the server binds; [`Knot::start`] retries on a bind failure.
pub fn free_port() -> u16 {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    for i in 0..1000u64 {
        // 20000..32000, stepping by a prime from a per-process start.
        let port = 20000 + ((seed.wrapping_add(i * 7919)) % 12000) as u16;
        let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)) else {
            continue;
        };
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            drop(tcp);
            return port;
        }
    }
    panic!("no loopback port in 20000..32000 free for both TCP and UDP");
}

/// Knot DNS serving zone files on a free loopback port, killed on drop.
pub struct Knot {
    child: Child,
    /// The port (UDP and TCP).
    pub port: u16,
    _dir: tempfile::TempDir,
    stderr: mpsc::Receiver<String>,
}

impl Knot {
    /// Starts `knotd` on a free port with `(origin, file)` zones, no DNSSEC,
    /// no journal, nothing written back to the zone file, and waits until it
    /// answers the SOA of every zone.
    pub fn start(zones: &[(&str, &Path)]) -> Knot {
        let knotd = which("knotd").unwrap_or_else(|| {
            panic!(
                "knotd not found in PATH or /usr/sbin: the differential test needs Knot DNS \
                 (`apt-get install knot`); CI installs it"
            )
        });
        let mut last_err = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let conf = knot_conf(dir.path(), port, zones);
            let conf_path = dir.path().join("knot.conf");
            std::fs::write(&conf_path, conf).expect("write knot.conf");
            let mut child = Command::new(&knotd)
                .arg("-c")
                .arg(&conf_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn knotd");
            let stderr = collect_lines(child.stderr.take().expect("stderr"));
            let deadline = Instant::now() + STARTUP_DEADLINE;
            let mut apexes = zones.iter().map(|(apex, _)| *apex);
            let mut apex = apexes.next().expect("a zone for Knot");
            loop {
                if let Some(status) = child.try_wait().expect("try_wait knotd") {
                    let log: Vec<String> = stderr.try_iter().collect();
                    last_err = format!("knotd exited with {status}:\n{}", log.join("\n"));
                    break;
                }
                let soa = dig::query_all(port, &["+time=1", "+tries=1", apex, "SOA"]);
                if let Ok(r) = soa
                    && r.len() == 1
                    && r[0].rcode == "NOERROR"
                    && !r[0].answer.is_empty()
                {
                    if let Some(next) = apexes.next() {
                        apex = next;
                        continue;
                    }
                    return Knot {
                        child,
                        port,
                        _dir: dir,
                        stderr,
                    };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log: Vec<String> = stderr.try_iter().collect();
                    panic!(
                        "knotd did not answer {apex} SOA on port {port} in time:\n{}",
                        log.join("\n")
                    );
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("knotd could not start after 5 attempts; last: {last_err}");
    }

    /// Runs `dig` with several queries against Knot.
    pub fn dig_all(&self, args: &[&str]) -> Result<Vec<Response>, String> {
        dig::query_all(self.port, args)
    }

    /// What Knot logged so far.
    pub fn log(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn knot_conf(dir: &Path, port: u16, zones: &[(&str, &Path)]) -> String {
    let d = dir.display();
    let mut conf = format!(
        "server:\n    rundir: {d}\n    listen: 127.0.0.1@{port}\n    udp-workers: 1\n    \
         tcp-workers: 1\n    background-workers: 1\n\
         database:\n    storage: {d}\n\
         log:\n  - target: stderr\n    any: warning\n\
         template:\n  - id: default\n    storage: {d}\n    zonefile-sync: -1\n    \
         zonefile-load: whole\n    journal-content: none\n    semantic-checks: off\n\
         zone:\n"
    );
    for (origin, file) in zones {
        conf.push_str(&format!(
            "  - domain: {origin}\n    file: {}\n",
            file.display()
        ));
    }
    conf
}

/// Finds a program in PATH or the sbin directories (not always in PATH).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
