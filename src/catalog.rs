//! The catalog: every zone a config names, loaded, with every error found,
//! so that `check`, start-up and reload all judge a configuration the same
//! way.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::{Config, ConfigError};
use crate::name::Name;
use crate::zone::{self, Zone, ZoneError};

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
    /// Two zone files for one zone.
    #[error("{}: zone {origin} is already served from {}", .file.display(), .first.display())]
    Duplicate {
        /// The second file.
        file: PathBuf,
        /// The zone.
        origin: Name,
        /// The first file.
        first: PathBuf,
    },
}

/// Every zone of a config, loaded.
#[derive(Debug)]
pub struct Catalog {
    /// The zones, in config order.
    pub zones: Vec<Zone>,
    /// Warnings (dropped out-of-zone data, occluded names, …).
    pub warnings: Vec<ZoneError>,
}

/// Loads all zones of `config`. A zone served twice is an error.
pub fn load(config: &Config) -> Result<Catalog, Vec<Problem>> {
    let mut loaded = Catalog {
        zones: Vec::new(),
        warnings: Vec::new(),
    };
    let mut errors = Vec::new();
    let mut seen: HashMap<Name, std::path::PathBuf> = HashMap::new();
    for zone_config in &config.zones {
        let is_check = |name: &str| config.checks.contains_key(name);
        match zone::load_checked(&zone_config.file, zone_config.origin.as_ref(), &is_check) {
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
                loaded.warnings.extend(zone.warnings);
                loaded.zones.push(zone.zone);
            }
            Err(zone_errors) => errors.extend(zone_errors.into_iter().map(Problem::Zone)),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors)
    }
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
