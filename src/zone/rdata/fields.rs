//! A cursor over a record's RDATA tokens that names the field in every error.

use std::fmt::Display;

use super::RdataError;
use super::text::{self, TextError};
use crate::name::Name;
use crate::zone::lexer::Token;
use crate::zone::ttl;

/// The RDATA tokens of one record, consumed field by field.
pub(super) struct Fields<'a> {
    rtype: u16,
    tokens: &'a [Token<'a>],
    pos: usize,
    origin: Option<&'a Name>,
}

impl<'a> Fields<'a> {
    /// `rtype` is the type code; messages name it (`MX preference …`).
    pub(super) fn new(rtype: u16, tokens: &'a [Token<'a>], origin: Option<&'a Name>) -> Fields<'a> {
        Fields {
            rtype,
            tokens,
            pos: 0,
            origin,
        }
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

    /// A domain name in uncompressed wire format, relative to the origin.
    pub(super) fn name(&mut self, field: &str) -> Result<Vec<u8>, RdataError> {
        let token = self.next(field)?;
        Name::from_text(&token.name_text(), self.origin)
            .map(|name| name.as_wire().to_vec())
            .map_err(|e| self.bad(field, token, format_args!("is not a valid name: {e}")))
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
        let first = self.next(field)?;
        let mut joined = first.raw.to_vec();
        while let Some(token) = self.optional() {
            joined.extend_from_slice(&token.raw);
        }
        let shown = Token {
            raw: joined.into(),
            quoted: false,
        };
        text::hex(&shown.raw).map_err(|e: TextError| self.bad(field, &shown, e))
    }
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
