//! `[cluster]` end to end: three real `healthdns serve` instances on one
//! real etcd, probing fake backends on loopback, each from its own source
//! address (127.0.0.2, .3, .4) where a test needs them to disagree.
//!
//! Checks run every 200 ms (timeout 100 ms, fall 2, rise 2) and views live
//! 2 s after an instance dies. Tests wait on conditions with generous
//! deadlines; how fast the instances agree is measured by
//! `benches/cluster.rs`, not asserted here.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::backend::{HttpBackend, HttpMode};
use crate::util::etcd::Etcd;
use crate::util::{Server, free_port, http};

/// Generous: the tests wait, never measure.
const DEADLINE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// One instance: the server, its API port and its files.
struct Instance {
    name: String,
    server: Server,
    api: u16,
    _dir: tempfile::TempDir,
}

/// The zone: `api` fails over from the primary backend to the secondary.
fn zone(primary: &HttpBackend, secondary: &HttpBackend) -> String {
    format!(
        "$ORIGIN c.test.\n$TTL 300\n\
         @ IN SOA ns hostmaster 1 7200 3600 1209600 60\n@ IN NS ns\nns IN A 192.0.2.1\n\
         api 5 IN A {} ; healthdns failover=primary check=web\n\
         api 5 IN A {} ; healthdns failover=secondary check=web\n",
        primary.addr().ip(),
        secondary.addr().ip(),
    )
}

impl Instance {
    /// Starts instance `name` of the cluster under `prefix` on `etcd`
    /// with `extra` keys in its `[cluster]` (none: alone), its probes sent
    /// from `source`.
    fn start(
        name: &str,
        etcd: Option<(&Etcd, &str, &str)>,
        source: Option<&str>,
        backends: (&HttpBackend, &HttpBackend),
    ) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.test.zone"), zone(backends.0, backends.1)).unwrap();
        let api = free_port();
        let mut config = format!(
            "[check.web]\ntype = \"http\"\nport = {}\npath = \"/health\"\n\
             interval = \"200ms\"\ntimeout = \"100ms\"\nfall = 2\nrise = 2\n",
            backends.0.port()
        );
        if let Some(source) = source {
            config.push_str(&format!("source = \"{source}\"\n"));
        }
        config.push_str(&format!(
            "[[zone]]\nfile = \"c.test.zone\"\n[api]\nlisten = \"127.0.0.1:{api}\"\n"
        ));
        if let Some((etcd, prefix, extra)) = etcd {
            config.push_str(&format!(
                "[cluster]\netcd = [\"{}\"]\nname = \"{name}\"\nprefix = \"{prefix}\"\n\
                 observation-ttl = \"2s\"\n{extra}",
                etcd.endpoint()
            ));
        }
        let path = dir.path().join("healthdns.toml");
        std::fs::write(&path, config).unwrap();
        let server = Server::start_args(&["serve".as_ref(), "--config".as_ref(), path.as_os_str()]);
        Instance {
            name: name.to_owned(),
            server,
            api,
            _dir: dir,
        }
    }

    /// Stops it with SIGTERM and starts it again on the same config, once
    /// `meanwhile` has run; returns once it says it listens.
    fn restart(self, meanwhile: impl FnOnce()) -> Instance {
        let Instance {
            name,
            server,
            api,
            _dir: dir,
        } = self;
        let (status, log) = server.terminate_keep_stderr();
        assert!(status.success(), "{name}: SIGTERM: {status}\n{log}");
        meanwhile();
        let path = dir.path().join("healthdns.toml");
        let server = Server::start_args(&["serve".as_ref(), "--config".as_ref(), path.as_os_str()]);
        Instance {
            name,
            server,
            api,
            _dir: dir,
        }
    }

    /// The addresses `api.c.test A` answers now.
    fn answer(&self) -> Vec<String> {
        let r = self.server.dig(&["api.c.test", "A"]);
        let mut v: Vec<String> = r.answer.iter().map(|rr| rr.rdata.clone()).collect();
        v.sort();
        v
    }

    fn get(&self, path: &str) -> Result<http::Reply, String> {
        http::request(([127, 0, 0, 1], self.api).into(), "GET", path, &[], None)
            .map_err(|e| e.to_string())
    }

    /// `GET /api/v1/status`.
    fn status(&self) -> Result<Value, String> {
        let reply = self.get("/api/v1/status")?;
        if reply.status != 200 {
            return Err(format!("{reply}"));
        }
        Ok(reply.json())
    }

    /// `POST /api/v1/targets/{target}/override`.
    fn set_override(&self, target: &str, body: &str) {
        let path = format!("/api/v1/targets/{}/override", http::percent_encode(target));
        let reply = http::request(
            ([127, 0, 0, 1], self.api).into(),
            "POST",
            &path,
            &[("Content-Type", "application/json")],
            Some(body),
        )
        .expect("POST override");
        assert_eq!(reply.status, 200, "{reply}");
    }

    /// The status's `cluster` object.
    fn cluster(&self) -> Result<Value, String> {
        Ok(self.status()?["cluster"].clone())
    }
}

/// A prefix no other test uses, so tests can share nothing by accident.
fn prefix(test: &str) -> String {
    format!("/healthdns-test/{test}/{}", std::process::id())
}

/// Polls `cond` until it holds; panics with `what` and the last state.
fn wait(what: &str, mut cond: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let last = match cond() {
            Ok(()) => return,
            Err(last) => last,
        };
        assert!(
            Instant::now() < deadline,
            "waited {DEADLINE:?} for {what}; last:\n{last}"
        );
        thread::sleep(POLL);
    }
}

/// Waits until every instance answers `want`.
fn wait_answers(instances: &[&Instance], want: &str, what: &str) {
    wait(what, || {
        let answers: Vec<(String, Vec<String>)> = instances
            .iter()
            .map(|i| (i.name.clone(), i.answer()))
            .collect();
        if answers.iter().all(|(_, a)| a == &[want.to_owned()]) {
            Ok(())
        } else {
            Err(format!("{answers:?}"))
        }
    });
}

/// Waits until every instance sees `members` instances, connected.
fn wait_members(instances: &[&Instance], members: usize) {
    wait(&format!("{members} connected members everywhere"), || {
        for instance in instances {
            let cluster = instance.cluster()?;
            let seen = cluster["members"].as_array().map_or(0, Vec::len);
            if cluster["connected"] != true || seen != members {
                return Err(format!("{}: {cluster}", instance.name));
            }
        }
        Ok(())
    });
}

/// Three instances on one etcd, and the two backends.
struct Fleet {
    etcd: Etcd,
    primary: HttpBackend,
    /// Kept running for the instances' probes.
    secondary: HttpBackend,
    instances: Vec<Instance>,
}

impl Fleet {
    fn start(test: &str, sources: [Option<&str>; 3]) -> Fleet {
        Fleet::start_with(test, sources, "")
    }

    /// [`Fleet::start`] with `extra` keys in every `[cluster]`.
    fn start_with(test: &str, sources: [Option<&str>; 3], extra: &str) -> Fleet {
        let etcd = Etcd::start();
        let (primary, secondary) = HttpBackend::pair_on_one_port("127.0.0.21", "127.0.0.22");
        let prefix = prefix(test);
        let instances: Vec<Instance> = ["ns1", "ns2", "ns3"]
            .iter()
            .zip(sources)
            .map(|(name, source)| {
                Instance::start(
                    name,
                    Some((&etcd, &prefix, extra)),
                    source,
                    (&primary, &secondary),
                )
            })
            .collect();
        let fleet = Fleet {
            etcd,
            primary,
            secondary,
            instances,
        };
        wait_members(&fleet.all(), 3);
        fleet
    }

    fn all(&self) -> Vec<&Instance> {
        self.instances.iter().collect()
    }

    fn primary_target(&self) -> String {
        format!("{}/web", self.primary.addr())
    }

    /// The primary's entry in instance `i`'s status.
    fn primary_status(&self, i: usize) -> Result<Value, String> {
        let status = self.instances[i].status()?;
        let key = self.primary_target();
        status["targets"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["target"] == key.as_str()))
            .cloned()
            .ok_or_else(|| format!("no {key} in {status}"))
    }
}

#[test]
fn an_override_through_one_instance_is_obeyed_by_all() {
    let fleet = Fleet::start("override", [None; 3]);
    let all = fleet.all();
    wait_answers(&all, "127.0.0.21", "the primary everywhere");
    fleet.instances[0].set_override(&fleet.primary_target(), r#"{"state": "down"}"#);
    wait_answers(
        &all,
        "127.0.0.22",
        "the drain made through ns1 obeyed by all",
    );
    fleet.instances[1].set_override(&fleet.primary_target(), r#"{"state": "auto"}"#);
    wait_answers(
        &all,
        "127.0.0.21",
        "back to the checks, asked of ns2, everywhere",
    );
}

#[test]
fn a_backend_really_down_moves_every_instance_and_back() {
    let fleet = Fleet::start("down", [None; 3]);
    let all = fleet.all();
    wait_answers(&all, "127.0.0.21", "the primary everywhere");
    fleet.primary.set(HttpMode::Status(503));
    wait_answers(&all, "127.0.0.22", "the secondary everywhere");
    // Every instance's view is down, and each says so.
    wait("three down votes on the primary", || {
        let target = fleet.primary_status(2)?;
        let views = &target["views"];
        if ["ns1", "ns2", "ns3"].iter().all(|n| views[n] == "down") && target["state"] == "down" {
            Ok(())
        } else {
            Err(target.to_string())
        }
    });
    fleet.primary.set(HttpMode::Healthy);
    wait_answers(&all, "127.0.0.21", "the primary everywhere again");
}

#[test]
fn without_etcd_answers_stay_and_the_instances_converge_when_it_returns() {
    let mut fleet = Fleet::start("outage", [None; 3]);
    wait_answers(&fleet.all(), "127.0.0.21", "the primary everywhere");
    fleet.etcd.stop();
    wait("every instance to say it lost etcd", || {
        for instance in &fleet.instances {
            let cluster = instance.cluster()?;
            if cluster["connected"] != false || cluster["partition"] != "freeze" {
                return Err(format!("{}: {cluster}", instance.name));
            }
        }
        Ok(())
    });
    // Frozen: the last verdicts keep answering.
    for instance in &fleet.instances {
        assert_eq!(instance.answer(), ["127.0.0.21"], "{}", instance.name);
    }
    let metrics = fleet.instances[0].get("/metrics").expect("metrics");
    assert!(
        metrics.body.contains("cluster_connected 0\n"),
        "{}",
        metrics.body
    );
    fleet.etcd.start_again();
    wait_members(&fleet.all(), 3);
    // Agreeing again: a drain through one instance reaches the others.
    fleet.instances[2].set_override(&fleet.primary_target(), r#"{"state": "down"}"#);
    wait_answers(&fleet.all(), "127.0.0.22", "the drain after etcd came back");
}

/// Waits until `instance` reports these views of the primary.
fn wait_views(fleet: &Fleet, instance: usize, want: &[(&str, &str)]) {
    wait(&format!("views {want:?}"), || {
        let target = fleet.primary_status(instance)?;
        let views = target["views"].as_object().cloned().unwrap_or_default();
        let matches = views.len() == want.len()
            && want
                .iter()
                .all(|(name, health)| views.get(*name).is_some_and(|v| v == health));
        if matches {
            Ok(())
        } else {
            Err(target.to_string())
        }
    });
}

#[test]
fn a_target_one_instance_sees_down_stays_in_every_answer_but_alone_it_fails_over() {
    let fleet = Fleet::start(
        "minority",
        [Some("127.0.0.2"), Some("127.0.0.3"), Some("127.0.0.4")],
    );
    // The same vantage point without the cluster: it decides alone.
    let alone = Instance::start(
        "alone",
        None,
        Some("127.0.0.4"),
        (&fleet.primary, &fleet.secondary),
    );
    wait_answers(&fleet.all(), "127.0.0.21", "the primary everywhere");
    fleet.primary.set_from("127.0.0.4", HttpMode::Status(503));
    wait_answers(&[&alone], "127.0.0.22", "the lone instance failing over");
    wait_views(&fleet, 0, &[("ns1", "up"), ("ns2", "up"), ("ns3", "down")]);
    for instance in &fleet.instances {
        assert_eq!(
            instance.answer(),
            ["127.0.0.21"],
            "{} follows the majority, not ns3's view",
            instance.name
        );
    }
}

#[test]
fn a_killed_instance_s_views_expire_and_the_verdict_follows_the_rest() {
    let mut fleet = Fleet::start(
        "killed",
        [Some("127.0.0.2"), Some("127.0.0.3"), Some("127.0.0.4")],
    );
    wait_answers(&fleet.all(), "127.0.0.21", "the primary everywhere");
    fleet.primary.set_from("127.0.0.3", HttpMode::Status(503));
    fleet.primary.set_from("127.0.0.4", HttpMode::Status(503));
    wait_answers(&fleet.all(), "127.0.0.22", "two of three see it down");
    // SIGKILL: no goodbye; its lease (2 s) has to run out.
    drop(fleet.instances.pop());
    wait_members(&fleet.all(), 2);
    wait_views(&fleet, 0, &[("ns1", "up"), ("ns2", "down")]);
    wait_answers(
        &fleet.all(),
        "127.0.0.21",
        "one of two down is no majority: the primary again",
    );
}

#[test]
fn healthdns_status_shows_each_instance_s_view_and_the_verdict() {
    let fleet = Fleet::start(
        "status",
        [Some("127.0.0.2"), Some("127.0.0.3"), Some("127.0.0.4")],
    );
    fleet.primary.set_from("127.0.0.4", HttpMode::Status(503));
    wait_views(&fleet, 1, &[("ns1", "up"), ("ns2", "up"), ("ns3", "down")]);
    let api = format!("http://127.0.0.1:{}", fleet.instances[1].api);
    let out = crate::util::run_healthdns(&["status".as_ref(), "--api".as_ref(), api.as_ref()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("cluster: ns2 connected to etcd, 3 member(s): ns1 ns2 ns3; quorum majority"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with(&fleet.primary_target()))
        .unwrap_or_else(|| panic!("no row for the primary:\n{text}"));
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(fields[1], "up", "the verdict: {row}");
    assert!(row.ends_with("ns1:up ns2:up ns3:down"), "{row}");
}

/// Turns etcd's authentication on: user `root` and user `hd`, who may
/// read and write under `prefix` only.
fn enable_auth(etcd: &Etcd, prefix: &str) {
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let end = {
        let mut end = prefix.to_owned();
        let last = end.pop().unwrap();
        end.push((last as u8 + 1) as char);
        end
    };
    let calls = [
        (
            "/v3/auth/user/add",
            r#"{"name":"root","password":"rootpw"}"#.to_owned(),
        ),
        (
            "/v3/auth/user/grant",
            r#"{"user":"root","role":"root"}"#.to_owned(),
        ),
        (
            "/v3/auth/user/add",
            r#"{"name":"hd","password":"hdpw"}"#.to_owned(),
        ),
        ("/v3/auth/role/add", r#"{"name":"hd"}"#.to_owned()),
        (
            "/v3/auth/role/grant",
            format!(
                r#"{{"name":"hd","perm":{{"permType":"READWRITE","key":"{}","range_end":"{}"}}}}"#,
                b64(prefix),
                b64(&end)
            ),
        ),
        (
            "/v3/auth/user/grant",
            r#"{"user":"hd","role":"hd"}"#.to_owned(),
        ),
        ("/v3/auth/enable", "{}".to_owned()),
    ];
    for (path, body) in calls {
        let reply = http::request(
            ([127, 0, 0, 1], etcd.port).into(),
            "POST",
            path,
            &[("Content-Type", "application/json")],
            Some(&body),
        )
        .expect("etcd auth call");
        assert_eq!(reply.status, 200, "{path} {body}: {reply}");
    }
}

#[test]
fn with_etcd_credentials_it_joins_and_with_wrong_ones_it_says_why() {
    let etcd = Etcd::start();
    let prefix = prefix("auth");
    enable_auth(&etcd, &format!("{prefix}/"));
    let (primary, secondary) = HttpBackend::pair_on_one_port("127.0.0.21", "127.0.0.22");
    let start = |name: &str, password: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.test.zone"), zone(&primary, &secondary)).unwrap();
        let api = free_port();
        let config = format!(
            "[check.web]\ntype = \"http\"\nport = {}\npath = \"/health\"\ninterval = \"200ms\"\n\
             timeout = \"100ms\"\n[[zone]]\nfile = \"c.test.zone\"\n\
             [api]\nlisten = \"127.0.0.1:{api}\"\n\
             [cluster]\netcd = [\"{}\"]\nname = \"{name}\"\nprefix = \"{prefix}\"\n\
             observation-ttl = \"2s\"\nusername = \"hd\"\npassword = \"{password}\"\n",
            primary.port(),
            etcd.endpoint()
        );
        let path = dir.path().join("healthdns.toml");
        std::fs::write(&path, config).unwrap();
        let server = Server::start_args(&["serve".as_ref(), "--config".as_ref(), path.as_os_str()]);
        Instance {
            name: name.to_owned(),
            server,
            api,
            _dir: dir,
        }
    };
    let good = start("ns1", "hdpw");
    wait_members(&[&good], 1);
    let bad = start("ns2", "nope");
    wait("the refused instance to say why", || {
        let log = bad.server.stderr_so_far();
        if log.contains("cannot reach etcd") && log.contains("authentication failed") {
            Ok(())
        } else {
            Err(log)
        }
    });
    assert_eq!(bad.cluster().unwrap()["connected"], false);
    assert_eq!(bad.answer(), ["127.0.0.21"], "it answers by its own checks");
}

#[test]
fn with_partition_local_an_instance_without_etcd_follows_its_own_checks() {
    let mut fleet = Fleet::start_with(
        "local",
        [Some("127.0.0.2"), Some("127.0.0.3"), Some("127.0.0.4")],
        "partition = \"local\"\n",
    );
    wait_answers(&fleet.all(), "127.0.0.21", "the primary everywhere");
    fleet.etcd.stop();
    wait("every instance to say it lost etcd", || {
        for instance in &fleet.instances {
            let cluster = instance.cluster()?;
            if cluster["connected"] != false || cluster["partition"] != "local" {
                return Err(format!("{}: {cluster}", instance.name));
            }
        }
        Ok(())
    });
    // Seen down from ns3's vantage point only: alone again, ns3 fails
    // over; the others, whose checks pass, keep the primary.
    fleet.primary.set_from("127.0.0.4", HttpMode::Status(503));
    wait_answers(
        &[&fleet.instances[2]],
        "127.0.0.22",
        "ns3 on its own checks",
    );
    for instance in &fleet.instances[..2] {
        assert_eq!(instance.answer(), ["127.0.0.21"], "{}", instance.name);
    }
    // Back together: the majority's verdict again.
    fleet.etcd.start_again();
    wait_members(&fleet.all(), 3);
    wait_answers(
        &fleet.all(),
        "127.0.0.21",
        "the majority's verdict once etcd is back",
    );
}

#[test]
fn over_tls_with_its_client_certificate_it_joins_and_without_one_it_says_why() {
    let certs = tempfile::tempdir().unwrap();
    crate::util::etcd::make_certificates(certs.path());
    let etcd = Etcd::start_tls(certs.path());
    let prefix = prefix("tls");
    let (primary, secondary) = HttpBackend::pair_on_one_port("127.0.0.21", "127.0.0.22");
    let pem = |name: &str| certs.path().join(name).display().to_string();
    let with_cert = format!(
        "ca-file = \"{}\"\ncert-file = \"{}\"\nkey-file = \"{}\"\n",
        pem("ca.pem"),
        pem("client.pem"),
        pem("client.key")
    );
    let good = Instance::start(
        "ns1",
        Some((&etcd, &prefix, &with_cert)),
        None,
        (&primary, &secondary),
    );
    wait_members(&[&good], 1);
    let without_cert = format!("ca-file = \"{}\"\n", pem("ca.pem"));
    let bad = Instance::start(
        "ns2",
        Some((&etcd, &prefix, &without_cert)),
        None,
        (&primary, &secondary),
    );
    wait(
        "the instance without a certificate to say it cannot reach etcd",
        || {
            let log = bad.server.stderr_so_far();
            if log.contains("cannot reach etcd") {
                Ok(())
            } else {
                Err(log)
            }
        },
    );
    assert_eq!(bad.cluster().unwrap()["connected"], false);
    wait_members(&[&good], 1);
}

#[test]
fn a_drain_kept_in_the_state_file_applies_before_etcd_and_yields_to_it() {
    let mut etcd = Etcd::start();
    let (primary, secondary) = HttpBackend::pair_on_one_port("127.0.0.21", "127.0.0.22");
    let prefix = prefix("state");
    let state = tempfile::tempdir().unwrap();
    let keep = format!(
        "[server]\nstate-dir = {:?}\n",
        state.path().display().to_string()
    );
    let ns1 = Instance::start(
        "ns1",
        Some((&etcd, &prefix, &keep)),
        None,
        (&primary, &secondary),
    );
    let ns2 = Instance::start(
        "ns2",
        Some((&etcd, &prefix, "")),
        None,
        (&primary, &secondary),
    );
    wait_members(&[&ns1, &ns2], 2);
    wait_answers(&[&ns1, &ns2], "127.0.0.21", "the primary everywhere");
    let target = format!("{}/web", primary.addr());
    let saved = || std::fs::read_to_string(state.path().join("state.json")).unwrap_or_default();

    // Drained through ns2: ns1 applies it from etcd and keeps a copy.
    ns2.set_override(&target, r#"{"state": "down"}"#);
    wait_answers(&[&ns1, &ns2], "127.0.0.22", "the drain everywhere");
    wait("ns1's state file to hold the drain", || {
        let text = saved();
        if text.contains(&target) {
            Ok(())
        } else {
            Err(text)
        }
    });

    // Cleared through ns2 while ns1 is down: once ns1 reaches etcd, etcd's
    // word wins over its stale copy.
    let ns1 = ns1.restart(|| {
        ns2.set_override(&target, r#"{"state": "auto"}"#);
        wait_answers(&[&ns2], "127.0.0.21", "ns2 back on the primary");
    });
    wait_answers(
        &[&ns1],
        "127.0.0.21",
        "ns1 drops the drain etcd no longer holds",
    );
    wait("ns1's state file to drop it", || {
        let text = saved();
        if text.contains("\"version\": 1") && !text.contains(&target) {
            Ok(())
        } else {
            Err(text)
        }
    });
    let log = ns1.server.stderr_so_far();
    assert!(
        log.contains("not in etcd: withdrawn"),
        "a log line says so:\n{log}"
    );

    // Drained again, then ns1 restarts while etcd is out: its copy answers
    // from the first query.
    ns2.set_override(&target, r#"{"state": "down"}"#);
    wait_answers(&[&ns1, &ns2], "127.0.0.22", "the second drain everywhere");
    wait("ns1's state file to hold the second drain", || {
        let text = saved();
        if text.contains(&target) {
            Ok(())
        } else {
            Err(text)
        }
    });
    let ns1 = ns1.restart(|| etcd.stop());
    assert_eq!(
        ns1.answer(),
        ["127.0.0.22"],
        "the first query after a restart without etcd"
    );
    etcd.start_again();
    wait_members(&[&ns1, &ns2], 2);
    wait_answers(
        &[&ns1, &ns2],
        "127.0.0.22",
        "still drained once etcd is back",
    );
}

#[test]
fn an_instance_joining_obeys_a_drain_already_in_etcd() {
    // Regression: an instance that reached etcd before its first table was
    // built had no slot to apply the overrides it read to, and answered
    // with the drained target until the next change.
    let etcd = Etcd::start();
    let (primary, secondary) = HttpBackend::pair_on_one_port("127.0.0.21", "127.0.0.22");
    let prefix = prefix("join");
    let ns1 = Instance::start(
        "ns1",
        Some((&etcd, &prefix, "")),
        None,
        (&primary, &secondary),
    );
    wait_answers(&[&ns1], "127.0.0.21", "the primary");
    ns1.set_override(&format!("{}/web", primary.addr()), r#"{"state": "down"}"#);
    wait_answers(&[&ns1], "127.0.0.22", "the drain");
    for name in ["ns2", "ns3"] {
        let late = Instance::start(
            name,
            Some((&etcd, &prefix, "")),
            None,
            (&primary, &secondary),
        );
        wait_answers(
            &[&late],
            "127.0.0.22",
            "the drain on the instance that joined",
        );
    }
}
