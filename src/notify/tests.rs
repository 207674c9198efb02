//! Delivery against a local HTTP receiver and real commands. Backoffs are
//! 20 ms; tests wait on conditions (10 s deadline) and never assert how
//! long anything took.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::notify::{Notifier, Secret, Sink, Webhook};
use crate::config::template::Template;
use crate::health::state::Health;
use crate::health::{ReasonClass, Transition};
use crate::notify::event::Sequence;

const DEADLINE: Duration = Duration::from_secs(10);
const FAST: Duration = Duration::from_millis(20);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Status(u16),
    /// Reads the request, never answers.
    Hang,
}

/// One request the receiver read.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    content_type: Option<String>,
    /// Every header, names lowercase.
    headers: Vec<(String, String)>,
    body: String,
    /// The status it was answered with (None: hung).
    status: Option<u16>,
}

struct Shared {
    mode: Mutex<Mode>,
    /// Answer 500 to this many requests first, whatever the mode.
    fail_next: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    stop: AtomicBool,
}

/// A one-request-per-connection HTTP receiver on 127.0.0.1, port 0.
struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(mode: Mode) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            mode: Mutex::new(mode),
            fail_next: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = thread::spawn(move || {
            while !s.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let s = s.clone();
                        thread::spawn(move || serve(&s, stream));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Receiver {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn set(&self, mode: Mode) {
        *lock(&self.shared.mode) = mode;
    }

    fn seen(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// Bodies answered with 2xx, in order.
    fn delivered(&self) -> Vec<serde_json::Value> {
        self.seen()
            .into_iter()
            .filter(|s| s.status.is_some_and(|c| (200..300).contains(&c)))
            .map(|s| serde_json::from_str(&s.body).unwrap())
            .collect()
    }

    async fn wait(&self, what: &str, ok: impl Fn(&Receiver) -> bool) {
        let end = tokio::time::Instant::now() + DEADLINE;
        while !ok(self) {
            assert!(
                tokio::time::Instant::now() < end,
                "waited {DEADLINE:?} for {what}; seen: {:#?}",
                self.seen()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(shared: &Shared, mut stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut read_more = |buf: &mut Vec<u8>| -> bool {
        loop {
            if shared.stop.load(Ordering::SeqCst) {
                return false;
            }
            match stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return false,
            }
        }
    };
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if !read_more(&mut buf) {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.split("\r\n").find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
    while buf.len() < head_end + length {
        if !read_more(&mut buf) {
            return;
        }
    }
    let mut seen = Seen {
        method: head.split(' ').next().unwrap_or("").to_string(),
        content_type: header("content-type"),
        headers: head
            .split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect(),
        body: String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string(),
        status: None,
    };
    let failing = shared
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = match *lock(&shared.mode) {
        _ if failing => 500,
        Mode::Status(code) => code,
        Mode::Hang => {
            lock(&shared.seen).push(seen);
            while !shared.stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(20));
            }
            return;
        }
    };
    seen.status = Some(status);
    lock(&shared.seen).push(seen);
    let extra = if status == 302 {
        "Location: http://127.0.0.1:9/elsewhere\r\n"
    } else {
        ""
    };
    let _ = stream.write_all(
        format!("HTTP/1.1 {status} X\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
}

fn event(target: &str, to: Health) -> Event {
    Sequence::new().target(&Transition {
        target: target.into(),
        check: "web".into(),
        record_sets: vec!["api.h.test. A".into()],
        from: match to {
            Health::Up => Health::Down,
            Health::Down => Health::Up,
        },
        to,
        was_serving: to != Health::Up,
        serving: to == Health::Up,
        reason: "HTTP 500 not expected".into(),
        class: ReasonClass::Status,
        consecutive: 2,
        time: UNIX_EPOCH + Duration::from_millis(1_795_320_306_789),
    })
}

fn hook(url: String) -> Webhook {
    Webhook {
        url,
        headers: Vec::new(),
        secret: None,
    }
}

fn webhook(url: String, retries: u32) -> Notifier {
    Notifier {
        sink: Sink::Webhook(hook(url)),
        timeout: Duration::from_secs(5),
        retries,
        backoff: FAST,
    }
}

fn exec(argv: &[&str], retries: u32, timeout: Duration) -> Notifier {
    Notifier {
        sink: Sink::Exec {
            program: argv[0].into(),
            args: argv[1..]
                .iter()
                .map(|a| Template::parse(a).unwrap())
                .collect(),
        },
        timeout,
        retries,
        backoff: FAST,
    }
}

/// The notify task with its sender and shutdown.
struct Running {
    tx: broadcast::Sender<Event>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

fn start(notifiers: Vec<Notifier>) -> Running {
    let (tx, rx) = broadcast::channel(64);
    let shutdown = CancellationToken::new();
    let task = spawn(notifiers, rx, shutdown.clone());
    Running { tx, shutdown, task }
}

impl Running {
    fn send(&self, event: Event) {
        self.tx.send(event).unwrap();
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("notify task ends on shutdown")
            .unwrap();
    }
}

#[test]
fn backoff_doubles_up_to_a_minute() {
    let s = Duration::from_secs;
    let schedule: Vec<Duration> = (1..=9).map(|n| backoff(s(1), n)).collect();
    assert_eq!(
        schedule,
        [s(1), s(2), s(4), s(8), s(16), s(32), s(60), s(60), s(60)]
    );
    assert_eq!(backoff(FAST, 1), FAST);
    assert_eq!(backoff(FAST, 3), Duration::from_millis(80));
    assert_eq!(backoff(s(1), u32::MAX), s(60));
    assert_eq!(backoff(s(90), 1), s(60));
    assert_eq!(backoff(s(3), 0), s(3), "0 is taken as the first retry");
}

#[tokio::test]
async fn an_event_arrives_as_json_with_every_field() {
    let receiver = Receiver::start(Mode::Status(204));
    let running = start(vec![webhook(receiver.url(), 0)]);
    running.send(event("127.0.0.21:8080/web", Health::Down));
    receiver
        .wait("one delivery", |r| r.delivered().len() == 1)
        .await;
    let seen = &receiver.seen()[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.content_type.as_deref(), Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    let id = json["id"].as_str().unwrap_or_default().to_owned();
    assert!(id.ends_with("-1"), "{json:#}");
    assert_eq!(
        json,
        serde_json::json!({
            "id": id,
            "sequence": 1,
            "kind": "target",
            "target": "127.0.0.21:8080/web",
            "check": "web",
            "record_sets": ["api.h.test. A"],
            "from": "up",
            "to": "down",
            "checks": "down",
            "serving": false,
            "reason": "status",
            "detail": "HTTP 500 not expected",
            "consecutive": 2,
            "time": "2026-11-22T04:05:06.789Z",
        })
    );
    running.stop().await;
}

#[tokio::test]
async fn a_retry_is_the_same_signed_bytes_with_the_operators_headers() {
    let receiver = Receiver::start(Mode::Status(200));
    receiver.shared.fail_next.store(2, Ordering::SeqCst);
    let mut notifier = webhook(receiver.url(), 5);
    notifier.sink = Sink::Webhook(Webhook {
        url: receiver.url(),
        headers: vec![("x-team".into(), "dns oncall".into())],
        secret: Some(Secret(b"s3cret".to_vec())),
    });
    let running = start(vec![notifier]);
    let ev = event("a", Health::Down);
    running.send(ev.clone());
    receiver
        .wait("a delivery after two 500s", |r| r.delivered().len() == 1)
        .await;
    let seen = receiver.seen();
    assert_eq!(seen.len(), 3);
    let header = |s: &Seen, name: &str| {
        s.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    for s in &seen {
        assert_eq!(s.body, seen[0].body, "every attempt sends the same bytes");
        assert_eq!(header(s, "x-healthdns-event"), Some(ev.id.clone()));
        assert_eq!(header(s, "x-team").as_deref(), Some("dns oncall"));
        assert_eq!(
            header(s, "x-healthdns-signature"),
            Some(webhook::signature(
                &Secret(b"s3cret".to_vec()),
                s.body.as_bytes()
            ))
        );
    }
    running.stop().await;
}

#[tokio::test]
async fn a_500_is_retried_until_the_webhook_answers_200() {
    let receiver = Receiver::start(Mode::Status(500));
    let running = start(vec![webhook(receiver.url(), 100)]);
    running.send(event("a", Health::Down));
    receiver
        .wait("three attempts", |r| r.seen().len() >= 3)
        .await;
    assert!(receiver.delivered().is_empty());
    receiver.set(Mode::Status(200));
    receiver
        .wait("the delivery", |r| r.delivered().len() == 1)
        .await;
    assert!(
        receiver
            .seen()
            .iter()
            .all(|s| s.body == receiver.seen()[0].body)
    );
    running.stop().await;
}

#[tokio::test]
async fn a_webhook_gets_its_events_in_order_through_retries() {
    let receiver = Receiver::start(Mode::Status(200));
    // The first event fails 3 times, so later ones wait behind it.
    receiver.shared.fail_next.store(3, Ordering::SeqCst);
    let running = start(vec![webhook(receiver.url(), 10)]);
    let targets: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
    for (i, t) in targets.iter().enumerate() {
        let to = if i % 2 == 0 { Health::Down } else { Health::Up };
        running.send(event(t, to));
    }
    receiver
        .wait("six deliveries", |r| r.delivered().len() == 6)
        .await;
    let got: Vec<String> = receiver
        .delivered()
        .iter()
        .map(|j| j["target"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, targets);
    let order: Vec<String> = receiver
        .seen()
        .iter()
        .map(|s| serde_json::from_str::<serde_json::Value>(&s.body).unwrap()["target"].to_string())
        .collect();
    assert_eq!(order.len(), 9, "3 failures of t0, then one each: {order:?}");
    running.stop().await;
}

#[tokio::test]
async fn retries_end_with_giving_up_and_the_next_event_goes_out() {
    let receiver = Receiver::start(Mode::Status(503));
    let running = start(vec![webhook(receiver.url(), 2)]);
    running.send(event("first", Health::Down));
    receiver
        .wait("three attempts", |r| r.seen().len() == 3)
        .await;
    receiver.set(Mode::Status(200));
    running.send(event("second", Health::Up));
    receiver
        .wait("the second event", |r| r.delivered().len() == 1)
        .await;
    assert_eq!(receiver.delivered()[0]["target"], "second");
    assert_eq!(receiver.seen().len(), 4, "first given up after 1 + 2 tries");
    running.stop().await;
}

#[tokio::test]
async fn shutdown_stops_retries() {
    let receiver = Receiver::start(Mode::Status(500));
    let running = start(vec![webhook(receiver.url(), 1000)]);
    running.send(event("a", Health::Down));
    running.send(event("b", Health::Down));
    receiver.wait("two attempts", |r| r.seen().len() >= 2).await;
    running.stop().await;
    let after = receiver.seen().len();
    tokio::time::sleep(FAST * 10).await;
    assert_eq!(receiver.seen().len(), after, "no attempt after shutdown");
    assert!(receiver.seen().iter().all(|s| s.body.contains("\"a\"")));
}

#[tokio::test]
async fn shutdown_waits_for_the_attempt_in_flight_only_up_to_its_timeout() {
    let receiver = Receiver::start(Mode::Hang);
    let mut notifier = webhook(receiver.url(), 1000);
    notifier.timeout = Duration::from_millis(200);
    let running = start(vec![notifier]);
    running.send(event("a", Health::Down));
    receiver.wait("one attempt", |r| r.seen().len() == 1).await;
    running.stop().await;
}

#[tokio::test]
async fn the_task_ends_when_the_sender_is_gone_and_the_queue_is_delivered() {
    let receiver = Receiver::start(Mode::Status(200));
    let running = start(vec![webhook(receiver.url(), 0)]);
    running.send(event("a", Health::Down));
    running.send(event("b", Health::Up));
    drop(running.tx);
    tokio::time::timeout(DEADLINE, running.task)
        .await
        .expect("ends once the sender is dropped")
        .unwrap();
    assert_eq!(receiver.delivered().len(), 2);
}

#[tokio::test]
async fn a_lagging_receiver_drops_the_oldest_events_and_goes_on() {
    let receiver = Receiver::start(Mode::Status(200));
    let (tx, rx) = broadcast::channel(2);
    let shutdown = CancellationToken::new();
    // Five sends before the (current-thread) task first runs: it lags by 3.
    let task = spawn(vec![webhook(receiver.url(), 0)], rx, shutdown.clone());
    for i in 0..5 {
        tx.send(event(&format!("t{i}"), Health::Down)).unwrap();
    }
    receiver
        .wait("the newest two", |r| r.delivered().len() == 2)
        .await;
    let got: Vec<_> = receiver
        .delivered()
        .iter()
        .map(|j| j["target"].clone())
        .collect();
    assert_eq!(got, ["t3", "t4"]);
    tx.send(event("t5", Health::Up)).unwrap();
    receiver.wait("t5", |r| r.delivered().len() == 3).await;
    shutdown.cancel();
    tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_dead_webhook_does_not_hold_up_another() {
    let dead = Receiver::start(Mode::Hang);
    let live = Receiver::start(Mode::Status(200));
    let mut stuck = webhook(dead.url(), 1000);
    stuck.timeout = Duration::from_secs(600);
    let running = start(vec![stuck, webhook(live.url(), 0)]);
    for i in 0..3 {
        running.send(event(&format!("t{i}"), Health::Down));
    }
    live.wait("three deliveries", |r| r.delivered().len() == 3)
        .await;
    assert_eq!(dead.seen().len(), 1, "the dead one is still on its first");
    // Not awaited: the attempt in flight may run out its (long) timeout.
    running.shutdown.cancel();
}

#[tokio::test]
async fn webhook_failures_say_why() {
    let client = webhook::client().unwrap();
    let ev = event("a", Health::Down);
    let receiver = Receiver::start(Mode::Status(302));
    let body = serde_json::to_vec(&ev).unwrap();
    let err = webhook::post(&client, &hook(receiver.url()), &ev.id, &body, DEADLINE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeliveryError::Status(302)),
        "redirects are not followed: {err}"
    );
    assert_eq!(receiver.seen().len(), 1);
    receiver.set(Mode::Hang);
    let err = webhook::post(
        &client,
        &hook(receiver.url()),
        &ev.id,
        &body,
        Duration::from_millis(100),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "timeout after 100ms");
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = webhook::post(
        &client,
        &hook(format!("http://{closed}/")),
        &ev.id,
        &body,
        DEADLINE,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DeliveryError::Request(_)), "{err}");
    assert!(err.to_string().contains("refused"), "{err}");
}

async fn wait_file(path: &std::path::Path, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if ok(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "waited {DEADLINE:?} for {what}; file: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn exec_runs_the_command_with_each_argument_substituted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    let script = format!(
        "printf '%s|%s|%s|%s\\n' \"$1\" \"$2\" \"$3\" \"$4\" >> {}",
        file.display()
    );
    let running = start(vec![exec(
        &[
            "/bin/sh",
            "-c",
            &script,
            "sh",
            "{target}",
            "{state}",
            "reason: {reason}",
            "{record_sets}",
        ],
        0,
        DEADLINE,
    )]);
    running.send(event("127.0.0.21:80/web", Health::Down));
    running.send(event("127.0.0.21:80/web", Health::Up));
    let text = wait_file(&file, "two lines", |t| t.lines().count() == 2).await;
    assert_eq!(
        text,
        "127.0.0.21:80/web|down|reason: status|api.h.test. A\n\
         127.0.0.21:80/web|up|reason: status|api.h.test. A\n"
    );
    running.stop().await;
}

#[tokio::test]
async fn exec_failures_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    let script = format!("echo \"$1\" >> {}; exit 1", file.display());
    let running = start(vec![exec(
        &["/bin/sh", "-c", &script, "sh", "{state}"],
        2,
        DEADLINE,
    )]);
    running.send(event("a", Health::Down));
    wait_file(&file, "three attempts", |t| t == "down\ndown\ndown\n").await;
    running.stop().await;
}

#[tokio::test]
async fn exec_errors_say_why() {
    let err = exec::run(
        "/bin/sh",
        &[
            "-c".into(),
            "echo first >&2; echo second >&2; exit 3".into(),
        ],
        DEADLINE,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, DeliveryError::Exit { ref stderr, .. } if stderr == "first"),
        "{err}"
    );
    assert!(err.to_string().ends_with(": first"), "{err}");
    exec::run("/bin/sh", &["-c".into(), "exit 0".into()], DEADLINE)
        .await
        .unwrap();
    let err = exec::run("/nonexistent/notify-script", &[], DEADLINE)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot run /nonexistent/notify-script: "),
        "{err}"
    );
}

#[tokio::test]
async fn exec_past_its_timeout_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pid");
    let script = format!(
        "echo $$ > {}.tmp; mv {0}.tmp {0}; exec sleep 30",
        file.display()
    );
    let err = exec::run(
        "/bin/sh",
        &["-c".into(), script],
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "timeout after 300ms");
    // The pid file may not be written yet if the shell started slowly;
    // when it is, that process must be gone (killed and reaped).
    if let Ok(pid) = std::fs::read_to_string(&file) {
        let proc = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
        assert!(!proc.exists(), "{} still runs", proc.display());
    }
}
