//! Zone files: RFC 1035 master format read with line numbers, the health
//! annotations kept from comments, and the validated [`Zone`] model.
//!
//! The reader is ours rather than hickory-proto's because hickory's lexer drops
//! comments (where our annotations live), counts no lines, and cannot read
//! DNAME or RFC 3597 generic records. RDATA is kept in uncompressed wire
//! format: that is what the answer table copies into responses.

use std::fmt;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use crate::config::DEFAULT_MAX_ZONE_FILE_SIZE;
use crate::files::{self, MAX_ERRORS};
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

/// Where a record or an error came from: `file:line`, or `file:line:col`
/// when a problem is in one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as named in the config or on the command line (or by `$INCLUDE`).
    pub file: Arc<Path>,
    /// 1-based line number; the line where the record starts, or the line
    /// of the field at fault (a record in parentheses spans lines).
    pub line: u32,
    /// 1-based column (in bytes) of the field at fault; 0 when the problem
    /// is the whole record or line. (It sits in padding: a record's
    /// location costs no more with it.)
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An `$INCLUDE`d file is named by the zone file itself.
        write!(f, "{}:{}", files::shown(&self.file), self.line)?;
        if self.column != 0 {
            write!(f, ":{}", self.column)?;
        }
        Ok(())
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
        // Messages quote the file; whatever they quote is shown escaped.
        let message = files::escape(self.message.as_bytes());
        write!(f, "{}: {message}", self.location)
    }
}

/// The errors (or the warnings) of one zone: the first `MAX_ERRORS` (100)
/// kept, the rest only counted, so that a file of junk costs neither
/// memory nor pages of output. Derefs to the kept ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneErrors {
    /// The first ones, sorted by place when they are errors.
    pub first: Vec<ZoneError>,
    /// How many more were found.
    pub more: usize,
}

impl ZoneErrors {
    /// Keeps the first [`MAX_ERRORS`] of `all` and counts the rest.
    fn capped(mut all: Vec<ZoneError>, more: usize) -> ZoneErrors {
        let over = all.len().saturating_sub(MAX_ERRORS);
        all.truncate(MAX_ERRORS);
        ZoneErrors {
            first: all,
            more: more + over,
        }
    }
}

impl Deref for ZoneErrors {
    type Target = [ZoneError];

    fn deref(&self) -> &[ZoneError] {
        &self.first
    }
}

impl IntoIterator for ZoneErrors {
    type Item = ZoneError;
    type IntoIter = std::vec::IntoIter<ZoneError>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter()
    }
}

impl<'a> IntoIterator for &'a ZoneErrors {
    type Item = &'a ZoneError;
    type IntoIter = std::slice::Iter<'a, ZoneError>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.iter()
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
    pub warnings: ZoneErrors,
}

/// Reads and validates the zone file at `path`, reading at most
/// [`DEFAULT_MAX_ZONE_FILE_SIZE`] bytes of it and its `$INCLUDE`s.
///
/// `origin`: the configured origin; when `None`, the origin is the owner of the
/// SOA record. Returns every error found, not only the first (the first
/// `MAX_ERRORS` of them, and how many more).
pub fn load(path: &Path, origin: Option<&Name>) -> Result<Loaded, ZoneErrors> {
    load_checked(path, origin, &|_| true, DEFAULT_MAX_ZONE_FILE_SIZE)
}

/// [`load`], also refusing `check=NAME` annotations for which `is_check` is
/// false (checks the config does not define), and reading at most
/// `max_size` bytes of the zone and its `$INCLUDE`s together.
pub fn load_checked(
    path: &Path,
    origin: Option<&Name>,
    is_check: &dyn Fn(&str) -> bool,
    max_size: u64,
) -> Result<Loaded, ZoneErrors> {
    let parsed = reader::read(path, origin, max_size);
    let mut errors = parsed.errors.first;
    let mut warnings = parsed.warnings.first;
    let zone = validate::validate(
        path,
        parsed.records,
        origin,
        is_check,
        &mut errors,
        &mut warnings,
    );
    match zone {
        Some(zone) if errors.is_empty() => Ok(Loaded {
            zone,
            warnings: ZoneErrors::capped(warnings, parsed.warnings.more),
        }),
        _ => {
            // A zone that fails still shows what it would have dropped.
            errors.extend(warnings.into_iter().map(ZoneError::into_warning));
            errors.sort_by(|a, b| {
                let (a, b) = (&a.location, &b.location);
                (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column))
            });
            let more = parsed.errors.more + parsed.warnings.more;
            Err(ZoneErrors::capped(errors, more))
        }
    }
}
