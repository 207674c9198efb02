//! The operations API end to end: `[api]` on a loopback port the test picks,
//! driven by a hand-written HTTP/1.1 client ([`http`]) and checked against
//! what the DNS side answers (dig, or the raw clients in [`dns`]).
//!
//! | file | covers |
//! |---|---|
//! | `http` | the HTTP client, percent-encoding, the Prometheus text parser |
//! | `dns` | raw UDP and TCP queries that report failures instead of panicking |
//! | `metrics` | `/healthz`; `/metrics` families, query counters, health and failover series, answer moves per set, failing open, reloads, build and process |
//! | `promtool` | `promtool check metrics` on `/metrics`; the shipped alerting rules and Grafana dashboard checked and naming only metrics served |
//! | `status` | `/api/v1/status` fields; state, transitions and answers following a failover |
//! | `overrides` | drain, force up, `for` expiry, manual failback release, 404/400/401, tokens |
//! | `rate_limit` | `[rate-limit]`: a flood from one network slipped and dropped, another answered, logs and metrics |
//! | `reload` | `/api/v1/reload` and SIGHUP: new data, refused data, health kept, the soak |
//! | `cli` | `healthdns status` and `healthdns override` against the real server |
//! | `state` | `state-dir`: drains, expiring overrides and holds across a restart; a corrupt state file |
//!
//! Every test starts its own server with a primary and a secondary on two
//! fake HTTP backends (`api.h.test. A`, failover), the zone and config in a
//! tempdir it may rewrite. Tests wait on conditions (30 s deadline); none
//! asserts how long a change took.

mod cli;
mod dns;
use crate::util::http;
mod metrics;
mod overrides;
mod promtool;
mod rate_limit;
mod reload;
mod state;
mod status;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Instant;

use serde_json::Value;

use crate::health::{DEADLINE, POLL, http_check, write_config, zone_text};
use crate::util::backend::HttpBackend;
use crate::util::{Server, free_port};
pub use http::{Metrics, Reply};

/// The primary's record and backend address.
pub const PRIMARY: &str = "127.0.0.121";
/// The secondary's record and backend address.
pub const SECONDARY: &str = "127.0.0.122";
/// The record set every test serves.
pub const NAME: &str = "api.h.test.";

/// What a test may change about the standard setup.
#[derive(Default, Clone, Copy)]
pub struct Opts<'a> {
    /// Extra keys of the check `web` (TOML values as written).
    pub check: &'a [(&'a str, &'a str)],
    /// Extra lines in `[api]` (after `listen`).
    pub api: &'a str,
    /// Extra zone lines after the two `api` records.
    pub records: &'a str,
    /// Lines of a `[server]` section, if any.
    pub server: &'a str,
    /// Whole sections after `[api]`.
    pub sections: &'a str,
}

/// A server with the API on, its two backends and its tempdir.
pub struct Env {
    pub server: Server,
    /// The API address.
    pub api: SocketAddr,
    pub primary: HttpBackend,
    pub secondary: HttpBackend,
    pub dir: tempfile::TempDir,
}

/// Starts the standard setup with the defaults.
pub fn start() -> Env {
    start_with(Opts::default())
}

/// Starts the standard setup, waits until `/healthz` answers.
pub fn start_with(opts: Opts) -> Env {
    let primary = HttpBackend::start(PRIMARY);
    let secondary = HttpBackend::start(SECONDARY);
    let dir = tempfile::tempdir().unwrap();
    let records = pair_records(&primary, &secondary, opts.records);
    let config = write_config(dir.path(), &records, &[http_check("web", opts.check)]);
    let api_port = free_port();
    let api: SocketAddr = ([127, 0, 0, 1], api_port).into();
    let mut text = std::fs::read_to_string(&config).unwrap();
    if !opts.server.is_empty() {
        text = format!("[server]\n{}\n{text}", opts.server);
    }
    text.push_str(&format!("\n[api]\nlisten = \"{api}\"\n{}\n", opts.api));
    text.push_str(opts.sections);
    std::fs::write(&config, text).unwrap();
    let server = Server::start_args(&["serve".as_ref(), "--config".as_ref(), config.as_os_str()]);
    let env = Env {
        server,
        api,
        primary,
        secondary,
        dir,
    };
    env.wait_api();
    env
}

/// The two `api` records, then `extra`.
pub fn pair_records(primary: &HttpBackend, secondary: &HttpBackend, extra: &str) -> String {
    format!(
        "api 30 IN A {PRIMARY} ; healthdns failover=primary check=web target={}\n\
         api 30 IN A {SECONDARY} ; healthdns failover=secondary check=web target={}\n\
         {extra}\n",
        primary.target(),
        secondary.target()
    )
}

/// Polls `cond` every [`POLL`] until it returns `Ok`; panics after
/// [`DEADLINE`] with `what` and the last `Err` (what was seen).
pub fn wait_until<T>(what: &str, mut cond: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let last = match cond() {
            Ok(v) => return v,
            Err(last) => last,
        };
        if Instant::now() > deadline {
            panic!("waited {DEADLINE:?} for {what}; last seen:\n{last}");
        }
        thread::sleep(POLL);
    }
}

impl Env {
    /// `http://127.0.0.1:PORT`, for the CLI.
    pub fn url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// The primary's target key (`IP:PORT/web`).
    pub fn primary_key(&self) -> String {
        format!("{}/web", self.primary.target())
    }

    /// The secondary's target key.
    pub fn secondary_key(&self) -> String {
        format!("{}/web", self.secondary.target())
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("healthdns.toml")
    }

    /// The zone file.
    pub fn zone(&self) -> PathBuf {
        self.dir.path().join("h.test.zone")
    }

    /// Rewrites the zone (head, the two `api` records, `extra`) in one rename.
    pub fn write_zone(&self, extra: &str) {
        let records = pair_records(&self.primary, &self.secondary, extra);
        write_atomic(&self.zone(), &zone_text(&records));
    }

    /// Stops the server with SIGTERM and starts it again on the same
    /// config, returning once it says it listens (the API may not answer
    /// yet: [`Env::wait_api`]); also returns what the old server logged.
    pub fn restart(self) -> (Env, String) {
        self.restart_after(|| {})
    }

    /// [`Env::restart`], running `meanwhile` while the server is down.
    pub fn restart_after(self, meanwhile: impl FnOnce()) -> (Env, String) {
        let Env {
            server,
            api,
            primary,
            secondary,
            dir,
        } = self;
        let (status, log) = server.terminate_keep_stderr();
        assert!(status.success(), "SIGTERM: {status}\n{log}");
        meanwhile();
        let config = dir.path().join("healthdns.toml");
        let server =
            Server::start_args(&["serve".as_ref(), "--config".as_ref(), config.as_os_str()]);
        let env = Env {
            server,
            api,
            primary,
            secondary,
            dir,
        };
        (env, log)
    }

    /// Waits until `/healthz` answers.
    pub fn wait_api(&self) {
        wait_until("the API to answer GET /healthz", || {
            match http::request(self.api, "GET", "/healthz", &[], None) {
                Ok(r) if r.status == 200 => Ok(()),
                Ok(r) => Err(format!("{r}")),
                Err(e) => Err(format!(
                    "{e}\nserver stderr:\n{}",
                    self.server.stderr_so_far()
                )),
            }
        })
    }

    /// `GET path`; panics on a transport error.
    pub fn get(&self, path: &str) -> Reply {
        http::request(self.api, "GET", path, &[], None)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `POST path` with a JSON body and, if given, a bearer token.
    pub fn post(&self, path: &str, body: &str, token: Option<&str>) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        http::request(self.api, "POST", path, &headers, Some(body))
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `POST /api/v1/targets/{key}/override` with `body`.
    pub fn override_raw(&self, key: &str, body: &str, token: Option<&str>) -> Reply {
        let path = format!("/api/v1/targets/{}/override", http::percent_encode(key));
        self.post(&path, body, token)
    }

    /// An override that must succeed; returns the target's status JSON.
    #[track_caller]
    pub fn override_ok(&self, key: &str, body: &str) -> Value {
        let r = self.override_raw(key, body, None);
        assert_eq!(r.status, 200, "override {key} {body}:\n{r}");
        r.json()
    }

    /// `POST /api/v1/reload`.
    pub fn reload(&self, token: Option<&str>) -> Reply {
        self.post("/api/v1/reload", "", token)
    }

    /// A reload that must succeed.
    #[track_caller]
    pub fn reload_ok(&self) -> Value {
        let r = self.reload(None);
        assert_eq!(
            r.status,
            200,
            "reload:\n{r}\nserver stderr:\n{}",
            self.server.stderr_so_far()
        );
        let v = r.json();
        assert_eq!(v["ok"], Value::Bool(true), "reload:\n{r}");
        v
    }

    /// `GET /api/v1/status` as JSON.
    #[track_caller]
    pub fn status(&self) -> Value {
        let r = self.get("/api/v1/status");
        assert_eq!(r.status, 200, "GET /api/v1/status:\n{r}");
        r.json()
    }

    /// `GET /metrics`, parsed.
    #[track_caller]
    pub fn metrics(&self) -> Metrics {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "GET /metrics:\n{r}");
        Metrics::parse(&r.body).unwrap_or_else(|e| panic!("bad Prometheus text: {e}\n{}", r.body))
    }

    /// The status entry of target `key`.
    #[track_caller]
    pub fn target(&self, key: &str) -> Value {
        let status = self.status();
        find_target(&status, key)
            .unwrap_or_else(|| panic!("no target {key} in status:\n{status:#}"))
            .clone()
    }

    /// The `answer` of the record set `NAME A` in the status.
    #[track_caller]
    pub fn status_answer(&self) -> Vec<String> {
        let status = self.status();
        let set = find_record_set(&status, NAME, "A")
            .unwrap_or_else(|| panic!("no record set {NAME} A in status:\n{status:#}"));
        strings(&set["answer"])
    }

    /// Polls the status until target `key` satisfies `ok`.
    pub fn wait_target(&self, key: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        wait_until(&format!("target {key}: {what}"), || {
            let t = self.target(key);
            if ok(&t) { Ok(t) } else { Err(format!("{t:#}")) }
        })
    }

    /// Polls the metrics until `ok` holds.
    pub fn wait_metrics(&self, what: &str, ok: impl Fn(&Metrics) -> bool) -> Metrics {
        wait_until(&format!("metrics: {what}"), || {
            let m = self.metrics();
            if ok(&m) { Ok(m) } else { Err(m.text.clone()) }
        })
    }

    /// Waits until both targets were probed and the answer is the primary.
    pub fn wait_settled(&self) {
        self.primary.wait_requests(3, DEADLINE);
        self.secondary.wait_requests(3, DEADLINE);
        crate::health::wait_answer(&self.server, "api", "A", &[PRIMARY]);
    }
}

/// The entry of `targets` whose `target` is `key`.
pub fn find_target<'a>(status: &'a Value, key: &str) -> Option<&'a Value> {
    status["targets"]
        .as_array()?
        .iter()
        .find(|t| t["target"] == key)
}

/// The entry of `record_sets` with this name and type.
pub fn find_record_set<'a>(status: &'a Value, name: &str, rtype: &str) -> Option<&'a Value> {
    status["record_sets"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name && s["type"] == rtype)
}

/// A JSON array of strings, sorted; empty for anything else.
pub fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Writes `path` through a temporary file and a rename, so the server never
/// reads half a file.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
