//! Finding the data for a name inside a zone (RFC 1034 §4.3.2, RFC 4592,
//! RFC 6672), on lower-cased wire names, without allocating.

use super::table::{Node, RRset, Table, ZoneData};
use crate::name::MAX_NAME_LEN;
use crate::wire::rtype;

/// What a name resolves to inside its zone.
#[derive(Debug)]
pub(super) enum Found<'t> {
    /// The name exists (possibly as an empty non-terminal).
    Exact(Node<'t>),
    /// The name does not exist; this wildcard node synthesises it.
    Wildcard(Node<'t>),
    /// The name is at or below this delegation point, whose NS RRset this
    /// is.
    Referral(Node<'t>, RRset<'t>),
    /// The name is below this node's DNAME.
    Dname(Node<'t>, RRset<'t>),
    /// The name does not exist.
    NxDomain,
}

/// Offsets of each label start in a wire name; the last entry is the root.
pub(super) struct Labels {
    offsets: [u8; 128],
    count: usize,
}

impl Labels {
    /// Splits a valid uncompressed wire name.
    pub(super) fn new(name: &[u8]) -> Labels {
        let mut offsets = [0u8; 128];
        let mut count = 0;
        let mut at = 0;
        while at < name.len() && count < offsets.len() {
            offsets[count] = at as u8;
            count += 1;
            if name[at] == 0 {
                break;
            }
            at += 1 + name[at] as usize;
        }
        Labels { offsets, count }
    }

    /// Number of labels, root excluded.
    pub(super) fn len(&self) -> usize {
        self.count - 1
    }

    /// The suffix of `name` made of its last `labels` labels.
    pub(super) fn suffix<'n>(&self, name: &'n [u8], labels: usize) -> &'n [u8] {
        &name[self.offsets[self.count - 1 - labels] as usize..]
    }
}

/// The zone that answers a query for `lower` of type `qtype`: the served
/// zone closest to the name (longest matching apex), except for DS.
///
/// DS belongs to the parent side of a cut (RFC 4035 §3.1.4.1), so a DS
/// query is answered from the zone closest to the name's parent, as Knot
/// does: when the parent and the child are both served, the child's apex
/// gets the parent's DS (or the parent's NODATA) and not the child's
/// NODATA, which would break the chain of trust. Only when no zone holds
/// the parent (the child alone is served) does the child answer.
pub(super) fn find_zone<'t>(
    table: &'t Table,
    lower: &[u8],
    labels: &Labels,
    qtype: u16,
) -> Option<&'t ZoneData> {
    let total = labels.len();
    let parent_side = if qtype == rtype::DS && total > 0 {
        closest_zone(table, lower, labels, total - 1)
    } else {
        None
    };
    parent_side.or_else(|| closest_zone(table, lower, labels, total))
}

/// The served zone whose apex is the longest suffix of `lower` of at most
/// `most` labels.
fn closest_zone<'t>(
    table: &'t Table,
    lower: &[u8],
    labels: &Labels,
    most: usize,
) -> Option<&'t ZoneData> {
    (0..=most).rev().find_map(|n| {
        let suffix = labels.suffix(lower, n);
        if table.apex_lengths.contains(suffix.len()) {
            table.zones.get(suffix)
        } else {
            None
        }
    })
}

/// Resolves `lower` (a lower-cased name at or below `zone`'s apex).
pub(super) fn find<'t>(zone: &'t ZoneData, lower: &[u8], labels: &Labels, qtype: u16) -> Found<'t> {
    let total = labels.len();
    let mut encloser: &[u8] = labels.suffix(lower, zone.apex_labels);
    for depth in zone.apex_labels..=total {
        let key = labels.suffix(lower, depth);
        let node = if depth == zone.apex_labels {
            zone.apex_node()
        } else {
            match zone.node(key) {
                Some(node) => node,
                None => return wildcard(zone, encloser),
            }
        };
        let at_query = depth == total;
        // The builder marks as cuts only nodes below the apex that hold NS,
        // so the NS is always there; a referral carries it, which leaves the
        // answer nothing to fail on. (A cut without NS would answer as an
        // ordinary node.)
        if node.is_cut()
            && !(at_query && qtype == rtype::DS)
            && let Some(ns) = node.rrset(rtype::NS)
        {
            return Found::Referral(node, ns);
        }
        if !at_query && let Some(dname) = node.rrset(rtype::DNAME) {
            return Found::Dname(node, dname);
        }
        if at_query {
            return Found::Exact(node);
        }
        encloser = key;
    }
    Found::NxDomain
}

/// The source of synthesis `*.<closest encloser>`, if it exists.
fn wildcard<'t>(zone: &'t ZoneData, encloser: &[u8]) -> Found<'t> {
    let mut key = [0u8; MAX_NAME_LEN + 2];
    let len = encloser.len() + 2;
    if len > MAX_NAME_LEN {
        return Found::NxDomain;
    }
    key[..2].copy_from_slice(&[1, b'*']);
    key[2..len].copy_from_slice(encloser);
    match zone.node(&key[..len]) {
        Some(node) => Found::Wildcard(node),
        None => Found::NxDomain,
    }
}
