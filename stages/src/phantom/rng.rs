//! Deterministic random streams.
//!
//! Every stream is keyed by what it is for (seed, class, patient, image, purpose) instead
//! of being drawn in generation order, so an image never depends on iteration order, on
//! the other classes in the config, or on how many numbers another feature consumed.
//! Values come straight from ChaCha8's word stream (not from `rand`'s distributions,
//! whose algorithms may change between releases) because the output is part of a cache key.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::stable_hash::{hash_parts, mix64, splitmix64};

/// Identifies one patient of one class under one seed.
#[derive(Clone, Copy, Debug)]
pub(super) struct PatientKey<'a> {
    pub seed: u64,
    pub class: &'a str,
    pub patient: u32,
}

impl PatientKey<'_> {
    /// A stream shared by all images of the patient (anatomy, findings).
    pub(super) fn rng(&self, purpose: &str) -> Rng {
        Rng::keyed(
            self.seed,
            &[
                self.class.as_bytes(),
                &self.patient.to_le_bytes(),
                purpose.as_bytes(),
            ],
        )
    }

    /// A stream for one image of the patient (position, exposure, noise).
    pub(super) fn image_rng(&self, image: u32, purpose: &str) -> Rng {
        Rng::keyed(
            self.seed,
            &[
                self.class.as_bytes(),
                &self.patient.to_le_bytes(),
                &image.to_le_bytes(),
                purpose.as_bytes(),
            ],
        )
    }
}

pub(super) struct Rng(ChaCha8Rng);

impl Rng {
    pub(super) fn keyed(seed: u64, parts: &[&[u8]]) -> Self {
        Self(ChaCha8Rng::seed_from_u64(splitmix64(hash_parts(
            seed, parts,
        ))))
    }

    /// Uniform in [0, 1), with 24 bits (all an f32 mantissa holds).
    pub(super) fn unit(&mut self) -> f32 {
        (self.0.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    pub(super) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    pub(super) fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// Uniform integer in lo..=hi.
    pub(super) fn int(&mut self, lo: u32, hi: u32) -> u32 {
        let span = u64::from(hi - lo) + 1;
        lo + ((u64::from(self.0.next_u32()) * span) >> 32) as u32
    }

    /// A cheap generator seeded from this stream, for per-pixel noise where ChaCha
    /// would dominate the run time of debug builds.
    pub(super) fn fast(&mut self) -> FastRng {
        FastRng(self.0.next_u64())
    }
}

/// SplitMix64: statistically fine for film grain and much cheaper than ChaCha.
pub(super) struct FastRng(u64);

impl FastRng {
    /// Approximately standard normal: a sum of four uniforms (Irwin–Hall), rescaled.
    /// Film grain needs no exact tails, and this avoids `ln` and `cos` per pixel.
    pub(super) fn grain(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let bits = mix64(self.0);
        let sum: u32 = (0..4).map(|i| ((bits >> (16 * i)) & 0xffff) as u32).sum();
        (sum as f32 / 65_535.0 - 2.0) * 3f32.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_every_key_part() {
        let key = PatientKey {
            seed: 1,
            class: "viral",
            patient: 3,
        };
        let first = |mut rng: Rng| rng.0.next_u64();
        let base = first(key.rng("anatomy"));
        assert_eq!(base, first(key.rng("anatomy")));
        assert_ne!(base, first(key.rng("finding")));
        assert_ne!(base, first(PatientKey { seed: 2, ..key }.rng("anatomy")));
        assert_ne!(base, first(PatientKey { patient: 4, ..key }.rng("anatomy")));
        assert_ne!(
            base,
            first(
                PatientKey {
                    class: "fungal",
                    ..key
                }
                .rng("anatomy")
            )
        );
        assert_ne!(
            first(key.image_rng(1, "film")),
            first(key.image_rng(2, "film"))
        );
    }

    #[test]
    fn samplers_stay_in_range() {
        let mut rng = Rng::keyed(7, &[]);
        for _ in 0..10_000 {
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
            assert!((3..=5).contains(&rng.int(3, 5)));
        }
    }
}
