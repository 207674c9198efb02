//! The page's action buttons against the real server: a [`Driver`] adds a
//! script to the page that types the token (or none) and clicks a target's
//! button once the page's own script has rendered it; the test reads the
//! page's message and the API's status.

use super::dom::El;
use super::live::{PRIMARY, Pair, SECONDARY, target, wait_page, wait_status};
use super::{Dom, Driver};
use crate::health::wait_answer;

const TOKEN: &str = "s3cret-token";

/// The script that clicks `target`'s button for `state` after typing
/// `token` into the page's token field; it marks the body
/// `data-driver="clicked"` and records what the page kept in
/// sessionStorage as `data-driver-stored`.
fn driver(target: &str, state: &str, token: &str) -> String {
    let js = |s: &str| serde_json::to_string(s).expect("a JS string");
    format!(
        r#""use strict";
(function () {{
  var TARGET = {target}, STATE = {state}, TOKEN = {token};
  function tick() {{
    var buttons = document.querySelectorAll("button[data-action-target]");
    for (var i = 0; i < buttons.length; i++) {{
      var b = buttons[i];
      if (b.getAttribute("data-action-target") === TARGET &&
          b.getAttribute("data-action-state") === STATE && !b.disabled) {{
        var field = document.getElementById("token");
        field.value = TOKEN;
        field.dispatchEvent(new Event("input"));
        b.click();
        document.body.setAttribute("data-driver", "clicked");
        document.body.setAttribute("data-driver-stored", window.sessionStorage.getItem("healthdns-token") || "");
        return;
      }}
    }}
    setTimeout(tick, 50);
  }}
  tick();
}})();"#,
        target = js(target),
        state = js(state),
        token = js(token)
    )
}

/// The message element after the click.
fn message<'a>(dom: &'a Dom) -> El<'a> {
    dom.id("action-message")
}

/// The targets-table row of `name`.
fn row<'a>(dom: &'a Dom, name: &'a str) -> Option<El<'a>> {
    dom.with("data-target", name).find(|e| e.tag() == "tr")
}

#[test]
fn drain_with_the_token_drains_and_back_to_checks_restores() {
    let pair = Pair::start(Some(TOKEN));
    pair.wait_healthy();
    let (primary, _) = pair.targets();

    let page = Driver::start(pair.api, &driver(&primary, "down", TOKEN));
    let dom = wait_page(&page.url(), "the drain done and shown", |dom| {
        message(dom).attr("data-action") == Some("ok")
            && row(dom, &primary).is_some_and(|r| r.attr("data-override") == Some("down"))
    });
    let body = dom.tags("body").next().expect("body");
    assert_eq!(body.get("data-driver"), "clicked");
    assert_eq!(
        body.get("data-driver-stored"),
        TOKEN,
        "kept in sessionStorage"
    );
    assert!(
        message(&dom).text().contains("drain"),
        "{:?}",
        message(&dom)
    );
    let drained = row(&dom, &primary).unwrap();
    assert_eq!(drained.get("data-serving"), "false", "{drained:?}");
    // Drained: the button that ends it is there, the drain button is not.
    let states: Vec<&str> = drained
        .descendants()
        .into_iter()
        .filter_map(|e| e.attr("data-action-state"))
        .collect();
    assert_eq!(states, ["auto"], "{drained:?}");

    // The API says so, and answers follow.
    wait_status(&pair.server, pair.api, "the primary drained", |doc| {
        target(doc, &primary)
            .is_some_and(|t| t["override"]["state"] == "down" && t["serving"] == false)
    });
    wait_answer(&pair.server, "api", "A", &[SECONDARY]);

    // Back to the checks.
    let page = Driver::start(pair.api, &driver(&primary, "auto", TOKEN));
    wait_page(&page.url(), "the override ended", |dom| {
        message(dom).attr("data-action") == Some("ok")
            && row(dom, &primary).is_some_and(|r| r.attr("data-override") == Some("none"))
    });
    wait_status(
        &pair.server,
        pair.api,
        "the primary back to its checks",
        |doc| {
            target(doc, &primary).is_some_and(|t| t["override"].is_null() && t["serving"] == true)
        },
    );
    wait_answer(&pair.server, "api", "A", &[PRIMARY]);
}

#[test]
fn drain_without_the_token_shows_the_401_message_and_changes_nothing() {
    let pair = Pair::start(Some(TOKEN));
    pair.wait_healthy();
    let (primary, _) = pair.targets();

    for token in ["", "wrong"] {
        let page = Driver::start(pair.api, &driver(&primary, "down", token));
        let dom = wait_page(&page.url(), "the 401 message", |dom| {
            message(dom).attr("data-action") == Some("unauthorized")
        });
        let text = message(&dom).text();
        assert!(
            text.contains("401") && text.contains("token"),
            "token {token:?}: {text}"
        );
        let r = row(&dom, &primary).expect("the primary's row");
        assert_eq!(r.get("data-override"), "none", "token {token:?}: {r:?}");
    }
    let doc = wait_status(&pair.server, pair.api, "the status", |_| true);
    let t = target(&doc, &primary).expect("the primary");
    assert!(t["override"].is_null(), "{t:#}");
    assert_eq!(t["serving"], true, "{t:#}");
    wait_answer(&pair.server, "api", "A", &[PRIMARY]);
}
