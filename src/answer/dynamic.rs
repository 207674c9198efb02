//! Health-aware record sets: which members answer, decided per query from
//! the [`Board`]'s atomics, on the stack, without a lock.

use crate::health::Board;
use crate::health::slot::Standing;
use crate::zone::{AllDown, Policy};

/// Most members one set may have (checked when zones load).
pub(crate) const MAX_MEMBERS: usize = 256;
/// Most records one dynamic answer carries (a larger `max` is clamped).
pub(crate) const MAX_ANSWER: usize = 64;

/// One member of a dynamic set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Index into the RRset's `rdatas`.
    pub rdata: u16,
    /// Board index of its target; `None` = no check, always healthy.
    pub target: Option<u32>,
    /// Failover tier or weight (the annotation's rank).
    pub rank: u32,
}

/// A health-aware RRset's rules.
#[derive(Debug, Clone)]
pub struct Dynamic {
    /// The policy.
    pub policy: Policy,
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

/// A set's answer and members as views show them ([`Dynamic::outlook`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlook {
    /// RDATA indices a query may get now ([`Dynamic::candidates`]).
    pub candidates: Vec<u16>,
    /// By member position: whether answers may use it.
    pub serving: Vec<bool>,
    /// No member may be used, and the `all-down` rule answers with some
    /// anyway (`first` or `all`), health notwithstanding.
    pub failing_open: bool,
}

/// How the answer is drawn from the eligible members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Draw {
    /// The first `max`, in order.
    InOrder,
    /// A random `max`, in random order.
    Shuffle,
    /// One, with probability ∝ weight; uniformly when the weights sum to 0.
    ByWeight,
}

/// What the policy allows now, before any random choice.
enum Eligible<'p> {
    /// These member positions, drawn from as said.
    Members(&'p mut [u16], Draw),
    /// NODATA.
    Empty,
    /// SERVFAIL.
    Servfail,
}

impl Dynamic {
    /// Chooses the members that answer now.
    pub fn pick(&self, board: &Board) -> Pick {
        let mut positions = [0u16; MAX_MEMBERS];
        let standings = self.standings(board, &mut positions);
        match self.eligible(standings, &mut positions) {
            Eligible::Members(positions, Draw::InOrder) => {
                self.take_in_order(positions.iter().copied())
            }
            Eligible::Members(positions, Draw::Shuffle) => self.shuffled(positions),
            Eligible::Members(positions, Draw::ByWeight) => {
                let pick = self
                    .by_weight(positions.iter().copied())
                    .unwrap_or_else(|| {
                        positions[crate::random::below(positions.len() as u64) as usize]
                    });
                self.one(pick)
            }
            Eligible::Empty => Pick::Empty,
            Eligible::Servfail => Pick::Servfail,
        }
    }

    /// The members a query may get now, deterministically: the first
    /// healthy tier (failover), every healthy member (multivalue), every
    /// member that may be chosen (weighted) — of the serving members, else
    /// of those up but held — or what `all-down` gives; as
    /// RDATA indices. For the status API and metrics, not for answers: the
    /// same rule as [`Dynamic::pick`], before its random draw and `max`.
    pub fn candidates(&self, board: &Board) -> Vec<u16> {
        self.outlook(board).candidates
    }

    /// What the set answers now and from which members, all from one read
    /// of the board, so that the parts agree even while targets flip.
    pub fn outlook(&self, board: &Board) -> Outlook {
        let mut positions = [0u16; MAX_MEMBERS];
        let standings = self.standings(board, &mut positions);
        let mut serving = vec![false; self.members.len()];
        for &p in &positions[..standings.0] {
            serving[p as usize] = true;
        }
        let candidates: Vec<u16> = match self.eligible(standings, &mut positions) {
            Eligible::Members(positions, _) => positions
                .iter()
                .map(|&p| self.members[p as usize].rdata)
                .collect(),
            Eligible::Empty | Eligible::Servfail => Vec::new(),
        };
        Outlook {
            // Members up but held are healthy: answering them is no
            // failing open.
            failing_open: standings == (0, 0) && !candidates.is_empty(),
            candidates,
            serving,
        }
    }

    /// Writes the positions of the members answers may use now (unchecked
    /// ones always) to the front of `buffer`, and of those up but held by
    /// manual failback to its back, reversed; returns how many of each.
    /// One read of each member's atomic; no set has more than MAX_MEMBERS,
    /// so the two runs never meet.
    fn standings(&self, board: &Board, buffer: &mut [u16; MAX_MEMBERS]) -> (usize, usize) {
        let (mut serving, mut held) = (0, 0);
        for (i, member) in self.members.iter().enumerate().take(MAX_MEMBERS) {
            let standing = member
                .target
                .map_or(Standing::Serving, |target| board.standing(target));
            match standing {
                Standing::Serving => {
                    buffer[serving] = i as u16;
                    serving += 1;
                }
                Standing::Held => {
                    held += 1;
                    buffer[MAX_MEMBERS - held] = i as u16;
                }
                Standing::Out => {}
            }
        }
        (serving, held)
    }

    /// The policy's rule: which members (by position) may answer, given
    /// the [`Dynamic::standings`] in `buffer`.
    ///
    /// The serving members when there are any; else those that are up but
    /// held by manual failback, under the same rule: a hold keeps answers
    /// from moving back while another member serves, never sends them to
    /// a member that is down in its place. Only when neither is left does
    /// `all-down` decide.
    fn eligible<'p>(
        &self,
        (serving, held): (usize, usize),
        buffer: &'p mut [u16; MAX_MEMBERS],
    ) -> Eligible<'p> {
        let rank = |position: u16| self.members[position as usize].rank;
        let available = if serving > 0 {
            0..serving
        } else {
            MAX_MEMBERS - held..MAX_MEMBERS
        };
        if !available.is_empty() {
            let healthy = &mut buffer[available];
            if serving == 0 {
                healthy.reverse();
            }
            return match self.policy {
                Policy::Failover => {
                    let tier = rank(healthy[0]);
                    Eligible::Members(leading(healthy, |p| rank(p) == tier), Draw::InOrder)
                }
                Policy::Multivalue => Eligible::Members(healthy, Draw::Shuffle),
                // Weight-0 members stand in only when every weighted one is down.
                Policy::Weighted if healthy.iter().any(|&p| rank(p) > 0) => {
                    Eligible::Members(keep(healthy, |p| rank(p) > 0), Draw::ByWeight)
                }
                Policy::Weighted => Eligible::Members(healthy, Draw::ByWeight),
            };
        }
        let n = self.members.len().min(MAX_MEMBERS);
        for (i, slot) in buffer[..n].iter_mut().enumerate() {
            *slot = i as u16;
        }
        let all = &mut buffer[..n];
        match (self.all_down, self.policy) {
            (AllDown::Empty, _) => Eligible::Empty,
            (AllDown::Servfail, _) => Eligible::Servfail,
            (AllDown::First, Policy::Failover) => {
                let tier = self.members.first().map_or(0, |m| m.rank);
                Eligible::Members(leading(all, |p| rank(p) == tier), Draw::InOrder)
            }
            (AllDown::First, _) => Eligible::Members(&mut all[..n.min(1)], Draw::InOrder),
            (AllDown::All, Policy::Failover) => Eligible::Members(all, Draw::InOrder),
            (AllDown::All, Policy::Multivalue) => Eligible::Members(all, Draw::Shuffle),
            (AllDown::All, Policy::Weighted) => Eligible::Members(all, Draw::ByWeight),
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

/// The positions that pass `test` before the first that does not: a
/// failover set's members are sorted by tier, so a tier is a run.
fn leading(positions: &mut [u16], test: impl Fn(u16) -> bool) -> &mut [u16] {
    let run = positions.iter().take_while(|&&p| test(p)).count();
    &mut positions[..run]
}

/// The positions that pass `test`, moved to the front, in order.
fn keep(positions: &mut [u16], test: impl Fn(u16) -> bool) -> &mut [u16] {
    let mut kept = 0;
    for i in 0..positions.len() {
        if test(positions[i]) {
            positions[kept] = positions[i];
            kept += 1;
        }
    }
    &mut positions[..kept]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(policy: Policy, ranks: &[u32], all_down: AllDown, max: usize) -> Dynamic {
        Dynamic {
            policy,
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

    /// A board whose targets stand as given.
    fn standing(standings: &[Standing]) -> Board {
        let board = Board::new(standings.iter().map(|_| true));
        for (i, &s) in standings.iter().enumerate() {
            board.slot(i as u32).unwrap().publish(s);
        }
        board
    }

    fn sorted(pick: Pick) -> Vec<u16> {
        let mut v = pick.indices().to_vec();
        v.sort();
        v
    }

    #[test]
    fn failover_answers_the_first_tier_with_a_healthy_member() {
        let s = set(Policy::Failover, &[1, 1, 2, 3], AllDown::First, 8);
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
        let f = |all_down| set(Policy::Failover, &[1, 2, 3], all_down, 8).pick(&down);
        assert_eq!(sorted(f(AllDown::All)), [0, 1, 2]);
        assert_eq!(sorted(f(AllDown::First)), [0]);
        assert!(matches!(f(AllDown::Empty), Pick::Empty));
        assert!(matches!(f(AllDown::Servfail), Pick::Servfail));
        let m = set(Policy::Multivalue, &[0, 0, 0], AllDown::All, 2).pick(&down);
        assert_eq!(m.indices().len(), 2, "all, still at most max");
        assert_eq!(
            sorted(set(Policy::Multivalue, &[0, 0, 0], AllDown::First, 2).pick(&down)),
            [0]
        );
        assert_eq!(
            set(Policy::Weighted, &[1, 1, 0], AllDown::All, 8)
                .pick(&down)
                .indices()
                .len(),
            1
        );
    }

    #[test]
    fn multivalue_returns_healthy_members_shuffled_up_to_max() {
        let s = set(Policy::Multivalue, &[0; 4], AllDown::All, 2);
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
        let s = set(Policy::Weighted, &[70, 30, 0], AllDown::All, 8);
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
        let mut s = set(Policy::Failover, &[1, 2], AllDown::Empty, 8);
        s.members[0].target = None;
        assert_eq!(sorted(s.pick(&board(&[false, false]))), [0]);
    }

    #[test]
    fn outlook_says_which_members_serve_and_when_a_set_fails_open() {
        let s = set(Policy::Failover, &[1, 2], AllDown::First, 8);
        let o = s.outlook(&board(&[false, true]));
        assert_eq!(
            (o.candidates, o.serving, o.failing_open),
            (vec![1], vec![false, true], false)
        );
        let o = s.outlook(&board(&[false, false]));
        assert_eq!(
            (o.candidates, o.serving, o.failing_open),
            (vec![0], vec![false, false], true),
            "the primary answers though down"
        );
        for all_down in [AllDown::Empty, AllDown::Servfail] {
            let o = set(Policy::Failover, &[1, 2], all_down, 8).outlook(&board(&[false; 2]));
            assert!(o.candidates.is_empty() && !o.failing_open, "{all_down:?}");
        }
        let mut unchecked = set(Policy::Failover, &[1, 2], AllDown::First, 8);
        unchecked.members[1].target = None;
        let o = unchecked.outlook(&board(&[false, false]));
        assert!(!o.failing_open, "a member without a check always serves");
        assert_eq!(o.candidates, [1]);
    }

    #[test]
    fn with_none_serving_members_up_but_held_come_before_those_down() {
        use Standing::{Held, Out, Serving};
        let failover = set(Policy::Failover, &[1, 2], AllDown::First, 8);
        assert_eq!(
            sorted(failover.pick(&standing(&[Out, Held]))),
            [1],
            "the held secondary, not the dead primary"
        );
        assert_eq!(
            sorted(failover.pick(&standing(&[Held, Held]))),
            [0],
            "both held and up: the first tier"
        );
        assert_eq!(sorted(failover.pick(&standing(&[Held, Out]))), [0]);
        assert_eq!(
            sorted(failover.pick(&standing(&[Held, Serving]))),
            [1],
            "a serving member beats a held one"
        );
        assert_eq!(
            sorted(failover.pick(&standing(&[Out, Out]))),
            [0],
            "none up: all-down decides"
        );
        let tiers = set(Policy::Failover, &[1, 1, 2, 2], AllDown::All, 8);
        assert_eq!(
            sorted(tiers.pick(&standing(&[Out, Out, Held, Held]))),
            [2, 3],
            "the held tier, not every member"
        );
        for all_down in [AllDown::Empty, AllDown::Servfail] {
            let s = set(Policy::Failover, &[1, 2], all_down, 8);
            assert_eq!(sorted(s.pick(&standing(&[Out, Held]))), [1], "{all_down:?}");
        }
        let multivalue = set(Policy::Multivalue, &[0; 3], AllDown::All, 8);
        for _ in 0..50 {
            assert_eq!(
                sorted(multivalue.pick(&standing(&[Out, Held, Held]))),
                [1, 2]
            );
        }
        let weighted = set(Policy::Weighted, &[50, 50, 0], AllDown::All, 8);
        for _ in 0..50 {
            assert_eq!(
                weighted.pick(&standing(&[Out, Held, Serving])).indices(),
                [2]
            );
            assert_eq!(weighted.pick(&standing(&[Out, Held, Out])).indices(), [1]);
        }
        assert_eq!(
            failover.candidates(&standing(&[Out, Held])),
            [1],
            "the status shows what queries get"
        );
    }

    #[test]
    fn every_pick_is_among_the_candidates() {
        let ranks = [1, 1, 2, 0];
        let each = [Standing::Serving, Standing::Held, Standing::Out];
        for policy in [Policy::Failover, Policy::Multivalue, Policy::Weighted] {
            for all_down in [
                AllDown::All,
                AllDown::First,
                AllDown::Empty,
                AllDown::Servfail,
            ] {
                for max in [1, 2, 8] {
                    let s = set(policy, &ranks, all_down, max);
                    for mask in 0..81usize {
                        let standings = [0, 1, 2, 3].map(|i| each[mask / 3usize.pow(i) % 3]);
                        let b = standing(&standings);
                        let candidates = s.candidates(&b);
                        for _ in 0..20 {
                            let pick = s.pick(&b);
                            let got = pick.indices();
                            assert!(
                                got.iter().all(|i| candidates.contains(i)),
                                "{policy:?} {all_down:?} max {max} {standings:?}: {got:?} not in {candidates:?}"
                            );
                            assert_eq!(
                                got.is_empty(),
                                candidates.is_empty(),
                                "{policy:?} {all_down:?} {standings:?}"
                            );
                            if policy == Policy::Failover {
                                let n = candidates.len().min(max);
                                assert_eq!(got, &candidates[..n], "failover keeps the order");
                            }
                            let serving = standings.contains(&Standing::Serving);
                            let up = serving || standings.contains(&Standing::Held);
                            let wanted = if serving {
                                Standing::Serving
                            } else {
                                Standing::Held
                            };
                            if up {
                                assert!(
                                    got.iter().all(|&i| standings[i as usize] == wanted),
                                    "{policy:?} {all_down:?} {standings:?}: {got:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
