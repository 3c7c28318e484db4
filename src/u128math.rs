//! PLACEHOLDER (being written): u128 arithmetic and primality tests.
//! Contract: `isqrt`, `is_prime_u64` (deterministic), `is_prime` (deterministic
//! Miller–Rabin below [`MR13_BOUND`], BPSW above).

/// Below this bound, Miller–Rabin with the first 13 primes as bases is proven.
pub const MR13_BOUND: u128 = 3_317_044_064_679_887_385_961_981;

/// Floor of the square root.
pub fn isqrt(n: u128) -> u128 {
    if n < 2 {
        return n;
    }
    let mut x = (n as f64).sqrt() as u128;
    while x.checked_mul(x).is_none_or(|sq| sq > n) {
        x -= 1;
    }
    while (x + 1).checked_mul(x + 1).is_some_and(|sq| sq <= n) {
        x += 1;
    }
    x
}

/// Is `n` prime (placeholder: trial division).
pub fn is_prime(n: u128) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u128;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

/// Is `n` prime.
pub fn is_prime_u64(n: u64) -> bool {
    is_prime(n as u128)
}
