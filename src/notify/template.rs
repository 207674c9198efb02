//! Exec arguments rendered for one event: each [`Field`] of a
//! [`Template`] (parsed with the config) filled from the event.

use crate::config::template::{Field, Template};
use crate::health::Transition;
use crate::health::transition::rfc3339;

/// The argument `template` stands for, for `event`.
pub(super) fn render(template: &Template, event: &Transition) -> String {
    template.render(|field, out| match field {
        Field::Target => out.push_str(&event.target),
        Field::Check => out.push_str(&event.check),
        Field::State => out.push_str(&event.to.to_string()),
        Field::From => out.push_str(&event.from.to_string()),
        Field::Reason => out.push_str(&event.reason),
        Field::Serving => out.push_str(if event.serving { "true" } else { "false" }),
        Field::Time => out.push_str(&rfc3339::format(event.time)),
        Field::RecordSets => out.push_str(&event.record_sets.join(",")),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::health::state::Health;

    fn event() -> Transition {
        Transition {
            target: "127.0.0.21:8080/web".into(),
            check: "web".into(),
            record_sets: vec!["api.h.test. A".into(), "www.h.test. A".into()],
            from: Health::Up,
            to: Health::Down,
            serving: false,
            reason: "HTTP 500 not expected; x y".into(),
            consecutive: 2,
            time: UNIX_EPOCH + Duration::from_millis(1_795_320_306_789),
        }
    }

    fn render(text: &str) -> String {
        super::render(&Template::parse(text).unwrap(), &event())
    }

    #[test]
    fn every_placeholder_is_substituted() {
        assert_eq!(render("{target}"), "127.0.0.21:8080/web");
        assert_eq!(render("{check}"), "web");
        assert_eq!(render("{state}"), "down");
        assert_eq!(render("{from}"), "up");
        assert_eq!(render("{reason}"), "HTTP 500 not expected; x y");
        assert_eq!(render("{serving}"), "false");
        assert_eq!(render("{time}"), "2026-11-22T04:05:06.789Z");
        assert_eq!(render("{record_sets}"), "api.h.test. A,www.h.test. A");
    }

    #[test]
    fn text_around_placeholders_is_kept() {
        assert_eq!(render("--state={state}"), "--state=down");
        assert_eq!(render("{from}->{state}!"), "up->down!");
        assert_eq!(render("plain"), "plain");
        assert_eq!(render(""), "");
        assert_eq!(render("{{state}} {{{state}}}"), "{state} {down}");
        assert_eq!(render("a}b"), "a}b");
        assert_eq!(render("é{check}ü"), "éwebü");
        assert!(!Template::parse("{{x}}").unwrap().has_fields());
        assert!(Template::parse("x{time}").unwrap().has_fields());
    }
}
