//! Turns zone files into records: directives (`$ORIGIN`, `$TTL`, `$INCLUDE`),
//! owner/TTL/class/type resolution and RDATA, collecting every error.
//!
//! This step knows nothing about the zone's shape; [`super::validate`] does.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lexer::{Entry, Position, Token, lex_each};
use super::rdata::{self, type_name};
use super::ttl::{self, MAX_TTL, TtlError};
use super::{Location, Record, ZoneError, ZoneErrors, annotation};
use crate::config::zone_too_large;
use crate::files::{self, MAX_ERRORS};
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
    Ttl(String, TtlError, Position),
    /// A bad owner, `$ORIGIN` or `$INCLUDE` origin.
    #[error("{0} {1:?} is not a valid name: {2}")]
    Name(&'static str, String, NameError, Position),
    /// A leading blank on the first record.
    #[error("line starts with a blank but no owner came before it")]
    NoPreviousOwner,
    /// Owner (and TTL/class) but no type.
    #[error("record type is missing")]
    MissingType,
    /// A class other than IN.
    #[error("class {0} is not supported (only IN)")]
    Class(String, Position),
    /// A type mnemonic nobody knows.
    #[error("unknown record type {0:?}")]
    UnknownType(String, Position),
    /// OPT, AXFR, ANY and other meta types.
    #[error("type {0} cannot appear in a zone file")]
    MetaType(String, Position),
    /// No TTL could be settled.
    #[error("no TTL and no $TTL")]
    NoTtl,
    /// A `; healthdns …` comment that does not parse.
    #[error("health annotation: {0}")]
    Annotation(String),
    /// The RDATA did not parse.
    #[error(transparent)]
    Rdata(#[from] rdata::Located),
}

impl LineError {
    /// The field the error is about, when it is about one.
    fn position(&self) -> Option<Position> {
        match self {
            LineError::Ttl(_, _, at)
            | LineError::Name(_, _, _, at)
            | LineError::Class(_, at)
            | LineError::UnknownType(_, at)
            | LineError::MetaType(_, at) => Some(*at),
            LineError::Rdata(located) => Some(located.at),
            _ => None,
        }
    }
}

/// How deep `$INCLUDE` may nest.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 16;

/// What reading produced: records in file order, errors, warnings.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Every record read, in file order.
    pub records: Vec<Record>,
    /// The first errors, in file order, and how many more.
    pub errors: ZoneErrors,
    /// The first warnings (TTL fix-ups and the like), and how many more.
    pub warnings: ZoneErrors,
}

/// Reads `path` and what it includes, at most `max_size` bytes of them
/// together. `origin` is the initial `$ORIGIN`.
pub(crate) fn read(path: &Path, origin: Option<&Name>, max_size: u64) -> Parsed {
    let mut reader = Reader {
        parsed: Parsed::default(),
        default_ttl: None,
        last_ttl: None,
        stack: Vec::new(),
        max_size,
        left: max_size,
    };
    let file: Arc<Path> = path.into();
    let state = FileState {
        file: file.clone(),
        origin: origin.cloned(),
        last_owner: LastOwner::None,
    };
    reader.read_file(state, None);
    reader.parsed
}

struct Reader {
    parsed: Parsed,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    /// Canonical paths of the files being read, outermost first.
    stack: Vec<PathBuf>,
    /// `max-zone-file-size`.
    max_size: u64,
    /// What `max_size` leaves for the files not read yet.
    left: u64,
}

/// What is local to one file: `$ORIGIN` and the previous owner.
struct FileState {
    file: Arc<Path>,
    origin: Option<Name>,
    last_owner: LastOwner,
}

/// The owner a line that starts with a blank continues.
#[derive(Clone)]
enum LastOwner {
    /// No record came before.
    None,
    /// The owner of the last record that named one.
    Valid(Name),
    /// The last record named an owner that is not valid (its error is
    /// reported there): the records that continue it belong to no name
    /// here, rather than to an older owner.
    Invalid,
}

impl FileState {
    fn at(&self, line: u32) -> Location {
        Location {
            file: self.file.clone(),
            line,
            column: 0,
        }
    }

    /// The place of `error`: its field when it names one, else the line.
    fn blame(&self, line: u32, error: &LineError) -> Location {
        match error.position() {
            Some(at) => Location {
                file: self.file.clone(),
                line: at.line,
                column: at.col,
            },
            None => self.at(line),
        }
    }
}

fn error(location: Location, message: impl Into<String>) -> ZoneError {
    ZoneError {
        location,
        message: message.into(),
    }
}

/// Adds a problem to `list`, or only counts it once the list is full: the
/// message is not even written then.
fn report(list: &mut ZoneErrors, location: Location, message: impl fmt::Display) {
    if list.first.len() < MAX_ERRORS {
        list.first.push(error(location, message.to_string()));
    } else {
        list.more += 1;
    }
}

impl Reader {
    /// Reads one file; `included_at` is the `$INCLUDE` line that named it.
    fn read_file(&mut self, mut state: FileState, included_at: Option<Location>) -> FileState {
        let blame = included_at.unwrap_or_else(|| state.at(1));
        let canonical =
            std::fs::canonicalize(&state.file).unwrap_or_else(|_| state.file.to_path_buf());
        let shown = files::shown(&state.file).into_owned();
        if self.stack.contains(&canonical) {
            let message = format!("$INCLUDE loop: {shown} is already being read");
            report(&mut self.parsed.errors, blame, message);
            return state;
        }
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            let message = format!("$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH} files");
            report(&mut self.parsed.errors, blame, message);
            return state;
        }
        let bytes = match files::read(&state.file, self.left) {
            Ok(bytes) => bytes,
            Err(files::ReadError::TooLarge { size, .. }) => {
                let before = self.max_size - self.left;
                let subject = match before {
                    0 => shown,
                    _ => format!("the zone with {shown}"),
                };
                let message = zone_too_large(&subject, before.saturating_add(size), self.max_size);
                report(&mut self.parsed.errors, blame, message);
                return state;
            }
            Err(err) => {
                report(&mut self.parsed.errors, blame, err.about(shown));
                return state;
            }
        };
        self.left -= bytes.len() as u64;
        self.stack.push(canonical);
        // Lexing errors come first, as if the file had been split into
        // entries before any was read.
        let mark = self.parsed.errors.first.len();
        let (lex_errors, more_lex_errors) = lex_each(&bytes, |entry| {
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
                let location = state.blame(entry.line, &message);
                report(&mut self.parsed.errors, location, message);
            }
        });
        let lex_errors = lex_errors
            .into_iter()
            .map(|e| error(state.at(e.line()), e.to_string()));
        let errors = &mut self.parsed.errors;
        errors.first.splice(mark..mark, lex_errors);
        errors.more += more_lex_errors + errors.first.len().saturating_sub(MAX_ERRORS);
        errors.first.truncate(MAX_ERRORS);
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
                let path: Arc<Path> = dir.join(OsStr::from_bytes(&file.raw)).into();
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
            .map_err(|e| LineError::Ttl(token.text(), e, token.at))?;
        if value > MAX_TTL {
            let message = format_args!("TTL {value} is above {MAX_TTL}; using 0 (RFC 2181 §8)");
            report(&mut self.parsed.warnings, state.at(line), message);
            return Ok(0);
        }
        Ok(value)
    }

    fn record(&mut self, state: &mut FileState, entry: &Entry) -> Result<(), LineError> {
        let mut tokens = &entry.tokens[..];
        let owner = if entry.continues_owner {
            match &state.last_owner {
                LastOwner::Valid(owner) => Some(owner.clone()),
                LastOwner::Invalid => None,
                LastOwner::None => return Err(LineError::NoPreviousOwner),
            }
        } else {
            let (first, rest) = tokens.split_first().ok_or(LineError::MissingType)?;
            tokens = rest;
            match parse_name("owner", first, state.origin.as_ref()) {
                Ok(owner) => {
                    state.last_owner = LastOwner::Valid(owner.clone());
                    Some(owner)
                }
                Err(error) => {
                    state.last_owner = LastOwner::Invalid;
                    return Err(error);
                }
            }
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
                    return Err(LineError::Class(token.text(), token.at));
                }
                class_seen = true;
            } else {
                break parse_type(token)?;
            }
        };
        let type_at = entry.tokens[entry.tokens.len() - tokens.len() - 1].at;
        let rdata = rdata::encode(rtype, tokens, state.origin.as_ref(), type_at)?;
        let ttl = match (explicit_ttl, self.default_ttl, self.last_ttl) {
            (Some(ttl), _, _) | (None, Some(ttl), _) | (None, None, Some(ttl)) => ttl,
            (None, None, None) if rtype == SOA => {
                let minimum = soa_minimum(&rdata);
                let message = format_args!("no TTL and no $TTL; using the SOA minimum {minimum}");
                report(&mut self.parsed.warnings, state.at(entry.line), message);
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
        // A record under an owner that failed is read for its own errors,
        // and kept by no name.
        let Some(owner) = owner else {
            return Ok(());
        };
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
    parsed.map_err(|e| LineError::Name(what, token.text(), e, token.at))
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
    let code = rdata::parse_type_token(token)
        .ok_or_else(|| LineError::UnknownType(token.text(), token.at))?;
    if code == 0 || code == OPT || (128..=255).contains(&code) {
        return Err(LineError::MetaType(type_name(code), token.at));
    }
    Ok(code)
}

fn soa_minimum(rdata: &[u8]) -> u32 {
    match rdata.len().checked_sub(4).and_then(|at| rdata.get(at..)) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_MAX_ZONE_FILE_SIZE;

    const HEAD: &str = "$ORIGIN t.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn read_bytes(bytes: &[u8], max_size: u64) -> Parsed {
        let dir = tempfile::tempdir().unwrap();
        read(&write(dir.path(), "z.zone", bytes), None, max_size)
    }

    #[test]
    fn keeps_the_first_errors_in_file_order_and_counts_the_rest() {
        // Every line an error of its own: a lexing error on the odd lines
        // (they come first), a record error on the even ones.
        let mut text = String::from(HEAD);
        for i in 0..300 {
            text.push_str(&format!("a{i} A 192.0.2.1 )\nb{i} A 300.0.0.{i}\n"));
        }
        let parsed = read_bytes(text.as_bytes(), DEFAULT_MAX_ZONE_FILE_SIZE);
        let errors = &parsed.errors;
        assert_eq!(errors.first.len(), MAX_ERRORS);
        assert_eq!(errors.first.len() + errors.more, 600, "each counted once");
        assert!(
            errors.first.iter().all(|e| e.message.starts_with("')'")),
            "lexing errors first: {:#?}",
            errors.first
        );
        let lines: Vec<u32> = errors.first.iter().map(|e| e.location.line).collect();
        assert!(lines.is_sorted(), "in file order: {lines:?}");
        assert_eq!(lines[0], 6);
    }

    #[test]
    fn the_cap_holds_across_includes() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "bad.inc",
            "x A 300.0.0.1\n".repeat(80).as_bytes(),
        );
        let main = format!("{HEAD}$INCLUDE bad.inc\n$INCLUDE bad.inc\ny A 1.2.3\n");
        let main = write(dir.path(), "z.zone", main.as_bytes());
        let errors = read(&main, None, DEFAULT_MAX_ZONE_FILE_SIZE).errors;
        assert_eq!(errors.first.len(), MAX_ERRORS);
        assert_eq!(errors.more, 80 + 80 + 1 - MAX_ERRORS);
        assert!(
            errors
                .first
                .iter()
                .all(|e| e.location.file.ends_with("bad.inc"))
        );
    }

    #[test]
    fn warnings_are_capped_too() {
        let text = format!("{HEAD}{}", "w 4294967295 A 192.0.2.1\n".repeat(150));
        let parsed = read_bytes(text.as_bytes(), DEFAULT_MAX_ZONE_FILE_SIZE);
        assert_eq!(parsed.warnings.first.len(), MAX_ERRORS);
        assert_eq!(parsed.warnings.more, 50);
        assert!(parsed.errors.first.is_empty());
    }

    #[test]
    fn messages_escape_control_bytes_and_invalid_utf8() {
        let text = b"$ORIGIN t.\n$TTL 60\n$INC\x1b[2J x\nx TYPE\x07\xff 1\nx A 1.2.3.4\x00\n\
                     \x01\\999 A 192.0.2.1\n";
        let parsed = read_bytes(text, DEFAULT_MAX_ZONE_FILE_SIZE);
        let shown: Vec<String> = parsed.errors.first.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 4, "{shown:#?}");
        assert!(
            shown[0].ends_with(r"unknown directive $INC\027[2J"),
            "{shown:#?}"
        );
        // Inside quotes (Debug) the escape's backslash is doubled, as any is.
        assert!(shown[1].contains(r"TYPE\\007\\255"), "{shown:#?}");
        assert!(shown[2].contains(r"1.2.3.4\\000"), "{shown:#?}");
        // A message another module wrote, quoting the name as it came.
        assert!(
            shown[3].ends_with(r"bad escape in name: \001\999"),
            "{shown:#?}"
        );
        for line in &shown {
            assert!(!line.chars().any(char::is_control), "{line:?}");
            assert!(!line.contains('\u{fffd}'), "{line:?}");
        }
    }

    #[test]
    fn the_size_cap_counts_every_file_of_the_zone() {
        let dir = tempfile::tempdir().unwrap();
        let inc = "a A 192.0.2.2\n".repeat(10); // 140 bytes
        write(dir.path(), "a.inc", inc.as_bytes());
        let main = format!("{HEAD}$INCLUDE a.inc\n$INCLUDE a.inc\n");
        let main = write(dir.path(), "z.zone", main.as_bytes());
        let head = std::fs::metadata(&main).unwrap().len();
        let parsed = read(&main, None, head + 2 * 140);
        assert!(parsed.errors.first.is_empty(), "{:#?}", parsed.errors);
        let parsed = read(&main, None, head + 2 * 140 - 1);
        let errors = &parsed.errors.first;
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].location.line, 7, "the second $INCLUDE");
        assert_eq!(
            errors[0].message,
            format!(
                "the zone with {} is {} bytes; max-zone-file-size is {} bytes: raise it in \
                 [server] to read the zone",
                dir.path().join("a.inc").display(),
                head + 280,
                head + 279
            )
        );
        assert_eq!(parsed.records.len(), 3 + 10, "the first include was read");
        // The file itself over the cap is not read at all.
        let parsed = read(&main, None, head - 1);
        assert_eq!(parsed.errors.first.len(), 1);
        assert_eq!(parsed.errors.first[0].location.line, 1);
        assert!(
            parsed.errors.first[0]
                .message
                .starts_with(&format!("{} is {head} bytes;", main.display())),
            "{:#?}",
            parsed.errors
        );
        assert!(parsed.records.is_empty());
    }

    #[test]
    fn includes_of_devices_and_fifos_are_refused_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        crate::files::tests::mkfifo(&fifo);
        let main = format!("{HEAD}$INCLUDE /dev/zero\n$INCLUDE fifo\n$INCLUDE .\n");
        let main = write(dir.path(), "z.zone", main.as_bytes());
        let parsed = read(&main, None, DEFAULT_MAX_ZONE_FILE_SIZE);
        let found: Vec<String> = parsed
            .errors
            .first
            .iter()
            .map(|e| format!("{}: {}", e.location.line, e.message))
            .collect();
        assert_eq!(
            found,
            [
                "6: /dev/zero is a character device: only regular files are read".to_owned(),
                format!(
                    "7: {} is a FIFO: only regular files are read",
                    fifo.display()
                ),
                format!(
                    "8: {} is a directory: only regular files are read",
                    dir.path().join(".").display()
                ),
            ]
        );
    }
}
