//! The immutable answer table.

use std::collections::HashMap;
use std::sync::Arc;

use super::dynamic::Dynamic;
use crate::config::Check;
use crate::health::{Board, TargetKey};
use crate::name::Name;
use crate::wire::RdataLayout;

/// All served zones, keyed by the lower-cased wire form of their apex, and
/// the health targets their dynamic sets depend on.
#[derive(Debug)]
pub struct Table {
    pub(super) zones: HashMap<Box<[u8]>, ZoneData>,
    /// The targets' slots: serving state written by the probe loops while
    /// this table is published (atomics), shared with them (`Arc`s).
    pub(super) board: Board,
    /// The targets, by board index.
    pub(super) targets: Box<[Target]>,
}

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

impl Table {
    /// A table that serves nothing.
    pub fn empty() -> Table {
        Table {
            zones: HashMap::new(),
            board: Board::default(),
            targets: Box::new([]),
        }
    }

    /// The targets' slots.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The targets, by board index.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }
}

/// One zone's nodes.
#[derive(Debug)]
pub struct ZoneData {
    /// The apex name.
    pub apex: Name,
    /// Labels in the apex name.
    pub(super) apex_labels: usize,
    /// Every owner name and every empty non-terminal, by lower-cased wire name.
    pub(super) nodes: HashMap<Box<[u8]>, Node>,
    /// The SOA as it goes into negative answers: TTL = min(SOA TTL, MINIMUM)
    /// (RFC 2308 §3).
    pub(super) negative_soa: RRset,
    /// This zone's query counters (the same across reloads).
    pub(super) counters: Arc<crate::metrics::QueryCounters>,
}

impl ZoneData {
    /// The node for a lower-cased wire name.
    pub fn node(&self, key: &[u8]) -> Option<&Node> {
        self.nodes.get(key)
    }
}

/// One name in a zone.
#[derive(Debug)]
pub struct Node {
    /// The owner name as written in the zone (case kept).
    pub name: Name,
    /// RRsets at this name; empty for an empty non-terminal.
    pub rrsets: Box<[RRset]>,
    /// True when this is a delegation point (NS below the apex).
    pub cut: bool,
}

impl Node {
    /// The RRset of one type.
    pub fn rrset(&self, rr_type: u16) -> Option<&RRset> {
        self.rrsets.iter().find(|set| set.rr_type == rr_type)
    }
}

/// Records of one owner and type.
#[derive(Debug, Clone)]
pub struct RRset {
    /// The type.
    pub rr_type: u16,
    /// The TTL every member is sent with.
    pub ttl: u32,
    /// Where RDATA names may be compressed.
    pub layout: RdataLayout,
    /// Member RDATA, wire format.
    pub rdatas: Box<[Box<[u8]>]>,
    /// For NS, MX and SRV: the lower-cased target names whose addresses go
    /// into the additional section (RFC 1035 §3.3.9, RFC 2782).
    pub targets: Box<[Box<[u8]>]>,
    /// For health-aware sets: how members are chosen per query.
    pub dynamic: Option<Box<Dynamic>>,
}
