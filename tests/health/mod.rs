//! Health-aware record sets end to end: the real server probing fake
//! backends ([`crate::util::backend`]) on loopback, answers seen through dig
//! or a raw UDP client ([`dns`]).
//!
//! | file | covers |
//! |---|---|
//! | `failover` | primary → secondary on 500 / hang / closed and back; manual failback, and after a total outage the held secondary before the dead primary; three tiers |
//! | `all_down` | every `all-down` mode of a failover set, and the defaults |
//! | `battery` | the rest of the zone and the response shape in every health situation |
//! | `multivalue` | healthy members only, at most `max`, shuffled |
//! | `weighted` | shares within tolerance of the weights, down members and weight 0 |
//! | `checks` | body and status mismatches, `initial = "down"`, TCP checks, what a probe sends |
//! | `records` | TTL of dynamic answers, A and AAAA sets apart, NODATA |
//! | `fake` | the fake backends themselves |
//! | `https` | HTTPS checks against a self-signed `openssl s_server`: tls-verify off and on |
//! | `check_cmd` | `healthdns check` on annotation and check-reference errors |
//! | `source` | `source =`: where probes leave from, a backend failing one source, a wrong family |
//! | `exec` | exec checks: exit status and reason, a hanging command killed with its process group and reaped, what a command leaves behind killed, 200 targets on schedule |
//! | `calculated` | all, any and at-least checks over TCP children on one address, one child flapping |
//!
//! Every test writes its own zone and config into a tempdir. Checks run
//! every 200 ms with a 100 ms timeout, fall 2, rise 2 unless the test is
//! about those. Tests wait on conditions (dig polled every 150 ms, 30 s
//! deadline); none asserts how long a change took.

mod all_down;
mod battery;
mod calculated;
mod check_cmd;
mod checks;
mod dns;
mod exec;
mod failover;
mod fake;
mod https;
mod multivalue;
mod records;
mod source;
mod weighted;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::http::{self, Metrics};
use crate::util::{Response, Server, free_port};

/// Generous: the tests wait on the server, never measure it.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Between two polls of dig.
pub const POLL: Duration = Duration::from_millis(150);

/// The origin every test zone uses.
pub const ORIGIN: &str = "h.test";

/// A server with its tempdir (kept alive as long as the server).
pub struct Env {
    pub server: Server,
    _dir: tempfile::TempDir,
}

impl Env {
    /// The config file, to rewrite before a reload.
    pub fn config(&self) -> PathBuf {
        self._dir.path().join("healthdns.toml")
    }
}

/// The zone head (SOA, NS, glue) followed by `records`.
pub fn zone_text(records: &str) -> String {
    format!(
        "$ORIGIN {ORIGIN}.\n$TTL 300\n\
         @   300 IN SOA ns.{ORIGIN}. hostmaster.{ORIGIN}. 1 7200 3600 1209600 60\n\
         @   300 IN NS  ns.{ORIGIN}.\n\
         ns  300 IN A   192.0.2.1\n\
         {records}\n"
    )
}

/// `[check.NAME]` with the test defaults (interval 200ms, timeout 100ms,
/// fall 2, rise 2), `type`, and `extra` keys (TOML values as written) that
/// override or add to them.
pub fn check_section(name: &str, kind: &str, extra: &[(&str, &str)]) -> String {
    let kind = format!("{kind:?}");
    let mut keys: Vec<(&str, &str)> = vec![
        ("type", &kind),
        ("interval", "\"200ms\""),
        ("timeout", "\"100ms\""),
        ("fall", "2"),
        ("rise", "2"),
    ];
    for (k, v) in extra {
        match keys.iter_mut().find(|(key, _)| key == k) {
            Some(kv) => kv.1 = v,
            None => keys.push((k, v)),
        }
    }
    let mut s = format!("[check.{name}]\n");
    for (k, v) in keys {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s
}

/// An HTTP check probing `/health`.
pub fn http_check(name: &str, extra: &[(&str, &str)]) -> String {
    let mut all = vec![("path", "\"/health\"")];
    all.extend_from_slice(extra);
    check_section(name, "http", &all)
}

/// Writes `h.test.zone` and `healthdns.toml` into a tempdir; returns the
/// config path.
pub fn write_config(dir: &std::path::Path, records: &str, checks: &[String]) -> PathBuf {
    std::fs::write(dir.join("h.test.zone"), zone_text(records)).unwrap();
    let mut config = checks.join("\n");
    config.push_str("\n[[zone]]\nfile = \"h.test.zone\"\n");
    let path = dir.join("healthdns.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// Starts `healthdns serve --config` on the zone `records` and the checks.
pub fn serve(records: &str, checks: &[String]) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), records, checks);
    let server = Server::start_args(&["serve".as_ref(), "--config".as_ref(), path.as_os_str()]);
    Env { server, _dir: dir }
}

/// [`serve`] with `[api]` on a free loopback port, once the API answers;
/// also returns the API's address.
pub fn serve_with_api(records: &str, checks: &[String]) -> (Env, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), records, checks);
    let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("\n[api]\nlisten = \"{api}\"\n"));
    std::fs::write(&path, text).unwrap();
    let server = Server::start_args(&["serve".as_ref(), "--config".as_ref(), path.as_os_str()]);
    let deadline = Instant::now() + DEADLINE;
    while !http::request(api, "GET", "/healthz", &[], None).is_ok_and(|r| r.status == 200) {
        assert!(
            Instant::now() < deadline,
            "the API on {api} never answered; server stderr:\n{}",
            server.stderr_so_far()
        );
        thread::sleep(POLL);
    }
    (Env { server, _dir: dir }, api)
}

/// `GET /api/v1/status` as JSON.
pub fn status(api: SocketAddr) -> Value {
    let reply = http::request(api, "GET", "/api/v1/status", &[], None)
        .unwrap_or_else(|e| panic!("GET /api/v1/status: {e}"));
    assert_eq!(reply.status, 200, "{reply}");
    reply.json()
}

/// The status of the target whose `ADDRESS:PORT/CHECK` is `key`.
#[track_caller]
pub fn target_status(api: SocketAddr, key: &str) -> Value {
    let all = status(api);
    all["targets"]
        .as_array()
        .and_then(|targets| targets.iter().find(|t| t["target"] == key))
        .cloned()
        .unwrap_or_else(|| panic!("no target {key} in {all:#}"))
}

/// `GET /metrics`, parsed.
pub fn metrics(api: SocketAddr) -> Metrics {
    let reply = http::request(api, "GET", "/metrics", &[], None)
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
    assert_eq!(reply.status, 200, "{reply}");
    Metrics::parse(&reply.body).unwrap_or_else(|e| panic!("{e}"))
}

/// `NAME.h.test`.
pub fn fqdn(name: &str) -> String {
    format!("{name}.{ORIGIN}")
}

/// The RDATA of the answer records of type `rtype`, sorted.
pub fn rdata(r: &Response, rtype: &str) -> Vec<String> {
    let mut v: Vec<String> = r
        .answer
        .iter()
        .filter(|rr| rr.rtype == rtype)
        .map(|rr| rr.rdata.clone())
        .collect();
    v.sort();
    v
}

/// Queries `NAME.h.test RTYPE` with dig.
pub fn ask(s: &Server, name: &str, rtype: &str) -> Response {
    s.dig(&[&fqdn(name), rtype])
}

/// Polls dig until `ok` holds for the response; panics after [`DEADLINE`]
/// with the last response and what the server logged.
pub fn wait_for(
    s: &Server,
    name: &str,
    rtype: &str,
    what: &str,
    ok: impl Fn(&Response) -> bool,
) -> Response {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let r = ask(s, name, rtype);
        if ok(&r) {
            return r;
        }
        if Instant::now() > deadline {
            panic!(
                "{name} {rtype}: waited {DEADLINE:?} for {what}; last response:\n{r}\nserver stderr:\n{}",
                s.stderr_so_far()
            );
        }
        thread::sleep(POLL);
    }
}

/// Polls until the answer is NOERROR with exactly the records `want`
/// (RDATA of type `rtype`, any order).
pub fn wait_answer(s: &Server, name: &str, rtype: &str, want: &[&str]) -> Response {
    let mut want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
    want.sort();
    wait_for(s, name, rtype, &format!("answer {want:?}"), |r| {
        r.rcode == "NOERROR" && rdata(r, rtype) == want && r.answer.len() == want.len()
    })
}

/// Asserts the current answer is NOERROR with exactly `want`.
#[track_caller]
pub fn assert_answer(s: &Server, name: &str, rtype: &str, want: &[&str], why: &str) {
    let r = ask(s, name, rtype);
    let mut want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
    want.sort();
    assert_eq!(r.rcode, "NOERROR", "{why}: {name} {rtype}:\n{r}");
    assert_eq!(rdata(&r, rtype), want, "{why}: {name} {rtype}:\n{r}");
    assert_eq!(r.answer.len(), want.len(), "{why}: {name} {rtype}:\n{r}");
}

/// NOERROR, nothing in the answer, the zone's SOA in the authority section.
pub fn is_nodata(r: &Response) -> bool {
    r.rcode == "NOERROR"
        && r.answer.is_empty()
        && r.authority
            .iter()
            .any(|rr| rr.rtype == "SOA" && rr.owner == format!("{ORIGIN}."))
}
