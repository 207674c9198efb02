//! SVCB and HTTPS (RFC 9460): priority, target and SvcParams, written to the
//! wire sorted by key.
//!
//! Values are read in two passes as RFC 9460 Appendix A says: first the
//! `\DDD`/`\X` escapes of the character-string, then, for lists, the split on
//! commas where `\,` is a literal comma and `\\` a backslash. In a zone file
//! that makes a literal comma `\\,` (or `"a\\,b"`).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::RdataError;
use super::fields::{Fields, parse_number};
use super::text;

const MANDATORY: u16 = 0;
const ALPN: u16 = 1;
const NO_DEFAULT_ALPN: u16 = 2;
const PORT: u16 = 3;
const IPV4HINT: u16 = 4;
const ECH: u16 = 5;
const IPV6HINT: u16 = 6;
const OHTTP: u16 = 8;

/// SVCB, HTTPS: priority, target name, then `key[=value]` parameters.
pub(super) fn svcb(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("priority")?.to_be_bytes().to_vec();
    out.extend(f.name("target")?);
    let mut params: BTreeMap<u16, Vec<u8>> = BTreeMap::new();
    let rtype = f.rtype();
    while let Some(token) = f.optional() {
        let bad = |problem: &str| RdataError::Field {
            field: format!("{rtype} parameter"),
            value: token.text(),
            problem: problem.to_owned(),
        };
        if token.quoted {
            return Err(bad("is a quoted string where a key=value was expected"));
        }
        let raw = &token.raw;
        let (key_text, value) = match raw.iter().position(|&b| b == b'=') {
            None => (&raw[..], None),
            Some(eq) => {
                let inline = &raw[eq + 1..];
                let value = if inline.is_empty() && f.peek().is_some_and(|t| t.quoted) {
                    f.optional().map(|t| t.raw.to_vec()).unwrap_or_default()
                } else {
                    inline.to_vec()
                };
                (&raw[..eq], Some(value))
            }
        };
        let key = key_number(key_text).ok_or_else(|| bad("has an unknown key"))?;
        let value = match value {
            Some(v) => Some(text::unescape_all(&v).map_err(|e| bad(&e.to_string()))?),
            None => None,
        };
        let wire = encode_value(key, value.as_deref()).map_err(&bad)?;
        if wire.len() > usize::from(u16::MAX) {
            return Err(bad("has a value longer than 65535 bytes"));
        }
        if params.insert(key, wire).is_some() {
            return Err(bad("repeats a key"));
        }
    }
    check_consistency(&params).map_err(|problem| RdataError::Field {
        field: format!("{rtype} parameters"),
        value: String::new(),
        problem: problem.into(),
    })?;
    for (key, value) in params {
        out.extend_from_slice(&key.to_be_bytes());
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend(value);
    }
    Ok(out)
}

fn key_number(name: &[u8]) -> Option<u16> {
    let lower = name.to_ascii_lowercase();
    let known = match &lower[..] {
        b"mandatory" => MANDATORY,
        b"alpn" => ALPN,
        b"no-default-alpn" => NO_DEFAULT_ALPN,
        b"port" => PORT,
        b"ipv4hint" => IPV4HINT,
        b"ech" => ECH,
        b"ipv6hint" => IPV6HINT,
        b"dohpath" => 7,
        b"ohttp" => OHTTP,
        _ => {
            let digits = lower.strip_prefix(b"key")?;
            let n = parse_number(digits, 65534).ok()?;
            return Some(n as u16);
        }
    };
    Some(known)
}

fn encode_value(key: u16, value: Option<&[u8]>) -> Result<Vec<u8>, &'static str> {
    let needs_value = || value.ok_or("needs a value");
    match key {
        MANDATORY => {
            let mut keys = Vec::new();
            for item in split_list(needs_value()?)? {
                let k = key_number(&item).ok_or("lists an unknown key")?;
                if k == MANDATORY {
                    return Err("lists mandatory itself");
                }
                keys.push(k);
            }
            keys.sort_unstable();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                return Err("lists a key twice");
            }
            Ok(keys.iter().flat_map(|k| k.to_be_bytes()).collect())
        }
        ALPN => {
            let mut out = Vec::new();
            for item in split_list(needs_value()?)? {
                let len = u8::try_from(item.len()).map_err(|_| "has an ALPN id over 255 bytes")?;
                if len == 0 {
                    return Err("has an empty ALPN id");
                }
                out.push(len);
                out.extend(item);
            }
            Ok(out)
        }
        NO_DEFAULT_ALPN | OHTTP => match value {
            None => Ok(Vec::new()),
            Some(_) => Err("takes no value"),
        },
        PORT => {
            let port =
                parse_number(needs_value()?, u16::MAX.into()).map_err(|_| "is not a port")?;
            Ok((port as u16).to_be_bytes().to_vec())
        }
        IPV4HINT => addresses(needs_value()?, |s| {
            s.parse::<Ipv4Addr>().ok().map(|a| a.octets().to_vec())
        }),
        IPV6HINT => addresses(needs_value()?, |s| {
            s.parse::<Ipv6Addr>().ok().map(|a| a.octets().to_vec())
        }),
        ECH => text::base64(needs_value()?).map_err(|_| "is not valid base64"),
        _ => Ok(value.unwrap_or_default().to_vec()),
    }
}

fn addresses(
    value: &[u8],
    parse: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    for item in split_list(value)? {
        let text = std::str::from_utf8(&item).map_err(|_| "has a bad address")?;
        out.extend(parse(text).ok_or("has a bad address")?);
    }
    Ok(out)
}

/// The value-list split: `,` separates, `\,` and `\\` are literal.
fn split_list(value: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let mut items = vec![Vec::new()];
    let mut bytes = value.iter();
    while let Some(&b) = bytes.next() {
        let current = items.last_mut().ok_or("is empty")?;
        match b {
            b'\\' => current.push(*bytes.next().ok_or("ends with a backslash")?),
            b',' => items.push(Vec::new()),
            _ => current.push(b),
        }
    }
    if items.iter().any(Vec::is_empty) {
        return Err("has an empty list item");
    }
    Ok(items)
}

fn check_consistency(params: &BTreeMap<u16, Vec<u8>>) -> Result<(), &'static str> {
    if let Some(mandatory) = params.get(&MANDATORY) {
        for pair in mandatory.chunks(2) {
            let key = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            if !params.contains_key(&key) {
                return Err("name a mandatory key that is not present");
            }
        }
    }
    if params.contains_key(&NO_DEFAULT_ALPN) && !params.contains_key(&ALPN) {
        return Err("have no-default-alpn without alpn");
    }
    Ok(())
}
