//! The catalog: every zone a config names, loaded, with every error found,
//! so that `check`, start-up and reload all judge a configuration the same
//! way. Of the errors, the first `MAX_ERRORS` (100) are kept and the rest
//! counted, for each zone and for all of them.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::{Config, ConfigError};
use crate::files::{self, MAX_ERRORS};
use crate::geo::{Networks, NetworksError};
use crate::name::Name;
use crate::zone::{self, Zone, ZoneError, ZoneErrors};

/// Something wrong with a configuration or one of its zones, with its
/// place; shown as `file:line: message` (`file:line:col:` in a config).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Problem {
    /// In the config file.
    #[error("{0}")]
    Config(ConfigError),
    /// In a zone file.
    #[error("{0}")]
    Zone(ZoneError),
    /// In the networks file of `[geo]`.
    #[error("{0}")]
    Networks(NetworksError),
    /// Two zone files for one zone.
    #[error(
        "{}: zone {origin} is already served from {}",
        files::shown(file),
        files::shown(first)
    )]
    Duplicate {
        /// The second file.
        file: PathBuf,
        /// The zone.
        origin: Name,
        /// The first file.
        first: PathBuf,
    },
    /// How many more errors (or warnings) there were than are listed: of
    /// one zone file and its `$INCLUDE`s, or of everything (`file` None).
    #[error(
        "… and {count} more {}{}",
        if *.warnings { "warnings" } else { "errors" },
        .file.as_deref().map(|file| format!(" in {}", files::shown(file))).unwrap_or_default()
    )]
    More {
        /// How many.
        count: usize,
        /// Warnings rather than errors.
        warnings: bool,
        /// The zone file, when they are of one.
        file: Option<PathBuf>,
    },
}

impl Problem {
    /// The same problem, told as a warning.
    pub fn into_warning(self) -> Problem {
        match self {
            Problem::Zone(error) => Problem::Zone(error.into_warning()),
            Problem::More { count, file, .. } => Problem::More {
                count,
                warnings: true,
                file,
            },
            other => other,
        }
    }

    /// `found`'s problems, then a line counting those not listed.
    fn of_zone(found: ZoneErrors, file: &std::path::Path, warnings: bool) -> Vec<Problem> {
        let more = (found.more > 0).then(|| Problem::More {
            count: found.more,
            warnings,
            file: Some(file.to_owned()),
        });
        found.into_iter().map(Problem::Zone).chain(more).collect()
    }
}

/// Every zone of a config, loaded.
#[derive(Debug)]
pub struct Catalog {
    /// The zones, in config order.
    pub zones: Vec<Zone>,
    /// Warnings (dropped out-of-zone data, occluded names, …), the first
    /// `MAX_ERRORS` of each zone and a count of the rest.
    pub warnings: Vec<Problem>,
    /// The client regions by network, with `[geo]`.
    pub networks: Option<Networks>,
}

/// Loads all zones of `config`, and its networks file. A zone served
/// twice is an error.
pub fn load(config: &Config) -> Result<Catalog, Vec<Problem>> {
    let mut loaded = Catalog {
        zones: Vec::new(),
        warnings: Vec::new(),
        networks: None,
    };
    let mut errors = Vec::new();
    if let Some(geo) = &config.geo {
        match Networks::load(&geo.networks, &geo.regions, geo.default) {
            Ok(networks) => loaded.networks = Some(networks),
            Err(found) => {
                let more = (found.more > 0).then(|| Problem::More {
                    count: found.more,
                    warnings: false,
                    file: Some(geo.networks.clone()),
                });
                errors.extend(found.first.into_iter().map(Problem::Networks).chain(more));
            }
        }
    }
    let mut seen: HashMap<Name, std::path::PathBuf> = HashMap::new();
    for zone_config in &config.zones {
        let is_check = |name: &str| config.checks.contains_key(name);
        let origin = zone_config.origin.as_ref();
        let file = &zone_config.file;
        match zone::load_checked(file, origin, &is_check, config.max_zone_file_size) {
            Ok(zone) => {
                if let Some(first) = seen.get(&zone.zone.origin) {
                    errors.push(Problem::Duplicate {
                        file: zone_config.file.clone(),
                        origin: zone.zone.origin.clone(),
                        first: first.clone(),
                    });
                    continue;
                }
                seen.insert(zone.zone.origin.clone(), zone_config.file.clone());
                loaded
                    .warnings
                    .extend(Problem::of_zone(zone.warnings, file, true));
                loaded.zones.push(zone.zone);
            }
            Err(zone_errors) => errors.extend(Problem::of_zone(zone_errors, file, false)),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(capped(errors))
    }
}

/// The first [`MAX_ERRORS`] errors of `problems`, the counts of zones all
/// of whose errors are among them, then one count of everything else.
fn capped(problems: Vec<Problem>) -> Vec<Problem> {
    let mut kept = Vec::with_capacity(problems.len().min(MAX_ERRORS + 1));
    let mut listed = 0;
    let mut more = 0;
    for problem in problems {
        match problem {
            Problem::More { count, .. } if more > 0 => more += count,
            Problem::More { .. } => kept.push(problem),
            _ if listed < MAX_ERRORS => {
                kept.push(problem);
                listed += 1;
            }
            _ => more += 1,
        }
    }
    if more > 0 {
        kept.push(Problem::More {
            count: more,
            warnings: false,
            file: None,
        });
    }
    kept
}

/// Frees parsed zones, once their table is built, on a thread of its own and
/// then hands the memory back (`release_freed_memory`): for a large zone
/// that takes long enough to delay start-up and every reload.
pub fn dispose(zones: Catalog) {
    let spawned = std::thread::Builder::new()
        .name("zone-drop".into())
        .spawn(move || {
            drop(zones);
            release_freed_memory();
        });
    if let Err(err) = spawned {
        // The zones went with the closure that could not run.
        tracing::debug!(%err, "no thread to free zones on; freed here");
        release_freed_memory();
    }
}

/// Hands memory freed since the last call back to the operating system.
///
/// Loading a zone allocates a record at a time and frees it all once the
/// answer table is built; glibc keeps such small freed blocks in the heap,
/// so without this a large zone would keep the resident size of its parse,
/// larger than its table's, for the life of the process.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it is
    // safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::zone::Location;

    fn errors_of(file: &str, count: usize, more: usize) -> Vec<Problem> {
        let file: Arc<Path> = Path::new(file).into();
        let first = (1..=count as u32)
            .map(|line| ZoneError {
                location: Location {
                    file: file.clone(),
                    line,
                    column: 0,
                },
                message: "bad".into(),
            })
            .collect();
        Problem::of_zone(ZoneErrors { first, more }, &file, false)
    }

    fn shown(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn each_zone_counts_what_it_does_not_list() {
        let found = shown(&errors_of("a.zone", 2, 7));
        assert_eq!(
            found,
            [
                "a.zone:1: bad",
                "a.zone:2: bad",
                "… and 7 more errors in a.zone"
            ]
        );
        let warnings: Vec<Problem> = errors_of("a.zone", 1, 3)
            .into_iter()
            .map(Problem::into_warning)
            .collect();
        assert_eq!(
            shown(&warnings),
            ["a.zone:1: warning: bad", "… and 3 more warnings in a.zone"]
        );
    }

    #[test]
    fn all_zones_together_list_at_most_max_errors() {
        let mut all = errors_of("a.zone", 60, 5);
        all.extend(errors_of("b.zone", 60, 500));
        all.extend(errors_of("c.zone", 1, 0));
        let found = shown(&capped(all));
        assert_eq!(found.len(), MAX_ERRORS + 2, "{found:#?}");
        assert_eq!(
            found[60], "… and 5 more errors in a.zone",
            "a zone listed in full"
        );
        assert_eq!(found[61], "b.zone:1: bad");
        assert_eq!(found[MAX_ERRORS], "b.zone:40: bad");
        assert_eq!(
            found[MAX_ERRORS + 1],
            format!("… and {} more errors", 20 + 500 + 1)
        );
        let few = errors_of("a.zone", 3, 0);
        assert_eq!(shown(&capped(few.clone())), shown(&few));
    }
}
