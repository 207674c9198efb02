//! Exec arguments with `{placeholder}`s, parsed once at config time and
//! rendered when the program runs: per event for `[[notify]]` (by
//! `notify`, which knows events; the placeholders are [`Field`]s), per
//! target for an exec check (by `health`; the placeholders are
//! [`CheckField`]s). Each argument is rendered on its own and passed to the
//! program as one argument: no shell sees it, so a value's text cannot
//! split or inject arguments.
//!
//! `{{` and `}}` stand for literal braces; any other `{…}` must name a
//! placeholder of the argument's kind, and an unclosed `{` is an error.

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

/// The placeholders one kind of argument may hold.
pub trait Placeholder: Copy + PartialEq + Eq + fmt::Debug + 'static {
    /// Every one, in the order error messages list them.
    const ALL: &'static [Self];
    /// The placeholder's name (between the braces).
    fn name(self) -> &'static str;
}

impl Placeholder for Field {
    const ALL: &'static [Field] = &Field::ALL;

    fn name(self) -> &'static str {
        Field::name(self)
    }
}

/// A value of the target an exec check's argument can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckField {
    /// `{address}`: the target's address (an IP literal, or the host name
    /// a `target=` annotation gives), IPv6 without brackets.
    Address,
    /// `{port}`: the target's port.
    Port,
    /// `{check}`: the name of the exec check.
    Check,
    /// `{timeout}`: the check's timeout in seconds (`1`, `0.5`), for a
    /// command that bounds its own work (`curl --max-time`).
    Timeout,
}

impl Placeholder for CheckField {
    const ALL: &'static [CheckField] = &[
        CheckField::Address,
        CheckField::Port,
        CheckField::Check,
        CheckField::Timeout,
    ];

    fn name(self) -> &'static str {
        match self {
            CheckField::Address => "address",
            CheckField::Port => "port",
            CheckField::Check => "check",
            CheckField::Timeout => "timeout",
        }
    }
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
}

/// What is wrong with an argument.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// `{name}` names no placeholder of the argument's kind.
    #[error("unknown placeholder {{{name}}} (use {known}, or {{{{ and }}}} for literal braces)")]
    Unknown {
        /// The name between the braces.
        name: String,
        /// The placeholders that exist, as `{a}, {b}`.
        known: String,
    },
    /// A `{` without its `}`.
    #[error("unclosed {{ (write {{{{ for a literal brace)")]
    Unclosed,
}

/// `name`'s placeholder of kind `F`, or the error naming those there are.
fn placeholder<F: Placeholder>(name: &str) -> Result<F, TemplateError> {
    F::ALL
        .iter()
        .copied()
        .find(|f| f.name() == name)
        .ok_or_else(|| TemplateError::Unknown {
            name: name.to_owned(),
            known: F::ALL
                .iter()
                .map(|f| format!("{{{}}}", f.name()))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// A piece of an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<F> {
    Text(String),
    Field(F),
}

/// One argument: text and placeholders of kind `F`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<F> {
    pieces: Vec<Piece<F>>,
}

/// An argument of a `[[notify]]` exec: placeholders are event [`Field`]s.
pub(crate) type Template = Text<Field>;

/// An argument of an exec check's `command`: placeholders are the
/// target's [`CheckField`] values.
pub(crate) type Argument = Text<CheckField>;

impl<F: Placeholder> Text<F> {
    /// Parses an argument as written in the config.
    pub fn parse(text: &str) -> Result<Text<F>, TemplateError> {
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
                let field = placeholder::<F>(name)?;
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
        Ok(Text { pieces })
    }

    /// Whether any placeholder occurs.
    pub fn has_fields(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Field(_)))
    }

    /// The argument, with each placeholder's value written by `value`.
    pub fn render(&self, mut value: impl FnMut(F, &mut String)) -> String {
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

impl<F: Placeholder> fmt::Display for Text<F> {
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
        let unknown = |text| match Template::parse(text) {
            Err(TemplateError::Unknown { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(unknown("{status}"), "status");
        assert_eq!(unknown("{}"), "");
        assert_eq!(Template::parse("x{state"), Err(TemplateError::Unclosed));
        let message = Template::parse("{status}").unwrap_err().to_string();
        assert!(message.starts_with("unknown placeholder {status} (use {id}, "));
        assert!(message.contains("{record_sets}"), "{message}");
    }

    #[test]
    fn each_kind_of_argument_has_its_own_placeholders() {
        let argument = Argument::parse("--to={address}:{port}").unwrap();
        let rendered = argument.render(|field, out| {
            out.push_str(match field {
                CheckField::Address => "192.0.2.1",
                CheckField::Port => "80",
                CheckField::Check | CheckField::Timeout => "?",
            })
        });
        assert_eq!(rendered, "--to=192.0.2.1:80");
        let message = Argument::parse("{target}").unwrap_err().to_string();
        assert_eq!(
            message,
            "unknown placeholder {target} (use {address}, {port}, {check}, {timeout}, \
             or {{ and }} for literal braces)"
        );
        assert!(
            Template::parse("{address}").is_err(),
            "not an event's field"
        );
    }

    #[test]
    fn displays_as_written() {
        for text in ["{target} {{x}} a", "", "--at={time}"] {
            assert_eq!(Template::parse(text).unwrap().to_string(), text);
        }
    }
}
