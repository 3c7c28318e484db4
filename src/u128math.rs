//! Integer arithmetic for primality: square roots, modular multiplication and
//! exponentiation (Montgomery form), Miller–Rabin and BPSW, on u64 and u128.
//!
//! # Contract
//! - [`isqrt`] is the exact floor square root of every u128, `u128::MAX` included.
//! - [`is_prime_u64`] is deterministic (proven) for every u64: trial division by the
//!   primes below 64, then strong Miller–Rabin with the bases 2, 325, 9375, 28178,
//!   450775, 9780504, 1795265022 (Jim Sinclair's set, verified by computation for all
//!   n < 2^64 against Feitsma's list of base-2 pseudoprimes; a base that is 0 mod n is
//!   skipped). Below 4,759,123,141 the bases 2, 7, 61 suffice (Jaeschke 1993) and are
//!   used instead: same answers, fewer tests for the many primes there.
//! - [`is_prime`] on u128: below 2^64 it is [`is_prime_u64`]; below [`MR13_BOUND`]
//!   strong Miller–Rabin with the first 13 primes (2..=41) as bases, proven by Sorenson
//!   and Webster (2015); at or above the bound it is BPSW (strong base-2 Miller–Rabin
//!   and a strong Lucas test with Selfridge's method A). BPSW has no known
//!   counterexample but is not proven: numbers >= [`MR13_BOUND`] that it accepts are
//!   *probable* primes.
//! - [`Mont64`] and [`Mont128`] hold a Montgomery context for one odd modulus; the free
//!   functions [`mulmod_u64`], [`powmod_u64`], [`mulmod_u128`], [`powmod_u128`] are the
//!   plain-form helpers (any modulus >= 1) used by tests and callers outside the hot path.
//!
//! Speed: a number's bases run as independent chains of Montgomery products in lockstep
//! ([`Mont64::is_sprp_all`], [`Mont128::is_sprp_all`]), and the pre-sieve tests base 2
//! on four u64 survivors at once ([`sprp2_lanes_u64`]); the CPU overlaps the chains.
//!
//! Everything works with usize of 32 bits (ARM): only fixed-width integers are used.

/// Below this bound, Miller–Rabin with the first 13 primes as bases is proven.
pub const MR13_BOUND: u128 = 3_317_044_064_679_887_385_961_981;

/// The deterministic Miller–Rabin bases for every n < 2^64.
const BASES_U64: [u64; 7] = [2, 325, 9375, 28178, 450775, 9780504, 1795265022];

/// The first 13 primes: the proven Miller–Rabin bases below [`MR13_BOUND`].
const BASES_13: [u64; 13] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41];

/// Primes used for the quick trial division in front of the probabilistic tests.
const SMALL_PRIMES: [u64; 18] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61,
];

/// Floor of the square root, exact for every u128.
pub fn isqrt(n: u128) -> u128 {
    if n < 2 {
        return n;
    }
    // The f64 estimate is within about 2^-52 relative; one Newton step from it lands on
    // the floor or one above, then the fix-ups make it exact.
    let est = (n as f64).sqrt() as u128;
    let mut x = est.clamp(1, u64::MAX as u128);
    x = ((x + n / x) >> 1).min(u64::MAX as u128);
    while x * x > n {
        x -= 1;
    }
    while x < u64::MAX as u128 && (x + 1) * (x + 1) <= n {
        x += 1;
    }
    x
}

/// Floor of the square root of a u64.
pub fn isqrt_u64(n: u64) -> u64 {
    isqrt(n as u128) as u64
}

/// `a * b mod n` for any n >= 1 (plain form, through a u128 product).
pub fn mulmod_u64(a: u64, b: u64, n: u64) -> u64 {
    ((a as u128 * b as u128) % n as u128) as u64
}

/// `a^e mod n` for any n >= 1 (plain form; odd n goes through Montgomery).
pub fn powmod_u64(a: u64, e: u64, n: u64) -> u64 {
    if n == 1 {
        return 0;
    }
    if n & 1 == 1 {
        let m = Mont64::new(n);
        return m.from_mont(m.pow(m.to_mont(a % n), e));
    }
    let (mut base, mut e, mut acc) = (a % n, e, 1u64);
    while e > 0 {
        if e & 1 == 1 {
            acc = mulmod_u64(acc, base, n);
        }
        base = mulmod_u64(base, base, n);
        e >>= 1;
    }
    acc
}

/// The full 256-bit product of two u128 as (high, low), built from u64 halves.
#[inline(always)]
pub fn mul_wide_u128(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = ((a >> 64) as u64 as u128, a as u64 as u128);
    let (b1, b0) = ((b >> 64) as u64 as u128, b as u64 as u128);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    // Middle column: three terms of < 2^64 each (the high half of p00 and the low halves
    // of p01, p10) cannot overflow a u128.
    let mid = (p00 >> 64) + (p01 as u64 as u128) + (p10 as u64 as u128);
    let lo = (mid << 64) | (p00 as u64 as u128);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// `(a + b) mod n` for a, b < n, without overflow even when n > 2^127.
#[inline(always)]
fn addmod_u128(a: u128, b: u128, n: u128) -> u128 {
    let (s, carry) = a.overflowing_add(b);
    if carry || s >= n {
        s.wrapping_sub(n)
    } else {
        s
    }
}

/// `(a - b) mod n` for a, b < n.
#[inline(always)]
fn submod_u128(a: u128, b: u128, n: u128) -> u128 {
    let (d, borrow) = a.overflowing_sub(b);
    if borrow {
        d.wrapping_add(n)
    } else {
        d
    }
}

/// `a * b mod n` for any n >= 1 (plain form; odd n through Montgomery, even n by
/// double-and-add).
pub fn mulmod_u128(a: u128, b: u128, n: u128) -> u128 {
    if n == 1 {
        return 0;
    }
    let (a, b) = (a % n, b % n);
    if n & 1 == 1 {
        let m = Mont128::new(n);
        return m.mul(m.to_mont(a), b);
    }
    let (mut acc, mut x, mut y) = (0u128, a, b);
    while y > 0 {
        if y & 1 == 1 {
            acc = addmod_u128(acc, x, n);
        }
        x = addmod_u128(x, x, n);
        y >>= 1;
    }
    acc
}

/// `a^e mod n` for any n >= 1.
pub fn powmod_u128(a: u128, e: u128, n: u128) -> u128 {
    if n == 1 {
        return 0;
    }
    if n & 1 == 1 {
        let m = Mont128::new(n);
        return m.from_mont(m.pow(m.to_mont(a % n), e));
    }
    let (mut base, mut e, mut acc) = (a % n, e, 1u128);
    while e > 0 {
        if e & 1 == 1 {
            acc = mulmod_u128(acc, base, n);
        }
        base = mulmod_u128(base, base, n);
        e >>= 1;
    }
    acc
}

/// The exponentiations and strong-test steps of [`Mont64`] and [`Mont128`], written once
/// and stamped into each impl: the two differ only in the word type. A macro rather than
/// a generic trait keeps them inherent methods with their public signatures, and the
/// Miller–Rabin loops monomorphic code over one integer type. Each impl provides `n`,
/// `one`, `mul`, `add` and `to_mont`.
macro_rules! montgomery_shared_methods {
    ($word:ty) => {
        /// `x^e` of a Montgomery-form `x`, in Montgomery form.
        pub fn pow(&self, x: $word, e: $word) -> $word {
            if e == 0 {
                return self.one;
            }
            // Left to right: one squaring per bit, a multiplication per set bit.
            let mut acc = x;
            let top = <$word>::BITS - 1 - e.leading_zeros();
            for i in (0..top).rev() {
                acc = self.mul(acc, acc);
                if (e >> i) & 1 == 1 {
                    acc = self.mul(acc, x);
                }
            }
            acc
        }

        /// `2^e` in Montgomery form, by squaring and doubling (no multiplications by 2).
        fn pow2(&self, e: $word) -> $word {
            if e == 0 {
                return self.one;
            }
            let mut acc = self.add(self.one, self.one);
            let top = <$word>::BITS - 1 - e.leading_zeros();
            for i in (0..top).rev() {
                acc = self.mul(acc, acc);
                if (e >> i) & 1 == 1 {
                    acc = self.add(acc, acc);
                }
            }
            acc
        }

        /// The strong test's end for `x = a^d` in Montgomery form, `n - 1 = d * 2^s`.
        #[inline]
        fn strong_tail(&self, mut x: $word, s: u32) -> bool {
            let minus_one = self.n - self.one;
            if x == self.one || x == minus_one {
                return true;
            }
            for _ in 1..s {
                x = self.mul(x, x);
                if x == minus_one {
                    return true;
                }
                if x == self.one {
                    return false;
                }
            }
            false
        }

        /// Strong probable prime to every one of `bases` (a base that is 0 mod n counts
        /// as passed). The exponentiations run in lockstep: K independent chains of
        /// multiplications keep the multiplier busy where one chain waits on latency.
        pub fn is_sprp_all<const K: usize>(&self, bases: &[$word; K]) -> bool {
            let nm1 = self.n - 1;
            let s = nm1.trailing_zeros();
            let d = nm1 >> s;
            let xs = bases.map(|a| self.to_mont(a));
            let mut acc = xs;
            for i in (0..<$word>::BITS - 1 - d.leading_zeros()).rev() {
                for a in acc.iter_mut() {
                    *a = self.mul(*a, *a);
                }
                if (d >> i) & 1 == 1 {
                    for (a, &x) in acc.iter_mut().zip(xs.iter()) {
                        *a = self.mul(*a, x);
                    }
                }
            }
            acc.iter()
                .zip(xs.iter())
                .all(|(&a, &x)| x == 0 || self.strong_tail(a, s))
        }

        /// Strong probable prime to base `a` (a reduced mod n must not be 0).
        pub fn is_sprp(&self, a: $word) -> bool {
            let nm1 = self.n - 1;
            let s = nm1.trailing_zeros();
            let d = nm1 >> s;
            let x = if a == 2 {
                self.pow2(d)
            } else {
                self.pow(self.to_mont(a), d)
            };
            self.strong_tail(x, s)
        }
    };
}

/// Montgomery arithmetic modulo an odd u64 `n`, with R = 2^64.
///
/// Values in Montgomery form are `x * R mod n`, kept in `[0, n)`.
#[derive(Debug, Clone, Copy)]
pub struct Mont64 {
    n: u64,
    /// `n^-1 mod 2^64`.
    ninv: u64,
    /// `R mod n`: the Montgomery form of 1.
    one: u64,
    /// `R^2 mod n`.
    r2: u64,
}

impl Mont64 {
    /// The context for an odd modulus `n > 1`.
    pub fn new(n: u64) -> Self {
        debug_assert!(n & 1 == 1 && n > 1);
        // Newton's iteration doubles the correct low bits: 3 (n*n = 1 mod 8) -> 96.
        let mut ninv = n;
        for _ in 0..5 {
            ninv = ninv.wrapping_mul(2u64.wrapping_sub(n.wrapping_mul(ninv)));
        }
        let one = ((1u128 << 64) % n as u128) as u64;
        let r2 = ((one as u128 * one as u128) % n as u128) as u64;
        Mont64 { n, ninv, one, r2 }
    }

    /// The modulus.
    pub fn modulus(&self) -> u64 {
        self.n
    }

    /// REDC of a product `t < n * 2^64`: `t / R mod n`.
    #[inline(always)]
    fn redc(&self, t: u128) -> u64 {
        let (hi, lo) = ((t >> 64) as u64, t as u64);
        let m = lo.wrapping_mul(self.ninv);
        // m * n = lo (mod 2^64), so t - m*n is an exact multiple of 2^64.
        let mn_hi = ((m as u128 * self.n as u128) >> 64) as u64;
        let (d, borrow) = hi.overflowing_sub(mn_hi);
        if borrow {
            d.wrapping_add(self.n)
        } else {
            d
        }
    }

    /// Montgomery product: `a * b / R mod n`.
    #[inline(always)]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.redc(a as u128 * b as u128)
    }

    /// `x mod n` (any x) into Montgomery form.
    #[inline]
    pub fn to_mont(&self, x: u64) -> u64 {
        self.mul(x % self.n, self.r2)
    }

    /// Out of Montgomery form.
    #[inline]
    pub fn from_mont(&self, x: u64) -> u64 {
        self.redc(x as u128)
    }

    /// The Montgomery form of 1.
    pub fn one(&self) -> u64 {
        self.one
    }

    #[inline(always)]
    fn add(&self, a: u64, b: u64) -> u64 {
        let (s, carry) = a.overflowing_add(b);
        if carry || s >= self.n {
            s.wrapping_sub(self.n)
        } else {
            s
        }
    }

    montgomery_shared_methods!(u64);
}

/// Montgomery arithmetic modulo an odd u128 `n`, with R = 2^128.
///
/// Products are 256 bits wide, built from u64 halves ([`mul_wide_u128`]); values in
/// Montgomery form are `x * R mod n`, kept in `[0, n)`.
#[derive(Debug, Clone, Copy)]
pub struct Mont128 {
    n: u128,
    /// `n^-1 mod 2^128`.
    ninv: u128,
    /// `R mod n`: the Montgomery form of 1.
    one: u128,
    /// `R^2 mod n`.
    r2: u128,
}

impl Mont128 {
    /// The context for an odd modulus `n > 1`.
    pub fn new(n: u128) -> Self {
        debug_assert!(n & 1 == 1 && n > 1);
        let mut ninv = n;
        for _ in 0..6 {
            ninv = ninv.wrapping_mul(2u128.wrapping_sub(n.wrapping_mul(ninv)));
        }
        let one = (u128::MAX % n + 1) % n;
        let mut m = Mont128 {
            n,
            ninv,
            one,
            r2: 0,
        };
        // 2^8 in Montgomery form by doubling R mod n, then four squarings give
        // 2^128 in Montgomery form, which is R^2 mod n.
        let mut x = one;
        for _ in 0..8 {
            x = addmod_u128(x, x, n);
        }
        for _ in 0..4 {
            x = m.mul(x, x);
        }
        m.r2 = x;
        m
    }

    /// The modulus.
    pub fn modulus(&self) -> u128 {
        self.n
    }

    /// Montgomery product: `a * b / R mod n` for a, b < n.
    #[inline(always)]
    pub fn mul(&self, a: u128, b: u128) -> u128 {
        let (hi, lo) = mul_wide_u128(a, b);
        let m = lo.wrapping_mul(self.ninv);
        // m * n = lo (mod 2^128): (hi, lo) - m*n is hi - mulhi(m, n), times R.
        let (mn_hi, _) = mul_wide_u128(m, self.n);
        submod_u128(hi, mn_hi, self.n)
    }

    /// `x mod n` (any x) into Montgomery form.
    #[inline]
    pub fn to_mont(&self, x: u128) -> u128 {
        self.mul(x % self.n, self.r2)
    }

    /// Out of Montgomery form.
    #[inline]
    pub fn from_mont(&self, x: u128) -> u128 {
        self.mul(x, 1)
    }

    /// The Montgomery form of 1.
    pub fn one(&self) -> u128 {
        self.one
    }

    #[inline(always)]
    fn add(&self, a: u128, b: u128) -> u128 {
        addmod_u128(a, b, self.n)
    }

    #[inline(always)]
    fn sub(&self, a: u128, b: u128) -> u128 {
        submod_u128(a, b, self.n)
    }

    montgomery_shared_methods!(u128);

    /// A small signed integer in Montgomery form.
    fn signed_to_mont(&self, v: i64) -> u128 {
        let m = self.to_mont(v.unsigned_abs() as u128);
        if v < 0 {
            self.sub(0, m)
        } else {
            m
        }
    }

    /// Strong Lucas probable-prime test with parameters P = 1, Q (Selfridge's method A
    /// gives D = 1 - 4Q with Jacobi(D/n) = -1). Needs gcd(n, 2QD) = 1.
    fn is_strong_lucas(&self, q: i64) -> bool {
        let n = self.n;
        // n + 1 = d * 2^s; n is odd, so (n + 1) / 2 = n / 2 + 1 cannot overflow.
        let half = (n >> 1) + 1;
        let s = 1 + half.trailing_zeros();
        let d = half >> (s - 1);
        let two = self.add(self.one, self.one);
        let qm = self.signed_to_mont(q);
        // Ladder on (V_k, V_{k+1}, Q^k), k from 0 up to d; P = 1.
        let (mut vk, mut vk1, mut qk) = (two, self.one, self.one);
        for i in (0..128 - d.leading_zeros()).rev() {
            if (d >> i) & 1 == 1 {
                // k -> 2k+1: V_{2k+1} = V_k V_{k+1} - P Q^k, V_{2k+2} = V_{k+1}^2 - 2 Q^{k+1}.
                let qk1 = self.mul(qk, qm);
                vk = self.sub(self.mul(vk, vk1), qk);
                vk1 = self.sub(self.mul(vk1, vk1), self.add(qk1, qk1));
                qk = self.mul(qk, qk1);
            } else {
                // k -> 2k: V_{2k} = V_k^2 - 2 Q^k, V_{2k+1} = V_k V_{k+1} - P Q^k.
                vk1 = self.sub(self.mul(vk, vk1), qk);
                vk = self.sub(self.mul(vk, vk), self.add(qk, qk));
                qk = self.mul(qk, qk);
            }
        }
        // U_d = (2 V_{d+1} - P V_d) / D, and D is invertible mod n: U_d = 0 iff
        // 2 V_{d+1} = V_d.
        if self.add(vk1, vk1) == vk || vk == 0 {
            return true;
        }
        for _ in 1..s {
            vk = self.sub(self.mul(vk, vk), self.add(qk, qk));
            if vk == 0 {
                return true;
            }
            qk = self.mul(qk, qk);
        }
        false
    }
}

/// Jacobi symbol (a/n) for odd n > 0, with a given as a signed integer.
fn jacobi(a: i64, n: u128) -> i32 {
    let mut a = if a < 0 {
        // (-|a| mod n)
        let r = a.unsigned_abs() as u128 % n;
        if r == 0 {
            0
        } else {
            n - r
        }
    } else {
        a as u128 % n
    };
    let mut n = n;
    let mut t = 1;
    while a != 0 {
        while a & 1 == 0 {
            a >>= 1;
            let r = n & 7;
            if r == 3 || r == 5 {
                t = -t;
            }
        }
        std::mem::swap(&mut a, &mut n);
        if a & 3 == 3 && n & 3 == 3 {
            t = -t;
        }
        a %= n;
    }
    if n == 1 {
        t
    } else {
        0
    }
}

/// Result of the quick trial division in front of the probabilistic tests.
enum Small {
    Prime,
    Composite,
    Unknown,
}

fn small_check(n: u128) -> Small {
    if n < 2 {
        return Small::Composite;
    }
    for &p in &SMALL_PRIMES {
        let p = p as u128;
        if n == p {
            return Small::Prime;
        }
        if n % p == 0 {
            return Small::Composite;
        }
    }
    // No factor below 64: every n < 67^2 left is prime.
    if n < 67 * 67 {
        Small::Prime
    } else {
        Small::Unknown
    }
}

/// The strong base-2 test of K moduli at once: one chain of multiplications per
/// modulus, in lockstep, so that the multiplier works on K while one would wait on
/// latency. The pre-sieve runs its survivors through this in groups.
pub fn sprp2_lanes_u64<const K: usize>(ms: &[Mont64; K]) -> [bool; K] {
    let ds: [(u64, u32); K] = std::array::from_fn(|k| {
        let nm1 = ms[k].n - 1;
        (nm1 >> nm1.trailing_zeros(), nm1.trailing_zeros())
    });
    let top = ds
        .iter()
        .map(|&(d, _)| 64 - d.leading_zeros())
        .max()
        .unwrap_or(0);
    // From the one, a lane whose exponent is shorter squares 1 until its top bit.
    let mut acc: [u64; K] = std::array::from_fn(|k| ms[k].one);
    for i in (0..top).rev() {
        for k in 0..K {
            let sq = ms[k].mul(acc[k], acc[k]);
            let dbl = ms[k].add(sq, sq);
            acc[k] = if (ds[k].0 >> i) & 1 == 1 { dbl } else { sq };
        }
    }
    std::array::from_fn(|k| ms[k].strong_tail(acc[k], ds[k].1))
}

/// Deterministic Miller–Rabin for odd n < 2^64 with no factor below 64 (the pre-sieve
/// and [`is_prime_u64`] call it after their trial division).
pub fn mr_u64(n: u64) -> bool {
    let m = Mont64::new(n);
    m.is_sprp(2) && mr_u64_after_base_2(&m)
}

/// The rest of [`mr_u64`] for a modulus that passed the base-2 test.
pub fn mr_u64_after_base_2(m: &Mont64) -> bool {
    let n = m.modulus();
    // Below 4,759,123,141 the bases 2, 7, 61 are proven (Jaeschke 1993); fewer bases
    // for the many primes in that range.
    if n < 4_759_123_141 {
        return m.is_sprp_all(&[7, 61]);
    }
    // The other six bases as six chains in lockstep (measured fastest on x86-64:
    // about 2x one base at a time).
    m.is_sprp_all(&[
        BASES_U64[1],
        BASES_U64[2],
        BASES_U64[3],
        BASES_U64[4],
        BASES_U64[5],
        BASES_U64[6],
    ])
}

/// Is `n` prime: deterministic for every u64.
pub fn is_prime_u64(n: u64) -> bool {
    match small_check(n as u128) {
        Small::Prime => true,
        Small::Composite => false,
        Small::Unknown => mr_u64(n),
    }
}

/// Primality of an odd n >= 2^64 with no factor below 64: proven Miller–Rabin below
/// [`MR13_BOUND`], BPSW above (see the module doc).
pub fn mr_u128(n: u128) -> bool {
    let m = Mont128::new(n);
    m.is_sprp(2) && mr_u128_after_base_2(&m)
}

/// The rest of [`mr_u128`] for a modulus that passed the base-2 test.
pub fn mr_u128_after_base_2(m: &Mont128) -> bool {
    let n = m.modulus();
    if n < MR13_BOUND {
        // The other twelve bases, four chains at a time (measured: 1.5x one at a time;
        // three or six chains are no better).
        return BASES_13[1..]
            .chunks_exact(4)
            .all(|b| m.is_sprp_all(&[b[0] as u128, b[1] as u128, b[2] as u128, b[3] as u128]));
    }
    selfridge_q(n).is_some_and(|q| m.is_strong_lucas(q))
}

/// Selfridge's method A: the first D in 5, -7, 9, -11, ... with Jacobi(D/n) = -1,
/// returned as Q = (1 - D) / 4. `None` when n is proven composite on the way (a
/// common factor with D, or a perfect square, for which no such D exists).
fn selfridge_q(n: u128) -> Option<i64> {
    let mut d: i64 = 5;
    loop {
        let j = jacobi(d, n);
        if j == -1 {
            return Some((1 - d) / 4);
        }
        if j == 0 && d.unsigned_abs() as u128 != n {
            return None;
        }
        // A square never gives -1; check once the search has gone on a while.
        if d.abs() == 17 {
            let r = isqrt(n);
            if r * r == n {
                return None;
            }
        }
        d = if d > 0 { -(d + 2) } else { -d + 2 };
    }
}

/// The BPSW test on any u128 (strong base-2 Miller–Rabin, then the strong Lucas test
/// with Selfridge's method A), after trial division by the primes below 64. It has no
/// counterexample below 2^64 (checked exhaustively); [`is_prime`] uses it at or above
/// [`MR13_BOUND`], and tests use it as a second opinion below.
pub fn bpsw(n: u128) -> bool {
    match small_check(n) {
        Small::Prime => true,
        Small::Composite => false,
        Small::Unknown => {
            let m = Mont128::new(n);
            m.is_sprp(2) && selfridge_q(n).is_some_and(|q| m.is_strong_lucas(q))
        }
    }
}

/// Is `n` prime: proven below [`MR13_BOUND`], BPSW probable prime at or above it.
pub fn is_prime(n: u128) -> bool {
    if n <= u64::MAX as u128 {
        return is_prime_u64(n as u64);
    }
    match small_check(n) {
        Small::Prime => true,
        Small::Composite => false,
        Small::Unknown => mr_u128(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockstep_bases_match_one_at_a_time() {
        // 5 divides 325 and 9375: those bases count as passed.
        assert!(Mont64::new(5).is_sprp_all(&[325, 9375, 2]));
        for n in (3u64..5000).step_by(2) {
            let m = Mont64::new(n);
            let b = [2u64, 3, 5, 7, 325, 9375];
            let one = b.iter().all(|&a| a % n == 0 || m.is_sprp(a % n));
            assert_eq!(m.is_sprp_all(&b), one, "{n}");
            let m = Mont128::new(n as u128);
            let b128 = b.map(|a| a as u128);
            let one = b128
                .iter()
                .all(|&a| a % n as u128 == 0 || m.is_sprp(a % n as u128));
            assert_eq!(m.is_sprp_all(&b128), one, "{n}");
        }
    }

    #[test]
    fn base_2_lanes_match_one_at_a_time() {
        // Moduli of very different sizes in one group, and strong pseudoprimes to base 2.
        let ns: [u64; 12] = [
            3,
            5,
            2047,
            3277,
            1_000_003,
            4_294_967_291,
            3_215_031_751,
            1 << 40 | 1,
            999_999_999_999_999_989,
            1_000_000_000_000_000_003,
            18_446_744_073_709_551_557,
            u64::MAX,
        ];
        for g in ns.chunks_exact(4) {
            let ms: [Mont64; 4] = std::array::from_fn(|k| Mont64::new(g[k]));
            let lanes = sprp2_lanes_u64(&ms);
            for k in 0..4 {
                assert_eq!(lanes[k], ms[k].is_sprp(2), "{}", g[k]);
            }
        }
        for start in (101u64..20_000).step_by(8) {
            let ms: [Mont64; 4] = std::array::from_fn(|k| Mont64::new(start + 2 * k as u64));
            let lanes = sprp2_lanes_u64(&ms);
            assert_eq!(lanes, ms.map(|m| m.is_sprp(2)), "{start}");
        }
    }

    #[test]
    fn jacobi_small() {
        // Known values: (2/7) = 1, (3/7) = -1, (5/21) = 1, (-1/3) = -1, (6/9) = 0.
        assert_eq!(jacobi(2, 7), 1);
        assert_eq!(jacobi(3, 7), -1);
        assert_eq!(jacobi(5, 21), 1);
        assert_eq!(jacobi(-1, 3), -1);
        assert_eq!(jacobi(6, 9), 0);
    }

    #[test]
    fn lucas_on_small_primes_and_lucas_pseudoprimes() {
        // Strong Lucas pseudoprimes (OEIS A217255) pass the Lucas part alone; small
        // primes pass it too. The Lucas part is called directly on small n here.
        for &n in &[
            5459u128, 5777, 10877, 16109, 18971, 22499, 24569, 25199, 40309, 58519,
        ] {
            let q = selfridge_q(n).unwrap();
            assert!(Mont128::new(n).is_strong_lucas(q), "{n}");
        }
        for n in (101u128..3000).step_by(2) {
            let prime = (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0);
            let lucas = selfridge_q(n).is_some_and(|q| Mont128::new(n).is_strong_lucas(q));
            let in_list = [5459u128, 5777, 10877].contains(&n);
            if !in_list {
                assert_eq!(prime, lucas, "{n}");
            }
        }
    }
}
