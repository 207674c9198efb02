//! RDATA of the RFC 1035 era and its close relatives: addresses, names,
//! preference-and-name pairs (MX and its kin), SRV, SOA, the TXT family,
//! HINFO, NAPTR, URI.

use std::net::Ipv6Addr;

use super::RdataError;
use super::fields::Fields;

/// A: one IPv4 address.
pub(super) fn a(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let token = f.next("address")?;
    match ipv4(&token.raw) {
        Some(octets) => Ok(octets.to_vec()),
        None => Err(f.bad("address", token, "is not an IPv4 address")),
    }
}

/// Dotted-quad IPv4 on the bytes as written, accepting exactly what
/// `Ipv4Addr::from_str` accepts (no leading zeros, no more than 255): most
/// records of a large zone are A records, and this skips a UTF-8 check and
/// the general parser per record.
fn ipv4(text: &[u8]) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut parts = text.split(|&b| b == b'.');
    for octet in &mut octets {
        let part = parts.next()?;
        let leading_zero = part.len() > 1 && part[0] == b'0';
        if part.is_empty() || part.len() > 3 || leading_zero {
            return None;
        }
        let mut value = 0u16;
        for &digit in part {
            if !digit.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u16::from(digit - b'0');
        }
        *octet = u8::try_from(value).ok()?;
    }
    parts.next().is_none().then_some(octets)
}

/// AAAA: one IPv6 address.
pub(super) fn aaaa(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let token = f.next("address")?;
    let addr: Ipv6Addr = token
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|_| f.bad("address", token, "is not an IPv6 address"))?;
    Ok(addr.octets().to_vec())
}

/// NS, CNAME, DNAME, PTR, NSAP-PTR, and the experimental MB, MG, MR and
/// obsolete MD, MF: one name.
pub(super) fn single_name(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    f.name("target")
}

/// MINFO (rmailbx, emailbx), RP (mbox, txt), TALINK (previous, next):
/// two names.
pub(super) fn two_names(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.name("first name")?;
    out.extend(f.name("second name")?);
    Ok(out)
}

/// MX, AFSDB (subtype), RT, KX, LP: a 16-bit preference and a name.
pub(super) fn preference_name(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("preference")?.to_be_bytes().to_vec();
    out.extend(f.name("name")?);
    Ok(out)
}

/// PX (RFC 2163): preference, MAP822, MAPX400.
pub(super) fn px(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("preference")?.to_be_bytes().to_vec();
    out.extend(f.name("map822")?);
    out.extend(f.name("mapx400")?);
    Ok(out)
}

/// X25 (RFC 1183): one character-string of decimal digits.
pub(super) fn x25(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let out = f.char_string("address")?;
    if out.len() < 5 || !out[1..].iter().all(u8::is_ascii_digit) {
        return Err(f.bad_last("address", "must be at least 4 decimal digits"));
    }
    Ok(out)
}

/// ISDN (RFC 1183): an address and an optional subaddress.
pub(super) fn isdn(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.char_string("address")?;
    if !f.is_empty() {
        out.extend(f.char_string("subaddress")?);
    }
    Ok(out)
}

/// URI (RFC 7553): priority, weight, and the target written without a
/// length byte (the rest of the RDATA).
pub(super) fn uri(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("priority")?.to_be_bytes().to_vec();
    out.extend_from_slice(&f.u16("weight")?.to_be_bytes());
    let target = f.bytes("target")?;
    if target.is_empty() {
        return Err(f.bad_last("target", "is empty"));
    }
    out.extend(target);
    Ok(out)
}

/// SRV: priority, weight, port, target.
pub(super) fn srv(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = Vec::new();
    for field in ["priority", "weight", "port"] {
        out.extend_from_slice(&f.u16(field)?.to_be_bytes());
    }
    out.extend(f.name("target")?);
    Ok(out)
}

/// SOA: mname, rname and five timers (units allowed except in the serial).
pub(super) fn soa(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.name("mname")?;
    out.extend(f.name("rname")?);
    out.extend_from_slice(&f.u32("serial")?.to_be_bytes());
    for field in ["refresh", "retry", "expire", "minimum"] {
        out.extend_from_slice(&f.time(field)?.to_be_bytes());
    }
    Ok(out)
}

/// TXT, SPF, and the types written as TXT is: NINFO, AVC, RESINFO, WALLET,
/// CLA. One or more character-strings.
pub(super) fn txt(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.char_string("string")?;
    while !f.is_empty() {
        out.extend(f.char_string("string")?);
    }
    Ok(out)
}

/// HINFO: CPU and OS character-strings.
pub(super) fn hinfo(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.char_string("cpu")?;
    out.extend(f.char_string("os")?);
    Ok(out)
}

/// NAPTR (RFC 3403): order, preference, flags, services, regexp, replacement.
pub(super) fn naptr(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("order")?.to_be_bytes().to_vec();
    out.extend_from_slice(&f.u16("preference")?.to_be_bytes());
    for field in ["flags", "services", "regexp"] {
        out.extend(f.char_string(field)?);
    }
    out.extend(f.name("replacement")?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::ipv4;

    /// The fast parser agrees with the standard library on every input,
    /// good or bad.
    #[test]
    fn ipv4_accepts_what_the_standard_parser_accepts() {
        let mut inputs: Vec<String> = [
            "0.0.0.0",
            "255.255.255.255",
            "192.0.2.1",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "256.1.1.1",
            "1.2.3.999",
            "01.2.3.4",
            "1.2.3.00",
            "1.2.3.0",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1.2.3.-4",
            "1.2.3.+4",
            "1.2.3.4a",
            "a.b.c.d",
            "",
            "1.2.3.0x1",
            "1000.1.1.1",
            "١.2.3.4",
            "1.2.3.4\0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for a in [
            "0", "9", "10", "99", "100", "199", "200", "249", "250", "255", "256", "300",
        ] {
            inputs.push(format!("{a}.{a}.1.{a}"));
        }
        for input in &inputs {
            let expected = input.parse::<Ipv4Addr>().ok().map(|a| a.octets());
            assert_eq!(ipv4(input.as_bytes()), expected, "{input:?}");
        }
    }
}
