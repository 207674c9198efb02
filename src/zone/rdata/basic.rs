//! RDATA of the RFC 1035 era and its close relatives: addresses, names, MX,
//! SRV, SOA, TXT, HINFO, NAPTR.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::RdataError;
use super::fields::Fields;

/// A: one IPv4 address.
pub fn a(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let token = f.next("address")?;
    let addr: Ipv4Addr = token
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|_| f.bad("address", token, "is not an IPv4 address"))?;
    Ok(addr.octets().to_vec())
}

/// AAAA: one IPv6 address.
pub fn aaaa(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let token = f.next("address")?;
    let addr: Ipv6Addr = token
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|_| f.bad("address", token, "is not an IPv6 address"))?;
    Ok(addr.octets().to_vec())
}

/// NS, CNAME, DNAME, PTR: one name.
pub fn single_name(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    f.name("target")
}

/// MX: preference and exchange.
pub fn mx(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("preference")?.to_be_bytes().to_vec();
    out.extend(f.name("exchange")?);
    Ok(out)
}

/// SRV: priority, weight, port, target.
pub fn srv(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = Vec::new();
    for field in ["priority", "weight", "port"] {
        out.extend_from_slice(&f.u16(field)?.to_be_bytes());
    }
    out.extend(f.name("target")?);
    Ok(out)
}

/// SOA: mname, rname and five timers (units allowed except in the serial).
pub fn soa(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.name("mname")?;
    out.extend(f.name("rname")?);
    out.extend_from_slice(&f.u32("serial")?.to_be_bytes());
    for field in ["refresh", "retry", "expire", "minimum"] {
        out.extend_from_slice(&f.time(field)?.to_be_bytes());
    }
    Ok(out)
}

/// TXT, SPF: one or more character-strings.
pub fn txt(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.char_string("string")?;
    while !f.is_empty() {
        out.extend(f.char_string("string")?);
    }
    Ok(out)
}

/// HINFO: CPU and OS character-strings.
pub fn hinfo(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.char_string("cpu")?;
    out.extend(f.char_string("os")?);
    Ok(out)
}

/// NAPTR (RFC 3403): order, preference, flags, services, regexp, replacement.
pub fn naptr(f: &mut Fields) -> Result<Vec<u8>, RdataError> {
    let mut out = f.u16("order")?.to_be_bytes().to_vec();
    out.extend_from_slice(&f.u16("preference")?.to_be_bytes());
    for field in ["flags", "services", "regexp"] {
        out.extend(f.char_string(field)?);
    }
    out.extend(f.name("replacement")?);
    Ok(out)
}
