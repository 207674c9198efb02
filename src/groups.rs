//! Item indices grouped by a dense key, each group in input order: how the
//! zone checks and the table builder take a zone's records owner by owner.

/// Indices `0..n` grouped by key; group `g` holds, in ascending order, the
/// indices whose key is `g`.
#[derive(Debug)]
pub(crate) struct Groups {
    /// The indices, group after group.
    order: Vec<u32>,
    /// Group `g` is `order[starts[g]..starts[g + 1]]`.
    starts: Vec<u32>,
}

impl Groups {
    /// Groups `0..key_of.len()` by `key_of[i]`, every key below `count`: a
    /// stable counting sort, linear in the items and the keys.
    pub(crate) fn by_key(key_of: &[u32], count: usize) -> Groups {
        let mut starts = vec![0u32; count + 1];
        for &key in key_of {
            starts[key as usize + 1] += 1;
        }
        for g in 1..starts.len() {
            starts[g] += starts[g - 1];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; key_of.len()];
        for (i, &key) in key_of.iter().enumerate() {
            order[next[key as usize] as usize] = i as u32;
            next[key as usize] += 1;
        }
        Groups { order, starts }
    }

    /// The indices of group `g`.
    pub(crate) fn get(&self, g: usize) -> &[u32] {
        &self.order[self.starts[g] as usize..self.starts[g + 1] as usize]
    }

    /// Every group, by key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u32]> {
        self.starts
            .windows(2)
            .map(|w| &self.order[w[0] as usize..w[1] as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::Groups;

    #[test]
    fn groups_keep_input_order_and_empty_keys_stay_empty() {
        let groups = Groups::by_key(&[2, 0, 2, 0, 3, 2], 5);
        let all: Vec<&[u32]> = groups.iter().collect();
        assert_eq!(all, [&[1, 3][..], &[], &[0, 2, 5], &[4], &[]]);
        assert_eq!(groups.get(2), &[0, 2, 5]);
        assert!(Groups::by_key(&[], 0).iter().next().is_none());
    }
}
