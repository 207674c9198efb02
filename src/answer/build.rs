//! Building the answer table from validated zones.

use std::collections::{BTreeMap, HashMap};

use super::table::{Node, RRset, Table, ZoneData};
use crate::name::{Name, wire_name_len};
use crate::wire::{RdataLayout, rtype};
use crate::zone::{Record, Zone};

/// Builds the table for a set of validated zones.
///
/// Zones are trusted to have passed [`crate::zone::load`]'s checks (one SOA at
/// the apex, apex NS, all data inside the zone); a zone without SOA is skipped.
pub fn build(zones: &[Zone]) -> Table {
    let mut table = Table::default();
    for zone in zones {
        if let Some(data) = build_zone(zone) {
            table.zones.insert(zone.origin.lowercase_wire(), data);
        }
    }
    table
}

fn build_zone(zone: &Zone) -> Option<ZoneData> {
    // Group by owner, then type, keeping file order inside an RRset.
    let mut owners: BTreeMap<Name, BTreeMap<u16, Vec<&Record>>> = BTreeMap::new();
    for record in &zone.records {
        owners
            .entry(record.owner.clone())
            .or_default()
            .entry(record.rtype)
            .or_default()
            .push(record);
    }
    let apex_key = zone.origin.lowercase_wire();
    let mut nodes: HashMap<Box<[u8]>, Node> = HashMap::with_capacity(owners.len() * 2);
    for (owner, by_type) in &owners {
        let rrsets: Box<[RRset]> = by_type
            .iter()
            .map(|(&rr_type, records)| rrset(rr_type, records))
            .collect();
        let key = owner.lowercase_wire();
        let cut = key != apex_key && rrsets.iter().any(|set| set.rr_type == rtype::NS);
        add_empty_ancestors(&mut nodes, owner, &zone.origin);
        nodes.insert(
            key,
            Node {
                name: owner.clone(),
                rrsets,
                cut,
            },
        );
    }
    let apex = nodes.get(&apex_key)?;
    let soa = apex.rrset(rtype::SOA)?;
    let minimum = soa.rdatas[0]
        .last_chunk::<4>()
        .map_or(0, |bytes| u32::from_be_bytes(*bytes));
    let negative_soa = RRset {
        ttl: soa.ttl.min(minimum),
        ..soa.clone()
    };
    Some(ZoneData {
        apex: zone.origin.clone(),
        apex_labels: zone.origin.label_count(),
        nodes,
        negative_soa,
    })
}

/// Inserts empty non-terminals between `owner` and `apex` (RFC 4592 §2.2.2).
fn add_empty_ancestors(nodes: &mut HashMap<Box<[u8]>, Node>, owner: &Name, apex: &Name) {
    let mut name = owner.parent();
    while let Some(ancestor) = name {
        if !ancestor.is_subdomain_of(apex) {
            break;
        }
        let key = ancestor.lowercase_wire();
        if nodes.contains_key(&key) {
            break;
        }
        name = ancestor.parent();
        nodes.insert(
            key,
            Node {
                name: ancestor,
                rrsets: Box::new([]),
                cut: false,
            },
        );
    }
}

fn rrset(rr_type: u16, records: &[&Record]) -> RRset {
    let layout = RdataLayout::for_type(rr_type);
    let target_offset = match rr_type {
        rtype::NS => Some(0),
        rtype::MX => Some(2),
        rtype::SRV => Some(6),
        _ => None,
    };
    let targets = target_offset
        .map(|offset| {
            records
                .iter()
                .filter_map(|record| {
                    let name = record.rdata.get(offset..)?;
                    let len = wire_name_len(name)?;
                    Some(name[..len].to_ascii_lowercase().into_boxed_slice())
                })
                .collect()
        })
        .unwrap_or_default();
    RRset {
        rr_type,
        ttl: records[0].ttl,
        layout,
        rdatas: records.iter().map(|record| record.rdata.clone()).collect(),
        targets,
    }
}
