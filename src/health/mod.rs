//! Health checking: the targets health owns ([`Registry`]), check kinds
//! (network probes in [`probe`], commands in [`exec`], calculated checks
//! in `calculated`), one probe loop per target, the pure rise/fall state machine
//! ([`state`]), and the overrides and holds kept across restarts
//! ([`saved`]). What answers see of it is the [`Board`]: one atomic per
//! target.

mod board;
mod calculated;
pub(crate) mod checker;
pub(crate) mod exec;
pub(crate) mod probe;
pub(crate) mod registry;
pub mod saved;
pub mod slot;
pub mod state;
pub(crate) mod target;
pub(crate) mod transition;

pub use board::Board;
pub use probe::ReasonClass;
pub use registry::{Registry, Target};
pub use slot::Slot;
pub use target::TargetKey;
pub use transition::Transition;
pub(crate) use transition::{Change, Changes};
