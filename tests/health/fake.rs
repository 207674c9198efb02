//! The fake backends themselves, without the server: a failing health test
//! should never be the fake's fault.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::util::backend::{HttpBackend, HttpMode, TcpBackend, TcpMode};

/// One `GET /health` on a fresh connection: the status line and body, or
/// None when the connection is refused, closed or times out.
fn get(b: &HttpBackend) -> Option<String> {
    get_on(TcpStream::connect(b.addr()).ok()?)
}

/// [`get`] from the local address `source`.
fn get_from(source: &str, b: &HttpBackend) -> Option<String> {
    get_on(connect_from(source, b.addr()).ok()?)
}

/// A connection from `source`, given up after half a second.
fn connect_from(source: &str, to: SocketAddr) -> io::Result<TcpStream> {
    let source: IpAddr = source.parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect_timeout(&to.into(), Duration::from_millis(500))?;
    Ok(socket.into())
}

fn get_on(mut c: TcpStream) -> Option<String> {
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
    if let Ok(stream) = TcpStream::connect(a.addr()) {
        // Seen rarely in full parallel runs and never alone: say who took
        // the connection, so the next failure can be told apart.
        let listening = std::process::Command::new("ss")
            .args(["-ltnpH", &format!("sport = :{}", a.port())])
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default();
        panic!(
            "a closed backend accepted a connection ({:?} -> {:?}); listening on its port:\n{listening}",
            stream.local_addr(),
            stream.peer_addr()
        );
    }
    TcpStream::connect(b.addr()).expect("the other address still open");
    a.set(TcpMode::Open);
    TcpStream::connect(a.addr()).expect("re-opened");
    a.wait_connections(2, Duration::from_secs(10));
}

#[test]
fn the_http_backend_treats_one_peer_apart() {
    let b = HttpBackend::start("127.0.0.95");
    b.set_from("127.0.0.3", HttpMode::Status(503));
    assert!(
        get_from("127.0.0.3", &b)
            .unwrap()
            .starts_with("HTTP/1.1 503 ")
    );
    assert_eq!(
        get_from("127.0.0.2", &b).as_deref(),
        Some("HTTP/1.1 200 OK | ok")
    );
    assert_eq!(b.last_request().unwrap().peer, IpAddr::from([127, 0, 0, 2]));
    assert_eq!(
        (b.requests_from("127.0.0.3"), b.requests_from("127.0.0.2")),
        (1, 1)
    );
    b.wait_requests_from("127.0.0.3", 1, Duration::from_secs(10));

    b.set_from("127.0.0.3", HttpMode::Closed);
    assert!(
        connect_from("127.0.0.3", b.addr()).is_err(),
        "the closed peer's connects go unanswered"
    );
    assert!(get_from("127.0.0.2", &b).is_some(), "others are served");
    b.set(HttpMode::Closed);
    b.set(HttpMode::Healthy);
    assert!(
        connect_from("127.0.0.3", b.addr()).is_err(),
        "still closed to it after a re-bind"
    );
    b.clear_from("127.0.0.3");
    assert_eq!(
        get_from("127.0.0.3", &b).as_deref(),
        Some("HTTP/1.1 200 OK | ok"),
        "cleared: it follows the backend again"
    );
    assert_eq!(b.requests_from("127.0.0.3"), 2);
}

#[test]
fn the_tcp_backend_drops_one_peers_connects() {
    let b = TcpBackend::start("127.0.0.96");
    b.set_from("127.0.0.3", TcpMode::Closed);
    assert!(connect_from("127.0.0.3", b.addr()).is_err());
    connect_from("127.0.0.2", b.addr()).expect("others connect");
    b.wait_connections_from("127.0.0.2", 1, Duration::from_secs(10));
    assert_eq!(
        (b.connections_from("127.0.0.3"), b.connections()),
        (0, 1),
        "dropped SYNs never reach accept"
    );
    b.clear_from("127.0.0.3");
    connect_from("127.0.0.3", b.addr()).expect("cleared");
    b.wait_connections_from("127.0.0.3", 1, Duration::from_secs(10));
}
