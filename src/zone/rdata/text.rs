//! Byte-level decoders for RDATA fields: `\DDD`/`\X` escapes, hex and base64.

use crate::name::unescape;

/// Why a field's text could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum TextError {
    /// A `\` at the end, or `\DDD` above 255.
    #[error("has a bad escape (use \\DDD with DDD <= 255, or \\X)")]
    BadEscape,
    /// Not an even number of hex digits.
    #[error("is not hexadecimal (an even number of 0-9 a-f digits)")]
    BadHex,
    /// Not base64.
    #[error("is not valid base64")]
    BadBase64,
    /// Not base32hex.
    #[error("is not valid base32hex (0-9 a-v, no padding)")]
    BadBase32,
}

/// Decodes `\DDD` and `\X` escapes.
pub(super) fn unescape_all(raw: &[u8]) -> Result<Vec<u8>, TextError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'\\' {
            let (byte, used) =
                unescape(raw.get(i + 1..).unwrap_or_default()).ok_or(TextError::BadEscape)?;
            out.push(byte);
            i += 1 + used;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// Decodes hex digits (either case).
pub(super) fn hex(text: &[u8]) -> Result<Vec<u8>, TextError> {
    if !text.len().is_multiple_of(2) {
        return Err(TextError::BadHex);
    }
    text.chunks(2)
        .map(|pair| Ok(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
        .collect()
}

fn hex_digit(b: u8) -> Result<u8, TextError> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(TextError::BadHex),
    }
}

/// Decodes standard base64 (RFC 4648 §4) with `=` padding.
pub(super) fn base64(text: &[u8]) -> Result<Vec<u8>, TextError> {
    if !text.len().is_multiple_of(4) {
        return Err(TextError::BadBase64);
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let chunks = text.len() / 4;
    for (index, chunk) in text.chunks(4).enumerate() {
        let last = index + 1 == chunks;
        let pad = chunk.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err(TextError::BadBase64);
        }
        let mut acc: u32 = 0;
        for &b in &chunk[..4 - pad] {
            acc = acc << 6 | u32::from(base64_digit(b)?);
        }
        acc <<= 6 * pad as u32;
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Ok(out)
}

/// Decodes base32 with the extended hex alphabet (RFC 4648 §7), either
/// case, without padding: the NSEC3 next hashed owner name (RFC 5155 §3.3).
pub(super) fn base32hex(text: &[u8]) -> Result<Vec<u8>, TextError> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in text {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'v' => b - b'a' + 10,
            b'A'..=b'V' => b - b'A' + 10,
            _ => return Err(TextError::BadBase32),
        };
        acc = (acc << 5 | u32::from(digit)) & 0x1fff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    // What is left must be padding bits, zero, and fewer than a digit.
    if bits >= 5 || acc & ((1 << bits) - 1) != 0 {
        return Err(TextError::BadBase32);
    }
    Ok(out)
}

fn base64_digit(b: u8) -> Result<u8, TextError> {
    match b {
        b'A'..=b'Z' => Ok(b - b'A'),
        b'a'..=b'z' => Ok(b - b'a' + 26),
        b'0'..=b'9' => Ok(b - b'0' + 52),
        b'+' => Ok(62),
        b'/' => Ok(63),
        _ => Err(TextError::BadBase64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(unescape_all(br#"a\"b\059\\"#).unwrap(), b"a\"b;\\");
        assert_eq!(unescape_all(b"\\256"), Err(TextError::BadEscape));
        assert_eq!(unescape_all(b"x\\"), Err(TextError::BadEscape));
        assert_eq!(unescape_all(b"\\1x"), Err(TextError::BadEscape));
    }

    #[test]
    fn hex_digits() {
        assert_eq!(hex(b"00fFa1").unwrap(), [0, 255, 0xa1]);
        assert_eq!(hex(b"abc"), Err(TextError::BadHex));
        assert_eq!(hex(b"zz"), Err(TextError::BadHex));
    }

    #[test]
    fn base32hex_digits() {
        // RFC 4648 §10 test vectors, without their padding.
        for (text, bytes) in [
            ("", ""),
            ("CO", "f"),
            ("CPNG", "fo"),
            ("CPNMU", "foo"),
            ("CPNMUOG", "foob"),
            ("CPNMUOJ1", "fooba"),
            ("cpnmuoj1e8", "foobar"),
        ] {
            assert_eq!(
                base32hex(text.as_bytes()).unwrap(),
                bytes.as_bytes(),
                "{text}"
            );
        }
        assert_eq!(base32hex(b"C"), Err(TextError::BadBase32));
        assert_eq!(
            base32hex(b"CP"),
            Err(TextError::BadBase32),
            "bits left over"
        );
        assert_eq!(base32hex(b"CW"), Err(TextError::BadBase32));
        assert_eq!(base32hex(b"CO=="), Err(TextError::BadBase32));
    }

    #[test]
    fn base64_digits() {
        assert_eq!(base64(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64(b"aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(base64(b"aGk=").unwrap(), b"hi");
        assert_eq!(base64(b"aA==").unwrap(), b"h");
        assert_eq!(base64(b"").unwrap(), b"");
        assert_eq!(base64(b"aGk"), Err(TextError::BadBase64));
        assert_eq!(base64(b"a===").map(|_| ()), Err(TextError::BadBase64));
        assert_eq!(base64(b"aA==aA=="), Err(TextError::BadBase64));
        assert_eq!(base64(b"a*==").map(|_| ()), Err(TextError::BadBase64));
    }
}
