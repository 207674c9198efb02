//! The status page (`src/api/page.html`, served at `GET /`) in headless
//! Chromium: the DOM it builds from `GET /api/v1/status` is dumped with
//! `--dump-dom` and read by its `data-` attributes ([`dom`]).
//!
//! | file | covers |
//! |---|---|
//! | `dom` | the reader of Chromium's serialized DOM |
//! | `fixture` | the page against a fixture server: every field, escaping, the error and stale banners, a drill's mark, no external resources, a screenshot |
//! | `live` | the page served by the real server: a primary answering 500 shows as down, with a timeline entry; the server-rendered first paint (with and without JavaScript); the failing-open banner; a drill's mark |
//! | `act` | the drain / back-to-checks buttons against the real server, with and without the token, through [`Driver`] |
//!
//! Chromium comes from Debian's `chromium` package (`/usr/bin/chromium`).
//! Each run gets a fresh profile directory and a virtual time budget, so
//! the page's 2 s polling runs a few times in well under a second of real
//! time and the dump is taken once the budget is spent.

mod act;
mod dom;
mod fixture;
mod live;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use dom::Dom;

/// How long one Chromium run may take before the test gives up on it.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(60);

/// Virtual time the page gets before the dump: the first fetch and two
/// more polls at 2 s.
const VIRTUAL_TIME_MS: u32 = 5000;

/// The page as committed.
pub fn page_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/page.html")
}

/// A fixture under `tests/data/status/`.
pub fn fixture(name: &str) -> PathBuf {
    crate::util::data("status").join(name)
}

/// The Chromium binary; panics with the package to install.
pub fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "chromium not found at /usr/bin/chromium: the status page tests need Debian's \
         `chromium` package (`apt-get install -y chromium`); CI installs it"
    );
}

/// Runs headless Chromium on `url` with `extra` arguments (one of
/// `--dump-dom` or `--screenshot=...`) and returns its stdout.
fn run_chromium(url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().expect("profile tempdir");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--virtual-time-budget={VIRTUAL_TIME_MS}"))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chromium");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out = thread::spawn(move || read_all(stdout));
    let err = thread::spawn(move || read_all(stderr));
    let deadline = Instant::now() + CHROMIUM_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish {url} in {CHROMIUM_DEADLINE:?}; stderr:\n{}",
                err.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    assert!(status.success(), "chromium {url}: {status}\nstderr:\n{err}");
    out
}

fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}

/// The DOM of `url` after the page ran for [`VIRTUAL_TIME_MS`] of virtual time.
pub fn dump_dom(url: &str) -> (Dom, String) {
    let html = run_chromium(url, &["--dump-dom".to_string()]);
    assert!(
        html.contains("<body"),
        "chromium dumped no document for {url}:\n{html}"
    );
    (Dom::parse(&html), html)
}

/// The DOM of the admin API's page at `api` with its script blocked: a
/// [`Driver`] serves it with `Content-Security-Policy: script-src 'none'`
/// (Chromium's own switch for scripts off also stops `--dump-dom`, which
/// reads the DOM with a script).
pub fn dump_dom_without_javascript(api: SocketAddr) -> (Dom, String) {
    let proxy = Driver::start_without_scripts(api);
    let (dom, html) = dump_dom(&proxy.url());
    assert!(
        dom.tags("body")
            .next()
            .is_some_and(|b| b.attr("data-rendered") == Some("server")),
        "the page is not the server's: {html}"
    );
    // The script would have replaced the disabled buttons with live ones.
    let buttons: Vec<_> = dom.with_attr("data-action-state").collect();
    assert!(
        !buttons.is_empty() && buttons.iter().all(|b| b.attr("disabled").is_some()),
        "a script ran: {html}"
    );
    (dom, html)
}

/// A 1280×900 PNG of `url` written to `path`.
pub fn screenshot(url: &str, path: &Path) {
    let _ = std::fs::remove_file(path);
    run_chromium(
        url,
        &[
            format!("--screenshot={}", path.display()),
            "--window-size=1280,900".to_string(),
        ],
    );
    let png = std::fs::read(path).unwrap_or_else(|e| panic!("no screenshot at {path:?}: {e}"));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{path:?} is not a plausible screenshot ({} bytes)",
        png.len()
    );
}

/// What the fixture server answers at `/api/v1/status`.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `200` with this JSON file from `tests/data/status/`.
    Json(&'static str),
    /// This status with a plain-text body.
    Status(u16),
}

/// A stand-in for the admin API: `/` is `src/api/page.html` (read from disk
/// at each request), `/api/v1/status` follows a script of [`Reply`]s (the
/// last one repeats), anything else is 404. Stopped and joined on drop.
pub struct FixtureServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    status_requests: Arc<AtomicUsize>,
    accept: Option<JoinHandle<()>>,
}

impl FixtureServer {
    /// Starts on `127.0.0.1:0` with the replies to give, in order.
    pub fn start(replies: &[Reply]) -> FixtureServer {
        assert!(!replies.is_empty(), "give at least one reply");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fixture server");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        let stop = Arc::new(AtomicBool::new(false));
        let status_requests = Arc::new(AtomicUsize::new(0));
        let replies = Arc::new(Mutex::new(replies.to_vec()));
        let (s, n) = (stop.clone(), status_requests.clone());
        let accept = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (replies, n) = (replies.clone(), n.clone());
                        thread::spawn(move || serve(stream, &replies, &n));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FixtureServer {
            addr,
            stop,
            status_requests,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// How many times `/api/v1/status` was asked for.
    pub fn status_requests(&self) -> usize {
        self.status_requests.load(Ordering::SeqCst)
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request and closes the connection.
fn serve(stream: TcpStream, replies: &Mutex<Vec<Reply>>, n: &AtomicUsize) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let path = first.split_whitespace().nth(1).unwrap_or("");
    let (status, kind, body) = match path.split('?').next().unwrap_or("") {
        "/" => (
            200,
            "text/html; charset=utf-8",
            std::fs::read(page_path()).expect("read src/api/page.html"),
        ),
        "/api/v1/status" => {
            n.fetch_add(1, Ordering::SeqCst);
            let reply = {
                let mut replies = replies.lock().unwrap_or_else(|e| e.into_inner());
                if replies.len() > 1 {
                    replies.remove(0)
                } else {
                    replies[0].clone()
                }
            };
            match reply {
                Reply::Json(name) => (
                    200,
                    "application/json",
                    std::fs::read(fixture(name)).expect("read fixture"),
                ),
                Reply::Status(code) => (code, "text/plain", format!("status {code}\n").into()),
            }
        }
        _ => (404, "text/plain", b"not found\n".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut w = &stream;
    let _ = w.write_all(head.as_bytes());
    let _ = w.write_all(&body);
    let _ = w.flush();
}

/// `GET http://ADDR/PATH` over a plain socket: the status and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(&raw[split..])
    } else {
        raw[split..].to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).to_string()))
}

/// Joins a chunked body.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&body[..eol]);
        let size = size.split(';').next().unwrap_or("").trim();
        let Ok(n) = usize::from_str_radix(size, 16) else {
            break;
        };
        let rest = &body[eol + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        body = rest[n..].strip_prefix(b"\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// A pass-through to the real admin API at `upstream` that adds a test
/// script (`driver`) to the page at `/`, so a test can click the page's
/// buttons in headless Chromium (which only dumps the DOM): same origin as
/// the API, so the page's own `fetch` calls reach the server unchanged.
/// Stopped and joined on drop.
pub struct Driver {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Driver {
    /// Starts on `127.0.0.1:0` in front of `upstream`.
    pub fn start(upstream: SocketAddr, driver: &str) -> Driver {
        Driver::serve(upstream, Some(driver))
    }

    /// Starts in front of `upstream`, serving the page with every script
    /// blocked by its Content-Security-Policy.
    pub fn start_without_scripts(upstream: SocketAddr) -> Driver {
        Driver::serve(upstream, None)
    }

    fn serve(upstream: SocketAddr, driver: Option<&str>) -> Driver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind driver proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let script: Option<Arc<str>> =
            driver.map(|driver| format!("<script>\n{driver}\n</script>\n").into());
        let accept = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let script = script.clone();
                        thread::spawn(move || forward(stream, upstream, script.as_deref()));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Driver {
            addr,
            stop,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Forwards one request to `upstream` (the page at `/` with `script`
/// added before `</body>`, or without a script allowed to run when there
/// is none) and closes the connection.
fn forward(stream: TcpStream, upstream: SocketAddr, script: Option<&str>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim().is_empty() => break,
            Ok(_) => {}
        }
        let Some((name, value)) = line.trim_end().split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_string(), value.trim().to_string());
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().unwrap_or(0);
        }
        if !name.eq_ignore_ascii_case("connection") && !name.eq_ignore_ascii_case("host") {
            headers.push((name, value));
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut parts = first.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("GET"), parts.next().unwrap_or("/"));
    let mut w = &stream;
    if method == "GET" && path == "/" {
        let (status, page) = http_get(upstream, "/").unwrap_or((502, String::new()));
        let (page, policy) = match script {
            Some(script) => (page.replacen("</body>", &format!("{script}</body>"), 1), ""),
            None => (page, "Content-Security-Policy: script-src 'none'\r\n"),
        };
        let _ = write!(
            w,
            "HTTP/1.1 {status} X\r\nContent-Type: text/html; charset=utf-8\r\n{policy}\
             Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        return;
    }
    let Ok(mut up) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
        let _ = write!(
            w,
            "HTTP/1.1 502 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    };
    let _ = up.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {upstream}\r\nConnection: close\r\n");
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = up.write_all(head.as_bytes());
    let _ = up.write_all(&body);
    let mut reply = Vec::new();
    let _ = up.read_to_end(&mut reply);
    let _ = w.write_all(&reply);
    let _ = w.flush();
}
