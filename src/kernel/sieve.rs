//! Segmented sieve of Eratosthenes on a mod-30 wheel, for ranges below 2^64.
//!
//! # Layout of the bit array
//! One byte stands for 30 consecutive integers: byte `b` bit `k` is the number
//! `30*b + WHEEL[k]` with `WHEEL = [1, 7, 11, 13, 17, 19, 23, 29]`, the residues prime to
//! 30 (as primesieve does). Multiples of 2, 3 and 5 are never stored, so a segment of
//! `SEGMENT_BYTES` covers 30 times as many integers; 2, 3 and 5 are emitted by hand.
//! Segments are aligned to multiples of `SEGMENT_BYTES` (the first and last of a call
//! may be shorter). `count` is a popcount; `primes` walks set bits with
//! `trailing_zeros` into one reused `Vec<u64>`, handed to the sink per L1 block.
//!
//! # Crossing off, by size of the sieving prime (primesieve's split)
//! - pre-sieve: the primes 7..=163 are crossed off by AND-ing periodic byte patterns
//!   (a few KiB each), far cheaper than crossing off their dense multiples one by one.
//! - small primes (up to `SMALL_MAX`): for a prime p, the multiples `p*q` with `q` in
//!   one wheel class lie exactly p bytes apart and always hit the same bit, so each
//!   prime keeps 8 byte offsets and crosses off 8 multiples per step of an unrolled
//!   loop, one L1-sized block of the segment at a time.
//! - medium primes (up to `MEDIUM_MAX`, a quarter segment): over the whole segment, one
//!   loop per class of p mod 30 so masks and carries are constants, unrolled per turn
//!   of the wheel (8 multiples at fixed distances, p bytes per turn).
//! - big primes: primesieve's bucket sieve. Each waits in the bucket of the segment its
//!   next multiple falls in, so a segment touches only the primes that hit it; buckets
//!   are pages from a pool, so nothing is reallocated as they fill and drain.
//!
//! Thresholds were measured (counting 1e9 numbers at 1e12 and at 1e15): segments of
//! 128 KiB..2 MiB, `MEDIUM_MAX` of 1/16..4 segments, `SMALL_MAX` of 1/8..1 block;
//! 1 MiB, 1/4 and 1/4 were best. 32-bit targets (the Pis) get smaller segments and
//! blocks, unmeasured.
//!
//! # Speed (one x86-64 core, shared machine; CPU seconds, same run as primesieve 11)
//! Counting: [1e12, 1e12+1e10] 1.98 s vs `primesieve -t1 -c` 1.57 s (1.26x); in 5e7
//! chunks on one instance 2.09 s; 1e9 numbers at 1e12 0.19 s vs 0.16, at 1e15 0.44
//! vs 0.29, below 1e16 0.54 vs 0.36; [0, 1e9] 0.09 vs 0.06. Listing into the sink:
//! 150 M primes/s at 1e12, 60 M/s at 1e15 (`tests/sieve_bench.rs`).
//!
//! # State kept between calls
//! A prime is set up (its first multiple found, one division) only when its square
//! reaches the segment, taking primes in order from `PrimeStream`, a small odd-only
//! sieve: no table of all sieving primes exists besides their bucket entries, and a
//! call on small numbers never pays for primes it does not need. A call that starts
//! where the last one ended (or in the very byte it ended in: that byte's sieved value
//! is kept) continues with every offset as it is. A call further on (a worker thread's
//! usual case: its chunks skip the other threads' chunks) keeps the primes set up and
//! finds each one's first multiple again, one division per prime. A call further back
//! drops them all and sets them up again from the stream. Measured cost of such a
//! call, on top of its sieving: backwards 2 ms near 1e12, 51 ms near 1e15, 166 ms near
//! 1e16; forwards (from half as far) 1 ms, 30 ms, 96 ms.
//!
//! # Every height below 2^64: kept primes and windows, within a budget
//! Sieving primes up to `KEEP_LIMIT` (2^25; 2^22 on a small budget or 32-bit) are
//! kept set up between calls as described above (8 bytes each, 16 MB). Larger ones,
//! up to 2^32 near 2^64, are far too many to keep per thread (203 M), so a call cuts
//! its range into windows of whole segments and, per window, sets up from the
//! process's shared table of sieving primes ([`super::sieving_primes`]) just those
//! with a multiple in the window, in a ring of buckets of its own; each is dropped
//! once its next multiple is past the window. A window's length follows the kernel's
//! share of the budget ([`Memory`]): its entries are about min(1, 8B/p) per prime p
//! for a window of B bytes. `fits(stop)` says whether the table and one window fit;
//! `worth(start, stop)` whether a range is long enough to pay for setting up every
//! large prime (the dispatcher takes pre-sieve + Miller–Rabin otherwise).

use super::budget::Memory;
use super::sieving_primes::{shared_table, table_bytes, PrimeTable};
use super::small::primes_up_to;
use std::sync::{Arc, OnceLock};

/// The residues prime to 30, in bit order.
const WHEEL: [u64; 8] = [1, 7, 11, 13, 17, 19, 23, 29];

/// Bytes per segment: L2-sized on 64-bit machines; smaller on 32-bit ARM (a Pi has
/// 16-32 KiB of L1 and a small or shared L2).
#[cfg(target_pointer_width = "64")]
const SEGMENT_BYTES: usize = 1024 * 1024;
#[cfg(not(target_pointer_width = "64"))]
const SEGMENT_BYTES: usize = 128 * 1024;

/// Bytes per block: the part of the segment that pre-sieve and small primes work on at
/// once, sized to stay in L1.
#[cfg(target_pointer_width = "64")]
const BLOCK_BYTES: usize = 32 * 1024;
#[cfg(not(target_pointer_width = "64"))]
const BLOCK_BYTES: usize = 16 * 1024;

/// Largest "small" sieving prime: at least a few unrolled steps per block.
const SMALL_MAX: u64 = (BLOCK_BYTES / 4) as u64;

/// Largest sieving prime kept set up between calls (small, medium and kept buckets):
/// 2.1 M primes, 16 MB, on 64-bit; 0.3 M primes, 2.4 MB, on 32-bit. Larger ones are set
/// up per window from the shared table (see `Window`).
#[cfg(target_pointer_width = "64")]
pub const KEEP_LIMIT: u64 = 1 << 25;
#[cfg(not(target_pointer_width = "64"))]
pub const KEEP_LIMIT: u64 = 1 << 22;

/// Largest prime sieved every segment rather than through the buckets.
const MEDIUM_MAX: u64 = SEGMENT_BYTES as u64 / 4;

/// The kept limit for budgets whose share is below `SMALL_SHARE` (a Pi Zero's 64 MiB):
/// 0.56 M primes, 4.5 MB.
const SMALL_KEEP_LIMIT: u64 = 1 << 22;
const SMALL_SHARE: u64 = 128 << 20;

/// Number of kept buckets: more than the most segments a next multiple can lie ahead
/// (one segment plus p bytes, for p up to `keep`).
fn ring_for(keep: u64) -> usize {
    keep as usize / SEGMENT_BYTES + 4
}

/// Most segments in one window of large primes: 2^12 MiB-segments = 1.2e11 numbers,
/// far more than any budget allows in practice.
const MAX_WINDOW_SEGMENTS: u64 = 1 << 12;

/// Sieving primes per bucket page: each bucket has one part-filled page, so smaller
/// pages where segments are small and buckets many.
#[cfg(target_pointer_width = "64")]
const PAGE: usize = 512;
#[cfg(not(target_pointer_width = "64"))]
const PAGE: usize = 128;

/// Largest stop the kept primes alone cover; above it windows of large primes start.
pub const KEPT_STOP: u64 = (KEEP_LIMIT + 1) * (KEEP_LIMIT + 1) - 1;

/// The pre-sieve patterns: each covers the product of its primes in bytes, and one
/// pass ANDs it into a block. The first is copied rather than AND-ed.
const PRESIEVE_GROUPS: [&[u64]; 16] = [
    &[7, 11, 13, 17],
    &[19, 23, 29],
    &[31, 37],
    &[41, 43],
    &[47, 53],
    &[59, 61],
    &[67, 71],
    &[73, 79],
    &[83, 89],
    &[97, 101],
    &[103, 107],
    &[109, 113],
    &[127, 131],
    &[137, 139],
    &[149, 151],
    &[157, 163],
];

/// The first prime not pre-sieved: sieving primes start here.
const FIRST_SIEVING_PRIME: u64 = 167;

/// Bit index of `r` (a residue prime to 30) in `WHEEL`.
const fn bit_of(r: u64) -> u32 {
    let mut k = 0;
    while k < 8 {
        if WHEEL[k] == r {
            return k as u32;
        }
        k += 1;
    }
    panic!("residue not prime to 30")
}

/// One step of a medium prime from the multiple `p*q`, `q` in wheel class `j`, to the
/// next one: clear `mask`, then advance `p/30 * dq + corr` bytes. Indexed by the class
/// of p mod 30 and by `j`.
#[derive(Clone, Copy)]
struct Step {
    mask: u8,
    dq: u8,
    corr: u8,
}

const STEPS: [[Step; 8]; 8] = {
    let mut t = [[Step {
        mask: 0,
        dq: 0,
        corr: 0,
    }; 8]; 8];
    let mut c = 0;
    while c < 8 {
        let r = WHEEL[c];
        let mut j = 0;
        while j < 8 {
            let w = WHEEL[j];
            let next = if j == 7 { 31 } else { WHEEL[j + 1] };
            // p*q = 30*(p/30)*q + r*q, so byte(p*q) = (p/30)*q + r*q/30.
            t[c][j] = Step {
                mask: !(1u8 << bit_of(r * w % 30)),
                dq: (next - w) as u8,
                corr: ((r * next) / 30 - (r * w) / 30) as u8,
            };
            j += 1;
        }
        c += 1;
    }
    t
};

/// For t = 8*byte + bit within a 64-bit word: the number's offset from 30*(word start).
const WORD_OFFSETS: [u64; 64] = {
    let mut t = [0u64; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = 30 * (i as u64 / 8) + WHEEL[i % 8];
        i += 1;
    }
    t
};

/// For r = n mod 30: the wheel class of the least number >= n prime to 30 (r <= 29, so
/// it is always in the same 30-block).
const NEXT_CLASS: [u8; 30] = {
    let mut t = [0u8; 30];
    let mut r = 0;
    while r < 30 {
        let mut k = 0;
        while WHEEL[k] < r as u64 {
            k += 1;
        }
        t[r] = k as u8;
        r += 1;
    }
    t
};

/// The pre-sieve patterns, built once per process and shared by all instances.
fn patterns() -> &'static [Vec<u8>] {
    static PATTERNS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        PRESIEVE_GROUPS
            .iter()
            .map(|group| {
                let period = group.iter().product::<u64>();
                (0..period)
                    .map(|b| {
                        let mut byte = 0u8;
                        for (k, w) in WHEEL.iter().enumerate() {
                            if group.iter().all(|p| (30 * b + w) % p != 0) {
                                byte |= 1 << k;
                            }
                        }
                        byte
                    })
                    .collect()
            })
            .collect()
    })
}

/// A small sieving prime: the next multiple in each of the 8 wheel classes of the
/// cofactor, as a byte offset from the current segment, and the bit each one clears.
struct SmallPrime {
    p: u32,
    offsets: [u32; 8],
    masks: [u8; 8],
}

/// A sieving prime above `SMALL_MAX`, packed into 8 bytes: `(p/30) << 3 | class of
/// p mod 30`, and `next multiple's byte offset << 3 | wheel index of its cofactor`.
/// A medium prime's offset is from the current segment; a bucketed prime's is from the
/// start of the aligned segment its bucket stands for.
#[derive(Clone, Copy)]
struct Wheeled {
    p30_class: u32,
    offset_wheel: u32,
}

impl Wheeled {
    fn prime(self) -> u64 {
        30 * u64::from(self.p30_class >> 3) + WHEEL[(self.p30_class & 7) as usize]
    }

    fn new(p: u64, offset: u64, wheel: usize) -> Self {
        Wheeled {
            p30_class: ((p / 30) as u32) << 3 | bit_of(p % 30),
            offset_wheel: (offset as u32) << 3 | wheel as u32,
        }
    }
}

/// The least multiple `p*q >= lower` with `q` prime to 30, as (byte index, class of q).
fn first_multiple(p: u64, lower: u64) -> (u64, usize) {
    let q_min = lower.div_ceil(p);
    let class = NEXT_CLASS[(q_min % 30) as usize] as usize;
    let q = u128::from(q_min - q_min % 30) + u128::from(WHEEL[class]);
    // At most (2^64 - 1 + 30p) / 30 < 2^64.
    ((u128::from(p) * q / 30) as u64, class)
}

/// `first_multiple` for p above 2^20 (then the cofactor is below 2^44), without u128
/// division: byte(p*q) = (p/30)*q + (p%30)*q/30. `lower_f` is `lower as f64`.
///
/// The quotient comes from a floating-point division (pipelined, unlike the integer
/// divide, and this runs for every large prime in every window): for p > 2^20 the
/// f64 quotient is within 1 of the true one, and the exact remainder fixes it without
/// branches. Conversions go through i64 (one instruction each; all values < 2^63).
#[inline]
fn first_multiple_large(p: u64, lower: u64, lower_f: f64) -> (u64, usize) {
    let mut q = (lower_f / p as i64 as f64) as i64 as u64;
    // |lower - q*p| < 2p < 2^34, so the wrapped difference read as i64 is exact.
    let r = lower.wrapping_sub(q.wrapping_mul(p)) as i64;
    let neg = r >> 63; // -1 when q was one too big
    let r = r + (p as i64 & neg);
    q = q.wrapping_add(neg as u64);
    let big = !((r - p as i64) >> 63); // -1 when q was one too small
    q = q.wrapping_sub(big as u64);
    let r = r - (p as i64 & big);
    let q_min = q + u64::from(r != 0);
    let class = NEXT_CLASS[(q_min % 30) as usize] as usize;
    let q = q_min - q_min % 30 + WHEEL[class];
    ((p / 30) * q + (p % 30) * q / 30, class)
}

/// Sieving primes too big to hit every segment (primesieve's EratBig): each waits in
/// the bucket of the aligned segment its next multiple falls in, so a segment only
/// touches the primes that hit it. Buckets are lists of fixed-size pages from a shared
/// pool, so memory is the primes themselves plus at most one part-filled page per
/// bucket, and nothing is reallocated or copied as buckets fill and drain.
struct Buckets {
    slots: Vec<Bucket>,
    /// Empty pages (capacity `PAGE`) for reuse.
    free: Vec<Vec<Wheeled>>,
}

/// One bucket: the page being filled and the full ones before it.
#[derive(Default)]
struct Bucket {
    filling: Vec<Wheeled>,
    full: Vec<Vec<Wheeled>>,
}

impl Buckets {
    fn new(ring: usize) -> Self {
        Buckets {
            slots: (0..ring).map(|_| Bucket::default()).collect(),
            free: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, slot: usize, w: Wheeled) {
        let b = &mut self.slots[slot];
        if b.filling.len() == b.filling.capacity() {
            self.new_page(slot);
        }
        self.slots[slot].filling.push(w);
    }

    /// Gives bucket `slot` an empty page to fill (its first, or after a full one).
    #[cold]
    fn new_page(&mut self, slot: usize) {
        let page = self.free.pop().unwrap_or_else(|| Vec::with_capacity(PAGE));
        let b = &mut self.slots[slot];
        let full = std::mem::replace(&mut b.filling, page);
        if full.capacity() > 0 {
            b.full.push(full);
        }
    }

    /// Returns a drained page to the pool.
    fn recycle(&mut self, mut page: Vec<Wheeled>) {
        if page.capacity() > 0 {
            page.clear();
            self.free.push(page);
        }
    }

    /// Empties every bucket (after a jump), keeping the pages for reuse.
    fn clear(&mut self) {
        for i in 0..self.slots.len() {
            let b = &mut self.slots[i];
            let (filling, full) = (std::mem::take(&mut b.filling), std::mem::take(&mut b.full));
            self.recycle(filling);
            for page in full {
                self.recycle(page);
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        let page_bytes = |p: &Vec<Wheeled>| p.capacity() * std::mem::size_of::<Wheeled>();
        let bucket_bytes = |b: &Bucket| {
            page_bytes(&b.filling)
                + b.full.iter().map(page_bytes).sum::<usize>()
                + b.full.capacity() * std::mem::size_of::<Vec<Wheeled>>()
        };
        self.slots.capacity() * std::mem::size_of::<Bucket>()
            + self.slots.iter().map(bucket_bytes).sum::<usize>()
            + self.free.iter().map(page_bytes).sum::<usize>()
            + self.free.capacity() * std::mem::size_of::<Vec<Wheeled>>()
    }
}

/// The sieving primes above `KEEP_LIMIT` that hit one window of segments: set up when
/// the window opens (one division each, from the shared table), crossed off through
/// their own ring of buckets, and dropped once their next multiple is past the window.
/// So a thread holds only the primes that hit its window, however far up it sieves,
/// and the window's length follows the memory budget.
struct Window {
    /// One bucket per segment of the window, and one more.
    buckets: Buckets,
    /// Byte index just past the window; no window is open while `pos >= end`.
    end: u64,
    /// The shared table the window's primes came from.
    table: Option<Arc<PrimeTable>>,
}

impl Window {
    fn new() -> Self {
        Window {
            buckets: Buckets::new(0),
            end: 0,
            table: None,
        }
    }

    /// Forgets the window (its primes are all past it when it was sieved through; after
    /// a call ended early nothing may stay either).
    fn close(&mut self) {
        self.buckets.clear();
        self.end = 0;
    }
}

/// sqrt of the last number of stop's byte (every number of a sieved byte is sieved
/// completely; see `sieve_segment`).
fn stop_root(stop: u64) -> u64 {
    let byte_end = (stop / 30).saturating_mul(30).saturating_add(29);
    byte_end.isqrt()
}

/// Upper bound of pi(x) (Dusart: pi(x) < 1.25506 x / ln x for x > 1).
fn pi_bound(x: u64) -> f64 {
    if x < 17 {
        return 7.0;
    }
    let x = x as f64;
    1.25506 * x / x.ln()
}

/// Bytes a sieve holds apart from its window: the segment, the kept primes and their
/// buckets, the output batch.
fn fixed_bytes(keep: u64) -> u64 {
    let kept = pi_bound(keep) as u64 * 8;
    let pages = (ring_for(keep) * PAGE * 8) as u64;
    let out = (BLOCK_BYTES * 8 * 8) as u64;
    SEGMENT_BYTES as u64 + kept + kept / 8 + pages + out + (1 << 20)
}

/// Bytes a window of `segs` segments holds at most, for sieving primes up to `s`:
/// each prime above `KEEP_LIMIT` with a multiple in the window (about min(1, 8B/p) of
/// them, B the window's bytes: a prime hits 8 times per p bytes) is one 8-byte entry,
/// plus a part-filled page per bucket.
fn window_bytes(segs: u64, s: u64, k: u64) -> u64 {
    let x = 8 * segs * SEGMENT_BYTES as u64;
    let mut entries = 0.0;
    if x > k {
        entries += pi_bound(x.min(s)) - pi_bound(k) * 0.9;
    }
    if x < s {
        let from = x.max(k) as f64;
        entries += x as f64 * ((s as f64).ln() / from.ln()).ln();
    }
    let pages = (segs + 2) * (PAGE * 8) as u64;
    (entries.max(0.0) * 8.0 * 1.1) as u64 + pages
}

/// The primes above `SMALL_MAX` in ascending order, made on demand by a small odd-only
/// segmented sieve: the sieve sets up each prime when its square comes in reach, so no
/// table of all sieving primes is ever stored apart from their bucket entries.
struct PrimeStream {
    /// Odd primes up to 2^16, enough for every number below 2^32.
    base: Vec<u64>,
    /// Odd numbers `lo, lo + 2, ...`: still prime?
    window: Vec<bool>,
    lo: u64,
    /// Next index of `window` to look at.
    i: usize,
}

impl PrimeStream {
    fn new() -> Self {
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
    fn reset(&mut self) {
        self.lo = (SMALL_MAX + 1) | 1;
        self.sieve_window();
    }

    fn sieve_window(&mut self) {
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
    fn peek(&mut self) -> u64 {
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
    fn advance(&mut self) {
        self.i += 1;
    }
}

/// The segmented sieve; keeps its sieving primes between calls.
pub struct Sieve {
    /// The bit array of one segment.
    segment: Vec<u8>,
    /// Byte index of the next segment to sieve; small and medium offsets are from it.
    pos: u64,
    /// Sieved value of byte `pos - 1`, when that byte was the last one sieved.
    last_byte: Option<u8>,
    small: Vec<SmallPrime>,
    /// How many of `small` have offsets valid at `pos`.
    small_active: usize,
    /// Sieving primes in `SMALL_MAX + 1 ..= MEDIUM_MAX` set up so far.
    medium: Vec<Wheeled>,
    /// Larger sieving primes set up so far, up to `KEEP_LIMIT`.
    buckets: Buckets,
    /// The primes above `KEEP_LIMIT` that hit the current window.
    window: Window,
    /// The process's budget, which sizes the windows.
    memory: Memory,
    /// Most segments per window whatever the budget (tests force small windows).
    window_cap: u64,
    /// Largest sieving prime kept set up between calls (`KEEP_LIMIT`, less on a small
    /// budget); larger ones go through windows.
    keep: u64,
    /// The sieving primes above `SMALL_MAX` not set up yet.
    stream: PrimeStream,
    /// The batch handed to the sink, reused.
    out: Vec<u64>,
}

impl Default for Sieve {
    fn default() -> Self {
        Self::new()
    }
}

impl Sieve {
    /// A sieve with the default budget for one thread.
    pub fn new() -> Self {
        Self::with_memory(Memory::default_for(1))
    }

    /// A sieve whose windows of large primes fit its share of `memory`.
    pub fn with_memory(memory: Memory) -> Self {
        let share = memory.total / u64::from(memory.threads.max(1));
        let keep = if share < SMALL_SHARE {
            SMALL_KEEP_LIMIT.min(KEEP_LIMIT)
        } else {
            KEEP_LIMIT
        };
        let small = primes_up_to(SMALL_MAX as u32)
            .into_iter()
            .filter(|&p| u64::from(p) >= FIRST_SIEVING_PRIME)
            .map(|p| SmallPrime {
                p,
                offsets: [0; 8],
                masks: [0; 8],
            })
            .collect();
        Sieve {
            segment: vec![0; SEGMENT_BYTES],
            pos: 0,
            last_byte: None,
            small,
            small_active: 0,
            medium: Vec::new(),
            buckets: Buckets::new(ring_for(keep)),
            window: Window::new(),
            memory,
            window_cap: MAX_WINDOW_SEGMENTS,
            keep,
            stream: PrimeStream::new(),
            out: Vec::new(),
        }
    }

    /// Does the sieve take ranges ending at `stop` within its memory budget? Yes when
    /// its share after the shared table holds its fixed part and a window of at
    /// least one segment.
    pub fn fits(&self, stop: u64) -> bool {
        self.window_segments(stop).is_some()
    }

    /// Is the sieve worth its set-up on `start..=stop`? Each window of a range above
    /// `KEPT_STOP` sets up every sieving prime above `KEEP_LIMIT` (a few ns each), so
    /// a range shorter than half their number is faster by pre-sieve + Miller–Rabin
    /// (tens of ns per number up there).
    pub fn worth(start: u64, stop: u64) -> bool {
        let s = stop_root(stop);
        if s <= KEEP_LIMIT {
            return true;
        }
        let primes = pi_bound(s) - pi_bound(KEEP_LIMIT) * 0.9;
        (stop - start) as f64 >= primes / 2.0
    }

    /// Caps windows at `segs` segments (at least 1), so that tests can put many window
    /// boundaries inside short ranges.
    #[doc(hidden)]
    pub fn with_window_cap(mut self, segs: u64) -> Self {
        self.window_cap = segs.max(1);
        self
    }

    /// The budget this sieve keeps to.
    pub fn memory(&self) -> Memory {
        self.memory
    }

    /// Segments per window of large primes at `stop` (for measurements), `None` when
    /// the budget does not allow one.
    pub fn window_segments_at(&self, stop: u64) -> Option<u64> {
        self.window_segments(stop)
    }

    /// Segments per window of large primes for ranges up to `stop`, within this
    /// sieve's share of the budget; `None` when not even one fits. Below `KEPT_STOP`
    /// no window is needed and the answer is the largest.
    fn window_segments(&self, stop: u64) -> Option<u64> {
        let s = stop_root(stop);
        let shared = if s > self.keep { table_bytes(s) } else { 0 };
        let share = self.memory.share_after(shared)?;
        let fixed = fixed_bytes(self.keep);
        let free = share.checked_sub(fixed)?;
        if s <= self.keep {
            return Some(MAX_WINDOW_SEGMENTS);
        }
        let fits = |segs: u64| window_bytes(segs, s, self.keep) <= free;
        if !fits(1) {
            return None;
        }
        // The most segments that fit: each window sets up every large prime, so fewer,
        // longer windows are faster.
        let (mut lo, mut hi) = (1, MAX_WINDOW_SEGMENTS);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(lo)
    }

    /// Bytes this instance holds on the heap now (for the memory-bound test).
    #[doc(hidden)]
    pub fn heap_bytes(&self) -> usize {
        self.segment.capacity()
            + self.small.capacity() * std::mem::size_of::<SmallPrime>()
            + self.medium.capacity() * 8
            + self.buckets.heap_bytes()
            + self.window.buckets.heap_bytes()
            + self.stream.base.capacity() * 8
            + self.stream.window.capacity()
            + self.out.capacity() * 8
    }

    /// Primes in start..=stop (inclusive both ends), ascending, delivered in batches
    /// (at most one L1 block's worth each) to sink.
    pub fn primes(&mut self, start: u64, stop: u64, sink: &mut dyn FnMut(&[u64])) {
        if start > stop {
            return;
        }
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        out.extend([2, 3, 5].into_iter().filter(|n| (start..=stop).contains(n)));
        self.sieve_range(start, stop, &mut |pos, bytes| {
            for (i, block) in bytes.chunks(BLOCK_BYTES).enumerate() {
                extract(pos + (i * BLOCK_BYTES) as u64, block, &mut out);
                if !out.is_empty() {
                    sink(&out);
                    out.clear();
                }
            }
        });
        if !out.is_empty() {
            sink(&out);
            out.clear();
        }
        self.out = out;
    }

    /// Count of primes in start..=stop.
    pub fn count(&mut self, start: u64, stop: u64) -> u64 {
        if start > stop {
            return 0;
        }
        let mut n = [2, 3, 5]
            .into_iter()
            .filter(|x| (start..=stop).contains(x))
            .count() as u64;
        self.sieve_range(start, stop, &mut |_, bytes| n += popcount(bytes));
        n
    }

    /// Sieves the bytes holding start..=stop and gives each sieved run, with bits outside
    /// the range cleared, to `visit` with its byte index. Requires start <= stop.
    fn sieve_range(&mut self, start: u64, stop: u64, visit: &mut dyn FnMut(u64, &[u8])) {
        // Past the budget the windows are one segment: slow, but still right (the
        // dispatcher asks `fits` first and takes another kernel there).
        let window_segs = self.window_segments(stop).unwrap_or(1).min(self.window_cap);
        let (first, last) = (start / 30, stop / 30);
        self.window.close();
        match self.last_byte {
            // The call starts in the byte the last one ended in: reuse its value.
            Some(value) if first + 1 == self.pos => {
                let byte = value & low_mask(start) & high_mask(first, last, stop);
                visit(first, &[byte]);
            }
            _ if first == self.pos => {}
            _ => self.jump_to(first),
        }
        while self.pos <= last {
            let from = self.pos;
            // Segments are aligned to multiples of SEGMENT_BYTES, as the buckets are.
            let to_boundary = SEGMENT_BYTES as u64 - from % SEGMENT_BYTES as u64;
            let len = (last - from + 1).min(to_boundary) as usize;
            if from >= self.window.end && stop_root(stop) > self.keep {
                self.open_window(window_segs, last, stop);
            }
            self.sieve_segment(len, stop);
            let seg = &mut self.segment[..len];
            if from == first {
                seg[0] &= low_mask(start);
            }
            seg[len - 1] &= high_mask(from + len as u64 - 1, last, stop);
            visit(from, seg);
        }
    }

    /// Sieves the bytes holding start..=stop (start <= stop) and gives each run, with
    /// the numbers outside the range cleared, to `visit` with its byte index (the
    /// shared table of sieving primes is made this way).
    pub(crate) fn sieve_bytes(&mut self, start: u64, stop: u64, visit: &mut dyn FnMut(u64, &[u8])) {
        self.sieve_range(start, stop, visit);
    }

    /// Opens a window of up to `segs` segments at `pos` (never past byte `last`): sets up
    /// every sieving prime above `KEEP_LIMIT` whose square is at most the window's
    /// (and stop's byte's) last number and which has a multiple in the window.
    fn open_window(&mut self, segs: u64, last: u64, stop: u64) {
        let seg_bytes = SEGMENT_BYTES as u64;
        let base_seg = self.pos / seg_bytes;
        let end = (last + 1).min((base_seg + segs) * seg_bytes);
        let ring = (end - 1) / seg_bytes - base_seg + 2;
        let w = &mut self.window;
        w.close();
        if w.buckets.slots.len() != ring as usize {
            w.buckets = Buckets::new(ring as usize);
        }
        w.end = end;
        // The window's last number, but within stop's byte.
        let top = (u128::from(end) * 30 - 1).min(u128::from(stop / 30) * 30 + 29);
        let root = (top.min(u128::from(u64::MAX)) as u64).isqrt();
        if root <= self.keep {
            return;
        }
        let table = match &w.table {
            Some(t) if t.limit() >= root => Arc::clone(t),
            _ => shared_table(root),
        };
        let low = self.pos * 30;
        let low_f = low as f64;
        let buckets = &mut w.buckets;
        let began = std::time::Instant::now();
        let mut set_up = 0u64;
        table.for_each_prime(self.keep + 1, root, |p| {
            let (byte, class) = if p * p <= low {
                first_multiple_large(p, low, low_f)
            } else {
                first_multiple_large(p, p * p, (p * p) as f64)
            };
            if byte < end {
                let slot = (byte / seg_bytes % ring) as usize;
                buckets.push(slot, Wheeled::new(p, byte % seg_bytes, class));
                set_up += 1;
            }
        });
        log::debug!(
            "sieve: window of {} segments at byte {}: {set_up} primes up to {root} set up in {:.3} s",
            ring - 1,
            self.pos,
            began.elapsed().as_secs_f64()
        );
        w.table = Some(table);
    }

    /// Forgets all offsets and moves to byte `pos`.
    fn jump_to(&mut self, pos: u64) {
        if pos > self.pos {
            return self.skip_to(pos);
        }
        self.pos = pos;
        self.last_byte = None;
        self.small_active = 0;
        self.medium.clear();
        self.buckets.clear();
        self.stream.reset();
    }

    /// Moves forwards to byte `pos`, keeping the primes set up (their squares are all
    /// behind `pos`) and finding each one's first multiple from there: a worker thread's
    /// chunks skip the other threads' chunks, so this is its usual case, and it spares
    /// making the primes again.
    fn skip_to(&mut self, pos: u64) {
        self.pos = pos;
        self.last_byte = None;
        let low = pos * 30;
        for sp in &mut self.small[..self.small_active] {
            set_up_small(sp, pos, low);
        }
        for w in &mut self.medium {
            let p = w.prime();
            let (byte, class) = first_multiple(p, low);
            *w = Wheeled::new(p, byte - pos, class);
        }
        let mut pages = Vec::new();
        for b in &mut self.buckets.slots {
            pages.append(&mut b.full);
            pages.push(std::mem::take(&mut b.filling));
        }
        for page in pages {
            for w in &page {
                let p = w.prime();
                let (byte, class) = first_multiple(p, low);
                let seg = byte / SEGMENT_BYTES as u64;
                let off = byte % SEGMENT_BYTES as u64;
                self.buckets.push(
                    (seg % self.buckets.slots.len() as u64) as usize,
                    Wheeled::new(p, off, class),
                );
            }
            self.buckets.recycle(page);
        }
    }

    /// Sieves the `len` bytes at `pos` into `segment` and moves `pos` past them.
    /// `stop` bounds which sieving primes may be needed.
    fn sieve_segment(&mut self, len: usize, stop: u64) {
        let end = u128::from(self.pos + len as u64) * 30 - 1;
        // Every number of every byte sieved must be sieved completely, also past
        // `stop` in stop's own byte: the next call may start in that byte and reuse it
        // (`last_byte`), or start after it with offsets set up from here. Sieving only
        // to sqrt(stop) let p^2 through when stop < p^2 shared its byte (4099^2 =
        // 16801801 after a call ending at 16801800).
        let stop_byte_end = u128::from(stop / 30) * 30 + 29;
        let top = end.min(stop_byte_end).min(u128::from(u64::MAX)) as u64;
        self.activate(top);
        let seg = &mut self.segment[..len];
        for (b, block) in seg.chunks_mut(BLOCK_BYTES).enumerate() {
            let block_pos = self.pos + (b * BLOCK_BYTES) as u64;
            presieve(block, block_pos);
            let lo = b * BLOCK_BYTES;
            for sp in &mut self.small[..self.small_active] {
                cross_off_small(block, lo, sp);
            }
        }
        for sp in &mut self.small[..self.small_active] {
            for o in &mut sp.offsets {
                *o -= len as u32;
            }
        }
        cross_off_medium(seg, &mut self.medium);
        cross_off_big(seg, self.pos, &mut self.buckets, u64::MAX);
        if self.pos < self.window.end {
            cross_off_big(seg, self.pos, &mut self.window.buckets, self.window.end);
        }
        self.last_byte = Some(seg[len - 1]);
        self.pos += len as u64;
    }

    /// Sets up the offsets of every sieving prime whose square is at most `top` and
    /// that is not set up yet.
    fn activate(&mut self, top: u64) {
        let low = self.pos * 30;
        while let Some(sp) = self.small.get_mut(self.small_active) {
            let p = u64::from(sp.p);
            if p * p > top {
                return;
            }
            set_up_small(sp, self.pos, low.max(p * p));
            self.small_active += 1;
        }
        loop {
            let p = self.stream.peek();
            if p > self.keep || p * p > top {
                return;
            }
            self.stream.advance();
            let (byte, class) = first_multiple(p, low.max(p * p));
            if p <= MEDIUM_MAX {
                if self.medium.len() == self.medium.capacity() {
                    // Grow by doubling but never past pi(MEDIUM_MAX), so the memory
                    // bound holds (Dusart: pi(x) < 1.25506 x / ln x).
                    let x = MEDIUM_MAX as f64;
                    let most = (1.25506 * x / x.ln()) as usize + 1;
                    let want = (2 * self.medium.len()).clamp(1024, most);
                    self.medium.reserve_exact(want - self.medium.len());
                }
                self.medium.push(Wheeled::new(p, byte - self.pos, class));
            } else {
                let seg = byte / SEGMENT_BYTES as u64;
                let off = byte % SEGMENT_BYTES as u64;
                self.buckets.push(
                    (seg % self.buckets.slots.len() as u64) as usize,
                    Wheeled::new(p, off, class),
                );
            }
        }
    }
}

/// Sets up a small prime's offsets (from byte `pos`) for its multiples from `lower` on.
fn set_up_small(sp: &mut SmallPrime, pos: u64, lower: u64) {
    let p = u64::from(sp.p);
    let (byte, class) = first_multiple(p, lower);
    let steps = &STEPS[bit_of(p % 30) as usize];
    // Walk one turn of the wheel from the first multiple: the first multiple of each
    // cofactor class, with the bit it clears.
    let (mut off, mut j) = ((byte - pos) as u32, class);
    for _ in 0..8 {
        sp.offsets[j] = off;
        sp.masks[j] = steps[j].mask;
        off += (p / 30) as u32 * u32::from(steps[j].dq) + u32::from(steps[j].corr);
        j = (j + 1) % 8;
    }
}

/// Mask keeping the numbers >= start in start's byte.
fn low_mask(start: u64) -> u8 {
    let r = start % 30;
    let mut m = 0u8;
    for (k, &w) in WHEEL.iter().enumerate() {
        if w >= r {
            m |= 1 << k;
        }
    }
    m
}

/// Mask keeping the numbers <= stop when byte `b` is stop's byte `last`, else all.
fn high_mask(b: u64, last: u64, stop: u64) -> u8 {
    if b != last {
        return 0xff;
    }
    let r = stop % 30;
    let mut m = 0u8;
    for (k, &w) in WHEEL.iter().enumerate() {
        if w <= r {
            m |= 1 << k;
        }
    }
    m
}

/// Fills `block` (at byte index `pos`) with the numbers prime to 2..=163, except that
/// the primes 7..=163 themselves are kept.
fn presieve(block: &mut [u8], pos: u64) {
    let pats = patterns();
    for (g, pat) in pats.iter().enumerate() {
        let period = pat.len();
        let mut o = (pos % period as u64) as usize;
        let mut done = 0;
        while done < block.len() {
            let n = (period - o).min(block.len() - done);
            let (dst, src) = (&mut block[done..done + n], &pat[o..o + n]);
            if g == 0 {
                dst.copy_from_slice(src);
            } else {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d &= *s;
                }
            }
            done += n;
            o = 0;
        }
    }
    // The first bytes hold 1 (not prime) and the pre-sieved primes, which their own
    // patterns crossed off.
    let fixed = FIRST_SIEVING_PRIME / 30 + 1;
    if pos < fixed {
        for b in pos..fixed.min(pos + block.len() as u64) {
            let mut byte = 0u8;
            for (k, w) in WHEEL.iter().enumerate() {
                let n = 30 * b + w;
                if n > 1 && PRESIEVE_GROUPS.iter().any(|g| g.contains(&n)) {
                    byte |= 1 << k;
                }
            }
            let not_one = if b == 0 { !1u8 } else { 0xff };
            block[(b - pos) as usize] = (block[(b - pos) as usize] | byte) & not_one;
        }
    }
}

/// Crosses off a small prime's multiples in `block`, which is the segment's bytes from
/// `lo`; offsets are from the segment start.
#[inline]
fn cross_off_small(block: &mut [u8], lo: usize, sp: &mut SmallPrime) {
    let p = sp.p as usize;
    let hi = lo + block.len();
    let [mut o0, mut o1, mut o2, mut o3, mut o4, mut o5, mut o6, mut o7] =
        sp.offsets.map(|o| o as usize);
    let [m0, m1, m2, m3, m4, m5, m6, m7] = sp.masks;
    // All 8 offsets lie within p bytes of each other: step all of them while the
    // largest is inside the block, then finish each (at most once more).
    let mut max = o0.max(o1).max(o2).max(o3).max(o4).max(o5).max(o6).max(o7);
    if max < hi {
        let s = &mut block[..];
        let (b0, b1, b2, b3, b4, b5, b6, b7) = (
            o0 - lo,
            o1 - lo,
            o2 - lo,
            o3 - lo,
            o4 - lo,
            o5 - lo,
            o6 - lo,
            o7 - lo,
        );
        let (mut c0, mut c1, mut c2, mut c3) = (b0, b1, b2, b3);
        let (mut c4, mut c5, mut c6, mut c7) = (b4, b5, b6, b7);
        let end = hi - lo;
        max -= lo;
        while max < end {
            // SAFETY: every c_k <= max < end = s.len(). (Unchecked: 10% faster at 1e12.)
            unsafe {
                *s.get_unchecked_mut(c0) &= m0;
                *s.get_unchecked_mut(c1) &= m1;
                *s.get_unchecked_mut(c2) &= m2;
                *s.get_unchecked_mut(c3) &= m3;
                *s.get_unchecked_mut(c4) &= m4;
                *s.get_unchecked_mut(c5) &= m5;
                *s.get_unchecked_mut(c6) &= m6;
                *s.get_unchecked_mut(c7) &= m7;
            }
            c0 += p;
            c1 += p;
            c2 += p;
            c3 += p;
            c4 += p;
            c5 += p;
            c6 += p;
            c7 += p;
            max += p;
        }
        (o0, o1, o2, o3, o4, o5, o6, o7) = (
            c0 + lo,
            c1 + lo,
            c2 + lo,
            c3 + lo,
            c4 + lo,
            c5 + lo,
            c6 + lo,
            c7 + lo,
        );
    }
    let mut finish = |o: &mut usize, m: u8| {
        if *o >= lo && *o < hi {
            block[*o - lo] &= m;
            *o += p;
        }
    };
    finish(&mut o0, m0);
    finish(&mut o1, m1);
    finish(&mut o2, m2);
    finish(&mut o3, m3);
    finish(&mut o4, m4);
    finish(&mut o5, m5);
    finish(&mut o6, m6);
    finish(&mut o7, m7);
    sp.offsets = [o0, o1, o2, o3, o4, o5, o6, o7].map(|o| o as u32);
}

/// Crosses off the medium primes' multiples in `seg`.
fn cross_off_medium(seg: &mut [u8], medium: &mut [Wheeled]) {
    let len = seg.len();
    for mp in medium {
        let off = (mp.offset_wheel >> 3) as usize;
        let j = (mp.offset_wheel & 7) as usize;
        let p30 = (mp.p30_class >> 3) as usize;
        // One copy of the loop per class of p mod 30, so that its masks and carries
        // are constants.
        let (off, j) = match mp.p30_class & 7 {
            0 => cross_off_one::<0>(seg, off, j, p30),
            1 => cross_off_one::<1>(seg, off, j, p30),
            2 => cross_off_one::<2>(seg, off, j, p30),
            3 => cross_off_one::<3>(seg, off, j, p30),
            4 => cross_off_one::<4>(seg, off, j, p30),
            5 => cross_off_one::<5>(seg, off, j, p30),
            6 => cross_off_one::<6>(seg, off, j, p30),
            _ => cross_off_one::<7>(seg, off, j, p30),
        };
        mp.offset_wheel = ((off - len) as u32) << 3 | j as u32;
    }
}

/// Crosses off the multiples of p = 30*p30 + WHEEL[C] in `seg` from byte `off`, whose
/// cofactor has wheel index `j`; returns the first multiple past `seg`, the same way.
#[inline(always)]
fn cross_off_one<const C: usize>(
    seg: &mut [u8],
    mut off: usize,
    mut j: usize,
    p30: usize,
) -> (usize, usize) {
    let len = seg.len();
    let steps = &STEPS[C];
    let single = |seg: &mut [u8], off: &mut usize, j: &mut usize| {
        let st = steps[*j];
        seg[*off] &= st.mask;
        *off += p30 * st.dq as usize + st.corr as usize;
        *j = (*j + 1) & 7;
    };
    // Step to the start of a turn of the wheel (cofactor = 1 mod 30)...
    while j != 0 {
        if off >= len {
            return (off, j);
        }
        single(seg, &mut off, &mut j);
    }
    // ...then cross off whole turns: 8 multiples at fixed distances from its start,
    // p bytes per turn.
    let r = WHEEL[C] as usize;
    let d = WHEEL.map(|w| p30 * (w as usize - 1) + r * w as usize / 30);
    let p = 30 * p30 + r;
    while off + d[7] < len {
        let turn = &mut seg[off..off + d[7] + 1];
        for k in 0..8 {
            turn[d[k]] &= steps[k].mask;
        }
        off += p;
    }
    while off < len {
        single(seg, &mut off, &mut j);
    }
    (off, j)
}

/// Crosses off the multiples of the bucketed primes due in `seg` (at byte `pos`), and
/// files each prime under the aligned segment of its next multiple, unless that is at
/// or past byte `end` (a window's primes are dropped there).
fn cross_off_big(seg: &mut [u8], pos: u64, buckets: &mut Buckets, end_byte: u64) {
    let ring = buckets.slots.len() as u64;
    let seg_no = pos / SEGMENT_BYTES as u64;
    let slot = (seg_no % ring) as usize;
    let seg_start = seg_no * SEGMENT_BYTES as u64;
    // Offsets are from the aligned segment's start; `seg` may be only part of it.
    let skip = (pos % SEGMENT_BYTES as u64) as usize;
    let end = skip + seg.len();
    let b = &mut buckets.slots[slot];
    let (filling, mut full) = (std::mem::take(&mut b.filling), std::mem::take(&mut b.full));
    for page in full.drain(..).chain(std::iter::once(filling)) {
        for w in &page {
            let mut off = (w.offset_wheel >> 3) as usize;
            let mut j = (w.offset_wheel & 7) as usize;
            let p30 = (w.p30_class >> 3) as usize;
            let steps = &STEPS[(w.p30_class & 7) as usize];
            while off < end {
                let st = steps[j];
                seg[off - skip] &= st.mask;
                off += p30 * st.dq as usize + st.corr as usize;
                j = (j + 1) & 7;
            }
            if seg_start + off as u64 >= end_byte {
                continue;
            }
            let next = ((seg_no + (off / SEGMENT_BYTES) as u64) % ring) as usize;
            let offset_wheel = ((off % SEGMENT_BYTES) as u32) << 3 | j as u32;
            buckets.push(
                next,
                Wheeled {
                    p30_class: w.p30_class,
                    offset_wheel,
                },
            );
        }
        buckets.recycle(page);
    }
    // Keep the list's capacity for this bucket unless it was refilled meanwhile.
    if buckets.slots[slot].full.is_empty() {
        buckets.slots[slot].full = full;
    }
}

/// Appends the numbers whose bits are set in `bytes` (at byte index `pos`).
fn extract(pos: u64, bytes: &[u8], out: &mut Vec<u64>) {
    let mut base = pos * 30;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut bits = u64::from_le_bytes(w.try_into().unwrap());
        while bits != 0 {
            out.push(base + WORD_OFFSETS[bits.trailing_zeros() as usize]);
            bits &= bits - 1;
        }
        // Past the last word near 2^64 this would overflow, but is then unused.
        base = base.wrapping_add(240);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    let mut bits = u64::from_le_bytes(tail);
    while bits != 0 {
        out.push(base + WORD_OFFSETS[bits.trailing_zeros() as usize]);
        bits &= bits - 1;
    }
}

/// Number of set bits in `bytes`.
fn popcount(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut n: u64 = (&mut words)
        .map(|w| u64::from(u64::from_le_bytes(w.try_into().unwrap()).count_ones()))
        .sum();
    n += words
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>();
    n
}
