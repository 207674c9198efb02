//! The networks map: which region a client address is in.
//!
//! A networks file has one network a line, `CIDR REGION`, IPv4 and IPv6
//! mixed, `#` starting a comment; the most specific network holding an
//! address decides its region, and an address in none gets the default
//! region. [`Networks::load`] reads such a file, reporting every mistake
//! with its `file:line:col`; [`Networks::lookup`] answers without
//! allocating (see [`ranges`] for how).
//!
//! Refused, as BIND refuses such an ACL element: a network with bits set
//! past its prefix length (`10.1.2.3/8`), which is more likely a typo than
//! a way to write `10.0.0.0/8`. Refused too: one network given twice with
//! two regions (both lines are named). The same network twice with one
//! region is harmless and read once.

mod networks;
mod ranges;

pub use networks::{Networks, NetworksError, NetworksErrors};
pub use ranges::Match;

use crate::config::Region;
