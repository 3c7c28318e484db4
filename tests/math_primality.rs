//! Tests of `primecluster::u128math` against independent references: naive trial
//! division, naive modular arithmetic, and known answers from public mathematics
//! (strong pseudoprimes, Carmichael numbers, Mersenne numbers, primes next to 2^64 and
//! 2^128).

use primecluster::u128math::{
    bpsw, is_prime, is_prime_u64, isqrt, mulmod_u128, mulmod_u64, powmod_u128, powmod_u64,
    MR13_BOUND,
};

mod reference;
use reference::{is_prime_naive, Rng};

#[test]
fn all_below_100000_match_trial_division() {
    for n in 0..100_000u64 {
        let want = is_prime_naive(n as u128);
        assert_eq!(is_prime_u64(n), want, "{n}");
        assert_eq!(is_prime(n as u128), want, "{n}");
        assert_eq!(bpsw(n as u128), want, "{n}");
    }
}

#[test]
fn random_below_2_pow_40_match_trial_division() {
    let mut rng = Rng::splitmix(1);
    for _ in 0..1500 {
        let n = rng.below(1 << 40) | 1;
        assert_eq!(is_prime_u64(n), is_prime_naive(n as u128), "{n}");
    }
}

#[test]
fn miller_rabin_agrees_with_bpsw() {
    // Two different algorithms: below 2^64 BPSW is known to be exact, and between 2^64
    // and MR13_BOUND the 13-base Miller-Rabin is proven.
    let mut rng = Rng::splitmix(2);
    let mut primes = 0;
    for i in 0..20_000 {
        let n = if i % 2 == 0 {
            (rng.next() | 1) as u128
        } else {
            ((1u128 << 64) + (rng.u128() % (MR13_BOUND - (1 << 64)))) | 1
        };
        let p = is_prime(n);
        primes += p as u32;
        assert_eq!(p, bpsw(n), "{n}");
    }
    assert!(primes > 100, "too few primes sampled: {primes}");
}

#[test]
fn strong_pseudoprimes_and_carmichael_numbers_are_composite() {
    let spsp: [u128; 5] = [
        2047,
        3_215_031_751,
        3_825_123_056_546_413_051,
        318_665_857_834_031_151_167_461,
        3_317_044_064_679_887_385_961_981,
    ];
    let carmichael: [u128; 8] = [
        561,
        1105,
        1729,
        2465,
        2821,
        6601,
        8911,
        3_825_123_056_546_413_051,
    ];
    for &n in spsp.iter().chain(carmichael.iter()) {
        assert!(!is_prime(n), "{n}");
        assert!(!bpsw(n), "{n}");
        if n <= u64::MAX as u128 {
            assert!(!is_prime_u64(n as u64), "{n}");
        }
    }
}

/// Chernick's Carmichael numbers (6k+1)(12k+1)(18k+1) with three prime factors, the
/// first k at or above `k0`. (The factors are found with `is_prime_u64`: whatever it
/// says, the product is composite, which is all the test asserts.)
fn chernick_from(k0: u128) -> (u128, [u128; 3]) {
    let mut k = k0;
    loop {
        let f = [6 * k + 1, 12 * k + 1, 18 * k + 1];
        if f.iter().all(|&x| is_prime_u64(x as u64)) {
            return (f[0] * f[1] * f[2], f);
        }
        k += 1;
    }
}

#[test]
fn carmichael_numbers_above_2_pow_64_are_composite() {
    // Above 2^64, above MR13_BOUND (BPSW path), and near 2^127.
    for &k0 in &[600_000u128, 14_000_000, 500_000_000_000] {
        let (n, f) = chernick_from(k0);
        assert!(n > u64::MAX as u128);
        // It is a Carmichael number: a^(n-1) = 1 for a coprime to n.
        assert_eq!(powmod_u128(2, n - 1, n), 1, "{f:?}");
        assert_eq!(powmod_u128(3, n - 1, n), 1, "{f:?}");
        assert!(!is_prime(n), "{f:?}");
    }
}

#[test]
fn largest_prime_below_2_pow_64() {
    let p = 18_446_744_073_709_551_557u64;
    assert_eq!(p, u64::MAX - 58);
    assert!(is_prime_u64(p));
    assert!(is_prime(p as u128));
    for n in p + 1..=u64::MAX {
        assert!(!is_prime_u64(n), "{n}");
    }
    // Primes just below 2^64 are 2^64 - k for these k (primes.utm.edu's table).
    let ks = [59u128, 83, 95, 179, 189, 257, 279, 323, 353, 363];
    let two64 = 1u128 << 64;
    for k in 1..=363 {
        assert_eq!(is_prime(two64 - k), ks.contains(&k), "2^64 - {k}");
    }
    // The first prime above 2^64 is 2^64 + 13.
    for k in 0..13 {
        assert!(!is_prime(two64 + k), "2^64 + {k}");
    }
    assert!(is_prime(two64 + 13));
}

#[test]
fn mersenne_numbers() {
    for &(e, prime) in &[
        (31u32, true),
        (61, true),
        (67, false),
        (89, true),
        (101, false),
        (107, true),
        (127, true),
    ] {
        let m = (1u128 << e) - 1;
        assert_eq!(is_prime(m), prime, "2^{e}-1");
        // Fermat's little theorem as an independent check on powmod for the primes.
        if prime {
            assert_eq!(powmod_u128(3, m - 1, m), 1);
        }
    }
}

#[test]
fn largest_prime_below_2_pow_128() {
    assert!(is_prime(u128::MAX - 158));
    for k in 1..159u128 {
        assert!(!is_prime(0u128.wrapping_sub(k)), "2^128 - {k}");
    }
    // More primes just below 2^128 (2^128 - k), from primes.utm.edu's table.
    let ks = [159u128, 173, 233, 237, 275, 357, 675, 713, 797, 1193];
    for k in 159..=1193 {
        assert_eq!(
            is_prime(0u128.wrapping_sub(k)),
            ks.contains(&k),
            "2^128 - {k}"
        );
    }
}

#[test]
fn semiprimes_are_composite() {
    let mut rng = Rng::splitmix(3);
    let mut found = 0;
    while found < 200 {
        let bits_p = 40 + rng.below(24) as u32;
        let bits_q = 40 + rng.below(24) as u32;
        let p = (rng.next() >> (64 - bits_p)) | 1 | (1 << (bits_p - 1));
        let q = (rng.next() >> (64 - bits_q)) | 1 | (1 << (bits_q - 1));
        if !is_prime_u64(p) || !is_prime_u64(q) {
            continue;
        }
        found += 1;
        assert!(!is_prime(p as u128 * q as u128), "{p} * {q}");
        assert!(!bpsw(p as u128 * q as u128), "{p} * {q}");
    }
    // Squares of primes too (no Selfridge D exists for squares).
    let p = (1u128 << 61) - 1;
    assert!(!is_prime(p * p));
}

#[test]
fn isqrt_exact() {
    assert_eq!(isqrt(0), 0);
    assert_eq!(isqrt(1), 1);
    assert_eq!(isqrt(3), 1);
    assert_eq!(isqrt(4), 2);
    assert_eq!(isqrt(u128::MAX), u64::MAX as u128);
    let m = u64::MAX as u128;
    assert_eq!(isqrt(m * m), m);
    assert_eq!(isqrt(m * m - 1), m - 1);
    assert_eq!(isqrt(m * m + 1), m);
    let mut rng = Rng::splitmix(4);
    for i in 0..20_000 {
        let x = (rng.next() >> (i % 64)) as u128;
        let sq = x * x;
        assert_eq!(isqrt(sq), x);
        if x > 0 {
            assert_eq!(isqrt(sq - 1), x - 1);
        }
        assert_eq!(isqrt(sq + 1), x.max(1));
        let y = rng.u128() >> (i % 128);
        let r = isqrt(y);
        assert!(
            r * r <= y && (r + 1).checked_mul(r + 1).is_none_or(|s| s > y),
            "{y}"
        );
    }
}

/// `a * b mod n` by double-and-add, the slow independent way.
fn naive_mulmod(a: u128, b: u128, n: u128) -> u128 {
    let (mut acc, mut x, mut y) = (0u128, a % n, b);
    let add = |u: u128, v: u128| {
        let (s, c) = u.overflowing_add(v);
        if c || s >= n {
            s.wrapping_sub(n)
        } else {
            s
        }
    };
    while y > 0 {
        if y & 1 == 1 {
            acc = add(acc, x);
        }
        x = add(x, x);
        y >>= 1;
    }
    acc
}

#[test]
fn mulmod_and_powmod_match_naive() {
    let mut rng = Rng::splitmix(5);
    for i in 0..3000 {
        let n = (rng.u128() >> (i % 100)).max(1);
        let (a, b) = (rng.u128(), rng.u128());
        assert_eq!(mulmod_u128(a, b, n), naive_mulmod(a, b, n), "{a} {b} {n}");
        let n64 = (rng.next() >> (i % 60)).max(1);
        let (a64, b64) = (rng.next(), rng.next());
        assert_eq!(
            mulmod_u64(a64, b64, n64) as u128,
            naive_mulmod(a64 as u128, b64 as u128, n64 as u128)
        );
        // powmod with a small exponent against repeated multiplication.
        let e = rng.below(40);
        let mut want = 1 % n;
        let mut want64 = 1 % n64 as u128;
        for _ in 0..e {
            want = naive_mulmod(want, a, n);
            want64 = naive_mulmod(want64, a64 as u128, n64 as u128);
        }
        assert_eq!(powmod_u128(a, e as u128, n), want);
        assert_eq!(powmod_u64(a64, e, n64) as u128, want64);
    }
    // Moduli next to the top of the range.
    for &n in &[u128::MAX, u128::MAX - 1, 1u128 << 127, (1 << 127) + 1] {
        for &(a, b) in &[(u128::MAX, u128::MAX), (n - 1, n - 1), (3, n - 2)] {
            assert_eq!(mulmod_u128(a, b, n), naive_mulmod(a, b, n));
        }
    }
}

#[test]
fn prime_tables() {
    use primecluster::kernel::small::primes_up_to;
    assert!(primes_up_to(0).is_empty() && primes_up_to(1).is_empty());
    assert_eq!(primes_up_to(2), [2]);
    assert_eq!(primes_up_to(30), [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
    let naive: Vec<u32> = (0..5000u32)
        .filter(|&n| is_prime_naive(n as u128))
        .collect();
    assert_eq!(primes_up_to(4999), naive);
    // pi(10^6) = 78498, pi(2^20) = 82025, pi(2^22) = 295947 (the kernels' table sizes).
    assert_eq!(primes_up_to(1_000_000).len(), 78_498);
    assert_eq!(primes_up_to(1 << 20).len(), 82_025);
    let big = primes_up_to(1 << 22);
    assert_eq!(big.len(), 295_947);
    assert_eq!(big.last(), Some(&4_194_301));
}
