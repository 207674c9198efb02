//! Building the answer table from validated zones.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::dynamic::{self, Dynamic, Member};
use super::table::{Node, RRset, Table, Target, ZoneData};
use crate::config::Checks;
use crate::health::{Board, Slot, TargetKey, target};
use crate::name::{Name, wire_name_len};
use crate::wire::{RdataLayout, rtype};
use crate::zone::{AllDown, Policy, Record, Zone};

/// Members a multivalue answer has when the set sets no `max`.
pub const DEFAULT_MULTIVALUE_MAX: usize = 8;

/// Builds the table for a set of validated zones and the checks their
/// annotations name, with fresh slots for every target.
///
/// Zones are trusted to have passed [`crate::zone::load`]'s checks and
/// [`crate::load`]'s cross-references; a zone without SOA is skipped, a
/// member naming an unknown check counts as always healthy.
pub fn build(zones: &[Zone], checks: &Checks) -> Table {
    build_with(zones, checks, &HashMap::new())
}

/// [`build`], reusing the slots of targets that already exist (a reload), so
/// their state, counters and overrides carry over.
pub fn build_with(
    zones: &[Zone],
    checks: &Checks,
    existing: &HashMap<TargetKey, Arc<Slot>>,
) -> Table {
    let mut builder = Builder {
        checks,
        existing,
        slots: Vec::new(),
        targets: Vec::new(),
        index: HashMap::new(),
    };
    let mut zone_map = HashMap::new();
    for zone in zones {
        if let Some(data) = builder.zone(zone) {
            zone_map.insert(zone.origin.lowercase_wire(), data);
        }
    }
    Table {
        zones: zone_map,
        board: Board::from_slots(builder.slots),
        targets: builder.targets.into(),
    }
}

struct Builder<'c> {
    checks: &'c Checks,
    existing: &'c HashMap<TargetKey, Arc<Slot>>,
    slots: Vec<Arc<Slot>>,
    targets: Vec<Target>,
    index: HashMap<TargetKey, u32>,
}

impl Builder<'_> {
    fn zone(&mut self, zone: &Zone) -> Option<ZoneData> {
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
                .map(|(&rr_type, records)| self.rrset(owner, rr_type, records))
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
            counters: crate::metrics::global().zone(&zone.origin),
        })
    }

    fn rrset(&mut self, owner: &Name, rr_type: u16, records: &[&Record]) -> RRset {
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
            layout: RdataLayout::for_type(rr_type),
            rdatas: records.iter().map(|record| record.rdata.clone()).collect(),
            targets,
            dynamic: self.dynamic(owner, rr_type, records).map(Box::new),
        }
    }

    /// The rules of an annotated set (zone validation made the members agree).
    fn dynamic(&mut self, owner: &Name, rr_type: u16, records: &[&Record]) -> Option<Dynamic> {
        let set_name = format!("{owner} {}", crate::zone::rdata::type_name(rr_type));
        let first = records.first()?.health.as_ref()?;
        let kind = match first.policy {
            Policy::Failover(_) => dynamic::Kind::Failover,
            Policy::Multivalue => dynamic::Kind::Multivalue,
            Policy::Weighted(_) => dynamic::Kind::Weighted,
        };
        let mut members: Vec<Member> = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate().take(dynamic::MAX_MEMBERS) {
            let Some(health) = &record.health else {
                continue;
            };
            let rank = match health.policy {
                Policy::Failover(tier) => tier,
                Policy::Weighted(weight) => weight,
                Policy::Multivalue => 0,
            };
            let target = target::for_record(record, health, self.checks)
                .map(|key| self.intern(key, &set_name));
            members.push(Member {
                rdata: i as u16,
                target,
                rank,
            });
        }
        if kind == dynamic::Kind::Failover {
            members.sort_by_key(|member| member.rank);
        }
        let annotations = records.iter().filter_map(|r| r.health.as_ref());
        let max = annotations.clone().find_map(|a| a.max).map(usize::from);
        let max = match (rr_type, kind) {
            // One alias at a time: several CNAMEs at a name are no answer.
            (rtype::CNAME, _) => 1,
            (_, dynamic::Kind::Multivalue) => max.unwrap_or(DEFAULT_MULTIVALUE_MAX),
            _ => max.unwrap_or(dynamic::MAX_ANSWER),
        };
        let all_down = annotations
            .clone()
            .find_map(|a| a.all_down)
            .unwrap_or(match kind {
                dynamic::Kind::Failover => AllDown::First,
                _ => AllDown::All,
            });
        Some(Dynamic {
            kind,
            members: members.into(),
            max: max.min(dynamic::MAX_ANSWER),
            all_down,
            ttl: annotations
                .clone()
                .find_map(|a| a.ttl)
                .unwrap_or(records[0].ttl),
        })
    }

    fn intern(&mut self, key: TargetKey, set_name: &str) -> u32 {
        if let Some(&index) = self.index.get(&key) {
            let sets = &mut self.targets[index as usize].record_sets;
            if !sets.iter().any(|s| s == set_name) {
                sets.push(set_name.to_owned());
            }
            return index;
        }
        let index = self.targets.len() as u32;
        let check = self.checks[&key.check].clone();
        let slot = match self.existing.get(&key) {
            Some(slot) => slot.clone(),
            None => Arc::new(Slot::new(check.initial)),
        };
        self.index.insert(key.clone(), index);
        self.slots.push(slot);
        self.targets.push(Target {
            key,
            check,
            record_sets: vec![set_name.to_owned()],
        });
        index
    }
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
