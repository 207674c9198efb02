//! Turns zone files into records: directives (`$ORIGIN`, `$TTL`, `$INCLUDE`),
//! owner/TTL/class/type resolution and RDATA, collecting every error.
//!
//! This step knows nothing about the zone's shape; [`super::validate`] does.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::rr::RecordType;

use super::lexer::{Entry, Token, lex_each};
use super::rdata::{self, RdataError, type_name};
use super::ttl::{self, MAX_TTL, TtlError};
use super::{Location, Record, ZoneError, annotation};
use crate::name::{Name, NameError};
use crate::wire::rtype::{OPT, SOA};
use crate::wire::{CLASS_ANY, CLASS_IN};

/// Why one line (a record or a directive) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LineError {
    /// A directive with the wrong number of arguments.
    #[error("{0}")]
    Usage(&'static str),
    /// `$GENERATE`.
    #[error("$GENERATE is not supported; write the records out")]
    Generate,
    /// `$SOMETHING` else.
    #[error("unknown directive {0}")]
    UnknownDirective(String),
    /// A TTL that does not parse.
    #[error("TTL {0:?} {1}")]
    Ttl(String, TtlError),
    /// A bad owner, `$ORIGIN` or `$INCLUDE` origin.
    #[error("{0} {1:?} is not a valid name: {2}")]
    Name(&'static str, String, NameError),
    /// A leading blank on the first record.
    #[error("line starts with a blank but no owner came before it")]
    NoPreviousOwner,
    /// Owner (and TTL/class) but no type.
    #[error("record type is missing")]
    MissingType,
    /// A class other than IN.
    #[error("class {0} is not supported (only IN)")]
    Class(String),
    /// A type mnemonic nobody knows.
    #[error("unknown record type {0:?}")]
    UnknownType(String),
    /// OPT, AXFR, ANY and other meta types.
    #[error("type {0} cannot appear in a zone file")]
    MetaType(String),
    /// No TTL could be settled.
    #[error("no TTL and no $TTL")]
    NoTtl,
    /// A `; healthdns …` comment that does not parse.
    #[error("health annotation: {0}")]
    Annotation(String),
    /// The RDATA did not parse.
    #[error(transparent)]
    Rdata(#[from] RdataError),
}

/// How deep `$INCLUDE` may nest.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 16;

/// What reading produced: records in file order, errors, warnings.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Every record read, in file order.
    pub records: Vec<Record>,
    /// Every error, in file order.
    pub errors: Vec<ZoneError>,
    /// Warnings (TTL fix-ups and the like).
    pub warnings: Vec<ZoneError>,
}

/// Reads `path` and what it includes. `origin` is the initial `$ORIGIN`.
pub(crate) fn read(path: &Path, origin: Option<&Name>) -> Parsed {
    let mut reader = Reader::default();
    let file: Arc<Path> = path.into();
    let state = FileState {
        file: file.clone(),
        origin: origin.cloned(),
        last_owner: None,
    };
    reader.read_file(state, None);
    reader.parsed
}

#[derive(Default)]
struct Reader {
    parsed: Parsed,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    /// Canonical paths of the files being read, outermost first.
    stack: Vec<PathBuf>,
}

/// What is local to one file: `$ORIGIN` and the previous owner.
struct FileState {
    file: Arc<Path>,
    origin: Option<Name>,
    last_owner: Option<Name>,
}

impl FileState {
    fn at(&self, line: u32) -> Location {
        Location {
            file: self.file.clone(),
            line,
        }
    }
}

fn error(location: Location, message: impl Into<String>) -> ZoneError {
    ZoneError {
        location,
        message: message.into(),
    }
}

impl Reader {
    /// Reads one file; `included_at` is the `$INCLUDE` line that named it.
    fn read_file(&mut self, mut state: FileState, included_at: Option<Location>) -> FileState {
        let blame = included_at.unwrap_or_else(|| state.at(1));
        let canonical =
            std::fs::canonicalize(&state.file).unwrap_or_else(|_| state.file.to_path_buf());
        if self.stack.contains(&canonical) {
            let message = format!(
                "$INCLUDE loop: {} is already being read",
                state.file.display()
            );
            self.parsed.errors.push(error(blame, message));
            return state;
        }
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            let message = format!("$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH} files");
            self.parsed.errors.push(error(blame, message));
            return state;
        }
        let bytes = match std::fs::read(&state.file) {
            Ok(bytes) => bytes,
            Err(e) => {
                let message = format!("cannot read {}: {e}", state.file.display());
                self.parsed.errors.push(error(blame, message));
                return state;
            }
        };
        self.stack.push(canonical);
        // Lexing errors come first, as if the file had been split into
        // entries before any was read.
        let mark = self.parsed.errors.len();
        let lex_errors = lex_each(&bytes, |entry| {
            let starts_directive = !entry.continues_owner
                && entry
                    .tokens
                    .first()
                    .is_some_and(|t| !t.quoted && t.raw.starts_with(b"$"));
            let result = if starts_directive {
                self.directive(&mut state, &entry)
            } else {
                self.record(&mut state, &entry)
            };
            if let Err(message) = result {
                self.parsed
                    .errors
                    .push(error(state.at(entry.line), message.to_string()));
            }
        });
        let lex_errors = lex_errors
            .into_iter()
            .map(|e| error(state.at(e.line()), e.to_string()));
        self.parsed.errors.splice(mark..mark, lex_errors);
        self.stack.pop();
        state
    }

    fn directive(&mut self, state: &mut FileState, entry: &Entry) -> Result<(), LineError> {
        let (keyword, args) = entry
            .tokens
            .split_first()
            .ok_or(LineError::Usage("empty directive"))?;
        let name = keyword.text().to_ascii_uppercase();
        match name.as_str() {
            "$ORIGIN" => {
                let [arg] = args else {
                    return Err(LineError::Usage("$ORIGIN takes one name"));
                };
                state.origin = Some(parse_name("$ORIGIN", arg, state.origin.as_ref())?);
            }
            "$TTL" => {
                let [arg] = args else {
                    return Err(LineError::Usage("$TTL takes one TTL"));
                };
                let value = self.ttl_value(state, entry.line, arg)?;
                self.default_ttl = Some(value);
            }
            "$INCLUDE" => {
                let (file, origin) = match args {
                    [file] => (file, state.origin.clone()),
                    [file, origin] => (
                        file,
                        Some(parse_name(
                            "$INCLUDE origin",
                            origin,
                            state.origin.as_ref(),
                        )?),
                    ),
                    _ => {
                        return Err(LineError::Usage(
                            "$INCLUDE takes a file name and an optional origin",
                        ));
                    }
                };
                let dir = state.file.parent().unwrap_or(Path::new(""));
                let path: Arc<Path> = dir.join(Path::new(&file.text())).into();
                let inner = FileState {
                    file: path,
                    origin,
                    last_owner: state.last_owner.clone(),
                };
                self.read_file(inner, Some(state.at(entry.line)));
            }
            "$GENERATE" => {
                return Err(LineError::Generate);
            }
            _ => return Err(LineError::UnknownDirective(keyword.text())),
        }
        Ok(())
    }

    /// A TTL value; above 2^31-1 it becomes 0 with a warning (RFC 2181 §8, as BIND).
    fn ttl_value(&mut self, state: &FileState, line: u32, token: &Token) -> Result<u32, LineError> {
        let value = token
            .as_str()
            .ok_or(ttl::TtlError::Syntax)
            .and_then(ttl::parse)
            .map_err(|e| LineError::Ttl(token.text(), e))?;
        if value > MAX_TTL {
            let message = format!("TTL {value} is above {MAX_TTL}; using 0 (RFC 2181 §8)");
            self.parsed.warnings.push(error(state.at(line), message));
            return Ok(0);
        }
        Ok(value)
    }

    fn record(&mut self, state: &mut FileState, entry: &Entry) -> Result<(), LineError> {
        let mut tokens = &entry.tokens[..];
        let owner = if entry.continues_owner {
            state.last_owner.clone().ok_or(LineError::NoPreviousOwner)?
        } else {
            let (first, rest) = tokens.split_first().ok_or(LineError::MissingType)?;
            tokens = rest;
            let owner = parse_name("owner", first, state.origin.as_ref())?;
            state.last_owner = Some(owner.clone());
            owner
        };
        let mut explicit_ttl = None;
        let mut class_seen = false;
        let rtype = loop {
            let (token, rest) = tokens.split_first().ok_or(LineError::MissingType)?;
            tokens = rest;
            if !token.quoted && ttl::looks_like_ttl(&token.raw) && explicit_ttl.is_none() {
                explicit_ttl = Some(self.ttl_value(state, entry.line, token)?);
            } else if let Some(class) = class_of(token).filter(|_| !class_seen) {
                if class != CLASS_IN {
                    return Err(LineError::Class(token.text()));
                }
                class_seen = true;
            } else {
                break parse_type(token)?;
            }
        };
        let rdata = rdata::encode(rtype, tokens, state.origin.as_ref())?;
        let ttl = match (explicit_ttl, self.default_ttl, self.last_ttl) {
            (Some(ttl), _, _) | (None, Some(ttl), _) | (None, None, Some(ttl)) => ttl,
            (None, None, None) if rtype == SOA => {
                let minimum = soa_minimum(&rdata);
                let message = format!("no TTL and no $TTL; using the SOA minimum {minimum}");
                self.parsed
                    .warnings
                    .push(error(state.at(entry.line), message.to_string()));
                minimum
            }
            (None, None, None) => return Err(LineError::NoTtl),
        };
        let health = match &entry.annotation {
            Some(text) => Some(Box::new(
                annotation::parse(text).map_err(LineError::Annotation)?,
            )),
            None => None,
        };
        self.last_ttl = Some(ttl);
        self.parsed.records.push(Record {
            owner,
            rtype,
            ttl,
            rdata: rdata.into(),
            location: state.at(entry.line),
            health,
        });
        Ok(())
    }
}

fn parse_name(what: &'static str, token: &Token, origin: Option<&Name>) -> Result<Name, LineError> {
    let parsed = match token.as_str().filter(|text| text.is_ascii()) {
        Some(text) => Name::from_text(text, origin),
        None => Name::from_text(&token.name_text(), origin),
    };
    parsed.map_err(|e| LineError::Name(what, token.text(), e))
}

/// The class code of a class mnemonic, or `None` when the token is no class.
fn class_of(token: &Token) -> Option<u16> {
    if token.quoted {
        return None;
    }
    let mut upper = [0u8; 16];
    let upper = upper.get_mut(..token.raw.len())?;
    upper.copy_from_slice(&token.raw);
    upper.make_ascii_uppercase();
    match &*upper {
        b"IN" => Some(CLASS_IN),
        b"CS" => Some(2),
        b"CH" | b"CHAOS" => Some(3),
        b"HS" | b"HESIOD" => Some(4),
        b"NONE" => Some(254),
        b"ANY" => Some(CLASS_ANY),
        _ => {
            let digits = upper.strip_prefix(b"CLASS")?;
            rdata::parse_number(digits, u16::MAX.into())
                .ok()
                .map(|n| n as u16)
        }
    }
}

/// A type mnemonic (any case) or `TYPEnnn`.
fn parse_type(token: &Token) -> Result<u16, LineError> {
    // Mnemonics are short; a longer token is no type (nor TYPEnnnnn).
    let mut buffer = [0u8; 16];
    let upper = buffer
        .get_mut(..token.raw.len())
        .filter(|_| token.raw.is_ascii())
        .map(|upper| {
            upper.copy_from_slice(&token.raw);
            upper.make_ascii_uppercase();
            std::str::from_utf8(upper).unwrap_or_default()
        })
        .unwrap_or_default();
    let code = match upper.strip_prefix("TYPE") {
        Some(digits) if !digits.is_empty() => {
            rdata::parse_number(digits.as_bytes(), u16::MAX.into())
                .map(|n| n as u16)
                .ok()
        }
        _ if token.quoted => None,
        _ => RecordType::from_str(upper).ok().map(u16::from),
    };
    let code = code.ok_or_else(|| LineError::UnknownType(token.text()))?;
    if code == 0 || code == OPT || (128..=255).contains(&code) {
        return Err(LineError::MetaType(type_name(code)));
    }
    Ok(code)
}

fn soa_minimum(rdata: &[u8]) -> u32 {
    match rdata.len().checked_sub(4).and_then(|at| rdata.get(at..)) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}
