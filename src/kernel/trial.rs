//! Trial division by primes up to the square root: the C kernel (`csrc/trialdiv.c`)
//! and its Rust twin, which must give identical output.
//!
//! # Contract
//! [`Trial`] gives every prime in an inclusive range `start..=stop` (nothing when
//! `start > stop`), ascending, in batches of up to [`BATCH`] numbers. It is correct at
//! any size, u128 included, and hopeless past about 2^70 (a prime n costs about
//! sqrt(n) / ln(sqrt(n)) divisions): the slow, faithful baseline and a cross-check of
//! the other kernels, as the original prime finder worked.
//!
//! # How
//! Divisors are the primes up to [`TABLE_LIMIT_MAX`] from a table built here and
//! passed to C; a number whose square root lies past the table goes on with the
//! candidates of a 2,3,5 wheel (numbers prime to 30), whose composites' factors were
//! all tried before, so the outcome is still that of division by primes. Each step
//! takes `q = n / d` once: `q < d` ends the search (n is prime), `q * d == n` finds a
//! factor. Numbers below 2^32 use 32-bit division. The C kernel handles u128 where the
//! compiler has `unsigned __int128`; elsewhere (32-bit ARM) the Rust twin does u128.
//!
//! # Choosing the implementation
//! [`TrialImpl::C`] needs the C kernel, which `build.rs` compiles unless the `pure-rust`
//! feature is on or no C compiler works ([`TrialImpl::c_available`] says which). A
//! [`Trial`] asked for C where it is not built falls back to Rust; [`Trial::imp`] tells
//! which one runs.

/// Largest prime in the divisor table (a bigger square root continues on the wheel).
/// 2^22 keeps the table at 295k primes, 1.2 MB.
pub const TABLE_LIMIT_MAX: u32 = 1 << 22;

/// The smallest table: the wheel needs 2, 3, 5 in it, and small jobs want no more.
const TABLE_LIMIT_MIN: u32 = 1 << 10;

/// Numbers handed to the kernel per call, and the largest batch given to the sink.
pub const BATCH: usize = 1 << 13;

/// Which implementation of trial division.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialImpl {
    /// `csrc/trialdiv.c` through FFI.
    C,
    /// The Rust twin in this file.
    Rust,
}

impl TrialImpl {
    /// C where it was built, else Rust.
    pub fn preferred() -> Self {
        if Self::c_available() {
            TrialImpl::C
        } else {
            TrialImpl::Rust
        }
    }

    /// The C kernel was compiled and linked into this build.
    pub fn c_available() -> bool {
        cfg!(primecluster_c)
    }

    /// The C kernel also handles u128 (its compiler has `unsigned __int128`).
    pub fn c_u128_available() -> bool {
        #[cfg(primecluster_c)]
        {
            // SAFETY: a plain C function without arguments or side effects.
            unsafe { ffi::pc_trial_has_u128() != 0 }
        }
        #[cfg(not(primecluster_c))]
        false
    }
}

#[cfg(primecluster_c)]
mod ffi {
    extern "C" {
        pub fn pc_trial_primes_u64(
            lo: u64,
            hi: u64,
            primes: *const u32,
            nprimes: usize,
            table_limit: u32,
            out: *mut u64,
        ) -> usize;
        pub fn pc_trial_has_u128() -> i32;
        #[allow(clippy::too_many_arguments)]
        pub fn pc_trial_primes_u128(
            lo_low: u64,
            lo_high: u64,
            hi_low: u64,
            hi_high: u64,
            primes: *const u32,
            nprimes: usize,
            table_limit: u32,
            out: *mut u64,
        ) -> usize;
    }
}

/// The divisor table: every prime up to `limit`, ascending, 2 first.
struct Divisors {
    primes: Vec<u32>,
    limit: u32,
}

impl Divisors {
    /// Makes the table reach the square root of `stop` (within the table bounds).
    fn reach(&mut self, stop: u128) {
        let want = crate::u128math::isqrt(stop)
            .clamp(TABLE_LIMIT_MIN as u128, TABLE_LIMIT_MAX as u128) as u32;
        if want > self.limit {
            self.primes = crate::kernel::small::primes_up_to(want);
            self.limit = want;
        }
    }
}

/// Trial division by primes up to the square root. Keeps its table and buffers.
pub struct Trial {
    imp: TrialImpl,
    divisors: Divisors,
    out64: Vec<u64>,
    out128: Vec<u128>,
    /// C's u128 output, as (low, high) pairs.
    #[cfg_attr(not(primecluster_c), allow(dead_code))]
    pairs: Vec<u64>,
}

impl Trial {
    /// Trial division by the given implementation; C where it is not built falls back
    /// to Rust (see [`Trial::imp`]).
    pub fn new(imp: TrialImpl) -> Self {
        let imp = if TrialImpl::c_available() {
            imp
        } else {
            TrialImpl::Rust
        };
        Trial {
            imp,
            divisors: Divisors {
                primes: Vec::new(),
                limit: 0,
            },
            out64: Vec::with_capacity(BATCH),
            out128: Vec::new(),
            pairs: Vec::new(),
        }
    }

    /// The implementation that runs.
    pub fn imp(&self) -> TrialImpl {
        self.imp
    }

    /// Gives the primes in `start..=stop` to `sink`, ascending, in batches.
    pub fn primes_u64(&mut self, start: u64, stop: u64, sink: &mut dyn FnMut(&[u64])) {
        if start > stop {
            return;
        }
        self.divisors.reach(stop as u128);
        let mut lo = start;
        loop {
            let hi = stop.min(lo.saturating_add(BATCH as u64 - 1));
            self.out64.clear();
            match self.imp {
                TrialImpl::C => self.c_batch_u64(lo, hi),
                TrialImpl::Rust => rust_batch_u64(lo, hi, &self.divisors, &mut self.out64),
            }
            if !self.out64.is_empty() {
                sink(&self.out64);
            }
            if hi == stop {
                break;
            }
            lo = hi + 1;
        }
    }

    /// Counts the primes in `start..=stop`.
    pub fn count_u64(&mut self, start: u64, stop: u64) -> u64 {
        let mut n = 0;
        self.primes_u64(start, stop, &mut |ps| n += ps.len() as u64);
        n
    }

    /// Gives the primes in `start..=stop` to `sink`, ascending, in batches. Correct
    /// for any u128 range; slow past 2^64 (a prime near 2^64 takes ~2*10^8 divisions).
    pub fn primes_u128(&mut self, start: u128, stop: u128, sink: &mut dyn FnMut(&[u128])) {
        if start > stop {
            return;
        }
        self.divisors.reach(stop);
        let use_c = self.imp == TrialImpl::C && TrialImpl::c_u128_available();
        let mut lo = start;
        loop {
            let hi = stop.min(lo.saturating_add(BATCH as u128 - 1));
            self.out128.clear();
            if use_c {
                self.c_batch_u128(lo, hi);
            } else {
                rust_batch_u128(lo, hi, &self.divisors, &mut self.out128);
            }
            if !self.out128.is_empty() {
                sink(&self.out128);
            }
            if hi == stop {
                break;
            }
            lo = hi + 1;
        }
    }

    #[cfg(primecluster_c)]
    fn c_batch_u64(&mut self, lo: u64, hi: u64) {
        let len = (hi - lo) as usize + 1;
        self.out64.resize(len, 0);
        let d = &self.divisors;
        // SAFETY: `primes` holds `primes.len()` values; `out64` has room for one value
        // per number in lo..=hi (len <= BATCH), the most C writes; C keeps no pointer.
        let n = unsafe {
            ffi::pc_trial_primes_u64(
                lo,
                hi,
                d.primes.as_ptr(),
                d.primes.len(),
                d.limit,
                self.out64.as_mut_ptr(),
            )
        };
        self.out64.truncate(n);
    }

    #[cfg(not(primecluster_c))]
    fn c_batch_u64(&mut self, lo: u64, hi: u64) {
        // Unreachable: `new` picks Rust when C is not built.
        rust_batch_u64(lo, hi, &self.divisors, &mut self.out64);
    }

    #[cfg(primecluster_c)]
    fn c_batch_u128(&mut self, lo: u128, hi: u128) {
        let len = (hi - lo) as usize + 1;
        self.pairs.resize(2 * len, 0);
        let d = &self.divisors;
        // SAFETY: as in `c_batch_u64`, with two u64 per number in `pairs`.
        let n = unsafe {
            ffi::pc_trial_primes_u128(
                lo as u64,
                (lo >> 64) as u64,
                hi as u64,
                (hi >> 64) as u64,
                d.primes.as_ptr(),
                d.primes.len(),
                d.limit,
                self.pairs.as_mut_ptr(),
            )
        };
        let pairs = &self.pairs[..2 * n];
        self.out128.extend(
            pairs
                .chunks_exact(2)
                .map(|c| c[0] as u128 | (c[1] as u128) << 64),
        );
    }

    #[cfg(not(primecluster_c))]
    fn c_batch_u128(&mut self, lo: u128, hi: u128) {
        rust_batch_u128(lo, hi, &self.divisors, &mut self.out128);
    }
}

/// The residues prime to 30 and the gap from each to the next (as in the C).
const WHEEL: [u32; 8] = [1, 7, 11, 13, 17, 19, 23, 29];
const WHEEL_GAP: [u32; 8] = [6, 4, 2, 4, 2, 4, 6, 2];

/// The first wheel candidate above `limit`, and its index in [`WHEEL`].
fn wheel_start(limit: u32) -> (u64, usize) {
    let mut base = limit as u64 / 30 * 30;
    loop {
        for (i, &w) in WHEEL.iter().enumerate() {
            if base + w as u64 > limit as u64 {
                return (base + w as u64, i);
            }
        }
        base += 30;
    }
}

/// Trial division of one u64 (the Rust twin of C's `is_prime_u64`).
fn is_prime_u64(n: u64, d: &Divisors) -> bool {
    if n < 2 {
        return false;
    }
    if n <= u32::MAX as u64 {
        let m = n as u32;
        for &p in &d.primes {
            let q = m / p;
            if q < p {
                return true;
            }
            if q * p == m {
                return false;
            }
        }
    } else {
        for &p in &d.primes {
            let p = p as u64;
            let q = n / p;
            if q < p {
                return true;
            }
            if q * p == n {
                return false;
            }
        }
    }
    let (mut div, mut k) = wheel_start(d.limit);
    loop {
        let q = n / div;
        if q < div {
            return true;
        }
        if q * div == n {
            return false;
        }
        div += WHEEL_GAP[k] as u64;
        k = (k + 1) & 7;
    }
}

/// Trial division of one u128 (the Rust twin of C's `is_prime_u128`).
fn is_prime_u128(n: u128, d: &Divisors) -> bool {
    if n <= u64::MAX as u128 {
        return is_prime_u64(n as u64, d);
    }
    for &p in &d.primes {
        let p = p as u128;
        let q = n / p;
        if q < p {
            return true;
        }
        if q * p == n {
            return false;
        }
    }
    let (start, mut k) = wheel_start(d.limit);
    let mut div = start as u128;
    loop {
        let q = n / div;
        if q < div {
            return true;
        }
        if q * div == n {
            return false;
        }
        div += WHEEL_GAP[k] as u128;
        k = (k + 1) & 7;
    }
}

fn rust_batch_u64(lo: u64, hi: u64, d: &Divisors, out: &mut Vec<u64>) {
    let mut n = lo;
    loop {
        if is_prime_u64(n, d) {
            out.push(n);
        }
        if n == hi {
            break;
        }
        n += 1;
    }
}

fn rust_batch_u128(lo: u128, hi: u128, d: &Divisors, out: &mut Vec<u128>) {
    let mut n = lo;
    loop {
        if is_prime_u128(n, d) {
            out.push(n);
        }
        if n == hi {
            break;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_start_is_the_next_number_prime_to_30() {
        for limit in 7..200u32 {
            let (w, k) = wheel_start(limit);
            let want = (limit as u64 + 1..).find(|x| x % 2 != 0 && x % 3 != 0 && x % 5 != 0);
            assert_eq!(Some(w), want);
            assert_eq!(w % 30, WHEEL[k] as u64);
        }
    }

    #[test]
    fn the_wheel_past_a_small_table_finds_the_same_primes() {
        // A table up to 7 only: everything past it runs on the wheel.
        let small = Divisors {
            primes: vec![2, 3, 5, 7],
            limit: 7,
        };
        let mut full = Divisors {
            primes: Vec::new(),
            limit: 0,
        };
        full.reach(1 << 40);
        for n in (0..20_000u64).chain(1_000_000_000_000..1_000_000_000_300) {
            assert_eq!(is_prime_u64(n, &small), is_prime_u64(n, &full), "{n}");
        }
    }
}
