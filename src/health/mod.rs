//! Health checking: check kinds, one probe loop per target, and the pure
//! rise/fall state machine ([`state`]).

pub mod state;
