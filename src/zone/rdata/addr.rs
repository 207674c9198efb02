//! RDATA that holds addresses and locators other than A and AAAA: WKS,
//! NSAP, EID/NIMLOC, ATMA, SINK, APL, the ILNP types (NID, L32, L64), EUI48
//! and EUI64, DOA, AMTRELAY, IPN.

use super::RdataError;
use super::fields::{Fields, parse_number};
use super::text;

/// WKS (RFC 1035 §3.4.2): address, protocol (`tcp`, `udp` or a number), and
/// services (port numbers or well-known names) as a bitmap of ports.
pub(super) fn wks(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.ipv4("address")?.to_vec();
    let token = f.next("protocol")?;
    let protocol = if token.is_word("tcp") {
        6
    } else if token.is_word("udp") {
        17
    } else {
        parse_number(&token.raw, u8::MAX.into()).map_err(|_| {
            f.bad(
                "protocol",
                token,
                "is neither tcp, udp nor a number (0-255)",
            )
        })? as u8
    };
    out.push(protocol);
    let mut bitmap = Vec::new();
    while let Some(token) = f.optional() {
        let port = match parse_number(&token.raw, u16::MAX.into()) {
            Ok(n) => n as u16,
            Err(_) => service_port(&token.raw).ok_or_else(|| {
                f.bad(
                    "service",
                    token,
                    "is not a port number or a service name known here: write the port number",
                )
            })?,
        };
        let byte = usize::from(port >> 3);
        if bitmap.len() <= byte {
            bitmap.resize(byte + 1, 0);
        }
        bitmap[byte] |= 0x80 >> (port & 7);
    }
    out.extend(bitmap);
    Ok(out)
}

/// Ports of the commonest service names of the IANA registry. WKS is long
/// obsolete (RFC 1123 §2.2): a name not here is written as its number.
fn service_port(name: &[u8]) -> Option<u16> {
    let known: [(&str, u16); 32] = [
        ("echo", 7),
        ("discard", 9),
        ("daytime", 13),
        ("ftp-data", 20),
        ("ftp", 21),
        ("ssh", 22),
        ("telnet", 23),
        ("smtp", 25),
        ("time", 37),
        ("whois", 43),
        ("domain", 53),
        ("tftp", 69),
        ("gopher", 70),
        ("finger", 79),
        ("http", 80),
        ("www", 80),
        ("kerberos", 88),
        ("pop3", 110),
        ("sunrpc", 111),
        ("auth", 113),
        ("nntp", 119),
        ("ntp", 123),
        ("imap", 143),
        ("snmp", 161),
        ("bgp", 179),
        ("ldap", 389),
        ("https", 443),
        ("submission", 587),
        ("ldaps", 636),
        ("domain-s", 853),
        ("imaps", 993),
        ("pop3s", 995),
    ];
    known
        .iter()
        .find(|(service, _)| name.eq_ignore_ascii_case(service.as_bytes()))
        .map(|&(_, port)| port)
}

/// Hex digits that may have dots between them for readability.
fn dotted_hex(text: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.iter().copied().filter(|&b| b != b'.').collect();
    text::hex(&digits).ok().filter(|bytes| !bytes.is_empty())
}

/// NSAP (RFC 1706 §5): `0x` and hex digits, dots allowed between them.
pub(super) fn nsap(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let token = f.next("address")?;
    token
        .raw
        .strip_prefix(b"0x")
        .or_else(|| token.raw.strip_prefix(b"0X"))
        .and_then(dotted_hex)
        .ok_or_else(|| {
            f.bad(
                "address",
                token,
                "is not 0x and an even number of hex digits (dots allowed)",
            )
        })
}

/// EID, NIMLOC (Nimrod drafts): hex digits, possibly split by blanks.
pub(super) fn hex_blob(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let out = f.hex_rest("data")?;
    if out.is_empty() {
        return Err(f.bad_last("data", "is empty"));
    }
    Ok(out)
}

/// ATMA (ATM Forum, af-saa-0069.000): an E.164 number (`+` and digits,
/// format 1) or an AESA in hex (format 0); dots allowed for readability.
pub(super) fn atma(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let token = f.next("address")?;
    if let Some(number) = token.raw.strip_prefix(b"+") {
        let digits: Vec<u8> = number.iter().copied().filter(|&b| b != b'.').collect();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(f.bad("address", token, "is not + and decimal digits"));
        }
        let mut out = vec![1];
        out.extend(digits);
        return Ok(out);
    }
    let aesa = dotted_hex(&token.raw).ok_or_else(|| {
        f.bad(
            "address",
            token,
            "is neither +E.164 digits nor an even number of hex digits",
        )
    })?;
    let mut out = vec![0];
    out.extend(aesa);
    Ok(out)
}

/// SINK (Eastlake draft): coding, subcoding, base64 data.
pub(super) fn sink(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = vec![f.u8("coding")?, f.u8("subcoding")?];
    out.extend(f.base64_rest("data")?);
    Ok(out)
}

/// APL (RFC 3123 §5): any number of `[!]family:address/prefix` items; the
/// address is sent without its trailing zero bytes.
pub(super) fn apl(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = Vec::new();
    while let Some(token) = f.optional() {
        let item = token
            .as_str()
            .and_then(apl_item)
            .ok_or_else(|| f.bad("item", token, "is not [!]1:IPv4/prefix or [!]2:IPv6/prefix"))?;
        out.extend(item);
    }
    Ok(out)
}

fn apl_item(text: &str) -> Option<Vec<u8>> {
    let (negate, text) = match text.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (family, rest) = text.split_once(':')?;
    let (address, prefix) = rest.split_once('/')?;
    let prefix = parse_number(prefix.as_bytes(), u8::MAX.into()).ok()? as u8;
    let (family, mut bytes, max) = match family {
        "1" => (
            1u16,
            address
                .parse::<std::net::Ipv4Addr>()
                .ok()?
                .octets()
                .to_vec(),
            32,
        ),
        "2" => (
            2,
            address
                .parse::<std::net::Ipv6Addr>()
                .ok()?
                .octets()
                .to_vec(),
            128,
        ),
        _ => return None,
    };
    if prefix > max {
        return None;
    }
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    let mut out = family.to_be_bytes().to_vec();
    out.push(prefix);
    out.push(u8::from(negate) << 7 | bytes.len() as u8);
    out.extend(bytes);
    Some(out)
}

/// NID, L64 (RFC 6742): preference and a 64-bit locator or node id written
/// as four groups of 1-4 hex digits, `xxxx:xxxx:xxxx:xxxx`.
pub(super) fn nid(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("preference")?.to_be_bytes().to_vec();
    let token = f.next("identifier")?;
    let groups: Vec<&[u8]> = token.raw.split(|&b| b == b':').collect();
    let valid = groups.len() == 4
        && groups
            .iter()
            .all(|g| (1..=4).contains(&g.len()) && g.iter().all(u8::is_ascii_hexdigit));
    if !valid {
        return Err(f.bad(
            "identifier",
            token,
            "is not four groups of 1-4 hex digits (xxxx:xxxx:xxxx:xxxx)",
        ));
    }
    for group in groups {
        let value = group.iter().fold(0u16, |acc, &d| {
            acc << 4 | (char::from(d).to_digit(16).unwrap_or(0) as u16)
        });
        out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(out)
}

/// L32 (RFC 6742): preference and a 32-bit locator written as IPv4.
pub(super) fn l32(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("preference")?.to_be_bytes().to_vec();
    out.extend(f.ipv4("locator")?);
    Ok(out)
}

/// EUI48 (RFC 7043 §3.2): six hex pairs joined by `-`.
pub(super) fn eui48(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    eui(f, 6)
}

/// EUI64 (RFC 7043 §4.2): eight hex pairs joined by `-`.
pub(super) fn eui64(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    eui(f, 8)
}

fn eui(f: &mut Fields, len: usize) -> Result<Vec<u8>, RdataError> {
    let token = f.next("address")?;
    let pairs: Vec<&[u8]> = token.raw.split(|&b| b == b'-').collect();
    let bytes: Option<Vec<u8>> = (pairs.len() == len)
        .then(|| {
            pairs
                .iter()
                .map(|pair| match text::hex(pair).as_deref() {
                    Ok([byte]) => Some(*byte),
                    _ => None,
                })
                .collect()
        })
        .flatten();
    bytes.ok_or_else(|| {
        f.bad(
            "address",
            token,
            format_args!("is not {len} pairs of hex digits joined by -"),
        )
    })
}

/// DOA (Durand draft): enterprise, type, location, media type, and base64
/// data (`-` for none).
pub(super) fn doa(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u32("enterprise")?.to_be_bytes().to_vec();
    out.extend_from_slice(&f.u32("type")?.to_be_bytes());
    out.push(f.u8("location")?);
    out.extend(f.char_string("media type")?);
    if f.peek().is_some_and(|t| t.is_word("-")) {
        f.optional();
    } else {
        out.extend(f.base64_rest("data")?);
    }
    Ok(out)
}

/// AMTRELAY (RFC 8777 §4.3): precedence, discovery-optional bit (0 or 1),
/// type, and the relay (`.`, an IPv4 or IPv6 address, or a name, as the type
/// says).
pub(super) fn amtrelay(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = vec![f.u8("precedence")?];
    let token = f.next("discovery optional")?;
    let discovery = match &token.raw[..] {
        b"0" => 0,
        b"1" => 0x80,
        _ => return Err(f.bad("discovery optional", token, "is not 0 or 1")),
    };
    let relay_type = f.u8("type")?;
    if relay_type > 0x7f {
        return Err(f.bad_last("type", "is out of range (0-127)"));
    }
    out.push(discovery | relay_type);
    match relay_type {
        0 => {
            let token = f.next("relay")?;
            if !token.is_word(".") {
                return Err(f.bad("relay", token, "must be . when the type is 0"));
            }
        }
        1 => out.extend(f.ipv4("relay")?),
        2 => out.extend(f.ipv6("relay")?),
        3 => out.extend(f.name("relay")?),
        _ => return Err(f.bad_last("type", "is not 0-3")),
    }
    Ok(out)
}

/// IPN (Johnson draft): a 64-bit node number, written as one number or as
/// two 32-bit halves joined by a dot.
pub(super) fn ipn(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let token = f.next("node number")?;
    let value = match token.raw.iter().position(|&b| b == b'.') {
        None => parse_u64(&token.raw),
        Some(dot) => {
            let high = parse_number(&token.raw[..dot], u32::MAX).ok();
            let low = parse_number(&token.raw[dot + 1..], u32::MAX).ok();
            high.zip(low)
                .map(|(h, l)| u64::from(h) << 32 | u64::from(l))
        }
    };
    let value = value.ok_or_else(|| {
        f.bad(
            "node number",
            token,
            "is neither a 64-bit number nor two 32-bit numbers joined by a dot",
        )
    })?;
    Ok(value.to_be_bytes().to_vec())
}

fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}
