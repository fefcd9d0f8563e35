//! Random numbers for the virtual users (weighted task picks, think-time jitter, the
//! `${random…}` template functions): one small generator per user, started from a number so
//! a test can replay it. SplitMix64 (Steele, Lea and Flood, 2014): a few instructions per
//! number, equidistributed, and plenty for spreading load, which needs no cryptography.

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct Rng64(u64);

impl Rng64 {
    /// A generator whose sequence is fixed by `start`. The start is mixed first: SplitMix64's
    /// state moves by a fixed step, so users started at `i × step` would otherwise replay one
    /// another's numbers one draw apart.
    pub fn starting_at(start: u64) -> Rng64 {
        let mut mixer = Rng64(start);
        Rng64(rand::RngCore::next_u64(&mut mixer))
    }
}

impl rand::RngCore for Rng64 {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, RngCore};

    use super::*;

    #[test]
    fn the_sequence_is_splitmix64s() {
        // The reference values of SplitMix64 from 0 (Vigna's splitmix64.c): the first is the
        // mixed start, the next the first number drawn from it.
        let mut r = Rng64(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let step = 0x9E37_79B9_7F4A_7C15u64;
        let (mut u0, mut u1) = (Rng64::starting_at(0), Rng64::starting_at(step));
        u0.next_u64();
        assert_ne!(
            u0.next_u64(),
            u1.next_u64(),
            "user 1 is not user 0 one draw later"
        );
        let mut a = Rng64::starting_at(7);
        let mut b = Rng64::starting_at(7);
        assert_eq!(
            a.next_u64(),
            b.next_u64(),
            "the same start, the same numbers"
        );
    }

    #[test]
    fn ranges_are_covered_evenly() {
        let mut r = Rng64::starting_at(42);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[r.random_range(0..10)] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        let mut bytes = [0u8; 13];
        r.fill_bytes(&mut bytes);
        assert!(bytes.iter().any(|b| *b != 0));
    }
}
