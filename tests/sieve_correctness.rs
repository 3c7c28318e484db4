//! The segmented sieve against independent references: trial division for small
//! numbers (the shared `reference` module), a test-local deterministic Miller–Rabin
//! above, and known values of pi(x).
//! Never against the sieve itself.

use primecluster::kernel::sieve::{Sieve, KEPT_STOP};
use primecluster::kernel::Memory;

/// (10^8 + 1)^2 - 1, about 1e16: where the sieve stopped before it had windows of large
/// primes; the tests keep exercising the heights around it.
const MAX_STOP: u64 = 10_000_000_200_000_000;

mod reference;
use reference::{is_prime_naive, Rng};

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    (u128::from(a) * u128::from(b) % u128::from(m)) as u64
}

fn pow_mod(mut b: u64, mut e: u64, m: u64) -> u64 {
    let mut r = 1 % m;
    b %= m;
    while e > 0 {
        if e & 1 == 1 {
            r = mul_mod(r, b, m);
        }
        b = mul_mod(b, b, m);
        e >>= 1;
    }
    r
}

/// Deterministic Miller–Rabin for all u64 (the first 12 primes as bases suffice).
fn is_prime(n: u64) -> bool {
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for &p in &BASES {
        if n % p == 0 {
            return n == p;
        }
    }
    let (mut d, mut s) = (n - 1, 0);
    while d % 2 == 0 {
        d /= 2;
        s += 1;
    }
    'bases: for &a in &BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

/// Reference primes in start..=stop (short ranges only).
fn reference(start: u64, stop: u64) -> Vec<u64> {
    if start > stop {
        return Vec::new();
    }
    (start..=stop).filter(|&n| is_prime(n)).collect()
}

/// The sieve's primes in start..=stop, checking batches are non-empty and ascending.
fn sieve_primes(s: &mut Sieve, start: u64, stop: u64) -> Vec<u64> {
    let mut v: Vec<u64> = Vec::new();
    s.primes(start, stop, &mut |batch| {
        assert!(!batch.is_empty(), "empty batch");
        if let (Some(&last), Some(&first)) = (v.last(), batch.first()) {
            assert!(first > last, "batches out of order");
        }
        v.extend_from_slice(batch);
    });
    v
}

/// Checks primes and count of one range against the reference, on sieve `s`.
fn check(s: &mut Sieve, start: u64, stop: u64) {
    let want = reference(start, stop);
    let got = sieve_primes(s, start, stop);
    assert_eq!(got, want, "primes in {start}..={stop}");
    assert_eq!(
        s.count(start, stop),
        want.len() as u64,
        "count in {start}..={stop}"
    );
}

#[test]
fn trial_division_and_miller_rabin_agree() {
    for n in 0..20_000 {
        assert_eq!(is_prime(n), is_prime_naive(n.into()), "{n}");
    }
}

#[test]
fn known_pi_of_powers_of_ten() {
    const PI: [u64; 9] = [4, 25, 168, 1229, 9592, 78498, 664579, 5761455, 50847534];
    let mut reused = Sieve::new();
    let mut x = 1u64;
    for &want in &PI {
        x *= 10;
        assert_eq!(Sieve::new().count(0, x), want, "pi({x}) fresh");
        assert_eq!(reused.count(0, x), want, "pi({x}) reused");
        assert_eq!(reused.count(1, x), want, "pi({x}) from 1");
    }
}

#[test]
fn pi_of_ten_to_the_ten() {
    assert_eq!(Sieve::new().count(0, 10_000_000_000), 455_052_511);
}

#[test]
fn every_small_range_near_zero() {
    let mut s = Sieve::new();
    for start in 0..=40 {
        for stop in 0..=200 {
            check(&mut s, start, stop);
        }
    }
    // The same through fresh instances, so no state from earlier calls helps.
    for start in 0..=4 {
        for stop in 0..=40 {
            check(&mut Sieve::new(), start, stop);
        }
    }
}

#[test]
fn empty_and_single_number_ranges() {
    let mut s = Sieve::new();
    for &(a, b) in &[
        (1u64, 0u64),
        (10, 9),
        (u64::MAX, 0),
        (1_000_000, 999_999),
        (7, 6),
    ] {
        assert_eq!(s.count(a, b), 0);
        assert!(sieve_primes(&mut s, a, b).is_empty());
    }
    for n in (0..3000)
        .chain(1_000_000_000_000..1_000_000_000_300)
        .chain(MAX_STOP - 300..=MAX_STOP)
    {
        let want = u64::from(is_prime(n));
        assert_eq!(s.count(n, n), want, "count({n}, {n})");
        assert_eq!(
            sieve_primes(&mut s, n, n).len() as u64,
            want,
            "primes({n}, {n})"
        );
    }
}

#[test]
fn random_ranges_against_reference() {
    let mut rng = Rng::xorshift(0x9e37_79b9_7f4a_7c15);
    let mut reused = Sieve::new();
    // (centre, spread of the start, largest length, tries). Far up, each try sets up
    // millions of sieving primes (twice: the fresh instance and the jump), so fewer.
    let places: [(u64, u64, u64, u32); 6] = [
        (0, 2_000_000, 100_000, 10),
        (1 << 32, 2_000_000, 100_000, 10),
        (1_000_000_000_000, 1 << 40, 50_000, 10),
        (1_000_000_000_000_000, 1 << 50, 20_000, 3),
        (MAX_STOP / 2, 1 << 60, 5_000, 2),
        (MAX_STOP - 50_000, 50_000, 50_000, 2),
    ];
    for &(centre, spread, max_len, tries) in &places {
        for _ in 0..tries {
            let start = (centre + rng.below(spread)).saturating_sub(spread / 2);
            let stop = (start + rng.below(max_len)).min(MAX_STOP);
            check(&mut reused, start, stop);
            check(&mut Sieve::new(), start, stop);
        }
    }
}

#[test]
fn straddling_two_to_the_32() {
    let mut s = Sieve::new();
    let c = 1u64 << 32;
    check(&mut s, c - 100_000, c + 100_000);
    check(&mut s, c - 1, c + 1);
    check(&mut s, c - 5, c - 5);
}

#[test]
fn ranges_near_1e16_and_the_kept_limit() {
    let mut s = Sieve::new();
    check(&mut s, MAX_STOP - 10_000, MAX_STOP);
    check(&mut s, MAX_STOP, MAX_STOP);
    check(&mut s, KEPT_STOP - 5_000, KEPT_STOP + 5_000);
    check(&mut Sieve::new(), KEPT_STOP - 29, KEPT_STOP + 31);
}

#[test]
fn fits_follows_the_budget() {
    let s = Sieve::new();
    assert!(s.fits(0) && s.fits(MAX_STOP) && s.fits(u64::MAX));
    // 8 MiB does not hold the kept primes (58 MB on 64-bit); 64 MiB does up to 1e18
    // (a Pi Zero's budget), but not the 143 MB table near 2^64.
    let small = Sieve::with_memory(Memory::mib(8, 1));
    assert!(!small.fits(u64::MAX));
    let pi = Sieve::with_memory(Memory::mib(64, 1));
    assert!(pi.fits(1_000_000_000_000_000_000));
    assert!(!pi.fits(u64::MAX));
    // Two threads share one table: 512 MiB holds both near 2^64.
    assert!(Sieve::with_memory(Memory::mib(512, 2)).fits(u64::MAX));
    // 200 MiB: the table leaves 66 MB, too little for all the kept primes a larger
    // budget keeps (58 MB) beside a window, so fewer are kept and it still sieves.
    assert!(Sieve::with_memory(Memory::mib(200, 1)).fits(u64::MAX));
    assert!(Sieve::with_memory(Memory::mib(300, 2)).fits(u64::MAX));
}

#[test]
fn consecutive_calls_equal_one_call() {
    let mut rng = Rng::xorshift(12345);
    for &base in &[
        0u64,
        1_000_000_000,
        1_000_000_000_000,
        1_000_000_000_000_000,
    ] {
        let (start, stop) = (base, base + 30_000_000);
        let whole = sieve_primes(&mut Sieve::new(), start, stop);
        assert_eq!(whole.len() as u64, Sieve::new().count(start, stop));
        // Cut at random points (often inside a byte, and across segments); alternate
        // primes and count on the same instance; each piece must match the whole.
        let mut s = Sieve::new();
        let (mut a, mut i) = (start, 0);
        while a <= stop {
            let len = if i % 3 == 0 {
                rng.below(60)
            } else {
                rng.below(4_000_000)
            };
            let b = (a + len).min(stop);
            let lo = whole.partition_point(|&p| p < a);
            let hi = whole.partition_point(|&p| p <= b);
            if i % 2 == 0 {
                assert_eq!(sieve_primes(&mut s, a, b), &whole[lo..hi], "{a}..={b}");
            } else {
                assert_eq!(s.count(a, b), (hi - lo) as u64, "count {a}..={b}");
            }
            a = b + 1;
            i += 1;
        }
    }
}

#[test]
fn consecutive_primes_pieces_equal_whole() {
    let mut rng = Rng::xorshift(777);
    for &base in &[0u64, 4_294_000_000, 999_999_000_000_000] {
        let (start, stop) = (base + 7, base + 20_000_000);
        let whole = sieve_primes(&mut Sieve::new(), start, stop);
        let mut s = Sieve::new();
        let (mut got, mut a) = (Vec::new(), start);
        while a <= stop {
            let b = (a + rng.below(3_000_000)).min(stop);
            got.extend(sieve_primes(&mut s, a, b));
            a = b + 1;
        }
        assert_eq!(got, whole, "pieces from {base}");
        // The ends of the pieces match the reference.
        assert_eq!(&whole[..50], &reference(start, whole[49])[..]);
    }
}

#[test]
fn going_backwards_and_jumping() {
    let mut s = Sieve::new();
    let ranges: [(u64, u64); 8] = [
        (1_000_000_000_000, 1_000_000_200_000),
        (1_000_000_000_000, 1_000_000_200_000),
        (1_000_000_200_001, 1_000_000_400_000),
        (1_000_000_100_000, 1_000_000_100_100),
        (1_000_000, 1_200_000),
        (1_000_000_000_000_000, 1_000_000_000_100_000),
        (0, 100_000),
        (1_000_000_000_000_000 - 100, 1_000_000_000_000_000 + 100),
    ];
    for &(a, b) in &ranges {
        check(&mut s, a, b);
    }
}

#[test]
fn count_equals_number_of_primes_listed() {
    let mut rng = Rng::xorshift(42);
    let mut s = Sieve::new();
    for _ in 0..40 {
        let start = rng.below(1 << 45);
        let stop = start + rng.below(10_000_000);
        let n = s.count(start, stop);
        let mut listed = 0;
        s.primes(start, stop, &mut |b| listed += b.len() as u64);
        assert_eq!(n, listed, "{start}..={stop}");
    }
}

#[test]
fn heavy_largest_prime_below_2_pow_64() {
    // 18446744073709551557 is the largest prime below 2^64. Heavy (sets up every
    // sieving prime below 2^32): skip under emulation.
    let mut s = Sieve::new();
    check(&mut s, 18_446_744_073_709_551_557 - 200, u64::MAX);
    assert_eq!(s.count(u64::MAX - 58, u64::MAX), 1);
}

#[test]
fn memory_stays_within_budget() {
    use primecluster::kernel::sieving_primes::table_bytes;
    // A Pi Zero's budget, 64 MiB, at 1e17: kept primes, windows and the table's share.
    for (memory, start, len) in [
        (
            Memory::mib(64, 1),
            100_000_000_000_000_000u64,
            200_000_000u64,
        ),
        (Memory::mib(48, 1), MAX_STOP - 100_000_000, 100_000_000),
    ] {
        let mut s = Sieve::with_memory(memory);
        let stop = start + len;
        assert!(s.fits(stop));
        s.count(start, stop);
        let mut n = 0;
        s.primes(stop - 40_000_000, stop, &mut |b| n += b.len());
        assert!(n > 1_000_000);
        let table = table_bytes(stop.isqrt());
        let bytes = s.heap_bytes() as u64 + table;
        println!("{memory}: heap {} + table {table} bytes", s.heap_bytes());
        assert!(bytes < memory.total, "{memory}: {bytes} bytes");
    }
}

#[test]
fn forward_skips_like_a_worker_thread() {
    // A thread of a 3-thread worker gets every third chunk: each call jumps forwards
    // over two chunks, keeping its sieving primes.
    let mut rng = Rng::xorshift(2024);
    for &base in &[
        1_000_000_000_000u64,
        1_000_000_000_000_000,
        MAX_STOP - 2_000_000,
    ] {
        let mut s = Sieve::new();
        let chunk = 10_000 + rng.below(5_000);
        let mut a = base;
        for i in 0..12 {
            let b = (a + chunk - 1).min(MAX_STOP);
            if i % 2 == 0 {
                check(&mut s, a, b);
            } else {
                assert_eq!(s.count(a, b), reference(a, b).len() as u64, "{a}..={b}");
            }
            a += 3 * chunk + rng.below(100);
            if a > MAX_STOP {
                break;
            }
        }
    }
}

/// A small budget splits the large primes into two tiers of windows (the largest in
/// longer windows, the rest in shorter ones that open more often). Consecutive calls of
/// every length and short forward jumps, as a worker thread makes them, must give the
/// counts a one-tier sieve gives for the same calls, and the exact primes (against
/// Miller–Rabin) around every call's ends and every segment boundary, where windows of
/// either tier open and close.
#[test]
fn two_tier_windows_on_a_small_budget() {
    let start = 100_000_000_000_000_000u64;
    let seg = 30 * (1u64 << 20);
    let mut small = Sieve::with_memory(Memory::mib(32, 1));
    let (split, segs) = small.window_plan_at(start + 20 * seg).expect("fits");
    assert!(
        split > 1 << 22 && segs[0] < segs[1],
        "two tiers expected: split {split}, segments {segs:?}"
    );
    let mut one = Sieve::new();
    assert_eq!(
        one.window_plan_at(start + 20 * seg).map(|p| p.1[0]),
        Some(1)
    );
    let mut rng = Rng::xorshift(4242);
    let mut a = start + rng.below(1000);
    let mut boundaries = Vec::new();
    while a < start + 12 * seg {
        let len = match rng.below(4) {
            0 => 1 + rng.below(3000),
            1 => 1 + rng.below(seg / 2),
            _ => 1 + rng.below(2 * seg),
        };
        let b = a + len - 1;
        let got = sieve_primes(&mut small, a, b);
        assert_eq!(got.len() as u64, one.count(a, b), "count {a}..={b}");
        let near = |lo: u64, hi: u64| {
            let mine: Vec<u64> = got
                .iter()
                .copied()
                .filter(|p| (lo..=hi).contains(p))
                .collect();
            assert_eq!(mine, reference(lo, hi), "{lo}..={hi} in call {a}..={b}");
        };
        near(a, (a + 1500).min(b));
        near(b.saturating_sub(1500).max(a), b);
        let mut s = a.div_ceil(seg) * seg;
        while s <= b {
            near(s.saturating_sub(600).max(a), (s + 600).min(b));
            boundaries.push(s);
            s += seg;
        }
        // Next: adjacent, in the same byte, or a short jump (another thread's chunk).
        a = match rng.below(4) {
            0 => b,
            1 => b + 1 + rng.below(seg),
            _ => b + 1,
        };
    }
    assert!(boundaries.len() >= 8, "{boundaries:?}");
}
