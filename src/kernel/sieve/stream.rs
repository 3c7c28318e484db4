//! The kept sieving primes (above `SMALL_MAX`, up to the kept limit), made on demand
//! by a small odd-only segmented sieve: a prime is set up when its square comes in
//! reach, so a call on small numbers never pays for primes it does not need. Larger
//! sieving primes come from the process's shared table (`super::super::sieving_primes`).

use super::*;

/// The primes above `SMALL_MAX` in ascending order, made on demand by a small odd-only
/// segmented sieve: the sieve sets up each prime when its square comes in reach, so no
/// table of all sieving primes is ever stored apart from their bucket entries.
///
/// Near 1e15 a call sets up 1.9 M primes from here, and making them was most of its
/// 50 ms set-up: so a window starts from a pattern of the multiples of 3..=13 (44% of
/// the crossings), is crossed off a byte per number (independent stores), and is then
/// packed into bits, where `peek` finds the next prime a word at a time (a scan of
/// bytes paid a mispredicted exit per prime).
pub(super) struct PrimeStream {
    /// Odd primes from 17 up to 2^16, enough for every number below 2^32.
    pub(super) base: Vec<u64>,
    /// The odd numbers k = 2t + 1 for t in 0..`PATTERN_PERIOD`: prime to 3..=13?
    pattern: Vec<bool>,
    /// Odd numbers `lo, lo + 2, ...`: still prime? (crossed off here, then packed)
    bytes: Vec<bool>,
    /// `bytes` packed, a bit per odd number, read by `peek`.
    pub(super) window: Vec<u64>,
    pub(super) lo: u64,
    /// Next odd number (index into the window's bits) to look at.
    pub(super) i: usize,
}

/// The primes whose multiples the pattern removes; every prime the stream gives is
/// larger (the stream starts above `SMALL_MAX`).
const PATTERN_PRIMES: [u64; 5] = [3, 5, 7, 11, 13];
const PATTERN_PERIOD: usize = 3 * 5 * 7 * 11 * 13;
const _: () = assert!(SMALL_MAX > 13);

/// Odd numbers per window: 32 KiB of bytes, in L1.
const WINDOW_ODDS: usize = 1 << 15;

impl PrimeStream {
    pub(super) fn new() -> Self {
        let base = primes_up_to(1 << 16)
            .into_iter()
            .map(u64::from)
            .filter(|&p| p > 13)
            .collect();
        let pattern = (0..PATTERN_PERIOD as u64)
            .map(|t| PATTERN_PRIMES.iter().all(|p| (2 * t + 1) % p != 0))
            .collect();
        let mut s = PrimeStream {
            base,
            pattern,
            bytes: vec![false; WINDOW_ODDS],
            window: vec![0; WINDOW_ODDS / 64],
            lo: 0,
            i: 0,
        };
        s.reset();
        s
    }

    /// Starts again from the first prime above `SMALL_MAX`.
    pub(super) fn reset(&mut self) {
        self.lo = (SMALL_MAX + 1) | 1;
        self.sieve_window();
    }

    pub(super) fn sieve_window(&mut self) {
        let (lo, n) = (self.lo, self.bytes.len() as u64);
        let hi = lo + 2 * (n - 1);
        // lo + 2i = 2k + 1 with k = (lo - 1)/2 + i, and k mod the period is its
        // place in the pattern.
        let mut t = ((lo - 1) / 2 % PATTERN_PERIOD as u64) as usize;
        let mut done = 0;
        while done < self.bytes.len() {
            let n = (PATTERN_PERIOD - t).min(self.bytes.len() - done);
            self.bytes[done..done + n].copy_from_slice(&self.pattern[t..t + n]);
            done += n;
            t = 0;
        }
        for &p in &self.base {
            if p * p > hi {
                break;
            }
            let mut m = (lo.div_ceil(p) * p).max(p * p);
            if m % 2 == 0 {
                m += p;
            }
            while m <= hi {
                self.bytes[((m - lo) / 2) as usize] = false;
                m += 2 * p;
            }
        }
        for (word, chunk) in self.window.iter_mut().zip(self.bytes.chunks_exact(64)) {
            *word = pack64(chunk);
        }
        self.i = 0;
    }

    /// The next prime, without consuming it.
    pub(super) fn peek(&mut self) -> u64 {
        loop {
            let w = self.i / 64;
            if let Some(&word) = self.window.get(w) {
                let bits = word & (!0u64 << (self.i % 64));
                if bits != 0 {
                    self.i = 64 * w + bits.trailing_zeros() as usize;
                    return self.lo + 2 * self.i as u64;
                }
                self.i = 64 * (w + 1);
                continue;
            }
            self.lo += 2 * self.bytes.len() as u64;
            self.sieve_window();
        }
    }

    /// Consumes the prime `peek` gave.
    pub(super) fn advance(&mut self) {
        self.i += 1;
    }

    /// Bytes held on the heap.
    pub(super) fn heap_bytes(&self) -> usize {
        self.base.capacity() * 8
            + self.pattern.capacity()
            + self.bytes.capacity()
            + self.window.capacity() * 8
    }
}

/// 64 bools as the bits of a word (bool `k` as bit `k`): 8 at a time, each byte's low
/// bit gathered into the top byte by one multiplication (the partial products of the
/// lower bytes stay below bit 56, so nothing carries into it).
fn pack64(bools: &[bool]) -> u64 {
    let mut word = 0;
    for (g, eight) in bools.chunks_exact(8).enumerate() {
        let mut x = 0u64;
        for (k, &b) in eight.iter().enumerate() {
            x |= u64::from(b) << (8 * k);
        }
        word |= (x.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * g);
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream gives exactly the primes above `SMALL_MAX`, across many windows.
    #[test]
    fn stream_gives_every_prime_in_order() {
        let limit = 3_000_000u32;
        let want: Vec<u64> = primes_up_to(limit)
            .into_iter()
            .map(u64::from)
            .filter(|&p| p > SMALL_MAX)
            .collect();
        let mut s = PrimeStream::new();
        for round in 0..2 {
            for &p in &want {
                assert_eq!(s.peek(), p, "round {round}");
                assert_eq!(s.peek(), p, "peek twice, round {round}");
                s.advance();
            }
            s.reset();
        }
    }

    #[test]
    fn pack64_keeps_every_bit() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bools: Vec<bool> = (0..64).map(|k| x >> k & 1 == 1).collect();
            assert_eq!(pack64(&bools), x);
        }
    }
}
