//! The kept sieving primes (above `SMALL_MAX`, up to the kept limit), made on demand
//! by a sieve of their own: a prime is set up when its square comes in reach, so a
//! call on small numbers never pays for primes it does not need. Larger sieving primes
//! come from the process's shared table (`super::super::sieving_primes`).

use super::*;

/// The primes above `SMALL_MAX` in ascending order, made a window at a time by an inner
/// [`Sieve`] (the wheel of 30, pre-sieve and unrolled small primes), so no table of all
/// sieving primes is ever stored apart from their bucket entries.
///
/// Near 1e15 a call sets up the 1.9 M primes up to 3.2e7 from here. A plain odd-only
/// sieve of bools made them in 20 ms (most of the call's set-up; primesieve's whole
/// set-up there takes 9 ms); the inner sieve, a few.
pub(super) struct PrimeStream {
    /// Sieves the windows; made on first use, so that making a `Sieve` does not make
    /// another. Past `SMALL_MAX`^2 (2^26 on 64-bit, below the kept limit) it needs
    /// medium primes from a stream of its own, whose inner sieve stops below 2^15 and
    /// so needs small primes alone: three sieves at most, the third made only by a
    /// call that reaches 2^26.
    sieve: Option<Box<Sieve>>,
    /// The primes of the current window, ascending.
    primes: Vec<u64>,
    /// Index in `primes` of the next prime.
    i: usize,
    /// First number of the next window.
    next: u64,
}

/// Most numbers per window: about 33 K primes near the kept limit, 256 KiB. Windows
/// start smaller and grow with their start (a call on small numbers needs few primes).
const WINDOW: u64 = 1 << 20;

// The inner sieve (a budget of 64 MiB: kept limit 2^22) sieves at most one window past
// the kept limit, never past its kept primes (it opens no windows, needs no table).
const _: () = assert!(KEEP_LIMIT + 2 * WINDOW < SMALL_KEEP_LIMIT * SMALL_KEEP_LIMIT);

impl PrimeStream {
    pub(super) fn new() -> Self {
        PrimeStream {
            sieve: None,
            primes: Vec::new(),
            i: 0,
            next: SMALL_MAX + 1,
        }
    }

    /// Starts again from the first prime above `SMALL_MAX`.
    pub(super) fn reset(&mut self) {
        self.primes.clear();
        self.i = 0;
        self.next = SMALL_MAX + 1;
    }

    /// Lists the primes of the next window.
    fn fill(&mut self) {
        let (start, stop) = (self.next, self.next + self.next.clamp(1 << 14, WINDOW) - 1);
        // Its budget only sizes windows of large primes, which it never opens (and a
        // small one gives it a small ring of buckets, which stays empty).
        let sieve = self
            .sieve
            .get_or_insert_with(|| Box::new(Sieve::with_memory(Memory::mib(64, 1))));
        let primes = &mut self.primes;
        primes.clear();
        sieve.primes(start, stop, &mut |batch| primes.extend_from_slice(batch));
        self.i = 0;
        self.next = stop + 1;
    }

    /// The next prime, without consuming it.
    pub(super) fn peek(&mut self) -> u64 {
        loop {
            if let Some(&p) = self.primes.get(self.i) {
                return p;
            }
            self.fill();
        }
    }

    /// Consumes the prime `peek` gave.
    pub(super) fn advance(&mut self) {
        self.i += 1;
    }

    /// Bytes held on the heap, the inner sieve's included.
    pub(super) fn heap_bytes(&self) -> usize {
        self.primes.capacity() * 8 + self.sieve.as_ref().map_or(0, |s| s.heap_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream gives exactly the primes above `SMALL_MAX`, across windows, and
    /// again from the start after a reset (in the middle of a window).
    #[test]
    fn stream_gives_every_prime_in_order() {
        let limit = 3_500_000u32;
        let want: Vec<u64> = primes_up_to(limit)
            .into_iter()
            .map(u64::from)
            .filter(|&p| p > SMALL_MAX)
            .collect();
        let mut s = PrimeStream::new();
        for &p in &want[..1000] {
            assert_eq!(s.peek(), p);
            s.advance();
        }
        s.reset();
        for &p in &want {
            assert_eq!(s.peek(), p);
            assert_eq!(s.peek(), p, "peek twice");
            s.advance();
        }
    }

    /// Past `SMALL_MAX`^2 the inner sieve needs medium primes of its own (the kept
    /// limit of 64-bit is past it): every prime from SMALL_MAX^2 - 2^21 to
    /// SMALL_MAX^2 + 2^22 (2^26 on 64-bit, 2^24 on 32-bit) comes out, against a plain
    /// sieve.
    #[test]
    fn stream_passes_small_max_squared() {
        let (lo, hi) = (
            (SMALL_MAX * SMALL_MAX - (1 << 21)) as u32,
            (SMALL_MAX * SMALL_MAX + (1 << 22)) as u32,
        );
        let want: Vec<u64> = primes_up_to(hi)
            .into_iter()
            .filter(|&p| p >= lo)
            .map(u64::from)
            .collect();
        let mut s = PrimeStream::new();
        while s.peek() < u64::from(lo) {
            s.advance();
        }
        for &p in &want {
            assert_eq!(s.peek(), p);
            s.advance();
        }
        assert!(s.peek() > u64::from(hi));
    }
}
