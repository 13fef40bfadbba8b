//! Keyed random streams: every random decision of training (shuffling, augmentation,
//! dropout) draws from a stream keyed by what it is for, so none depends on how many
//! numbers another consumed, nor on Burn's backend-global RNG.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::stable_hash::{Fnv1a, splitmix64};

/// The stream for `purpose` and `parts` (epoch, image index, …) under `seed`.
pub(crate) fn keyed_rng(seed: u64, purpose: &str, parts: &[u64]) -> ChaCha8Rng {
    let mut hash = Fnv1a::with_seed(seed);
    hash.write_prefixed(purpose.as_bytes());
    for part in parts {
        hash.write(&part.to_le_bytes());
    }
    ChaCha8Rng::seed_from_u64(splitmix64(hash.finish()))
}

/// Uniform in [0, 1) with 24 bits, straight from the word stream (rand's distribution
/// algorithms may change between releases; what we draw ends up in cached artifacts).
pub(crate) fn unit(rng: &mut ChaCha8Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform in [-max, max].
pub(crate) fn symmetric(rng: &mut ChaCha8Rng, max: f64) -> f64 {
    (2.0 * f64::from(unit(rng)) - 1.0) * max
}

/// Standard normal (Box–Muller).
pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1 = 1.0 - unit(rng); // (0, 1]: ln stays finite
    let u2 = unit(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// A uniformly random permutation of 0..n (Fisher–Yates).
pub(crate) fn permutation(rng: &mut ChaCha8Rng, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = ((u64::from(rng.next_u32()) * (i as u64 + 1)) >> 32) as usize;
        order.swap(i, j);
    }
    order
}

/// Training batches drawn in epochs of a seeded permutation, so every example is seen
/// equally often. An epoch that runs out mid-batch is followed at once by the next
/// permutation, drawn from the stream `epoch_rng` gives (keyed by the step needing it).
pub(crate) struct EpochOrder {
    len: usize,
    order: Vec<usize>,
    cursor: usize,
}

impl EpochOrder {
    /// Epochs over `len` examples (at least one).
    pub(crate) fn new(len: usize) -> Self {
        Self {
            len,
            order: Vec::new(),
            cursor: 0,
        }
    }

    /// The indices of the next `batch_size` examples.
    pub(crate) fn next_batch(
        &mut self,
        batch_size: usize,
        epoch_rng: impl Fn() -> ChaCha8Rng,
    ) -> Vec<usize> {
        let mut batch = Vec::with_capacity(batch_size);
        while batch.len() < batch_size {
            if self.cursor == self.order.len() {
                self.order = permutation(&mut epoch_rng(), self.len);
                self.cursor = 0;
            }
            batch.push(self.order[self.cursor]);
            self.cursor += 1;
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_keyed_and_reproducible() {
        let a = keyed_rng(1, "x", &[2]).next_u64();
        assert_eq!(a, keyed_rng(1, "x", &[2]).next_u64());
        assert_ne!(a, keyed_rng(1, "x", &[3]).next_u64());
        assert_ne!(a, keyed_rng(1, "y", &[2]).next_u64());
        assert_ne!(a, keyed_rng(2, "x", &[2]).next_u64());
    }

    #[test]
    fn epochs_see_every_example_once_and_carry_over_between_batches() {
        let mut epochs = EpochOrder::new(5);
        let rng = |epoch: u64| move || keyed_rng(0, "e", &[epoch]);
        let first = permutation(&mut keyed_rng(0, "e", &[0]), 5);
        let second = permutation(&mut keyed_rng(0, "e", &[1]), 5);
        assert_eq!(epochs.next_batch(3, rng(0)), first[..3]);
        // Two left of the first epoch, then the second one's first.
        let batch = epochs.next_batch(3, rng(1));
        assert_eq!(batch[..2], first[3..]);
        assert_eq!(batch[2], second[0]);
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = permutation(&mut keyed_rng(0, "p", &[]), 50);
        assert_ne!(p, (0..50).collect::<Vec<_>>());
        p.sort_unstable();
        assert_eq!(p, (0..50).collect::<Vec<_>>());
    }
}
