//! Health-aware record sets: which members answer, decided per query from
//! the [`Board`]'s atomics, on the stack, without a lock.

use crate::health::Board;
use crate::zone::AllDown;

/// Most members one set may have (checked when zones load).
pub const MAX_MEMBERS: usize = 256;
/// Most records one dynamic answer carries (a larger `max` is clamped).
pub const MAX_ANSWER: usize = 64;

/// How a set chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Ordered tiers; members are sorted by tier.
    Failover,
    /// Healthy members, shuffled.
    Multivalue,
    /// One member by weight.
    Weighted,
}

/// One member of a dynamic set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Index into the RRset's `rdatas`.
    pub rdata: u16,
    /// Board index of its target; `None` = no check, always healthy.
    pub target: Option<u32>,
    /// Failover tier or weight.
    pub rank: u32,
}

/// A health-aware RRset's rules.
#[derive(Debug, Clone)]
pub struct Dynamic {
    /// The policy.
    pub kind: Kind,
    /// Members; for failover sorted by tier, otherwise in file order.
    pub members: Box<[Member]>,
    /// Most records in one answer.
    pub max: usize,
    /// What to answer when no member is healthy.
    pub all_down: AllDown,
    /// TTL of the answer.
    pub ttl: u32,
}

/// What a set answers right now.
#[derive(Debug, Clone, Copy)]
pub enum Pick {
    /// These RDATA indices, in answer order.
    Records {
        /// RDATA indices.
        indices: [u16; MAX_ANSWER],
        /// How many of them.
        len: usize,
    },
    /// NODATA.
    Empty,
    /// SERVFAIL.
    Servfail,
}

impl Pick {
    /// The chosen RDATA indices (none for `Empty`/`Servfail`).
    pub fn indices(&self) -> &[u16] {
        match self {
            Pick::Records { indices, len } => &indices[..*len],
            _ => &[],
        }
    }
}

struct Picked {
    indices: [u16; MAX_ANSWER],
    len: usize,
}

impl Picked {
    fn new() -> Picked {
        Picked {
            indices: [0; MAX_ANSWER],
            len: 0,
        }
    }

    fn push(&mut self, index: u16) {
        if self.len < MAX_ANSWER {
            self.indices[self.len] = index;
            self.len += 1;
        }
    }

    fn done(self) -> Pick {
        Pick::Records {
            indices: self.indices,
            len: self.len,
        }
    }
}

impl Dynamic {
    /// Chooses the members that answer now.
    pub fn pick(&self, board: &Board) -> Pick {
        let up = |member: &Member| member.target.is_none_or(|target| board.serving(target));
        let mut healthy = [0u16; MAX_MEMBERS];
        let mut count = 0;
        for (i, member) in self.members.iter().enumerate().take(MAX_MEMBERS) {
            if up(member) {
                healthy[count] = i as u16;
                count += 1;
            }
        }
        let healthy = &mut healthy[..count];
        match self.kind {
            Kind::Failover => {
                if let Some(&first) = healthy.first() {
                    let tier = self.members[first as usize].rank;
                    return self.take_in_order(
                        healthy
                            .iter()
                            .copied()
                            .filter(|&i| self.members[i as usize].rank == tier),
                    );
                }
            }
            Kind::Multivalue => {
                if !healthy.is_empty() {
                    return self.shuffled(healthy);
                }
            }
            Kind::Weighted => {
                let weighted = healthy
                    .iter()
                    .copied()
                    .filter(|&i| self.members[i as usize].rank > 0);
                if let Some(choice) = self.by_weight(weighted) {
                    return self.one(choice);
                }
                // Weight-0 members stand in only when every weighted one is down.
                if !healthy.is_empty() {
                    return self.one(healthy[crate::random::below(healthy.len() as u64) as usize]);
                }
            }
        }
        self.all_down()
    }

    /// The members a query may get now, deterministically: the first
    /// healthy tier (failover), every healthy member (multivalue), every
    /// member that may be chosen (weighted), or what `all-down` gives.
    /// For the status API and metrics, not for answers.
    pub fn candidates(&self, board: &Board) -> Vec<u16> {
        let up = |m: &Member| m.target.is_none_or(|t| board.serving(t));
        let healthy: Vec<&Member> = self.members.iter().filter(|m| up(m)).collect();
        let chosen: Vec<&Member> = match self.kind {
            Kind::Failover => {
                let tier = healthy.first().map(|m| m.rank);
                healthy
                    .iter()
                    .copied()
                    .filter(|m| Some(m.rank) == tier)
                    .collect()
            }
            Kind::Multivalue => healthy.clone(),
            Kind::Weighted => {
                let weighted: Vec<&Member> =
                    healthy.iter().copied().filter(|m| m.rank > 0).collect();
                if weighted.is_empty() {
                    healthy.clone()
                } else {
                    weighted
                }
            }
        };
        if !chosen.is_empty() {
            return chosen.iter().map(|m| m.rdata).collect();
        }
        match (self.all_down, self.kind) {
            (AllDown::Empty | AllDown::Servfail, _) => Vec::new(),
            (AllDown::First, Kind::Failover) => {
                let tier = self.members.first().map(|m| m.rank);
                self.members
                    .iter()
                    .filter(|m| Some(m.rank) == tier)
                    .map(|m| m.rdata)
                    .collect()
            }
            (AllDown::First, _) => self.members.first().map(|m| m.rdata).into_iter().collect(),
            (AllDown::All, _) => self.members.iter().map(|m| m.rdata).collect(),
        }
    }

    fn all_down(&self) -> Pick {
        match self.all_down {
            AllDown::Empty => Pick::Empty,
            AllDown::Servfail => Pick::Servfail,
            AllDown::First => match self.kind {
                Kind::Failover => {
                    let tier = self.members.first().map_or(0, |m| m.rank);
                    self.take_in_order(
                        (0..self.members.len() as u16)
                            .filter(|&i| self.members[i as usize].rank == tier),
                    )
                }
                _ => self.one(0),
            },
            AllDown::All => {
                let mut all = [0u16; MAX_MEMBERS];
                let n = self.members.len().min(MAX_MEMBERS);
                for (i, slot) in all[..n].iter_mut().enumerate() {
                    *slot = i as u16;
                }
                match self.kind {
                    Kind::Failover => self.take_in_order(all[..n].iter().copied()),
                    Kind::Multivalue => self.shuffled(&mut all[..n]),
                    Kind::Weighted => {
                        let pick = self
                            .by_weight(all[..n].iter().copied())
                            .unwrap_or_else(|| crate::random::below(n as u64) as u16);
                        self.one(pick)
                    }
                }
            }
        }
    }

    /// Members (by position) in the given order, at most `max`.
    fn take_in_order(&self, positions: impl Iterator<Item = u16>) -> Pick {
        let mut picked = Picked::new();
        for position in positions.take(self.max) {
            picked.push(self.members[position as usize].rdata);
        }
        picked.done()
    }

    /// A random `max` of these positions, in random order (partial
    /// Fisher–Yates).
    fn shuffled(&self, positions: &mut [u16]) -> Pick {
        let take = self.max.min(positions.len());
        for i in 0..take {
            let j = i + crate::random::below((positions.len() - i) as u64) as usize;
            positions.swap(i, j);
        }
        self.take_in_order(positions[..take].iter().copied())
    }

    fn one(&self, position: u16) -> Pick {
        self.take_in_order(std::iter::once(position))
    }

    /// One position with probability ∝ weight; `None` when the weights sum to 0.
    fn by_weight(&self, positions: impl Iterator<Item = u16> + Clone) -> Option<u16> {
        let total: u64 = positions
            .clone()
            .map(|i| self.members[i as usize].rank as u64)
            .sum();
        if total == 0 {
            return None;
        }
        let mut point = crate::random::below(total);
        for i in positions {
            let weight = self.members[i as usize].rank as u64;
            if point < weight {
                return Some(i);
            }
            point -= weight;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(kind: Kind, ranks: &[u32], all_down: AllDown, max: usize) -> Dynamic {
        Dynamic {
            kind,
            members: ranks
                .iter()
                .enumerate()
                .map(|(i, &rank)| Member {
                    rdata: i as u16,
                    target: Some(i as u32),
                    rank,
                })
                .collect(),
            max,
            all_down,
            ttl: 30,
        }
    }

    fn board(up: &[bool]) -> Board {
        Board::new(up.iter().copied())
    }

    fn sorted(pick: Pick) -> Vec<u16> {
        let mut v = pick.indices().to_vec();
        v.sort();
        v
    }

    #[test]
    fn failover_answers_the_first_tier_with_a_healthy_member() {
        let s = set(Kind::Failover, &[1, 1, 2, 3], AllDown::First, 8);
        assert_eq!(sorted(s.pick(&board(&[true, true, true, true]))), [0, 1]);
        assert_eq!(sorted(s.pick(&board(&[false, true, true, true]))), [1]);
        assert_eq!(sorted(s.pick(&board(&[false, false, true, true]))), [2]);
        assert_eq!(sorted(s.pick(&board(&[false, false, false, true]))), [3]);
        assert_eq!(
            sorted(s.pick(&board(&[false; 4]))),
            [0, 1],
            "fail open to the primary tier"
        );
    }

    #[test]
    fn every_all_down_mode() {
        let down = board(&[false; 3]);
        let f = |all_down| set(Kind::Failover, &[1, 2, 3], all_down, 8).pick(&down);
        assert_eq!(sorted(f(AllDown::All)), [0, 1, 2]);
        assert_eq!(sorted(f(AllDown::First)), [0]);
        assert!(matches!(f(AllDown::Empty), Pick::Empty));
        assert!(matches!(f(AllDown::Servfail), Pick::Servfail));
        let m = set(Kind::Multivalue, &[0, 0, 0], AllDown::All, 2).pick(&down);
        assert_eq!(m.indices().len(), 2, "all, still at most max");
        assert_eq!(
            sorted(set(Kind::Multivalue, &[0, 0, 0], AllDown::First, 2).pick(&down)),
            [0]
        );
        assert_eq!(
            set(Kind::Weighted, &[1, 1, 0], AllDown::All, 8)
                .pick(&down)
                .indices()
                .len(),
            1
        );
    }

    #[test]
    fn multivalue_returns_healthy_members_shuffled_up_to_max() {
        let s = set(Kind::Multivalue, &[0; 4], AllDown::All, 2);
        let b = board(&[true, false, true, true]);
        let mut firsts = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let pick = s.pick(&b);
            let got = pick.indices();
            assert_eq!(got.len(), 2);
            assert!(!got.contains(&1), "a down member is never returned");
            assert_ne!(got[0], got[1]);
            firsts.insert(got[0]);
        }
        assert_eq!(
            firsts.len(),
            3,
            "every healthy member comes first sometimes"
        );
    }

    #[test]
    fn weighted_shares_follow_weights_and_zero_weight_stands_in() {
        let s = set(Kind::Weighted, &[70, 30, 0], AllDown::All, 8);
        let b = board(&[true, true, true]);
        let mut counts = [0u32; 3];
        let rounds = 100_000;
        for _ in 0..rounds {
            counts[s.pick(&b).indices()[0] as usize] += 1;
        }
        // Binomial sd for p = 0.7, n = 1e5 is 0.0014; allow 1 point.
        let share = counts[0] as f64 / rounds as f64;
        assert!((share - 0.7).abs() < 0.01, "{counts:?}");
        assert_eq!(counts[2], 0, "weight 0 unused while others are up");
        let only_zero = board(&[false, false, true]);
        assert_eq!(s.pick(&only_zero).indices(), [2]);
        let one_down = board(&[false, true, true]);
        assert!((0..1000).all(|_| s.pick(&one_down).indices() == [1]));
    }

    #[test]
    fn members_without_a_check_are_always_up() {
        let mut s = set(Kind::Failover, &[1, 2], AllDown::Empty, 8);
        s.members[0].target = None;
        assert_eq!(sorted(s.pick(&board(&[false, false]))), [0]);
    }
}
