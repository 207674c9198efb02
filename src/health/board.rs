//! The board: a table's targets' slots, by index.
//!
//! It is all the answer path sees of health: one atomic per target
//! ([`Slot::standing`]), read once per member per query, so a query sees
//! each target either before or after a flip, never half of one.

use std::sync::Arc;

use super::slot::{Slot, Standing};
use super::state::Health;

/// Slots by target index.
#[derive(Debug, Default, Clone)]
pub struct Board {
    slots: Box<[Arc<Slot>]>,
}

impl Board {
    /// A board of fresh slots with these initial states (for tests).
    pub fn new(initial: impl IntoIterator<Item = bool>) -> Board {
        let slots = initial
            .into_iter()
            .map(|up| Arc::new(Slot::new(if up { Health::Up } else { Health::Down })))
            .collect();
        Board { slots }
    }

    /// A board of these slots.
    pub fn from_slots(slots: Vec<Arc<Slot>>) -> Board {
        Board {
            slots: slots.into(),
        }
    }

    /// Whether and how target `index` may be answered with. Out of
    /// range: out.
    #[inline]
    pub fn standing(&self, index: u32) -> Standing {
        self.slots
            .get(index as usize)
            .map_or(Standing::Out, |slot| slot.standing())
    }

    /// The slot of target `index`.
    pub fn slot(&self, index: u32) -> Option<&Arc<Slot>> {
        self.slots.get(index as usize)
    }
}
