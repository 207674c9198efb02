//! `[[notify]]` end to end: the real server announces a failover pair's
//! primary going down and coming back to a webhook (a receiver here) and a
//! command (appending to a file); `healthdns check` places notify errors.
//!
//! Tests wait on conditions (30 s deadline); none measures a delay.

pub(crate) mod events;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::health::{DEADLINE, http_check, write_config};
use crate::util::backend::{HttpBackend, HttpMode};
use crate::util::{Server, run_healthdns};

const PRIMARY: &str = "127.0.0.41";
const SECONDARY: &str = "127.0.0.42";

/// One POST the receiver read.
#[derive(Clone)]
struct Request {
    /// Header names lowercase.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// What it was answered.
    status: u16,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A webhook receiver on 127.0.0.1: answers 500 to the first `fail_first`
/// POSTs and 200 to the rest, and keeps every request.
pub(crate) struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        Receiver::failing_first(0)
    }

    fn failing_first(fail_first: usize) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (requests.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let status = if r.lock().unwrap().len() < fail_first {
                            500
                        } else {
                            200
                        };
                        if let Some(request) = read_post(stream, status, &s) {
                            r.lock().unwrap().push(request);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Receiver {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The events delivered (answered 200), in order.
    pub(crate) fn events(&self) -> Vec<serde_json::Value> {
        self.requests()
            .iter()
            .filter(|r| r.status == 200)
            .map(Request::json)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request, answers `status` and closes.
fn read_post(mut stream: TcpStream, status: u16, stop: &AtomicBool) -> Option<Request> {
    stream.set_nonblocking(false).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let started = Instant::now();
    let complete = |buf: &[u8]| {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let headers: Vec<(String, String)> = head
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap_or(0));
        (buf.len() >= end + length).then(|| (headers, buf[end..end + length].to_vec()))
    };
    let (headers, body) = loop {
        if let Some(done) = complete(&buf) {
            break done;
        }
        if stop.load(Ordering::SeqCst) || started.elapsed() > DEADLINE {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    };
    let _ = stream.write_all(
        format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    Some(Request {
        headers,
        body,
        status,
    })
}

/// Polls `ok` until it holds; panics after [`DEADLINE`] with `detail()`.
fn wait(what: &str, ok: impl Fn() -> bool, detail: impl Fn() -> String) {
    let end = Instant::now() + DEADLINE;
    while !ok() {
        assert!(
            Instant::now() < end,
            "waited {DEADLINE:?} for {what}\n{}",
            detail()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn toml_string(s: &str) -> String {
    format!("{s:?}")
}

#[test]
fn webhook_and_exec_hear_the_primary_go_down_and_come_back() {
    let primary = HttpBackend::start(PRIMARY);
    let secondary = HttpBackend::start(SECONDARY);
    let receiver = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("transitions.log");
    let script = format!("echo \"$0 $1\" >> {}", lines.display());
    let notify = format!(
        "[[notify]]\nwebhook = {}\ntimeout = \"2s\"\nbackoff = \"50ms\"\n\n\
         [[notify]]\nexec = [\"/bin/sh\", \"-c\", {}, \"{{target}}\", \"{{state}}\"]\n\
         timeout = \"5s\"\nbackoff = \"50ms\"\n",
        toml_string(&receiver.url()),
        toml_string(&script),
    );
    let records = format!(
        "api 30 IN A {PRIMARY} ; healthdns failover=primary check=web target={}\n\
         api 30 IN A {SECONDARY} ; healthdns failover=secondary check=web target={}\n",
        primary.target(),
        secondary.target()
    );
    let config = write_config(dir.path(), &records, &[http_check("web", &[]), notify]);
    let server = Server::start_args(&["serve".as_ref(), "--config".as_ref(), config.as_os_str()]);
    let target = format!("{}/web", primary.target());
    primary.wait_requests(2, DEADLINE);

    let heard = |to: &str| {
        receiver
            .events()
            .iter()
            .any(|e| e["target"] == target.as_str() && e["to"] == to)
    };
    let ran = |to: &str| {
        std::fs::read_to_string(&lines)
            .unwrap_or_default()
            .lines()
            .any(|l| l == format!("{target} {to}"))
    };
    let detail = || {
        format!(
            "webhook got: {:#?}\nexec wrote: {:?}\nserver stderr:\n{}",
            receiver.events(),
            std::fs::read_to_string(&lines).unwrap_or_default(),
            server.stderr_so_far()
        )
    };

    primary.set(HttpMode::Status(500));
    wait("the webhook to hear `down`", || heard("down"), detail);
    wait("the command to run for `down`", || ran("down"), detail);
    let down = receiver
        .events()
        .into_iter()
        .find(|e| e["target"] == target.as_str() && e["to"] == "down")
        .unwrap();
    assert_eq!(down["from"], "up", "{down:#}");
    assert_eq!(down["check"], "web", "{down:#}");
    assert_eq!(down["serving"], false, "{down:#}");
    assert!(
        down["record_sets"]
            .as_array()
            .is_some_and(|sets| sets.iter().any(|s| s == "api.h.test. A")),
        "{down:#}"
    );
    for key in ["reason", "time"] {
        assert!(down[key].is_string(), "{key} in {down:#}");
    }
    assert!(down["consecutive"].is_u64(), "{down:#}");

    primary.set(HttpMode::Healthy);
    wait("the webhook to hear `up`", || heard("up"), detail);
    wait("the command to run for `up`", || ran("up"), detail);
    // Deliveries to one webhook keep their order.
    let order: Vec<String> = receiver
        .events()
        .iter()
        .filter(|e| e["target"] == target.as_str())
        .map(|e| e["to"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(order, ["down", "up"], "{}", detail());
    assert!(
        !receiver
            .events()
            .iter()
            .any(|e| e["target"] == format!("{}/web", secondary.target()).as_str()),
        "the secondary never changed: {}",
        detail()
    );
}

/// `healthdns check --config` on `config` (written into a tempdir next to
/// an empty zone): exit code and stderr.
fn check_config(config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "", &[config.to_string()]);
    let out = run_healthdns(&["check".as_ref(), "--config".as_ref(), path.as_os_str()]);
    (
        out.status.code().expect("check killed by a signal"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_places_every_notify_error() {
    let (code, stderr) = check_config(
        "[[notify]]\nwebhook = \"ftp://x/\"\ntimeout = \"0s\"\n\
         [[notify]]\nexec = [\"/bin/echo\", \"{status}\"]\n\
         [[notify]]\nretries = 1\n",
    );
    assert_eq!(code, 1, "{stderr}");
    for want in [
        "healthdns.toml:2:11: notify: webhook \"ftp://x/\"",
        "healthdns.toml:3:11: notify: timeout must be above zero",
        "healthdns.toml:5:22: notify: exec argument \"{status}\": unknown placeholder",
        "healthdns.toml:6:1: notify: needs webhook",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
    }
    let (code, stderr) = check_config("[[notify]]\nwebhook = \"http://127.0.0.1:9/\"\nbogus = 1\n");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("healthdns.toml:3:1: unknown field `bogus`"),
        "{stderr}"
    );
}

#[test]
fn check_accepts_both_kinds_of_notify() {
    let (code, stderr) = check_config(
        "[[notify]]\nwebhook = \"https://hooks.example/x\"\nretries = 0\n\
         [[notify]]\nexec = [\"/bin/logger\", \"healthdns: {target} is {state} ({reason})\"]\n\
         timeout = \"1s\"\nbackoff = \"5s\"\n",
    );
    assert_eq!(code, 0, "{stderr}");
}
