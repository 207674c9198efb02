//! The answer table and the answer path.
//!
//! # Design
//! Everything a query needs is precomputed into one immutable [`Table`]:
//! nodes keyed by lower-cased wire-format names (so lookup needs no
//! allocation and no `Name`), empty non-terminals present as nodes (so
//! walking down from the apex finds every cut, DNAME and closest encloser),
//! and RDATA kept in wire format ready to copy. A new table is built on the
//! side and published whole; [`respond`] takes `&Table` and never waits,
//! never locks, never allocates. Health reaches it through one atomic per
//! target (the [`crate::health::Board`]); a dynamic set picks its members
//! from those on each query (`dynamic`). Each worker keeps the responses
//! that only a new table changes and answers repeats by copying them
//! ([`Cache`]).

mod build;
mod cache;
pub(crate) mod dynamic;
mod lookup;
mod respond;
mod table;
mod view;
mod watch;

pub use build::{build, build_with};
pub use cache::Cache;
pub use respond::{Answered, Class, Subject, Transport, respond};
pub use table::{Node, RRset, Table, ZoneData};
pub use view::{MemberView, SetView, rdata_text};
pub use watch::{Moved, Watch};

/// The published answer table: replaced whole, read without a lock.
pub type SharedTable = std::sync::Arc<arc_swap::ArcSwap<Table>>;

#[cfg(test)]
mod tests;
