//! The table of sieving primes up to the square root of the largest stop asked for,
//! made once per process and shared read-only by every kernel (thread).
//!
//! Primes above the sieve's kept limit are too many to keep set up per thread near
//! 2^64 (203 million below 2^32, 8 bytes each set up), so each window of the sieve
//! sets up just those it needs from this table. The table is the sieve's own bit
//! array for `0..=limit` (one byte per 30 numbers, a bit per residue prime to 30):
//! 143 MB below 2^32, 33 MB below 10^9, smaller than gap bytes (203 MB) and read
//! with the same word-wise bit walk as the sieve's output. It grows (doubling) when a
//! larger stop comes; a thread holding the old one keeps it until its next window.

use super::sieve::Sieve;
use std::sync::{Arc, Mutex};

/// The wheel: residues prime to 30, in bit order.
const WHEEL: [u64; 8] = [1, 7, 11, 13, 17, 19, 23, 29];

/// Primes up to `limit` as the sieve's bit array: bit k of byte b is 30b + WHEEL[k]
/// (2, 3 and 5 are not in it).
pub struct PrimeTable {
    bytes: Vec<u8>,
    limit: u64,
}

/// The largest limit ever needed: every sieving prime for stops below 2^64 is below
/// 2^32.
const TOP: u64 = u32::MAX as u64;

impl PrimeTable {
    /// Every prime up to `limit` (at most 2^32 - 1).
    fn build(limit: u64) -> Self {
        let limit = limit.min(TOP);
        let mut bytes = vec![0u8; (limit / 30 + 1) as usize];
        // sqrt(2^32) = 2^16: the sieve's own kept primes cover it; no table needed.
        Sieve::new().sieve_bytes(0, limit, &mut |pos, run| {
            bytes[pos as usize..pos as usize + run.len()].copy_from_slice(run);
        });
        PrimeTable { bytes, limit }
    }

    /// The primes in the table are exactly those up to this.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// Calls `f` with every prime in `lo..=hi` (both within the table), ascending.
    pub fn for_each_prime(&self, lo: u64, hi: u64, mut f: impl FnMut(u64)) {
        self.for_each_batch(lo, hi, |batch| batch.iter().for_each(|&p| f(p)));
    }

    /// Calls `f` with the primes in `lo..=hi` (both within the table), ascending, in
    /// batches of up to `BATCH`. The bit walk and the caller's arithmetic are separate
    /// loops: a window of the sieve sets up every prime up to 2^32 this way, and its
    /// branch-free per-prime work runs far faster without the walk's branches between.
    pub fn for_each_batch(&self, lo: u64, hi: u64, mut f: impl FnMut(&[u64])) {
        debug_assert!(hi <= self.limit);
        if lo > hi {
            return;
        }
        let mut buf = [0u64; BATCH + 72];
        let mut n = 0;
        let (first, last) = ((lo / 30) as usize, (hi / 30) as usize);
        let mut base = 30 * first as u64;
        let bytes = &self.bytes[first..=last];
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut bits = u64::from_le_bytes(w.try_into().unwrap());
            // Eight at a time whatever the word holds, so that the loop's exit is
            // mispredicted once per eight primes, not once per word (about twelve
            // primes near 2^30, a number that varies). Writes past the word's last
            // prime (bits run out: offset 64, a dummy) are overwritten by the next
            // word's or left past `n`; the buffer has room for a word's 64 and 8 more.
            let count = bits.count_ones() as usize;
            let mut k = 0;
            while k < count {
                for slot in &mut buf[n + k..n + k + 8] {
                    *slot = base + WORD_OFFSETS[bits.trailing_zeros() as usize];
                    bits &= bits.wrapping_sub(1);
                }
                k += 8;
            }
            n += count;
            base += 240;
            if n >= BATCH {
                emit(&buf[..n], lo, hi, &mut f);
                n = 0;
            }
        }
        for (i, &byte) in words.remainder().iter().enumerate() {
            let mut bits = byte;
            while bits != 0 {
                buf[n] = base + 30 * i as u64 + WHEEL[bits.trailing_zeros() as usize];
                n += 1;
                bits &= bits - 1;
            }
        }
        emit(&buf[..n], lo, hi, &mut f);
    }
}

/// Primes per batch of [`PrimeTable::for_each_batch`].
pub const BATCH: usize = 2048;

/// Hands `batch` to `f` without the primes outside `lo..=hi` (only the first and last
/// batches of a walk have any: the walk reads whole bytes and words).
#[inline]
fn emit(batch: &[u64], lo: u64, hi: u64, f: &mut impl FnMut(&[u64])) {
    let from = batch.partition_point(|&p| p < lo);
    let to = batch.partition_point(|&p| p <= hi);
    if from < to {
        f(&batch[from..to]);
    }
}

/// For t = 8*byte + bit within a 64-bit word: the number's offset from the word's
/// first number; t = 64 (the trailing zeros of an empty word) gives a dummy 0.
const WORD_OFFSETS: [u64; 65] = {
    let mut t = [0u64; 65];
    let mut i = 0;
    while i < 64 {
        t[i] = 30 * (i as u64 / 8) + WHEEL[i % 8];
        i += 1;
    }
    t
};

/// Bytes a table up to `limit` takes (for budgets, before it exists).
pub fn table_bytes(limit: u64) -> u64 {
    grown_limit(limit, 0) / 30 + 1
}

/// The limit a table is built to when `limit` is asked and `old` exists: at least
/// double the old one (so a rising stop rebuilds it a few times only), with 1/64 to
/// spare (so a run of calls just past the first, whose roots creep up, does not rebuild
/// it at all), at most 2^32-1.
fn grown_limit(limit: u64, old: u64) -> u64 {
    (limit + limit / 64)
        .max(old.saturating_mul(2))
        .clamp(1 << 20, TOP)
}

/// The process's table (`None` until a stop needs one).
static TABLE: Mutex<Option<Arc<PrimeTable>>> = Mutex::new(None);

/// Bytes the process's shared table holds now.
pub fn shared_table_bytes() -> u64 {
    let slot = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    slot.as_ref().map_or(0, |t| t.heap_bytes() as u64)
}

/// The process's table, covering at least `limit` (at most 2^32 - 1).
pub fn shared_table(limit: u64) -> Arc<PrimeTable> {
    // A panic while building leaves None behind, which the next call rebuilds.
    let mut slot = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    match &*slot {
        Some(t) if t.limit >= limit.min(TOP) => Arc::clone(t),
        old => {
            let old_limit = old.as_ref().map_or(0, |t| t.limit);
            let t = Arc::new(PrimeTable::build(grown_limit(limit, old_limit)));
            log::debug!(
                "sieve: table of sieving primes up to {} ({} MB), shared by all threads",
                t.limit,
                t.heap_bytes() >> 20
            );
            *slot = Some(Arc::clone(&t));
            t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_walk_matches_small_sieve() {
        let t = PrimeTable::build(100_000);
        let mut got = Vec::new();
        t.for_each_prime(0, 100_000, |p| got.push(p as u32));
        let want: Vec<u32> = super::super::small::primes_up_to(100_000)
            .into_iter()
            .skip(3)
            .collect();
        assert_eq!(got, want);
        let mut part = Vec::new();
        t.for_each_prime(1000, 1013, |p| part.push(p));
        assert_eq!(part, vec![1009, 1013]);
    }

    /// Batches over ranges with ends anywhere (inside a byte, a word, a batch) give
    /// exactly the primes of the range, ascending: the walk writes eight slots at a
    /// time and must never let a dummy or a prime of the next word through.
    #[test]
    fn batches_hold_exactly_the_range() {
        let top = 3_000_000;
        let t = PrimeTable::build(top);
        let all: Vec<u64> = super::super::small::primes_up_to(top as u32)
            .into_iter()
            .skip(3)
            .map(u64::from)
            .collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut ranges = vec![(0, top), (7, 7), (8, 240), (241, 479), (1, 0)];
        for _ in 0..200 {
            let lo = next() % top;
            let hi = (lo + next() % 200_000).min(top);
            ranges.push((lo, hi));
        }
        for (lo, hi) in ranges {
            let mut got = Vec::new();
            t.for_each_batch(lo, hi, |batch| {
                assert!(batch.windows(2).all(|w| w[0] < w[1]), "{lo}..={hi}");
                got.extend_from_slice(batch);
            });
            let want: Vec<u64> = all
                .iter()
                .copied()
                .filter(|&p| lo <= p && p <= hi)
                .collect();
            assert_eq!(got, want, "{lo}..={hi}");
        }
    }

    #[test]
    fn shared_grows_and_is_shared() {
        let a = shared_table(1 << 21);
        let b = shared_table(1 << 20);
        assert!(a.limit() >= 1 << 21);
        assert!(b.limit() >= 1 << 20);
        assert_eq!(table_bytes(TOP), TOP / 30 + 1);
    }
}
