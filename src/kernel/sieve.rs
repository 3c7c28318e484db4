//! PLACEHOLDER (being written): segmented sieve of Eratosthenes below 2^64.

/// The segmented sieve; keeps its sieving primes between calls.
pub struct Sieve;

impl Default for Sieve {
    fn default() -> Self {
        Self::new()
    }
}

impl Sieve {
    pub fn new() -> Self {
        Sieve
    }
    /// Does the sieve take ranges ending at `stop` within its memory budget?
    pub fn handles(stop: u64) -> bool {
        stop < 1 << 40
    }
    pub fn primes(&mut self, start: u64, stop: u64, sink: &mut dyn FnMut(&[u64])) {
        let v: Vec<u64> = (start..=stop)
            .filter(|&n| crate::u128math::is_prime_u64(n))
            .collect();
        sink(&v);
    }
    pub fn count(&mut self, start: u64, stop: u64) -> u64 {
        let mut n = 0;
        self.primes(start, stop, &mut |ps| n += ps.len() as u64);
        n
    }
}
