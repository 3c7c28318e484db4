//! Trial division: the C kernel and the Rust twin against each other and against a
//! naive reference (trial division by every candidate d with d*d <= n), on random ranges of u64 and small u128
//! cases. Under `--features pure-rust` the C is not built and `TrialImpl::C` falls
//! back to Rust; the comparisons with the naive reference still run.

use primecluster::kernel::trial::{Trial, TrialImpl, BATCH};

mod reference;
use reference::{is_prime_naive, Rng};

fn naive(start: u128, stop: u128) -> Vec<u128> {
    if start > stop {
        return Vec::new();
    }
    let mut v = Vec::new();
    let mut n = start;
    loop {
        if is_prime_naive(n) {
            v.push(n);
        }
        if n == stop {
            break;
        }
        n += 1;
    }
    v
}

fn run_u64(t: &mut Trial, start: u64, stop: u64) -> Vec<u128> {
    let mut v: Vec<u128> = Vec::new();
    t.primes_u64(start, stop, &mut |b| {
        assert!(!b.is_empty() && b.len() <= BATCH);
        v.extend(b.iter().map(|&p| p as u128));
    });
    assert_eq!(t.count_u64(start, stop), v.len() as u64);
    v
}

fn run_u128(t: &mut Trial, start: u128, stop: u128) -> Vec<u128> {
    let mut v: Vec<u128> = Vec::new();
    t.primes_u128(start, stop, &mut |b| {
        assert!(!b.is_empty() && b.len() <= BATCH);
        v.extend_from_slice(b);
    });
    v
}

/// The shared helper: both implementations, both entry points, one answer.
fn check(c: &mut Trial, rust: &mut Trial, start: u128, stop: u128, want: &[u128]) {
    let got_c = run_u128(c, start, stop);
    let got_rust = run_u128(rust, start, stop);
    assert_eq!(got_c, got_rust, "C vs Rust, u128 {start}..={stop}");
    assert_eq!(got_rust, want, "Rust vs reference, u128 {start}..={stop}");
    if stop <= u64::MAX as u128 {
        let (a, b) = (start as u64, stop as u64);
        assert_eq!(run_u64(c, a, b), want, "C, u64 {start}..={stop}");
        assert_eq!(run_u64(rust, a, b), want, "Rust, u64 {start}..={stop}");
    }
}

fn pair() -> (Trial, Trial) {
    (Trial::new(TrialImpl::C), Trial::new(TrialImpl::Rust))
}

#[test]
fn implementation_choice() {
    let (c, rust) = pair();
    assert_eq!(rust.imp(), TrialImpl::Rust);
    assert_eq!(c.imp() == TrialImpl::C, TrialImpl::c_available());
    assert_eq!(
        TrialImpl::preferred() == TrialImpl::C,
        TrialImpl::c_available()
    );
    if cfg!(feature = "pure-rust") {
        assert!(!TrialImpl::c_available());
    }
    println!(
        "C kernel: {}, with u128: {}",
        TrialImpl::c_available(),
        TrialImpl::c_u128_available()
    );
}

#[test]
fn edges() {
    let (mut c, mut rust) = pair();
    for start in 0..30u128 {
        for stop in 0..30u128 {
            check(&mut c, &mut rust, start, stop, &naive(start, stop));
        }
    }
    // Everything above 2^64 - 59 (the largest prime below 2^64) is composite, with
    // factors small enough for a quick test.
    let top = u64::MAX as u128;
    check(&mut c, &mut rust, top - 57, top, &[]);
}

#[test]
fn random_u64_ranges() {
    let (mut c, mut rust) = pair();
    let mut rng = Rng::splitmix(11);
    for &(magnitude, len) in &[
        (0u64, 20_000u64),
        (1 << 20, 5000),
        (1 << 32, 3000),
        (1_000_000_000_000, 800),
        (1 << 44, 300),
    ] {
        for _ in 0..4 {
            let start = magnitude + rng.next() % (magnitude / 2 + 1000);
            let stop = start + rng.next() % len;
            check(
                &mut c,
                &mut rust,
                start as u128,
                stop as u128,
                &naive(start as u128, stop as u128),
            );
        }
    }
    // Crossing batch boundaries.
    let start = 1_000_000u128;
    let stop = start + 3 * BATCH as u128 + 17;
    check(&mut c, &mut rust, start, stop, &naive(start, stop));
}

#[test]
fn u128_composites() {
    // A prime above 2^64 costs ~10^9 divisions (see the ignored test), so these are
    // composites whose smallest factor comes early: 2^64 + 1 = 274177 * ...,
    // 2^64 + 7 = 2881943 * ..., and 2^64 + 3 (no small factor) is left out.
    let (mut c, mut rust) = pair();
    let two64 = 1u128 << 64;
    check(&mut c, &mut rust, two64, two64 + 2, &[]);
    check(&mut c, &mut rust, two64 + 4, two64 + 12, &[]);
    // 2^128 - 5 = 169909 * ..., the others have factors 2, 3 or 11.
    check(&mut c, &mut rust, u128::MAX - 4, u128::MAX, &[]);
    // The smallest factor lies past the 2^22 table: found on the wheel.
    let n = 4_194_319u128 * 8_796_093_022_237;
    assert!(n > two64);
    check(&mut c, &mut rust, n, n, &[]);
    // And well below 2^64 through the u128 entry point, primes included.
    check(
        &mut c,
        &mut rust,
        1 << 40,
        (1 << 40) + 200,
        &naive(1 << 40, (1 << 40) + 200),
    );
}

#[test]
#[ignore]
fn u128_first_prime_above_2_pow_64() {
    // Slow (seconds): about 10^9 divisions per implementation.
    let (mut c, mut rust) = pair();
    let p = (1u128 << 64) + 13;
    assert_eq!(run_u128(&mut c, p, p), [p]);
    assert_eq!(run_u128(&mut rust, p, p), [p]);
}
