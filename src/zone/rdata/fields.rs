//! A cursor over a record's RDATA tokens that names the field in every error.

use std::fmt::Display;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::RdataError;
use super::text::{self, TextError};
use crate::name::Name;
use crate::zone::lexer::{Position, Token};
use crate::zone::ttl;

/// The RDATA tokens of one record, consumed field by field.
pub(super) struct Fields<'a> {
    rtype: u16,
    tokens: &'a [Token<'a>],
    pos: usize,
    origin: Option<&'a Name>,
    /// Lower-case the names (RFC 4034 §6.2 types, as Knot stores them).
    lowercase: bool,
    /// Where the type mnemonic is: what a record without RDATA tokens is
    /// blamed on.
    type_at: Position,
    /// Set by a field that knows better than "the last token read" where
    /// its error is.
    blame: Option<Position>,
}

impl<'a> Fields<'a> {
    /// `rtype` is the type code; messages name it (`MX preference …`).
    /// `type_at` is where the type was written.
    pub(super) fn new(
        rtype: u16,
        tokens: &'a [Token<'a>],
        origin: Option<&'a Name>,
        type_at: Position,
    ) -> Fields<'a> {
        Fields {
            rtype,
            tokens,
            pos: 0,
            origin,
            lowercase: super::lowercases_names(rtype),
            type_at,
            blame: None,
        }
    }

    /// Where `error`, returned while reading these fields, is: the token
    /// it is about (the last one read, or the extra one), or just past the
    /// last token for a missing field.
    pub(super) fn position_of(&self, error: &RdataError) -> Position {
        if let Some(at) = self.blame {
            return at;
        }
        let last = self.pos.min(self.tokens.len()).checked_sub(1);
        match error {
            RdataError::Trailing { .. } => self.tokens.get(self.pos).map_or(self.type_at, |t| t.at),
            RdataError::Missing { .. } => match last.and_then(|i| self.tokens.get(i)) {
                Some(token) => end_of(token),
                None => self.type_at,
            },
            _ => last
                .and_then(|i| self.tokens.get(i))
                .map_or(self.type_at, |t| t.at),
        }
    }

    /// The type code.
    pub(super) fn code(&self) -> u16 {
        self.rtype
    }

    /// The type mnemonic used in messages.
    pub(super) fn rtype(&self) -> String {
        super::type_name(self.rtype)
    }

    /// An error about `field` holding `value`.
    pub(super) fn bad(&self, field: &str, value: &Token, problem: impl Display) -> RdataError {
        RdataError::Field {
            field: format!("{} {field}", self.rtype()),
            value: value.text(),
            problem: problem.to_string(),
        }
    }

    /// An error about the last token read.
    pub(super) fn bad_last(&self, field: &str, problem: impl Display) -> RdataError {
        let value = self
            .pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map(Token::text)
            .unwrap_or_default();
        RdataError::Field {
            field: format!("{} {field}", self.rtype()),
            value,
            problem: problem.to_string(),
        }
    }

    /// The next token, or "X field is missing".
    pub(super) fn next(&mut self, field: &str) -> Result<&'a Token<'a>, RdataError> {
        let token = self
            .tokens
            .get(self.pos)
            .ok_or_else(|| RdataError::Missing {
                field: format!("{} {field}", self.rtype()),
            })?;
        self.pos += 1;
        Ok(token)
    }

    /// The next token if any.
    pub(super) fn optional(&mut self) -> Option<&'a Token<'a>> {
        let token = self.tokens.get(self.pos)?;
        self.pos += 1;
        Some(token)
    }

    /// The next token, not consumed.
    pub(super) fn peek(&self) -> Option<&'a Token<'a>> {
        self.tokens.get(self.pos)
    }

    /// True when every token was used.
    pub(super) fn is_empty(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    /// Fails when tokens are left over.
    pub(super) fn done(&self) -> Result<(), RdataError> {
        match self.tokens.get(self.pos) {
            None => Ok(()),
            Some(token) => Err(RdataError::Trailing {
                rtype: self.rtype(),
                value: token.text(),
            }),
        }
    }

    /// A decimal number no larger than `max`.
    pub(super) fn number(&mut self, field: &str, max: u32) -> Result<u32, RdataError> {
        let token = self.next(field)?;
        parse_number(&token.raw, max).map_err(|problem| self.bad(field, token, problem))
    }

    /// An 8-bit number.
    pub(super) fn u8(&mut self, field: &str) -> Result<u8, RdataError> {
        Ok(self.number(field, u8::MAX.into())? as u8)
    }

    /// A 16-bit number.
    pub(super) fn u16(&mut self, field: &str) -> Result<u16, RdataError> {
        Ok(self.number(field, u16::MAX.into())? as u16)
    }

    /// A 32-bit number.
    pub(super) fn u32(&mut self, field: &str) -> Result<u32, RdataError> {
        self.number(field, u32::MAX)
    }

    /// A time in seconds, units allowed (`1h`): the SOA timers.
    pub(super) fn time(&mut self, field: &str) -> Result<u32, RdataError> {
        let token = self.next(field)?;
        ttl::parse(&token.text()).map_err(|e| self.bad(field, token, e))
    }

    /// A domain name in uncompressed wire format, relative to the origin;
    /// lower-cased for the types whose names DNSSEC's canonical form
    /// lower-cases (Knot serves those so).
    pub(super) fn name(&mut self, field: &str) -> Result<Vec<u8>, RdataError> {
        let token = self.next(field)?;
        self.name_of(field, token)
    }

    /// [`Fields::name`] of a token already taken.
    pub(super) fn name_of(&self, field: &str, token: &Token) -> Result<Vec<u8>, RdataError> {
        let mut wire = Name::from_text(&token.name_text(), self.origin)
            .map(|name| name.as_wire().to_vec())
            .map_err(|e| self.bad(field, token, format_args!("is not a valid name: {e}")))?;
        if self.lowercase {
            wire.make_ascii_lowercase();
        }
        Ok(wire)
    }

    /// An IPv4 address.
    pub(super) fn ipv4(&mut self, field: &str) -> Result<[u8; 4], RdataError> {
        let token = self.next(field)?;
        let addr: Ipv4Addr = token
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.bad(field, token, "is not an IPv4 address"))?;
        Ok(addr.octets())
    }

    /// An IPv6 address.
    pub(super) fn ipv6(&mut self, field: &str) -> Result<[u8; 16], RdataError> {
        let token = self.next(field)?;
        let addr: Ipv6Addr = token
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.bad(field, token, "is not an IPv6 address"))?;
        Ok(addr.octets())
    }

    /// A type mnemonic (`A`, `TYPE65280`), any case.
    pub(super) fn rr_type(&mut self, field: &str) -> Result<u16, RdataError> {
        let token = self.next(field)?;
        super::parse_type_token(token).ok_or_else(|| self.bad(field, token, "is not a record type"))
    }

    /// A DNSSEC algorithm: a number or its mnemonic (RFC 4034 Appendix A.1).
    pub(super) fn algorithm(&mut self, field: &str) -> Result<u8, RdataError> {
        let token = self.next(field)?;
        if let Ok(n) = parse_number(&token.raw, u8::MAX.into()) {
            return Ok(n as u8);
        }
        super::dnssec::algorithm_number(&token.raw).ok_or_else(|| {
            self.bad(
                field,
                token,
                "is neither a number (0-255) nor an algorithm mnemonic",
            )
        })
    }

    /// One token of hex digits.
    pub(super) fn hex(&mut self, field: &str) -> Result<Vec<u8>, RdataError> {
        let token = self.next(field)?;
        text::hex(&token.raw).map_err(|e| self.bad(field, token, e))
    }

    /// One token of base64.
    pub(super) fn base64(&mut self, field: &str) -> Result<Vec<u8>, RdataError> {
        let token = self.next(field)?;
        text::base64(&token.raw).map_err(|e| self.bad(field, token, e))
    }

    /// All remaining tokens joined and read as base64; at least one is
    /// needed (keys and signatures are often split across lines).
    pub(super) fn base64_rest(&mut self, field: &str) -> Result<Vec<u8>, RdataError> {
        let joined = self.join_rest(field)?;
        text::base64(&joined.raw).map_err(|e| self.bad(field, &joined, e))
    }

    /// The remaining tokens as a type bitmap (RFC 4034 §4.1.2); none gives
    /// an empty one.
    pub(super) fn type_bitmap(&mut self, field: &str) -> Result<Vec<u8>, RdataError> {
        let mut types = Vec::new();
        while !self.is_empty() {
            types.push(self.rr_type(field)?);
        }
        Ok(type_bitmap(&mut types))
    }

    /// The bytes of a token with escapes decoded.
    pub(super) fn bytes(&mut self, field: &str) -> Result<Vec<u8>, RdataError> {
        let token = self.next(field)?;
        text::unescape_all(&token.raw).map_err(|e| self.bad(field, token, e))
    }

    /// One `<character-string>` with its length byte.
    pub(super) fn char_string(&mut self, field: &str) -> Result<Vec<u8>, RdataError> {
        let token = self.next(field)?;
        let bytes = text::unescape_all(&token.raw).map_err(|e| self.bad(field, token, e))?;
        let len = u8::try_from(bytes.len())
            .map_err(|_| self.bad(field, token, "is longer than 255 bytes"))?;
        let mut out = Vec::with_capacity(bytes.len() + 1);
        out.push(len);
        out.extend_from_slice(&bytes);
        Ok(out)
    }

    /// All remaining tokens joined and read as hex; at least one is needed.
    pub(super) fn hex_rest(&mut self, field: &str) -> Result<Vec<u8>, RdataError> {
        let joined = self.join_rest(field)?;
        text::hex(&joined.raw).map_err(|e: TextError| self.bad(field, &joined, e))
    }

    /// The remaining tokens (at least one) as one; errors in it point at
    /// its first token.
    fn join_rest(&mut self, field: &str) -> Result<Token<'static>, RdataError> {
        let first = self.next(field)?;
        let mut joined = first.raw.to_vec();
        while let Some(token) = self.optional() {
            joined.extend_from_slice(&token.raw);
        }
        self.blame = Some(first.at);
        Ok(Token {
            raw: joined.into(),
            quoted: false,
            at: first.at,
        })
    }
}

/// Just past `token`, where a field after it would have been.
fn end_of(token: &Token) -> Position {
    let width = token.raw.len() + if token.quoted { 2 } else { 0 };
    Position {
        line: token.at.line,
        col: token
            .at
            .col
            .saturating_add(u32::try_from(width).unwrap_or(u32::MAX)),
    }
}

/// The type bitmap of RFC 4034 §4.1.2: one window per 256 types that has
/// any, each with as many bitmap bytes as its highest type needs.
pub(super) fn type_bitmap(types: &mut Vec<u16>) -> Vec<u8> {
    types.sort_unstable();
    types.dedup();
    let mut out = Vec::new();
    for window in types.chunk_by(|a, b| a >> 8 == b >> 8) {
        let Some(&last) = window.last() else {
            continue;
        };
        let mut bits = [0u8; 32];
        for &t in window {
            bits[usize::from(t as u8 >> 3)] |= 0x80 >> (t & 7);
        }
        let len = usize::from(last as u8 >> 3) + 1;
        out.push((last >> 8) as u8);
        out.push(len as u8);
        out.extend_from_slice(&bits[..len]);
    }
    out
}

/// Why a number field did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NumberError {
    /// Not decimal digits.
    #[error("is not a number")]
    NotNumber,
    /// Too large for the field.
    #[error("is out of range (0-{0})")]
    OutOfRange(u32),
}

/// Digits only (no sign), at most `max`.
pub(crate) fn parse_number(raw: &[u8], max: u32) -> Result<u32, NumberError> {
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return Err(NumberError::NotNumber);
    }
    let mut value: u64 = 0;
    for &d in raw {
        value = value * 10 + u64::from(d - b'0');
        if value > u64::from(max) {
            return Err(NumberError::OutOfRange(max));
        }
    }
    Ok(value as u32)
}
