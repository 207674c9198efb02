//! `[[notify]]`: where transitions are announced (a webhook, or a command
//! like keepalived's notify script).
//!
//! ```toml
//! [[notify]]
//! webhook = "https://hooks.example.com/healthdns"
//! timeout = "5s"    # per attempt
//! retries = 5       # after the first attempt
//! backoff = "1s"    # before the first retry, doubling, at most 60s
//!
//! [[notify]]
//! exec = ["/usr/local/bin/on-transition", "{target}", "{state}"]
//! ```

use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::config::template::Template;

/// Each attempt may take this long …
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// … a failed delivery is tried this many more times …
pub(crate) const DEFAULT_RETRIES: u32 = 5;
/// … first after this long, then twice as long each time …
pub(crate) const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// … but never waiting longer than this between two attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// `[[notify]]` as written, with the place of the whole table (for errors
/// about keys that are missing).
#[derive(Debug)]
pub(crate) struct NotifySection {
    /// Where the table is in the file.
    pub span: Range<usize>,
    /// POST a JSON event here.
    pub webhook: Option<Spanned<String>>,
    /// Run this command; `{target}`, `{state}`, … are substituted.
    pub exec: Option<Spanned<Vec<Spanned<String>>>>,
    /// Time one attempt may take.
    pub timeout: Option<Spanned<String>>,
    /// Attempts after the first.
    pub retries: Option<Spanned<u32>>,
    /// Delay before the first retry.
    pub backoff: Option<Spanned<String>>,
}

/// The keys, as serde reads them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Keys {
    webhook: Option<Spanned<String>>,
    exec: Option<Spanned<Vec<Spanned<String>>>>,
    timeout: Option<Spanned<String>>,
    retries: Option<Spanned<u32>>,
    backoff: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for NotifySection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let keys = Spanned::<Keys>::deserialize(deserializer)?;
        let span = keys.span();
        let Keys {
            webhook,
            exec,
            timeout,
            retries,
            backoff,
        } = keys.into_inner();
        Ok(NotifySection {
            span,
            webhook,
            exec,
            timeout,
            retries,
            backoff,
        })
    }
}

/// Where a notifier delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// POST the event as JSON to this URL (http or https, checked).
    Webhook(String),
    /// Run this program (never a template) with these arguments, each
    /// rendered on its own.
    Exec {
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<Template>,
    },
}

/// A validated notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifier {
    /// Where it delivers.
    pub sink: Sink,
    /// Time one attempt may take.
    pub timeout: Duration,
    /// Attempts after the first one failed.
    pub retries: u32,
    /// Delay before the first retry (doubling, capped at [`MAX_BACKOFF`]).
    pub backoff: Duration,
}

impl std::fmt::Display for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::Webhook(url) => write!(f, "webhook {url}"),
            Sink::Exec { program, .. } => write!(f, "exec {program}"),
        }
    }
}

/// Validates one `[[notify]]`; `fail(span, message)` records each problem.
pub(crate) fn validate(
    raw: &NotifySection,
    mut fail: impl FnMut(Option<Range<usize>>, String),
) -> Option<Notifier> {
    let errors = std::cell::Cell::new(0usize);
    let mut bad = |span: Range<usize>, message: String| {
        errors.set(errors.get() + 1);
        fail(Some(span), format!("notify: {message}"));
    };
    let sink = match (&raw.webhook, &raw.exec) {
        (Some(url), None) => webhook(url, &mut bad),
        (None, Some(argv)) => exec(argv, &mut bad),
        (Some(_), Some(exec)) => {
            bad(
                exec.span(),
                "give webhook or exec, not both (use two [[notify]] tables)".into(),
            );
            None
        }
        (None, None) => {
            bad(
                raw.span.clone(),
                "needs webhook = \"URL\" or exec = [\"program\", …]".into(),
            );
            None
        }
    };
    let mut duration = |value: &Option<Spanned<String>>, default, key: &str| match value {
        None => default,
        Some(text) => match super::parse_duration(text.get_ref()) {
            Ok(d) if d.is_zero() => {
                bad(text.span(), format!("{key} must be above zero"));
                default
            }
            Ok(d) if key == "backoff" && d > MAX_BACKOFF => {
                bad(
                    text.span(),
                    format!(
                        "backoff is at most {}",
                        humantime::format_duration(MAX_BACKOFF)
                    ),
                );
                default
            }
            Ok(d) => d,
            Err(err) => {
                bad(text.span(), err.to_string());
                default
            }
        },
    };
    let timeout = duration(&raw.timeout, DEFAULT_TIMEOUT, "timeout");
    let backoff = duration(&raw.backoff, DEFAULT_BACKOFF, "backoff");
    let retries = raw
        .retries
        .as_ref()
        .map_or(DEFAULT_RETRIES, |r| *r.get_ref());
    if errors.get() > 0 {
        return None;
    }
    Some(Notifier {
        sink: sink?,
        timeout,
        retries,
        backoff,
    })
}

fn webhook(url: &Spanned<String>, bad: &mut impl FnMut(Range<usize>, String)) -> Option<Sink> {
    let text = url.get_ref();
    match reqwest::Url::parse(text) {
        Ok(parsed) if !matches!(parsed.scheme(), "http" | "https") => {
            bad(
                url.span(),
                format!("webhook {text:?}: use an http:// or https:// URL"),
            );
            None
        }
        Ok(parsed) if parsed.host_str().is_none_or(str::is_empty) => {
            bad(url.span(), format!("webhook {text:?} has no host"));
            None
        }
        Ok(_) => Some(Sink::Webhook(text.clone())),
        Err(err) => {
            bad(
                url.span(),
                format!(
                    "webhook {text:?} is not a URL: {err} (write e.g. \"http://host:8080/hook\")"
                ),
            );
            None
        }
    }
}

fn exec(
    argv: &Spanned<Vec<Spanned<String>>>,
    bad: &mut impl FnMut(Range<usize>, String),
) -> Option<Sink> {
    let Some((program, rest)) = argv.get_ref().split_first() else {
        bad(
            argv.span(),
            "exec needs at least the program: exec = [\"/path/to/script\", \"{target}\", \"{state}\"]"
                .into(),
        );
        return None;
    };
    let mut ok = true;
    if program.get_ref().is_empty() {
        bad(program.span(), "exec: the program is empty".into());
        ok = false;
    }
    match Template::parse(program.get_ref()) {
        Ok(t) if !t.has_fields() => {}
        _ => {
            bad(
                program.span(),
                "exec: the program cannot hold placeholders (pass them as arguments)".into(),
            );
            ok = false;
        }
    }
    let mut args = Vec::new();
    for arg in rest {
        match Template::parse(arg.get_ref()) {
            Ok(t) => args.push(t),
            Err(err) => {
                bad(
                    arg.span(),
                    format!("exec argument {:?}: {err}", arg.get_ref()),
                );
                ok = false;
            }
        }
    }
    ok.then(|| Sink::Exec {
        program: program.get_ref().clone(),
        args,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse;
    use crate::config::tests::assert_errors;

    fn notifiers(text: &str) -> Vec<Notifier> {
        parse(Path::new("t.toml"), text)
            .unwrap_or_else(|e| panic!("{e:#?}"))
            .notify
    }

    #[test]
    fn defaults_and_options() {
        let found = notifiers(
            "[[notify]]\nwebhook = \"http://127.0.0.1:9/hook\"\n\
             [[notify]]\nexec = [\"/bin/echo\", \"{target}\", \"is {state}\"]\n\
             timeout = \"250ms\"\nretries = 0\nbackoff = \"20ms\"\n\
             [[notify]]\nwebhook = \"https://hooks.example/x?a=b\"\n",
        );
        assert_eq!(found.len(), 3);
        assert_eq!(
            found[0],
            Notifier {
                sink: Sink::Webhook("http://127.0.0.1:9/hook".into()),
                timeout: DEFAULT_TIMEOUT,
                retries: DEFAULT_RETRIES,
                backoff: DEFAULT_BACKOFF,
            }
        );
        assert_eq!(
            found[1],
            Notifier {
                sink: Sink::Exec {
                    program: "/bin/echo".into(),
                    args: vec![
                        Template::parse("{target}").unwrap(),
                        Template::parse("is {state}").unwrap()
                    ],
                },
                timeout: Duration::from_millis(250),
                retries: 0,
                backoff: Duration::from_millis(20),
            }
        );
        assert!(matches!(&found[2].sink, Sink::Webhook(u) if u == "https://hooks.example/x?a=b"));
        assert!(notifiers("").is_empty());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        assert_errors(
            "[[notify]]\nwebhook = \"http://a/\"\nretry = 3\n",
            &["t.toml:3:1: unknown field `retry`"],
        );
        // The section is then judged as if the key were not there.
        assert_errors(
            "[[notify]]\nexec = [\"/bin/true\"]\n[[notify]]\nwebhok = \"http://a/\"\n",
            &[
                "t.toml:4:1: unknown field `webhok`",
                "t.toml:3:1: notify: needs webhook = \"URL\" or exec",
            ],
        );
    }

    #[test]
    fn exactly_one_of_webhook_and_exec() {
        assert_errors(
            "[[notify]]\ntimeout = \"1s\"\n",
            &["t.toml:1:1: notify: needs webhook = \"URL\" or exec"],
        );
        assert_errors(
            "[[notify]]\nwebhook = \"http://a/\"\nexec = [\"/bin/true\"]\n",
            &["t.toml:3:8: notify: give webhook or exec, not both"],
        );
    }

    #[test]
    fn webhook_urls_are_checked() {
        assert_errors(
            "[[notify]]\nwebhook = \"ftp://a/x\"\n\
             [[notify]]\nwebhook = \"not a url\"\n\
             [[notify]]\nwebhook = \"http://\"\n\
             [[notify]]\nwebhook = \"/relative\"\n",
            &[
                "t.toml:2:11: notify: webhook \"ftp://a/x\": use an http:// or https:// URL",
                "t.toml:4:11: notify: webhook \"not a url\" is not a URL",
                "t.toml:6:11: notify: webhook \"http://\"",
                "t.toml:8:11: notify: webhook \"/relative\" is not a URL",
            ],
        );
    }

    #[test]
    fn exec_arguments_are_checked() {
        assert_errors(
            "[[notify]]\nexec = []\n\
             [[notify]]\nexec = [\"/bin/x\", \"{target}\", \"{status}\", \"{state\"]\n\
             [[notify]]\nexec = [\"/bin/{check}\"]\n\
             [[notify]]\nexec = [\"\"]\n",
            &[
                "t.toml:2:8: notify: exec needs at least the program",
                "t.toml:4:31: notify: exec argument \"{status}\": unknown placeholder {status}",
                "t.toml:4:43: notify: exec argument \"{state\": unclosed {",
                "t.toml:6:9: notify: exec: the program cannot hold placeholders",
                "t.toml:8:9: notify: exec: the program is empty",
            ],
        );
    }

    #[test]
    fn durations_and_counts_are_checked() {
        assert_errors(
            "[[notify]]\nwebhook = \"http://a/\"\ntimeout = \"soon\"\nbackoff = \"0s\"\n\
             [[notify]]\nwebhook = \"http://a/\"\ntimeout = \"0ms\"\nbackoff = \"2m\"\n",
            &[
                "t.toml:3:11: notify: duration \"soon\"",
                "t.toml:4:11: notify: backoff must be above zero",
                "t.toml:7:11: notify: timeout must be above zero",
                "t.toml:8:11: notify: backoff is at most 1m",
            ],
        );
        assert_errors(
            "[[notify]]\nwebhook = \"http://a/\"\nretries = -1\n",
            &["t.toml:3:11: "],
        );
    }
}
