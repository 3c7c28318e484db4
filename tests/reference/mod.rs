//! Independent references shared by the tests: primality by naive trial division, and
//! a tiny seeded random generator (no dependencies). Nothing here calls the crate under
//! test, so a test that compares against these compares against something else.
//!
//! Every test file that includes this (`mod reference;`) uses only part of it.

#![allow(dead_code)]

/// Is `n` prime, by trial division by 2 and every odd d with d*d <= n: the obviously
/// right answer, affordable for n up to about 2^40 (and for composites with a small
/// factor at any size). Numbers that fit a u64 divide in u64, which is much faster.
pub fn is_prime_naive(n: u128) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    if let Ok(n) = u64::try_from(n) {
        let mut d = 3u64;
        // d <= n / d rather than d * d <= n: the square overflows a u64 for n near 2^64.
        while d <= n / d {
            if n % d == 0 {
                return false;
            }
            d += 2;
        }
        return true;
    }
    // d stays far below 2^64 in any run that ends, so d * d cannot overflow.
    let mut d = 3u128;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// Seeded pseudo-random numbers, so that a failure replays from its seed. Two
/// sequences, chosen at construction: xorshift64* (Vigna) and splitmix64. The tests
/// keep the one they were written with, so they draw the same cases as before.
pub struct Rng {
    state: u64,
    sequence: Sequence,
}

enum Sequence {
    XorShift64Star,
    SplitMix64,
}

impl Rng {
    /// xorshift64* from `seed`, which must not be 0 (0 stays 0 for ever).
    pub fn xorshift(seed: u64) -> Self {
        assert_ne!(seed, 0, "xorshift64* needs a nonzero seed");
        Rng {
            state: seed,
            sequence: Sequence::XorShift64Star,
        }
    }

    /// splitmix64 from `seed` (any seed).
    pub fn splitmix(seed: u64) -> Self {
        Rng {
            state: seed,
            sequence: Sequence::SplitMix64,
        }
    }

    pub fn next(&mut self) -> u64 {
        match self.sequence {
            Sequence::XorShift64Star => {
                self.state ^= self.state >> 12;
                self.state ^= self.state << 25;
                self.state ^= self.state >> 27;
                self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
            }
            Sequence::SplitMix64 => {
                self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = self.state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            }
        }
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// An index in `0..n` (n > 0).
    pub fn index(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with the given chance in percent.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    /// 128 bits from two draws, the first one high.
    pub fn u128(&mut self) -> u128 {
        ((self.next() as u128) << 64) | self.next() as u128
    }
}
