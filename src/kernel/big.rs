//! Pre-sieve + Miller–Rabin: the kernel for ranges the sieve does not take, below 2^64
//! where its table would not fit and everywhere from 2^64 up to 2^128 - 1.
//!
//! # Contract
//! [`Presieve`] gives every prime in an inclusive range `start..=stop` (nothing when
//! `start > stop`), ascending, in batches of one segment each, for any range up to
//! `u128::MAX`. Primes below [`crate::u128math::MR13_BOUND`] are proven; above it they
//! are BPSW probable primes (see [`crate::u128math`]).
//!
//! # How
//! The odd numbers of the range are cut into segments of [`SEGMENT_ODDS`] (a byte
//! each, 128 KiB). Each segment is crossed off by the odd primes up to a limit `L`,
//! starting at `p * p` so that a small prime in the range is kept. `L` is at most
//! `sqrt(stop)`, at most the range's length (a short range does not pay for a long
//! table; at least 2^10), and at most [`MAX_SIEVE_PRIME_U64`] (2^20: ranges below 2^40
//! become a complete sieve) or [`MAX_SIEVE_PRIME_U128`] (2^22: a crossed-off number
//! saves a u128 test, which costs several microseconds). A survivor below `(L + 1)^2`
//! is prime by the sieve alone; the others go to the deterministic Miller–Rabin (BPSW
//! past 3.317e24) of [`crate::u128math`], u64 survivors four at a time. The prime
//! table, the per-prime offsets (carried from segment to segment) and the buffers are
//! kept between calls: no allocation per segment, about 4 MiB at most (L = 2^22:
//! 295k primes with a u32 and a u64 offset each, plus the 128 KiB segment).

use crate::u128math::{mr_u128, mr_u64, mr_u64_after_base_2, sprp2_lanes_u64, Mont64};

/// Odd numbers per segment: 2^17 bytes, so a segment covers 2^18 integers.
pub const SEGMENT_ODDS: usize = 1 << 17;

/// Largest sieving prime for ranges below 2^64 (survivors cost a u64 Miller–Rabin).
pub const MAX_SIEVE_PRIME_U64: u32 = 1 << 20;

/// Largest sieving prime for ranges reaching 2^64 and above (u128 Miller–Rabin/BPSW).
pub const MAX_SIEVE_PRIME_U128: u32 = 1 << 22;

/// The smallest sieving limit used for a short range.
const MIN_SIEVE_PRIME: u32 = 1 << 10;

/// Pre-sieve by small primes, then test the survivors. Keeps its tables and buffers.
pub struct Presieve {
    /// Largest sieving prime below 2^64 and at/above it.
    max_prime_u64: u32,
    max_prime_u128: u32,
    sieve: SegmentSieve,
    out64: Vec<u64>,
    out128: Vec<u128>,
}

impl Default for Presieve {
    fn default() -> Self {
        Self::new()
    }
}

/// The odd numbers of a range and the sieve's limit for it.
struct OddRange {
    /// The first odd number in the range.
    first: u128,
    /// How many odd numbers the range holds (at least 1).
    count: u128,
    /// Every prime up to `limit` crosses off its multiples.
    limit: u32,
    /// Survivors below this are prime without a test: `(limit + 1)^2`.
    proven_below: u128,
}

impl OddRange {
    /// The odd numbers of `start..=stop`, or `None` when there are none.
    fn new(start: u128, stop: u128, max_prime: u32) -> Option<Self> {
        if start > stop || stop == 0 {
            return None;
        }
        let first = start | 1;
        let last = if stop & 1 == 1 { stop } else { stop - 1 };
        if last < first {
            return None;
        }
        let count = (last - first) / 2 + 1;
        // No prime above sqrt(stop) crosses anything off; a short range does not pay
        // for a long table.
        let by_len = count.max(MIN_SIEVE_PRIME as u128);
        let limit = crate::u128math::isqrt(stop)
            .min(by_len)
            .min(max_prime as u128) as u32;
        let proven_below = (limit as u128 + 1) * (limit as u128 + 1);
        Some(OddRange {
            first,
            count,
            limit,
            proven_below,
        })
    }
}

impl Presieve {
    /// A pre-sieve with empty tables; they grow on first use.
    pub fn new() -> Self {
        Self::with_limits(MAX_SIEVE_PRIME_U64, MAX_SIEVE_PRIME_U128)
    }

    /// A pre-sieve with other largest sieving primes (for measuring; each is raised to
    /// at least 64, which the Miller–Rabin entry points rely on).
    pub fn with_limits(max_prime_u64: u32, max_prime_u128: u32) -> Self {
        Presieve {
            max_prime_u64: max_prime_u64.max(64),
            max_prime_u128: max_prime_u128.max(64),
            sieve: SegmentSieve::new(),
            out64: Vec::new(),
            out128: Vec::new(),
        }
    }

    /// Gives the primes in `start..=stop` to `sink`, ascending, a batch per segment.
    pub fn primes_u64(&mut self, start: u64, stop: u64, sink: &mut dyn FnMut(&[u64])) {
        let out = &mut self.out64;
        out.clear();
        if start <= 2 && 2 <= stop {
            out.push(2);
        }
        let range = OddRange::new(start as u128, stop as u128, self.max_prime_u64);
        if let Some(r) = range {
            let first = r.first as u64;
            let proven_below = r.proven_below.min(u64::MAX as u128) as u64;
            self.sieve.run(&r, &mut |seg_index, marks| {
                let base = first + 2 * seg_index as u64;
                let mut pending = Pending::new();
                for_each_survivor(marks, |i| {
                    let n = base + 2 * i as u64;
                    if n >= proven_below {
                        pending.push(n, out);
                    } else if n != 1 {
                        out.push(n);
                    }
                });
                pending.flush(out);
                if !out.is_empty() {
                    sink(out);
                    out.clear();
                }
            });
        }
        if !out.is_empty() {
            sink(out);
        }
    }

    /// Counts the primes in `start..=stop`.
    pub fn count_u64(&mut self, start: u64, stop: u64) -> u64 {
        let mut n = 0;
        self.primes_u64(start, stop, &mut |ps| n += ps.len() as u64);
        n
    }

    /// Gives the primes in `start..=stop` to `sink`, ascending, a batch per segment.
    /// Any u128 range works, `stop = u128::MAX` included.
    pub fn primes_u128(&mut self, start: u128, stop: u128, sink: &mut dyn FnMut(&[u128])) {
        let out = &mut self.out128;
        out.clear();
        if start <= 2 && 2 <= stop {
            out.push(2);
        }
        let max_prime = if stop > u64::MAX as u128 {
            self.max_prime_u128
        } else {
            self.max_prime_u64
        };
        if let Some(r) = OddRange::new(start, stop, max_prime) {
            let (first, proven_below) = (r.first, r.proven_below);
            self.sieve.run(&r, &mut |seg_index, marks| {
                let base = first + 2 * seg_index;
                // One survivor at a time: the u128 Montgomery product keeps the
                // multiplier busy on its own (lockstep lanes measured no faster).
                for_each_survivor(marks, |i| {
                    let n = base + 2 * i as u128;
                    let prime = if n < proven_below {
                        n != 1
                    } else if n <= u64::MAX as u128 {
                        mr_u64(n as u64)
                    } else {
                        mr_u128(n)
                    };
                    if prime {
                        out.push(n);
                    }
                });
                if !out.is_empty() {
                    sink(out);
                    out.clear();
                }
            });
        }
        if !out.is_empty() {
            sink(out);
        }
    }
}

/// Survivors below 2^64 that a segment sends to Miller–Rabin, tested [`LANES`] at a
/// time: the base-2 tests run in lockstep (see [`sprp2_lanes_u64`]), then each number
/// that passes gets the rest of its test. The numbers come in ascending and leave in
/// order.
struct Pending {
    ns: [u64; LANES],
    len: usize,
}

/// Survivors tested together (measured on x86-64: ~1.4x over one at a time; 2 lanes
/// gain little, 8 no more than 4).
const LANES: usize = 4;

impl Pending {
    fn new() -> Self {
        Pending {
            ns: [0; LANES],
            len: 0,
        }
    }

    fn push(&mut self, n: u64, out: &mut Vec<u64>) {
        self.ns[self.len] = n;
        self.len += 1;
        if self.len == LANES {
            self.flush(out);
        }
    }

    fn flush(&mut self, out: &mut Vec<u64>) {
        if self.len == LANES {
            let ms: [Mont64; LANES] = std::array::from_fn(|k| Mont64::new(self.ns[k]));
            let pass = sprp2_lanes_u64(&ms);
            for (m, _) in ms.iter().zip(pass).filter(|&(_, p)| p) {
                if mr_u64_after_base_2(m) {
                    out.push(m.modulus());
                }
            }
        } else {
            out.extend(self.ns[..self.len].iter().filter(|&&n| mr_u64(n)));
        }
        self.len = 0;
    }
}

/// Calls `f(i)` for each `marks[i] == 0`, skipping eight crossed-off bytes at a time.
#[inline]
fn for_each_survivor(marks: &[u8], mut f: impl FnMut(usize)) {
    const ALL_CROSSED: u64 = 0x0101_0101_0101_0101;
    let mut chunks = marks.chunks_exact(8);
    let mut i = 0;
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        if w != ALL_CROSSED {
            for (k, &b) in c.iter().enumerate() {
                if b == 0 {
                    f(i + k);
                }
            }
        }
        i += 8;
    }
    for (k, &b) in chunks.remainder().iter().enumerate() {
        if b == 0 {
            f(i + k);
        }
    }
}

/// `x mod p` for a u128 `x` and `p < 2^32`, with u64 divisions only (32-bit limbs).
#[inline]
fn mod_small(x: u128, p: u32) -> u32 {
    let p = p as u64;
    let lo = x as u64;
    let r = ((x >> 64) as u64) % p;
    let r = ((r << 32) | (lo >> 32)) % p;
    (((r << 32) | (lo & 0xffff_ffff)) % p) as u32
}

/// The segmented sieve over odd numbers: prime table, per-prime offsets, marks.
struct SegmentSieve {
    /// The odd primes up to `table_limit`, ascending.
    primes: Vec<u32>,
    table_limit: u32,
    /// For each sieving prime, the index (in odd numbers, relative to the current
    /// segment's first) of the next multiple to cross off.
    offsets: Vec<u64>,
    /// One byte per odd number of a segment: 0 = survivor, 1 = crossed off.
    marks: Vec<u8>,
}

impl SegmentSieve {
    fn new() -> Self {
        SegmentSieve {
            primes: Vec::new(),
            table_limit: 0,
            offsets: Vec::new(),
            marks: Vec::new(),
        }
    }

    /// Makes the table hold every odd prime up to `limit`.
    fn grow_table(&mut self, limit: u32) {
        if self.table_limit >= limit {
            return;
        }
        let limit = limit.max(MIN_SIEVE_PRIME);
        self.primes = crate::kernel::small::primes_up_to(limit);
        self.primes.remove(0); // 2: only odd numbers are sieved
        self.table_limit = limit;
    }

    /// Sieves the odd numbers of `r` segment by segment and calls
    /// `on_segment(index of the segment's first odd number in the range, marks)`.
    fn run(&mut self, r: &OddRange, on_segment: &mut dyn FnMut(u128, &[u8])) {
        self.grow_table(r.limit);
        let np = self.primes.partition_point(|&p| p <= r.limit);
        self.offsets.clear();
        for &p in &self.primes[..np] {
            self.offsets.push(first_offset(r.first, p));
        }
        self.marks.resize(SEGMENT_ODDS, 0);
        let mut done: u128 = 0;
        while done < r.count {
            let len = (r.count - done).min(SEGMENT_ODDS as u128) as usize;
            let marks = &mut self.marks[..len];
            marks.fill(0);
            if done == 0 && r.first == 1 {
                marks[0] = 1; // 1 is not prime
            }
            cross_off(marks, &self.primes[..np], &mut self.offsets);
            on_segment(done, marks);
            done += len as u128;
        }
    }
}

/// The index (in odd numbers from `first`, which is odd) of the first odd multiple of
/// the odd prime `p` that is at least `p * p`.
fn first_offset(first: u128, p: u32) -> u64 {
    let pp = p as u64 * p as u64;
    if first <= pp as u128 {
        return (pp - first as u64) / 2;
    }
    // first + 2i = 0 (mod p)  <=>  i = (p - first mod p) * (p + 1) / 2  (mod p).
    let r = mod_small(first, p) as u64;
    let p = p as u64;
    ((p - r) % p) * p.div_ceil(2) % p
}

/// Crosses off the multiples of each prime in one segment and carries each prime's
/// offset over to the next segment.
#[inline]
fn cross_off(marks: &mut [u8], primes: &[u32], offsets: &mut [u64]) {
    let len = marks.len();
    for (&p, off) in primes.iter().zip(offsets.iter_mut()) {
        if *off >= len as u64 {
            *off -= len as u64;
            continue;
        }
        let p = p as usize;
        let mut j = *off as usize;
        while j < len {
            marks[j] = 1;
            j += p;
        }
        *off = (j - len) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mod_small_matches_u128_remainder() {
        for &x in &[
            0u128,
            1,
            u64::MAX as u128,
            u128::MAX,
            1 << 100,
            12345678901234567890123456789,
        ] {
            for &p in &[3u32, 7, 65521, 4_294_967_291] {
                assert_eq!(mod_small(x, p) as u128, x % p as u128);
            }
        }
    }

    #[test]
    fn first_offset_hits_a_multiple() {
        for &first in &[1u128, 3, 9, 49, 51, 1_000_001, u128::MAX - 1000] {
            for &p in &[3u32, 5, 7, 101] {
                let n = first + 2 * first_offset(first, p) as u128;
                assert_eq!(n % p as u128, 0);
                assert!(n >= p as u128 * p as u128);
            }
        }
    }
}
