//! PLACEHOLDER (being written): trial division, C kernel and Rust twin.

/// Which implementation of trial division.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialImpl {
    C,
    Rust,
}

impl TrialImpl {
    /// C where it was built, else Rust.
    pub fn preferred() -> Self {
        TrialImpl::Rust
    }
}

/// Trial division by primes up to the square root.
pub struct Trial {
    _imp: TrialImpl,
}

impl Trial {
    pub fn new(imp: TrialImpl) -> Self {
        Trial { _imp: imp }
    }
    pub fn primes_u64(&mut self, start: u64, stop: u64, sink: &mut dyn FnMut(&[u64])) {
        let v: Vec<u64> = (start..=stop)
            .filter(|&n| crate::u128math::is_prime_u64(n))
            .collect();
        sink(&v);
    }
    pub fn count_u64(&mut self, start: u64, stop: u64) -> u64 {
        let mut n = 0;
        self.primes_u64(start, stop, &mut |ps| n += ps.len() as u64);
        n
    }
    pub fn primes_u128(&mut self, start: u128, stop: u128, sink: &mut dyn FnMut(&[u128])) {
        let v: Vec<u128> = (start..=stop)
            .filter(|&n| crate::u128math::is_prime(n))
            .collect();
        sink(&v);
    }
}
