//! TTL values: plain seconds or BIND-style units (`1h30m`, `2d`, `1W`),
//! RFC 2308 §4. Also used for the SOA timers.

/// Largest TTL RFC 2181 §8 allows.
pub(crate) const MAX_TTL: u32 = 0x7fff_ffff;

/// Why a TTL did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TtlError {
    /// Not digits with optional `s m h d w` units.
    #[error("is not a valid time (digits, with optional units s, m, h, d, w)")]
    Syntax,
    /// Larger than 32 bits.
    #[error("does not fit in 32 bits")]
    Overflow,
}

/// Parses `3600`, `1h`, `1h30m`, `2D`, `1w2d`; units are case-insensitive.
/// A bare number is seconds; once units are used every number needs one.
pub(crate) fn parse(text: &str) -> Result<u32, TtlError> {
    if text.is_empty() {
        return Err(TtlError::Syntax);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u32>().map_err(|_| TtlError::Overflow);
    }
    let mut total: u32 = 0;
    let mut number: Option<u64> = None;
    for b in text.bytes() {
        if b.is_ascii_digit() {
            let value = number.unwrap_or(0) * 10 + u64::from(b - b'0');
            if value > u64::from(u32::MAX) {
                return Err(TtlError::Overflow);
            }
            number = Some(value);
            continue;
        }
        let unit: u64 = match b.to_ascii_lowercase() {
            b's' => 1,
            b'm' => 60,
            b'h' => 3600,
            b'd' => 86_400,
            b'w' => 604_800,
            _ => return Err(TtlError::Syntax),
        };
        let value = number.take().ok_or(TtlError::Syntax)?;
        let seconds = u32::try_from(value * unit).map_err(|_| TtlError::Overflow)?;
        total = total.checked_add(seconds).ok_or(TtlError::Overflow)?;
    }
    if number.is_some() {
        return Err(TtlError::Syntax);
    }
    Ok(total)
}

/// True when the token looks like a TTL rather than a class or type.
pub(crate) fn looks_like_ttl(raw: &[u8]) -> bool {
    raw.first().is_some_and(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_units() {
        assert_eq!(parse("3600"), Ok(3600));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("1h30m"), Ok(5400));
        assert_eq!(parse("2d"), Ok(172_800));
        assert_eq!(parse("1W"), Ok(604_800));
        assert_eq!(parse("1w1d1h1m1s"), Ok(694_861));
        assert_eq!(parse("90S"), Ok(90));
    }

    #[test]
    fn rejects_garbage_and_overflow() {
        assert_eq!(parse(""), Err(TtlError::Syntax));
        assert_eq!(parse("1x"), Err(TtlError::Syntax));
        assert_eq!(parse("h"), Err(TtlError::Syntax));
        assert_eq!(parse("1h30"), Err(TtlError::Syntax));
        assert_eq!(parse("-1"), Err(TtlError::Syntax));
        assert_eq!(parse("4294967296"), Err(TtlError::Overflow));
        assert_eq!(parse("99999999999999999999w"), Err(TtlError::Overflow));
        assert_eq!(parse("7102w"), Err(TtlError::Overflow));
        assert_eq!(parse("4294967295"), Ok(u32::MAX));
    }
}
