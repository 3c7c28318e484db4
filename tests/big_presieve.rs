//! `Presieve` against independent references: naive trial division where it is
//! affordable (below 2^36), BPSW per number above that (an independent test below
//! 3.317e24, where the pre-sieve uses Miller–Rabin; above it the reference checks the
//! sieving, segmenting and edge handling, with `u128math`'s own tests covering BPSW),
//! and known prime counts.

use primecluster::kernel::big::{Presieve, SEGMENT_ODDS};
use primecluster::u128math::bpsw;

mod reference;
use reference::{is_prime_naive, Rng};

fn reference(start: u128, stop: u128) -> Vec<u128> {
    if start > stop {
        return Vec::new();
    }
    let test = if stop < 1 << 36 { is_prime_naive } else { bpsw };
    let mut v = Vec::new();
    let mut n = start;
    loop {
        if test(n) {
            v.push(n);
        }
        if n == stop {
            break;
        }
        n += 1;
    }
    v
}

/// Runs both entry points; checks ascending batches, and returns the primes.
fn presieve_u128(ps: &mut Presieve, start: u128, stop: u128) -> Vec<u128> {
    let mut v: Vec<u128> = Vec::new();
    ps.primes_u128(start, stop, &mut |batch| {
        assert!(!batch.is_empty(), "empty batch");
        assert!(v.last().is_none_or(|&l| l < batch[0]));
        v.extend_from_slice(batch);
    });
    v
}

fn presieve_u64(ps: &mut Presieve, start: u64, stop: u64) -> Vec<u128> {
    let mut v: Vec<u128> = Vec::new();
    ps.primes_u64(start, stop, &mut |batch| {
        assert!(!batch.is_empty(), "empty batch");
        v.extend(batch.iter().map(|&p| p as u128));
    });
    assert_eq!(ps.count_u64(start, stop), v.len() as u64);
    v
}

fn check(ps: &mut Presieve, start: u128, stop: u128) {
    let want = reference(start, stop);
    assert_eq!(
        presieve_u128(ps, start, stop),
        want,
        "u128 {start}..={stop}"
    );
    if stop <= u64::MAX as u128 {
        assert_eq!(
            presieve_u64(ps, start as u64, stop as u64),
            want,
            "u64 {start}..={stop}"
        );
    }
}

#[test]
fn edges_and_tiny_ranges() {
    let mut ps = Presieve::new();
    for start in 0..40u128 {
        for stop in 0..40u128 {
            check(&mut ps, start, stop);
        }
    }
    check(&mut ps, 5, 3); // empty
    check(&mut ps, u128::MAX, u128::MAX);
    check(&mut ps, u64::MAX as u128, u64::MAX as u128);
    check(&mut ps, u128::MAX - 1, u128::MAX);
}

#[test]
fn random_ranges_at_all_magnitudes() {
    let mut ps = Presieve::new();
    let mut rng = Rng::splitmix(7);
    let two64 = 1u128 << 64;
    let centers: [u128; 9] = [
        0,
        1 << 32,
        1_000_000_000_000,
        1_000_000_000_000_000_000,
        two64 - 5000,
        two64,
        3_317_044_064_679_887_385_961_981,
        1_000_000_000_000_000_000_000_000_000_000,
        u128::MAX - 5000,
    ];
    for &c in &centers {
        for _ in 0..12 {
            let start = c
                .saturating_add((rng.next() % 10_000) as u128)
                .saturating_sub(5000);
            let stop = start.saturating_add((rng.next() % 1500) as u128);
            check(&mut ps, start, stop);
        }
    }
    // Straddling 2^64 and ending at u128::MAX.
    check(&mut ps, two64 - 700, two64 + 700);
    check(&mut ps, u128::MAX - 2000, u128::MAX);
}

#[test]
fn ranges_over_several_segments() {
    let mut ps = Presieve::new();
    let span = 2 * SEGMENT_ODDS as u128 + 12_345;
    for &start in &[1_000_000_000_000u128, (1 << 64) - span / 2] {
        check(&mut ps, start, start + span);
    }
}

#[test]
fn known_prime_counts() {
    let mut ps = Presieve::new();
    // pi(10^9) = 50847534 (the sieve alone decides here: the limit reaches sqrt(stop)).
    assert_eq!(ps.count_u64(0, 1_000_000_000), 50_847_534);
    assert_eq!(ps.count_u64(0, 1_000_000), 78_498);
    assert_eq!(ps.count_u64(1_000_000, 1_000_000), 0);
}

#[test]
fn small_sieve_limits_send_survivors_to_miller_rabin() {
    // With sieving primes only up to 64, most survivors go through Miller–Rabin (the
    // default limits make ranges below 2^40 a complete sieve): check that path against
    // naive trial division, and against BPSW above 2^64.
    let mut ps = Presieve::with_limits(64, 64);
    for &(start, len) in &[(0u128, 20_000u128), (1 << 36, 3000), (1 << 40, 600)] {
        let want: Vec<u128> = (start..=start + len)
            .filter(|&n| is_prime_naive(n))
            .collect();
        assert_eq!(presieve_u128(&mut ps, start, start + len), want);
        assert_eq!(
            presieve_u64(&mut ps, start as u64, (start + len) as u64),
            want
        );
    }
    let start = (1u128 << 64) - 1000;
    let want: Vec<u128> = (start..=start + 2000).filter(|&n| bpsw(n)).collect();
    assert_eq!(presieve_u128(&mut ps, start, start + 2000), want);
}

#[test]
fn full_table_sieve_agrees_with_miller_rabin() {
    // Near 2^40 the default limits sieve with every prime up to 2^20 and need no test;
    // sieving with primes below 2^10 only leaves the decisions to Miller–Rabin. A prime
    // missing from the big table would show here as a composite reported prime.
    let (start, stop) = (1u64 << 40, (1u64 << 40) + 3 * (1 << 20));
    let full = Presieve::new().count_u64(start, stop);
    let mr = Presieve::with_limits(1 << 10, 1 << 10).count_u64(start, stop);
    assert_eq!(full, mr);
}
