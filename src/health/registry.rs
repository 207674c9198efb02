//! The targets health owns: one per distinct (address, port, check) that an
//! annotated record names, each with its [`Slot`], numbered for the answer
//! table.
//!
//! # Design
//! Health hands out the index space, as gdnsd's monitor does: the answer
//! builder asks [`Registry::index_of`] for a member's target and never
//! creates health state. A reload builds a new registry with
//! [`Registry::renew`], which gives every target that still exists its old
//! slot, so its state, counters and operator overrides carry over.

use std::collections::HashMap;
use std::sync::Arc;

use super::board::Board;
use super::slot::Slot;
use super::target::{self, TargetKey};
use crate::config::{Check, Checks};
use crate::name::{MAX_NAME_LEN, lowercase_into};
use crate::zone::{Record, Zone};

/// A target to probe, with the check that probes it.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its identity.
    pub key: TargetKey,
    /// How to probe it.
    pub check: Arc<Check>,
    /// The record sets that use it, as `NAME TYPE`.
    pub record_sets: Vec<String>,
}

/// Every target of a set of zones, by index, with their slots.
#[derive(Debug, Default)]
pub struct Registry {
    targets: Box<[Target]>,
    board: Board,
    index: HashMap<TargetKey, u32>,
    checks: Checks,
}

impl Registry {
    /// The targets of `zones` with fresh slots.
    pub fn new(zones: &[Zone], checks: &Checks) -> Registry {
        Registry::default().renew(zones, checks)
    }

    /// The targets of `zones`, keeping this registry's slot for each target
    /// that it has too.
    ///
    /// Targets are numbered as the answer table meets them: zone by zone,
    /// owner names in order of first appearance, types in ascending order,
    /// members in file order.
    pub fn renew(&self, zones: &[Zone], checks: &Checks) -> Registry {
        let mut next = Registry {
            checks: checks.clone(),
            ..Registry::default()
        };
        let mut targets: Vec<Target> = Vec::new();
        let mut slots: Vec<Arc<Slot>> = Vec::new();
        for zone in zones {
            for record in in_table_order(&zone.records) {
                let Some(key) = next.key_of(record) else {
                    continue;
                };
                let set = format!(
                    "{} {}",
                    record.owner,
                    crate::zone::rdata::type_name(record.rtype)
                );
                if let Some(&i) = next.index.get(&key) {
                    let sets = &mut targets[i as usize].record_sets;
                    if !sets.contains(&set) {
                        sets.push(set);
                    }
                    continue;
                }
                let check = checks[&key.check].clone();
                let slot = match self.index.get(&key) {
                    Some(&old) => self.board.slot(old).expect("a slot per target").clone(),
                    None => Arc::new(Slot::new(check.initial)),
                };
                next.index.insert(key.clone(), targets.len() as u32);
                slots.push(slot);
                targets.push(Target {
                    key,
                    check,
                    record_sets: vec![set],
                });
            }
        }
        next.targets = targets.into();
        next.board = Board::from_slots(slots);
        next
    }

    /// The index of the target that decides `record`'s health; `None` for
    /// a record without a check (always healthy).
    pub fn index_of(&self, record: &Record) -> Option<u32> {
        self.index.get(&self.key_of(record)?).copied()
    }

    fn key_of(&self, record: &Record) -> Option<TargetKey> {
        target::for_record(record, record.health.as_deref()?, &self.checks)
    }

    /// The targets, by index.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The targets' slots, by index.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The slot and target of each index.
    pub fn iter(&self) -> impl Iterator<Item = (&Target, &Arc<Slot>)> {
        self.targets
            .iter()
            .enumerate()
            .filter_map(|(i, target)| Some((target, self.board.slot(i as u32)?)))
    }
}

/// The annotated records of a zone in the order the answer table numbers
/// its sets: owners by first appearance, then type, then file order.
fn in_table_order(records: &[Record]) -> Vec<&Record> {
    // Owners of annotated records (few), numbered by first appearance
    // among all records; most zones have none and skip the second pass.
    let mut owners: HashMap<Box<[u8]>, usize> = records
        .iter()
        .filter(|record| record.health.is_some())
        .map(|record| (record.owner.lowercase_wire(), usize::MAX))
        .collect();
    if owners.is_empty() {
        return Vec::new();
    }
    let mut seen = 0;
    let mut buffer = [0u8; MAX_NAME_LEN];
    for record in records {
        let lower = lowercase_into(record.owner.as_wire(), &mut buffer);
        if let Some(first) = owners.get_mut(lower)
            && *first == usize::MAX
        {
            *first = seen;
            seen += 1;
            if seen == owners.len() {
                break;
            }
        }
    }
    let mut annotated: Vec<(usize, u16, &Record)> = records
        .iter()
        .filter(|record| record.health.is_some())
        .map(|record| (owners[&record.owner.lowercase_wire()], record.rtype, record))
        .collect();
    // Stable: members of one set stay in file order.
    annotated.sort_by_key(|&(owner, rr_type, _)| (owner, rr_type));
    annotated.into_iter().map(|(_, _, record)| record).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Health;

    fn zone(text: &str) -> (Vec<Zone>, Checks) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.zone");
        std::fs::write(&path, text).unwrap();
        let zone = crate::zone::load(&path, None).unwrap().zone;
        let config = crate::config::parse(
            std::path::Path::new("t.toml"),
            "[check.web]\ntype = \"tcp\"\nport = 80\n[check.alt]\ntype = \"tcp\"\nport = 81\n",
        )
        .unwrap();
        (vec![zone], config.checks)
    }

    const ZONE: &str = "$ORIGIN r.test.\n$TTL 60\n\
        @ IN SOA ns hostmaster 1 2 3 4 5\n@ IN NS ns\nns IN A 192.0.2.53\n\
        b IN A 192.0.2.2 ; healthdns failover=primary check=web\n\
        a IN A 192.0.2.1 ; healthdns failover=primary check=web\n\
        a IN A 192.0.2.2 ; healthdns failover=secondary check=web\n\
        b IN A 192.0.2.3 ; healthdns failover=secondary\n";

    #[test]
    fn one_target_per_address_port_and_check_with_its_sets() {
        let (zones, checks) = zone(ZONE);
        let registry = Registry::new(&zones, &checks);
        let keys: Vec<String> = registry
            .targets()
            .iter()
            .map(|t| t.key.to_string())
            .collect();
        assert_eq!(keys, ["192.0.2.2:80/web", "192.0.2.1:80/web"]);
        assert_eq!(
            registry.targets()[0].record_sets,
            ["b.r.test. A", "a.r.test. A"]
        );
        let unchecked = &zones[0].records[6];
        assert_eq!(registry.index_of(unchecked), None, "no check: no target");
        assert_eq!(registry.index_of(&zones[0].records[5]), Some(0));
        assert_eq!(registry.index_of(&zones[0].records[4]), Some(1));
    }

    #[test]
    fn renewing_keeps_the_slots_of_targets_that_remain() {
        let (zones, checks) = zone(ZONE);
        let old = Registry::new(&zones, &checks);
        let kept = old.board().slot(1).unwrap().clone();
        kept.publish(crate::health::slot::Standing::Out);
        let (fewer, _) = zone(&ZONE.replace("a IN A 192.0.2.2", "a IN A 192.0.2.9"));
        let new = old.renew(&fewer, &checks);
        let index = new
            .targets()
            .iter()
            .position(|t| t.key.host == "192.0.2.1")
            .unwrap();
        assert!(Arc::ptr_eq(new.board().slot(index as u32).unwrap(), &kept));
        let fresh = new
            .targets()
            .iter()
            .position(|t| t.key.host == "192.0.2.9")
            .unwrap();
        assert_eq!(
            new.board()
                .slot(fresh as u32)
                .unwrap()
                .detail()
                .state
                .health(),
            Health::Up
        );
    }
}
