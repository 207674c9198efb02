//! Transport rules seen from outside: TCP framing (pipelined, split and
//! trickled queries), the TCP idle timeouts (shorter as the connections
//! near the limit) and the connection idle longest making room at the
//! limit, malformed datagrams, and serving from a config file.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::wire::{query, with_questions};
use crate::util::{Server, data};

/// Generous: these wait on the server, never measure it.
const DEADLINE: Duration = Duration::from_secs(20);

fn config(dir: &Path, server: &str) -> std::path::PathBuf {
    let zone = std::fs::canonicalize(data("example.com.zone")).unwrap();
    let path = dir.join("healthdns.toml");
    let text = format!(
        "[server]\n{server}\n[[zone]]\nfile = {:?}\n",
        zone.display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn serve_config(dir: &Path, server: &str) -> Server {
    let path = config(dir, server);
    Server::start_args(&["serve".as_ref(), "--config".as_ref(), path.as_os_str()])
}

/// True when the peer closes (EOF or reset) within the deadline; false when
/// our own read timeout fires first.
fn closed_by_peer(conn: &mut TcpStream) -> bool {
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 64];
    match conn.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(err) => !matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn tcp_exchange(conn: &mut TcpStream, id: u16) -> Vec<u8> {
    let q = query(id, "www.example.com", 1);
    conn.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
    conn.write_all(&q).unwrap();
    read_answer(conn)
}

/// `message` with its 2-byte length prefix.
fn framed(message: &[u8]) -> Vec<u8> {
    [&(message.len() as u16).to_be_bytes()[..], message].concat()
}

/// The next framed answer on `conn`, without its prefix.
fn read_answer(conn: &mut TcpStream) -> Vec<u8> {
    conn.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut len = [0u8; 2];
    conn.read_exact(&mut len).unwrap();
    let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
    conn.read_exact(&mut answer).unwrap();
    answer
}

/// The ID and RCODE of an answer, after checking it is one (QR set).
fn id_and_rcode(answer: &[u8]) -> (u16, u8) {
    assert!(answer.len() >= 12, "short answer: {answer:?}");
    assert_eq!(answer[2] & 0x80, 0x80, "QR set");
    (u16::from_be_bytes([answer[0], answer[1]]), answer[3] & 0x0f)
}

#[test]
fn queries_pipelined_in_one_write_are_all_answered_in_order() {
    let s = Server::fixture();
    // A small receive buffer and a late reader: the server blocks writing
    // answers while queries pile up unread, so that later reads come full
    // (a frame cut at the end of the server's buffer) and one read's
    // answers are more than it writes at once.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&s.addr.into()).unwrap();
    let mut conn = TcpStream::from(socket);
    // Frames that get no answer (empty, too short for a header) and one
    // that gets FORMERR among them.
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for id in 0..6000u16 {
        match id % 500 {
            7 => stream.extend(framed(&[])),
            8 => stream.extend(framed(&[1, 2, 3, 4, 5])),
            9 => {
                stream.extend(framed(&with_questions(id, "www.example.com", 1, 2)));
                expected.push((id, 1));
            }
            _ if id % 3 == 0 => {
                stream.extend(framed(&query(id, &format!("nx{id}.example.com"), 1)));
                expected.push((id, 3));
            }
            _ => {
                stream.extend(framed(&query(id, "www.example.com", 1)));
                expected.push((id, 0));
            }
        }
    }
    // A writer of its own: the answers come back while the queries go out.
    let mut writer = conn.try_clone().unwrap();
    let sent = std::thread::spawn(move || writer.write_all(&stream));
    std::thread::sleep(Duration::from_millis(500));
    let answers: Vec<(u16, u8)> = (0..expected.len())
        .map(|_| id_and_rcode(&read_answer(&mut conn)))
        .collect();
    sent.join().unwrap().unwrap();
    assert_eq!(answers, expected, "every answer, in query order");
}

#[test]
fn a_query_written_one_byte_at_a_time_is_answered() {
    let s = Server::fixture();
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_nodelay(true).unwrap();
    for byte in framed(&query(0x1234, "www.example.com", 1)) {
        conn.write_all(&[byte]).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(id_and_rcode(&read_answer(&mut conn)), (0x1234, 0));
}

#[test]
fn a_length_prefix_split_across_writes_is_put_back_together() {
    let s = Server::fixture();
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_nodelay(true).unwrap();
    let first = framed(&query(1, "www.example.com", 1));
    let second = framed(&query(2, "www.example.com", 1));
    // The first query whole and one byte of the second's length.
    conn.write_all(&[&first[..], &second[..1]].concat())
        .unwrap();
    assert_eq!(
        id_and_rcode(&read_answer(&mut conn)),
        (1, 0),
        "the whole query is answered without waiting for the next"
    );
    conn.write_all(&second[1..]).unwrap();
    assert_eq!(id_and_rcode(&read_answer(&mut conn)), (2, 0));
}

#[test]
fn a_connection_stalled_inside_a_frame_is_closed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve_config(dir.path(), "tcp-idle-timeout = \"1s\"");
    let whole = framed(&query(9, "www.example.com", 1));
    // Half a message, then half a length prefix.
    for cut in [whole.len() / 2, 1] {
        let mut conn = TcpStream::connect(s.addr).unwrap();
        conn.write_all(&whole[..cut]).unwrap();
        let started = Instant::now();
        assert!(closed_by_peer(&mut conn), "cut after {cut} bytes");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < DEADLINE,
            "cut after {cut} bytes: closed after {waited:?}, expected about 1 s"
        );
    }
}

#[test]
fn idle_tcp_connections_are_closed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve_config(dir.path(), "tcp-idle-timeout = \"1s\"");
    let mut conn = TcpStream::connect(s.addr).unwrap();
    assert_eq!(tcp_exchange(&mut conn, 7)[..2], [0, 7], "answers first");
    let started = Instant::now();
    assert!(closed_by_peer(&mut conn));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < DEADLINE,
        "closed after {waited:?}, expected about 1 s of idleness"
    );
}

#[test]
fn at_the_limit_the_connection_idle_longest_makes_room() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve_config(dir.path(), "tcp-max-connections = 2");
    let mut oldest = TcpStream::connect(s.addr).unwrap();
    assert_eq!(tcp_exchange(&mut oldest, 1)[..2], [0, 1]);
    let mut newer = TcpStream::connect(s.addr).unwrap();
    assert_eq!(tcp_exchange(&mut newer, 2)[..2], [0, 2]);
    // The oldest is used again: now `newer` has been idle longest.
    assert_eq!(tcp_exchange(&mut oldest, 3)[..2], [0, 3]);
    let mut third = TcpStream::connect(s.addr).unwrap();
    assert_eq!(
        tcp_exchange(&mut third, 4)[..2],
        [0, 4],
        "the new connection is served"
    );
    assert!(
        closed_by_peer(&mut newer),
        "the connection idle longest is closed for it"
    );
    assert_eq!(
        tcp_exchange(&mut oldest, 5)[..2],
        [0, 5],
        "the recently used one is kept"
    );
}

#[test]
fn idle_connections_of_a_full_table_are_closed_long_before_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // The test's deadline (20 s) is far below the idle timeout.
    let s = serve_config(
        dir.path(),
        "tcp-max-connections = 4\ntcp-idle-timeout = \"120s\"",
    );
    let mut idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    for (i, conn) in idle.iter_mut().enumerate() {
        assert!(
            closed_by_peer(conn),
            "idle connection {i} of 4 is still open"
        );
    }
    // With the table empty again, a connection is served as usual.
    let mut conn = TcpStream::connect(s.addr).unwrap();
    assert_eq!(tcp_exchange(&mut conn, 6)[..2], [0, 6]);
}

#[test]
fn a_client_that_stops_reading_is_closed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let api: std::net::SocketAddr = ([127, 0, 0, 1], crate::util::free_port()).into();
    let s = serve_config(
        dir.path(),
        &format!("tcp-idle-timeout = \"1s\"\n[api]\nlisten = \"{api}\""),
    );
    // A tiny receive window and no reads: the server's writes block once
    // the socket buffers are full (megabytes of answers are asked for).
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&s.addr.into()).unwrap();
    let stuck = TcpStream::from(socket);
    let mut writer = stuck.try_clone().unwrap();
    let queries: Vec<u8> = (0..60_000u16)
        .flat_map(|id| framed(&query(id, "www.example.com", 255)))
        .collect();
    // The server stops reading too once it cannot write, so this write may
    // block until the connection is closed; it is not waited for.
    std::thread::spawn(move || writer.write_all(&queries));
    let deadline = Instant::now() + DEADLINE;
    loop {
        let page = crate::util::http::request(api, "GET", "/metrics", &[], None)
            .map(|reply| reply.body)
            .unwrap_or_default();
        let m = crate::util::http::Metrics::parse(&page).unwrap();
        let timed_out = m.sum("dns_tcp_closed_total", &[("reason", "idle")]);
        if timed_out >= 1.0 && m.value("dns_tcp_connections", &[]) == Some(0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the connection that never reads is still open:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stuck);
}

#[test]
fn malformed_datagrams_get_formerr_or_nothing() {
    let s = Server::fixture();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    socket.connect(s.addr).unwrap();
    // Too short for a header: dropped. Two questions: FORMERR.
    socket.send(&[1, 2, 3, 4, 5]).unwrap();
    socket
        .send(&with_questions(0x4242, "www.example.com", 1, 2))
        .unwrap();
    socket.send(&query(0x4343, "www.example.com", 1)).unwrap();
    let mut buf = [0u8; 1500];
    let len = socket.recv(&mut buf).unwrap();
    assert_eq!(
        buf[..2],
        [0x42, 0x42],
        "the first answer is to the two-question query"
    );
    assert_eq!(buf[3] & 0x0f, 1, "FORMERR");
    assert_eq!(buf[2] & 0x80, 0x80, "QR set");
    assert_eq!(len, 12, "header only");
    let len = socket.recv(&mut buf).unwrap();
    assert_eq!(
        buf[..2],
        [0x43, 0x43],
        "then the good query; the 5-byte packet got nothing"
    );
    assert_eq!(buf[3] & 0x0f, 0);
    assert!(len > 12);
}

#[test]
fn with_udp_coalesce_every_query_of_a_burst_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    // The longest pause at any load and one worker: every batch after the
    // first waits.
    let s = serve_config(
        dir.path(),
        "udp-coalesce = \"1ms\"\nudp-coalesce-load = 0\nudp-workers = 1",
    );
    crate::util::udp_burst(s.addr, "www.example.com", 200, DEADLINE);
    // stderr_so_far hands each line out once: read it once.
    let log = s.stderr_so_far();
    assert!(
        log.contains("udp-coalesce"),
        "the pause is in force and logged: {log}"
    );
}

#[test]
fn serves_the_zones_of_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve_config(dir.path(), "");
    let r = s.dig(&["www.example.com", "A"]);
    assert_eq!(r.rcode, "NOERROR");
    assert!(!r.answer.is_empty(), "{r}");
}

#[test]
fn shipped_config_and_zone_pass_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = crate::util::run_healthdns(&[
        "check".as_ref(),
        "--config".as_ref(),
        root.join("healthdns.toml").as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_sighup_as_soon_as_it_listens_reloads_and_does_not_kill() {
    // Regression: the handlers were installed after `listening on`, so a
    // reload sent at once met SIGHUP's default action and ended the server.
    let s = Server::fixture();
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success());
    let r = s.dig(&["www.example.com", "A"]);
    assert_eq!(r.rcode, "NOERROR", "still serving after the SIGHUP: {r}");
}

/// A zone with `targets` health-checked names, each its own target on
/// 127.0.1.N (nothing listens there: probes are refused at once).
fn zone_with_targets(targets: usize) -> String {
    let mut zone = String::from(
        "$ORIGIN many.test.\n$TTL 300\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n",
    );
    for i in 1..=targets {
        zone.push_str(&format!(
            "h{i} A 127.0.1.{i} ; healthdns multivalue check=t\n"
        ));
    }
    zone
}

#[test]
fn a_reload_past_the_open_files_limit_warns() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("many.test.zone");
    std::fs::write(&zone, zone_with_targets(1)).unwrap();
    let config = dir.path().join("healthdns.toml");
    std::fs::write(
        &config,
        "[server]\ntcp-max-connections = 10\n\
         [check.t]\ntype = \"tcp\"\nport = 9\ninterval = \"10s\"\n\
         [[zone]]\nfile = \"many.test.zone\"\n",
    )
    .unwrap();
    // 1 target + 10 connections + 64 fit in 200; 150 targets do not.
    let mut command = std::process::Command::new("prlimit");
    command
        .args(["--nofile=200:200", "--"])
        .arg(crate::util::bin())
        .args(["serve", "--config"])
        .arg(&config);
    let s = Server::start_command(command);
    let mut log = s.stderr_so_far();
    assert!(
        !log.contains("open files limit"),
        "no warning at start:\n{log}"
    );
    std::fs::write(&zone, zone_with_targets(150)).unwrap();
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &s.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success());
    let deadline = Instant::now() + DEADLINE;
    while !log.contains("open files limit") {
        assert!(
            Instant::now() < deadline,
            "no warning after the reload:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
        log.push_str(&s.stderr_so_far());
    }
    // The reload itself went through.
    let r = s.dig(&["h150.many.test", "A"]);
    assert_eq!(r.rcode, "NOERROR", "{r}");
}

/// A server started with a low soft limit on open files (systemd's and
/// most shells' 1024) raises it to the hard limit: a few thousand targets
/// need that many sockets.
#[test]
fn serve_raises_the_open_files_limit_to_the_hard_limit() {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    let mut ours = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut ours) },
        0
    );
    let hard = ours.rlim_max;
    let low = (hard / 2).min(256);
    let mut command = Command::new(crate::util::bin());
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg(crate::util::fixture_zone())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only setrlimit runs, which is
    // async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: low,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut child = command.spawn().expect("spawn healthdns serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id()));
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("listening on"), "{line:?}");
    let row = limits
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files row")
        .to_owned();
    let numbers: Vec<&str> = row.split_whitespace().skip(3).take(2).collect();
    assert_eq!(
        numbers,
        [hard.to_string(), hard.to_string()],
        "soft {low} should be raised to the hard limit: {row}"
    );
}
