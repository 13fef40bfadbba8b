//! The one hash every seeded stream is keyed with: FNV-1a, stable across platforms and Rust
//! releases (std's hashers promise neither), and splitmix64's output mixer. What a stream
//! hashes (the seed, length-prefixed names, raw integers) stays each caller's choice, so
//! every stream draws what it drew before.

/// FNV-1a over the bytes written so far.
pub(crate) struct Fnv1a(u64);

impl Fnv1a {
    /// A hash of `seed`'s little-endian bytes.
    pub(crate) fn with_seed(seed: u64) -> Self {
        let mut hash = Fnv1a(0xcbf2_9ce4_8422_2325);
        hash.write(&seed.to_le_bytes());
        hash
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// `bytes` after its length (as a u64), so that ("ab", "c") and ("a", "bc") differ.
    pub(crate) fn write_prefixed(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

/// FNV-1a over `seed` and length-prefixed `parts`.
pub(crate) fn hash_parts(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut hash = Fnv1a::with_seed(seed);
    for part in parts {
        hash.write_prefixed(part);
    }
    hash.finish()
}

/// splitmix64's output function: a strong 64-bit mixer (without the generator's increment).
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One step of the splitmix64 generator from state `z`: the golden-ratio increment, then
/// [`mix64`].
pub(crate) fn splitmix64(z: u64) -> u64 {
    mix64(z.wrapping_add(0x9e37_79b9_7f4a_7c15))
}

#[cfg(test)]
mod tests {
    use super::{hash_parts, splitmix64};

    /// Pinned values: these hashes key cached artifacts (splits, phantom images, training
    /// streams), so they must never change.
    #[test]
    fn hashes_are_pinned() {
        assert_eq!(hash_parts(0, &[]), 0xa8c7_f832_281a_39c5);
        assert_ne!(hash_parts(7, &[b"ab", b"c"]), hash_parts(7, &[b"a", b"bc"]));
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }
}
