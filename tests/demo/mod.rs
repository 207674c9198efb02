//! `healthdns demo`: the failover example with two demo backends, driven
//! from its standard input as a newcomer would from the keyboard.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::{bin, dig, free_port};

/// A port free on both demo backend addresses.
fn backend_port() -> u16 {
    loop {
        let primary = TcpListener::bind("127.0.0.21:0").unwrap();
        let port = primary.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.22", port)).is_ok() {
            return port;
        }
    }
}

/// Reads `lines` until one contains `want`; panics with what it read
/// after a minute.
fn wait_line(lines: &mpsc::Receiver<String>, want: &str, seen: &mut String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(want) {
                    return;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {want:?} in:\n{seen}");
}

#[test]
fn the_demo_fails_over_when_the_primary_is_stopped_and_back_when_it_starts() {
    let (dns, api) = (free_port(), free_port());
    let backend = backend_port();
    let mut child = Command::new(bin())
        .args([
            "demo",
            "--port",
            &dns.to_string(),
            "--api-port",
            &api.to_string(),
        ])
        .args(["--backend-port", &backend.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut seen = String::new();
    wait_line(
        &lines,
        "app.failover.test. A -> 127.0.0.21 (primary)",
        &mut seen,
    );
    let config = seen
        .lines()
        .find_map(|l| l.trim().strip_prefix("from "))
        .map(|path| path.trim_end_matches('.').to_owned())
        .unwrap_or_else(|| panic!("where the example is written:\n{seen}"));
    assert!(std::path::Path::new(&config).is_file(), "{config}");

    stdin.write_all(b"1\n").unwrap();
    wait_line(&lines, "primary stopped", &mut seen);
    wait_line(
        &lines,
        "app.failover.test. A -> 127.0.0.22 (secondary)",
        &mut seen,
    );
    let answer = dig::query(dns, &["app.failover.test.", "A"]);
    assert_eq!(
        answer
            .answer_of("A")
            .iter()
            .map(|rr| rr.rdata.as_str())
            .collect::<Vec<_>>(),
        ["127.0.0.22"],
        "{answer:?}"
    );

    stdin.write_all(b"1\n").unwrap();
    wait_line(&lines, "primary started", &mut seen);
    wait_line(
        &lines,
        "app.failover.test. A -> 127.0.0.21 (primary)",
        &mut seen,
    );

    stdin.write_all(b"q\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo did not stop:\n{seen}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(
        !std::path::Path::new(&config).exists(),
        "its temporary directory is removed"
    );
}
