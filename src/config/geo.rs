//! `[geo]`: the vocabulary of client regions.

/// A region, by its place in the configuration's list of regions (sorted
/// by name), so that the networks map stores two bytes per range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region(pub u16);
