//! The fake backends themselves, without the server: a failing health test
//! should never be the fake's fault.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::util::backend::{HttpBackend, HttpMode, TcpBackend, TcpMode};

/// One `GET /health` on a fresh connection: the status line and body, or
/// None when the connection is refused, closed or times out.
fn get(b: &HttpBackend) -> Option<String> {
    let mut c = TcpStream::connect(b.addr()).ok()?;
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = String::new();
    c.read_to_string(&mut out).ok()?;
    let status = out.lines().next()?.to_string();
    let body = out.split("\r\n\r\n").nth(1)?.to_string();
    Some(format!("{status} | {body}"))
}

#[test]
fn the_http_backend_switches_modes() {
    let b = HttpBackend::start("127.0.0.91");
    assert_eq!(get(&b).as_deref(), Some("HTTP/1.1 200 OK | ok"));
    b.set(HttpMode::Status(500));
    assert!(get(&b).unwrap().starts_with("HTTP/1.1 500 "));
    b.set(HttpMode::Body("nope".into()));
    assert_eq!(get(&b).as_deref(), Some("HTTP/1.1 200 OK | nope"));
    b.set(HttpMode::Hang);
    assert_eq!(get(&b), None, "hangs past the read timeout");
    b.set(HttpMode::Closed);
    assert!(
        TcpStream::connect(b.addr()).is_err(),
        "refused while closed"
    );
    b.set(HttpMode::Healthy);
    assert_eq!(get(&b).as_deref(), Some("HTTP/1.1 200 OK | ok"), "re-bound");
    assert_eq!(
        b.requests(),
        5,
        "the hanging request counts, refused connects do not"
    );
    let r = b.last_request().unwrap();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/health"));
    assert_eq!(r.host.as_deref(), Some("x"));
}

#[test]
fn the_http_backend_keeps_connections_alive() {
    let b = HttpBackend::start("127.0.0.92");
    let mut c = TcpStream::connect(b.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..3 {
        c.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "HEAD: no body: {head:?}");
    }
    assert_eq!(b.requests(), 3);
}

#[test]
fn the_tcp_backend_opens_and_closes() {
    let (a, b) = TcpBackend::pair_on_one_port("127.0.0.93", "127.0.0.94");
    assert_eq!(a.port(), b.port());
    TcpStream::connect(a.addr()).unwrap();
    a.wait_connections(1, Duration::from_secs(10));
    a.set(TcpMode::Closed);
    assert!(TcpStream::connect(a.addr()).is_err());
    TcpStream::connect(b.addr()).expect("the other address still open");
    a.set(TcpMode::Open);
    TcpStream::connect(a.addr()).expect("re-opened");
    a.wait_connections(2, Duration::from_secs(10));
}
