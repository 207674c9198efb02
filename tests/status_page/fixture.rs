//! The page against [`FixtureServer`]: fixture documents from
//! `tests/data/status/`, a failing endpoint, and the page file itself.

use serde_json::Value;

use super::dom::El;
use super::{Dom, FixtureServer, Reply, dump_dom, fixture, page_path, screenshot};

/// The fixture document as JSON.
fn json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).expect("read fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The page's DOM with `/api/v1/status` answering `replies` in turn.
fn page_with(replies: &[Reply]) -> (Dom, String, FixtureServer) {
    let server = FixtureServer::start(replies);
    let (dom, html) = dump_dom(&server.url());
    (dom, html, server)
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether a badge inside `e` with `data-field` = `field` has color class `class`.
#[track_caller]
fn badge_is(e: El, field: &str, class: &str) {
    let b = e.field(field);
    assert!(
        b.has_class("badge") && b.has_class(class),
        "{field} badge should be {class}: {b:?}"
    );
}

/// The row of the targets table for `name` (members and timeline entries
/// carry `data-target` too).
#[track_caller]
fn target_row<'a>(dom: &'a Dom, name: &str) -> El<'a> {
    let rows: Vec<El> = dom.id("targets").find("data-target", name);
    assert_eq!(rows.len(), 1, "target rows for {name:?}: {rows:?}");
    assert_eq!(rows[0].tag(), "tr");
    rows[0]
}

#[test]
fn page_renders_every_field_of_the_status_document() {
    let doc = json("status.json");
    let (dom, html, _server) = page_with(&[Reply::Json("status.json")]);
    let body = dom.tags("body").next().expect("body");
    assert_eq!(body.get("data-status"), "ok", "{html}");
    assert!(
        dom.id("banner").attr("hidden").is_some(),
        "banner shown: {html}"
    );

    // Header.
    assert_eq!(dom.id("version").text(), "0.1.0");
    assert_eq!(dom.id("refreshed").text(), "04:05:06Z");
    let summary = dom.id("summary").text();
    assert!(summary.contains("5 targets"), "{summary}");
    assert!(
        summary.contains("3 up") && summary.contains("2 down"),
        "{summary}"
    );

    // Record sets: one row per set, in order, every member.
    let rows: Vec<El> = dom.with_attr("data-recordset").collect();
    let sets = doc["record_sets"].as_array().unwrap();
    assert_eq!(rows.len(), sets.len(), "{rows:?}");
    for (row, rs) in rows.iter().zip(sets) {
        let key = format!("{} {}", s(&rs["name"]), s(&rs["type"]));
        assert_eq!(row.get("data-recordset"), key);
        assert_eq!(row.get("data-policy"), s(&rs["policy"]));
        assert_eq!(row.field_text("name"), s(&rs["name"]));
        assert_eq!(row.field_text("type"), s(&rs["type"]));
        assert_eq!(row.field_text("policy"), s(&rs["policy"]));
        assert_eq!(row.field_text("ttl"), s(&rs["ttl"]));
        let answer: Vec<String> = rs["answer"].as_array().unwrap().iter().map(s).collect();
        assert_eq!(row.field_text("answer"), answer.join(", "), "{key}");
        let members: Vec<El> = row
            .descendants()
            .into_iter()
            .filter(|e| e.attr("data-member").is_some())
            .collect();
        let want = rs["members"].as_array().unwrap();
        assert_eq!(members.len(), want.len(), "{key}: {members:?}");
        for (li, m) in members.iter().zip(want) {
            let rdata = s(&m["rdata"]);
            assert_eq!(li.get("data-member"), rdata);
            assert_eq!(li.get("data-target"), s(&m["target"]));
            assert_eq!(li.get("data-rank"), s(&m["rank"]));
            assert_eq!(li.get("data-serving"), s(&m["serving"]));
            let in_answer = answer.contains(&rdata);
            assert_eq!(
                li.get("data-answer"),
                in_answer.to_string(),
                "{key} {rdata}"
            );
            assert_eq!(li.has_class("answer"), in_answer, "{key} {rdata} highlight");
            let state = match &m["target"] {
                Value::Null => "unchecked".to_string(),
                t => {
                    let t = doc["targets"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|x| x["target"] == *t)
                        .expect("member target in targets");
                    s(&t["state"])
                }
            };
            assert_eq!(li.get("data-state"), state, "{key} {rdata}");
            assert!(li.text().contains(&rdata), "{li:?}");
        }
    }
    let api = dom.one("data-recordset", "api.h.test. A");
    assert!(api.text().contains("tier 1"), "{api:?}");
    let www = dom.one("data-recordset", "www.h.test. AAAA");
    assert!(www.text().contains("weight 10"), "{www:?}");
    assert!(
        !dom.one("data-recordset", "pool.h.test. A")
            .text()
            .contains("rank")
    );

    // Targets: one row per target, in order, every field.
    let rows: Vec<El> = dom
        .tags("tr")
        .filter(|e| e.attr("data-target").is_some())
        .collect();
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(rows.len(), targets.len(), "{rows:?}");
    for (row, t) in rows.iter().zip(targets) {
        let name = s(&t["target"]);
        assert_eq!(row.get("data-target"), name);
        assert_eq!(row.get("data-address"), s(&t["address"]));
        assert_eq!(row.get("data-check"), s(&t["check"]));
        assert_eq!(row.get("data-state"), s(&t["state"]), "{name}");
        assert_eq!(row.get("data-serving"), s(&t["serving"]), "{name}");
        assert_eq!(row.get("data-held"), s(&t["held"]), "{name}");
        assert_eq!(row.field_text("target"), name);
        assert_eq!(row.field_text("check"), s(&t["check"]));
        assert_eq!(row.field_text("state"), s(&t["state"]));
        badge_is(*row, "state-badge", &s(&t["state"]));
        let serving = if t["serving"] == true { "yes" } else { "no" };
        assert_eq!(row.field_text("serving"), serving, "{name}");
        assert_eq!(row.field_text("successes"), s(&t["successes"]), "{name}");
        assert_eq!(row.field_text("failures"), s(&t["failures"]), "{name}");
        match &t["override"] {
            Value::Null => {
                assert_eq!(row.get("data-override"), "none");
                assert_eq!(row.field_text("override"), "—");
            }
            o => {
                assert_eq!(row.get("data-override"), s(&o["state"]));
                let cell = row.field("override");
                badge_is(cell, "override-badge", "amber");
                assert!(cell.text().contains(&format!("forced {}", s(&o["state"]))));
                assert!(row.has_class("is-amber"), "{name}");
            }
        }
        if t["held"] == true {
            assert_eq!(row.field_text("held"), "held");
            assert!(row.has_class("is-amber"), "{name}");
        } else {
            assert_eq!(row.field_text("held"), "no");
        }
        match &t["last_probe"] {
            Value::Null => {
                assert_eq!(row.get("data-probe"), "none");
                assert_eq!(row.field_text("probe"), "no probe yet");
            }
            p => {
                let ok = p["ok"] == true;
                assert_eq!(row.get("data-probe"), if ok { "ok" } else { "failed" });
                badge_is(*row, "probe-ok", if ok { "up" } else { "down" });
                assert_eq!(row.field_text("probe-reason"), s(&p["reason"]));
                let ms = p["latency_ms"].as_f64().unwrap();
                assert_eq!(row.field_text("latency"), format!("{ms:.2} ms"));
                let time = s(&p["time"]);
                let cell = row.field("last-probe");
                assert!(cell.find("datetime", &time).len() == 1, "{cell:?}");
            }
        }
        match &t["last_transition"] {
            Value::Null => assert_eq!(row.field_text("last-transition"), "none since start"),
            lt => {
                let cell = row.field("last-transition");
                assert_eq!(cell.field_text("transition-reason"), s(&lt["reason"]));
                let text = cell.text();
                let arrow = format!("{} → {}", s(&lt["from"]), s(&lt["to"]));
                assert!(text.contains(&arrow), "{text}");
                assert_eq!(cell.find("datetime", &s(&lt["time"])).len(), 1, "{cell:?}");
            }
        }
    }
    let down = target_row(&dom, "127.0.0.21:8080/web");
    assert!(down.has_class("is-down"));
    assert!(
        down.field_text("last-transition")
            .contains("04:04:58Z (8 s ago)")
    );
    let until = target_row(&dom, "127.0.0.31:9000/tcp").field_text("override");
    assert_eq!(until, "forced down until 04:35:06Z (in 30 min)");
    let forever = target_row(&dom, "127.0.0.32:9000/tcp").field_text("override");
    assert_eq!(forever, "forced up no expiry");

    // Timeline: newest first, as the document orders it.
    let items: Vec<El> = dom.with_attr("data-transition").collect();
    let transitions = doc["transitions"].as_array().unwrap();
    assert_eq!(items.len(), transitions.len(), "{items:?}");
    for (li, tr) in items.iter().zip(transitions) {
        assert_eq!(li.tag(), "li");
        assert_eq!(li.get("data-target"), s(&tr["target"]));
        assert_eq!(li.get("data-check"), s(&tr["check"]));
        assert_eq!(li.get("data-from"), s(&tr["from"]));
        assert_eq!(li.get("data-to"), s(&tr["to"]));
        assert_eq!(li.get("data-serving"), s(&tr["serving"]));
        assert_eq!(li.get("data-time"), s(&tr["time"]));
        assert_eq!(li.field_text("target"), s(&tr["target"]));
        assert_eq!(li.field_text("reason"), s(&tr["reason"]));
        let serving = if tr["serving"] == true {
            "serving"
        } else {
            "not serving"
        };
        assert_eq!(li.field_text("serving"), serving);
        assert_eq!(
            li.field_text("consecutive"),
            format!("after {} in a row", s(&tr["consecutive"]))
        );
        let sets: Vec<String> = tr["record_sets"]
            .as_array()
            .unwrap()
            .iter()
            .map(s)
            .collect();
        assert_eq!(li.field_text("record-sets"), sets.join(", "));
    }
    // An older day shows its date.
    assert!(
        items[2].text().starts_with("2026-11-21 23:10:00Z"),
        "{:?}",
        items[2]
    );
}

#[test]
fn page_shows_markup_in_the_data_as_text() {
    let doc = json("markup.json");
    let (dom, html, _server) = page_with(&[Reply::Json("markup.json")]);
    assert_eq!(dom.one("data-status", "ok").tag(), "body", "{html}");
    // Nothing from the data became an element or ran.
    assert_eq!(dom.tags("script").count(), 1, "only the page's own script");
    for tag in ["img", "svg", "b", "i"] {
        assert_eq!(dom.tags(tag).count(), 0, "a <{tag}> from the data: {html}");
    }
    assert_eq!(dom.tags("title").next().unwrap().text(), "healthdns status");

    let t = &doc["targets"][0];
    let name = s(&t["target"]);
    let row = target_row(&dom, &name);
    assert_eq!(row.tag(), "tr");
    assert!(row.field_text("target").starts_with(&name), "{row:?}");
    assert_eq!(row.field_text("address"), s(&t["address"]));
    assert_eq!(
        row.field_text("probe-reason"),
        "body <b>did not</b> match & \"quoted\""
    );
    assert_eq!(row.field_text("transition-reason"), "<i>nope</i>");
    assert_eq!(dom.id("version").text(), "0.1.0<b>bold</b>");

    let set = dom.one("data-recordset", "<svg onload=alert(1)>.h.test. TXT");
    assert_eq!(set.field_text("name"), "<svg onload=alert(1)>.h.test.");
    assert_eq!(set.field_text("answer"), "no answer");
    let member = set.find("data-member", "\"<script>alert(2)</script>\"");
    assert_eq!(member.len(), 1, "{set:?}");

    let li = dom.one("data-transition", "");
    assert_eq!(li.get("data-target"), name);
    assert_eq!(li.field_text("reason"), "<i>nope</i>");
}

#[test]
fn page_shows_an_error_banner_when_the_status_endpoint_answers_500() {
    let (dom, html, server) = page_with(&[Reply::Status(500)]);
    assert_eq!(dom.one("data-status", "error").tag(), "body", "{html}");
    let banner = dom.id("banner");
    assert!(banner.attr("hidden").is_none(), "banner hidden: {html}");
    assert_eq!(banner.get("role"), "alert");
    let text = banner.text();
    assert!(text.starts_with("Error:"), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert_eq!(dom.with_attr("data-target").count(), 0);
    assert!(dom.id("targets").text().contains("unavailable"));
    assert!(
        server.status_requests() >= 2,
        "the page retries: {} requests",
        server.status_requests()
    );
}

#[test]
fn page_keeps_the_last_data_and_says_it_is_stale_after_a_failed_refresh() {
    let (dom, html, server) = page_with(&[Reply::Json("status.json"), Reply::Status(500)]);
    assert!(server.status_requests() >= 2);
    assert_eq!(dom.one("data-status", "stale").tag(), "body", "{html}");
    let banner = dom.id("banner");
    assert!(banner.attr("hidden").is_none(), "banner hidden: {html}");
    let text = banner.text();
    assert!(text.starts_with("Stale:"), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(text.contains("2026-11-22T04:05:06.789Z"), "{text}");
    // The last good data is still there.
    assert_eq!(
        target_row(&dom, "127.0.0.21:8080/web").get("data-state"),
        "down"
    );
    assert_eq!(dom.with_attr("data-transition").count(), 3);
}

#[test]
fn page_clears_the_banner_when_the_endpoint_recovers() {
    let (dom, html, _server) = page_with(&[Reply::Status(503), Reply::Json("status.json")]);
    assert_eq!(dom.one("data-status", "ok").tag(), "body", "{html}");
    assert!(dom.id("banner").attr("hidden").is_some(), "{html}");
    assert_eq!(dom.with_attr("data-recordset").count(), 3);
}

#[test]
fn page_without_script_says_loading_and_has_a_noscript_note() {
    let html = std::fs::read_to_string(page_path()).expect("read page");
    let dom = Dom::parse(&html);
    assert_eq!(dom.one("data-status", "loading").tag(), "body");
    assert_eq!(dom.with_attr("data-loading").count(), 3);
    for e in dom.with_attr("data-loading") {
        assert_eq!(e.text(), "loading…");
    }
    let noscript = dom.tags("noscript").next().expect("a <noscript> note");
    assert!(noscript.text().contains("JavaScript"), "{noscript:?}");
    assert!(dom.id("banner").attr("hidden").is_some());
}

#[test]
fn page_is_one_file_with_no_external_resources_and_no_markup_sinks() {
    let html = std::fs::read_to_string(page_path()).expect("read page");
    for bad in [
        "src=",
        "<link",
        "@import",
        "url(",
        "http://",
        "https://",
        "//cdn",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!html.contains(bad), "page.html contains {bad:?}");
    }
    let dom = Dom::parse(&html);
    let hrefs: Vec<&str> = dom.with_attr("href").map(|e| e.get("href")).collect();
    assert_eq!(hrefs, ["api/v1/status"], "links only to its own API");
}

/// Writes `status-page.png` under Cargo's target tmpdir for a person to
/// look at (the layout is not asserted, only that a PNG was made).
#[test]
fn page_screenshot_of_the_fixture_document() {
    let server = FixtureServer::start(&[Reply::Json("status.json")]);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    screenshot(&server.url(), &path);
    eprintln!("status page screenshot: {}", path.display());
}

#[test]
fn page_shows_the_cluster_and_each_instance_s_view() {
    let (dom, html, _server) = page_with(&[Reply::Json("cluster.json")]);
    let cluster = dom.id("cluster");
    assert!(cluster.attr("hidden").is_none(), "{html}");
    assert_eq!(cluster.get("data-connected"), "false");
    badge_is(cluster, "cluster-etcd", "down");
    let text = cluster.text();
    assert!(text.contains("last verdicts kept"), "{text}");
    assert!(
        text.contains("3 members (ns1, ns2, ns3), quorum majority"),
        "{text}"
    );
    let row = target_row(&dom, "127.0.0.21:8080/web");
    let views = row.field("views");
    for (name, class) in [("ns1", "down"), ("ns2", "up"), ("ns3", "down")] {
        let badge = views.find("data-view", name);
        assert_eq!(badge.len(), 1, "{name}: {html}");
        assert!(
            badge[0].has_class(class),
            "{name} is {class}: {:?}",
            badge[0]
        );
    }
    assert_eq!(row.field_text("checks"), "· here: up");
    // Without a cluster, nothing of it shows.
    let (plain, html, _server) = page_with(&[Reply::Json("status.json")]);
    assert!(plain.id("cluster").attr("hidden").is_some(), "{html}");
    assert!(plain.with_attr("data-view").next().is_none(), "{html}");
}

#[test]
fn page_shows_a_banner_when_a_set_starts_failing_open() {
    // Healthy first, then the set fails open: the script puts the banner
    // up on its next poll.
    let (dom, html, server) =
        page_with(&[Reply::Json("status.json"), Reply::Json("failing-open.json")]);
    assert!(server.status_requests() >= 2);
    assert_eq!(dom.one("data-status", "ok").tag(), "body", "{html}");
    let banner = dom.one("data-failing-open", "api.h.test. A");
    assert_eq!(banner.get("role"), "alert");
    assert_eq!(
        banner.text(),
        "Failing open: api.h.test. A has no serving member; it answers 127.0.0.21 \
         by its all-down rule (first)."
    );
    assert_eq!(dom.with_attr("data-failing-open").count(), 1, "{html}");
    let set = dom.one("data-recordset", "api.h.test. A");
    let member = set.find("data-member", "127.0.0.21");
    assert_eq!(member[0].get("data-fail-open"), "true", "{set:?}");
    assert!(member[0].text().contains("◀ answer (failing open)"));
    // Sets that are not failing open carry no mark.
    assert_eq!(dom.with_attr("data-fail-open").count(), 1, "{html}");

    // And without it, no banner.
    let (dom, html, _server) = page_with(&[Reply::Json("status.json")]);
    assert_eq!(dom.with_attr("data-failing-open").count(), 0, "{html}");
    assert_eq!(dom.with_attr("data-fail-open").count(), 0, "{html}");
}

#[test]
fn page_offers_drain_release_and_back_to_checks_by_target_state() {
    let (dom, html, _server) = page_with(&[Reply::Json("status.json")]);
    let actions = |name: &str| -> Vec<(String, String)> {
        target_row(&dom, name)
            .field("actions")
            .descendants()
            .into_iter()
            .filter(|e| e.tag() == "button")
            .map(|b| {
                assert_eq!(b.get("data-action-target"), name);
                assert!(b.attr("disabled").is_none(), "{b:?}");
                (b.get("data-action-state").to_string(), b.text())
            })
            .collect()
    };
    let pair = |s: &str, l: &str| (s.to_string(), l.to_string());
    // Up, nothing forced: drain.
    assert_eq!(
        actions("127.0.0.22:8080/web"),
        [pair("down", "drain")],
        "{html}"
    );
    // Held by manual failback: drain or release.
    assert_eq!(
        actions("127.0.0.23:8080/web"),
        [pair("down", "drain"), pair("auto", "release")]
    );
    // Forced down: back to checks only.
    assert_eq!(
        actions("127.0.0.31:9000/tcp"),
        [pair("auto", "back to checks")]
    );
    // Forced up: drain or back to checks.
    assert_eq!(
        actions("127.0.0.32:9000/tcp"),
        [pair("down", "drain"), pair("auto", "back to checks")]
    );
    let token = dom.id("token");
    assert_eq!(token.tag(), "input");
    assert_eq!(token.get("type"), "password");
}

#[test]
fn page_marks_a_target_a_drill_simulates_with_when_it_lapses() {
    let (dom, html, _server) = page_with(&[Reply::Json("drill.json")]);
    assert_eq!(dom.one("data-status", "ok").tag(), "body", "{html}");

    // The drilled target: marked in its row, with the lease's end.
    let row = target_row(&dom, "127.0.0.21:8080/web");
    assert_eq!(row.get("data-simulated"), "true", "{row:?}");
    assert_eq!(row.get("data-override"), "none", "{row:?}");
    assert!(row.has_class("is-amber"), "{row:?}");
    let cell = row.field("override");
    badge_is(cell, "drill-badge", "amber");
    assert_eq!(cell.field_text("drill-badge"), "drill");
    assert_eq!(cell.field_text("drill-until"), "until 04:05:20Z (in 13 s)");
    assert_eq!(cell.find("datetime", "2026-11-22T04:05:20.000Z").len(), 1);
    assert_eq!(cell.text(), "drill until 04:05:20Z (in 13 s)");
    // And as a member of its set.
    let member = dom
        .one("data-recordset", "api.h.test. A")
        .find("data-member", "127.0.0.21");
    assert_eq!(member.len(), 1, "{html}");
    badge_is(member[0], "amber", "amber");
    assert_eq!(member[0].field_text("amber"), "drill");
    assert_eq!(dom.id("summary").field_text("count-drill"), "1 in drill");

    // No other target carries it.
    for row in dom.id("targets").descendants().into_iter().filter(|e| {
        e.tag() == "tr"
            && e.attr("data-target")
                .is_some_and(|t| t != "127.0.0.21:8080/web")
    }) {
        assert_eq!(row.get("data-simulated"), "false", "{row:?}");
        assert!(
            row.field("override")
                .find("data-field", "drill-badge")
                .is_empty()
        );
    }
    assert_eq!(dom.with("data-field", "drill-badge").count(), 1, "{html}");
    let forced = target_row(&dom, "127.0.0.31:9000/tcp").field_text("override");
    assert_eq!(forced, "forced down until 04:35:06Z (in 30 min)");

    // A document with no drill shows none.
    let (dom, html, _server) = page_with(&[Reply::Json("status.json")]);
    assert_eq!(dom.with("data-field", "drill-badge").count(), 0, "{html}");
    assert_eq!(dom.with("data-field", "count-drill").count(), 0, "{html}");
    assert_eq!(dom.with("data-simulated", "true").count(), 0, "{html}");
}
