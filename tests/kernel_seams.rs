//! Seam tests: every kernel (the sieve, pre-sieve + Miller–Rabin, trial division and
//! the `Kernel` dispatcher) called on random sequences of consecutive and jumping
//! ranges, as a worker thread calls its kernel on chunk after chunk. Boundaries are put
//! just below (and at) prime squares p^2, where a byte or segment shared by two calls
//! must have been sieved by p; heights run from 0 to 2^64 and past it; several kernel
//! instances run at once on threads.
//!
//! The reference is written here and shares nothing with the kernels: deterministic
//! Miller–Rabin with plain u128 (and shift-and-add past 2^64) arithmetic, behind trial
//! division by the primes below 100, and the naive trial division of `tests/reference`
//! for small numbers.
//!
//! Each test draws a fixed number of cases from a fixed seed (a failure replays), sized
//! to run in a few seconds in the test profile.

use primecluster::kernel::big::Presieve;
use primecluster::kernel::sieve::Sieve;
use primecluster::kernel::trial::{Trial, TrialImpl};
use primecluster::kernel::{Kernel, KernelKind};

mod reference;
use reference::{is_prime_naive, Rng};

const TWO64: u128 = 1 << 64;

/// (a * b) mod m for any u128 operands below m: shift and add, never overflowing.
fn mul_mod_u128(a: u128, b: u128, m: u128) -> u128 {
    if m <= TWO64 {
        return a * b % m;
    }
    let (mut a, mut b, mut r) = (a % m, b % m, 0u128);
    while b > 0 {
        if b & 1 == 1 {
            r = if r >= m - a { r - (m - a) } else { r + a };
        }
        a = if a >= m - a { a - (m - a) } else { a + a };
        b >>= 1;
    }
    r
}

fn pow_mod(mut b: u128, mut e: u128, m: u128) -> u128 {
    let mut r = 1 % m;
    b %= m;
    while e > 0 {
        if e & 1 == 1 {
            r = mul_mod_u128(r, b, m);
        }
        b = mul_mod_u128(b, b, m);
        e >>= 1;
    }
    r
}

/// Is `n` prime? Trial division by the primes below 100, then Miller–Rabin with the
/// first 13 primes as bases (deterministic below 3.3e24, far past what we test).
fn is_prime(n: u128) -> bool {
    if n < 1 << 20 {
        return is_prime_naive(n);
    }
    const SMALL: [u128; 25] = [
        2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97,
    ];
    if SMALL.iter().any(|&p| n % p == 0) {
        return false;
    }
    let (mut d, mut s) = (n - 1, 0);
    while d % 2 == 0 {
        d /= 2;
        s += 1;
    }
    'bases: for &a in &SMALL[..13] {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod_u128(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

/// The reference primes in `start..=stop` (short ranges only).
fn reference_primes(start: u128, stop: u128) -> Vec<u128> {
    if start > stop {
        return Vec::new();
    }
    (start..=stop).filter(|&n| is_prime(n)).collect()
}

/// The smallest prime >= n (n small enough that one exists below 2^128 nearby).
fn next_prime(mut n: u128) -> u128 {
    while !is_prime(n) {
        n += 1;
    }
    n
}

/// The largest prime <= n (n >= 2).
fn prev_prime(mut n: u128) -> u128 {
    while !is_prime(n) {
        n -= 1;
    }
    n
}

/// A kernel under test: primes and count of an inclusive range.
trait UnderTest {
    fn primes(&mut self, start: u128, stop: u128) -> Vec<u128>;
    fn count(&mut self, start: u128, stop: u128) -> u64;
    fn name(&self) -> &'static str;
}

struct SieveUnderTest(Sieve);
struct PresieveUnderTest(Presieve);
struct TrialUnderTest(Trial);
struct KernelUnderTest(Kernel);

/// Collects batches, checking each is non-empty and rises past the previous one.
fn collect<T: Copy + Into<u128>>(v: &mut Vec<u128>, batch: &[T]) {
    assert!(!batch.is_empty(), "empty batch");
    for &p in batch {
        let p = p.into();
        if let Some(&last) = v.last() {
            assert!(p > last, "batches out of order: {p} after {last}");
        }
        v.push(p);
    }
}

impl UnderTest for SieveUnderTest {
    fn primes(&mut self, start: u128, stop: u128) -> Vec<u128> {
        let mut v = Vec::new();
        self.0
            .primes(start as u64, stop as u64, &mut |b| collect(&mut v, b));
        v
    }
    fn count(&mut self, start: u128, stop: u128) -> u64 {
        self.0.count(start as u64, stop as u64)
    }
    fn name(&self) -> &'static str {
        "sieve"
    }
}

impl UnderTest for PresieveUnderTest {
    fn primes(&mut self, start: u128, stop: u128) -> Vec<u128> {
        let mut v = Vec::new();
        if stop <= u64::MAX as u128 {
            self.0
                .primes_u64(start as u64, stop as u64, &mut |b| collect(&mut v, b));
        } else {
            self.0.primes_u128(start, stop, &mut |b| collect(&mut v, b));
        }
        v
    }
    fn count(&mut self, start: u128, stop: u128) -> u64 {
        if stop <= u64::MAX as u128 {
            self.0.count_u64(start as u64, stop as u64)
        } else {
            self.primes(start, stop).len() as u64
        }
    }
    fn name(&self) -> &'static str {
        "presieve"
    }
}

impl UnderTest for TrialUnderTest {
    fn primes(&mut self, start: u128, stop: u128) -> Vec<u128> {
        let mut v = Vec::new();
        if stop <= u64::MAX as u128 {
            self.0
                .primes_u64(start as u64, stop as u64, &mut |b| collect(&mut v, b));
        } else {
            self.0.primes_u128(start, stop, &mut |b| collect(&mut v, b));
        }
        v
    }
    fn count(&mut self, start: u128, stop: u128) -> u64 {
        self.primes(start, stop).len() as u64
    }
    fn name(&self) -> &'static str {
        "trial"
    }
}

impl UnderTest for KernelUnderTest {
    fn primes(&mut self, start: u128, stop: u128) -> Vec<u128> {
        let mut v = Vec::new();
        self.0.primes(start, stop, &mut v);
        v
    }
    fn count(&mut self, start: u128, stop: u128) -> u64 {
        self.0.count(start, stop)
    }
    fn name(&self) -> &'static str {
        "kernel"
    }
}

/// How a sequence of calls is drawn.
#[derive(Clone, Copy)]
struct Plan {
    seed: u64,
    /// Seams per sequence: each is a prime square with calls meeting just below it.
    seams: usize,
    /// Largest prime whose square is a seam (at least 2).
    max_p: u128,
    /// Largest numbers a call may cover.
    max_len: u64,
    /// Chance in percent that the next seam is anywhere below the last one (a jump
    /// backwards) rather than above it.
    back_percent: u64,
}

/// Runs one sequence: seams at p^2 for random primes p <= `max_p`, each approached by
/// a few consecutive calls whose boundaries fall just below p^2, with jumps between
/// seams (mostly forwards). Every call's primes and count are checked. Returns the
/// number of calls made.
fn run_sequence(k: &mut dyn UnderTest, plan: Plan) -> usize {
    let mut rng = Rng::splitmix(plan.seed);
    let mut calls = 0;
    let mut ps: Vec<u128> = (0..plan.seams)
        .map(|_| {
            // Spread p over every scale: a random bit length, then a random value.
            let bits = 128 - plan.max_p.leading_zeros();
            let b = 2 + rng.below(u64::from(bits - 1)) as u32;
            let top = plan.max_p.min((1u128 << b) - 1);
            let lo = (top / 2).max(2);
            let p = next_prime(lo + (rng.u128() % (top - lo + 1)));
            if p > plan.max_p {
                prev_prime(plan.max_p)
            } else {
                p
            }
        })
        .collect();
    // Mostly in rising order (the worker's case), with some jumps backwards.
    ps.sort_unstable();
    for i in 1..ps.len() {
        if rng.chance(plan.back_percent) {
            let j = rng.index(i);
            ps.swap(i, j);
        }
    }
    for &p in &ps {
        let square = p * p;
        // The first call ends 0..=59 below p^2 (often in p^2's own 30-number byte);
        // further calls go on from there, each 1..=max_len numbers long.
        let below = u128::from(rng.below(60));
        let len0 = u128::from(1 + rng.below(plan.max_len));
        let stop0 = square.saturating_sub(below).max(1);
        let mut start = stop0.saturating_sub(len0 - 1);
        let mut stop = stop0;
        for _ in 0..1 + rng.below(4) {
            check_call(k, start, stop, p);
            calls += 1;
            start = stop + 1;
            let len = u128::from(1 + rng.below(plan.max_len));
            stop = start + len - 1;
        }
    }
    calls
}

fn check_call(k: &mut dyn UnderTest, start: u128, stop: u128, p: u128) {
    let want = reference_primes(start, stop);
    // Count first on every other call, so both orders of primes/count happen.
    if start % 2 == 0 {
        let got = k.count(start, stop);
        assert_eq!(
            got,
            want.len() as u64,
            "{}: count in {start}..={stop} (seam {p}^2)",
            k.name()
        );
    }
    let got = k.primes(start, stop);
    if got != want {
        let extra: Vec<_> = got.iter().filter(|n| !want.contains(n)).take(5).collect();
        let missing: Vec<_> = want.iter().filter(|n| !got.contains(n)).take(5).collect();
        panic!(
            "{}: primes in {start}..={stop} (seam {p}^2): extra {extra:?}, missing {missing:?}",
            k.name()
        );
    }
    if start % 2 == 1 {
        assert_eq!(
            k.count(start, stop),
            want.len() as u64,
            "{}: count in {start}..={stop} after primes (seam {p}^2)",
            k.name()
        );
    }
}

/// Runs `plans` on `threads` threads at once, each with its own kernel from `make`.
fn on_threads(
    threads: usize,
    plans: &[Plan],
    make: impl Fn() -> Box<dyn UnderTest + Send> + Sync,
) -> usize {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let make = &make;
                scope.spawn(move || {
                    let mut k = make();
                    plans
                        .iter()
                        .map(|plan| {
                            let plan = Plan {
                                seed: plan.seed ^ (t as u64).wrapping_mul(0x9e37_79b9),
                                ..*plan
                            };
                            run_sequence(k.as_mut(), plan)
                        })
                        .sum::<usize>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

/// The largest p whose square the sieve takes at the default budget.
fn sieve_max_p() -> u128 {
    let sieve = Sieve::new();
    let mut p: u128 = 1 << 32;
    while !sieve.fits((p * p - 1).min(u64::MAX as u128) as u64) {
        p /= 2;
    }
    p
}

#[test]
fn seam_regression_4099_squared() {
    // The defect as reported: `primes 24585 16801900` printed 4099^2 = 16801801, as
    // `primes` cut its range into slices meeting inside that byte.
    for (name, mut k) in kernels_for(1 << 20) {
        // 16801800 is in the same 30-number byte as 16801801 (byte 560060).
        let stop0 = 16_801_800;
        assert!(
            !k.primes(16_801_700, stop0).contains(&16_801_801),
            "{name}: first call"
        );
        let got = k.primes(stop0 + 1, 16_801_900);
        assert_eq!(got, reference_primes(stop0 + 1, 16_801_900), "{name}");
        let n = k.count(16_801_901, 16_801_999);
        assert_eq!(n, reference_primes(16_801_901, 16_801_999).len() as u64);
    }
}

/// One instance of every kernel that takes numbers up to `max`.
fn kernels_for(max: u128) -> Vec<(&'static str, Box<dyn UnderTest>)> {
    let mut v: Vec<(&'static str, Box<dyn UnderTest>)> = vec![
        ("presieve", Box::new(PresieveUnderTest(Presieve::new()))),
        (
            "kernel",
            Box::new(KernelUnderTest(Kernel::new(KernelKind::Auto))),
        ),
        (
            "trial-rust",
            Box::new(TrialUnderTest(Trial::new(TrialImpl::Rust))),
        ),
        (
            "trial-preferred",
            Box::new(TrialUnderTest(Trial::new(TrialImpl::preferred()))),
        ),
    ];
    if max <= u64::MAX as u128 && Sieve::new().fits(max as u64) {
        v.push(("sieve", Box::new(SieveUnderTest(Sieve::new()))));
    }
    v
}

#[test]
fn sieve_seams_one_thread() {
    // At the default budget the sieve takes every stop below 2^64.
    assert_eq!(sieve_max_p(), 1 << 32);
    let mut calls = 0;
    // Up to 2^28: past KEEP_LIMIT, so windows of large primes open in most calls.
    for (i, max_p) in [1 << 8, 1 << 12, 1 << 16, 1 << 20, 1 << 26, 1 << 28]
        .into_iter()
        .enumerate()
    {
        let plan = Plan {
            seed: 1 + i as u64,
            seams: if max_p > 1 << 26 { 8 } else { 24 },
            max_p,
            max_len: 3000,
            back_percent: 10,
        };
        calls += run_sequence(&mut SieveUnderTest(Sieve::new()), plan);
    }
    assert!(calls > 100);
}

#[test]
fn sieve_seams_threads() {
    let plans = [
        Plan {
            seed: 11,
            seams: 30,
            max_p: 1 << 14,
            max_len: 2000,
            back_percent: 20,
        },
        Plan {
            seed: 12,
            seams: 6,
            max_p: 1 << 27,
            max_len: 2000,
            back_percent: 0,
        },
    ];
    let calls = on_threads(3, &plans, || Box::new(SieveUnderTest(Sieve::new())));
    assert!(calls > 100);
}

#[test]
fn presieve_seams_to_2_64_and_past() {
    let mut calls = 0;
    for (i, max_p) in [1u128 << 10, 1 << 20, 1 << 32, 1 << 40]
        .into_iter()
        .enumerate()
    {
        let plan = Plan {
            seed: 21 + i as u64,
            seams: 12,
            max_p,
            max_len: 600,
            back_percent: 25,
        };
        calls += run_sequence(&mut PresieveUnderTest(Presieve::new()), plan);
    }
    assert!(calls > 50);
}

#[test]
fn kernel_auto_seams_threads_every_height() {
    let plans = [
        Plan {
            seed: 31,
            seams: 12,
            max_p: 1 << 16,
            max_len: 1500,
            back_percent: 20,
        },
        Plan {
            seed: 32,
            seams: 6,
            max_p: 1 << 32,
            max_len: 500,
            back_percent: 0,
        },
        Plan {
            seed: 33,
            seams: 3,
            max_p: 1 << 36,
            max_len: 200,
            back_percent: 0,
        },
    ];
    let calls = on_threads(2, &plans, || {
        Box::new(KernelUnderTest(Kernel::new(KernelKind::Auto)))
    });
    assert!(calls > 40);
}

#[test]
fn trial_seams() {
    // Trial division near p^2 costs pi(p) divisions per number: keep p below 2^20.
    let mut calls = 0;
    for (i, imp) in [TrialImpl::Rust, TrialImpl::preferred()]
        .into_iter()
        .enumerate()
    {
        let plan = Plan {
            seed: 41 + i as u64,
            seams: 20,
            max_p: 1 << 20,
            max_len: 1000,
            back_percent: 30,
        };
        calls += run_sequence(&mut TrialUnderTest(Trial::new(imp)), plan);
    }
    assert!(calls > 40);
}

#[test]
fn seams_at_the_top_of_2_64() {
    // Calls meeting in the last bytes below 2^64 and across it.
    let top = u64::MAX as u128;
    for (name, mut k) in kernels_for(top) {
        if name.starts_with("trial") || name == "sieve" {
            // Trial: ~2*10^8 divisions per prime up there. The sieve sets up all 2*10^8
            // sieving primes per call there: see heavy_sieve_seams_near_2_64.
            continue;
        }
        let mut start = top - 300;
        for len in [17u128, 1, 29, 30, 31, 59, 100, 7, 40] {
            let stop = start + len - 1;
            assert_eq!(
                k.primes(start, stop),
                reference_primes(start, stop),
                "{name}: {start}..={stop}"
            );
            start = stop + 1;
        }
        if name != "sieve" {
            let got = k.primes(start, top + 200);
            assert_eq!(got, reference_primes(start, top + 200), "{name}: past 2^64");
        }
    }
}

/// The sieve itself near 2^64, where each call sets up every sieving prime below 2^32
/// (about a second each in the test profile): few calls. Heavy: skip under emulation.
#[test]
fn heavy_sieve_seams_near_2_64() {
    let top = u64::MAX as u128;
    let mut k = SieveUnderTest(Sieve::new());
    let mut start = top - 200;
    for len in [59u128, 31, 111] {
        let stop = start + len - 1;
        assert_eq!(
            k.primes(start, stop),
            reference_primes(start, stop),
            "{start}..={stop}"
        );
        start = stop + 1;
    }
    let plan = Plan {
        seed: 51,
        seams: 2,
        max_p: 1 << 32,
        max_len: 1000,
        back_percent: 0,
    };
    assert!(run_sequence(&mut k, plan) >= 2);
}

/// Windows of one segment each, so that calls cross many window boundaries: the
/// numbers near every segment boundary are checked against the reference and the
/// total against the pre-sieve kernel, for consecutive calls meeting inside bytes.
#[test]
fn sieve_window_boundaries() {
    use primecluster::kernel::sieve::KEEP_LIMIT;
    let seg = 30 * segment_bytes() as u128;
    // Sieving primes up to ~1.5 KEEP_LIMIT: windows have large primes to set up.
    let base = u128::from(KEEP_LIMIT * 3 / 2).pow(2) / seg * seg;
    let mut sieve = Sieve::new().with_window_cap(1);
    let mut pre = Presieve::new();
    let mut rng = Rng::splitmix(61);
    let mut start = base - 1000;
    for _ in 0..3 {
        let stop = start + seg + u128::from(rng.below(1000));
        let mut got = Vec::new();
        sieve.primes(start as u64, stop as u64, &mut |b| got.extend_from_slice(b));
        let want = pre.count_u64(start as u64, stop as u64);
        assert_eq!(got.len() as u64, want, "count {start}..={stop}");
        // Every segment boundary inside the call, checked number by number.
        let mut b = start.div_ceil(seg) * seg;
        while b <= stop {
            let (lo, hi) = (b.saturating_sub(600).max(start), (b + 600).min(stop));
            let near: Vec<u128> = got
                .iter()
                .map(|&p| u128::from(p))
                .filter(|p| (lo..=hi).contains(p))
                .collect();
            assert_eq!(near, reference_primes(lo, hi), "near {b}");
            b += seg;
        }
        start = stop + 1;
    }
}

/// The sieve's segment in bytes.
fn segment_bytes() -> u64 {
    primecluster::kernel::sieve::SEGMENT_BYTES as u64
}

/// Windows carried over consecutive calls: many short calls in a row, across the
/// squares of sieving primes just above the kept limit, so the open window must take
/// in each new prime as a call's stop passes its square (else p^2 and p*q come out as
/// primes), and across window ends (windows capped at 2 segments).
#[test]
fn sieve_window_carried_over_consecutive_calls() {
    use primecluster::kernel::sieve::KEEP_LIMIT;
    let mut sieve = Sieve::new().with_window_cap(2);
    // Twin primes above the kept limit: their squares are 4p apart (5e8 numbers at
    // 2^27; a wider gap would make the run as many times longer).
    let mut p = next_prime(u128::from(KEEP_LIMIT) + 5000);
    let mut q = next_prime(p + 1);
    while q - p != 2 {
        (p, q) = (q, next_prime(q + 1));
    }
    let mut rng = Rng::splitmix(71);
    let mut start = p * p - 3000;
    let end = q * q + 3000;
    let mut calls = 0;
    while start <= end {
        // Mostly short calls (inside one byte up to a few thousand numbers), some that
        // cross a segment so the window ends and reopens within the run.
        let len = match rng.below(10) {
            0 => 30 * segment_bytes() as u128 + u128::from(rng.below(100_000)),
            _ => 1 + u128::from(rng.below(3000)),
        };
        let stop = start + len - 1;
        let mut got = Vec::new();
        sieve.primes(start as u64, stop as u64, &mut |b| got.extend_from_slice(b));
        if len < 10_000 {
            let got: Vec<u128> = got.iter().map(|&x| u128::from(x)).collect();
            assert_eq!(got, reference_primes(start, stop), "{start}..={stop}");
        } else {
            // A fresh sieve sets up its own window for the call alone.
            let want = Sieve::new().count(start as u64, stop as u64);
            assert_eq!(got.len() as u64, want, "count {start}..={stop}");
        }
        calls += 1;
        start = stop + 1;
    }
    assert!(calls > 50, "{calls} calls");
}

/// Short forward jumps, as a worker thread makes when it skips its neighbour's chunk:
/// the open window's primes and the kept bucketed primes are moved across the gap
/// instead of set up again. Each call is checked against a fresh sieve (its own
/// window, its own set-up) and, near its ends, against the reference; heights just
/// past the kept limit's square and near 1e17, windows capped at 8 segments.
#[test]
fn sieve_short_forward_jumps_keep_the_window() {
    use primecluster::kernel::sieve::KEEP_LIMIT;
    let seg = 30 * segment_bytes() as u128;
    let mut rng = Rng::splitmix(83);
    for base in [
        u128::from(KEEP_LIMIT * 3 / 2).pow(2),
        100_000_000_000_000_000,
    ] {
        let mut sieve = Sieve::new().with_window_cap(8);
        let mut start = base + u128::from(rng.below(1000));
        for _ in 0..12 {
            let len = 1 + u128::from(rng.below(2 * seg as u64));
            let stop = start + len - 1;
            let mut got = Vec::new();
            sieve.primes(start as u64, stop as u64, &mut |b| got.extend_from_slice(b));
            let want = Sieve::new().count(start as u64, stop as u64);
            assert_eq!(got.len() as u64, want, "count {start}..={stop}");
            let edge = |lo: u128, hi: u128| {
                let near: Vec<u128> = got
                    .iter()
                    .map(|&p| u128::from(p))
                    .filter(|p| (lo..=hi).contains(p))
                    .collect();
                assert_eq!(near, reference_primes(lo, hi), "{lo}..={hi}");
            };
            edge(start, (start + 2000).min(stop));
            edge(stop.saturating_sub(2000).max(start), stop);
            // The next call: adjacent, inside the same byte, or a gap of up to 3
            // segments (another thread's chunk).
            start = match rng.below(4) {
                0 => stop + 1,
                1 => stop,
                _ => stop + 1 + u128::from(rng.below(3 * seg as u64)),
            };
        }
    }
}

/// Long forward jumps inside the open window, as a thread of a worker among many makes
/// (its next chunk lies several chunks on): the window is kept and moved over the
/// gap while the kept primes find their next multiples by division (a skip past
/// `SHORT_SKIP_SEGMENTS`). Windows carry 32 segments; the calls (a fifth of a segment
/// to one segment, gaps of 4 to 12 segments) open one window per 32 segments of the
/// line, not one per call. Each call is checked against a fresh sieve and, near its
/// ends, against the reference.
#[test]
fn sieve_long_forward_jumps_keep_the_window() {
    use primecluster::kernel::sieve::KEEP_LIMIT;
    let seg = 30 * segment_bytes() as u128;
    let mut rng = Rng::splitmix(89);
    for base in [
        u128::from(KEEP_LIMIT * 3 / 2).pow(2),
        100_000_000_000_000_000,
    ] {
        let mut sieve = Sieve::new().with_window_cap(32);
        let first = base + u128::from(rng.below(1000));
        let mut start = first;
        let mut calls = 0;
        for _ in 0..10 {
            let len = seg / 5 + u128::from(rng.below((seg * 4 / 5) as u64));
            let stop = start + len - 1;
            let mut got = Vec::new();
            sieve.primes(start as u64, stop as u64, &mut |b| got.extend_from_slice(b));
            let want = Sieve::new().count(start as u64, stop as u64);
            assert_eq!(got.len() as u64, want, "count {start}..={stop}");
            let edge = |lo: u128, hi: u128| {
                let near: Vec<u128> = got
                    .iter()
                    .map(|&p| u128::from(p))
                    .filter(|p| (lo..=hi).contains(p))
                    .collect();
                assert_eq!(near, reference_primes(lo, hi), "{lo}..={hi}");
            };
            edge(start, (start + 2000).min(stop));
            edge(stop.saturating_sub(2000).max(start), stop);
            calls += 1;
            start = stop + 1 + 4 * seg + u128::from(rng.below(8 * seg as u64));
        }
        // The first call is alone: its window ends with it. From the second call on, a
        // window carries 32 segments; the line covered is at most 10 * 13 segments.
        let span = (start - first) / seg + 1;
        let most = 2 + 2 * (span / 32 + 1) as u64;
        let opened = sieve.windows_opened();
        assert!(
            opened <= most,
            "{opened} windows for {calls} calls over {span} segments (at most {most})"
        );
    }
}

/// A run of consecutive calls that starts inside a segment (a worker thread's chunks
/// start anywhere): the window opened by its second call carries 32 whole segments
/// past that call's start, so a run of up to 32 segments after the first call opens
/// two windows (the lone first call's and the carried one). Carried from the start of
/// the segment instead, the run's last sliver set up a third window in full (at 1e16,
/// 0.1 s on a 0.5 s run). Every call's count is checked against a fresh sieve and the
/// run's ends against the reference.
#[test]
fn sieve_run_from_inside_a_segment_keeps_one_carried_window() {
    use primecluster::kernel::sieve::KEEP_LIMIT;
    let seg = 30 * segment_bytes() as u128;
    let base = u128::from(KEEP_LIMIT * 3 / 2).pow(2) / seg * seg;
    // The second call starts 0.9 segments into a segment; calls of 1.23 segments (the
    // width of 2^20 primes at 1e16) until 32 segments past it.
    let first = base + seg / 2;
    let len = seg * 123 / 100;
    let second = first + seg * 2 / 5;
    let end = second + 32 * seg - 1;
    let mut sieve = Sieve::new();
    let mut start = first;
    let mut calls = 0;
    while start <= end {
        let stop = if start == first {
            second - 1
        } else {
            (start + len - 1).min(end)
        };
        let got = sieve.count(start as u64, stop as u64);
        let want = Sieve::new().count(start as u64, stop as u64);
        assert_eq!(got, want, "count {start}..={stop}");
        calls += 1;
        start = stop + 1;
    }
    let mut got = Vec::new();
    Sieve::new().primes((end - 3000) as u64, end as u64, &mut |b| {
        got.extend(b.iter().map(|&p| u128::from(p)))
    });
    assert_eq!(got, reference_primes(end - 3000, end));
    assert_eq!(sieve.windows_opened(), 2, "windows for {calls} calls");
}
