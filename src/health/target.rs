//! What a probe loop probes: one [`TargetKey`] per distinct (address, port,
//! check), however many records share it.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::config::Checks;
use crate::wire::rtype;
use crate::zone::{Annotation, Record};

/// Identity of a probed target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    /// The check's name.
    pub check: String,
    /// An IP address literal or a host name.
    pub host: String,
    /// The port probed.
    pub port: u16,
}

impl fmt::Display for TargetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.authority(), self.check)
    }
}

impl TargetKey {
    /// `host:port` as a connect address (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The target a record's annotation asks to probe, if it names a check that
/// exists: `target=HOST:PORT`, else the record's own address on the check's
/// port.
pub(crate) fn for_record(
    record: &Record,
    annotation: &Annotation,
    checks: &Checks,
) -> Option<TargetKey> {
    let check = checks.get(annotation.check.as_deref()?)?;
    if let Some(target) = &annotation.target {
        let (host, port) = target.rsplit_once(':')?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        return Some(TargetKey {
            check: check.name.clone(),
            host: host.to_owned(),
            port: port.parse().ok()?,
        });
    }
    let host = match (record.rtype, record.rdata.len()) {
        (rtype::A, 4) => Ipv4Addr::from(<[u8; 4]>::try_from(&record.rdata[..]).ok()?).to_string(),
        (rtype::AAAA, 16) => {
            Ipv6Addr::from(<[u8; 16]>::try_from(&record.rdata[..]).ok()?).to_string()
        }
        _ => return None,
    };
    Some(TargetKey {
        check: check.name.clone(),
        host,
        port: check.port,
    })
}
