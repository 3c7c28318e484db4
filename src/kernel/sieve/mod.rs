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
//! # Files (one part each)
//! `presieve.rs` (patterns of 7..=163), `small.rs` (small primes, unrolled per
//! block), `medium.rs` (medium primes and the packed `Wheeled` form), `large.rs`
//! (buckets of the kept large primes, windows and their sizing from the budget),
//! `hits.rs` (a window's hit lists), `stream.rs`
//! (the kept sieving primes, made on demand), `extract.rs` (numbers, counts and range
//! masks out of the sieved bytes); this file holds the `Sieve` that drives them. The
//! table of sieving primes shared by threads is `super::sieving_primes`.
//!
//! # Crossing off, by size of the sieving prime (primesieve's split)
//! - pre-sieve: the primes 7..=163 are crossed off by AND-ing periodic byte patterns
//!   (a few KiB each), far cheaper than crossing off their dense multiples one by one.
//! - small primes (up to `SMALL_MAX`): for a prime p, the multiples `p*q` with `q` in
//!   one wheel class lie exactly p bytes apart and always hit the same bit, so each
//!   prime keeps 8 byte offsets and crosses off 8 multiples per step of an unrolled
//!   loop, one L1-sized block of the segment at a time.
//! - medium primes (up to `MEDIUM_MAX`, one segment): over the whole segment, one
//!   loop per class of p mod 30 so masks and carries are constants, kept in lists by
//!   class and wheel position (primesieve's EratMedium) so the branches into and out of
//!   the loop are predicted.
//! - big primes: primesieve's bucket sieve, on the wheel of 210 (48 multiples per 7p
//!   bytes; multiples of 7 are pre-sieved). Each waits in the bucket of the segment its
//!   next multiple falls in, so a segment touches only the primes that hit it. Buckets
//!   are pages in one arena, on a ring of power-of-two length (a segment's bucket is
//!   its number masked). Each entry crosses off one multiple and is filed again, the
//!   segment's bucket drained until quiet (primesieve's EratBig: no mispredicted loop
//!   exit per prime and segment).
//!
//! Thresholds were measured (counting 1e9 numbers at 1e12..1e17): segments of
//! 256 KiB..2 MiB, `SMALL_MAX` of 1/8..1 block; 1 MiB and 1/4 were best or within
//! noise. With medium primes sorted, `MEDIUM_MAX` of 1 and 2 segments measured alike at
//! 1e15 (and segments of 256 and 512 KiB slower), better than 1/4 segment with a looped
//! bucket tier up to one segment, which is gone.
//! 32-bit targets (the Pis) get smaller blocks (16 KiB), unmeasured.
//!
//! # Speed (one x86-64 core, AMD EPYC, L2 1 MiB; CPU seconds, same run as primesieve 11)
//! `primecluster bench`, counting 1e9 numbers from each height, ours / `primesieve -t1`:
//! 1e9 0.97x, 1e12 0.99x, 1e15 1.09x, 1e16 1.12x, 1e17 1.02x, 1e18 0.74x, 1e19 0.53x,
//! 2^64-1e9 0.51x; two threads 0.61x at 1e18, 0.74x near 2^64; on the chunks a master
//! cuts (2^20 primes each) 1.08x at 1e16, 0.77x at 1e18. Runs minutes apart move a
//! ratio by up to 0.15 (1e16: 1.00x-1.16x). On a Pi Zero's budget (`--memory 64`) at
//! 1e18: 1.7x (see the closing notes of issue 9).
//!
//! # State kept between calls
//! A prime is set up (its first multiple found, one division) only when its square
//! reaches the segment, taking primes in order from `PrimeStream`, a small odd-only
//! sieve: no table of all sieving primes exists besides their bucket entries, and a
//! call on small numbers never pays for primes it does not need. A call that starts
//! where the last one ended (or in the very byte it ended in: that byte's sieved value
//! is kept) continues with every offset as it is. A call further on (a worker thread's
//! usual case: its chunks skip the other threads' chunks) keeps the primes set up and
//! moves the bucketed ones across a short skip, or finds each one's first multiple
//! again past a long one (in batches without divisions, as at set-up). A call further
//! back drops them all and sets them up again from the stream. Measured cost of such
//! a call, on top of its sieving: backwards 2 ms near 1e12, 51 ms near 1e15, 166 ms
//! near 1e16 (with 2^25 kept); a long skip forwards at 1e16, 40 ms (2^27 kept).
//!
//! # Every height below 2^64: kept primes and windows, within a budget
//! Sieving primes up to `KEEP_LIMIT` (2^27, so no window below 1.8e16; 2^25 or 2^22
//! on smaller budgets, 2^22 on 32-bit) are kept set up between calls as described
//! above (8 bytes each, 58 MB). Larger ones, up to 2^32 near 2^64, are far too many
//! to keep per thread (203 M), so a call cuts its range into windows of whole
//! segments. When a window opens, every such prime is taken from the process's
//! shared table of sieving primes ([`super::sieving_primes`]) and each of its
//! multiples in the window written down as a 2-byte hit in the list of its 8 KiB
//! block (`hits.rs`); a segment then clears its blocks' hits. Finding a
//! prime's first multiple is one division-free pass (`large::set_up_batch`, about 5
//! ns a prime), so a window costs about 1 s near 2^64 whatever its length, and its
//! length is what the budget buys: 2 bytes per hit, about 48B/7p hits of each prime p
//! for a window of B bytes ([`Memory`]; a Pi Zero's 64 MiB at 1e18 gets windows of 5
//! segments, the default one window per 1e9 numbers). In a run of calls (`primes`
//! slices, a worker thread's chunks) a window reaches past its call (up to
//! `CARRY_SEGMENTS`), and a call that continues the last one continues its window and
//! adds the primes its higher stop needs, so the set-up is paid once per window, not
//! per call; a call further on inside the open window (a thread's chunk past its
//! neighbours') moves the window there. `fits(stop)` says whether the table and one
//! window fit; `worth_here(start, stop)` whether the sieve pays here: a range long
//! enough to pay for setting up every large prime, a call that continues or jumps
//! into the open window, or a call in a forward run of calls (by whichever kernel)
//! dense enough that a window carried past it pays over the run (the dispatcher
//! takes pre-sieve + Miller–Rabin otherwise). Near 2^64 the master's chunks are each
//! shorter than a window is worth; judged as a run, all but a thread's first are
//! sieved (`run` counting 1e9 numbers below 2^64: 16.9 s before, 2.6 s).

use super::budget::Memory;
use super::sieving_primes::{shared_table, table_bytes, PrimeTable};
use super::small::primes_up_to;
use std::sync::{Arc, OnceLock};

mod extract;
mod hits;
mod large;
mod medium;
mod presieve;
mod small;
mod stream;

use extract::*;
use hits::*;
use large::*;
use medium::*;
use presieve::*;
use small::*;
use stream::*;

/// A xorshift generator for the unit tests' random primes and heights.
#[cfg(test)]
fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// The residues prime to 30, in bit order.
const WHEEL: [u64; 8] = [1, 7, 11, 13, 17, 19, 23, 29];

/// Bytes per segment: L2-sized on 64-bit machines. 32-bit ARM has the same: a Pi's L2
/// is smaller (128 KiB-1 MiB, shared), but the kept buckets' set-up needs
/// `MEDIUM_MAX` (one segment) of at least 2^20 (see below); blocks there are smaller.
/// Unmeasured on a Pi. Public for the tests, which put calls across its boundaries.
#[doc(hidden)]
pub const SEGMENT_BYTES: usize = 1024 * 1024;

/// Bytes per block: the part of the segment that pre-sieve and small primes work on at
/// once, sized to stay in L1.
#[cfg(target_pointer_width = "64")]
const BLOCK_BYTES: usize = 32 * 1024;
#[cfg(not(target_pointer_width = "64"))]
const BLOCK_BYTES: usize = 16 * 1024;

/// Largest "small" sieving prime: at least a few unrolled steps per block.
const SMALL_MAX: u64 = (BLOCK_BYTES / 4) as u64;

/// Largest sieving prime kept set up between calls (small, medium and kept buckets),
/// where the budget holds them (see `keep_for`): 7.3 M primes, 58 MB, on 64-bit, so
/// up to 1.8e16 no window opens at all; 0.3 M primes, 2.4 MB, on 32-bit. Larger ones
/// are set up per window from the shared table (see `Window`). Counting 1e9 numbers,
/// 2^27 against 2^25 (`bench`, same run): 1e16 0.508 -> 0.472 s, 1e17 0.722 -> 0.642
/// s, 1e18 0.966 -> 0.916 s, near 2^64 1.83 -> 1.56 s.
#[cfg(target_pointer_width = "64")]
pub const KEEP_LIMIT: u64 = 1 << 27;
#[cfg(not(target_pointer_width = "64"))]
pub const KEEP_LIMIT: u64 = 1 << 22;

/// The kept limit for budgets whose share holds the 2^25 primes' buckets but not
/// `KEEP_LIMIT`'s and a carried window near 2^64 (two threads in 300 MiB, say):
/// 2.1 M primes, 16 MB.
const MID_KEEP_LIMIT: u64 = 1 << 25;

/// Largest prime sieved every segment rather than through the buckets: one segment
/// (such a prime hits it about 8 times). Sorted by wheel position (`Medium`), these
/// beat the looped buckets that used to take the primes from a quarter segment to one
/// segment (counting 1e9 numbers: 1e12 167 -> 158 ms, 1e15 352 -> 345 ms).
const MEDIUM_MAX: u64 = SEGMENT_BYTES as u64;
// Bucketed primes are set up by `set_up_kept_batch`, whose rounding needs p > 2^20.
const _: () = assert!(MEDIUM_MAX >= 1 << 20);

/// Largest medium prime crossed off a `MEDIUM_PART` of the segment at a time (see
/// `Medium`), and that part: 2^16 and a quarter segment measured best of 2^16..2^17
/// and 1/4..1/8 (counting 1e9 numbers: 1e12 3% and 1e16 1% faster, 1e15 within noise).
const MEDIUM_DENSE_MAX: u64 = 1 << 16;
const MEDIUM_PART: usize = SEGMENT_BYTES / 4;

/// The kept limit for budgets whose share is below `SMALL_SHARE` (a Pi Zero's 64 MiB):
/// 0.56 M primes, 4.5 MB.
const SMALL_KEEP_LIMIT: u64 = 1 << 22;
const SMALL_SHARE: u64 = 128 << 20;

/// The kept limit for a sieve of `memory`'s share: `KEEP_LIMIT` where that share, after
/// the largest shared table (near 2^64), holds the kept primes and a window reaching
/// `CARRY_SEGMENTS` (the default budgets for one and two threads do); else the
/// largest that still leaves windows there: keeping more primes must not make a
/// budget that sieved near 2^64 fall back to Miller-Rabin.
fn keep_for(memory: Memory) -> u64 {
    let share = memory.total / u64::from(memory.threads.max(1));
    if share < SMALL_SHARE {
        return SMALL_KEEP_LIMIT.min(KEEP_LIMIT);
    }
    let top = u64::from(u32::MAX);
    let free = memory.share_after(table_bytes(top)).unwrap_or(0);
    let needs = fixed_bytes(KEEP_LIMIT, top) + window_bytes(CARRY_SEGMENTS, top, KEEP_LIMIT);
    if free >= needs {
        KEEP_LIMIT
    } else {
        MID_KEEP_LIMIT.min(KEEP_LIMIT)
    }
}

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
const PAGE: usize = 2048;
#[cfg(not(target_pointer_width = "64"))]
const PAGE: usize = 128;

/// A window reaches at least this many segments past its start (within the budget),
/// even when its call ends sooner: the next call may continue it (32 MiB segments:
/// 1e9 numbers, where a window's set-up is a small part of sieving it).
const CARRY_SEGMENTS: u64 = 32;

/// A forward skip of at most this many segments moves the kept bucketed primes across
/// it rather than finding each one's next multiple again (`Buckets::refile_from`): at
/// 1e16 moving costs about 7.5 ms a segment, finding them again 40 ms.
const SHORT_SKIP_SEGMENTS: u64 = 4;

/// Byte index just past the byte holding 2^64 - 1.
const BYTE_END: u64 = u64::MAX / 30 + 1;

/// Largest stop the kept primes alone cover; above it windows of large primes start.
pub const KEPT_STOP: u64 = (KEEP_LIMIT + 1) * (KEEP_LIMIT + 1) - 1;

/// `bit_of` as a table (for r prime to 30; 0 elsewhere), for the hot paths: every
/// large prime a window sets up is packed with it.
const BIT_OF: [u8; 30] = {
    let mut t = [0u8; 30];
    let mut k = 0;
    while k < 8 {
        t[WHEEL[k] as usize] = k as u8;
        k += 1;
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

/// The least multiple `p*q >= lower` with `q` prime to 30, as (byte index, class of q).
fn first_multiple(p: u64, lower: u64) -> (u64, usize) {
    let q_min = lower.div_ceil(p);
    let class = NEXT_CLASS[(q_min % 30) as usize] as usize;
    let q = q_min - q_min % 30 + WHEEL[class];
    (byte_of(p, q), class)
}

/// floor(p*q / 30), the byte of p*q, for p*q < 2^64 * 30 + 30 (so the byte fits u64),
/// in u64 arithmetic: with p = 30*p30 + r and q = 30*q30 + s it is
/// p30*q + r*q30 + r*s/30, each term at most the result. (u128 division, which a u128
/// product needs, is a library call: about 30 ns for each of the 2 million primes a
/// sieve near 1e15 sets up per call.)
#[inline]
fn byte_of(p: u64, q: u64) -> u64 {
    let (p30, r) = (p / 30, p % 30);
    p30 * q + r * (q / 30) + r * (q % 30) / 30
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
    medium: Medium,
    /// Sieving primes above `MEDIUM_MAX` set up so far, up to `KEEP_LIMIT`.
    big: Buckets,
    /// The windows of large primes: `windows[0]` for those up to the plan's split,
    /// `windows[1]` for those above (see [`Plan`]).
    windows: [Window; 2],
    /// The last plan made, for the stop root it was made for.
    plan: Option<(u64, Option<Plan>)>,
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
    /// The caller's last call (first and last number), whichever kernel took it: see
    /// `in_run`.
    last_call: Option<(u64, u64)>,
    /// Windows opened so far (either tier), for tests of when windows are kept.
    windows_opened: u64,
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
        let keep = keep_for(memory);
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
            medium: Medium::new(),
            big: Buckets::new(ring_for(keep)),
            windows: [Window::new(), Window::new()],
            plan: None,
            memory,
            window_cap: MAX_WINDOW_SEGMENTS,
            keep,
            stream: PrimeStream::new(),
            out: Vec::new(),
            last_call: None,
            windows_opened: 0,
        }
    }

    /// Does the sieve take ranges ending at `stop` within its memory budget? Yes when
    /// its share after the shared table holds its fixed part and a window of at
    /// least one segment.
    pub fn fits(&self, stop: u64) -> bool {
        let s = stop_root(stop);
        match self.free_for(s) {
            Some(free) => s <= self.keep || window_bytes(1, s, self.keep) <= free,
            None => false,
        }
    }

    /// Is the sieve worth its set-up on `start..=stop`? Each window of a range above
    /// `KEPT_STOP` sets up every sieving prime above `KEEP_LIMIT` (a few ns each), so
    /// a range shorter than half their number is faster by pre-sieve + Miller–Rabin
    /// (tens of ns per number up there).
    pub fn worth(start: u64, stop: u64) -> bool {
        stop - start >= Self::worth_len(stop)
    }

    /// The shortest range ending at `stop` that [`Sieve::worth`] takes (0 where no
    /// window is needed): callers that cut a long range into slices make them at least
    /// this long, so the first is sieved and the rest continue its window.
    pub fn worth_len(stop: u64) -> u64 {
        let s = stop_root(stop);
        if s <= KEEP_LIMIT {
            return 0;
        }
        let primes = pi_bound(s) - pi_bound(KEEP_LIMIT) * 0.9;
        (primes / 2.0).ceil() as u64
    }

    /// Caps windows at `segs` segments (at least 1), so that tests can put many window
    /// boundaries inside short ranges.
    #[doc(hidden)]
    pub fn with_window_cap(mut self, segs: u64) -> Self {
        self.window_cap = segs.max(1);
        self
    }

    /// How many windows of large primes this sieve has opened (set up): tests check
    /// that a run of calls keeps its window rather than setting it up per call.
    #[doc(hidden)]
    pub fn windows_opened(&self) -> u64 {
        self.windows_opened
    }

    /// The budget this sieve keeps to.
    pub fn memory(&self) -> Memory {
        self.memory
    }

    /// The split and segments per window of each tier for ranges up to `stop` (for
    /// tests and measurements; see `Plan`).
    #[doc(hidden)]
    pub fn window_plan_at(&mut self, stop: u64) -> Option<(u64, [u64; 2])> {
        self.plan_for(stop).map(|p| (p.split, p.segs))
    }

    /// How ranges up to `stop` are windowed within this sieve's share of the budget;
    /// `None` when not even windows of one segment fit. Below `KEPT_STOP` no window is
    /// needed. Kept for the last stop's root: calls come by the thousand.
    fn plan_for(&mut self, stop: u64) -> Option<Plan> {
        let s = stop_root(stop);
        match self.plan {
            Some((root, plan)) if root == s => plan,
            _ => {
                let plan = self.make_plan(s);
                self.plan = Some((s, plan));
                plan
            }
        }
    }

    /// This sieve's share of the budget left for windows, for sieving primes up to
    /// `s`: after the shared table (when windows need it) and its fixed part.
    fn free_for(&self, s: u64) -> Option<u64> {
        let shared = if s > self.keep { table_bytes(s) } else { 0 };
        let share = self.memory.share_after(shared)?;
        share.checked_sub(fixed_bytes(self.keep, s))
    }

    /// The plan for sieving primes up to `s` (see `plan_for`).
    fn make_plan(&self, s: u64) -> Option<Plan> {
        let keep = self.keep;
        let free = self.free_for(s)?;
        if s <= keep {
            return Some(Plan {
                split: keep,
                segs: [MAX_WINDOW_SEGMENTS; 2],
            });
        }
        let one = most_segments(free, |segs| window_bytes(segs, s, keep))?;
        let mut best = Plan {
            split: keep,
            segs: [1, one],
        };
        if one >= CARRY_SEGMENTS {
            return Some(best);
        }
        // Windows shorter than a run of calls: each sets up every large prime again,
        // so the primes that hit a window least (the largest: most of them, few hits
        // each) get longer windows of their own, the rest shorter ones. The split and
        // the budget's division between the two are chosen for the fewest set-ups per
        // segment, trying splits at powers of two and the budget in sixteenths.
        let primes = |lo: u64, hi: u64| pi_bound(hi) - pi_bound(lo) * 0.9;
        let mut best_cost = primes(keep, s) / one as f64;
        let mut split = (keep + 1).next_power_of_two();
        while split < s {
            for sixteenths in 1..16 {
                let low_free = free / 16 * sixteenths;
                let low = most_segments(low_free, |g| window_bytes(g, split, keep));
                let high = most_segments(free - low_free, |g| window_bytes(g, s, split));
                if let (Some(low), Some(high)) = (low, high) {
                    let cost = primes(keep, split) / low as f64 + primes(split, s) / high as f64;
                    if cost < best_cost {
                        best_cost = cost;
                        best = Plan {
                            split,
                            segs: [low, high],
                        };
                    }
                }
            }
            split *= 2;
        }
        Some(best)
    }

    /// Bytes this instance holds on the heap now (for the memory-bound test).
    #[doc(hidden)]
    pub fn heap_bytes(&self) -> usize {
        self.segment.capacity()
            + self.small.capacity() * std::mem::size_of::<SmallPrime>()
            + self.medium.capacity() * 8
            + self.big.heap_bytes()
            + self.windows[0].hits.heap_bytes()
            + self.windows[1].hits.heap_bytes()
            + self.stream.heap_bytes()
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

    /// Tells the sieve that its caller's call on `start..=stop` went to another kernel
    /// (pre-sieve + Miller–Rabin): the next call may continue the run it began.
    pub fn note_call(&mut self, start: u64, stop: u64) {
        self.last_call = Some((start, stop));
    }

    /// Sieves the bytes holding start..=stop and gives each sieved run, with bits outside
    /// the range cleared, to `visit` with its byte index. Requires start <= stop.
    fn sieve_range(&mut self, start: u64, stop: u64, visit: &mut dyn FnMut(u64, &[u8])) {
        // Past the budget the windows are one segment: slow, but still right (the
        // dispatcher asks `fits` first and takes another kernel there).
        let plan = self.plan_for(stop).unwrap_or(Plan {
            split: self.keep,
            segs: [1, 1],
        });
        let segs = plan.segs.map(|g| g.min(self.window_cap));
        let (first, last) = (start / 30, stop / 30);
        // A window reaches past this call's end only when calls come in a sequence
        // (this one continues the last, or jumps a little forward): every hit of a
        // window is written down when it opens, so reaching past a lone call would
        // cost set-up for numbers nobody asks for.
        let sequential =
            self.continues(start) || self.jumps_within_window(start) || self.in_run(start, stop);
        self.last_call = Some((start, stop));
        if self.continues(start) {
            // A window left open by the last call goes on (consecutive calls, such as
            // `primes` slices or a worker thread's adjacent chunks, set up each large
            // prime once per window, not once per call), with any primes a higher stop
            // needs added.
            self.extend_windows(stop);
        } else if self.jumps_within_window(start) {
            // A jump forward inside the open window (a worker thread's next chunk, past
            // other threads' chunks): moving the window over the gap costs less than
            // setting all its primes up again.
            self.advance_windows(first);
            self.jump_to(first);
            self.extend_windows(stop);
        } else {
            self.windows.iter_mut().for_each(Window::close);
        }
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
            if stop_root(stop) > self.keep {
                // The upper tier first: it fixes the split the lower one ends at.
                if from >= self.windows[1].end {
                    let lower = &mut self.windows[0];
                    if lower.end > from && lower.hi != plan.split {
                        lower.close();
                    }
                    self.open_window(1, plan.split, u64::MAX, segs[1], last, stop, sequential);
                }
                let split = self.windows[1].lo;
                if from >= self.windows[0].end && split > self.keep {
                    self.open_window(0, self.keep, split, segs[0], last, stop, sequential);
                }
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

    /// Does a call from `start` continue where the last one ended (in its last byte or
    /// just after it)? Then every offset is kept, an open window's too.
    fn continues(&self, start: u64) -> bool {
        let first = start / 30;
        first == self.pos || (self.last_byte.is_some() && first + 1 == self.pos)
    }

    /// Is the sieve worth its set-up on `start..=stop` here? Yes when the range is long
    /// enough ([`Sieve::worth`]); when it continues the last call with its window open,
    /// or jumps forward inside that window, so that the large primes are set up already
    /// (`skip_pays`); or when it belongs to a forward run of calls that a window opened
    /// now serves well enough to pay for it (`in_run`).
    pub fn worth_here(&mut self, start: u64, stop: u64) -> bool {
        Self::worth(start, stop)
            || (self.continues(start) && self.windows[1].end > self.pos)
            || (self.jumps_within_window(start) && self.skip_pays(start, stop))
            || self.in_run(start, stop)
    }

    /// Does a call from `start` jump forward to a byte inside the open window? Then
    /// the window is kept and moved there (its hits are positions: the lists jumped
    /// over are freed): the kept primes are moved by `jump_to` whether the window is
    /// kept or not, so keeping it is never dearer than setting it up again.
    fn jumps_within_window(&self, start: u64) -> bool {
        let first = start / 30;
        first > self.pos && first < self.windows[1].end
    }

    /// Is a jump forward to `start` cheap next to the call? A skip of a few segments
    /// moves the kept primes across it; a longer one finds each kept prime's next
    /// multiple in a batch without divisions (about 5 ns each, 40 ms for the 7.3 M
    /// primes below 2^27), less than Miller–Rabin takes on 3 numbers per kept prime
    /// (the bound dates from a division each, 50 ns).
    fn skip_pays(&self, start: u64, stop: u64) -> bool {
        let gap = (start / 30).saturating_sub(self.pos);
        gap <= SHORT_SKIP_SEGMENTS * SEGMENT_BYTES as u64
            || stop - start >= 3 * pi_bound(self.keep) as u64
    }

    /// Is `start..=stop` part of a forward run of calls that a window opened here
    /// serves well enough to pay for it? A worker thread's chunks come so (one after
    /// the other, or each past its neighbours' chunks), each shorter than `worth_len`
    /// near 2^64 (the master sizes them from a rate measured on Miller–Rabin, or to
    /// 2^20 primes when they are shipped), so judged one by one they would never leave
    /// Miller–Rabin. Judged as a run: the last call (by whichever kernel) ended before
    /// this one starts, and at this call's share of the line (its length over its
    /// length plus the gap) the numbers asked for within a carried window's reach are
    /// at least `worth_len`. A call that alone opens the run (the first of a thread)
    /// still goes to Miller–Rabin.
    fn in_run(&mut self, start: u64, stop: u64) -> bool {
        let Some((_, last_stop)) = self.last_call else {
            return false;
        };
        if start <= last_stop {
            return false;
        }
        let need = Self::worth_len(stop);
        if need == 0 {
            return true;
        }
        let Some(plan) = self.plan_for(stop) else {
            return false;
        };
        // The window that would open: both tiers when the budget splits the primes
        // (the shorter one is set up more often), carried at most `CARRY_SEGMENTS`.
        let segs = if plan.split > self.keep {
            plan.segs[0].min(plan.segs[1])
        } else {
            plan.segs[1]
        };
        let segs = segs.min(self.window_cap).min(CARRY_SEGMENTS);
        let len = (stop - start) as f64 + 1.0;
        let reach = (segs as f64 * SEGMENT_BYTES as f64 * 30.0).max(len);
        let gap = (start - last_stop - 1) as f64;
        reach * len / (len + gap) >= need as f64
    }

    /// Moves the open windows from `pos` to byte `to` without crossing anything off:
    /// their hits are positions, so the lists passed are freed. A window that ends
    /// before `to` is closed (it opens again there).
    fn advance_windows(&mut self, to: u64) {
        for w in &mut self.windows {
            if to < w.end {
                w.hits.advance(to);
            } else {
                w.close();
            }
        }
    }

    /// Adds to the open windows the sieving primes a call up to `stop` needs beyond
    /// those set up (their squares lie past everything sieved, so their first multiple
    /// is the square).
    fn extend_windows(&mut self, stop: u64) {
        let (pos, keep) = (self.pos, self.keep);
        for w in &mut self.windows {
            if w.end <= pos {
                continue;
            }
            let top = (u128::from(w.end) * 30 - 1).min(u128::from(stop / 30) * 30 + 29);
            let root = (top.min(u128::from(u64::MAX)) as u64).isqrt().min(w.hi);
            let from = w.root.max(w.lo).max(keep) + 1;
            if root < from {
                continue;
            }
            let table = match &w.table {
                Some(t) if t.limit() >= root => Arc::clone(t),
                _ => shared_table(root),
            };
            let low = pos * 30;
            table.for_each_prime(from, root, |p| {
                let (byte, class) = first_multiple210(p, (p * p).max(low));
                w.hits.push_prime(p, byte, class);
            });
            w.root = root;
            w.table = Some(table);
        }
    }

    /// Opens window `tier` for the sieving primes in `lo + 1..=hi`, of up to `segs`
    /// segments at `pos`: sets up each one whose square is at most the window's (and
    /// stop's byte's) last number, writing down its hits in the window. In a
    /// `sequential` run of calls the window reaches past the call's last byte (up to
    /// `CARRY_SEGMENTS` segments), so that the next call continues the window too.
    #[allow(clippy::too_many_arguments)]
    fn open_window(
        &mut self,
        tier: usize,
        lo: u64,
        hi: u64,
        segs: u64,
        last: u64,
        stop: u64,
        sequential: bool,
    ) {
        let seg_bytes = SEGMENT_BYTES as u64;
        let base_seg = self.pos / seg_bytes;
        let carry = if sequential {
            CARRY_SEGMENTS.min(segs)
        } else {
            0
        };
        // Carried whole segments past `pos`, not past its segment's start: a run that
        // starts mid-segment would otherwise leave a sliver of its `carry` segments to a
        // second window, set up again in full.
        let reach = (last + 1).max((self.pos + carry * seg_bytes).next_multiple_of(seg_bytes));
        let end = reach.min((base_seg + segs) * seg_bytes).min(BYTE_END);
        self.windows_opened += 1;
        let w = &mut self.windows[tier];
        w.close();
        // The same pages: the last window of a call is shorter, and its pages are
        // reused rather than freed and made again.
        w.hits.reset(base_seg * seg_bytes, end);
        w.end = end;
        w.lo = lo;
        w.hi = hi;
        // The window's last number, but within stop's byte.
        let top = (u128::from(end) * 30 - 1).min(u128::from(stop / 30) * 30 + 29);
        let root = (top.min(u128::from(u64::MAX)) as u64).isqrt().min(hi);
        w.root = root;
        if root <= lo {
            return;
        }
        let blocks = (end - base_seg * seg_bytes).div_ceil(HIT_BLOCK) as usize;
        w.hits
            .reserve(window_hits(end - self.pos, root, lo) as usize + blocks * HIT_PAGE);
        let table = match &w.table {
            Some(t) if t.limit() >= root => Arc::clone(t),
            _ => shared_table(root),
        };
        let (pos, hits) = (self.pos, &mut w.hits);
        let began = std::time::Instant::now();
        let mut set_up = 0u64;
        table.for_each_batch(lo + 1, root, |batch| {
            set_up += set_up_batch(batch, pos, hits);
        });
        log::debug!(
            "sieve: window {tier} of {} segments at byte {}: {set_up} primes in {}..={root} set up in {:.3} s",
            (end - self.pos).div_ceil(seg_bytes),
            self.pos,
            lo + 1,
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
        self.big.clear();
        self.stream.reset();
    }

    /// Moves forwards to byte `pos`, keeping the primes set up (their squares are all
    /// behind `pos`) and finding each one's first multiple from there: a worker thread's
    /// chunks skip the other threads' chunks, so this is its usual case, and it spares
    /// making the primes again.
    fn skip_to(&mut self, pos: u64) {
        let from = self.pos;
        self.pos = pos;
        self.last_byte = None;
        let low = pos * 30;
        for sp in &mut self.small[..self.small_active] {
            set_up_small(sp, pos, low);
        }
        for w in self.medium.iter_mut() {
            let p = w.prime();
            let (byte, class) = first_multiple(p, low);
            *w = Wheeled::new(p, byte - pos, class);
        }
        let seg = SEGMENT_BYTES as u64;
        if pos - from <= SHORT_SKIP_SEGMENTS * seg {
            // A short skip: moving the bucketed primes across it costs less than one
            // division each (a worker thread skipping its neighbour's chunk).
            for seg_no in from / seg..=pos / seg {
                let upto = if seg_no == pos / seg {
                    (pos % seg) as usize
                } else {
                    SEGMENT_BYTES
                };
                self.big.advance(seg_no, upto);
            }
            return;
        }
        // A long one: each bucketed prime's first multiple from `pos`, found as at
        // set-up (a batch without divisions), a page of them at a time.
        self.big.refile_from(pos);
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
        self.medium.cross_off(seg);
        self.big.cross_off_single(seg, self.pos);
        for w in &mut self.windows {
            if self.pos < w.end {
                w.hits.cross_off(seg, self.pos);
            }
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
        // Bucketed primes are set up a batch at a time without integer divisions, as a
        // window's are (1.9 M of them near 1e15: 6-9 ms less per call there).
        let mut batch = [0u64; 256];
        let mut n = 0;
        loop {
            let p = self.stream.peek();
            if p > self.keep || p * p > top {
                break;
            }
            self.stream.advance();
            if p > MEDIUM_MAX {
                batch[n] = p;
                n += 1;
                if n == batch.len() {
                    set_up_kept_batch(&batch, self.pos, &mut self.big);
                    n = 0;
                }
                continue;
            }
            let (byte, class) = first_multiple(p, low.max(p * p));
            self.medium.push(Wheeled::new(p, byte - self.pos, class));
        }
        set_up_kept_batch(&batch[..n], self.pos, &mut self.big);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default budgets for one and two threads keep `KEEP_LIMIT`; a share that
    /// holds the table near 2^64 but not those kept primes beside it keeps fewer, so
    /// that it still sieves there; a Pi Zero's keeps fewest.
    #[test]
    fn kept_limit_follows_the_budget() {
        let keep = |mib, threads| Sieve::with_memory(Memory::mib(mib, threads)).keep;
        assert_eq!(keep(480, 1), KEEP_LIMIT);
        assert_eq!(keep(480, 2), KEEP_LIMIT);
        assert_eq!(keep(300, 2), MID_KEEP_LIMIT.min(KEEP_LIMIT));
        assert_eq!(keep(200, 1), MID_KEEP_LIMIT.min(KEEP_LIMIT));
        assert_eq!(keep(64, 1), SMALL_KEEP_LIMIT.min(KEEP_LIMIT));
        for (mib, threads) in [(480, 1), (480, 2), (300, 2), (200, 1)] {
            let s = Sieve::with_memory(Memory::mib(mib, threads));
            assert!(
                s.fits(u64::MAX),
                "{mib} MiB for {threads} threads near 2^64"
            );
        }
    }
}
