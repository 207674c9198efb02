//! Exec arguments rendered for one event: each [`Field`] of a
//! [`Template`] (parsed with the config) filled from the event.

use crate::config::template::{Field, Template};
use crate::health::transition::rfc3339;

use super::event::{Change, Event};

/// The argument `template` stands for, for `event`.
pub(super) fn render(template: &Template, event: &Event) -> String {
    let (target, answer) = match &event.change {
        Change::Target(t) => (Some(t), None),
        Change::Answer(a) => (None, Some(a)),
    };
    let flag = |b: bool| if b { "true" } else { "false" };
    template.render(|field, out| match field {
        Field::Id => out.push_str(&event.id),
        Field::Sequence => out.push_str(&event.sequence.to_string()),
        Field::Kind => out.push_str(event.change.kind()),
        Field::Reason => out.push_str(event.reason.as_str()),
        Field::Detail => out.push_str(&event.detail),
        Field::Time => out.push_str(&rfc3339::format(event.time)),
        Field::Target => out.push_str(target.map_or("", |t| &t.target)),
        Field::Check => out.push_str(target.map_or("", |t| &t.check)),
        Field::State => out.push_str(target.map_or("", |t| t.to)),
        Field::From => out.push_str(target.map_or("", |t| t.from)),
        Field::Checks => out.push_str(target.map_or("", |t| t.checks)),
        Field::Serving => out.push_str(target.map_or("", |t| flag(t.serving))),
        Field::RecordSets => match (target, answer) {
            (Some(t), _) => out.push_str(&t.record_sets.join(",")),
            (_, Some(a)) => out.push_str(&a.record_set),
            _ => {}
        },
        Field::Name => out.push_str(answer.map_or("", |a| &a.name)),
        Field::Type => out.push_str(answer.map_or("", |a| &a.rr_type)),
        Field::FromEndpoints => {
            out.push_str(&answer.map_or(String::new(), |a| a.from_endpoints.join(",")))
        }
        Field::ToEndpoints => {
            out.push_str(&answer.map_or(String::new(), |a| a.to_endpoints.join(",")))
        }
        Field::FailingOpen => out.push_str(answer.map_or("", |a| flag(a.failing_open))),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::health::state::Health;
    use crate::health::{ReasonClass, Transition};
    use crate::notify::event::{AnswerChange, Sequence};

    fn transition() -> Transition {
        Transition {
            target: "127.0.0.21:8080/web".into(),
            check: "web".into(),
            record_sets: vec!["api.h.test. A".into(), "www.h.test. A".into()],
            from: Health::Up,
            to: Health::Down,
            was_serving: true,
            serving: false,
            reason: "HTTP 500 not expected; x y".into(),
            class: ReasonClass::Status,
            consecutive: 2,
            time: UNIX_EPOCH + Duration::from_millis(1_795_320_306_789),
        }
    }

    fn render(text: &str) -> String {
        super::render(
            &Template::parse(text).unwrap(),
            &Sequence::new().target(&transition()),
        )
    }

    #[test]
    fn every_placeholder_is_substituted() {
        assert_eq!(render("{target}"), "127.0.0.21:8080/web");
        assert_eq!(render("{check}"), "web");
        assert_eq!(render("{state}"), "down");
        assert_eq!(render("{from}"), "up");
        assert_eq!(render("{checks}"), "down");
        assert_eq!(render("{reason}"), "status");
        assert_eq!(render("{detail}"), "HTTP 500 not expected; x y");
        assert_eq!(render("{serving}"), "false");
        assert_eq!(render("{time}"), "2026-11-22T04:05:06.789Z");
        assert_eq!(render("{record_sets}"), "api.h.test. A,www.h.test. A");
        assert_eq!(render("{kind}"), "target");
        assert_eq!(render("{sequence}"), "1");
        assert!(render("{id}").ends_with("-1"));
        assert_eq!(render("{name}{type}{from_endpoints}{failing_open}"), "");
    }

    #[test]
    fn answer_events_fill_their_own_fields() {
        let event = Sequence::new().event(
            Change::Answer(AnswerChange {
                name: "api.h.test.".into(),
                rr_type: "A".into(),
                record_set: "api.h.test. A".into(),
                policy: "failover",
                from_endpoints: vec!["192.0.2.1".into()],
                to_endpoints: vec!["192.0.2.2".into(), "192.0.2.3".into()],
                failing_open: false,
                cause: "x-1".into(),
            }),
            ReasonClass::Timeout,
            "192.0.2.1:80/web: timeout after 1s".into(),
            UNIX_EPOCH,
        );
        let render = |text: &str| super::render(&Template::parse(text).unwrap(), &event);
        assert_eq!(
            render("{kind} {name} {type} {from_endpoints} -> {to_endpoints} {failing_open}"),
            "answer api.h.test. A 192.0.2.1 -> 192.0.2.2,192.0.2.3 false"
        );
        assert_eq!(render("{reason}|{target}|{state}"), "timeout||");
        assert_eq!(render("{record_sets}"), "api.h.test. A");
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
