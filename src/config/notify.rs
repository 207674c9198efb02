//! `[[notify]]`: where transitions are announced (a webhook, or a command
//! like keepalived's notify script).

use serde::Deserialize;
use toml::Spanned;

/// `[[notify]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NotifySection {
    /// POST a JSON event here.
    pub webhook: Option<Spanned<String>>,
    /// Run this command; `{target}`, `{state}`, … are substituted.
    pub exec: Option<Spanned<Vec<String>>>,
}

/// A validated notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notifier {
    /// POST the event as JSON to this URL.
    Webhook(String),
    /// Run this program with these arguments (placeholders substituted).
    Exec(Vec<String>),
}

/// Validates one `[[notify]]`; `fail(span, message)` records each problem.
pub fn validate(
    raw: &NotifySection,
    mut fail: impl FnMut(Option<std::ops::Range<usize>>, String),
) -> Option<Notifier> {
    match (&raw.webhook, &raw.exec) {
        (Some(url), None) => Some(Notifier::Webhook(url.get_ref().clone())),
        (None, Some(argv)) if !argv.get_ref().is_empty() => {
            Some(Notifier::Exec(argv.get_ref().clone()))
        }
        _ => {
            fail(
                None,
                "[[notify]] needs exactly one of webhook = \"URL\" or exec = [\"program\", …]"
                    .into(),
            );
            None
        }
    }
}
