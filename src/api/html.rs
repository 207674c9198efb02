//! The status page's first paint: the status document rendered as HTML into
//! the regions of `page.html` marked `<!--ssr:NAME-->…<!--/ssr:NAME-->`, so
//! the page shows every table without JavaScript. The markup and `data-`
//! attributes are those the page's script builds, so the script's first
//! refresh replaces like with like. Every string from the document goes
//! through [`text`] or [`attr`]: targets, reasons and RDATA are data, never
//! markup.

use std::collections::HashMap;
use std::fmt::Write;

use super::status::{Status, TargetStatus};
use crate::answer::SetView;
use crate::health::Transition;
use crate::health::state::Health;
use crate::health::transition::rfc3339;

/// The regions the server fills, in the order they appear in the page.
pub(crate) const REGIONS: &[&str] = &[
    "version",
    "refreshed",
    "summary",
    "failing-open",
    "recordsets",
    "targets",
    "timeline",
];

/// The body tag as the template has it, and what it becomes once filled.
const BODY_LOADING: &str = "<body data-status=\"loading\">";

/// `template` (the page) with every region filled from `doc`. A region
/// missing from the template is left out: the script still fills the page.
pub(crate) fn render(template: &str, doc: &Status) -> String {
    let time = rfc3339::format(doc.time);
    let by_target: HashMap<&str, &TargetStatus> =
        doc.targets.iter().map(|t| (t.target.as_str(), t)).collect();
    let mut page = template.replacen(
        BODY_LOADING,
        &format!(
            "<body data-status=\"ok\" data-rendered=\"server\" data-time=\"{}\">",
            attr(&time)
        ),
        1,
    );
    for region in REGIONS {
        let html = match *region {
            "version" => text(doc.version),
            "refreshed" => format!(
                "<time datetime=\"{0}\" title=\"{0}\">{1}</time>",
                attr(&time),
                text(&short_time(&time, &time))
            ),
            "summary" => summary(&doc.targets),
            "failing-open" => failing_open(&doc.record_sets),
            "recordsets" => record_sets(&doc.record_sets, &by_target),
            "targets" => targets(&doc.targets, &time),
            "timeline" => timeline(&doc.transitions, &time),
            _ => continue,
        };
        page = fill(&page, region, &html);
    }
    page
}

/// Replaces what lies between `<!--ssr:NAME-->` and `<!--/ssr:NAME-->`.
fn fill(page: &str, name: &str, html: &str) -> String {
    let open = format!("<!--ssr:{name}-->");
    let close = format!("<!--/ssr:{name}-->");
    let Some(start) = page.find(&open).map(|i| i + open.len()) else {
        return page.to_string();
    };
    let Some(end) = page[start..].find(&close).map(|i| start + i) else {
        return page.to_string();
    };
    let mut out = String::with_capacity(page.len() + html.len());
    out.push_str(&page[..start]);
    out.push_str(html);
    out.push_str(&page[end..]);
    out
}

/// Text content, escaped.
fn text(s: &str) -> String {
    escape(s, false)
}

/// An attribute value in double quotes, escaped.
fn attr(s: &str) -> String {
    escape(s, true)
}

/// `&`, `<` and `>` as entities, and quotes too in an attribute value.
fn escape(s: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            '\'' if quotes => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `04:05:06Z` on the server's day, else `2026-11-21 04:05:06Z`, as the
/// script's `shortTime`.
fn short_time(time: &str, now: &str) -> String {
    let (Some(day), Some(clock)) = (time.get(..10), time.get(11..19)) else {
        return time.to_string();
    };
    if now.get(..10) == Some(day) {
        format!("{clock}Z")
    } else {
        format!("{day} {clock}Z")
    }
}

fn time_el(time: &str, now: &str) -> String {
    format!(
        "<time datetime=\"{0}\" title=\"{0}\" class=\"nowrap\">{1}</time>",
        attr(time),
        text(&short_time(time, now))
    )
}

fn badge(class: &str, label: &str, field: Option<&str>) -> String {
    let field = field.map_or_else(String::new, |f| format!(" data-field=\"{}\"", attr(f)));
    format!(
        "<span class=\"badge {}\"{field}>{}</span>",
        attr(class),
        text(label)
    )
}

fn state_badge(state: Health) -> String {
    badge(state.as_str(), state.as_str(), Some("state-badge"))
}

fn summary(targets: &[TargetStatus]) -> String {
    let up = targets.iter().filter(|t| t.state == Health::Up).count();
    let down = targets.len() - up;
    let amber = targets
        .iter()
        .filter(|t| t.held || t.forced.is_some())
        .count();
    let noun = if targets.len() == 1 {
        "target"
    } else {
        "targets"
    };
    let mut out = format!(
        "{} {noun}: {} {}",
        targets.len(),
        badge("up", &format!("{up} up"), Some("count-up")),
        badge(
            if down > 0 { "down" } else { "none" },
            &format!("{down} down"),
            Some("count-down")
        )
    );
    if amber > 0 {
        out.push(' ');
        out.push_str(&badge(
            "amber",
            &format!("{amber} held/overridden"),
            Some("count-amber"),
        ));
    }
    let drills = targets.iter().filter(|t| t.simulated.is_some()).count();
    if drills > 0 {
        out.push(' ');
        out.push_str(&badge(
            "amber",
            &format!("{drills} in drill"),
            Some("count-drill"),
        ));
    }
    out
}

/// The sentence the banner of a failing-open set says (the script says
/// the same).
fn failing_open_sentence(set: &SetView) -> String {
    format!(
        "Failing open: {} {} has no serving member; it answers {} by its all-down rule ({}).",
        set.owner,
        set.rr_type,
        set.answer.join(", "),
        set.all_down
    )
}

fn failing_open(sets: &[SetView]) -> String {
    let mut out = String::new();
    for set in sets.iter().filter(|s| s.failing_open) {
        let _ = write!(
            out,
            "<div class=\"banner\" role=\"alert\" data-failing-open=\"{}\">{}</div>",
            attr(&format!("{} {}", set.owner, set.rr_type)),
            text(&failing_open_sentence(set))
        );
    }
    out
}

fn rank_text(policy: &str, rank: Option<u32>) -> Option<String> {
    let rank = rank?;
    Some(match policy {
        "failover" => format!("tier {rank}"),
        "weighted" => format!("weight {rank}"),
        _ => format!("rank {rank}"),
    })
}

fn record_sets(sets: &[SetView], by_target: &HashMap<&str, &TargetStatus>) -> String {
    if sets.is_empty() {
        return "<tr><td colspan=\"6\" class=\"empty\">no health-aware record sets</td></tr>"
            .to_string();
    }
    let mut out = String::new();
    for set in sets {
        let _ = write!(
            out,
            "<tr data-recordset=\"{}\" data-policy=\"{}\">\
             <td class=\"mono\" data-field=\"name\">{}</td>\
             <td class=\"mono\" data-field=\"type\">{}</td>\
             <td data-field=\"policy\">{}</td>\
             <td class=\"num\" data-field=\"ttl\">{}</td>\
             <td data-field=\"members\"><ul class=\"members\">",
            attr(&format!("{} {}", set.owner, set.rr_type)),
            attr(set.policy),
            text(&set.owner),
            text(&set.rr_type),
            text(set.policy),
            set.ttl
        );
        for member in &set.members {
            let target = member
                .target
                .as_deref()
                .and_then(|t| by_target.get(t).copied());
            let state = match (&member.target, target) {
                (None, _) => "unchecked",
                (Some(_), Some(t)) => t.state.as_str(),
                (Some(_), None) => "unknown",
            };
            let in_answer = set.answer.contains(&member.rdata);
            let amber = target.is_some_and(amber);
            let _ = write!(
                out,
                "<li data-member=\"{}\" data-target=\"{}\" data-state=\"{state}\" \
                 data-serving=\"{}\" data-answer=\"{in_answer}\" data-rank=\"{}\"{}{}>\
                 <span class=\"rdata mono\">{}</span> ",
                attr(&member.rdata),
                attr(member.target.as_deref().unwrap_or("")),
                member.serving,
                member.rank.map_or_else(String::new, |r| r.to_string()),
                if in_answer && set.failing_open {
                    " data-fail-open=\"true\""
                } else {
                    ""
                },
                if in_answer { " class=\"answer\"" } else { "" },
                text(&member.rdata)
            );
            if let Some(rank) = rank_text(set.policy, member.rank) {
                let _ = write!(out, "<span class=\"muted\">{} </span>", text(&rank));
            }
            out.push_str(&match state {
                "up" | "down" => badge(state, state, Some("state-badge")),
                _ => badge("none", state, Some("state-badge")),
            });
            out.push(' ');
            out.push_str(&if member.serving {
                badge("up", "serving", Some("serving"))
            } else {
                badge("down", "not serving", Some("serving"))
            });
            if let Some(t) = target.filter(|_| amber) {
                out.push(' ');
                let label = if t.forced.is_some() {
                    "overridden"
                } else if t.simulated.is_some() {
                    "drill"
                } else {
                    "held"
                };
                out.push_str(&badge("amber", label, Some("amber")));
            }
            if in_answer {
                out.push_str(if set.failing_open {
                    " <span class=\"answer-mark\" title=\"answered only because every member is down\">◀ answer (failing open)</span>"
                } else {
                    " <span class=\"answer-mark\" title=\"in the answer now\">◀ answer</span>"
                });
            }
            if let Some(t) = &member.target {
                let _ = write!(
                    out,
                    "<div class=\"muted mono\" data-field=\"target\">{}</div>",
                    text(t)
                );
            }
            out.push_str("</li>");
        }
        out.push_str("</ul></td><td class=\"mono\" data-field=\"answer\">");
        if set.answer.is_empty() {
            out.push_str(&badge("down", "no answer", Some("no-answer")));
        } else {
            out.push_str(&text(&set.answer.join(", ")));
        }
        out.push_str("</td></tr>");
    }
    out
}

/// Whether something other than the checks has a say in a target now: an
/// override, a manual-failback hold or a drill's simulated failure.
fn amber(t: &TargetStatus) -> bool {
    t.held || t.forced.is_some() || t.simulated.is_some()
}

fn targets(targets: &[TargetStatus], now: &str) -> String {
    if targets.is_empty() {
        return "<tr><td colspan=\"10\" class=\"empty\">no checked targets</td></tr>".to_string();
    }
    let mut out = String::new();
    for t in targets {
        let class = if amber(t) {
            " class=\"is-amber\""
        } else if t.state == Health::Down {
            " class=\"is-down\""
        } else {
            ""
        };
        let probe = match &t.last_probe {
            None => "none",
            Some(p) if p.ok => "ok",
            Some(_) => "failed",
        };
        let _ = write!(
            out,
            "<tr data-target=\"{}\" data-address=\"{}\" data-check=\"{}\" data-state=\"{}\" \
             data-serving=\"{}\" data-held=\"{}\" data-override=\"{}\" data-simulated=\"{}\" \
             data-probe=\"{probe}\"{class}>\
             <td class=\"mono\" data-field=\"target\">{}",
            attr(&t.target),
            attr(&t.address),
            attr(&t.check),
            t.state,
            t.serving,
            t.held,
            t.forced.as_ref().map_or("none", |o| o.state.as_str()),
            t.simulated.is_some(),
            text(&t.target)
        );
        if !t.address.is_empty() && !t.target.starts_with(&format!("{}/", t.address)) {
            let _ = write!(
                out,
                "<div class=\"muted\" data-field=\"address\">{}</div>",
                text(&t.address)
            );
        }
        let _ = write!(
            out,
            "</td><td data-field=\"check\">{}</td><td data-field=\"state\">{}",
            text(&t.check),
            state_badge(t.state)
        );
        if let Some(views) = &t.views {
            out.push_str("<div class=\"muted\" data-field=\"views\">views: ");
            for (name, health) in views {
                let _ = write!(
                    out,
                    "<span class=\"badge {0}\" data-view=\"{1}\">{2} {0}</span> ",
                    health.as_str(),
                    attr(name),
                    text(name)
                );
            }
            if let Some(checks) = t.checks {
                let _ = write!(out, "<span data-field=\"checks\">· here: {checks}</span>");
            }
            out.push_str("</div>");
        }
        out.push_str("</td><td data-field=\"serving\">");
        out.push_str(&if t.serving {
            badge("up", "yes", None)
        } else {
            badge("down", "no", None)
        });
        out.push_str("</td><td data-field=\"override\">");
        out.push_str(&override_cell(t, now));
        out.push_str("</td><td data-field=\"held\">");
        out.push_str(&if t.held {
            badge("amber", "held", None)
        } else {
            "<span class=\"muted\">no</span>".to_string()
        });
        out.push_str("</td><td data-field=\"last-probe\">");
        match &t.last_probe {
            None => out.push_str("<span class=\"muted\" data-field=\"probe\">no probe yet</span>"),
            Some(p) => {
                let latency = if p.latency_ms < 10.0 {
                    format!("{:.2} ms", p.latency_ms)
                } else {
                    format!("{:.1} ms", p.latency_ms)
                };
                let _ = write!(
                    out,
                    "{} <span data-field=\"probe-reason\">{}</span> \
                     <span class=\"muted nowrap\" data-field=\"latency\">{}</span>\
                     <div class=\"muted\">{}</div>",
                    if p.ok {
                        badge("up", "ok", Some("probe-ok"))
                    } else {
                        badge("down", "failed", Some("probe-ok"))
                    },
                    text(&p.reason),
                    latency,
                    time_el(&p.time, now)
                );
            }
        }
        let _ = write!(
            out,
            "</td><td class=\"num nowrap\" data-field=\"counts\">\
             <span data-field=\"successes\">{}</span> / <span data-field=\"failures\">{}</span>\
             </td><td data-field=\"last-transition\">",
            t.successes, t.failures
        );
        match &t.last_transition {
            None => out.push_str("<span class=\"muted\">none since start</span>"),
            Some(lt) => {
                let _ = write!(
                    out,
                    "{} → {} <span data-field=\"transition-reason\">{}</span>\
                     <div class=\"muted\">{}</div>",
                    badge(lt.from.as_str(), lt.from.as_str(), None),
                    badge(lt.to.as_str(), lt.to.as_str(), None),
                    text(&lt.reason),
                    time_el(&rfc3339::format(lt.time), now)
                );
            }
        }
        out.push_str("</td><td class=\"nowrap\" data-field=\"actions\">");
        out.push_str(&actions(t));
        out.push_str("</td></tr>");
    }
    out
}

/// The override in force and a drill's simulated failure, each with when
/// it lapses, as the script's `overrideCell`.
fn override_cell(t: &TargetStatus, now: &str) -> String {
    let mut out = String::new();
    if let Some(o) = &t.forced {
        out.push_str(&badge(
            "amber",
            &format!("forced {}", o.state),
            Some("override-badge"),
        ));
        out.push_str(" <span data-field=\"until\">");
        match &o.until {
            None => out.push_str("no expiry"),
            Some(until) => {
                out.push_str("until ");
                out.push_str(&time_el(until, now));
            }
        }
        out.push_str("</span>");
    }
    if let Some(sim) = &t.simulated {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&badge("amber", "drill", Some("drill-badge")));
        let _ = write!(
            out,
            " <span data-field=\"drill-until\" title=\"a drill's simulated failure: \
             its probes fail without running\">until {}</span>",
            time_el(&sim.until, now)
        );
    }
    if out.is_empty() {
        out.push_str("<span class=\"muted\">—</span>");
    }
    out
}

/// The script's action buttons, disabled: they post JSON with the token,
/// which only the script can do; its first refresh replaces them with live
/// ones.
fn actions(t: &TargetStatus) -> String {
    let forced_down = t.forced.as_ref().is_some_and(|o| o.state == Health::Down);
    let mut buttons = Vec::new();
    if !forced_down {
        buttons.push(("down", "drain"));
    }
    if t.held && t.forced.is_none() {
        buttons.push(("auto", "release"));
    }
    if t.forced.is_some() {
        buttons.push(("auto", "back to checks"));
    }
    let mut out = String::new();
    for (state, label) in buttons {
        let _ = write!(
            out,
            "<button type=\"button\" class=\"action\" disabled title=\"needs JavaScript\" \
             data-action-target=\"{}\" data-action-state=\"{state}\">{label}</button>",
            attr(&t.target)
        );
    }
    out
}

fn timeline(transitions: &[Transition], now: &str) -> String {
    if transitions.is_empty() {
        return "<li class=\"empty\">no transitions since start</li>".to_string();
    }
    let mut out = String::new();
    for tr in transitions {
        let time = rfc3339::format(tr.time);
        let _ = write!(
            out,
            "<li data-transition=\"\" data-target=\"{}\" data-check=\"{}\" data-from=\"{}\" \
             data-to=\"{}\" data-serving=\"{}\" data-time=\"{}\">{} \
             <span class=\"mono\" data-field=\"target\">{}</span> \
             <span class=\"muted\" data-field=\"check\">check {}</span> \
             <span>{} → {}</span> \
             <span data-field=\"serving\">{}</span> \
             <span data-field=\"reason\">{}</span> \
             <span class=\"muted\" data-field=\"consecutive\">after {} in a row</span>",
            attr(&tr.target),
            attr(&tr.check),
            tr.from,
            tr.to,
            tr.serving,
            attr(&time),
            time_el(&time, now),
            text(&tr.target),
            text(&tr.check),
            badge(tr.from.as_str(), tr.from.as_str(), None),
            badge(tr.to.as_str(), tr.to.as_str(), None),
            if tr.serving { "serving" } else { "not serving" },
            text(&tr.reason),
            tr.consecutive
        );
        if !tr.record_sets.is_empty() {
            let _ = write!(
                out,
                " <span class=\"muted mono\" data-field=\"record-sets\">{}</span>",
                text(&tr.record_sets.join(", "))
            );
        }
        out.push_str("</li>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = include_str!("page.html");

    #[test]
    fn every_region_and_the_body_tag_are_in_the_page() {
        assert_eq!(PAGE.matches(BODY_LOADING).count(), 1);
        for region in REGIONS {
            assert_eq!(
                PAGE.matches(&format!("<!--ssr:{region}-->")).count(),
                1,
                "{region}"
            );
            assert_eq!(
                PAGE.matches(&format!("<!--/ssr:{region}-->")).count(),
                1,
                "{region}"
            );
        }
    }

    /// A document whose every string field carries markup.
    fn hostile() -> Status {
        use std::time::SystemTime;

        use crate::answer::MemberView;

        let evil = "<img onerror=x>\"'&";
        Status {
            version: "0.1.0",
            time: SystemTime::UNIX_EPOCH,
            targets: vec![TargetStatus {
                target: format!("{evil}/web"),
                address: evil.into(),
                check: evil.into(),
                state: Health::Down,
                checks: None,
                views: None,
                serving: false,
                held: true,
                forced: None,
                simulated: None,
                last_probe: Some(crate::api::status::ProbeStatus {
                    ok: false,
                    reason: evil.into(),
                    latency_ms: 1.5,
                    time: evil.into(),
                }),
                successes: 0,
                failures: 3,
                last_transition: None,
            }],
            record_sets: vec![SetView {
                name: String::new(),
                owner: format!("{evil}.test."),
                rr_type: "TXT".into(),
                policy: "failover",
                ttl: 30,
                members: vec![MemberView {
                    rdata: evil.into(),
                    target: Some(format!("{evil}/web")),
                    rank: Some(1),
                    serving: false,
                }],
                answer: vec![evil.into()],
                all_down: "first".into(),
                healthy_members: 0,
                failing_open: true,
            }],
            transitions: vec![Transition {
                target: format!("{evil}/web"),
                check: evil.into(),
                record_sets: vec![evil.into()],
                from: Health::Up,
                to: Health::Down,
                was_serving: true,
                serving: false,
                reason: evil.into(),
                class: crate::health::ReasonClass::Status,
                consecutive: 3,
                time: SystemTime::UNIX_EPOCH,
            }],
            cluster: None,
        }
    }

    #[test]
    fn markup_in_the_data_is_escaped_everywhere() {
        let page = render(PAGE, &hostile());
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("'&\""), "{page}");
        assert!(
            page.contains("&lt;img onerror=x&gt;\"'&amp;"),
            "text: {page}"
        );
        assert!(
            page.contains("&lt;img onerror=x&gt;&quot;&#39;&amp;"),
            "attributes: {page}"
        );
        // Every region was filled: no loading rows, a banner for the set.
        assert!(!page.contains("data-loading"), "{page}");
        assert!(page.contains("data-failing-open="), "{page}");
        assert!(page.contains("data-rendered=\"server\""), "{page}");
    }

    #[test]
    fn a_drilled_target_is_marked_with_when_the_drill_lapses() {
        let mut doc = hostile();
        doc.targets[0].held = false;
        doc.targets[0].simulated = Some(crate::api::status::SimulationStatus {
            until: "1970-01-01T00:00:20.000Z".into(),
        });
        let page = render(PAGE, &doc);
        assert!(page.contains("data-simulated=\"true\""), "{page}");
        assert!(page.contains("class=\"is-amber\""), "{page}");
        assert!(
            page.contains("<span class=\"badge amber\" data-field=\"drill-badge\">drill</span>"),
            "{page}"
        );
        assert!(
            page.contains("<time datetime=\"1970-01-01T00:00:20.000Z\""),
            "{page}"
        );
        assert!(page.contains(">1 in drill</span>"), "{page}");
        // The member's amber mark says why.
        assert!(page.contains("data-field=\"amber\">drill</span>"), "{page}");

        doc.targets[0].simulated = None;
        let page = render(PAGE, &doc);
        assert!(page.contains("data-simulated=\"false\""), "{page}");
        // The script names both fields too: look for them as rendered.
        assert!(!page.contains("data-field=\"drill-badge\""), "{page}");
        assert!(!page.contains("data-field=\"count-drill\""), "{page}");
    }

    #[test]
    fn every_comment_in_the_page_closes_before_the_next_opens() {
        // A marker written inside a comment would end it early and show
        // the rest of the comment as text.
        let mut rest = PAGE;
        while let Some(open) = rest.find("<!--") {
            let after = &rest[open + 4..];
            let close = after.find("-->").expect("every comment closes");
            assert!(
                !after[..close].contains("<!--"),
                "a comment inside a comment: {}",
                &after[..close]
            );
            rest = &after[close + 3..];
        }
    }

    #[test]
    fn fill_replaces_only_between_the_markers() {
        let page = "a<!--ssr:x-->old<!--/ssr:x-->b";
        assert_eq!(fill(page, "x", "<i>"), "a<!--ssr:x--><i><!--/ssr:x-->b");
        assert_eq!(fill(page, "y", "new"), page);
    }

    #[test]
    fn text_and_attributes_are_escaped() {
        assert_eq!(
            text("<b>\"a\" & 'b'</b>"),
            "&lt;b&gt;\"a\" &amp; 'b'&lt;/b&gt;"
        );
        assert_eq!(
            attr("<b>\"a\" & 'b'</b>"),
            "&lt;b&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn short_time_shows_the_date_only_on_another_day() {
        let now = "2026-11-22T04:05:06.789Z";
        assert_eq!(short_time("2026-11-22T01:02:03.000Z", now), "01:02:03Z");
        assert_eq!(
            short_time("2026-11-21T23:10:00.000Z", now),
            "2026-11-21 23:10:00Z"
        );
        assert_eq!(short_time("x", now), "x");
    }
}
