//! Zone files: RFC 1035 master format read with line numbers, the health
//! annotations kept from comments, and the validated [`Zone`] model.
//!
//! The reader is ours rather than hickory-proto's because hickory's lexer drops
//! comments (where our annotations live), counts no lines, and cannot read
//! DNAME or RFC 3597 generic records. RDATA is kept in uncompressed wire
//! format: that is what the answer table copies into responses.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::name::Name;
pub use annotation::{AllDown, Annotation, Policy};

pub(crate) mod annotation;
pub(crate) mod health_sets;
pub(crate) mod lexer;
pub(crate) mod rdata;
pub(crate) mod reader;
pub(crate) mod ttl;
pub(crate) mod validate;

#[cfg(test)]
mod tests;

/// Where a record or an error came from: `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as named in the config or on the command line (or by `$INCLUDE`).
    pub file: Arc<Path>,
    /// 1-based line number; the line where the record starts.
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One resource record as read from a zone file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name, absolute, case as written.
    pub owner: Name,
    /// RR type code (hickory's `RecordType` converts to and from mnemonics).
    pub rtype: u16,
    /// TTL in seconds, after `$TTL` / inheritance rules.
    pub ttl: u32,
    /// RDATA in uncompressed wire format, names as written (case kept).
    pub rdata: Box<[u8]>,
    /// Where the record was written.
    pub location: Location,
    /// The health annotation: a comment on the record's first line that
    /// starts with `healthdns` (see `zone::annotation`). Boxed: few records
    /// carry one, and inline it would make every record larger by a whole
    /// annotation, while a large zone's parse holds every record at once.
    pub health: Option<Box<Annotation>>,
}

/// A problem found in a zone file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneError {
    /// Where it is.
    pub location: Location,
    /// What is wrong, and where useful what to do.
    pub message: String,
}

impl ZoneError {
    /// The same problem, its message marked as a warning.
    pub fn into_warning(self) -> ZoneError {
        ZoneError {
            message: format!("warning: {}", self.message),
            ..self
        }
    }
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// A validated zone: one SOA at the apex, apex NS present, every record in the
/// zone and of class IN.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The apex.
    pub origin: Name,
    /// The records, in file order, duplicates removed.
    pub records: Vec<Record>,
}

/// A zone that loaded, with what was worth a warning (e.g. out-of-zone data
/// that was dropped, data occluded by a delegation).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The zone.
    pub zone: Zone,
    /// Warnings, each with file:line.
    pub warnings: Vec<ZoneError>,
}

/// Reads and validates the zone file at `path`.
///
/// `origin`: the configured origin; when `None`, the origin is the owner of the
/// SOA record. Returns every error found, not only the first.
pub fn load(path: &Path, origin: Option<&Name>) -> Result<Loaded, Vec<ZoneError>> {
    load_checked(path, origin, &|_| true)
}

/// [`load`], also refusing `check=NAME` annotations for which `is_check` is
/// false (checks the config does not define).
pub fn load_checked(
    path: &Path,
    origin: Option<&Name>,
    is_check: &dyn Fn(&str) -> bool,
) -> Result<Loaded, Vec<ZoneError>> {
    let parsed = reader::read(path, origin);
    let mut errors = parsed.errors;
    let mut warnings = parsed.warnings;
    let zone = validate::validate(
        path,
        parsed.records,
        origin,
        is_check,
        &mut errors,
        &mut warnings,
    );
    match zone {
        Some(zone) if errors.is_empty() => Ok(Loaded { zone, warnings }),
        _ => {
            // A zone that fails still shows what it would have dropped.
            errors.extend(warnings.into_iter().map(ZoneError::into_warning));
            errors.sort_by(|a, b| {
                (&a.location.file, a.location.line).cmp(&(&b.location.file, b.location.line))
            });
            Err(errors)
        }
    }
}
