//! The page served by the real server (`[api] listen`): a failover pair on
//! fake backends, the primary switched to 500, the page shows it down; the
//! page as the server fills it (read directly and in Chromium without
//! JavaScript); both members down, the set fails open and says so; a
//! drill's simulated failure marked on its target.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Dom, dump_dom, dump_dom_without_javascript, http_get};
use crate::health::{DEADLINE, POLL, http_check, wait_answer, write_config};
use crate::util::backend::{HttpBackend, HttpMode};
use crate::util::{Server, free_port, http};

pub const PRIMARY: &str = "127.0.0.21";
pub const SECONDARY: &str = "127.0.0.22";
/// The failover set of [`Pair`].
pub const SET: &str = "api.h.test. A";

/// The real server with `[api]` over a failover pair (`api`: primary
/// tier 1, secondary tier 2, the default all-down rule `first`) on fake
/// HTTP backends.
pub struct Pair {
    pub server: Server,
    pub api: SocketAddr,
    pub primary: HttpBackend,
    pub secondary: HttpBackend,
    _dir: tempfile::TempDir,
}

impl Pair {
    /// Starts it; `token` goes into `[api]`.
    pub fn start(token: Option<&str>) -> Pair {
        let primary = HttpBackend::start(PRIMARY);
        let secondary = HttpBackend::start(SECONDARY);
        let records = format!(
            "api 30 IN A {PRIMARY} ; healthdns failover=primary check=web target={}\n\
             api 30 IN A {SECONDARY} ; healthdns failover=secondary check=web target={}\n",
            primary.target(),
            secondary.target()
        );
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), &records, &[http_check("web", &[])]);
        let port = free_port();
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&format!("\n[api]\nlisten = \"127.0.0.1:{port}\"\n"));
        if let Some(token) = token {
            text.push_str(&format!("token = \"{token}\"\n"));
        }
        std::fs::write(&config, text).unwrap();
        let server =
            Server::start_args(&["serve".as_ref(), "--config".as_ref(), config.as_os_str()]);
        Pair {
            server,
            api: ([127, 0, 0, 1], port).into(),
            primary,
            secondary,
            _dir: dir,
        }
    }

    /// `ADDRESS:PORT/web` of the primary and the secondary.
    pub fn targets(&self) -> (String, String) {
        (
            format!("{}/web", self.primary.target()),
            format!("{}/web", self.secondary.target()),
        )
    }

    /// Waits until both targets are up and the primary answers.
    pub fn wait_healthy(&self) -> Value {
        let (p, s) = self.targets();
        wait_answer(&self.server, "api", "A", &[PRIMARY]);
        wait_status(&self.server, self.api, "both targets up", |doc| {
            [&p, &s]
                .iter()
                .all(|t| target(doc, t).is_some_and(|t| t["state"] == "up"))
        })
    }
}

/// The `record_sets[]` entry `NAME TYPE`.
pub fn record_set<'a>(doc: &'a Value, key: &str) -> Option<&'a Value> {
    doc["record_sets"].as_array()?.iter().find(|s| {
        format!(
            "{} {}",
            s["name"].as_str().unwrap_or(""),
            s["type"].as_str().unwrap_or("")
        ) == key
    })
}

/// Polls `GET /api/v1/status` until `ok` holds for the document; panics
/// after [`DEADLINE`] with the last answer and the server's stderr.
pub fn wait_status(
    server: &Server,
    api: SocketAddr,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let last = match http_get(api, "/api/v1/status") {
            Ok((200, body)) => match serde_json::from_str::<Value>(&body) {
                Ok(doc) if ok(&doc) => return doc,
                Ok(_) => body,
                Err(e) => format!("not JSON ({e}): {body}"),
            },
            Ok((status, body)) => format!("HTTP {status}: {body}"),
            Err(e) => format!("{e}"),
        };
        assert!(
            Instant::now() < deadline,
            "GET http://{api}/api/v1/status: waited {DEADLINE:?} for {what}; last: {last}\n\
             server stderr:\n{}",
            server.stderr_so_far()
        );
        thread::sleep(POLL);
    }
}

/// The `targets[]` entry named `target`.
pub fn target<'a>(doc: &'a Value, target: &str) -> Option<&'a Value> {
    doc["targets"]
        .as_array()?
        .iter()
        .find(|t| t["target"] == target)
}

/// Dumps the page until `ok` holds for its DOM (a few tries: the page
/// and the API are read at slightly different moments).
pub fn wait_page(url: &str, what: &str, ok: impl Fn(&Dom) -> bool) -> Dom {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (dom, html) = dump_dom(url);
        if ok(&dom) {
            return dom;
        }
        assert!(
            Instant::now() < deadline,
            "{url}: waited {DEADLINE:?} for {what}; last DOM:\n{html}"
        );
        thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn live_page_shows_a_primary_answering_500_as_down_with_a_timeline_entry() {
    let primary = HttpBackend::start(PRIMARY);
    let secondary = HttpBackend::start(SECONDARY);
    let records = format!(
        "api 30 IN A {PRIMARY} ; healthdns failover=primary check=web target={}\n\
         api 30 IN A {SECONDARY} ; healthdns failover=secondary check=web target={}\n",
        primary.target(),
        secondary.target()
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &records, &[http_check("web", &[])]);
    let port = free_port();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("\n[api]\nlisten = \"127.0.0.1:{port}\"\n"));
    std::fs::write(&config, text).unwrap();
    let server = Server::start_args(&["serve".as_ref(), "--config".as_ref(), config.as_os_str()]);
    let api: SocketAddr = ([127, 0, 0, 1], port).into();
    let url = format!("http://{api}/");
    let down_target = format!("{}/web", primary.target());

    // Healthy: both up, the primary answers.
    wait_answer(&server, "api", "A", &[PRIMARY]);
    wait_status(&server, api, "the primary up", |doc| {
        target(doc, &down_target).is_some_and(|t| t["state"] == "up")
    });
    let (page_status, page) = http_get(api, "/").expect("GET /");
    assert_eq!(page_status, 200, "GET / :\n{page}");
    assert!(
        page.contains("/api/v1/status"),
        "GET / is not the status page:\n{page}"
    );

    // The primary answers 500: down in the API, then on the page.
    primary.set(HttpMode::Status(500));
    wait_answer(&server, "api", "A", &[SECONDARY]);
    let doc = wait_status(&server, api, "the primary down with a transition", |doc| {
        target(doc, &down_target).is_some_and(|t| t["state"] == "down")
            && doc["transitions"]
                .as_array()
                .is_some_and(|v| v.iter().any(|tr| tr["target"] == down_target.as_str()))
    });

    // The server's first paint already shows it: wait for the script's
    // render as well (a slow first fetch leaves the page stale).
    let dom = wait_page(&url, "the primary down on the page", |dom| {
        dom.with("data-rendered", "script")
            .any(|e| e.tag() == "body")
            && dom
                .with("data-target", &down_target)
                .any(|e| e.tag() == "tr" && e.attr("data-state") == Some("down"))
            && dom.with("data-transition", "").any(|li| {
                li.attr("data-target") == Some(down_target.as_str())
                    && li.attr("data-to") == Some("down")
            })
    });
    assert_eq!(dom.one("data-status", "ok").tag(), "body");
    let row = dom
        .with("data-target", &down_target)
        .find(|e| e.tag() == "tr")
        .unwrap();
    assert_eq!(row.get("data-serving"), "false", "{row:?}");
    assert_eq!(row.get("data-probe"), "failed", "{row:?}");
    assert!(row.field_text("probe-reason").contains("500"), "{row:?}");
    assert_eq!(
        dom.id("version").text(),
        doc["version"].as_str().unwrap_or("?")
    );
    // The record set answers the secondary, highlighted.
    let set = dom.one("data-recordset", "api.h.test. A");
    let answer: Vec<&str> = set
        .descendants()
        .into_iter()
        .filter(|e| e.attr("data-answer") == Some("true"))
        .map(|e| e.get("data-member"))
        .collect();
    assert_eq!(answer, [SECONDARY], "{set:?}");
    // The newest transition is the primary going down.
    let newest = dom.with_attr("data-transition").next().unwrap();
    assert_eq!(newest.get("data-target"), down_target);
    assert_eq!(newest.get("data-from"), "up");
    assert_eq!(newest.get("data-to"), "down");
}

/// The target rows of the targets table, by `data-target`.
fn target_rows<'a>(dom: &'a Dom) -> Vec<super::dom::El<'a>> {
    dom.id("targets")
        .descendants()
        .into_iter()
        .filter(|e| e.tag() == "tr" && e.attr("data-target").is_some())
        .collect()
}

#[test]
fn live_page_is_rendered_by_the_server_and_shows_without_javascript() {
    let pair = Pair::start(None);
    pair.wait_healthy();
    let (p, s) = pair.targets();

    // The HTML as served holds the tables already.
    let (code, html) = http_get(pair.api, "/").expect("GET /");
    assert_eq!(code, 200, "{html}");
    let dom = Dom::parse(&html);
    let body = dom.tags("body").next().expect("body");
    assert_eq!(body.get("data-rendered"), "server", "{html}");
    assert_eq!(body.get("data-status"), "ok");
    assert_eq!(dom.with_attr("data-loading").count(), 0, "{html}");
    let rows = target_rows(&dom);
    let names: Vec<&str> = rows.iter().map(|r| r.get("data-target")).collect();
    assert_eq!(names, [p.as_str(), s.as_str()], "{html}");
    for row in &rows {
        assert_eq!(row.get("data-state"), "up");
        assert_eq!(row.field_text("state"), "up");
        assert_eq!(row.get("data-serving"), "true");
    }
    let set = dom.one("data-recordset", SET);
    assert_eq!(set.field_text("answer"), PRIMARY, "{set:?}");
    let answer: Vec<&str> = set
        .descendants()
        .into_iter()
        .filter(|e| e.attr("data-answer") == Some("true"))
        .map(|e| e.get("data-member"))
        .collect();
    assert_eq!(answer, [PRIMARY], "{set:?}");
    assert_eq!(dom.with_attr("data-failing-open").count(), 0, "{html}");
    assert!(
        dom.tags("noscript")
            .next()
            .is_some_and(|n| n.text().contains("JavaScript is off")),
        "{html}"
    );
    assert_eq!(
        dom.id("version").text(),
        http_json(pair.api)["version"].as_str().unwrap_or("?")
    );

    // The script's render after its first refresh says the same, row for row.
    let served = rendered(&dom);
    let url = format!("http://{}/", pair.api);
    let live = wait_page(&url, "the script's render", |dom| {
        dom.with("data-rendered", "script")
            .any(|e| e.tag() == "body")
            && dom
                .with_attr("data-action-state")
                .any(|b| b.attr("disabled").is_none())
    });
    assert_eq!(rendered(&live), served);

    // Chromium without JavaScript shows the same.
    let (dom, html) = dump_dom_without_javascript(pair.api);
    let rows = target_rows(&dom);
    assert_eq!(rows.len(), 2, "{html}");
    assert!(rows.iter().all(|r| r.get("data-state") == "up"), "{html}");
    assert_eq!(dom.one("data-recordset", SET).field_text("answer"), PRIMARY);
    assert_eq!(
        dom.tags("body").next().map(|b| b.get("data-rendered")),
        Some("server"),
        "{html}"
    );
}

/// What both renderers must agree on: every row and member by its
/// `data-` attributes and visible cells (times and latencies aside, which
/// move between two reads).
fn rendered(dom: &Dom) -> Vec<String> {
    let mut out = Vec::new();
    for row in target_rows(dom) {
        out.push(format!(
            "target {} {} {} {} {} {} | {} {} | {} | {} | {}",
            row.get("data-target"),
            row.get("data-address"),
            row.get("data-check"),
            row.get("data-state"),
            row.get("data-serving"),
            row.get("data-held"),
            row.get("data-override"),
            row.get("data-simulated"),
            row.field_text("state"),
            row.field_text("serving"),
            row.field_text("actions"),
        ));
    }
    for set in dom.with_attr("data-recordset") {
        out.push(format!(
            "set {} {} {} | {}",
            set.get("data-recordset"),
            set.get("data-policy"),
            set.field_text("ttl"),
            set.field_text("answer")
        ));
        for li in set
            .descendants()
            .into_iter()
            .filter(|e| e.attr("data-member").is_some())
        {
            out.push(format!(
                "member {} {} {} {} {} {} | {}",
                li.get("data-member"),
                li.get("data-target"),
                li.get("data-state"),
                li.get("data-serving"),
                li.get("data-answer"),
                li.get("data-rank"),
                li.text()
            ));
        }
    }
    out
}

fn http_json(api: SocketAddr) -> Value {
    let (code, body) = http_get(api, "/api/v1/status").expect("GET /api/v1/status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("status is JSON")
}

#[test]
fn live_page_shows_a_banner_while_a_set_fails_open() {
    let pair = Pair::start(None);
    let doc = pair.wait_healthy();
    let set = record_set(&doc, SET).expect("the set in the status");
    assert_eq!(set["failing_open"], false, "{set:#}");
    assert_eq!(set["healthy_members"], 2, "{set:#}");
    assert_eq!(set["all_down"], "first", "{set:#}");

    // Both members down: the set answers the primary by its all-down rule.
    pair.primary.set(HttpMode::Status(500));
    pair.secondary.set(HttpMode::Status(500));
    let doc = wait_status(&pair.server, pair.api, "the set failing open", |doc| {
        record_set(doc, SET).is_some_and(|s| s["failing_open"] == true)
    });
    let set = record_set(&doc, SET).unwrap();
    assert_eq!(set["healthy_members"], 0, "{set:#}");
    assert_eq!(set["answer"], serde_json::json!([PRIMARY]), "{set:#}");
    wait_answer(&pair.server, "api", "A", &[PRIMARY]);

    let check = |dom: &Dom, html: &str, how: &str| {
        let banners: Vec<_> = dom.with_attr("data-failing-open").collect();
        assert_eq!(banners.len(), 1, "{how}: {html}");
        assert_eq!(banners[0].get("data-failing-open"), SET, "{how}");
        assert_eq!(banners[0].get("role"), "alert", "{how}");
        let text = banners[0].text();
        assert!(
            text.contains("Failing open")
                && text.contains(SET)
                && text.contains(PRIMARY)
                && text.contains("(first)"),
            "{how}: {text}"
        );
        let member = dom
            .one("data-recordset", SET)
            .find("data-member", PRIMARY)
            .into_iter()
            .next()
            .expect("the primary member");
        assert_eq!(member.get("data-state"), "down", "{how}");
        assert_eq!(member.get("data-answer"), "true", "{how}");
        assert_eq!(member.get("data-fail-open"), "true", "{how}");
        assert!(member.text().contains("failing open"), "{how}: {member:?}");
    };
    // Server-rendered, as fetched and in Chromium without JavaScript.
    let (code, html) = http_get(pair.api, "/").expect("GET /");
    assert_eq!(code, 200);
    check(&Dom::parse(&html), &html, "served HTML");
    let url = format!("http://{}/", pair.api);
    let (dom, html) = dump_dom_without_javascript(pair.api);
    check(&dom, &html, "no JavaScript");
    // With JavaScript, after the script's own refresh.
    let dom = wait_page(&url, "the script's render", |dom| {
        dom.with("data-rendered", "script")
            .any(|e| e.tag() == "body")
            && dom.with_attr("data-failing-open").count() == 1
    });
    check(&dom, "", "JavaScript");

    // A member back up: the banner goes.
    pair.secondary.set(HttpMode::Healthy);
    wait_status(&pair.server, pair.api, "the secondary serving", |doc| {
        record_set(doc, SET).is_some_and(|s| s["failing_open"] == false)
    });
    let (_, html) = http_get(pair.api, "/").expect("GET /");
    assert_eq!(
        Dom::parse(&html).with_attr("data-failing-open").count(),
        0,
        "{html}"
    );
}

#[test]
fn live_page_marks_a_target_a_drill_simulates_with_and_without_javascript() {
    let pair = Pair::start(None);
    pair.wait_healthy();
    let (p, s) = pair.targets();
    let path = format!("/api/v1/targets/{}/simulate", http::percent_encode(&p));
    // A lease long enough to outlast the test; the DELETE below ends it.
    let reply = http::request(
        pair.api,
        "POST",
        &path,
        &[("Content-Type", "application/json")],
        Some(r#"{"for": "10m"}"#),
    )
    .expect("POST simulate");
    assert_eq!(reply.status, 200, "{reply}");
    let doc = http_json(pair.api);
    let until = target(&doc, &p).expect("the primary")["simulated"]["until"]
        .as_str()
        .unwrap_or_else(|| panic!("the primary simulated: {doc:#}"))
        .to_owned();

    let check = |dom: &Dom, html: &str, how: &str| {
        let rows = target_rows(dom);
        let row = rows
            .iter()
            .find(|r| r.get("data-target") == p)
            .unwrap_or_else(|| panic!("{how}: no row for {p}: {html}"));
        assert_eq!(row.get("data-simulated"), "true", "{how}: {row:?}");
        assert!(row.has_class("is-amber"), "{how}: {row:?}");
        let cell = row.field("override");
        assert_eq!(cell.field_text("drill-badge"), "drill", "{how}: {cell:?}");
        assert!(
            cell.field_text("drill-until").starts_with("until "),
            "{how}: {cell:?}"
        );
        assert_eq!(cell.find("datetime", &until).len(), 1, "{how}: {cell:?}");
        let other = rows
            .iter()
            .find(|r| r.get("data-target") == s)
            .unwrap_or_else(|| panic!("{how}: no row for {s}: {html}"));
        assert_eq!(other.get("data-simulated"), "false", "{how}: {other:?}");
        assert_eq!(other.field_text("override"), "—", "{how}: {other:?}");
        assert_eq!(
            dom.with("data-field", "drill-badge").count(),
            1,
            "{how}: {html}"
        );
    };
    // Server-rendered, as fetched and in Chromium without JavaScript.
    let (code, html) = http_get(pair.api, "/").expect("GET /");
    assert_eq!(code, 200, "{html}");
    check(&Dom::parse(&html), &html, "served HTML");
    let (dom, html) = dump_dom_without_javascript(pair.api);
    check(&dom, &html, "no JavaScript");
    // With JavaScript, after the script's own refresh.
    let url = format!("http://{}/", pair.api);
    let dom = wait_page(&url, "the script's render", |dom| {
        dom.with("data-rendered", "script")
            .any(|e| e.tag() == "body")
    });
    check(&dom, "", "JavaScript");

    // The simulation ended: the mark goes.
    let reply = http::request(pair.api, "DELETE", &path, &[], None).expect("DELETE simulate");
    assert_eq!(reply.status, 200, "{reply}");
    let (_, html) = http_get(pair.api, "/").expect("GET /");
    let dom = Dom::parse(&html);
    assert_eq!(dom.with("data-field", "drill-badge").count(), 0, "{html}");
    assert_eq!(dom.with("data-simulated", "true").count(), 0, "{html}");
}
