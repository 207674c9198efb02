//! Fake health-check backends a test switches at run time: an HTTP/1.1
//! server ([`HttpBackend`]) and a bare TCP listener ([`TcpBackend`]).
//!
//! Both bind loopback only, on port 0 or a port the test gives, and count
//! what they see so a test can wait until probes arrive instead of sleeping.
//! `Closed` really closes the listening socket (connects are refused) and
//! drops open connections; switching back re-binds the same address and
//! port (std sets SO_REUSEADDR), retrying until a deadline in case another
//! socket holds the port for a moment.
//!
//! A backend can also treat one peer address apart (`set_from`), so that
//! probes from one source fail while others pass, and records the peer of
//! every request or connection. A peer in the `Closed` mode is refused by a
//! socket filter on the listener that drops its SYNs: its connects time
//! out, since a connect the kernel has completed cannot be refused later.
//!
//! Every thread polls a stop flag (at most every 20 ms), so everything ends
//! soon after the handle is dropped; the accept thread is joined on drop.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often the threads look at the stop flag and the mode.
const POLL: Duration = Duration::from_millis(20);

/// How long re-binding a closed backend may take before the test fails.
const REBIND_DEADLINE: Duration = Duration::from_secs(30);

/// What the HTTP backend does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpMode {
    /// `200 OK`, body `ok`.
    Healthy,
    /// This status, body `status NNN`.
    Status(u16),
    /// `200 OK` with this body.
    Body(String),
    /// Reads the request and never answers; the connection is dropped when
    /// the mode changes or the backend is dropped.
    Hang,
    /// Not listening: connects are refused, open connections are dropped.
    Closed,
}

/// What the TCP backend does with a connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpMode {
    /// Accepts (and closes right away).
    Open,
    /// Not listening: connects are refused.
    Closed,
}

/// A mode of either backend.
trait Mode: Clone + PartialEq + Send + 'static {
    /// Not listening (or, for one peer, dropping its connects).
    fn closed(&self) -> bool;
}

impl Mode for HttpMode {
    fn closed(&self) -> bool {
        *self == HttpMode::Closed
    }
}

impl Mode for TcpMode {
    fn closed(&self) -> bool {
        *self == TcpMode::Closed
    }
}

/// One HTTP request the backend read (or, for the TCP backend, one
/// connection it accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target (`/health`).
    pub path: String,
    /// The `Host` header, if any.
    pub host: Option<String>,
    /// The address it came from.
    pub peer: IpAddr,
}

/// State shared by the handle, the accept thread and connection threads.
struct Shared<M> {
    addr: SocketAddr,
    mode: Mutex<M>,
    /// Peers given their own mode, which wins over `mode`.
    peer_modes: Mutex<HashMap<IpAddr, M>>,
    /// Signalled on every mode change (wakes hanging connections).
    changed: Condvar,
    /// `None` while closed.
    listener: Mutex<Option<TcpListener>>,
    stop: AtomicBool,
    /// HTTP requests read, or TCP connections accepted.
    seen: Mutex<Vec<Request>>,
}

impl<M: Mode> Shared<M> {
    fn mode(&self) -> M {
        lock(&self.mode).clone()
    }

    /// The mode for requests from `peer`.
    fn mode_for(&self, peer: IpAddr) -> M {
        let own = lock(&self.peer_modes).get(&peer).cloned();
        own.unwrap_or_else(|| self.mode())
    }

    /// Requests (or connections) seen from `peer`, or from anyone.
    fn count(&self, peer: Option<IpAddr>) -> usize {
        let seen = lock(&self.seen);
        match peer {
            Some(ip) => seen.iter().filter(|r| r.peer == ip).count(),
            None => seen.len(),
        }
    }

    /// Drops the SYNs of every peer whose own mode is closed. Runs on every
    /// bind and every change of a peer's mode.
    fn filter(&self, listener: &TcpListener) {
        let closed: Vec<u32> = lock(&self.peer_modes)
            .iter()
            .filter(|(_, mode)| mode.closed())
            .map(|(ip, _)| match ip {
                IpAddr::V4(ip) => u32::from(*ip),
                IpAddr::V6(ip) => panic!("closing one peer works for IPv4 peers only, not {ip}"),
            })
            .collect();
        assert!(
            closed.is_empty() || self.addr.is_ipv4(),
            "closing one peer works on IPv4 backends only, not {}",
            self.addr
        );
        socket2::SockRef::from(listener)
            .attach_filter(&drop_sources(&closed))
            .expect("attach the peer filter");
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A classic BPF program that drops IPv4 packets from `sources` (as u32 in
/// host order) and passes the rest: load the source address from the IP
/// header, compare it with each, drop on a match.
fn drop_sources(sources: &[u32]) -> Vec<socket2::SockFilter> {
    const SOURCE_ADDRESS: u32 = (libc::SKF_NET_OFF + 12) as u32;
    let n = u8::try_from(sources.len()).expect("at most 255 closed peers");
    let code = |c: u32| c as u16;
    let mut program = vec![socket2::SockFilter::new(
        code(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS),
        0,
        0,
        SOURCE_ADDRESS,
    )];
    for (i, ip) in (0..n).zip(sources) {
        // On a match, jump over the remaining comparisons and the accept.
        program.push(socket2::SockFilter::new(
            code(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K),
            n - i,
            0,
            *ip,
        ));
    }
    program.push(socket2::SockFilter::new(
        code(libc::BPF_RET),
        0,
        0,
        u32::MAX,
    ));
    program.push(socket2::SockFilter::new(code(libc::BPF_RET), 0, 0, 0));
    program
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    assert!(addr.ip().is_loopback(), "backends bind loopback only");
    let l = TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// The listener, the accept thread and the mode switch shared by both kinds.
struct Core<M: Mode> {
    shared: Arc<Shared<M>>,
    accept: Option<JoinHandle<()>>,
}

impl<M: Mode> Core<M> {
    fn start(
        addr: SocketAddr,
        mode: M,
        handle: fn(Arc<Shared<M>>, TcpStream, IpAddr),
    ) -> io::Result<Core<M>> {
        let listener = bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            addr,
            mode: Mutex::new(mode),
            peer_modes: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
            listener: Mutex::new(Some(listener)),
            stop: AtomicBool::new(false),
            seen: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = thread::spawn(move || {
            while !s.stopped() {
                let accepted = match &*lock(&s.listener) {
                    Some(l) => l.accept().ok(),
                    None => None,
                };
                match accepted {
                    Some((stream, peer)) => {
                        let s = s.clone();
                        thread::spawn(move || handle(s, stream, peer.ip()));
                    }
                    None => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Core {
            shared,
            accept: Some(accept),
        })
    }

    /// Switches the mode. Re-binds (and waits until bound) when leaving a
    /// closed mode.
    fn set(&self, mode: M) {
        if mode.closed() {
            lock(&self.shared.listener).take();
        } else if lock(&self.shared.listener).is_none() {
            let deadline = Instant::now() + REBIND_DEADLINE;
            let listener = loop {
                match bind(self.shared.addr) {
                    Ok(l) => break l,
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => panic!("cannot re-bind backend {}: {e}", self.shared.addr),
                }
            };
            self.shared.filter(&listener);
            *lock(&self.shared.listener) = Some(listener);
        }
        *lock(&self.shared.mode) = mode;
        self.shared.changed.notify_all();
    }

    /// Gives `peer` its own mode (`None`: back to the backend's).
    fn set_from(&self, peer: &str, mode: Option<M>) {
        let peer: IpAddr = peer.parse().expect("peer IP");
        match mode {
            Some(mode) => lock(&self.shared.peer_modes).insert(peer, mode),
            None => lock(&self.shared.peer_modes).remove(&peer),
        };
        if let Some(listener) = &*lock(&self.shared.listener) {
            self.shared.filter(listener);
        }
        self.shared.changed.notify_all();
    }

    fn seen(&self, peer: Option<&str>) -> usize {
        self.shared
            .count(peer.map(|ip| ip.parse().expect("peer IP")))
    }

    fn wait_seen(&self, peer: Option<&str>, n: usize, deadline: Duration, what: &str) {
        let end = Instant::now() + deadline;
        let from = peer.map(|ip| format!(" from {ip}")).unwrap_or_default();
        while self.seen(peer) < n {
            assert!(
                Instant::now() < end,
                "backend {} saw {} {what}{from}, waited for {n}",
                self.shared.addr,
                self.seen(peer)
            );
            thread::sleep(POLL);
        }
    }
}

impl<M: Mode> Drop for Core<M> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        lock(&self.shared.listener).take();
    }
}

/// Binds two backends on the same port of two loopback addresses (port 0
/// for the first), retrying when the second address has that port taken.
fn same_port<T>(
    a: IpAddr,
    b: IpAddr,
    start: impl Fn(SocketAddr) -> io::Result<T>,
    addr_of: impl Fn(&T) -> SocketAddr,
) -> (T, T) {
    let mut last = None;
    for _ in 0..100 {
        let first = start(SocketAddr::new(a, 0)).expect("bind first backend");
        let port = addr_of(&first).port();
        match start(SocketAddr::new(b, port)) {
            Ok(second) => return (first, second),
            Err(e) => last = Some(e),
        }
    }
    panic!("no port free on both {a} and {b}: {last:?}");
}

/// A fake HTTP/1.1 health endpoint. Answers every request (keep-alive
/// unless `Connection: close` or HTTP/1.0) according to its [`HttpMode`].
pub struct HttpBackend {
    core: Core<HttpMode>,
}

impl HttpBackend {
    /// Starts a healthy backend on `ip` (a loopback address), port 0.
    pub fn start(ip: &str) -> HttpBackend {
        let ip: IpAddr = ip.parse().expect("backend IP");
        HttpBackend::start_at(SocketAddr::new(ip, 0)).expect("bind HTTP backend")
    }

    /// Starts a healthy backend on a given address (port 0 allowed).
    pub fn start_at(addr: SocketAddr) -> io::Result<HttpBackend> {
        Ok(HttpBackend {
            core: Core::start(addr, HttpMode::Healthy, serve_http)?,
        })
    }

    /// Two healthy backends on the same port of two loopback addresses, for
    /// checks that probe each record's own address on the check's port.
    pub fn pair_on_one_port(a: &str, b: &str) -> (HttpBackend, HttpBackend) {
        same_port(
            a.parse().expect("IP"),
            b.parse().expect("IP"),
            HttpBackend::start_at,
            HttpBackend::addr,
        )
    }

    /// The address it listens on (also while closed: the one it re-binds).
    pub fn addr(&self) -> SocketAddr {
        self.core.shared.addr
    }

    /// `IP:PORT`, for a `target=` annotation.
    pub fn target(&self) -> String {
        self.addr().to_string()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Switches what it does from now on.
    pub fn set(&self, mode: HttpMode) {
        self.core.set(mode);
    }

    /// Switches what it does with requests from `peer` (an IP address),
    /// whatever [`set`](Self::set) says while it listens. `Closed` drops
    /// that peer's connections and SYNs (IPv4 peers only): its connects
    /// time out.
    pub fn set_from(&self, peer: &str, mode: HttpMode) {
        self.core.set_from(peer, Some(mode));
    }

    /// Requests from `peer` follow [`set`](Self::set) again.
    pub fn clear_from(&self, peer: &str) {
        self.core.set_from(peer, None);
    }

    /// Requests read so far (a hanging request counts when read).
    pub fn requests(&self) -> usize {
        self.core.seen(None)
    }

    /// Requests read so far from `peer`.
    pub fn requests_from(&self, peer: &str) -> usize {
        self.core.seen(Some(peer))
    }

    /// The last request read.
    pub fn last_request(&self) -> Option<Request> {
        lock(&self.core.shared.seen).last().cloned()
    }

    /// Every request read so far, in order.
    pub fn all_requests(&self) -> Vec<Request> {
        lock(&self.core.shared.seen).clone()
    }

    /// Waits until at least `n` requests were read (panics after `deadline`).
    pub fn wait_requests(&self, n: usize, deadline: Duration) {
        self.core.wait_seen(None, n, deadline, "requests");
    }

    /// Waits until at least `n` requests from `peer` were read.
    pub fn wait_requests_from(&self, peer: &str, n: usize, deadline: Duration) {
        self.core.wait_seen(Some(peer), n, deadline, "requests");
    }
}

/// A fake TCP service: accepts while `Open`, refuses while `Closed`.
pub struct TcpBackend {
    core: Core<TcpMode>,
}

impl TcpBackend {
    /// Starts an open backend on `ip` (a loopback address), port 0.
    pub fn start(ip: &str) -> TcpBackend {
        let ip: IpAddr = ip.parse().expect("backend IP");
        TcpBackend::start_at(SocketAddr::new(ip, 0)).expect("bind TCP backend")
    }

    /// Starts an open backend on a given address (port 0 allowed).
    pub fn start_at(addr: SocketAddr) -> io::Result<TcpBackend> {
        Ok(TcpBackend {
            core: Core::start(addr, TcpMode::Open, serve_tcp)?,
        })
    }

    /// Two open backends on the same port of two loopback addresses.
    pub fn pair_on_one_port(a: &str, b: &str) -> (TcpBackend, TcpBackend) {
        same_port(
            a.parse().expect("IP"),
            b.parse().expect("IP"),
            TcpBackend::start_at,
            TcpBackend::addr,
        )
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.core.shared.addr
    }

    /// `IP:PORT`, for a `target=` annotation.
    pub fn target(&self) -> String {
        self.addr().to_string()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Opens or closes the listener.
    pub fn set(&self, mode: TcpMode) {
        self.core.set(mode);
    }

    /// `Closed` drops the SYNs from `peer` (an IPv4 address), so its
    /// connects time out while others' are accepted; `Open` undoes it.
    pub fn set_from(&self, peer: &str, mode: TcpMode) {
        self.core.set_from(peer, Some(mode));
    }

    /// Connects from `peer` follow [`set`](Self::set) again.
    pub fn clear_from(&self, peer: &str) {
        self.core.set_from(peer, None);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.core.seen(None)
    }

    /// Connections accepted so far from `peer` (dropped SYNs never count).
    pub fn connections_from(&self, peer: &str) -> usize {
        self.core.seen(Some(peer))
    }

    /// Waits until at least `n` connections were accepted.
    pub fn wait_connections(&self, n: usize, deadline: Duration) {
        self.core.wait_seen(None, n, deadline, "connections");
    }

    /// Waits until at least `n` connections from `peer` were accepted.
    pub fn wait_connections_from(&self, peer: &str, n: usize, deadline: Duration) {
        self.core.wait_seen(Some(peer), n, deadline, "connections");
    }
}

fn serve_tcp(shared: Arc<Shared<TcpMode>>, stream: TcpStream, peer: IpAddr) {
    lock(&shared.seen).push(Request {
        method: "CONNECT".into(),
        path: String::new(),
        host: None,
        peer,
    });
    drop(stream);
}

/// Serves one connection: reads requests and answers them until the peer
/// closes, asks to close, the backend closes or stops.
fn serve_http(shared: Arc<Shared<HttpMode>>, mut stream: TcpStream, peer: IpAddr) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(POLL));
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let Some((request, close)) = read_request(&shared, &mut stream, &mut buf, peer) else {
            return;
        };
        let method = request.method.clone();
        lock(&shared.seen).push(request);
        let (status, body) = match shared.mode_for(peer) {
            HttpMode::Healthy => (200, "ok".to_string()),
            HttpMode::Status(code) => (code, format!("status {code}")),
            HttpMode::Body(body) => (200, body),
            HttpMode::Hang => {
                hang(&shared, peer);
                return;
            }
            HttpMode::Closed => return,
        };
        let reason = match status {
            200 => "OK",
            204 => "No Content",
            404 => "Not Found",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "Whatever",
        };
        let mut out = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if method != "HEAD" {
            out.push_str(&body);
        }
        if stream.write_all(out.as_bytes()).is_err() || close {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Blocks while the mode for `peer` is `Hang` and the backend runs.
fn hang(shared: &Shared<HttpMode>, peer: IpAddr) {
    let mut mode = lock(&shared.mode);
    loop {
        // Not mode_for: `mode` is held, so the peer's own mode is read here.
        let own = lock(&shared.peer_modes).get(&peer).cloned();
        if own.as_ref().unwrap_or(&*mode) != &HttpMode::Hang || shared.stopped() {
            return;
        }
        mode = shared
            .changed
            .wait_timeout(mode, POLL)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Reads one request head (and discards a `Content-Length` body). None when
/// the connection ends or the backend closes or stops. The bool is whether
/// to close after answering.
fn read_request(
    shared: &Shared<HttpMode>,
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    peer: IpAddr,
) -> Option<(Request, bool)> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if shared.stopped() || shared.mode_for(peer).closed() || buf.len() > 64 * 1024 {
            return None;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    buf.drain(..end);
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let version = first.next().unwrap_or("HTTP/1.0").to_string();
    let mut host = None;
    let mut connection = None;
    let mut length = 0usize;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "host" => host = Some(v.to_string()),
            "connection" => connection = Some(v.to_ascii_lowercase()),
            "content-length" => length = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    while buf.len() < length {
        if shared.stopped() {
            return None;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    }
    buf.drain(..length);
    let close = match connection.as_deref() {
        Some(c) if c.contains("close") => true,
        Some(c) if c.contains("keep-alive") => false,
        _ => version != "HTTP/1.1",
    };
    Some((
        Request {
            method,
            path,
            host,
            peer,
        },
        close,
    ))
}
