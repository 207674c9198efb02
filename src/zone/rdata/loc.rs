//! Geographic positions: LOC (RFC 1876) and GPOS (RFC 1712).

use super::RdataError;
use super::fields::Fields;

/// 2^31: the latitude and longitude of the equator and prime meridian.
const ANGLE_ZERO: u32 = 1 << 31;
/// The altitude origin: 100 000 m below the WGS 84 spheroid, in cm.
const ALTITUDE_ZERO: i64 = 10_000_000;
/// Thousandths of an arc-second in a degree.
const PER_DEGREE: u32 = 3_600_000;
/// Largest size or precision: 90 000 000 m, in cm.
const MAX_PRECISION_CM: u64 = 9_000_000_000;

/// LOC: `d1 [m1 [s1]] N|S d2 [m2 [s2]] E|W alt[m] [siz[m] [hp[m] [vp[m]]]]`,
/// with a size of 1 m and precisions of 10 000 m and 10 m when left out.
pub(super) fn loc(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let latitude = angle(f, "latitude", 90, [b"N", b"S"])?;
    let longitude = angle(f, "longitude", 180, [b"E", b"W"])?;
    let token = f.next("altitude")?;
    let text = token.raw.strip_suffix(b"m").unwrap_or(&token.raw);
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let altitude = decimal(digits, 2)
        .and_then(|cm| i64::try_from(cm).ok())
        .map(|cm| if negative { -cm } else { cm })
        .map(|cm| cm + ALTITUDE_ZERO)
        .and_then(|stored| u32::try_from(stored).ok())
        .ok_or_else(|| {
            f.bad(
                "altitude",
                token,
                "is not metres with at most 2 decimals, -100000.00 to 42849672.95",
            )
        })?;
    let mut precisions = [100, 1_000_000, 1000];
    for (value, field) in
        precisions
            .iter_mut()
            .zip(["size", "horizontal precision", "vertical precision"])
    {
        let Some(token) = f.optional() else {
            break;
        };
        let text = token.raw.strip_suffix(b"m").unwrap_or(&token.raw);
        *value = decimal(text, 2)
            .filter(|&cm| cm <= MAX_PRECISION_CM)
            .ok_or_else(|| {
                f.bad(
                    field,
                    token,
                    "is not metres with at most 2 decimals, 0 to 90000000.00",
                )
            })?;
    }
    let mut out = vec![0];
    out.extend(precisions.map(precision_byte));
    out.extend_from_slice(&latitude.to_be_bytes());
    out.extend_from_slice(&longitude.to_be_bytes());
    out.extend_from_slice(&altitude.to_be_bytes());
    Ok(out)
}

/// Degrees, optional minutes and seconds, and the hemisphere letter; the
/// stored form is 2^31 plus or minus thousandths of an arc-second.
fn angle(
    f: &mut Fields,
    what: &str,
    max_degrees: u32,
    hemispheres: [&[u8]; 2],
) -> Result<u32, RdataError> {
    let is_hemisphere = |raw: &[u8]| hemispheres.iter().any(|h| raw.eq_ignore_ascii_case(h));
    // Each part: its name, largest whole value, decimals, and unit.
    let parts = [
        ("degrees", max_degrees, 0, PER_DEGREE),
        ("minutes", 59, 0, 60_000),
        ("seconds", 59, 3, 1),
    ];
    let mut total: u32 = 0;
    for (index, (part, max, decimals, unit)) in parts.into_iter().enumerate() {
        if index > 0 && f.peek().is_some_and(|t| is_hemisphere(&t.raw)) {
            break;
        }
        let field = format!("{what} {part}");
        let token = f.next(&field)?;
        let scale = 10u64.pow(decimals);
        let value = decimal(&token.raw, decimals)
            .filter(|&v| v < (u64::from(max) + 1) * scale)
            .ok_or_else(|| {
                let problem = if decimals == 0 {
                    format!("is not a whole number 0-{max}")
                } else {
                    format!("is not a number 0-{max}.999, at most {decimals} decimals")
                };
                f.bad(&field, token, problem)
            })?;
        total += value as u32 * unit;
    }
    let hemisphere_field = format!("{what} hemisphere");
    let token = f.next(&hemisphere_field)?;
    if !is_hemisphere(&token.raw) {
        let [plus, minus] = hemispheres.map(String::from_utf8_lossy);
        return Err(f.bad(
            &hemisphere_field,
            token,
            format_args!("is not {plus} or {minus}"),
        ));
    }
    if total > max_degrees * PER_DEGREE {
        return Err(f.bad_last(what, format_args!("is beyond {max_degrees} degrees")));
    }
    Ok(if token.raw.eq_ignore_ascii_case(hemispheres[0]) {
        ANGLE_ZERO + total
    } else {
        ANGLE_ZERO - total
    })
}

/// A decimal number of at most `decimals` places, scaled by 10^`decimals`.
fn decimal(text: &[u8], decimals: u32) -> Option<u64> {
    let (whole, fraction) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let dotted = fraction.len() < text.len() - whole.len();
    if whole.is_empty()
        || whole.len() > 12
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > decimals as usize
        || (dotted && fraction.is_empty())
    {
        return None;
    }
    let mut value: u64 = 0;
    for &d in whole.iter().chain(fraction) {
        value = value * 10 + u64::from(d - b'0');
    }
    Some(value * 10u64.pow(decimals - fraction.len() as u32))
}

/// RFC 1876's size and precision byte: a mantissa and a power of ten of
/// centimetres, the value cut (not rounded) to its first digit, as Knot and
/// BIND write it.
fn precision_byte(cm: u64) -> u8 {
    let mut mantissa = cm;
    let mut exponent = 0u8;
    while mantissa > 9 {
        mantissa /= 10;
        exponent += 1;
    }
    (mantissa as u8) << 4 | exponent
}

/// GPOS: latitude, longitude and altitude as character-strings holding
/// decimal numbers (degrees within ±90 and ±180, metres).
pub(super) fn gpos(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = Vec::new();
    for (field, limit) in [
        ("latitude", Some(90)),
        ("longitude", Some(180)),
        ("altitude", None),
    ] {
        let string = f.char_string(field)?;
        let text = &string[1..];
        let magnitude = text.strip_prefix(b"-").unwrap_or(text);
        let valid = unsigned_decimal(magnitude).is_some_and(|(whole, exact)| match limit {
            Some(limit) => whole < limit || (whole == limit && exact),
            None => true,
        });
        if !valid {
            let problem = match limit {
                Some(limit) => format!("is not a decimal number from -{limit} to {limit}"),
                None => "is not a decimal number".to_owned(),
            };
            return Err(f.bad_last(field, problem));
        }
        out.extend(string);
    }
    Ok(out)
}

/// The whole part of an unsigned decimal number, and whether it has no
/// fraction beyond zeros.
fn unsigned_decimal(text: &[u8]) -> Option<(u64, bool)> {
    let (whole, fraction) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &b""[..]),
    };
    if whole.is_empty() || whole.len() > 12 || !whole.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = whole
        .iter()
        .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
    Some((value, fraction.iter().all(|&d| d == b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_scale_and_refuse_extra_places() {
        assert_eq!(decimal(b"10", 2), Some(1000));
        assert_eq!(decimal(b"10.5", 2), Some(1050));
        assert_eq!(decimal(b"0.01", 2), Some(1));
        assert_eq!(decimal(b"10.123", 2), None);
        assert_eq!(decimal(b"10.", 2), None);
        assert_eq!(decimal(b".5", 2), None);
        assert_eq!(decimal(b"1e3", 2), None);
    }

    #[test]
    fn precision_bytes_truncate() {
        // RFC 1876 §2: 1 m = 0x12, 10 000 m = 0x16, 10 m = 0x13.
        assert_eq!(precision_byte(100), 0x12);
        assert_eq!(precision_byte(1_000_000), 0x16);
        assert_eq!(precision_byte(1000), 0x13);
        assert_eq!(precision_byte(0), 0x00);
        assert_eq!(precision_byte(1999), 0x13);
        assert_eq!(precision_byte(MAX_PRECISION_CM), 0x99);
    }
}
