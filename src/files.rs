//! The files an operator names — the config, zone files and what they
//! `$INCLUDE`, the API token file — and what is said about them.
//!
//! Only regular files are read: a FIFO would block the reader (and with it
//! every later reload) until some writer appeared, and a device such as
//! `/dev/zero` never ends. A file is opened without blocking and judged by
//! `fstat` on the open descriptor, so nothing can be swapped in between the
//! check and the read, and it is read only up to a bound, even if it grows
//! meanwhile. Text quoted back from a file in a message keeps no control
//! character and no invalid UTF-8: a hostile file must not drive the
//! terminal or the log that shows its errors.

use std::borrow::Cow;
use std::fmt::{self, Write};
use std::fs::{FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The most errors reported of one zone, and of one configuration with all
/// its zones; the rest are counted, so that a file of junk neither floods
/// the output nor fills memory with messages.
pub(crate) const MAX_ERRORS: usize = 100;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// Opening or reading failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A directory, device, FIFO or socket: what it is, with its article.
    #[error("is {0}: only regular files are read")]
    NotRegular(&'static str),
    /// Larger than the bound; `size` is what `fstat` said, or what was
    /// read before the bound stopped it when the file grew.
    #[error("is {}, more than {}", self::size(*.size), self::size(*.limit))]
    TooLarge {
        /// The size found.
        size: u64,
        /// The bound.
        limit: u64,
    },
}

impl ReadError {
    /// The error as a sentence about `subject` (`config`, `zone file x.zone`).
    pub(crate) fn about(&self, subject: impl fmt::Display) -> String {
        match self {
            ReadError::Io(err) => format!("cannot read {subject}: {err}"),
            _ => format!("{subject} {self}"),
        }
    }
}

/// The contents of the regular file `path`, at most `limit` bytes of it.
pub(crate) fn read(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
    // writer. O_NOCTTY: a terminal named here must not become ours.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|err| match inspect(path, u64::MAX) {
            // A socket cannot be opened at all (ENXIO): say what it is.
            Err(not_regular @ ReadError::NotRegular(_)) => not_regular,
            _ => ReadError::Io(err),
        })?;
    let metadata = file.metadata()?;
    judge(metadata.file_type(), metadata.len(), limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    let read = bytes.len() as u64;
    if read > limit {
        return Err(ReadError::TooLarge { size: read, limit });
    }
    Ok(bytes)
}

/// What [`read`] would refuse `path` for, judged by its metadata without
/// opening it: for errors that can point at the config key naming the
/// file. [`read`] judges again when it reads.
pub(crate) fn inspect(path: &Path, limit: u64) -> Result<(), ReadError> {
    let metadata = std::fs::metadata(path)?;
    judge(metadata.file_type(), metadata.len(), limit)
}

fn judge(kind: FileType, size: u64, limit: u64) -> Result<(), ReadError> {
    if !kind.is_file() {
        return Err(ReadError::NotRegular(what(kind)));
    }
    if size > limit {
        return Err(ReadError::TooLarge { size, limit });
    }
    Ok(())
}

/// A file type other than regular, as a noun with its article.
fn what(kind: FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// A byte count for people: `50 MiB` when whole, else the exact count with
/// a rounded one (`23919700 bytes (22.8 MiB)`).
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    let Some(&(unit, name)) = UNITS.iter().find(|(unit, _)| bytes >= *unit) else {
        return format!("{bytes} bytes");
    };
    if bytes.is_multiple_of(unit) {
        format!("{} {name}", bytes / unit)
    } else {
        format!("{bytes} bytes ({:.1} {name})", bytes as f64 / unit as f64)
    }
}

/// `bytes` fit to quote in a message: UTF-8 text as it is, but control
/// characters, bidirectional overrides and bytes that are not UTF-8
/// written `\DDD` (decimal, as zone files escape them).
pub(crate) fn escape(bytes: &[u8]) -> Cow<'_, str> {
    let clean = match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(needs_escape) => Some(text),
        _ => None,
    };
    if let Some(text) = clean {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if needs_escape(c) {
                let mut buffer = [0u8; 4];
                c.encode_utf8(&mut buffer)
                    .bytes()
                    .for_each(|b| push_decimal(&mut out, b));
            } else {
                out.push(c);
            }
        }
        chunk
            .invalid()
            .iter()
            .for_each(|&b| push_decimal(&mut out, b));
    }
    Cow::Owned(out)
}

/// A path fit to quote in a message (see [`escape`]).
pub(crate) fn shown(path: &Path) -> Cow<'_, str> {
    escape(path.as_os_str().as_bytes())
}

fn push_decimal(out: &mut String, b: u8) {
    let _ = write!(out, "\\{b:03}");
}

/// Control characters (C0, DEL, C1) and the bidirectional embeddings,
/// overrides and isolates that could make shown text read otherwise.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// Makes a FIFO at `path`, for the tests of what reads files.
    pub(crate) fn mkfifo(path: &Path) {
        let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn reads_a_regular_file_within_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read(&path, 5).unwrap(), b"12345");
        assert!(inspect(&path, 5).is_ok());
        let err = read(&path, 4).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { size: 5, limit: 4 }));
        assert_eq!(err.to_string(), "is 5 bytes, more than 4 bytes");
        assert!(matches!(
            inspect(&path, 4),
            Err(ReadError::TooLarge { size: 5, limit: 4 })
        ));
    }

    #[test]
    fn refuses_what_is_not_a_regular_file_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let socket = dir.path().join("socket");
        let _listener = UnixListener::bind(&socket).unwrap();
        for (path, what) in [
            (dir.path(), "is a directory"),
            (fifo.as_path(), "is a FIFO"),
            (socket.as_path(), "is a socket"),
            (Path::new("/dev/zero"), "is a character device"),
        ] {
            let err = read(path, u64::MAX).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{what}: only regular files are read"),
                "{path:?}"
            );
            assert_eq!(
                inspect(path, u64::MAX).unwrap_err().to_string(),
                err.to_string()
            );
        }
        let missing = read(&dir.path().join("missing"), 10).unwrap_err();
        assert!(matches!(&missing, ReadError::Io(e) if e.kind() == io::ErrorKind::NotFound));
        assert!(missing.about("config").starts_with("cannot read config: "));
        assert_eq!(
            read(&fifo, 10).unwrap_err().about("zone file f"),
            "zone file f is a FIFO: only regular files are read"
        );
    }

    #[test]
    fn a_file_that_grows_is_read_to_the_bound_only() {
        // /proc files say they are empty and are regular: the bound, not
        // the size fstat gives, ends the read.
        let err = read(Path::new("/proc/self/maps"), 10).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::TooLarge {
                    size: 11,
                    limit: 10
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(1024), "1 KiB");
        assert_eq!(size(50 << 20), "50 MiB");
        assert_eq!(size(1 << 30), "1 GiB");
        assert_eq!(size(23_919_700), "23919700 bytes (22.8 MiB)");
    }

    #[test]
    fn escape_keeps_text_and_writes_the_rest_as_decimal() {
        assert!(matches!(escape(b"plain text"), Cow::Borrowed("plain text")));
        assert_eq!(escape("café".as_bytes()), "café");
        assert_eq!(escape(b"a\x1b[2Jb"), "a\\027[2Jb");
        assert_eq!(escape(b"nul\0 del\x7f tab\t"), "nul\\000 del\\127 tab\\009");
        assert_eq!(escape(b"bad \xff\xfe utf8"), "bad \\255\\254 utf8");
        assert_eq!(escape(b"cut \xc3"), "cut \\195");
        assert_eq!(escape("c1 \u{85}".as_bytes()), "c1 \\194\\133");
        assert_eq!(escape("rtl \u{202e}x".as_bytes()), "rtl \\226\\128\\174x");
        assert_eq!(shown(Path::new("/tmp/a\nb")), "/tmp/a\\010b");
    }
}
