//! Building the answer table from validated zones.

use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::dynamic::{self, Dynamic, Member};
use super::table::{ApexLengths, NOT_DYNAMIC, NodeEntry, RRsetEntry, Table, ZoneData, hash_key};
use crate::config::Checks;
use crate::groups::Groups;
use crate::health::Registry;
use crate::metrics::Metrics;
use crate::name::MAX_NAME_LEN;
use crate::wire::rtype;
use crate::zone::{AllDown, Policy, Record, Zone};

/// Members a multivalue answer has when the set sets no `max`.
pub(super) const DEFAULT_MULTIVALUE_MAX: usize = 8;

/// Builds the table for a set of validated zones and the checks their
/// annotations name, with fresh health state for every target and query
/// counters of its own (for tests, benches and tools; the server uses
/// [`build_with`]).
///
/// Zones are trusted to have passed [`crate::zone::load`]'s checks and
/// [`crate::catalog`]'s cross-references; a zone without SOA is skipped, a
/// member naming an unknown check counts as always healthy.
pub fn build(zones: &[Zone], checks: &Checks) -> Table {
    let health = Arc::new(Registry::new(zones, checks));
    build_with(zones, health, &Metrics::default())
}

/// Builds the table for `zones`, whose members' health the targets of
/// `health` decide (see [`Registry`]), counting queries into `metrics`.
pub fn build_with(zones: &[Zone], health: Arc<Registry>, metrics: &Metrics) -> Table {
    let builder = Builder {
        health: &health,
        metrics,
    };
    let mut zone_map = hashbrown::HashMap::default();
    for zone in zones {
        if let Some(data) = builder.zone(zone) {
            zone_map.insert(zone.origin.lowercase_wire(), data);
        }
    }
    Table {
        apex_lengths: ApexLengths::of(zone_map.keys().map(|apex| &apex[..])),
        zones: zone_map,
        board: health.board().clone(),
        health,
        unzoned: metrics.unzoned.clone(),
        generation: Table::next_generation(),
    }
}

struct Builder<'b> {
    health: &'b Registry,
    metrics: &'b Metrics,
}

impl Builder<'_> {
    fn zone(&self, zone: &Zone) -> Option<ZoneData> {
        let records = &zone.records;
        let mut flat = Flat::default();
        let apex_key = zone.origin.lowercase_wire();

        // One node per owner, numbered in order of first appearance.
        let mut node_of: Vec<u32> = Vec::with_capacity(records.len());
        for record in records {
            node_of.push(flat.intern(record.owner.as_wire()));
        }
        let owners = flat.nodes.len();
        // Empty non-terminals between each owner and the apex (RFC 4592
        // §2.2.2): suffixes of names already in the arena.
        for id in 0..owners {
            flat.add_ancestors(id, apex_key.len());
        }

        // Records grouped by node, each group in file order.
        let groups = Groups::by_key(&node_of, owners);
        drop(node_of);

        let apex_node = flat.find(&apex_key)?;
        let mut by_type: Vec<(u16, u32)> = Vec::new();
        let mut members: Vec<&Record> = Vec::new();
        for id in 0..owners {
            by_type.clear();
            by_type.extend(
                groups
                    .get(id)
                    .iter()
                    .map(|&i| (records[i as usize].rtype, i)),
            );
            by_type.sort_by_key(|&(rr_type, _)| rr_type);
            let first = flat.rrsets.len() as u32;
            for group in by_type.chunk_by(|a, b| a.0 == b.0) {
                members.clear();
                members.extend(group.iter().map(|&(_, i)| &records[i as usize]));
                let dynamic = self.dynamic(group[0].0, &members);
                if dynamic.is_some() {
                    flat.dynamic_sets
                        .push((id as u32, flat.rrsets.len() as u32));
                }
                flat.push_rrset(&members, dynamic);
            }
            let node = &mut flat.nodes[id];
            node.rrsets = first;
            node.rrset_count = flat.rrsets.len() as u32 - first;
            node.cut = id as u32 != apex_node
                && flat.rrsets[first as usize..]
                    .iter()
                    .any(|set| set.rr_type == rtype::NS);
        }

        let apex = flat.nodes[apex_node as usize];
        let soa = *flat.rrsets[apex.rrsets as usize..][..apex.rrset_count as usize]
            .iter()
            .find(|set| set.rr_type == rtype::SOA)?;
        let soa_rdata = flat.rdata(&soa, 0);
        let minimum = soa_rdata
            .last_chunk::<4>()
            .map_or(0, |bytes| u32::from_be_bytes(*bytes));
        let negative_soa = RRsetEntry {
            ttl: soa.ttl.min(minimum),
            dynamic: NOT_DYNAMIC,
            ..soa
        };
        Some(ZoneData {
            apex: zone.origin.clone(),
            apex_labels: zone.origin.label_count(),
            apex_node,
            bytes: flat.bytes.into(),
            nodes: flat.nodes.into(),
            rrsets: flat.rrsets.into(),
            rdatas: flat.rdatas.into(),
            dynamics: flat.dynamics.into(),
            dynamic_sets: flat.dynamic_sets.into(),
            index: flat.index,
            hasher: flat.hasher,
            negative_soa,
            counters: self.metrics.zone(&zone.origin),
        })
    }

    /// The rules of an annotated set (zone validation made the members agree).
    fn dynamic(&self, rr_type: u16, records: &[&Record]) -> Option<Dynamic> {
        let first = records.first()?.health.as_ref()?;
        let policy = first.policy;
        let mut members: Vec<Member> = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate().take(dynamic::MAX_MEMBERS) {
            let Some(health) = &record.health else {
                continue;
            };
            members.push(Member {
                rdata: i as u16,
                target: self.health.index_of(record),
                rank: health.rank,
            });
        }
        if policy == Policy::Failover {
            members.sort_by_key(|member| member.rank);
        }
        let annotations = records.iter().filter_map(|r| r.health.as_ref());
        let max = annotations.clone().find_map(|a| a.max).map(usize::from);
        let max = match (rr_type, policy) {
            // One alias at a time: several CNAMEs at a name are no answer.
            (rtype::CNAME, _) => 1,
            (_, Policy::Multivalue) => max.unwrap_or(DEFAULT_MULTIVALUE_MAX),
            _ => max.unwrap_or(dynamic::MAX_ANSWER),
        };
        let all_down = annotations
            .clone()
            .find_map(|a| a.all_down)
            .unwrap_or(match policy {
                Policy::Failover => AllDown::First,
                _ => AllDown::All,
            });
        Some(Dynamic {
            policy,
            members: members.into(),
            max: max.min(dynamic::MAX_ANSWER),
            all_down,
            ttl: annotations
                .clone()
                .find_map(|a| a.ttl)
                .unwrap_or(records[0].ttl),
        })
    }
}

/// A zone's arrays while they are filled (see [`ZoneData`]).
///
/// Offsets are `u32`: zone validation refuses zones whose names and RDATA
/// would not fit (see `zone::validate`).
#[derive(Default)]
struct Flat {
    bytes: Vec<u8>,
    nodes: Vec<NodeEntry>,
    rrsets: Vec<RRsetEntry>,
    rdatas: Vec<u32>,
    dynamics: Vec<Dynamic>,
    dynamic_sets: Vec<(u32, u32)>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Flat {
    fn key_of(&self, id: u32) -> &[u8] {
        let node = &self.nodes[id as usize];
        &self.bytes[node.key as usize..][..node.name_len as usize]
    }

    fn find(&self, key: &[u8]) -> Option<u32> {
        let hash = hash_key(&self.hasher, key);
        self.index.find(hash, |&id| self.key_of(id) == key).copied()
    }

    /// The node of an owner name (any case), added if new.
    fn intern(&mut self, wire: &[u8]) -> u32 {
        let mut buf = [0u8; MAX_NAME_LEN];
        let lower = crate::name::lowercase_into(wire, &mut buf);
        if let Some(id) = self.find(lower) {
            return id;
        }
        let name = self.bytes.len() as u32;
        self.bytes.extend_from_slice(wire);
        let key = if *lower == *wire {
            name
        } else {
            let key = self.bytes.len() as u32;
            self.bytes.extend_from_slice(lower);
            key
        };
        self.insert(NodeEntry {
            name,
            key,
            rrsets: 0,
            rrset_count: 0,
            name_len: wire.len() as u8,
            cut: false,
        })
    }

    fn insert(&mut self, node: NodeEntry) -> u32 {
        let id = self.nodes.len() as u32;
        self.nodes.push(node);
        let (bytes, nodes, hasher) = (&self.bytes, &self.nodes, &self.hasher);
        let key_of = |id: u32| {
            let node = &nodes[id as usize];
            &bytes[node.key as usize..][..node.name_len as usize]
        };
        let hash = hash_key(hasher, key_of(id));
        self.index
            .insert_unique(hash, id, |&id| hash_key(hasher, key_of(id)));
        id
    }

    /// Adds the missing ancestors of node `id` down to (not including) the
    /// apex, whose lower-cased wire name is `apex_len` bytes long.
    fn add_ancestors(&mut self, id: usize, apex_len: usize) {
        let node = self.nodes[id];
        let len = node.name_len as usize;
        let mut skip = 0;
        loop {
            skip += 1 + self.bytes[node.key as usize + skip] as usize;
            if len - skip <= apex_len {
                return;
            }
            let key = node.key as usize + skip;
            if self.find(&self.bytes[key..key + len - skip]).is_some() {
                return;
            }
            self.insert(NodeEntry {
                name: node.name + skip as u32,
                key: key as u32,
                rrsets: 0,
                rrset_count: 0,
                name_len: (len - skip) as u8,
                cut: false,
            });
        }
    }

    fn push_rrset(&mut self, members: &[&Record], dynamic: Option<Dynamic>) {
        let first = self.rdatas.len() as u32;
        for record in members {
            self.rdatas.push(self.bytes.len() as u32);
            self.bytes
                .extend_from_slice(&(record.rdata.len() as u16).to_be_bytes());
            self.bytes.extend_from_slice(&record.rdata);
        }
        let dynamic = match dynamic {
            Some(dynamic) => {
                self.dynamics.push(dynamic);
                self.dynamics.len() as u32 - 1
            }
            None => NOT_DYNAMIC,
        };
        self.rrsets.push(RRsetEntry {
            rdatas: first,
            count: members.len() as u32,
            ttl: members[0].ttl,
            dynamic,
            rr_type: members[0].rtype,
        });
    }

    fn rdata(&self, set: &RRsetEntry, i: usize) -> &[u8] {
        let at = self.rdatas[set.rdatas as usize + i] as usize;
        let len = u16::from_be_bytes([self.bytes[at], self.bytes[at + 1]]) as usize;
        &self.bytes[at + 2..at + 2 + len]
    }
}
