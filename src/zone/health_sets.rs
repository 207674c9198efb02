//! Rules for health-aware record sets, checked across the members of each
//! owner+type: one policy, no plain records mixed in, set-wide options that
//! agree, and something to probe for every checked member.

use std::collections::BTreeMap;

use hashbrown::HashSet;

use super::annotation::{Annotation, Policy};
use super::rdata::type_name;
use super::{Record, ZoneError};
use crate::name::Name;
use crate::wire::rtype;

/// Checks every annotated set, and that each `check=` names a check for
/// which `is_check` is true; pushes one error per offending record.
pub(crate) fn check(
    records: &[Record],
    is_check: &dyn Fn(&str) -> bool,
    errors: &mut Vec<ZoneError>,
) {
    // Only sets with an annotated member have rules; most sets have none.
    let annotated: HashSet<(&Name, u16)> = records
        .iter()
        .filter(|r| r.health.is_some())
        .map(|r| (&r.owner, r.rtype))
        .collect();
    let mut sets: BTreeMap<(&Name, u16), Vec<&Record>> = BTreeMap::new();
    for record in records {
        if !annotated.is_empty() && annotated.contains(&(&record.owner, record.rtype)) {
            sets.entry((&record.owner, record.rtype))
                .or_default()
                .push(record);
        }
    }
    for ((owner, rr_type), members) in &sets {
        let Some(first) = members
            .iter()
            .find_map(|r| r.health.as_ref().map(|h| (*r, h)))
        else {
            continue;
        };
        let what = format!("{owner} {}", type_name(*rr_type));
        for record in members {
            let mut fail = |message: String| {
                errors.push(ZoneError {
                    location: record.location.clone(),
                    message,
                })
            };
            let Some(health) = &record.health else {
                fail(format!(
                    "{what} mixes plain records with health-annotated ones (first at {}); annotate every member",
                    first.0.location
                ));
                continue;
            };
            if let Some(name) = &health.check
                && !is_check(name)
            {
                fail(format!(
                    "check {name:?} is not defined in the config; add [check.{name}]"
                ));
            }
            if health.policy != first.1.policy {
                fail(format!(
                    "{what} is {} here but {} at {}; one set has one policy",
                    health.policy.name(),
                    first.1.policy.name(),
                    first.0.location
                ));
            }
            for (key, mine, theirs) in set_wide(health, first.1) {
                if let (Some(mine), Some(theirs)) = (mine, theirs)
                    && mine != theirs
                {
                    fail(format!(
                        "{what}: {key}={mine} here but {key}={theirs} at {}; set-wide options must agree",
                        first.0.location
                    ));
                }
            }
            let has_address = matches!(record.rtype, rtype::A | rtype::AAAA);
            if health.check.is_some() && health.target.is_none() && !has_address {
                fail(format!(
                    "{what}: a checked {} member has no address to probe; add target=HOST:PORT",
                    type_name(record.rtype)
                ));
            }
            if record.rtype == rtype::CNAME && matches!(health.policy, Policy::Multivalue) {
                fail(format!(
                    "{what}: multivalue would answer several CNAMEs; use failover or weighted"
                ));
            }
        }
    }
}

/// (key, this member's value, the first member's value) for set-wide keys.
fn set_wide(
    mine: &Annotation,
    first: &Annotation,
) -> [(&'static str, Option<String>, Option<String>); 3] {
    [
        (
            "max",
            mine.max.map(|v| v.to_string()),
            first.max.map(|v| v.to_string()),
        ),
        (
            "all-down",
            mine.all_down.map(|v| v.to_string()),
            first.all_down.map(|v| v.to_string()),
        ),
        (
            "ttl",
            mine.ttl.map(|v| v.to_string()),
            first.ttl.map(|v| v.to_string()),
        ),
    ]
}

/// True when every CNAME at an owner is an annotated failover or weighted
/// member: then several CNAMEs at one name are a set, not an error.
pub(crate) fn is_cname_set(group: &[&Record]) -> bool {
    group.iter().filter(|r| r.rtype == rtype::CNAME).all(|r| {
        matches!(
            r.health.as_ref().map(|h| h.policy),
            Some(Policy::Failover | Policy::Weighted)
        )
    })
}
