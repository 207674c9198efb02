//! `serve --xdp lo`: UDP over AF_XDP, IPv4 and IPv6, answers exactly as the
//! socket path.
//!
//! The XDP server runs in a network namespace of its own (`unshare --net`),
//! so attaching a program to its `lo` and the two sysctls loopback replies
//! need (see `src/server/xdp/mod.rs`) touch nothing outside the test; dig
//! joins it with `nsenter`. Needs root and a kernel with AF_XDP, and
//! `unshare`, `nsenter` (util-linux) and `ip` (iproute2): those tests are
//! ignored unless asked for (`--include-ignored`, as CI runs them as root),
//! and then fail, saying why, when anything is missing.

use std::process::Command;

use crate::util::dig::{self, Response};
use crate::util::{Server, bin, fixture_zone, which};

/// Queries that take the XDP path (plain IPv4 UDP): answers, referrals
/// are absent from the fixture, so NOERROR, NODATA, NXDOMAIN, a truncated
/// answer, EDNS and not, and a CNAME-free multi-record set.
const QUERIES: &[&[&str]] = &[
    &["www.example.com", "A"],
    &["WwW.ExAmPlE.cOm", "AAAA"],
    &["example.com", "SOA"],
    &["example.com", "NS"],
    &["mx.example.com", "MX"],
    &["www.example.com", "TXT"],
    &["nonexistent.example.com", "A"],
    &["big.example.com", "TXT", "+noedns"],
    &["big.example.com", "TXT", "+bufsize=512"],
    &["txt.example.com", "TXT", "+noedns"],
    &["_sip._tcp.example.com", "SRV"],
    &["www.example.org", "A"],
];

/// Panics with what is missing for the XDP path: root, AF_XDP or a tool.
fn require_root_and_tools() {
    if let Some(why) = missing() {
        panic!("{why}: the XDP tests need root, AF_XDP, unshare, nsenter and ip");
    }
}

fn missing() -> Option<String> {
    // CAP_NET_ADMIN (12) and CAP_SYS_ADMIN (21): a new network namespace,
    // BPF maps and programs, attaching to an interface. Root in a plain
    // container has neither.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    if effective & (1 << 12 | 1 << 21) != 1 << 12 | 1 << 21 {
        return Some("no CAP_NET_ADMIN and CAP_SYS_ADMIN (not root, or a container)".into());
    }
    let protocols = std::fs::read_to_string("/proc/net/protocols").unwrap_or_default();
    if !protocols.lines().any(|line| line.starts_with("XDP ")) {
        return Some("no AF_XDP in this kernel".into());
    }
    for tool in ["unshare", "nsenter", "ip"] {
        if which(tool).is_none() {
            return Some(format!("no {tool}"));
        }
    }
    None
}

/// The API's port inside the test's own network namespace, where every
/// port is free.
const API_PORT: u16 = 8053;
/// The IPv6 listener's port there.
const V6_PORT: u16 = 5353;

/// `healthdns serve --xdp lo --config CONFIG` (the fixture zone, the API on
/// [`API_PORT`], and `server` among the `[server]` keys) in a new network
/// namespace with lo up and loopback replies routed.
fn start_in_namespace(dir: &std::path::Path, server: &str) -> Server {
    let config = dir.join("healthdns.toml");
    let zone = std::fs::canonicalize(fixture_zone()).unwrap();
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"[::1]:{V6_PORT}\"]\n{server}\n[[zone]]\nfile = {:?}\n\
             [api]\nlisten = \"127.0.0.1:{API_PORT}\"\n",
            zone.display().to_string()
        ),
    )
    .unwrap();
    let mut command = Command::new("unshare");
    command.args(["--net", "sh", "-c"]).arg(
        "ip link set lo up && \
         echo 1 > /proc/sys/net/ipv4/conf/lo/route_localnet && \
         echo 1 > /proc/sys/net/ipv4/conf/lo/accept_local && \
         exec \"$@\"",
    );
    command
        .arg("sh")
        .arg(bin())
        .args(["serve", "--xdp", "lo", "--config"])
        .arg(config);
    Server::start_command(command)
}

/// `GET /metrics` from the API inside the namespace of `via`, with bash's
/// /dev/tcp (no HTTP client needed in the namespace).
fn metrics(via: &[&str]) -> String {
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{API_PORT} && \
         printf 'GET /metrics HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && cat <&3"
    );
    let out = Command::new(via[0])
        .args(&via[1..])
        .args(["bash", "-c", &script])
        .output()
        .expect("run nsenter bash");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.starts_with("HTTP/1."),
        "no HTTP answer from the API: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The value of the sample `line_start` (name and labels) in `text`.
fn sample(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(line_start))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

/// What must agree between the two paths: everything but the ID.
fn key(response: &Response) -> String {
    format!(
        "{} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        response.opcode,
        response.rcode,
        response.flags,
        response.edns.as_ref().map(|e| (e.version, e.udp)),
        response.question,
        response.answer,
        response.authority,
        response.additional,
        response.counts
    )
}

#[test]
#[ignore = "needs root"]
fn udp_over_xdp_answers_as_the_socket_path_does() {
    require_root_and_tools();
    let sockets = Server::fixture();
    let dir = tempfile::tempdir().unwrap();
    let xdp = start_in_namespace(dir.path(), "");
    let netns = format!("--net=/proc/{}/ns/net", xdp.pid());
    let via = ["nsenter", netns.as_str()];
    for query in QUERIES {
        let want = sockets.dig(query);
        for (server, port) in [("127.0.0.1", xdp.port()), ("::1", V6_PORT)] {
            let got = dig::run_via_at(&via, server, port, query).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                got.ok,
                "dig @{server} {query:?} over XDP failed:\n{}",
                got.output
            );
            assert_eq!(got.responses.len(), 1, "{}", got.output);
            assert_eq!(
                key(&got.responses[0]),
                key(&want),
                "dig @{server} {query:?}: XDP\n{}\nsockets\n{want}",
                got.responses[0]
            );
        }
    }
    // TCP is the kernel's as before.
    let tcp = dig::run_via_at(
        &via,
        "127.0.0.1",
        xdp.port(),
        &["www.example.com", "A", "+tcp"],
    )
    .unwrap();
    assert!(
        tcp.ok && tcp.responses[0].rcode == "NOERROR",
        "{}",
        tcp.output
    );

    // The UDP answers came from the XDP queue, not the socket behind it,
    // and the metrics say so.
    let text = metrics(&via);
    assert_eq!(sample(&text, "xdp_queues "), 1, "lo has one queue");
    let answered = sample(&text, "xdp_frames_total{result=\"answered\"} ");
    assert!(
        answered >= 2 * QUERIES.len() as u64,
        "{answered} answered:\n{text}"
    );
    assert_eq!(sample(&text, "xdp_frames_total{result=\"dropped\"} "), 0);
    let status = xdp.terminate_keep_stderr();
    assert!(status.0.success(), "exit: {:?}\n{}", status.0, status.1);
    let stopped = status
        .1
        .lines()
        .find(|line| line.contains("XDP queue stopped"))
        .unwrap_or_else(|| panic!("no `XDP queue stopped` line:\n{}", status.1));
    let answered: u64 = stopped
        .split_whitespace()
        .find_map(|word| word.strip_prefix("answered="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no answered= in {stopped:?}"));
    assert!(
        answered >= 2 * QUERIES.len() as u64,
        "only {answered} of {} UDP queries took the XDP path: {stopped}",
        2 * QUERIES.len()
    );
}

#[test]
#[ignore = "needs root"]
fn with_udp_coalesce_the_xdp_queue_answers_every_query() {
    require_root_and_tools();
    let dir = tempfile::tempdir().unwrap();
    // The longest pause, at any load. dig asks one query at a time, and a
    // worker that took one query since it last waited does not pause: this
    // checks that the pause's bookkeeping loses no query on the XDP path.
    let xdp = start_in_namespace(dir.path(), "udp-coalesce = \"1ms\"\nudp-coalesce-load = 0");
    let netns = format!("--net=/proc/{}/ns/net", xdp.pid());
    let via = ["nsenter", netns.as_str()];
    let queries: Vec<&str> = ["www.example.com", "A"].repeat(40);
    let got = dig::run_via_at(&via, "127.0.0.1", xdp.port(), &queries).unwrap();
    assert_eq!(got.responses.len(), 40, "{}", got.output);
    assert!(
        got.responses
            .iter()
            .all(|r| r.rcode == "NOERROR" && !r.answer.is_empty()),
        "{}",
        got.output
    );
    let text = metrics(&via);
    let answered = sample(&text, "xdp_frames_total{result=\"answered\"} ");
    assert!(answered >= 40, "{answered} answered over XDP:\n{text}");
    let (status, stderr) = xdp.terminate_keep_stderr();
    assert!(status.success(), "exit: {status:?}\n{stderr}");
    assert!(
        stderr.contains("udp-coalesce"),
        "the pause is logged:\n{stderr}"
    );
}

#[test]
fn a_bad_xdp_interface_is_a_clear_start_up_error() {
    let fixture = fixture_zone();
    for (interface, expected) in [
        ("nosuch0", "XDP on nosuch0: cannot find the interface"),
        (
            "eth 0",
            "--xdp: xdp interface \"eth 0\" is not an interface name",
        ),
    ] {
        let out = crate::util::run_healthdns(&[
            "serve".as_ref(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--xdp".as_ref(),
            interface.as_ref(),
            fixture.as_os_str(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{interface}: started anyway");
        assert!(stderr.contains(expected), "{interface}: {stderr}");
        // The kernel's reason once, not repeated by the error chain.
        assert!(stderr.matches("os error").count() <= 1, "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
