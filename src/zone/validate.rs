//! The zone-level rules: origin and SOA, apex NS, out-of-zone data, CNAME and
//! DNAME exclusivity, occlusion below delegations and DNAMEs, duplicate
//! records and TTLs within an RRset.

use hashbrown::{HashMap, HashSet};
use std::path::Path;

use super::rdata::type_name;
use super::{Location, Record, Zone, ZoneError, health_sets};
use crate::groups::Groups;
use crate::name::{MAX_NAME_LEN, Name, lowercase_into};
use crate::wire::rtype::{A, AAAA, CNAME, DNAME, DS, NS, NSEC, RRSIG, SOA};

/// Checks the records of the zone file `main`; pushes what it finds to
/// `errors` and `warnings`. `None` when no origin could be settled.
pub(crate) fn validate(
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
        column: 0,
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
    let records = drop_out_of_zone(records, &origin, warnings);
    let records = drop_nsec3(records, warnings);
    let records = check_owners(records, &origin, errors, warnings);
    check_apex(&records, &origin, file_location.clone(), errors);
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
    mut records: Vec<Record>,
    origin: &Name,
    warnings: &mut Vec<ZoneError>,
) -> Vec<Record> {
    // In place: a record is moved only when one before it was dropped.
    records.retain(|r| {
        let inside = r.owner.is_subdomain_of(origin);
        if !inside {
            let message = format!("{} is out of zone {origin}: out of zone, ignored", r.owner);
            warnings.push(problem(r.location.clone(), message));
        }
        inside
    });
    records
}

/// NSEC3 type code (RFC 5155).
const NSEC3: u16 = 50;

/// Keeps NSEC3 records, and the RRSIGs that cover them, out of the zone,
/// with one warning: their owner names are hashes that exist for no query
/// (RFC 5155 §7.2.8 makes a query for one a name error), and this server
/// serves no DNSSEC denial that would use them. Knot keeps them in a tree
/// of their own and answers the same way.
fn drop_nsec3(mut records: Vec<Record>, warnings: &mut Vec<ZoneError>) -> Vec<Record> {
    let is_nsec3 = |r: &Record| {
        r.rtype == NSEC3 || (r.rtype == RRSIG && r.rdata.get(..2) == Some(&NSEC3.to_be_bytes()))
    };
    let Some(first) = records.iter().find(|r| is_nsec3(r)) else {
        return records;
    };
    let location = first.location.clone();
    let before = records.len();
    records.retain(|r| !is_nsec3(r));
    let message = format!(
        "NSEC3 records and the RRSIGs over them ({} in all) are not served: their owner \
         names exist for no query (RFC 5155 §7.2.8)",
        before - records.len()
    );
    warnings.push(problem(location, message));
    records
}

/// The records of each owner, in file order: the rules that compare records
/// with one another (one TTL per RRset, duplicates, occlusion, CNAME
/// exclusivity) all look within one owner, so the zone is hashed by owner
/// once and every rule walks the groups.
fn by_owner(records: &[Record]) -> Groups {
    let mut ids: HashMap<&Name, u32> = HashMap::with_capacity(records.len());
    let owner_of: Vec<u32> = records
        .iter()
        .map(|r| {
            let next = ids.len() as u32;
            *ids.entry(&r.owner).or_insert(next)
        })
        .collect();
    let owners = ids.len();
    drop(ids);
    Groups::by_key(&owner_of, owners)
}

/// All members of an RRset take the TTL of its first record; exact
/// duplicates (owner, type, RDATA) are merged into the first; data hidden by
/// a delegation or a DNAME is dropped; CNAME and DNAME rules are checked on
/// what is left. Returns the records kept, in file order.
fn check_owners(
    mut records: Vec<Record>,
    origin: &Name,
    errors: &mut Vec<ZoneError>,
    warnings: &mut Vec<ZoneError>,
) -> Vec<Record> {
    let groups = by_owner(&records);
    let mut keep = vec![true; records.len()];
    let mut ttl_fixes: Vec<(u32, u32)> = Vec::new();
    let mut by_type: Vec<(u16, u32)> = Vec::new();
    let mut by_rdata: Vec<u32> = Vec::new();
    for group in groups.iter() {
        if group.len() == 1 {
            continue;
        }
        by_type.clear();
        by_type.extend(group.iter().map(|&i| (records[i as usize].rtype, i)));
        by_type.sort_unstable();
        for rrset in by_type.chunk_by(|a, b| a.0 == b.0) {
            let first = records[rrset[0].1 as usize].ttl;
            ttl_fixes.extend(
                rrset
                    .iter()
                    .filter(|&&(_, i)| records[i as usize].ttl != first)
                    .map(|&(_, i)| (i, first)),
            );
            if rrset.len() > 1 {
                by_rdata.clear();
                by_rdata.extend(rrset.iter().map(|&(_, i)| i));
                by_rdata.sort_unstable_by(|&a, &b| {
                    records[a as usize]
                        .rdata
                        .cmp(&records[b as usize].rdata)
                        .then(a.cmp(&b))
                });
                for pair in by_rdata.windows(2) {
                    if records[pair[0] as usize].rdata == records[pair[1] as usize].rdata {
                        keep[pair[1] as usize] = false;
                    }
                }
            }
        }
    }
    ttl_fixes.sort_unstable();
    for (i, ttl) in ttl_fixes {
        let r = &mut records[i as usize];
        let message = format!(
            "TTL {} differs from the TTL {ttl} of the {} {} RRset; using {ttl}",
            r.ttl,
            r.owner,
            type_name(r.rtype)
        );
        warnings.push(problem(r.location.clone(), message));
        r.ttl = ttl;
    }
    drop_occluded(&records, &groups, origin, &mut keep, warnings);
    check_cname_dname(&records, &groups, &keep, origin, errors);
    drop(groups);
    // retain visits each record once, in order; nothing moves before the
    // first record dropped.
    let mut kept = keep.into_iter();
    records.retain(|_| kept.next().unwrap_or(true));
    records
}

/// Marks data hidden by a delegation (except A/AAAA glue) or by a DNAME as
/// not kept, with a warning.
fn drop_occluded(
    records: &[Record],
    groups: &Groups,
    origin: &Name,
    keep: &mut [bool],
    warnings: &mut Vec<ZoneError>,
) {
    let mut cuts: HashSet<Box<[u8]>> = HashSet::new();
    let mut dnames: HashSet<Box<[u8]>> = HashSet::new();
    for group in groups.iter() {
        let owner = &records[group[0] as usize].owner;
        let has = |t: u16| {
            group
                .iter()
                .any(|&i| keep[i as usize] && records[i as usize].rtype == t)
        };
        if has(NS) && owner != origin {
            cuts.insert(owner.lowercase_wire());
        }
        if has(DNAME) {
            dnames.insert(owner.lowercase_wire());
        }
    }
    if cuts.is_empty() && dnames.is_empty() {
        return;
    }
    let apex_len = origin.wire_len();
    let mut hidden: Vec<(u32, String)> = Vec::new();
    let mut buf = [0u8; MAX_NAME_LEN];
    for group in groups.iter() {
        let owner = records[group[0] as usize].owner.as_wire();
        let lower = lowercase_into(owner, &mut buf);
        let at_cut = cuts.contains(lower);
        // The highest cut and DNAME above the owner and below the apex, by
        // the offset where they start in the owner's wire form.
        let mut cut_above = None;
        let mut dname_above = None;
        let mut at = 0;
        loop {
            at += 1 + lower[at] as usize;
            if lower.len() - at <= apex_len {
                break;
            }
            if cuts.contains(&lower[at..]) {
                cut_above = Some(at);
            }
            if dnames.contains(&lower[at..]) {
                dname_above = Some(at);
            }
        }
        if !at_cut && cut_above.is_none() && dname_above.is_none() {
            continue;
        }
        for &i in group.iter().filter(|&&i| keep[i as usize]) {
            let r = &records[i as usize];
            let glue = matches!(r.rtype, A | AAAA);
            let name_at = |offset: usize| {
                Name::from_wire(&r.owner.as_wire()[offset..]).expect("a suffix of a name")
            };
            // As a walk up from the owner finds it: the highest ancestor that
            // hides the record wins, a DNAME over a cut at the same name; a
            // cut hides no glue.
            let by = match (dname_above, cut_above.filter(|_| !glue)) {
                (Some(dname), cut) if cut.is_none_or(|cut| dname >= cut) => {
                    Some(format!("the DNAME at {}", name_at(dname)))
                }
                (_, Some(cut)) => Some(format!("the delegation at {}", name_at(cut))),
                _ if at_cut && !glue && !matches!(r.rtype, NS | DS | NSEC | RRSIG) => {
                    Some(format!("the delegation at {}", r.owner))
                }
                _ => None,
            };
            if let Some(by) = by {
                hidden.push((i, by));
            }
        }
    }
    hidden.sort_unstable();
    for (i, by) in hidden {
        let r = &records[i as usize];
        keep[i as usize] = false;
        let message = format!(
            "{} {} is occluded by {by}; ignored",
            r.owner,
            type_name(r.rtype)
        );
        warnings.push(problem(r.location.clone(), message));
    }
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

fn check_cname_dname(
    records: &[Record],
    groups: &Groups,
    keep: &[bool],
    origin: &Name,
    errors: &mut Vec<ZoneError>,
) {
    let mut group: Vec<&Record> = Vec::new();
    for indices in groups.iter() {
        // Only owners with a CNAME or DNAME have rules to break.
        group.clear();
        group.extend(
            indices
                .iter()
                .filter(|&&i| keep[i as usize])
                .map(|&i| &records[i as usize]),
        );
        if !group.iter().any(|r| matches!(r.rtype, CNAME | DNAME)) {
            continue;
        }
        for (at, r) in group.iter().enumerate() {
            let earlier = &group[..at];
            match r.rtype {
                CNAME if r.owner == *origin => {
                    let message = format!("CNAME at the zone apex {origin} is not allowed");
                    errors.push(problem(r.location.clone(), message));
                }
                CNAME if health_sets::is_cname_set(&group) => {}
                CNAME | DNAME if earlier.iter().any(|o| o.rtype == r.rtype) => {
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
                column: 0,
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
            column: 0,
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
