//! Calculated checks end to end: a failover set whose two members are
//! each judged by an `all`, `any` or `at-least` check over TCP checks of
//! their own address, each child on its own port, served by fake TCP
//! backends (one per member on each child's port) the test closes and
//! opens.

use std::net::SocketAddr;

use super::{DEADLINE, assert_answer, check_section, serve_with_api, target_status, wait_answer};
use crate::util::backend::{TcpBackend, TcpMode};

const PRIMARY: &str = "127.0.0.41";
const SECONDARY: &str = "127.0.0.42";

/// A child check: its backends on the primary and the secondary, one port.
struct Child {
    name: &'static str,
    primary: TcpBackend,
    _secondary: TcpBackend,
}

impl Child {
    fn new(name: &'static str) -> Child {
        let (primary, secondary) = TcpBackend::pair_on_one_port(PRIMARY, SECONDARY);
        Child {
            name,
            primary,
            _secondary: secondary,
        }
    }

    /// `[check.NAME]`: a TCP check on its port (every 200 ms within 100 ms).
    fn check(&self) -> String {
        check_section(
            self.name,
            "tcp",
            &[("port", &self.primary.port().to_string())],
        )
    }

    /// Waits until the primary's backend saw `more` probes past now.
    fn wait_probes(&self, more: usize) {
        let seen = self.primary.connections();
        self.primary.wait_connections(seen + more, DEADLINE);
    }
}

/// `[check.app]` of `kind` over `children` (every 200 ms, fall 2, rise 2;
/// no timeout of its own), with `extra` lines.
fn calculated(kind: &str, children: &[&Child], extra: &str) -> String {
    let names: Vec<String> = children.iter().map(|c| format!("{:?}", c.name)).collect();
    format!(
        "[check.app]\ntype = {kind:?}\nchecks = [{}]\ninterval = \"200ms\"\nfall = 2\nrise = 2\n{extra}\n",
        names.join(", ")
    )
}

/// The set `app`, both members judged by `app`, served with its checks.
fn serve(children: &[&Child], app: String) -> (super::Env, SocketAddr) {
    let records = format!(
        "app 30 IN A {PRIMARY} ; healthdns failover=primary check=app\n\
         app 30 IN A {SECONDARY} ; healthdns failover=secondary check=app\n"
    );
    let mut checks: Vec<String> = children.iter().map(|c| c.check()).collect();
    checks.push(app);
    serve_with_api(&records, &checks)
}

/// Probes of several intervals, enough for fall and rise twice over.
const SETTLE: usize = 8;

#[test]
fn all_follows_a_flapping_child() {
    let (web, db) = (Child::new("web"), Child::new("db"));
    let (env, api) = serve(&[&web, &db], calculated("all", &[&web, &db], ""));
    let s = &env.server;
    wait_answer(s, "app", "A", &[PRIMARY]);
    for _ in 0..2 {
        db.primary.set(TcpMode::Closed);
        wait_answer(s, "app", "A", &[SECONDARY]);
        let target = target_status(api, &format!("{PRIMARY}:0/app"));
        let reason = target["last_transition"]["reason"]
            .as_str()
            .unwrap_or_default();
        assert!(
            reason.starts_with("1 of 2 passed, 2 needed; failed: db: connect: "),
            "the reason names the child that failed: {target:#}"
        );
        assert_eq!(target["last_transition"]["class"], "connect", "{target:#}");
        db.primary.set(TcpMode::Open);
        wait_answer(s, "app", "A", &[PRIMARY]);
    }
}

#[test]
fn any_stays_up_while_one_child_flaps_and_falls_when_all_do() {
    let (web, db) = (Child::new("web"), Child::new("db"));
    let (env, _api) = serve(&[&web, &db], calculated("any", &[&web, &db], ""));
    let s = &env.server;
    wait_answer(s, "app", "A", &[PRIMARY]);
    for _ in 0..2 {
        db.primary.set(TcpMode::Closed);
        web.wait_probes(SETTLE);
        assert_answer(s, "app", "A", &[PRIMARY], "web alone still passes");
        db.primary.set(TcpMode::Open);
        db.wait_probes(SETTLE);
        assert_answer(s, "app", "A", &[PRIMARY], "both pass");
    }
    web.primary.set(TcpMode::Closed);
    db.primary.set(TcpMode::Closed);
    wait_answer(s, "app", "A", &[SECONDARY]);
    web.primary.set(TcpMode::Open);
    wait_answer(s, "app", "A", &[PRIMARY]);
}

#[test]
fn at_least_two_of_three_stays_up_with_one_down_and_falls_with_two() {
    let (web, db, cache) = (Child::new("web"), Child::new("db"), Child::new("cache"));
    let children = [&web, &db, &cache];
    let (env, api) = serve(&children, calculated("at-least", &children, "count = 2"));
    let s = &env.server;
    wait_answer(s, "app", "A", &[PRIMARY]);
    for _ in 0..2 {
        cache.primary.set(TcpMode::Closed);
        web.wait_probes(SETTLE);
        assert_answer(s, "app", "A", &[PRIMARY], "two of three pass");
        cache.primary.set(TcpMode::Open);
        cache.wait_probes(SETTLE);
    }
    cache.primary.set(TcpMode::Closed);
    db.primary.set(TcpMode::Closed);
    wait_answer(s, "app", "A", &[SECONDARY]);
    let target = target_status(api, &format!("{PRIMARY}:0/app"));
    let reason = target["last_transition"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.starts_with("1 of 3 passed, 2 needed; failed: db: connect: ")
            && reason.contains(", cache: connect: "),
        "the reason names both children that failed: {target:#}"
    );
    db.primary.set(TcpMode::Open);
    wait_answer(s, "app", "A", &[PRIMARY]);
}
