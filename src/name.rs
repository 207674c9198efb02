//! Domain names in uncompressed wire format.
//!
//! A [`Name`] is always absolute and keeps the case it was written with, because
//! answers echo owner names as the zone file spells them. Equality, hashing and
//! ordering ignore ASCII case and follow the DNSSEC canonical order (RFC 4034
//! §6.1), so a `Name` can key maps directly. The hot path never builds a `Name`:
//! it compares wire bytes lower-cased into a stack buffer ([`lowercase_into`];
//! [`Name::lowercase_wire`] is the owned form, for building tables).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Longest name on the wire, root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest single label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A label is longer than 63 octets.
    #[error("label longer than 63 octets")]
    LabelTooLong,
    /// The whole name is longer than 255 octets.
    #[error("name longer than 255 octets")]
    NameTooLong,
    /// Two dots in a row, or a leading dot.
    #[error("empty label in name")]
    EmptyLabel,
    /// A `\` escape that is cut short or out of range.
    #[error("bad escape in name: {0}")]
    BadEscape(String),
    /// A relative name where no origin is known.
    #[error("relative name {0:?} but no origin is known")]
    NoOrigin(String),
    /// Wire bytes that are not one uncompressed name.
    #[error("malformed wire-format name")]
    BadWire,
}

/// An absolute domain name, uncompressed wire format, original case.
#[derive(Clone)]
pub struct Name {
    wire: Box<[u8]>,
}

impl Name {
    /// The root name `.`.
    pub fn root() -> Name {
        Name {
            wire: Box::new([0]),
        }
    }

    /// Builds a name from uncompressed wire bytes, checking them.
    pub fn from_wire(bytes: &[u8]) -> Result<Name, NameError> {
        let len = wire_name_len(bytes).ok_or(NameError::BadWire)?;
        if len != bytes.len() {
            return Err(NameError::BadWire);
        }
        Ok(Name { wire: bytes.into() })
    }

    /// Parses presentation format (`www.example.com.`, `www`, `@`, `\046`, `\.`).
    ///
    /// A name without a trailing dot is relative and gets `origin` appended;
    /// `@` alone is the origin.
    pub fn from_text(text: &str, origin: Option<&Name>) -> Result<Name, NameError> {
        if text == "@" {
            return origin
                .cloned()
                .ok_or_else(|| NameError::NoOrigin(text.to_owned()));
        }
        if text == "." {
            return Ok(Name::root());
        }
        // Built on the stack, so that a name costs one allocation. Errors
        // come in scan order, as a label completes; the length is judged
        // once the whole name is read.
        let bytes = text.as_bytes();
        let mut wire = Wire::default();
        let mut label = [0u8; MAX_LABEL_LEN];
        let mut label_len = 0;
        let mut absolute = false;
        let mut i = 0;
        while i < bytes.len() {
            let byte = match bytes[i] {
                b'.' => {
                    wire.push_label(&label, label_len)?;
                    label_len = 0;
                    if i + 1 == bytes.len() {
                        absolute = true;
                    }
                    i += 1;
                    continue;
                }
                b'\\' => {
                    let (byte, used) = unescape(&bytes[i + 1..])
                        .ok_or_else(|| NameError::BadEscape(text.to_owned()))?;
                    i += 1 + used;
                    byte
                }
                byte => {
                    i += 1;
                    byte
                }
            };
            if let Some(slot) = label.get_mut(label_len) {
                *slot = byte;
            }
            label_len += 1;
        }
        if label_len > 0 {
            wire.push_label(&label, label_len)?;
        }
        if absolute {
            wire.extend(&[0]);
        } else {
            let origin = origin.ok_or_else(|| NameError::NoOrigin(text.to_owned()))?;
            wire.extend(&origin.wire);
        }
        let wire = wire.bytes().ok_or(NameError::NameTooLong)?;
        Ok(Name { wire: wire.into() })
    }

    /// The uncompressed wire bytes, root label included.
    pub fn as_wire(&self) -> &[u8] {
        &self.wire
    }

    /// The wire bytes with ASCII letters lower-cased: the lookup key.
    pub fn lowercase_wire(&self) -> Box<[u8]> {
        self.wire.to_ascii_lowercase().into()
    }

    /// Length on the wire.
    pub fn wire_len(&self) -> usize {
        self.wire.len()
    }

    /// True for `.`.
    pub fn is_root(&self) -> bool {
        self.wire.len() == 1
    }

    /// The labels, leftmost first, root label excluded.
    pub fn labels(&self) -> Labels<'_> {
        Labels { rest: &self.wire }
    }

    /// Number of labels, root label excluded.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The name one label up; `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        if self.is_root() {
            return None;
        }
        let offset = 1 + self.wire[0] as usize;
        Some(Name {
            wire: self.wire[offset..].into(),
        })
    }

    /// True when `self` equals `ancestor` or lies below it.
    pub fn is_subdomain_of(&self, ancestor: &Name) -> bool {
        // The tail must match, and start where one of our labels starts
        // (so `xexample.com.` is not below `example.com.`).
        let Some(start) = self.wire.len().checked_sub(ancestor.wire.len()) else {
            return false;
        };
        if !self.wire[start..].eq_ignore_ascii_case(&ancestor.wire) {
            return false;
        }
        let mut offset = 0;
        while offset < start {
            offset += 1 + self.wire[offset] as usize;
        }
        offset == start
    }
}

/// Iterator over a name's labels; see [`Name::labels`].
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let len = *self.rest.first()? as usize;
        if len == 0 {
            return None;
        }
        let label = &self.rest[1..1 + len];
        self.rest = &self.rest[1 + len..];
        Some(label)
    }
}

/// Length of the uncompressed name at the start of `bytes`, if it is one.
pub fn wire_name_len(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let len = *bytes.get(i)? as usize;
        if len == 0 {
            let total = i + 1;
            return (total <= MAX_NAME_LEN).then_some(total);
        }
        if len > MAX_LABEL_LEN {
            return None;
        }
        i += 1 + len;
        if i >= MAX_NAME_LEN {
            return None;
        }
    }
}

/// Copies the wire name `wire` into `buf` with ASCII letters lower-cased
/// (the lookup key), and returns that copy: one copy, no allocation, for the
/// answer path.
///
/// # Panics
/// When `wire` is longer than [`MAX_NAME_LEN`], which no checked name is.
#[inline]
pub fn lowercase_into<'b>(wire: &[u8], buf: &'b mut [u8; MAX_NAME_LEN]) -> &'b [u8] {
    let lower = &mut buf[..wire.len()];
    lower.copy_from_slice(wire);
    lower.make_ascii_lowercase();
    lower
}

/// A name being built from text, on the stack.
struct Wire {
    bytes: [u8; MAX_NAME_LEN],
    len: usize,
    /// Set when the name grew past [`MAX_NAME_LEN`].
    too_long: bool,
}

impl Default for Wire {
    fn default() -> Wire {
        Wire {
            bytes: [0; MAX_NAME_LEN],
            len: 0,
            too_long: false,
        }
    }
}

impl Wire {
    /// Appends a label whose first bytes are in `label` and whose length is
    /// `len` (which may exceed the buffer: that is the error).
    fn push_label(&mut self, label: &[u8; MAX_LABEL_LEN], len: usize) -> Result<(), NameError> {
        if len == 0 {
            return Err(NameError::EmptyLabel);
        }
        if len > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
        self.extend(&[len as u8]);
        self.extend(&label[..len]);
        Ok(())
    }

    fn extend(&mut self, more: &[u8]) {
        match self.bytes.get_mut(self.len..self.len + more.len()) {
            Some(room) if !self.too_long => {
                room.copy_from_slice(more);
                self.len += more.len();
            }
            _ => self.too_long = true,
        }
    }

    /// The name, unless it grew too long.
    fn bytes(&self) -> Option<&[u8]> {
        (!self.too_long).then_some(&self.bytes[..self.len])
    }
}

/// Decodes the escape after a `\`: `\DDD` or `\X`. Returns the byte and how
/// many input bytes it used (after the backslash).
pub fn unescape(rest: &[u8]) -> Option<(u8, usize)> {
    match rest {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let value = (a - b'0') as u32 * 100 + (b - b'0') as u32 * 10 + (c - b'0') as u32;
            u8::try_from(value).ok().map(|v| (v, 3))
        }
        [d, ..] if d.is_ascii_digit() => None,
        [x, ..] => Some((*x, 1)),
        [] => None,
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.wire.eq_ignore_ascii_case(&other.wire)
    }
}

impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // One write of the lower-cased bytes: hashers are much faster fed
        // whole slices than byte by byte.
        // A `Name` is never longer than `MAX_NAME_LEN`.
        let mut buf = [0u8; MAX_NAME_LEN];
        state.write(lowercase_into(&self.wire, &mut buf));
    }
}

/// The offsets where each label of a wire name starts, root excluded.
struct LabelStarts {
    starts: [u8; 128],
    count: usize,
}

impl LabelStarts {
    fn new(wire: &[u8]) -> LabelStarts {
        let mut starts = [0u8; 128];
        let mut count = 0;
        let mut at = 0;
        while at < wire.len() && wire[at] != 0 && count < starts.len() {
            starts[count] = at as u8;
            count += 1;
            at += 1 + wire[at] as usize;
        }
        LabelStarts { starts, count }
    }

    fn starts(&self) -> &[u8] {
        &self.starts[..self.count]
    }
}

impl Ord for Name {
    /// Canonical DNS order (RFC 4034 §6.1): compare labels right to left,
    /// each as lower-cased octets.
    fn cmp(&self, other: &Name) -> Ordering {
        // Label start offsets on the stack: a name has at most 127 labels.
        let (mine, theirs) = (LabelStarts::new(&self.wire), LabelStarts::new(&other.wire));
        for (&a, &b) in mine.starts().iter().rev().zip(theirs.starts().iter().rev()) {
            let a = &self.wire[a as usize + 1..][..self.wire[a as usize] as usize];
            let b = &other.wire[b as usize + 1..][..other.wire[b as usize] as usize];
            let ordering = a
                .iter()
                .map(u8::to_ascii_lowercase)
                .cmp(b.iter().map(u8::to_ascii_lowercase));
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        mine.starts().len().cmp(&theirs.starts().len())
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            for &b in label {
                match b {
                    b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                        write!(f, "\\{}", b as char)?
                    }
                    0x21..=0x7e => write!(f, "{}", b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Name {
        Name::from_text(text, None).unwrap()
    }

    #[test]
    fn parses_absolute_relative_and_origin() {
        let origin = n("example.com.");
        assert_eq!(
            n("www.example.com.").as_wire(),
            b"\x03www\x07example\x03com\x00"
        );
        assert_eq!(
            Name::from_text("www", Some(&origin)).unwrap(),
            n("www.example.com.")
        );
        assert_eq!(Name::from_text("@", Some(&origin)).unwrap(), origin);
        assert_eq!(n(".").as_wire(), b"\x00");
        assert!(matches!(
            Name::from_text("www", None),
            Err(NameError::NoOrigin(_))
        ));
    }

    #[test]
    fn escapes_round_trip() {
        let name = n("a\\.b\\032c.example.");
        assert_eq!(name.as_wire(), b"\x05a.b c\x07example\x00");
        assert_eq!(name.to_string(), "a\\.b\\032c.example.");
        assert!(Name::from_text("a\\256.", None).is_err());
        assert!(Name::from_text("a\\", None).is_err());
    }

    #[test]
    fn rejects_bad_shapes() {
        assert_eq!(Name::from_text("a..b.", None), Err(NameError::EmptyLabel));
        let long_label = "a".repeat(64) + ".";
        assert_eq!(
            Name::from_text(&long_label, None),
            Err(NameError::LabelTooLong)
        );
        let long_name = "abcdefghi.".repeat(26);
        assert_eq!(
            Name::from_text(&long_name, None),
            Err(NameError::NameTooLong)
        );
    }

    #[test]
    fn case_insensitive_identity_but_case_kept() {
        let a = n("WWW.Example.COM.");
        let b = n("www.example.com.");
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "WWW.Example.COM.");
        assert_eq!(&*a.lowercase_wire(), b.as_wire());
        let mut buf = [0u8; MAX_NAME_LEN];
        assert_eq!(lowercase_into(a.as_wire(), &mut buf), b.as_wire());
        // Bytes that are not ASCII letters are kept as they are.
        let odd = b"\x03A\xc4-\x00";
        assert_eq!(lowercase_into(odd, &mut buf), b"\x03a\xc4-\x00");
    }

    #[test]
    fn hierarchy() {
        let name = n("a.b.example.com.");
        assert_eq!(name.label_count(), 4);
        assert_eq!(name.parent().unwrap(), n("b.example.com."));
        assert!(name.is_subdomain_of(&n("EXAMPLE.com.")));
        assert!(!n("example.com.").is_subdomain_of(&name));
        assert!(!n("xexample.com.").is_subdomain_of(&n("example.com.")));
        assert!(name.is_subdomain_of(&name));
        assert!(name.is_subdomain_of(&n(".")));
        assert!(!n("a.b.").is_subdomain_of(&n("b.c.")));
        // The tail's bytes are "\007example\003com\000", but they start
        // inside the label "x\007example", not at a label.
        assert!(!n("x\\007example.com.").is_subdomain_of(&n("example.com.")));
        assert!(n("x.\\007example.com.").is_subdomain_of(&n("\\007example.com.")));
    }

    #[test]
    fn canonical_order() {
        // RFC 4034 §6.1 example order.
        let ordered = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        let names: Vec<Name> = ordered.iter().map(|t| n(t)).collect();
        for pair in names.windows(2) {
            assert!(pair[0] < pair[1], "{} < {}", pair[0], pair[1]);
        }
    }
}
