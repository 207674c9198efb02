//! Longest-prefix match as disjoint ranges: the networks of one address
//! family flattened, at load, into the sorted starts of ranges that cover
//! the whole address space, each with the region of the most specific
//! network over it (or the default region). A lookup is one binary search
//! in a slice, narrowed first by a small index on the address's top bits:
//! no allocation, no pointer chasing, two flat arrays.

use super::Region;

/// An address of one family as an unsigned integer.
pub(crate) trait Key: Copy + Ord + std::fmt::Debug {
    /// Bits in an address.
    const BITS: u32;
    /// The low `BITS` bits of `bits`.
    fn from_bits(bits: u128) -> Self;
    /// The address, widened.
    fn bits(self) -> u128;
}

impl Key for u32 {
    const BITS: u32 = 32;
    fn from_bits(bits: u128) -> u32 {
        bits as u32
    }
    fn bits(self) -> u128 {
        u128::from(self)
    }
}

impl Key for u128 {
    const BITS: u32 = 128;
    fn from_bits(bits: u128) -> u128 {
        bits
    }
    fn bits(self) -> u128 {
        self
    }
}

/// The last address of a family, as bits.
fn all_ones<K: Key>() -> u128 {
    u128::MAX >> (128 - K::BITS)
}

/// A network: its first address (host bits clear) and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Prefix {
    /// First address, as bits of the family's width.
    pub start: u128,
    /// Prefix length, at most the family's width.
    pub length: u8,
}

impl Prefix {
    /// The last address of the network.
    fn end<K: Key>(self) -> u128 {
        self.start
            | all_ones::<K>()
                .checked_shr(u32::from(self.length))
                .unwrap_or(0)
    }
}

/// The region a lookup found and how much of the address decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// The client's region.
    pub region: Region,
    /// The shortest prefix of the address all of whose addresses are in
    /// the same range, so get the same region: the scope an ECS reply
    /// may claim (RFC 7871 §7.2.1). 0 when every address gets this region.
    pub scope: u8,
}

/// Disjoint ranges covering a family's addresses, each with its region.
#[derive(Debug, Clone)]
pub(crate) struct Ranges<K> {
    /// The first address of each range, ascending; the first is 0.
    starts: Box<[K]>,
    /// The region of each range; two neighbours never have the same one.
    regions: Box<[Region]>,
    /// For each value of an address's top `index_bits` bits, the first
    /// range starting at or after the first address with those bits, and
    /// one more entry (the number of ranges): a lookup searches only the
    /// ranges between two neighbouring entries.
    index: Box<[u32]>,
    /// How many top bits the index is keyed by.
    index_bits: u32,
}

impl<K: Key> Ranges<K> {
    /// The ranges of `prefixes`, sorted and without two of the same
    /// network; addresses in none of them get `default`.
    pub(crate) fn build(prefixes: &[(Prefix, Region)], default: Region) -> Ranges<K> {
        debug_assert!(prefixes.windows(2).all(|w| w[0].0 < w[1].0));
        let mut starts: Vec<u128> = Vec::with_capacity(prefixes.len() * 2 + 1);
        let mut regions: Vec<Region> = Vec::with_capacity(prefixes.len() * 2 + 1);
        // From `from` on, addresses get `region` (until a later call).
        let mut emit = |from: u128, region: Region| {
            if starts.last() == Some(&from) {
                starts.pop();
                regions.pop();
            }
            if regions.last() != Some(&region) {
                starts.push(from);
                regions.push(region);
            }
        };
        emit(0, default);
        // The networks containing the current address, innermost last;
        // sorting by start and then length puts a network before those
        // inside it.
        let mut open: Vec<(u128, Region)> = Vec::new();
        for &(prefix, region) in prefixes {
            while let Some(&(end, _)) = open.last() {
                if end >= prefix.start {
                    break;
                }
                open.pop();
                let outer = open.last().map_or(default, |&(_, region)| region);
                emit(end + 1, outer);
            }
            emit(prefix.start, region);
            open.push((prefix.end::<K>(), region));
        }
        while let Some((end, _)) = open.pop() {
            if end < all_ones::<K>() {
                let outer = open.last().map_or(default, |&(_, region)| region);
                emit(end + 1, outer);
            }
        }
        let starts: Box<[K]> = starts.into_iter().map(K::from_bits).collect();
        let index_bits = index_bits(starts.len()).min(K::BITS);
        let index = (0..=1u128 << index_bits)
            .map(|bucket| {
                let first = bucket.checked_shl(K::BITS - index_bits).unwrap_or(0);
                // The entry past the last bucket counts every range.
                let found = if bucket >> index_bits == 1 {
                    starts.len()
                } else {
                    starts.partition_point(|start| start.bits() < first)
                };
                u32::try_from(found).expect("fewer ranges than 2^32")
            })
            .collect();
        Ranges {
            starts,
            regions: regions.into_boxed_slice(),
            index,
            index_bits,
        }
    }

    /// The region of `addr`, and the scope of that answer.
    pub(crate) fn lookup(&self, addr: K) -> Match {
        let bits = addr.bits();
        let bucket = if self.index_bits == 0 {
            0
        } else {
            (bits >> (K::BITS - self.index_bits)) as usize
        };
        // Ranges from `low` on start inside the bucket; the one before
        // `low` (if any) started earlier and may reach into it.
        let low = self.index[bucket] as usize;
        let high = self.index[bucket + 1] as usize;
        let within = self.starts[low..high].partition_point(|&start| start <= addr);
        // `starts[0]` is 0, so some range starts at or before `addr`.
        let i = low + within - 1;
        // The scope: the shortest prefix of `addr` that holds neither the
        // address before the range nor the one after it.
        let mut scope = 0;
        let common = |other: u128| (bits ^ other).leading_zeros() - (128 - K::BITS);
        if i > 0 {
            scope = scope.max(common(self.starts[i].bits() - 1) + 1);
        }
        if let Some(next) = self.starts.get(i + 1) {
            scope = scope.max(common(next.bits()) + 1);
        }
        Match {
            region: self.regions[i],
            scope: scope as u8,
        }
    }

    /// Ranges in the table.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// Bytes the table holds on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.starts)
            + std::mem::size_of_val(&*self.regions)
            + std::mem::size_of_val(&*self.index)
    }
}

/// Top bits to index `ranges` ranges by: about one range per bucket, at
/// most 2^16 buckets (256 KiB of index).
fn index_bits(ranges: usize) -> u32 {
    (usize::BITS - ranges.leading_zeros()).min(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*), so that a failure
    /// repeats.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn bits(&mut self) -> u128 {
            (u128::from(self.next()) << 64) | u128::from(self.next())
        }
    }

    fn region(n: u16) -> Region {
        Region(n)
    }

    fn mask<K: Key>(bits: u128, length: u8) -> u128 {
        bits & !(all_ones::<K>().checked_shr(u32::from(length)).unwrap_or(0)) & all_ones::<K>()
    }

    /// The most specific of `prefixes` holding `addr`, found by looking
    /// at every one.
    fn naive<K: Key>(prefixes: &[(Prefix, Region)], default: Region, addr: u128) -> Region {
        prefixes
            .iter()
            .filter(|(p, _)| mask::<K>(addr, p.length) == p.start)
            .max_by_key(|(p, _)| p.length)
            .map_or(default, |&(_, r)| r)
    }

    /// Random networks, clustered so that many nest and touch: starts from
    /// a few seeds, lengths spread over the family.
    fn random_prefixes<K: Key>(rng: &mut Rng, count: usize, regions: u16) -> Vec<(Prefix, Region)> {
        let seeds: Vec<u128> = (0..4).map(|_| rng.bits() & all_ones::<K>()).collect();
        let mut prefixes: Vec<(Prefix, Region)> = (0..count)
            .map(|_| {
                let length = rng.below(u64::from(K::BITS) + 1) as u8;
                let seed = seeds[rng.below(4) as usize];
                // Flip a few low bits of a seed so networks share prefixes.
                let near = seed ^ (rng.bits() & all_ones::<K>() >> (K::BITS / 2));
                let start = mask::<K>(near, length);
                let r = region(rng.below(u64::from(regions)) as u16);
                (Prefix { start, length }, r)
            })
            .collect();
        prefixes.sort_by_key(|&(p, _)| p);
        prefixes.dedup_by_key(|&mut (p, _)| p);
        prefixes
    }

    /// Addresses to try: each network's first and last address and their
    /// neighbours, and random ones.
    fn probes<K: Key>(rng: &mut Rng, prefixes: &[(Prefix, Region)]) -> Vec<u128> {
        let mut probes = vec![0, all_ones::<K>()];
        for &(p, _) in prefixes {
            let end = p.end::<K>();
            probes.extend([p.start, end]);
            probes.extend(p.start.checked_sub(1));
            if end < all_ones::<K>() {
                probes.push(end + 1);
            }
        }
        probes.extend((0..200).map(|_| rng.bits() & all_ones::<K>()));
        probes
    }

    fn agrees_with_naive<K: Key>(seed: u64) {
        let mut rng = Rng(seed);
        let default = region(99);
        for round in 0..40 {
            let count = 1 + rng.below(60) as usize;
            let prefixes = random_prefixes::<K>(&mut rng, count, 3);
            let ranges = Ranges::<K>::build(&prefixes, default);
            for addr in probes::<K>(&mut rng, &prefixes) {
                let found = ranges.lookup(K::from_bits(addr));
                let expected = naive::<K>(&prefixes, default, addr);
                assert_eq!(
                    found.region, expected,
                    "round {round}: {addr:#x} in {prefixes:?}"
                );
                // Every address of the scope's network gets the same
                // region, and of the network one bit shorter some do not.
                let scope = found.scope;
                let first = mask::<K>(addr, scope);
                let last = first | all_ones::<K>().checked_shr(u32::from(scope)).unwrap_or(0);
                let i = |a: u128| ranges.starts.partition_point(|s| s.bits() <= a);
                assert_eq!(i(first), i(last), "{addr:#x}: scope /{scope} is too short");
                if scope > 0 {
                    let wider = mask::<K>(addr, scope - 1);
                    let wider_last = wider
                        | all_ones::<K>()
                            .checked_shr(u32::from(scope - 1))
                            .unwrap_or(0);
                    assert_ne!(
                        i(wider),
                        i(wider_last),
                        "{addr:#x}: scope /{scope} is longer than needed"
                    );
                }
            }
        }
    }

    #[test]
    fn ipv4_lookups_agree_with_trying_every_network() {
        for seed in 1..=20 {
            agrees_with_naive::<u32>(seed);
        }
    }

    #[test]
    fn ipv6_lookups_agree_with_trying_every_network() {
        for seed in 1..=20 {
            agrees_with_naive::<u128>(seed);
        }
    }

    #[test]
    fn neighbours_of_one_region_merge_and_nothing_means_the_default() {
        let net = |start: u32, length| Prefix {
            start: u128::from(start),
            length,
        };
        let (eu, us, default) = (region(1), region(2), region(0));
        let empty = Ranges::<u32>::build(&[], default);
        assert_eq!(
            empty.lookup(0x0a00_0001),
            Match {
                region: default,
                scope: 0
            }
        );
        assert_eq!(empty.len(), 1);

        // 10.0.0.0/9 and 10.128.0.0/9 are one /8 to the lookup.
        let halves = [(net(0x0a00_0000, 9), eu), (net(0x0a80_0000, 9), eu)];
        let ranges = Ranges::<u32>::build(&halves, default);
        assert_eq!(ranges.len(), 3);
        assert_eq!(
            ranges.lookup(0x0aff_ffff),
            Match {
                region: eu,
                scope: 8
            }
        );

        // A /24 of us inside a /8 of eu: outside it, the scope must be long
        // enough to leave the /24 out.
        let nested = [(net(0x0a00_0000, 8), eu), (net(0x0a01_0200, 24), us)];
        let ranges = Ranges::<u32>::build(&nested, default);
        assert_eq!(
            ranges.lookup(0x0a01_0203),
            Match {
                region: us,
                scope: 24
            }
        );
        assert_eq!(
            ranges.lookup(0x0a80_0000),
            Match {
                region: eu,
                scope: 9
            }
        );
        assert_eq!(
            ranges.lookup(0x0a01_0300),
            Match {
                region: eu,
                scope: 24
            }
        );
        assert_eq!(
            ranges.lookup(0x0b00_0000),
            Match {
                region: default,
                scope: 8
            }
        );

        // The whole space and the last address.
        let all = [(net(0, 0), us), (net(u32::MAX, 32), eu)];
        let ranges = Ranges::<u32>::build(&all, default);
        assert_eq!(
            ranges.lookup(u32::MAX),
            Match {
                region: eu,
                scope: 32
            }
        );
        assert_eq!(
            ranges.lookup(0),
            Match {
                region: us,
                scope: 1
            }
        );
    }
}
