//! RDATA of DNSSEC and the other key-carrying types: DNSKEY and its kin,
//! RRSIG/SIG, NSEC, NSEC3, NSEC3PARAM, CSYNC, NXT, CERT, IPSECKEY, HIP,
//! DSYNC.

use super::RdataError;
use super::fields::{Fields, parse_number};
use super::text;

/// DNSKEY, CDNSKEY (RFC 4034 §2.2), KEY (RFC 2535), RKEY: flags, protocol,
/// algorithm (number or mnemonic), base64 key. A KEY may go without a key
/// (its NOKEY flags say so).
pub(super) fn dnskey(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("flags")?.to_be_bytes().to_vec();
    out.push(f.u8("protocol")?);
    out.push(f.algorithm("algorithm")?);
    if !(f.code() == KEY && f.is_empty()) {
        out.extend(f.base64_rest("public key")?);
    }
    Ok(out)
}

const KEY: u16 = 25;

/// RRSIG (RFC 4034 §3.2), SIG (RFC 2535): type covered, algorithm, labels,
/// original TTL, expiration, inception, key tag, signer, base64 signature.
pub(super) fn rrsig(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.rr_type("type covered")?.to_be_bytes().to_vec();
    out.push(f.algorithm("algorithm")?);
    out.push(f.u8("labels")?);
    out.extend_from_slice(&f.u32("original TTL")?.to_be_bytes());
    for field in ["expiration", "inception"] {
        let token = f.next(field)?;
        let time = timestamp(&token.raw).ok_or_else(|| {
            f.bad(
                field,
                token,
                "is neither YYYYMMDDHHmmSS (UTC) nor a number of seconds (0-4294967295)",
            )
        })?;
        out.extend_from_slice(&time.to_be_bytes());
    }
    out.extend_from_slice(&f.u16("key tag")?.to_be_bytes());
    out.extend(f.name("signer")?);
    out.extend(f.base64_rest("signature")?);
    Ok(out)
}

/// An RRSIG time (RFC 4034 §3.2): `YYYYMMDDHHmmSS` in UTC, or seconds since
/// 1970 written as a number of at most 10 digits; either is kept modulo
/// 2^32 (serial number arithmetic, RFC 4034 §3.1.5).
fn timestamp(text: &[u8]) -> Option<u32> {
    if text.len() != 14 {
        return if text.len() <= 10 {
            parse_number(text, u32::MAX).ok()
        } else {
            None
        };
    }
    let field = |range: std::ops::Range<usize>| parse_number(&text[range], 9999).ok();
    let (year, month, day) = (field(0..4)?, field(4..6)?, field(6..8)?);
    let (hour, minute, second) = (field(8..10)?, field(10..12)?, field(12..14)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let days_in_month = *month_days.get(usize::try_from(month).ok()?.checked_sub(1)?)?;
    if year < 1970 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let seconds = days_since_epoch(i64::from(year), i64::from(month), i64::from(day)) * 86400
        + i64::from(hour * 3600 + minute * 60 + second);
    Some(seconds as u32)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    // Counted from 1 March, so that the leap day ends the year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146097 + day_of_era - 719468
}

/// NSEC (RFC 4034 §4.2): next owner name, type bitmap.
pub(super) fn nsec(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.name("next domain name")?;
    out.extend(f.type_bitmap("type")?);
    Ok(out)
}

/// NXT (RFC 2535 §5.2): next name, and the types present as one bit each
/// (types 1-127), as many bytes as the highest type needs.
pub(super) fn nxt(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.name("next domain name")?;
    let mut bits = [0u8; 16];
    let mut len = 0;
    while !f.is_empty() {
        let code = f.rr_type("type")?;
        if code == 0 || code > 127 {
            return Err(f.bad_last("type", "is not 1-127, all NXT can list"));
        }
        let byte = usize::from(code >> 3);
        bits[byte] |= 0x80 >> (code & 7);
        len = len.max(byte + 1);
    }
    out.extend_from_slice(&bits[..len]);
    Ok(out)
}

/// NSEC3 (RFC 5155 §3.3): hash algorithm, flags, iterations, salt (`-` for
/// none), base32hex next hashed owner, type bitmap.
pub(super) fn nsec3(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = nsec3param(f)?;
    let token = f.next("next hashed owner name")?;
    let hash =
        text::base32hex(&token.raw).map_err(|e| f.bad("next hashed owner name", token, e))?;
    match u8::try_from(hash.len()) {
        Ok(len) if len > 0 => out.push(len),
        _ => return Err(f.bad("next hashed owner name", token, "must be 1-255 bytes")),
    }
    out.extend(hash);
    out.extend(f.type_bitmap("type")?);
    Ok(out)
}

/// NSEC3PARAM (RFC 5155 §4.3): hash algorithm, flags, iterations, salt.
pub(super) fn nsec3param(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = vec![f.u8("hash algorithm")?, f.u8("flags")?];
    out.extend_from_slice(&f.u16("iterations")?.to_be_bytes());
    let token = f.next("salt")?;
    let salt = if token.is_word("-") {
        Vec::new()
    } else {
        text::hex(&token.raw).map_err(|e| f.bad("salt", token, e))?
    };
    match u8::try_from(salt.len()) {
        Ok(len) if token.is_word("-") || len > 0 => out.push(len),
        _ => return Err(f.bad("salt", token, "must be 1-255 bytes, or - for none")),
    }
    out.extend(salt);
    Ok(out)
}

/// CSYNC (RFC 7477): SOA serial, flags, type bitmap.
pub(super) fn csync(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u32("serial")?.to_be_bytes().to_vec();
    out.extend_from_slice(&f.u16("flags")?.to_be_bytes());
    out.extend(f.type_bitmap("type")?);
    Ok(out)
}

/// CERT (RFC 4398 §2.2): type (number or mnemonic), key tag, algorithm
/// (number or mnemonic), base64 certificate.
pub(super) fn cert(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let token = f.next("type")?;
    let cert_type = match parse_number(&token.raw, u16::MAX.into()) {
        Ok(n) => n as u16,
        Err(_) => cert_type(&token.raw).ok_or_else(|| {
            f.bad(
                "type",
                token,
                "is neither a number (0-65535) nor a certificate type mnemonic",
            )
        })?,
    };
    let mut out = cert_type.to_be_bytes().to_vec();
    out.extend_from_slice(&f.u16("key tag")?.to_be_bytes());
    out.push(f.algorithm("algorithm")?);
    out.extend(f.base64_rest("certificate")?);
    Ok(out)
}

/// The certificate types of RFC 4398 §2.1 by mnemonic.
fn cert_type(text: &[u8]) -> Option<u16> {
    let known = [
        ("PKIX", 1),
        ("SPKI", 2),
        ("PGP", 3),
        ("IPKIX", 4),
        ("ISPKI", 5),
        ("IPGP", 6),
        ("ACPKIX", 7),
        ("IACPKIX", 8),
        ("URI", 253),
        ("OID", 254),
    ];
    known
        .iter()
        .find(|(name, _)| text.eq_ignore_ascii_case(name.as_bytes()))
        .map(|&(_, code)| code)
}

/// The DNSSEC algorithm numbers by mnemonic (IANA "DNS Security Algorithm
/// Numbers"), any case.
pub(super) fn algorithm_number(text: &[u8]) -> Option<u8> {
    let known = [
        ("RSAMD5", 1),
        ("DH", 2),
        ("DSA", 3),
        ("RSASHA1", 5),
        ("DSA-NSEC3-SHA1", 6),
        ("RSASHA1-NSEC3-SHA1", 7),
        ("RSASHA256", 8),
        ("RSASHA512", 10),
        ("ECC-GOST", 12),
        ("ECDSAP256SHA256", 13),
        ("ECDSAP384SHA384", 14),
        ("ED25519", 15),
        ("ED448", 16),
        ("SM2SM3", 17),
        ("ECC-GOST12", 23),
        ("INDIRECT", 252),
        ("PRIVATEDNS", 253),
        ("PRIVATEOID", 254),
    ];
    known
        .iter()
        .find(|(name, _)| text.eq_ignore_ascii_case(name.as_bytes()))
        .map(|&(_, code)| code)
}

/// IPSECKEY (RFC 4025 §3.1): precedence, gateway type, algorithm, gateway
/// (`.`, an IPv4 or IPv6 address, or a name, as the type says), and an
/// optional base64 public key.
pub(super) fn ipseckey(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = vec![f.u8("precedence")?];
    let gateway_type = f.u8("gateway type")?;
    out.push(gateway_type);
    out.push(f.u8("algorithm")?);
    match gateway_type {
        0 => {
            let token = f.next("gateway")?;
            if !token.is_word(".") {
                return Err(f.bad("gateway", token, "must be . when the gateway type is 0"));
            }
        }
        1 => out.extend(f.ipv4("gateway")?),
        2 => out.extend(f.ipv6("gateway")?),
        3 => out.extend(f.name("gateway")?),
        _ => return Err(f.bad_last("gateway type", "is not 0-3")),
    }
    if !f.is_empty() {
        out.extend(f.base64_rest("public key")?);
    }
    Ok(out)
}

/// HIP (RFC 8005 §5): public key algorithm, hex HIT, base64 public key, then
/// any rendezvous server names.
pub(super) fn hip(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let algorithm = f.u8("public key algorithm")?;
    let hit = f.hex("HIT")?;
    let hit_len = u8::try_from(hit.len())
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| f.bad_last("HIT", "must be 1-255 bytes"))?;
    let key = f.base64("public key")?;
    let key_len = u16::try_from(key.len())
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| f.bad_last("public key", "must be 1-65535 bytes"))?;
    let mut out = vec![hit_len, algorithm];
    out.extend_from_slice(&key_len.to_be_bytes());
    out.extend(hit);
    out.extend(key);
    while !f.is_empty() {
        out.extend(f.name("rendezvous server")?);
    }
    Ok(out)
}

/// DSYNC (generalized NOTIFY): the type it is for, scheme, port, target.
pub(super) fn dsync(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.rr_type("type")?.to_be_bytes().to_vec();
    out.push(f.u8("scheme")?);
    out.extend_from_slice(&f.u16("port")?.to_be_bytes());
    out.extend(f.name("target")?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_dates_or_seconds() {
        assert_eq!(timestamp(b"19700101000000"), Some(0));
        // RFC 4034 §3.3's example expiration.
        assert_eq!(timestamp(b"20030322173103"), Some(1048354263));
        assert_eq!(timestamp(b"20000229235959"), Some(951868799));
        assert_eq!(timestamp(b"1048354263"), Some(1048354263));
        assert_eq!(timestamp(b"4294967295"), Some(u32::MAX));
        // Past 2106 the time wraps, as serial arithmetic has it.
        assert_eq!(timestamp(b"21060207062816"), Some(0));
        for bad in [
            "4294967296",
            "20030230000000",
            "19000229000000",
            "20031301000000",
            "20030322243103",
            "2003032217310",
            "1969123123595x",
            "196912312359599",
        ] {
            assert_eq!(timestamp(bad.as_bytes()), None, "{bad}");
        }
    }
}
