//! The quorum rule: from the instances' views of a target, its verdict.

use crate::config::{Health, Quorum};

/// The votes on one target: how many of the live instances that see it
/// see it up, and how many down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Votes {
    /// Instances that see it up.
    pub(crate) up: u32,
    /// Instances that see it down.
    pub(crate) down: u32,
}

impl Votes {
    /// The verdict under `quorum`; `None` when no instance sees the target
    /// (each then follows its own checks).
    pub(crate) fn verdict(self, quorum: Quorum) -> Option<Health> {
        let voters = self.up + self.down;
        if voters == 0 {
            return None;
        }
        let down = match quorum {
            Quorum::Majority => 2 * self.down > voters,
            Quorum::Any => self.down == voters,
            Quorum::All => self.down > 0,
            // A little slack, so that 1/3 reaches a share written as 0.33.
            Quorum::Share(share) => f64::from(self.down) + 1e-9 >= share * f64::from(voters),
        };
        Some(if down { Health::Down } else { Health::Up })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(up: u32, down: u32, quorum: Quorum) -> Option<Health> {
        Votes { up, down }.verdict(quorum)
    }

    #[test]
    fn a_minority_down_stays_up_under_majority() {
        assert_eq!(verdict(2, 1, Quorum::Majority), Some(Health::Up));
        assert_eq!(verdict(1, 2, Quorum::Majority), Some(Health::Down));
        assert_eq!(
            verdict(1, 1, Quorum::Majority),
            Some(Health::Up),
            "a tie is no majority: with two instances both must see it down"
        );
        assert_eq!(verdict(0, 1, Quorum::Majority), Some(Health::Down));
        assert_eq!(verdict(0, 0, Quorum::Majority), None, "no views");
    }

    #[test]
    fn any_and_all_lean_opposite_ways() {
        assert_eq!(verdict(1, 2, Quorum::Any), Some(Health::Up));
        assert_eq!(verdict(0, 3, Quorum::Any), Some(Health::Down));
        assert_eq!(verdict(2, 1, Quorum::All), Some(Health::Down));
        assert_eq!(verdict(3, 0, Quorum::All), Some(Health::Up));
    }

    #[test]
    fn a_share_counts_the_instances_that_see_it_down() {
        assert_eq!(verdict(2, 1, Quorum::Share(0.34)), Some(Health::Up));
        assert_eq!(verdict(2, 1, Quorum::Share(0.33)), Some(Health::Down));
        assert_eq!(verdict(1, 2, Quorum::Share(0.5)), Some(Health::Down));
        assert_eq!(verdict(3, 0, Quorum::Share(1.0)), Some(Health::Up));
        assert_eq!(verdict(0, 3, Quorum::Share(1.0)), Some(Health::Down));
    }
}
