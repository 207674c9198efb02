//! A per-thread random source for spreading load (shuffles, weights, probe
//! jitter): no lock, no syscall, no allocation per call. Not for secrets.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

thread_local! {
    /// xorshift state, seeded once per thread from std's randomly keyed
    /// hasher.
    static STATE: Cell<u64> = Cell::new(std::collections::hash_map::RandomState::new().build_hasher().finish() | 1);
}

/// A number in `0..bound` (0 when `bound` is 0); xorshift64* with Lemire's
/// multiply-shift reduction.
pub(crate) fn below(bound: u64) -> u64 {
    let x = STATE.with(|cell| {
        let mut x = cell.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        cell.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    });
    ((x as u128 * bound as u128) >> 64) as u64
}

/// A duration in `0..bound`.
pub(crate) fn duration_below(bound: Duration) -> Duration {
    Duration::from_nanos(below(bound.as_nanos().min(u64::MAX as u128) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_below_the_bound_and_spreads() {
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[below(10) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        assert_eq!(below(0), 0);
        assert!(duration_below(Duration::from_millis(5)) < Duration::from_millis(5));
    }
}
