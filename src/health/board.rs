//! The board: one atomic per target saying whether answers may use it.
//!
//! It is all the answer path sees of health. Each target's probe loop is the
//! only writer of its cell, so a flip is one store; a query reads each member
//! once, so it sees every target either before or after a flip, never half of
//! one. `Relaxed` suffices: no other memory is published through a cell.

use std::sync::atomic::{AtomicBool, Ordering};

/// Serving state per target index.
#[derive(Debug)]
pub struct Board {
    cells: Box<[AtomicBool]>,
}

impl Board {
    /// A board with these initial states.
    pub fn new(initial: impl IntoIterator<Item = bool>) -> Board {
        Board {
            cells: initial.into_iter().map(AtomicBool::new).collect(),
        }
    }

    /// Whether target `index` may be answered with. Out-of-range: false.
    #[inline]
    pub fn serving(&self, index: u32) -> bool {
        self.cells
            .get(index as usize)
            .is_some_and(|cell| cell.load(Ordering::Relaxed))
    }

    /// Publishes a new state for target `index`.
    pub fn set(&self, index: u32, serving: bool) {
        if let Some(cell) = self.cells.get(index as usize) {
            cell.store(serving, Ordering::Relaxed);
        }
    }

    /// Number of targets.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// True when there are no targets.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}
