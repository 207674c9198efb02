//! Operator intent that outlives the process: overrides, with their
//! expiry, and manual-failback holds, kept in `STATE-DIR/state.json`.
//!
//! # Design
//! A restart must not answer with a target an operator drained, nor let a
//! held target back in: gdnsd keeps the same in its `admin_state` file.
//!
//! - The file is read before the first answer table is published: the
//!   slots start with their override and hold ([`apply`]), so no query
//!   sees a restored target in between.
//! - A file that cannot be read or parsed stops the start ([`load`]): a
//!   silent reset would answer with drained targets. An override that
//!   expired while the server was down, or a target no longer in the
//!   config, is dropped with a log line.
//! - One writer task ([`Writer`]) owns the file. Probe loops wake it when
//!   a target's override or hold changes; it compares a snapshot of every
//!   slot with what it last wrote and, if they differ, writes a temporary
//!   file, syncs it, renames it over the old one and syncs the directory:
//!   after a crash the file is the old or the new state, never half of
//!   one. Waking it costs a `Notify`; snapshots are taken only when woken.
//! - The format is JSON with a `version`, so a later format can be told
//!   apart rather than misread:
//!
//! ```json
//! {
//!   "version": 1,
//!   "targets": {
//!     "192.0.2.10:80/web": { "override": "down", "until": "2026-11-22T04:05:06.789Z" },
//!     "192.0.2.11:80/web": { "held": true }
//!   }
//! }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Registry;
use super::slot::Override;
use super::state::Health;
use crate::files;

/// The file in the state directory.
pub const FILE_NAME: &str = "state.json";
/// The format this build writes and reads.
pub const VERSION: u32 = 1;
/// The most bytes read of a state file: far above what a million targets
/// write.
const MAX_SIZE: u64 = 256 << 20;

/// What an operator asked for, by target (`ADDRESS:PORT/CHECK`): only
/// targets with an override or a hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Saved {
    /// Target → its override and hold.
    pub targets: BTreeMap<String, Intent>,
}

/// One target's override and hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Intent {
    /// The override, if any.
    pub forced: Option<Override>,
    /// Held out by manual failback.
    pub held: bool,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state directory is missing or not a directory.
    #[error("state-dir {}: {message}", files::shown(.dir))]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read.
    #[error(
        "{message} (it keeps the overrides and holds: fix it, or move it away to start without them)"
    )]
    Read {
        /// What went wrong, naming the file.
        message: String,
    },
    /// The file is not a state file this build reads.
    #[error(
        "{}: {} (it keeps the overrides and holds: fix it, or move it away to start without them)",
        place(.file, *.line, *.column),
        files::escape(.message.as_bytes())
    )]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line; 0 when the problem has no place.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The file could not be written.
    #[error("cannot write {}: {source}", files::shown(.file))]
    Write {
        /// The file (or its temporary copy).
        file: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// `FILE:LINE:COL`, or `FILE` when the problem has no place.
fn place(file: &Path, line: usize, column: usize) -> String {
    match line {
        0 => files::shown(file).to_string(),
        _ => format!("{}:{line}:{column}", files::shown(file)),
    }
}

/// The file as written.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    targets: BTreeMap<String, TargetEntry>,
}

/// Only the version, read first so that another format is named as such
/// rather than reported as a field it does not know.
#[derive(Debug, Deserialize)]
struct Head {
    version: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetEntry {
    #[serde(rename = "override", default, skip_serializing_if = "Option::is_none")]
    forced: Option<Forced>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339")]
    until: Option<SystemTime>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    held: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Forced {
    Up,
    Down,
}

/// `until` as RFC 3339 UTC, e.g. `2026-11-22T04:05:06.789Z`.
mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        time: &Option<SystemTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => {
                serializer.serialize_str(&crate::health::transition::rfc3339::format(*time))
            }
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let Some(text) = Option::<String>::deserialize(deserializer)? else {
            return Ok(None);
        };
        humantime::parse_rfc3339(&text).map(Some).map_err(|err| {
            serde::de::Error::custom(format!(
                "until {text:?}: {err} (write it as 2026-11-22T04:05:06.789Z)"
            ))
        })
    }
}

/// The state file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads the state kept in `dir`; `None` when there is no state file yet.
/// A directory that is missing, or a file that cannot be read or parsed,
/// is an error.
pub fn load(dir: &Path) -> Result<Option<Saved>, StateError> {
    match std::fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => {
            return Err(StateError::Dir {
                dir: dir.to_owned(),
                message: "is not a directory".into(),
            });
        }
        Err(err) => {
            return Err(StateError::Dir {
                dir: dir.to_owned(),
                message: format!("{err} (create it, writable by the server)"),
            });
        }
    }
    let file = path(dir);
    let bytes = match files::read(&file, MAX_SIZE) {
        Ok(bytes) => bytes,
        Err(files::ReadError::Io(err)) if err.kind() == io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(err) => {
            return Err(StateError::Read {
                message: err.about(format!("state file {}", files::shown(&file))),
            });
        }
    };
    parse(&file, &bytes).map(Some)
}

/// Parses the text of a state file; `file` names it in errors.
pub fn parse(file: &Path, bytes: &[u8]) -> Result<Saved, StateError> {
    let located = |err: serde_json::Error| StateError::Parse {
        file: file.to_owned(),
        line: err.line(),
        column: err.column(),
        message: strip_location(&err),
    };
    let unplaced = |message: String| StateError::Parse {
        file: file.to_owned(),
        line: 0,
        column: 0,
        message,
    };
    let head: Head = serde_json::from_slice(bytes).map_err(located)?;
    match head.version {
        Some(VERSION) => {}
        Some(other) => {
            return Err(unplaced(format!(
                "version {other}: this healthdns reads version {VERSION}"
            )));
        }
        None => {
            return Err(unplaced(
                "no \"version\": not a healthdns state file".into(),
            ));
        }
    }
    let raw: File = serde_json::from_slice(bytes).map_err(located)?;
    let mut saved = Saved::default();
    for (target, entry) in raw.targets {
        let state = match entry.forced {
            Some(Forced::Up) => Some(Health::Up),
            Some(Forced::Down) => Some(Health::Down),
            None => None,
        };
        if state.is_none() && entry.until.is_some() {
            return Err(unplaced(format!(
                "target {target:?}: \"until\" without an \"override\""
            )));
        }
        let forced = state.map(|state| Override {
            state,
            until: entry.until,
        });
        if forced.is_some() || entry.held {
            saved.targets.insert(
                target,
                Intent {
                    forced,
                    held: entry.held,
                },
            );
        }
    }
    Ok(saved)
}

/// serde_json's message without its own ` at line L column C`: the error
/// says `file:line:col:` in front.
fn strip_location(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) if err.line() > 0 => text[..at].to_owned(),
        _ => text,
    }
}

impl Saved {
    /// The overrides and holds of `registry`'s targets at `now`.
    pub fn of(registry: &Registry, now: SystemTime) -> Saved {
        let targets = registry
            .iter()
            .filter_map(|(target, slot)| {
                let intent = Intent {
                    forced: slot.forced(now),
                    held: slot.held(),
                };
                (intent != Intent::default()).then(|| (target.key.to_string(), intent))
            })
            .collect();
        Saved { targets }
    }

    /// The file's text.
    fn to_text(&self) -> String {
        let file = File {
            version: VERSION,
            targets: self
                .targets
                .iter()
                .map(|(target, intent)| {
                    let entry = TargetEntry {
                        forced: intent.forced.map(|o| match o.state {
                            Health::Up => Forced::Up,
                            Health::Down => Forced::Down,
                        }),
                        until: intent.forced.and_then(|o| o.until),
                        held: intent.held,
                    };
                    (target.clone(), entry)
                })
                .collect(),
        };
        // Maps of strings and plain values: serializing cannot fail.
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Writes `saved` to the state file in `dir`: a temporary file, synced,
/// renamed over the old one, the directory synced.
pub fn save(dir: &Path, saved: &Saved) -> Result<(), StateError> {
    let file = path(dir);
    let temporary = dir.join(format!("{FILE_NAME}.tmp"));
    let failed = |at: &Path| {
        let at = at.to_owned();
        move |source| StateError::Write { file: at, source }
    };
    let mut out = std::fs::File::create(&temporary).map_err(failed(&temporary))?;
    out.write_all(saved.to_text().as_bytes())
        .and_then(|()| out.sync_all())
        .map_err(failed(&temporary))?;
    drop(out);
    std::fs::rename(&temporary, &file).map_err(failed(&file))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(failed(dir))
}

/// Gives `registry`'s slots the overrides and holds of `saved`, before
/// their probe loops start and before a table of them is published;
/// drops, with a log line each, an override that expired at `now` and a
/// target not in `registry`. Logs what it restored.
pub fn apply(saved: &Saved, registry: &Registry, file: &Path, now: SystemTime) {
    let slots: HashMap<String, _> = registry
        .iter()
        .map(|(target, slot)| (target.key.to_string(), slot))
        .collect();
    let file = files::shown(file);
    let (mut overrides, mut holds) = (0, 0);
    for (target, intent) in &saved.targets {
        let Some(slot) = slots.get(target) else {
            tracing::warn!(%target, %file, "saved override or hold dropped: the target is no longer in the config");
            continue;
        };
        let mut forced = intent.forced;
        if let Some(until) = forced.and_then(|o| o.until)
            && until <= now
        {
            tracing::info!(
                %target,
                until = %crate::health::transition::rfc3339::format(until),
                "saved override dropped: it expired while the server was down"
            );
            forced = None;
        }
        if forced.is_none() && !intent.held {
            continue;
        }
        slot.restore(forced, intent.held);
        overrides += usize::from(forced.is_some());
        holds += usize::from(intent.held);
        tracing::info!(
            %target,
            r#override = forced.map_or("none", |o| o.state.as_str()),
            until = %forced.and_then(|o| o.until).map_or_else(|| "-".to_owned(), crate::health::transition::rfc3339::format),
            held = intent.held,
            "restored operator state"
        );
    }
    tracing::info!(%file, overrides, holds, "operator state restored");
}

/// The overrides of `saved` still in force at `now`, by target: what a
/// cluster instance checks against etcd's once it reaches it.
pub fn overrides(saved: &Saved, now: SystemTime) -> HashMap<String, Override> {
    saved
        .targets
        .iter()
        .filter_map(|(target, intent)| {
            let forced = intent.forced?;
            forced
                .until
                .is_none_or(|until| until > now)
                .then(|| (target.clone(), forced))
        })
        .collect()
}

/// The task that keeps the state file in line with the slots.
pub(crate) struct Writer {
    changes: Arc<Notify>,
    registry: watch::Sender<Option<Arc<Registry>>>,
    task: JoinHandle<()>,
}

impl Writer {
    /// Keeps the state file in `dir`, which holds `written`; writes when
    /// woken and what it would write differs, and once more at `shutdown`.
    pub(crate) fn start(dir: PathBuf, written: Saved, shutdown: CancellationToken) -> Writer {
        let changes = Arc::new(Notify::new());
        let (registry, receiver) = watch::channel(None);
        let task = tokio::spawn(write_on_change(
            dir,
            written,
            changes.clone(),
            receiver,
            shutdown,
        ));
        Writer {
            changes,
            registry,
            task,
        }
    }

    /// What probe loops wake when an override or hold changes.
    pub(crate) fn changes(&self) -> Arc<Notify> {
        self.changes.clone()
    }

    /// The targets are now `registry`'s (at start and after a reload).
    pub(crate) fn serve(&self, registry: Arc<Registry>) {
        self.registry.send_replace(Some(registry));
    }

    /// Waits for the last write, after shutdown.
    pub(crate) async fn stop(self) {
        let _ = self.task.await;
    }
}

async fn write_on_change(
    dir: PathBuf,
    mut written: Saved,
    changes: Arc<Notify>,
    mut registry: watch::Receiver<Option<Arc<Registry>>>,
    shutdown: CancellationToken,
) {
    // The first registry's dropped targets were logged as they were
    // restored; later ones are those a reload removed.
    let mut first = true;
    loop {
        let stopping = tokio::select! {
            biased;
            _ = shutdown.cancelled() => true,
            _ = changes.notified() => false,
            Ok(()) = registry.changed() => false,
        };
        let current = registry.borrow_and_update().clone();
        if let Some(current) = current {
            let next = Saved::of(&current, SystemTime::now());
            if next != written && !first {
                let known: HashSet<String> = current
                    .targets()
                    .iter()
                    .map(|t| t.key.to_string())
                    .collect();
                for target in written.targets.keys() {
                    if !known.contains(target) {
                        tracing::info!(%target, "override or hold dropped: the target is no longer in the config");
                    }
                }
            }
            first = false;
            if next != written {
                let (at, snapshot) = (dir.clone(), next.clone());
                match tokio::task::spawn_blocking(move || save(&at, &snapshot)).await {
                    Ok(Ok(())) => written = next,
                    Ok(Err(err)) => {
                        tracing::error!(%err, "cannot save the overrides and holds; retrying at the next change")
                    }
                    Err(err) => tracing::error!(%err, "the state file's writer failed"),
                }
            }
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn down(until: Option<SystemTime>) -> Option<Override> {
        Some(Override {
            state: Health::Down,
            until,
        })
    }

    #[test]
    fn what_is_saved_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None, "no file yet");
        let until = humantime::parse_rfc3339("2030-01-02T03:04:05.678Z").unwrap();
        let mut saved = Saved::default();
        saved.targets.insert(
            "192.0.2.1:80/web".into(),
            Intent {
                forced: down(Some(until)),
                held: false,
            },
        );
        saved.targets.insert(
            "[2001:db8::1]:80/web".into(),
            Intent {
                forced: Some(Override {
                    state: Health::Up,
                    until: None,
                }),
                held: true,
            },
        );
        saved.targets.insert(
            "192.0.2.2:80/web".into(),
            Intent {
                forced: None,
                held: true,
            },
        );
        save(dir.path(), &saved).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(saved.clone()));
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
        assert!(
            text.contains("\"until\": \"2030-01-02T03:04:05.678Z\""),
            "{text}"
        );
        assert!(
            !dir.path().join("state.json.tmp").exists(),
            "renamed into place"
        );
        save(dir.path(), &Saved::default()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(Saved::default()));
    }

    #[test]
    fn a_bad_file_is_an_error_with_its_place() {
        let file = Path::new("/var/lib/healthdns/state.json");
        let error = |text: &str| parse(file, text.as_bytes()).unwrap_err().to_string();
        let e = error(
            "{\n  \"version\": 1,\n  \"targets\": {\n    \"a\": {\"override\": \"sideways\"}\n  }\n}\n",
        );
        assert!(
            e.starts_with("/var/lib/healthdns/state.json:4:"),
            "file:line first: {e}"
        );
        assert!(e.contains("sideways"), "{e}");
        assert!(e.contains("move it away"), "what to do: {e}");
        let e = error("{\"version\": 1, \"targets\": {}");
        assert!(e.starts_with("/var/lib/healthdns/state.json:1:"), "{e}");
        let e = error("{\"version\": 2, \"targets\": {}}");
        assert!(
            e.contains("version 2: this healthdns reads version 1"),
            "{e}"
        );
        let e = error("{\"targets\": {}}");
        assert!(e.contains("not a healthdns state file"), "{e}");
        let e =
            error("{\"version\": 1, \"targets\": {\"a\": {\"until\": \"2030-01-01T00:00:00Z\"}}}");
        assert!(
            e.starts_with(
                "/var/lib/healthdns/state.json: target \"a\": \"until\" without an \"override\""
            ),
            "{e}"
        );
        let e = error(
            "{\"version\": 1, \"targets\": {\"a\": {\"override\": \"down\", \"until\": \"soon\"}}}",
        );
        assert!(e.contains("until \"soon\""), "{e}");
        let e = error("{\"version\": 1, \"targets\": {}, \"extra\": 1}");
        assert!(e.contains("extra"), "{e}");
        assert!(error("").contains("state.json"));
    }

    #[test]
    fn a_missing_directory_or_an_unreadable_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = load(&missing).unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("create it"), "{e}");
        std::fs::create_dir(path(dir.path())).unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("state.json") && e.contains("directory"), "{e}");
    }

    #[test]
    fn applying_restores_slots_and_drops_what_lapsed_or_left() {
        let dir = tempfile::tempdir().unwrap();
        let zone = dir.path().join("z.zone");
        std::fs::write(
            &zone,
            "$ORIGIN r.test.\n$TTL 60\n@ IN SOA ns hostmaster 1 2 3 4 5\n@ IN NS ns\n\
             ns IN A 192.0.2.53\n\
             a IN A 192.0.2.1 ; healthdns failover=primary check=web\n\
             a IN A 192.0.2.2 ; healthdns failover=secondary check=web\n\
             a IN A 192.0.2.3 ; healthdns failover=3 check=web\n",
        )
        .unwrap();
        let zones = vec![crate::zone::load(&zone, None).unwrap().zone];
        let config = crate::config::parse(
            Path::new("t.toml"),
            "[check.web]\ntype = \"tcp\"\nport = 80\n",
        )
        .unwrap();
        let registry = Registry::new(&zones, &config.checks);
        let now = SystemTime::now();
        let mut saved = Saved::default();
        for (target, forced, held) in [
            ("192.0.2.1:80/web", down(None), false),
            ("192.0.2.2:80/web", None, true),
            (
                "192.0.2.3:80/web",
                down(Some(now - Duration::from_secs(1))),
                false,
            ),
            ("192.0.2.9:80/web", down(None), true),
        ] {
            saved.targets.insert(target.into(), Intent { forced, held });
        }
        apply(&saved, &registry, Path::new("state.json"), now);
        let standing = |host: &str| {
            let (_, slot) = registry.iter().find(|(t, _)| t.key.host == host).unwrap();
            slot.standing()
        };
        use crate::health::slot::Standing;
        assert_eq!(standing("192.0.2.1"), Standing::Out, "drained");
        assert_eq!(standing("192.0.2.2"), Standing::Held, "held");
        assert_eq!(standing("192.0.2.3"), Standing::Serving, "expired: dropped");
        let mut want = saved.clone();
        want.targets.remove("192.0.2.3:80/web");
        want.targets.remove("192.0.2.9:80/web");
        assert_eq!(
            Saved::of(&registry, now),
            want,
            "what the writer writes next"
        );
    }

    #[test]
    fn overrides_still_in_force() {
        let now = SystemTime::now();
        let mut saved = Saved::default();
        for (target, until) in [
            ("expired", Some(now - Duration::from_secs(1))),
            ("later", Some(now + Duration::from_secs(60))),
            ("open", None),
        ] {
            saved.targets.insert(
                target.into(),
                Intent {
                    forced: down(until),
                    held: false,
                },
            );
        }
        let mut kept: Vec<String> = overrides(&saved, now).into_keys().collect();
        kept.sort();
        assert_eq!(kept, ["later", "open"]);
    }
}
