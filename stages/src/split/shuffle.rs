//! Seeded, keyed shuffles whose output depends only on ChaCha8's word stream.
//!
//! Each class gets its own stream keyed by (seed, purpose, class), so adding a class
//! or a patient of another class never reshuffles a class. Fisher–Yates is written out
//! here instead of taken from `rand`, whose algorithms may change between releases:
//! the split is part of a cache key.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::stable_hash::hash_parts;

pub(super) fn shuffle<T>(items: &mut [T], seed: u64, purpose: &str, class: &str) {
    let mut rng =
        ChaCha8Rng::seed_from_u64(hash_parts(seed, &[purpose.as_bytes(), class.as_bytes()]));
    for i in (1..items.len()).rev() {
        // Uniform in 0..=i by multiply-high: no modulo bias worth speaking of.
        let j = ((u128::from(rng.next_u64()) * (i as u128 + 1)) >> 64) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffles_are_seeded_permutations() {
        let base: Vec<u32> = (0..50).collect();
        let run = |seed, class| {
            let mut v = base.clone();
            shuffle(&mut v, seed, "split", class);
            v
        };
        assert_eq!(run(1, "viral"), run(1, "viral"));
        assert_ne!(run(1, "viral"), run(2, "viral"));
        assert_ne!(run(1, "viral"), run(1, "fungal"));
        let mut sorted = run(3, "viral");
        sorted.sort();
        assert_eq!(sorted, base);
    }
}
