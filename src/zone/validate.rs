//! The zone-level rules: origin and SOA, apex NS, out-of-zone data, CNAME and
//! DNAME exclusivity, occlusion below delegations and DNAMEs, duplicate
//! records and TTLs within an RRset.

use hashbrown::{HashMap, HashSet};
use std::path::Path;

use super::rdata::type_name;
use super::{Location, Record, Zone, ZoneError, health_sets};
use crate::name::Name;

const NS: u16 = 2;
const CNAME: u16 = 5;
const SOA: u16 = 6;
const A: u16 = 1;
const AAAA: u16 = 28;
const DNAME: u16 = 39;
const DS: u16 = 43;
const RRSIG: u16 = 46;
const NSEC: u16 = 47;

/// Checks the records of the zone file `main`; pushes what it finds to
/// `errors` and `warnings`. `None` when no origin could be settled.
pub fn validate(
    main: &Path,
    records: Vec<Record>,
    origin: Option<&Name>,
    is_check: &dyn Fn(&str) -> bool,
    errors: &mut Vec<ZoneError>,
    warnings: &mut Vec<ZoneError>,
) -> Option<Zone> {
    // Needs no origin, so it runs even when the zone has none.
    health_sets::check(&records, is_check, errors);
    let file_location = Location {
        file: main.into(),
        line: records
            .iter()
            .find(|r| &*r.location.file == main)
            .map_or(1, |r| r.location.line),
    };
    let origin = match origin {
        Some(origin) => origin.clone(),
        None => match records.iter().find(|r| r.rtype == SOA) {
            Some(soa) => soa.owner.clone(),
            None => {
                errors.push(problem(
                    file_location,
                    "no SOA record (and no origin configured)",
                ));
                return None;
            }
        },
    };
    let mut records = drop_out_of_zone(records, &origin, warnings);
    unify_ttls(&mut records, warnings);
    let records = dedupe(records);
    let records = drop_occluded(records, &origin, warnings);
    check_apex(&records, &origin, file_location.clone(), errors);
    check_cname_dname(&records, &origin, errors);
    check_size(&records, MAX_TABLE_BYTES, file_location, errors);
    Some(Zone { origin, records })
}

/// Most bytes of names and RDATA one zone's answer table may hold: it
/// addresses them with 32-bit offsets.
const MAX_TABLE_BYTES: u64 = u32::MAX as u64;

/// Refuses a zone whose answer table would hold more than `limit` bytes:
/// each owner name twice (as written and lower-cased) and each RDATA with
/// its length, an upper bound of what `answer::build` stores.
fn check_size(records: &[Record], limit: u64, file: Location, errors: &mut Vec<ZoneError>) {
    let size: u64 = records
        .iter()
        .map(|r| 2 * r.owner.wire_len() as u64 + 2 + r.rdata.len() as u64)
        .sum();
    if size > limit {
        let message = format!(
            "zone too large: {size} bytes of names and RDATA, more than the {limit} one zone may hold; split it into several zones"
        );
        errors.push(problem(file, message));
    }
}

fn problem(location: Location, message: impl Into<String>) -> ZoneError {
    ZoneError {
        location,
        message: message.into(),
    }
}

fn drop_out_of_zone(
    records: Vec<Record>,
    origin: &Name,
    warnings: &mut Vec<ZoneError>,
) -> Vec<Record> {
    records
        .into_iter()
        .filter(|r| {
            let inside = r.owner.is_subdomain_of(origin);
            if !inside {
                let message = format!("{} is out of zone {origin}: out of zone, ignored", r.owner);
                warnings.push(problem(r.location.clone(), message));
            }
            inside
        })
        .collect()
}

/// All members of an RRset take the TTL of its first record.
fn unify_ttls(records: &mut [Record], warnings: &mut Vec<ZoneError>) {
    let mut first: HashMap<(&Name, u16), u32> = HashMap::with_capacity(records.len());
    let mut fixes = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let ttl = *first.entry((&r.owner, r.rtype)).or_insert(r.ttl);
        if ttl != r.ttl {
            fixes.push((i, ttl));
        }
    }
    drop(first);
    for (i, ttl) in fixes {
        let r = &mut records[i];
        let message = format!(
            "TTL {} differs from the TTL {ttl} of the {} {} RRset; using {ttl}",
            r.ttl,
            r.owner,
            type_name(r.rtype)
        );
        warnings.push(problem(r.location.clone(), message));
        r.ttl = ttl;
    }
}

/// Exact duplicates (owner, type, RDATA) are merged into the first.
fn dedupe(records: Vec<Record>) -> Vec<Record> {
    let mut seen: HashSet<(&Name, u16, &[u8])> = HashSet::with_capacity(records.len());
    let keep: Vec<bool> = records
        .iter()
        .map(|r| seen.insert((&r.owner, r.rtype, &r.rdata)))
        .collect();
    drop(seen);
    if keep.iter().all(|&k| k) {
        return records;
    }
    records
        .into_iter()
        .zip(keep)
        .filter_map(|(r, keep)| keep.then_some(r))
        .collect()
}

/// Drops data hidden by a delegation (except A/AAAA glue) or by a DNAME.
fn drop_occluded(
    records: Vec<Record>,
    origin: &Name,
    warnings: &mut Vec<ZoneError>,
) -> Vec<Record> {
    let cuts: HashSet<&Name> = records
        .iter()
        .filter(|r| r.rtype == NS && r.owner != *origin)
        .map(|r| &r.owner)
        .collect();
    let dnames: HashSet<&Name> = records
        .iter()
        .filter(|r| r.rtype == DNAME)
        .map(|r| &r.owner)
        .collect();
    if cuts.is_empty() && dnames.is_empty() {
        drop((cuts, dnames));
        return records;
    }
    let apex_depth = origin.label_count();
    let hidden: Vec<Option<String>> = records
        .iter()
        .map(|r| {
            let glue = matches!(r.rtype, A | AAAA);
            let mut hidden_by = None;
            if cuts.contains(&r.owner) && !matches!(r.rtype, NS | DS | NSEC | RRSIG) && !glue {
                hidden_by = Some(format!("the delegation at {}", r.owner));
            }
            let mut above = r.owner.parent();
            while let Some(name) = above.filter(|n| n.label_count() > apex_depth) {
                if cuts.contains(&name) && !glue {
                    hidden_by = Some(format!("the delegation at {name}"));
                }
                if dnames.contains(&name) {
                    hidden_by = Some(format!("the DNAME at {name}"));
                }
                above = name.parent();
            }
            hidden_by
        })
        .collect();
    drop((cuts, dnames));
    let mut keep = Vec::with_capacity(records.len());
    for (r, hidden_by) in records.into_iter().zip(hidden) {
        match hidden_by {
            Some(by) => {
                let message = format!(
                    "{} {} is occluded by {by}; ignored",
                    r.owner,
                    type_name(r.rtype)
                );
                warnings.push(problem(r.location.clone(), message));
            }
            None => keep.push(r),
        }
    }
    keep
}

fn check_apex(records: &[Record], origin: &Name, file: Location, errors: &mut Vec<ZoneError>) {
    let mut apex_soa = 0;
    let mut apex_ns = false;
    for r in records {
        match r.rtype {
            SOA if r.owner != *origin => {
                let message = format!("SOA at {} is not at the zone apex {origin}", r.owner);
                errors.push(problem(r.location.clone(), message));
            }
            SOA => {
                apex_soa += 1;
                if apex_soa == 2 {
                    let message = "a second SOA record at the apex; a zone has exactly one";
                    errors.push(problem(r.location.clone(), message));
                }
            }
            NS if r.owner == *origin => apex_ns = true,
            _ => {}
        }
    }
    if apex_soa == 0 {
        errors.push(problem(
            file.clone(),
            format!("no SOA record at the apex {origin}"),
        ));
    }
    if !apex_ns {
        errors.push(problem(file, format!("no NS records at the apex {origin}")));
    }
}

fn check_cname_dname(records: &[Record], origin: &Name, errors: &mut Vec<ZoneError>) {
    // Only owners with a CNAME or DNAME have rules to break.
    let aliased: HashSet<&Name> = records
        .iter()
        .filter(|r| matches!(r.rtype, CNAME | DNAME))
        .map(|r| &r.owner)
        .collect();
    if aliased.is_empty() {
        return;
    }
    let mut by_owner: HashMap<&Name, Vec<&Record>> = HashMap::new();
    for r in records.iter().filter(|r| aliased.contains(&r.owner)) {
        by_owner.entry(&r.owner).or_default().push(r);
    }
    for r in records {
        let Some(group) = by_owner.get(&r.owner) else {
            continue;
        };
        let earlier = group.iter().take_while(|o| !std::ptr::eq(**o, r));
        match r.rtype {
            CNAME if r.owner == *origin => {
                let message = format!("CNAME at the zone apex {origin} is not allowed");
                errors.push(problem(r.location.clone(), message));
            }
            CNAME if health_sets::is_cname_set(group) => {}
            CNAME | DNAME if earlier.clone().any(|o| o.rtype == r.rtype) => {
                let message = format!(
                    "more than one {} at {}; only one is allowed",
                    type_name(r.rtype),
                    r.owner
                );
                errors.push(problem(r.location.clone(), message));
            }
            CNAME => {
                if let Some(other) = group
                    .iter()
                    .find(|o| !matches!(o.rtype, CNAME | RRSIG | NSEC))
                {
                    let message = format!(
                        "CNAME at {} alongside other data ({} at {})",
                        r.owner,
                        type_name(other.rtype),
                        other.location
                    );
                    errors.push(problem(r.location.clone(), message));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(owner: &str, rdata: &[u8]) -> Record {
        Record {
            owner: Name::from_text(owner, None).unwrap(),
            rtype: A,
            ttl: 300,
            rdata: rdata.into(),
            location: Location {
                file: Path::new("z").into(),
                line: 2,
            },
            health: None,
        }
    }

    #[test]
    fn size_counts_names_twice_and_rdata_with_length() {
        // "a.example." is 11 bytes on the wire: 2 * 11 + 2 + 4 = 28 per record.
        let records = [
            record("a.example.", &[1, 2, 3, 4]),
            record("a.example.", &[5, 6, 7, 8]),
        ];
        let file = Location {
            file: Path::new("z").into(),
            line: 1,
        };
        let mut errors = Vec::new();
        check_size(&records, 56, file.clone(), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        check_size(&records, 55, file, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].location.to_string(), "z:1");
        assert!(
            errors[0].message.starts_with("zone too large: 56 bytes"),
            "{}",
            errors[0]
        );
    }
}
