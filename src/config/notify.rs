//! `[[notify]]`: where transitions are announced (a webhook, or a command
//! like keepalived's notify script).
//!
//! ```toml
//! [[notify]]
//! webhook = "https://hooks.example.com/healthdns"
//! timeout = "5s"    # per attempt
//! retries = 5       # after the first attempt
//! backoff = "1s"    # before the first retry, doubling, at most 60s
//! headers = { "X-Team" = "dns" }              # sent with every POST
//! secret-file = "/etc/healthdns/hook.secret"  # HMAC-SHA256 signature
//!
//! [[notify]]
//! exec = ["/usr/local/bin/on-transition", "{target}", "{state}"]
//! ```

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::config::template::Template;
use crate::files;

/// Headers a webhook's `headers` may not set: healthdns sets them.
const OWN_HEADERS: [&str; 5] = [
    "content-type",
    "content-length",
    "host",
    SIGNATURE_HEADER,
    EVENT_HEADER,
];
/// The header carrying `sha256=HEX`, the HMAC-SHA256 of the body.
pub(crate) const SIGNATURE_HEADER: &str = "x-healthdns-signature";
/// The header carrying the event's id.
pub(crate) const EVENT_HEADER: &str = "x-healthdns-event";
/// A secret file larger than this is a mistake.
const MAX_SECRET_FILE: u64 = 64 * 1024;

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
    /// Extra headers on every POST.
    pub headers: Option<Spanned<std::collections::BTreeMap<String, Spanned<String>>>>,
    /// The HMAC key, inline.
    pub secret: Option<Spanned<String>>,
    /// The HMAC key, in a file (relative to the config file).
    pub secret_file: Option<Spanned<String>>,
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
    headers: Option<Spanned<std::collections::BTreeMap<String, Spanned<String>>>>,
    secret: Option<Spanned<String>>,
    secret_file: Option<Spanned<String>>,
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
            headers,
            secret,
            secret_file,
        } = keys.into_inner();
        Ok(NotifySection {
            span,
            webhook,
            exec,
            timeout,
            retries,
            backoff,
            headers,
            secret,
            secret_file,
        })
    }
}

/// A webhook's HMAC key; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Where a webhook posts, and what it adds to each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The URL (http or https, checked).
    pub url: String,
    /// Extra headers, names lowercase, each checked.
    pub headers: Vec<(String, String)>,
    /// When set, each POST carries `X-Healthdns-Signature: sha256=HEX`.
    pub secret: Option<Secret>,
}

/// Where a notifier delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// POST the event as JSON.
    Webhook(Webhook),
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
            Sink::Webhook(hook) => write!(f, "webhook {}", hook.url),
            Sink::Exec { program, .. } => write!(f, "exec {program}"),
        }
    }
}

/// Validates one `[[notify]]`; `fail(span, message)` records each problem.
pub(crate) fn validate(
    raw: &NotifySection,
    base: &Path,
    mut fail: impl FnMut(Option<Range<usize>>, String),
) -> Option<Notifier> {
    let errors = std::cell::Cell::new(0usize);
    let mut bad = |span: Range<usize>, message: String| {
        errors.set(errors.get() + 1);
        fail(Some(span), format!("notify: {message}"));
    };
    let sink = match (&raw.webhook, &raw.exec) {
        (Some(url), None) => webhook(url, &mut bad).map(|url| {
            Sink::Webhook(Webhook {
                url,
                headers: headers(raw, &mut bad),
                secret: secret(raw, base, &mut bad),
            })
        }),
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
    if raw.webhook.is_none() {
        for key in [&raw.secret, &raw.secret_file].into_iter().flatten() {
            bad(
                key.span(),
                "secret and secret-file are for webhooks only".into(),
            );
        }
        if let Some(key) = &raw.headers {
            bad(key.span(), "headers are for webhooks only".into());
        }
    }
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

fn webhook(url: &Spanned<String>, bad: &mut impl FnMut(Range<usize>, String)) -> Option<String> {
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
        Ok(_) => Some(text.clone()),
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

/// The extra headers, each name and value checked as HTTP allows.
fn headers(
    raw: &NotifySection,
    bad: &mut impl FnMut(Range<usize>, String),
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Some(headers) = &raw.headers else {
        return found;
    };
    for (name, value) in headers.get_ref() {
        let lower = name.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            bad(
                value.span(),
                format!("header name {name:?} is not a valid HTTP header name"),
            );
        } else if OWN_HEADERS.contains(&lower.as_str()) {
            bad(
                value.span(),
                format!("header {name:?} is set by healthdns; leave it out"),
            );
        } else if reqwest::header::HeaderValue::from_str(value.get_ref()).is_err() {
            bad(
                value.span(),
                format!("header {name:?}: the value holds characters HTTP does not allow"),
            );
        } else {
            found.push((lower, value.get_ref().clone()));
        }
    }
    found
}

/// The HMAC key from `secret` or `secret-file` (trimmed), if either.
fn secret(
    raw: &NotifySection,
    base: &Path,
    bad: &mut impl FnMut(Range<usize>, String),
) -> Option<Secret> {
    let text = match (&raw.secret, &raw.secret_file) {
        (Some(_), Some(file)) => {
            bad(file.span(), "give secret or secret-file, not both".into());
            return None;
        }
        (None, None) => return None,
        (Some(secret), None) => (secret.span(), secret.get_ref().clone(), "secret".to_owned()),
        (None, Some(file)) => {
            let subject = format!("secret-file {}", file.get_ref());
            let text = files::read(&base.join(file.get_ref()), MAX_SECRET_FILE)
                .map_err(|err| err.about(&subject))
                .and_then(|bytes| {
                    String::from_utf8(bytes).map_err(|_| format!("{subject} is not UTF-8"))
                });
            match text {
                Ok(text) => (file.span(), text, subject),
                Err(message) => {
                    bad(file.span(), message);
                    return None;
                }
            }
        }
    };
    let (span, text, subject) = text;
    let key = text.trim();
    if key.is_empty() {
        bad(span, format!("{subject} is empty"));
        return None;
    }
    Some(Secret(key.as_bytes().to_vec()))
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
                sink: Sink::Webhook(Webhook {
                    url: "http://127.0.0.1:9/hook".into(),
                    headers: Vec::new(),
                    secret: None,
                }),
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
        assert!(
            matches!(&found[2].sink, Sink::Webhook(h) if h.url == "https://hooks.example/x?a=b")
        );
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

    #[test]
    fn webhooks_take_headers_and_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hook.secret"), "  k3y\n").unwrap();
        let config = parse(
            &dir.path().join("t.toml"),
            "[[notify]]\nwebhook = \"http://a/\"\nheaders = { \"X-Team\" = \"dns\", Authorization = \"Bearer x\" }\n\
             secret-file = \"hook.secret\"\n\
             [[notify]]\nwebhook = \"http://b/\"\nsecret = \"inline\"\n",
        )
        .unwrap_or_else(|e| panic!("{e:#?}"));
        let Sink::Webhook(first) = &config.notify[0].sink else {
            panic!("{:?}", config.notify[0]);
        };
        assert_eq!(
            first.headers,
            [
                ("authorization".to_owned(), "Bearer x".to_owned()),
                ("x-team".to_owned(), "dns".to_owned())
            ]
        );
        assert_eq!(first.secret, Some(Secret(b"k3y".to_vec())), "trimmed");
        assert_eq!(format!("{:?}", first.secret), "Some(Secret(…))");
        let Sink::Webhook(second) = &config.notify[1].sink else {
            panic!("{:?}", config.notify[1]);
        };
        assert_eq!(second.secret, Some(Secret(b"inline".to_vec())));
        assert!(second.headers.is_empty());
    }

    #[test]
    fn headers_and_secrets_are_checked() {
        assert_errors(
            "[[notify]]\nwebhook = \"http://a/\"\nheaders = { \"Bad Name\" = \"x\", \"X-Ok\" = \"a\\nb\" }\n\
             [[notify]]\nwebhook = \"http://a/\"\nheaders = { \"Content-Type\" = \"text/plain\", \"X-Healthdns-Signature\" = \"x\" }\n\
             [[notify]]\nwebhook = \"http://a/\"\nsecret = \"a\"\nsecret-file = \"f\"\n\
             [[notify]]\nwebhook = \"http://a/\"\nsecret = \" \"\n\
             [[notify]]\nwebhook = \"http://a/\"\nsecret-file = \"/nonexistent/healthdns.secret\"\n\
             [[notify]]\nexec = [\"/bin/true\"]\nsecret = \"a\"\nheaders = { a = \"b\" }\n",
            &[
                "t.toml:3:26: notify: header name \"Bad Name\" is not a valid HTTP header name",
                "t.toml:3:40: notify: header \"X-Ok\": the value holds characters",
                "t.toml:6:30: notify: header \"Content-Type\" is set by healthdns",
                "t.toml:6:70: notify: header \"X-Healthdns-Signature\" is set by healthdns",
                "t.toml:10:15: notify: give secret or secret-file, not both",
                "t.toml:13:10: notify: secret is empty",
                "t.toml:16:15: notify: cannot read secret-file /nonexistent/healthdns.secret",
                "t.toml:19:10: notify: secret and secret-file are for webhooks only",
                "t.toml:20:11: notify: headers are for webhooks only",
            ],
        );
    }
}
