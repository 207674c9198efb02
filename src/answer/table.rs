//! The immutable answer table.
//!
//! # Design
//!
//! A zone of a million names must load in a second or two and take less
//! memory than NSD, so a zone is not a tree of boxes but a few flat arrays
//! (see [`ZoneData`]): one byte arena for every owner name and RDATA, arrays
//! of fixed-size node and RRset entries pointing into it by offset, and a
//! hash index of node numbers keyed by lower-cased wire names. A lookup
//! hashes the lower-cased query name once per label it tries and compares
//! bytes in the arena; nothing is allocated. The answer path sees the data
//! through the [`Node`] and [`RRset`] views, which are two references each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use super::dynamic::Dynamic;
use crate::health::{Board, Registry, Target};
use crate::metrics::QueryCounters;
use crate::name::Name;
use crate::wire::{RdataLayout, rtype};

/// All served zones, keyed by the lower-cased wire form of their apex, and
/// the health targets their dynamic sets depend on.
#[derive(Debug)]
pub struct Table {
    pub(super) zones: HashMap<Box<[u8]>, ZoneData>,
    /// The wire lengths of the apexes in `zones`: a query name's suffix of
    /// any other length names no zone, so it is not hashed.
    pub(super) apex_lengths: ApexLengths,
    /// The targets' slots: serving state written by the probe loops while
    /// this table is published (atomics), shared with them (`Arc`s). A copy
    /// of `health`'s board, one pointer nearer the answer path.
    pub(super) board: Board,
    /// The targets its dynamic sets' members name, by board index.
    pub(super) health: Arc<Registry>,
    /// Where queries for names in no zone, and malformed ones, are counted.
    pub(super) unzoned: Arc<QueryCounters>,
    /// Unique to this table among all built in this process ([`Table::next_generation`]):
    /// what a worker's [`super::Cache`] holds of another table is not this one's.
    pub(super) generation: u64,
}

/// A set of name lengths (1 to 255 bytes), one bit each.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ApexLengths([u64; 4]);

impl ApexLengths {
    /// The lengths of `names`.
    pub(super) fn of<'n>(names: impl IntoIterator<Item = &'n [u8]>) -> ApexLengths {
        let mut set = ApexLengths::default();
        for name in names {
            let len = name.len().min(255);
            set.0[len / 64] |= 1 << (len % 64);
        }
        set
    }

    /// True when some name of the set is `len` bytes long.
    pub(super) fn contains(&self, len: usize) -> bool {
        len <= 255 && self.0[len / 64] & (1 << (len % 64)) != 0
    }
}

impl Table {
    /// A table that serves nothing.
    pub fn empty() -> Table {
        Table {
            zones: HashMap::default(),
            apex_lengths: ApexLengths::default(),
            board: Board::default(),
            health: Arc::default(),
            unzoned: Arc::default(),
            generation: Table::next_generation(),
        }
    }

    /// A generation no table has had yet (never 0, which marks an empty
    /// cache entry). An address would not do: a new table may be allocated
    /// where a dropped one was.
    pub(super) fn next_generation() -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }

    /// The targets' slots.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The targets, by board index.
    pub fn targets(&self) -> &[Target] {
        self.health.targets()
    }

    /// The targets and their slots: what health owns of this table.
    pub fn health(&self) -> &Arc<Registry> {
        &self.health
    }
}

/// One zone's names and records, flat.
#[derive(Debug)]
pub struct ZoneData {
    /// The apex name.
    pub apex: Name,
    /// Labels in the apex name.
    pub(super) apex_labels: usize,
    /// The apex's node number.
    pub(super) apex_node: u32,
    /// Owner names (as written, and lower-cased where that differs) and
    /// RDATA, each RDATA preceded by its length as a big-endian `u16`.
    pub(super) bytes: Box<[u8]>,
    /// Every owner name and every empty non-terminal.
    pub(super) nodes: Box<[NodeEntry]>,
    /// Every RRset; a node's are contiguous and sorted by type.
    pub(super) rrsets: Box<[RRsetEntry]>,
    /// Where each RDATA starts in `bytes`; an RRset's are contiguous.
    pub(super) rdatas: Box<[u32]>,
    /// The rules of the health-aware sets.
    pub(super) dynamics: Box<[Dynamic]>,
    /// Where the health-aware sets are: (node, RRset) numbers, so views
    /// need not walk every node.
    pub(super) dynamic_sets: Box<[(u32, u32)]>,
    /// Node numbers by lower-cased wire name.
    pub(super) index: HashTable<u32>,
    pub(super) hasher: DefaultHashBuilder,
    /// The SOA as it goes into negative answers: TTL = min(SOA TTL, MINIMUM)
    /// (RFC 2308 §3).
    pub(super) negative_soa: RRsetEntry,
    /// This zone's query counters (the same across reloads).
    pub(super) counters: Arc<QueryCounters>,
}

/// A node: where its names and RRsets are.
#[derive(Debug, Clone, Copy)]
pub(super) struct NodeEntry {
    /// Offset of the owner name as written.
    pub(super) name: u32,
    /// Offset of the lower-cased name (the same when it has no capitals).
    pub(super) key: u32,
    /// Index of its first RRset.
    pub(super) rrsets: u32,
    /// How many RRsets; 0 for an empty non-terminal.
    pub(super) rrset_count: u32,
    /// Length of both names.
    pub(super) name_len: u8,
    /// True when this is a delegation point (NS below the apex).
    pub(super) cut: bool,
}

/// An RRset: its type, TTL and where its RDATA are.
#[derive(Debug, Clone, Copy)]
pub(super) struct RRsetEntry {
    /// Index of its first RDATA offset in `rdatas`.
    pub(super) rdatas: u32,
    /// How many records.
    pub(super) count: u32,
    /// The TTL every member is sent with.
    pub(super) ttl: u32,
    /// Index in `dynamics`, or [`NOT_DYNAMIC`].
    pub(super) dynamic: u32,
    /// The type.
    pub(super) rr_type: u16,
}

/// [`RRsetEntry::dynamic`] of a static set.
pub(super) const NOT_DYNAMIC: u32 = u32::MAX;

/// The hash of a lower-cased wire name in a zone's index.
pub(super) fn hash_key(hasher: &DefaultHashBuilder, key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    hasher.hash_one(key)
}

impl ZoneData {
    /// The node for a lower-cased wire name.
    pub fn node(&self, key: &[u8]) -> Option<Node<'_>> {
        let hash = hash_key(&self.hasher, key);
        let &id = self
            .index
            .find(hash, |&id| self.key_of(&self.nodes[id as usize]) == key)?;
        Some(self.node_at(id))
    }

    /// The apex node.
    pub(super) fn apex_node(&self) -> Node<'_> {
        self.node_at(self.apex_node)
    }

    /// Every node, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = Node<'_>> {
        self.nodes.iter().map(|entry| Node { zone: self, entry })
    }

    /// The health-aware sets and their nodes.
    pub(super) fn dynamic_sets(&self) -> impl Iterator<Item = (Node<'_>, RRset<'_>)> {
        self.dynamic_sets.iter().map(|&(node, rrset)| {
            let set = RRset {
                zone: self,
                entry: &self.rrsets[rrset as usize],
            };
            (self.node_at(node), set)
        })
    }

    /// The SOA for negative answers.
    pub(super) fn negative_soa(&self) -> RRset<'_> {
        RRset {
            zone: self,
            entry: &self.negative_soa,
        }
    }

    fn node_at(&self, id: u32) -> Node<'_> {
        Node {
            zone: self,
            entry: &self.nodes[id as usize],
        }
    }

    fn key_of(&self, entry: &NodeEntry) -> &[u8] {
        &self.bytes[entry.key as usize..][..entry.name_len as usize]
    }
}

/// One name in a zone (a view into its [`ZoneData`]).
#[derive(Debug, Clone, Copy)]
pub struct Node<'t> {
    zone: &'t ZoneData,
    entry: &'t NodeEntry,
}

impl<'t> Node<'t> {
    /// The owner name as written in the zone (case kept), wire format.
    pub fn name(&self) -> &'t [u8] {
        &self.zone.bytes[self.entry.name as usize..][..self.entry.name_len as usize]
    }

    /// True when this is a delegation point (NS below the apex).
    pub fn is_cut(&self) -> bool {
        self.entry.cut
    }

    /// True for an empty non-terminal.
    pub fn is_empty(&self) -> bool {
        self.entry.rrset_count == 0
    }

    /// The RRsets, by ascending type.
    pub fn rrsets(&self) -> impl Iterator<Item = RRset<'t>> + use<'t> {
        let zone = self.zone;
        let start = self.entry.rrsets as usize;
        zone.rrsets[start..start + self.entry.rrset_count as usize]
            .iter()
            .map(move |entry| RRset { zone, entry })
    }

    /// The RRset of one type.
    pub fn rrset(&self, rr_type: u16) -> Option<RRset<'t>> {
        self.rrsets().find(|set| set.rr_type() == rr_type)
    }
}

/// Records of one owner and type (a view into its [`ZoneData`]).
#[derive(Debug, Clone, Copy)]
pub struct RRset<'t> {
    zone: &'t ZoneData,
    entry: &'t RRsetEntry,
}

impl<'t> RRset<'t> {
    /// The type.
    pub fn rr_type(&self) -> u16 {
        self.entry.rr_type
    }

    /// The TTL every member is sent with.
    pub fn ttl(&self) -> u32 {
        self.entry.ttl
    }

    /// Where RDATA names may be compressed.
    pub fn layout(&self) -> RdataLayout {
        RdataLayout::for_type(self.entry.rr_type)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.entry.count as usize
    }

    /// True when the set has no records (never, for a built table).
    pub fn is_empty(&self) -> bool {
        self.entry.count == 0
    }

    /// The RDATA of member `i` (wire format, uncompressed).
    pub fn rdata(&self, i: usize) -> &'t [u8] {
        let bytes = &self.zone.bytes;
        let at = self.zone.rdatas[self.entry.rdatas as usize + i] as usize;
        let len = u16::from_be_bytes([bytes[at], bytes[at + 1]]) as usize;
        &bytes[at + 2..at + 2 + len]
    }

    /// Every member's RDATA, in file order.
    pub fn rdatas(&self) -> impl Iterator<Item = &'t [u8]> + use<'t> {
        let set = *self;
        (0..set.len()).map(move |i| set.rdata(i))
    }

    /// For health-aware sets: how members are chosen per query.
    pub fn dynamic(&self) -> Option<&'t Dynamic> {
        self.zone.dynamics.get(self.entry.dynamic as usize)
    }

    /// For NS, MX, SRV, SVCB and HTTPS: the name in member `i` whose
    /// addresses go into the additional section (RFC 1035 §3.3.9, RFC 2782,
    /// RFC 9460 §4.1: the TargetName of AliasMode and ServiceMode alike),
    /// case as written.
    pub fn target(&self, i: usize) -> Option<&'t [u8]> {
        let offset = match self.entry.rr_type {
            rtype::NS => 0,
            rtype::MX | rtype::SVCB | rtype::HTTPS => 2,
            rtype::SRV => 6,
            _ => return None,
        };
        let name = self.rdata(i).get(offset..)?;
        Some(&name[..crate::name::wire_name_len(name)?])
    }

    /// True for the types whose members name targets ([`RRset::target`]).
    pub fn has_targets(&self) -> bool {
        matches!(
            self.entry.rr_type,
            rtype::NS | rtype::MX | rtype::SRV | rtype::SVCB | rtype::HTTPS
        )
    }
}
