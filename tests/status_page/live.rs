//! The page served by the real server (`[api] listen`): a failover pair on
//! fake backends, the primary switched to 500, the page shows it down.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Dom, dump_dom, http_get};
use crate::health::{DEADLINE, POLL, http_check, wait_answer, write_config};
use crate::util::backend::{HttpBackend, HttpMode};
use crate::util::{Server, free_port};

const PRIMARY: &str = "127.0.0.21";
const SECONDARY: &str = "127.0.0.22";

/// Polls `GET /api/v1/status` until `ok` holds for the document; panics
/// after [`DEADLINE`] with the last answer and the server's stderr.
fn wait_status(server: &Server, api: SocketAddr, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
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
fn target<'a>(doc: &'a Value, target: &str) -> Option<&'a Value> {
    doc["targets"]
        .as_array()?
        .iter()
        .find(|t| t["target"] == target)
}

/// Dumps the page until `ok` holds for its DOM (a few tries: the page
/// and the API are read at slightly different moments).
fn wait_page(url: &str, what: &str, ok: impl Fn(&Dom) -> bool) -> Dom {
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

    let dom = wait_page(&url, "the primary down on the page", |dom| {
        dom.with("data-target", &down_target)
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
