//! Health annotations: `; healthdns failover=primary check=web` comments.
//!
//! An annotation is `key=value` words (a bare word is `key=true`). It makes its
//! record a member of a health-aware record set. The comment form keeps the
//! zone a valid RFC 1035 file that other tools read as plain records.

use std::fmt;

/// How a record set picks its answer from its healthy members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Ordered tiers (a member's rank: primary = 1, secondary = 2, …): the
    /// healthy members of the first tier that has any.
    Failover,
    /// The healthy members, shuffled, at most `max`.
    Multivalue,
    /// One healthy member chosen with probability ∝ its rank, the weight;
    /// weight 0 only when every weighted member is down.
    Weighted,
}

impl Policy {
    /// The policy's name, as annotations, the API and the status page
    /// spell it.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Failover => "failover",
            Policy::Multivalue => "multivalue",
            Policy::Weighted => "weighted",
        }
    }
}

/// What a set answers when no member is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllDown {
    /// Every member, as if all were healthy (fail open).
    All,
    /// The primary tier (failover) or the first member.
    First,
    /// NODATA.
    Empty,
    /// SERVFAIL.
    Servfail,
}

impl fmt::Display for AllDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AllDown::All => "all",
            AllDown::First => "first",
            AllDown::Empty => "empty",
            AllDown::Servfail => "servfail",
        })
    }
}

/// A parsed annotation of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// The set's policy.
    pub policy: Policy,
    /// This member's tier (failover) or weight (weighted); 0 for multivalue.
    pub rank: u32,
    /// The check (a `[check.NAME]` of the config) deciding this member's health.
    pub check: Option<String>,
    /// Where to probe, when not the record's own address: `HOST:PORT`.
    pub target: Option<String>,
    /// Set-wide: most members in a multivalue answer.
    pub max: Option<u16>,
    /// Set-wide: what to answer when every member is down.
    pub all_down: Option<AllDown>,
    /// Set-wide: TTL of the answer.
    pub ttl: Option<u32>,
}

/// Parses the text after `healthdns` in a comment.
pub(crate) fn parse(text: &str) -> Result<Annotation, String> {
    let mut policy = None;
    let mut annotation = Annotation {
        policy: Policy::Multivalue,
        rank: 0,
        check: None,
        target: None,
        max: None,
        all_down: None,
        ttl: None,
    };
    let mut seen: Vec<&str> = Vec::new();
    for word in text.split_whitespace() {
        let (key, value) = word.split_once('=').unwrap_or((word, "true"));
        if seen.contains(&key) {
            return Err(format!("annotation key {key:?} given twice"));
        }
        seen.push(key);
        let set_policy = |policy: &mut Option<Policy>, new: Policy| match policy.replace(new) {
            Some(old) => Err(format!(
                "a record has one policy; {} and {} both given",
                old.name(),
                new.name()
            )),
            None => Ok(()),
        };
        match key {
            "failover" => {
                let tier = match value {
                    "primary" => 1,
                    "secondary" => 2,
                    n => n.parse::<u32>().ok().filter(|&n| n >= 1).ok_or_else(|| {
                        format!("failover={value:?}: use primary, secondary or a tier number ≥ 1")
                    })?,
                };
                set_policy(&mut policy, Policy::Failover)?;
                annotation.rank = tier;
            }
            "multivalue" => {
                if value != "true" {
                    return Err(format!("multivalue takes no value (got {value:?})"));
                }
                set_policy(&mut policy, Policy::Multivalue)?;
            }
            "weighted" => {
                let weight = value
                    .parse::<u32>()
                    .map_err(|_| format!("weighted={value:?}: the weight is a whole number ≥ 0"))?;
                set_policy(&mut policy, Policy::Weighted)?;
                annotation.rank = weight;
            }
            "check" => annotation.check = Some(non_empty(key, value)?),
            "target" => annotation.target = Some(target(value)?),
            "max" => {
                let max = value.parse::<u16>().ok().filter(|&n| n >= 1);
                annotation.max =
                    Some(max.ok_or_else(|| format!("max={value:?}: a number from 1 to 65535"))?);
            }
            "all-down" => {
                annotation.all_down = Some(match value {
                    "all" => AllDown::All,
                    "first" => AllDown::First,
                    "empty" => AllDown::Empty,
                    "servfail" => AllDown::Servfail,
                    _ => {
                        return Err(format!(
                            "all-down={value:?}: use all, first, empty or servfail"
                        ));
                    }
                })
            }
            "ttl" => {
                let ttl = value.parse::<u32>().ok().filter(|&n| n <= i32::MAX as u32);
                annotation.ttl =
                    Some(ttl.ok_or_else(|| format!("ttl={value:?}: seconds, 0 to 2147483647"))?);
            }
            _ => {
                return Err(format!(
                    "unknown annotation key {key:?} (known: failover, multivalue, weighted, check, target, max, all-down, ttl)"
                ));
            }
        }
    }
    annotation.policy =
        policy.ok_or("annotation names no policy: add failover=…, multivalue or weighted=…")?;
    if annotation.target.is_some() && annotation.check.is_none() {
        return Err("target= needs a check= to probe it with".into());
    }
    Ok(annotation)
}

fn non_empty(key: &str, value: &str) -> Result<String, String> {
    if value.is_empty() || value == "true" {
        return Err(format!("{key}= needs a value"));
    }
    Ok(value.to_owned())
}

/// `HOST:PORT` or `[V6]:PORT`, port 1–65535.
fn target(value: &str) -> Result<String, String> {
    let bad =
        || format!("target={value:?}: write HOST:PORT, e.g. 192.0.2.10:8080 or [2001:db8::1]:443");
    let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().ok().filter(|&p| p != 0).ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || (host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err()) {
        return Err(bad());
    }
    let _ = port;
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_key() {
        let a =
            parse("failover=secondary check=web target=192.0.2.1:8080 all-down=servfail ttl=20")
                .unwrap();
        assert_eq!((a.policy, a.rank), (Policy::Failover, 2));
        assert_eq!(a.check.as_deref(), Some("web"));
        assert_eq!(a.target.as_deref(), Some("192.0.2.1:8080"));
        assert_eq!(a.all_down, Some(AllDown::Servfail));
        assert_eq!(a.ttl, Some(20));
        let tier = |text| {
            let a = parse(text).unwrap();
            (a.policy, a.rank)
        };
        assert_eq!(tier("failover=primary"), (Policy::Failover, 1));
        assert_eq!(tier("failover=3 check=x"), (Policy::Failover, 3));
        let m = parse("multivalue check=web max=2").unwrap();
        assert_eq!((m.policy, m.max), (Policy::Multivalue, Some(2)));
        assert_eq!(tier("weighted=0 check=t"), (Policy::Weighted, 0));
        assert!(parse("weighted=1 target=[2001:db8::1]:443 check=t").is_ok());
    }

    #[test]
    fn refuses_what_it_cannot_mean() {
        for (text, needle) in [
            ("", "names no policy"),
            ("check=web", "names no policy"),
            ("failover=primary multivalue", "one policy"),
            ("failover=0", "tier number"),
            ("failover=third", "tier number"),
            ("weighted=-1", "whole number"),
            ("multivalue=yes", "takes no value"),
            ("multivalue max=0", "max="),
            ("multivalue all-down=maybe", "all-down="),
            ("multivalue ttl=soon", "ttl="),
            ("multivalue colour=red", "unknown annotation key \"colour\""),
            ("multivalue check=a check=b", "given twice"),
            ("multivalue check", "needs a value"),
            ("multivalue target=1.2.3.4:80", "needs a check"),
            ("multivalue check=c target=1.2.3.4", "HOST:PORT"),
            ("multivalue check=c target=1.2.3.4:0", "HOST:PORT"),
            ("multivalue check=c target=[zz::1]:80", "HOST:PORT"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
