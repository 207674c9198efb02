//! The TOML file as written: serde structs that mirror it, unknown keys refused.
//!
//! Values checked after parsing keep their byte span ([`Spanned`]) so that
//! errors found later still point at `file:line:col`. [`read`] finds every
//! unknown key and wrongly typed value, not only the first serde stops at.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, Deserializer};

pub(crate) use super::check::CheckSection;
pub(crate) use super::cluster::ClusterSection;
pub(crate) use super::geo::GeoSection;
pub(crate) use super::notify::NotifySection;
pub(crate) use super::rate_limit::RateLimitSection;

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct File {
    /// `[server]`
    #[serde(default)]
    pub server: ServerSection,
    /// `[[zone]]`
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneSection>,
    /// `[check.NAME]`
    #[serde(default, rename = "check")]
    pub checks: BTreeMap<String, CheckSection>,
    /// `[[notify]]`
    #[serde(default, rename = "notify")]
    pub notify: Vec<NotifySection>,
    /// `[api]`
    pub api: Option<ApiSection>,
    /// `[cluster]`
    pub cluster: Option<ClusterSection>,
    /// `[rate-limit]`
    pub rate_limit: Option<RateLimitSection>,
    /// The `[check.NAME]`s left out of `checks` for a value of the wrong
    /// type: they exist, so a calculated check naming one is not told it
    /// names none.
    #[serde(skip)]
    pub unjudged_checks: BTreeSet<String>,
    /// `[geo]`
    pub geo: Option<GeoSection>,
}

/// `[api]`: the admin HTTP listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ApiSection {
    /// Address, default `127.0.0.1:8053`.
    pub listen: Option<Spanned<String>>,
    /// Bearer token for state-changing requests.
    pub token: Option<Spanned<String>>,
    /// A file holding the token (relative to the config file).
    pub token_file: Option<Spanned<String>>,
    /// Most connections open at once.
    pub max_connections: Option<Spanned<u32>>,
    /// How long a connection may stay idle.
    pub idle_timeout: Option<Spanned<String>>,
    /// How long a client may take to send a request's head.
    pub header_read_timeout: Option<Spanned<String>>,
}

/// `[server]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ServerSection {
    /// Addresses to serve UDP and TCP on.
    pub listen: Option<Vec<Spanned<String>>>,
    /// How long an idle TCP connection stays open.
    pub tcp_idle_timeout: Option<Spanned<String>>,
    /// How long once `tcp-max-connections` are open.
    pub tcp_busy_idle_timeout: Option<Spanned<String>>,
    /// Most TCP connections open at once.
    pub tcp_max_connections: Option<Spanned<u32>>,
    /// UDP worker sockets (SO_REUSEPORT), default one per core.
    pub udp_workers: Option<Spanned<u32>>,
    /// A network interface whose UDP queries are answered over AF_XDP.
    pub xdp: Option<Spanned<String>>,
    /// How long a UDP worker that has drained its socket or XDP ring
    /// waits before it looks again.
    pub udp_coalesce: Option<Spanned<String>>,
    /// The share of a UDP worker's time on the CPU from which it pauses.
    pub udp_coalesce_load: Option<Spanned<f64>>,
    /// The most bytes read of one zone, its `$INCLUDE`s counted: a number
    /// of bytes or a string such as `"512MiB"`.
    pub max_zone_file_size: Option<Spanned<toml::Value>>,
    /// A directory where overrides and holds are kept across restarts.
    pub state_dir: Option<Spanned<String>>,
    /// The most exec check commands running at once.
    pub max_exec_checks: Option<Spanned<u32>>,
}

/// `[[zone]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ZoneSection {
    /// The zone file, relative to the config file's directory.
    pub file: Spanned<String>,
    /// The origin, when the SOA owner should not decide it.
    pub origin: Option<Spanned<String>>,
}

/// A problem found while reading the file, with its byte span when it has
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Where in the text.
    pub span: Option<Range<usize>>,
    /// What is wrong.
    pub message: String,
}

impl Found {
    fn of(error: &toml::de::Error) -> Found {
        Found {
            span: error.span(),
            message: error.message().trim_end().to_owned(),
        }
    }
}

/// What [`read`] made of a config text.
#[derive(Debug)]
pub(crate) struct Read {
    /// The file without the keys and sections that had errors, to validate;
    /// `None` when the text is no TOML or the reading stopped.
    pub file: Option<File>,
    /// The first syntax error, or every unknown key, value of the wrong
    /// type and missing key.
    pub errors: Vec<Found>,
    /// True when the reading gave up before the end (more errors than
    /// `files::MAX_ERRORS`, or one with no place): there may be more.
    pub stopped: bool,
}

/// Reads config text into a [`File`], finding every error serde would stop
/// at one by one: after each, the key or array element at fault is taken
/// out of the parsed document and it is read again. A syntax error stops
/// the reading.
///
/// An unknown key is reported and dropped, which changes nothing else. A
/// value of the wrong type, or a table missing a key, is reported, and its
/// section (`[api]`, `[cluster]`, one `[check.NAME]`, one `[[zone]]` or
/// `[[notify]]`) is then left out of the returned file, so that validation
/// does not report what follows from the value taken out (a `tcp` check
/// whose bad `port` is gone would "need a port"; nor is a key reported
/// missing that was taken out for its value). `[server]` is kept: its keys
/// do not depend on each other.
pub(crate) fn read(text: &str) -> Read {
    // After a syntax error the parser's recovery reads the rest of the text
    // askew (an unclosed array swallows every line after it), and the errors
    // it finds there would mislead: only the first is told.
    let mut document = match DeTable::parse(text) {
        Ok(document) => document,
        Err(error) => {
            return Read {
                file: None,
                errors: vec![Found::of(&error)],
                stopped: false,
            };
        }
    };
    let mut errors = Vec::new();
    let mut tainted: Vec<Taint> = Vec::new();
    let stopped = |errors| Read {
        file: None,
        errors,
        stopped: true,
    };
    loop {
        let error = match File::deserialize(Deserializer::from(document.clone())) {
            Ok(file) if tainted.is_empty() => {
                return Read {
                    file: Some(file),
                    errors,
                    stopped: false,
                };
            }
            Ok(_) => break,
            Err(error) => error,
        };
        let found = Found::of(&error);
        // An error that names no place in the document cannot be taken out:
        // what it hides stays unreported, and nothing is validated.
        let mut path = Vec::new();
        let Some(span) = found.span.clone() else {
            errors.push(found);
            return stopped(errors);
        };
        if !locate_in(document.get_ref(), &span, &mut path) {
            errors.push(found);
            return stopped(errors);
        }
        let unknown_key = path
            .last()
            .is_some_and(|place| place.key_span.as_ref() == Some(&span));
        match Section::of(document.get_ref(), &path) {
            Some((section, depth)) if !unknown_key => {
                let key = match path.get(depth).map(|place| &place.step) {
                    Some(Step::Key(key)) => Some(key.clone()),
                    _ => None,
                };
                match tainted.iter_mut().find(|taint| taint.section == section) {
                    Some(taint) => {
                        // A table missing a key this reading took out for
                        // its value: that value's error said it.
                        let follows = path.len() == depth
                            && taint
                                .removed
                                .iter()
                                .any(|key| found.message == format!("missing field `{key}`"));
                        if !follows {
                            errors.push(found);
                        }
                        taint.removed.extend(key);
                    }
                    None => {
                        errors.push(found);
                        tainted.push(Taint {
                            section,
                            removed: key.into_iter().collect(),
                        });
                    }
                }
            }
            _ => errors.push(found),
        }
        if errors.len() > crate::files::MAX_ERRORS {
            return stopped(errors);
        }
        remove(document.get_mut(), &path);
    }
    let mut unjudged_checks = BTreeSet::new();
    for taint in &tainted {
        let removed = taint.section.remove(document.get_mut());
        if let Some(name) = removed.filter(|_| taint.section.key == "check") {
            unjudged_checks.insert(name);
        }
    }
    match File::deserialize(Deserializer::from(document)) {
        Ok(file) => Read {
            file: Some(File {
                unjudged_checks,
                ..file
            }),
            errors,
            stopped: false,
        },
        Err(error) => {
            errors.push(Found::of(&error));
            stopped(errors)
        }
    }
}

/// A section with an error, left out of validation, and the keys taken out
/// of it.
#[derive(Debug)]
struct Taint {
    section: Section,
    removed: Vec<String>,
}

/// One step from a table or array to what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// The value of a key.
    Key(String),
    /// An element.
    Index(usize),
}

/// A step and where what it leads to is written.
#[derive(Debug)]
struct Place {
    step: Step,
    /// The key's span, for a key.
    key_span: Option<Range<usize>>,
    /// The value's span.
    value_span: Range<usize>,
}

fn holds(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// Appends to `path` the way to the innermost key or element below `value`
/// whose key or value holds `span`; false when there is none.
fn locate(value: &DeValue<'_>, span: &Range<usize>, path: &mut Vec<Place>) -> bool {
    match value {
        DeValue::Table(table) => locate_in(table, span, path),
        DeValue::Array(array) => {
            for (i, item) in array.iter().enumerate() {
                path.push(Place {
                    step: Step::Index(i),
                    key_span: None,
                    value_span: item.span(),
                });
                if locate(item.get_ref(), span, path) || holds(&item.span(), span) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// [`locate`] in a table.
fn locate_in(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<Place>) -> bool {
    // Containers are searched whatever their own span: an implicit table
    // (`check` of `[check.web]`) has none that holds its contents.
    for (key, value) in table.iter() {
        path.push(Place {
            step: Step::Key(key.get_ref().to_string()),
            key_span: Some(key.span()),
            value_span: value.span(),
        });
        if locate(value.get_ref(), span, path)
            || holds(&key.span(), span)
            || holds(&value.span(), span)
        {
            return true;
        }
        path.pop();
    }
    false
}

/// Takes out of `table` what `path` leads to.
fn remove(table: &mut DeTable<'_>, path: &[Place]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Step::Key(key) = &first.step else {
        return;
    };
    if rest.is_empty() {
        table.remove(key.as_str());
    } else if let Some(inner) = table.get_mut(key.as_str()) {
        remove_below(inner.get_mut(), rest);
    }
}

/// [`remove`] below a value.
fn remove_below(value: &mut DeValue<'_>, path: &[Place]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (value, &first.step) {
        (DeValue::Table(table), Step::Key(_)) => remove(table, path),
        (DeValue::Array(array), &Step::Index(i)) if rest.is_empty() => {
            let mut kept = DeArray::new();
            for (j, item) in array.iter().enumerate() {
                if j != i {
                    kept.push(item.clone());
                }
            }
            *array = kept;
        }
        (DeValue::Array(array), &Step::Index(i)) => {
            if let Some(inner) = array.get_mut(i) {
                remove_below(inner.get_mut(), rest);
            }
        }
        _ => {}
    }
}

/// A part of the file that is validated on its own: a top-level table, or
/// one element of `[[zone]]`, `[[notify]]` or `[check]`, told by its span.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    key: String,
    element: Option<Range<usize>>,
}

impl Section {
    /// The section `path` (from the root) is in, and how many steps of the
    /// path lead to it; `None` for `[server]`, whose keys are validated one
    /// by one, and for `[check]` itself.
    fn of(root: &DeTable<'_>, path: &[Place]) -> Option<(Section, usize)> {
        let Step::Key(key) = &path.first()?.step else {
            return None;
        };
        if key == "server" {
            return None;
        }
        let many = key == "check" || root.get(key.as_str())?.get_ref().is_array();
        let (element, depth) = match path.get(1) {
            Some(place) if many => (Some(place.value_span.clone()), 2),
            _ if many => return None,
            _ => (None, 1),
        };
        let section = Section {
            key: key.clone(),
            element,
        };
        Some((section, depth))
    }

    /// Takes the section out of the document's root; for an element of a
    /// table (`[check.NAME]`), returns its name.
    fn remove(&self, table: &mut DeTable<'_>) -> Option<String> {
        let Some(element) = &self.element else {
            table.remove(self.key.as_str());
            return None;
        };
        let value = table.get_mut(self.key.as_str())?;
        match value.get_mut() {
            DeValue::Table(elements) => {
                let name = elements
                    .iter()
                    .find(|(_, value)| value.span() == *element)
                    .map(|(name, _)| name.get_ref().to_string());
                if let Some(name) = &name {
                    elements.remove(name.as_str());
                }
                return name;
            }
            DeValue::Array(elements) => {
                let mut kept = DeArray::new();
                for item in elements.iter().filter(|item| item.span() != *element) {
                    kept.push(item.clone());
                }
                *elements = kept;
            }
            _ => {}
        }
        None
    }
}
