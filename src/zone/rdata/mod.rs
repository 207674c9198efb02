//! RDATA presentation format to uncompressed wire bytes.
//!
//! [`TYPES`] lists every type of the IANA registry that NSD or Knot DNS
//! reads in presentation format, with its own text syntax; any type, known
//! or `TYPEnnn`, also takes the RFC 3597 generic form `\# <length> <hex>`.
//! A known type's generic data must hold what its text form would (the
//! answer path relies on the names in it being whole).
//!
//! Names keep the case they were written with, except in the types whose
//! names DNSSEC's canonical form lower-cases (RFC 4034 §6.2): Knot stores
//! those lower-cased, and so answers with them lower-cased; so do we.
//! Relative names get the origin.

mod addr;
mod basic;
mod digest;
mod dnssec;
mod fields;
mod loc;
mod svcb;
mod text;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use self::fields::Fields;
pub(crate) use self::fields::parse_number;
use crate::name::{Name, wire_name_len};
use crate::zone::lexer::{Position, Token};

/// Why a record's RDATA could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RdataError {
    /// A field with a bad value.
    #[error("{field} {value:?} {problem}")]
    Field {
        /// Type and field, e.g. `MX preference`.
        field: String,
        /// The text as written.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A field that is not there.
    #[error("{field} is missing")]
    Missing {
        /// Type and field.
        field: String,
    },
    /// Tokens after the last field.
    #[error("unexpected {value:?} after the {rtype} RDATA")]
    Trailing {
        /// Type mnemonic.
        rtype: String,
        /// The first extra token.
        value: String,
    },
    /// A type whose text form this reader does not know.
    #[error("type {0} has no text form here: write its RDATA in RFC 3597 \\# syntax")]
    NeedsGeneric(String),
    /// Generic (`\#`) data that is not what the type holds.
    #[error("the \\# data is not a valid {rtype} RDATA: {problem}")]
    BadGeneric {
        /// Type mnemonic.
        rtype: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// RDATA above 65535 bytes.
    #[error("RDATA is {0} bytes, more than 65535")]
    TooLong(usize),
}

/// An [`RdataError`] and the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub(crate) struct Located {
    /// What is wrong.
    pub error: RdataError,
    /// Where: the field at fault, or the type when there is no field.
    pub at: Position,
}

type Encoder = fn(&mut Fields) -> Result<Vec<u8>, RdataError>;

/// One piece of a type's wire format, as far as it matters here: where the
/// names are, so that generic data can be checked and names lower-cased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// A field of this many bytes.
    Fixed(usize),
    /// An uncompressed domain name.
    Name,
    /// A `<character-string>`: a length byte and that many bytes.
    Text,
    /// Whatever is left, possibly nothing.
    Rest,
}

use Part::{Fixed, Name as N, Rest, Text as S};

/// A record type that has a mnemonic: its code, its name, how its text form
/// is read (`None`: only in generic form), and its wire layout (`None`:
/// any bytes).
struct TypeInfo {
    code: u16,
    name: &'static str,
    encoder: Option<Encoder>,
    shape: Option<&'static [Part]>,
}

const fn t(
    code: u16,
    name: &'static str,
    encoder: Option<Encoder>,
    shape: Option<&'static [Part]>,
) -> TypeInfo {
    TypeInfo {
        code,
        name,
        encoder,
        shape,
    }
}

const NAME: Option<&[Part]> = Some(&[N]);
const TWO_NAMES: Option<&[Part]> = Some(&[N, N]);
const PREF_NAME: Option<&[Part]> = Some(&[Fixed(2), N]);
const ANY: Option<&[Part]> = None;

/// The record types with a mnemonic, by code: the IANA registry's data
/// types, each with the text form NSD or Knot reads (or generic only, for
/// the few that have none), and the meta types, which a zone may not hold.
#[rustfmt::skip]
static TYPES: &[TypeInfo] = &[
    t(1, "A", Some(basic::a), Some(&[Fixed(4)])),
    t(2, "NS", Some(basic::single_name), NAME),
    t(3, "MD", Some(basic::single_name), NAME),
    t(4, "MF", Some(basic::single_name), NAME),
    t(5, "CNAME", Some(basic::single_name), NAME),
    t(6, "SOA", Some(basic::soa), Some(&[N, N, Fixed(20)])),
    t(7, "MB", Some(basic::single_name), NAME),
    t(8, "MG", Some(basic::single_name), NAME),
    t(9, "MR", Some(basic::single_name), NAME),
    t(10, "NULL", None, ANY),
    t(11, "WKS", Some(addr::wks), ANY),
    t(12, "PTR", Some(basic::single_name), NAME),
    t(13, "HINFO", Some(basic::hinfo), Some(&[S, S])),
    t(14, "MINFO", Some(basic::two_names), TWO_NAMES),
    t(15, "MX", Some(basic::preference_name), PREF_NAME),
    t(16, "TXT", Some(basic::txt), ANY),
    t(17, "RP", Some(basic::two_names), TWO_NAMES),
    t(18, "AFSDB", Some(basic::preference_name), PREF_NAME),
    t(19, "X25", Some(basic::x25), Some(&[S])),
    t(20, "ISDN", Some(basic::isdn), ANY),
    t(21, "RT", Some(basic::preference_name), PREF_NAME),
    t(22, "NSAP", Some(addr::nsap), ANY),
    t(23, "NSAP-PTR", Some(basic::single_name), NAME),
    t(24, "SIG", Some(dnssec::rrsig), Some(&[Fixed(18), N, Rest])),
    t(25, "KEY", Some(dnssec::dnskey), ANY),
    t(26, "PX", Some(basic::px), Some(&[Fixed(2), N, N])),
    t(27, "GPOS", Some(loc::gpos), Some(&[S, S, S])),
    t(28, "AAAA", Some(basic::aaaa), Some(&[Fixed(16)])),
    t(29, "LOC", Some(loc::loc), Some(&[Fixed(16)])),
    t(30, "NXT", Some(dnssec::nxt), Some(&[N, Rest])),
    t(31, "EID", Some(addr::hex_blob), ANY),
    t(32, "NIMLOC", Some(addr::hex_blob), ANY),
    t(33, "SRV", Some(basic::srv), Some(&[Fixed(6), N])),
    t(34, "ATMA", Some(addr::atma), ANY),
    t(35, "NAPTR", Some(basic::naptr), Some(&[Fixed(4), S, S, S, N])),
    t(36, "KX", Some(basic::preference_name), PREF_NAME),
    t(37, "CERT", Some(dnssec::cert), ANY),
    t(38, "A6", None, ANY),
    t(39, "DNAME", Some(basic::single_name), NAME),
    t(40, "SINK", Some(addr::sink), ANY),
    t(41, "OPT", None, ANY),
    t(42, "APL", Some(addr::apl), ANY),
    t(43, "DS", Some(digest::ds), ANY),
    t(44, "SSHFP", Some(digest::sshfp), ANY),
    t(45, "IPSECKEY", Some(dnssec::ipseckey), ANY),
    t(46, "RRSIG", Some(dnssec::rrsig), Some(&[Fixed(18), N, Rest])),
    t(47, "NSEC", Some(dnssec::nsec), Some(&[N, Rest])),
    t(48, "DNSKEY", Some(dnssec::dnskey), ANY),
    t(49, "DHCID", Some(digest::base64_blob), ANY),
    t(50, "NSEC3", Some(dnssec::nsec3), ANY),
    t(51, "NSEC3PARAM", Some(dnssec::nsec3param), ANY),
    t(52, "TLSA", Some(digest::tlsa), ANY),
    t(53, "SMIMEA", Some(digest::tlsa), ANY),
    t(55, "HIP", Some(dnssec::hip), ANY),
    t(56, "NINFO", Some(basic::txt), ANY),
    t(57, "RKEY", Some(dnssec::dnskey), ANY),
    t(58, "TALINK", Some(basic::two_names), TWO_NAMES),
    t(59, "CDS", Some(digest::ds), ANY),
    t(60, "CDNSKEY", Some(dnssec::dnskey), ANY),
    t(61, "OPENPGPKEY", Some(digest::base64_blob), ANY),
    t(62, "CSYNC", Some(dnssec::csync), ANY),
    t(63, "ZONEMD", Some(digest::zonemd), ANY),
    t(64, "SVCB", Some(svcb::svcb), Some(&[Fixed(2), N, Rest])),
    t(65, "HTTPS", Some(svcb::svcb), Some(&[Fixed(2), N, Rest])),
    t(66, "DSYNC", Some(dnssec::dsync), Some(&[Fixed(5), N])),
    t(67, "HHIT", Some(digest::base64_blob), ANY),
    t(68, "BRID", Some(digest::base64_blob), ANY),
    t(99, "SPF", Some(basic::txt), ANY),
    t(100, "UINFO", None, ANY),
    t(101, "UID", None, ANY),
    t(102, "GID", None, ANY),
    t(103, "UNSPEC", None, ANY),
    t(104, "NID", Some(addr::nid), Some(&[Fixed(10)])),
    t(105, "L32", Some(addr::l32), Some(&[Fixed(6)])),
    t(106, "L64", Some(addr::nid), Some(&[Fixed(10)])),
    t(107, "LP", Some(basic::preference_name), PREF_NAME),
    t(108, "EUI48", Some(addr::eui48), Some(&[Fixed(6)])),
    t(109, "EUI64", Some(addr::eui64), Some(&[Fixed(8)])),
    t(128, "NXNAME", None, ANY),
    t(249, "TKEY", None, ANY),
    t(250, "TSIG", None, ANY),
    t(251, "IXFR", None, ANY),
    t(252, "AXFR", None, ANY),
    t(253, "MAILB", None, ANY),
    t(254, "MAILA", None, ANY),
    t(255, "ANY", None, ANY),
    t(256, "URI", Some(basic::uri), ANY),
    t(257, "CAA", Some(digest::caa), ANY),
    t(258, "AVC", Some(basic::txt), ANY),
    t(259, "DOA", Some(addr::doa), ANY),
    t(260, "AMTRELAY", Some(addr::amtrelay), ANY),
    t(261, "RESINFO", Some(basic::txt), ANY),
    t(262, "WALLET", Some(basic::txt), ANY),
    t(263, "CLA", Some(basic::txt), ANY),
    t(264, "IPN", Some(addr::ipn), Some(&[Fixed(8)])),
    t(32768, "TA", Some(digest::ds), ANY),
    t(32769, "DLV", Some(digest::ds), ANY),
];

fn info(rtype: u16) -> Option<&'static TypeInfo> {
    TYPES
        .binary_search_by_key(&rtype, |t| t.code)
        .ok()
        .map(|i| &TYPES[i])
}

/// The types whose RDATA names RFC 4034 §6.2 (as amended by RFC 6840
/// §5.1) lower-cases in the canonical form, as Knot's list has them: Knot
/// stores these names lower-cased when it loads a zone.
pub(crate) fn lowercases_names(rtype: u16) -> bool {
    matches!(
        rtype,
        2..=9 | 12 | 14 | 15 | 17 | 18 | 21 | 24 | 26 | 30 | 33 | 35 | 36 | 39 | 46
    )
}

/// The presentation mnemonic of a type: `MX`, or `TYPE65280` when unnamed.
pub(crate) fn type_name(rtype: u16) -> String {
    match info(rtype) {
        Some(known) => known.name.to_owned(),
        None => format!("TYPE{rtype}"),
    }
}

/// The code of a type mnemonic (any case) or of `TYPEnnn`.
pub(crate) fn type_code(text: &[u8]) -> Option<u16> {
    static BY_NAME: OnceLock<Vec<(&'static str, u16)>> = OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        let mut names: Vec<_> = TYPES.iter().map(|t| (t.name, t.code)).collect();
        names.sort_unstable();
        names
    });
    // Mnemonics are short; a longer token is no type (nor TYPEnnnnn).
    let mut buffer = [0u8; 16];
    let upper = buffer.get_mut(..text.len())?;
    upper.copy_from_slice(text);
    upper.make_ascii_uppercase();
    if let Some(digits) = upper.strip_prefix(b"TYPE").filter(|d| !d.is_empty()) {
        return parse_number(digits, u16::MAX.into()).ok().map(|n| n as u16);
    }
    let upper = std::str::from_utf8(upper).ok()?;
    by_name
        .binary_search_by_key(&upper, |&(name, _)| name)
        .ok()
        .map(|i| by_name[i].1)
}

/// [`type_code`] of an unquoted token.
pub(crate) fn parse_type_token(token: &Token) -> Option<u16> {
    if token.quoted {
        return None;
    }
    type_code(&token.raw)
}

/// Encodes the RDATA `tokens` of a record of type `rtype`, whose type
/// mnemonic is at `type_at`.
pub(crate) fn encode(
    rtype: u16,
    tokens: &[Token],
    origin: Option<&Name>,
    type_at: Position,
) -> Result<Vec<u8>, Located> {
    let mut f = Fields::new(rtype, tokens, origin, type_at);
    encode_fields(rtype, &mut f).map_err(|error| Located {
        at: f.position_of(&error),
        error,
    })
}

fn encode_fields(rtype: u16, f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let known = info(rtype);
    let wire = if f.peek().is_some_and(|t| t.is_word("\\#")) {
        f.optional();
        let mut wire = generic(f)?;
        if let Some(shape) = known.and_then(|t| t.shape) {
            check_shape(shape, &mut wire, lowercases_names(rtype)).map_err(|problem| {
                RdataError::BadGeneric {
                    rtype: type_name(rtype),
                    problem,
                }
            })?;
        }
        wire
    } else {
        let encoder = known
            .and_then(|t| t.encoder)
            .ok_or_else(|| RdataError::NeedsGeneric(type_name(rtype)))?;
        encoder(f)?
    };
    f.done()?;
    if wire.len() > usize::from(u16::MAX) {
        return Err(RdataError::TooLong(wire.len()));
    }
    Ok(wire)
}

/// RFC 3597 §5: `\# <length> <hex…>`, the hex possibly split by blanks.
fn generic(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let len_token = f.next("\\# length")?;
    let len = parse_number(&len_token.raw, u16::MAX.into())
        .map_err(|e| f.bad("\\# length", len_token, e))? as usize;
    let wire = if len == 0 && f.is_empty() {
        Vec::new()
    } else {
        f.hex_rest("\\# data")?
    };
    if wire.len() != len {
        return Err(RdataError::Field {
            field: format!("{} \\# data", f.rtype()),
            value: format!("{} bytes", wire.len()),
            problem: format!("does not match the length {len}"),
        });
    }
    Ok(wire)
}

/// Checks that `wire` is laid out as `shape` says; lower-cases its names
/// when `lowercase`.
fn check_shape(shape: &[Part], wire: &mut [u8], lowercase: bool) -> Result<(), &'static str> {
    let mut at = 0;
    for part in shape {
        let rest = wire.get_mut(at..).unwrap_or_default();
        let len = match *part {
            Fixed(n) if rest.len() >= n => n,
            Fixed(_) => return Err("it is too short"),
            N => {
                let len = wire_name_len(rest).ok_or("a domain name in it is malformed")?;
                if lowercase {
                    rest[..len].make_ascii_lowercase();
                }
                len
            }
            S => match rest.first() {
                Some(&n) if rest.len() > usize::from(n) => 1 + usize::from(n),
                _ => return Err("a character-string in it is cut short"),
            },
            Rest => rest.len(),
        };
        at += len;
    }
    if at != wire.len() {
        return Err("it has bytes after its last field");
    }
    Ok(())
}
