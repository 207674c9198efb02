//! Exec arguments with `{placeholder}`s, parsed once at config time and
//! rendered per event (by `notify`, which knows events). Each argument is
//! rendered on its own and passed to the program as one argument: no shell
//! sees it, so an event's text cannot split or inject arguments.
//!
//! `{{` and `}}` stand for literal braces; any other `{…}` must name a
//! [`Field`], and an unclosed `{` is an error.

use std::fmt;

use thiserror::Error;

/// A value of the event an argument can carry. Fields an event does not
/// have (`{target}` in an answer event, `{name}` in a target event) render
/// empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `{id}`: the event's id, the same on every retry.
    Id,
    /// `{sequence}`: 1, 2, 3, … per event within one run.
    Sequence,
    /// `{kind}`: `target` or `answer`.
    Kind,
    /// `{target}`: `ADDRESS:PORT/CHECK`.
    Target,
    /// `{check}`: the check's name.
    Check,
    /// `{state}`: whether answers use the target now, `up` or `down`.
    State,
    /// `{from}`: the same, before.
    From,
    /// `{checks}`: what the target's checks say now, `up` or `down`.
    Checks,
    /// `{reason}`: why, in a word (`status`, `timeout`, `override`, …).
    Reason,
    /// `{detail}`: why, in full.
    Detail,
    /// `{serving}`: `true` or `false`.
    Serving,
    /// `{time}`: RFC 3339, UTC.
    Time,
    /// `{record_sets}`: the record sets, comma-joined.
    RecordSets,
    /// `{name}`: the owner name of an answer event's set.
    Name,
    /// `{type}`: its type.
    Type,
    /// `{from_endpoints}`: what it answered before, comma-joined.
    FromEndpoints,
    /// `{to_endpoints}`: what it answers now, comma-joined.
    ToEndpoints,
    /// `{failing_open}`: `true` when no member serves.
    FailingOpen,
}

impl Field {
    /// Every field, for error messages.
    pub const ALL: [Field; 18] = [
        Field::Id,
        Field::Sequence,
        Field::Kind,
        Field::Target,
        Field::Check,
        Field::State,
        Field::From,
        Field::Checks,
        Field::Reason,
        Field::Detail,
        Field::Serving,
        Field::Time,
        Field::RecordSets,
        Field::Name,
        Field::Type,
        Field::FromEndpoints,
        Field::ToEndpoints,
        Field::FailingOpen,
    ];

    /// The placeholder's name (between the braces).
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Sequence => "sequence",
            Field::Kind => "kind",
            Field::Target => "target",
            Field::Check => "check",
            Field::State => "state",
            Field::From => "from",
            Field::Checks => "checks",
            Field::Reason => "reason",
            Field::Detail => "detail",
            Field::Serving => "serving",
            Field::Time => "time",
            Field::RecordSets => "record_sets",
            Field::Name => "name",
            Field::Type => "type",
            Field::FromEndpoints => "from_endpoints",
            Field::ToEndpoints => "to_endpoints",
            Field::FailingOpen => "failing_open",
        }
    }

    fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// What is wrong with an argument.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// `{name}` names no field.
    #[error("unknown placeholder {{{0}}} (use {known}, or {{{{ and }}}} for literal braces)", known = known())]
    Unknown(String),
    /// A `{` without its `}`.
    #[error("unclosed {{ (write {{{{ for a literal brace)")]
    Unclosed,
}

fn known() -> String {
    let names: Vec<String> = Field::ALL
        .iter()
        .map(|f| format!("{{{}}}", f.name()))
        .collect();
    names.join(", ")
}

/// A piece of an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// One argument: text and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses an argument as written in the config.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if rest[i..].starts_with('}') {
                // `}}` is one brace; a lone `}` is taken as written.
                literal.push('}');
                rest = after.strip_prefix('}').unwrap_or(after);
            } else if let Some(after) = after.strip_prefix('{') {
                literal.push('{');
                rest = after;
            } else {
                let end = after.find('}').ok_or(TemplateError::Unclosed)?;
                let name = &after[..end];
                let field =
                    Field::from_name(name).ok_or_else(|| TemplateError::Unknown(name.into()))?;
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Field(field));
                rest = &after[end + 1..];
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// Whether any placeholder occurs.
    pub fn has_fields(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Field(_)))
    }

    /// The argument, with each field's value written by `value`.
    pub fn render(&self, mut value: impl FnMut(Field, &mut String)) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Field(field) => value(*field, &mut out),
            }
        }
        out
    }
}

impl fmt::Display for Template {
    /// As written (with braces escaped again).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => f.write_str(&text.replace('{', "{{").replace('}', "}}"))?,
                Piece::Field(field) => write!(f, "{{{}}}", field.name())?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_unclosed_placeholders_are_errors() {
        assert_eq!(
            Template::parse("{status}"),
            Err(TemplateError::Unknown("status".into()))
        );
        assert_eq!(
            Template::parse("{}"),
            Err(TemplateError::Unknown(String::new()))
        );
        assert_eq!(Template::parse("x{state"), Err(TemplateError::Unclosed));
        let message = TemplateError::Unknown("status".into()).to_string();
        assert!(message.starts_with("unknown placeholder {status} (use {id}, "));
        assert!(message.contains("{record_sets}"), "{message}");
    }

    #[test]
    fn displays_as_written() {
        for text in ["{target} {{x}} a", "", "--at={time}"] {
            assert_eq!(Template::parse(text).unwrap().to_string(), text);
        }
    }
}
