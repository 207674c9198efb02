//! RDATA presentation format to uncompressed wire bytes.
//!
//! Every type listed in [`encode`] has its own text syntax; any type, known or
//! `TYPEnnn`, also takes the RFC 3597 generic form `\# <length> <hex>`.
//! Names keep the case they were written with; relative names get the origin.

mod basic;
mod digest;
mod fields;
mod svcb;
mod text;

#[cfg(test)]
mod tests;

use hickory_proto::rr::RecordType;

use self::fields::Fields;
pub(crate) use self::fields::parse_number;
use crate::name::Name;
use crate::wire::rtype::{
    A, AAAA, CAA, CDS, CNAME, DNAME, DS, HINFO, HTTPS, MX, NAPTR, NS, PTR, SOA, SPF, SRV, SSHFP,
    SVCB, TLSA, TXT,
};
use crate::zone::lexer::Token;

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
    #[error("type {0} needs RFC 3597 \\# syntax")]
    NeedsGeneric(String),
    /// RDATA above 65535 bytes.
    #[error("RDATA is {0} bytes, more than 65535")]
    TooLong(usize),
}

/// The presentation mnemonic of a type: `MX`, or `TYPE65280` when unnamed.
pub(crate) fn type_name(rtype: u16) -> String {
    match RecordType::from(rtype) {
        RecordType::Unknown(_) => format!("TYPE{rtype}"),
        known => known.to_string(),
    }
}

/// Encodes the RDATA `tokens` of a record of type `rtype`.
pub(crate) fn encode(
    rtype: u16,
    tokens: &[Token],
    origin: Option<&Name>,
) -> Result<Vec<u8>, RdataError> {
    let mut f = Fields::new(rtype, tokens, origin);
    let wire = if f.peek().is_some_and(|t| t.is_word("\\#")) {
        f.optional();
        generic(rtype, &mut f)?
    } else {
        let encoder =
            encoder_for(rtype).ok_or_else(|| RdataError::NeedsGeneric(type_name(rtype)))?;
        encoder(&mut f)?
    };
    f.done()?;
    if wire.len() > usize::from(u16::MAX) {
        return Err(RdataError::TooLong(wire.len()));
    }
    Ok(wire)
}

type Encoder = fn(&mut Fields) -> Result<Vec<u8>, RdataError>;

fn encoder_for(rtype: u16) -> Option<Encoder> {
    let encoder: Encoder = match rtype {
        A => basic::a,
        NS | CNAME | PTR | DNAME => basic::single_name,
        SOA => basic::soa,
        HINFO => basic::hinfo,
        MX => basic::mx,
        TXT | SPF => basic::txt,
        AAAA => basic::aaaa,
        SRV => basic::srv,
        NAPTR => basic::naptr,
        DS | CDS => digest::ds,
        SSHFP => digest::sshfp,
        TLSA => digest::tlsa,
        SVCB | HTTPS => svcb::svcb,
        CAA => digest::caa,
        _ => return None,
    };
    Some(encoder)
}

/// RFC 3597 §5: `\# <length> <hex…>`, the hex possibly split by blanks.
fn generic(rtype: u16, f: &mut Fields) -> Result<Vec<u8>, RdataError> {
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
    let fixed = match rtype {
        A => Some(4),
        AAAA => Some(16),
        _ => None,
    };
    if fixed.is_some_and(|n| n != len) {
        return Err(RdataError::Field {
            field: format!("{} \\# length", f.rtype()),
            value: len_token.text(),
            problem: "is wrong for this type".into(),
        });
    }
    Ok(wire)
}
