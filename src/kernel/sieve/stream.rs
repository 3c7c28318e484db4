//! The kept sieving primes (above `SMALL_MAX`, up to the kept limit), made on demand
//! by a small odd-only segmented sieve: a prime is set up when its square comes in
//! reach, so a call on small numbers never pays for primes it does not need. Larger
//! sieving primes come from the process's shared table (`super::super::sieving_primes`).

use super::*;

/// The primes above `SMALL_MAX` in ascending order, made on demand by a small odd-only
/// segmented sieve: the sieve sets up each prime when its square comes in reach, so no
/// table of all sieving primes is ever stored apart from their bucket entries.
pub(super) struct PrimeStream {
    /// Odd primes up to 2^16, enough for every number below 2^32.
    pub(super) base: Vec<u64>,
    /// Odd numbers `lo, lo + 2, ...`: still prime?
    pub(super) window: Vec<bool>,
    pub(super) lo: u64,
    /// Next index of `window` to look at.
    pub(super) i: usize,
}

impl PrimeStream {
    pub(super) fn new() -> Self {
        let base = primes_up_to(1 << 16)
            .into_iter()
            .skip(1)
            .map(u64::from)
            .collect();
        let mut s = PrimeStream {
            base,
            window: vec![false; 1 << 14],
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
        let (lo, n) = (self.lo, self.window.len() as u64);
        let hi = lo + 2 * (n - 1);
        self.window.fill(true);
        for &p in &self.base {
            if p * p > hi {
                break;
            }
            let mut m = (lo.div_ceil(p) * p).max(p * p);
            if m % 2 == 0 {
                m += p;
            }
            while m <= hi {
                self.window[((m - lo) / 2) as usize] = false;
                m += 2 * p;
            }
        }
        self.i = 0;
    }

    /// The next prime, without consuming it.
    pub(super) fn peek(&mut self) -> u64 {
        loop {
            if let Some(k) = self.window[self.i..].iter().position(|&b| b) {
                self.i += k;
                return self.lo + 2 * self.i as u64;
            }
            self.lo += 2 * self.window.len() as u64;
            self.sieve_window();
        }
    }

    /// Consumes the prime `peek` gave.
    pub(super) fn advance(&mut self) {
        self.i += 1;
    }
}
