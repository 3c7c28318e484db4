//! Small primes by a plain sieve of Eratosthenes: the seed for every other kernel.

/// All primes `<= n`, ascending. Meant for n up to a few million.
///
/// Odd numbers only (index i stands for 2i + 1): half the memory and work of a plain
/// sieve, still simple enough to trust as the seed.
pub fn primes_up_to(n: u32) -> Vec<u32> {
    if n < 2 {
        return Vec::new();
    }
    let n = n as usize;
    let mut composite = vec![false; n / 2 + 1];
    let mut out = vec![2];
    let mut i = 1;
    while 2 * i < n {
        if !composite[i] {
            let p = 2 * i + 1;
            out.push(p as u32);
            // Mark from p*p (odd: index (p*p - 1) / 2) in steps of 2p (p indices); the
            // test also keeps p*p inside a 32-bit usize.
            if p <= n / p {
                let mut j = (p * p - 1) / 2;
                while 2 * j < n {
                    composite[j] = true;
                    j += p;
                }
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_primes() {
        assert_eq!(
            super::primes_up_to(30),
            vec![2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
        );
        assert!(super::primes_up_to(1).is_empty());
        assert_eq!(super::primes_up_to(1_000_000).len(), 78_498);
        assert_eq!(super::primes_up_to(2), vec![2]);
        assert_eq!(super::primes_up_to(3), vec![2, 3]);
        assert_eq!(super::primes_up_to(u32::from(u16::MAX)).len(), 6542);
        // Primes past 65535, whose squares overflow a 32-bit usize (ARMv6, ARMv7).
        let top = super::primes_up_to(u32::from(u16::MAX) + 100);
        assert_eq!((top.len(), top.last()), (6_556, Some(&65_633)));
    }

    #[test]
    fn matches_trial_division() {
        let is_prime = |n: u32| n >= 2 && (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0);
        for n in 0..600 {
            let want: Vec<u32> = (0..=n).filter(|&k| is_prime(k)).collect();
            assert_eq!(super::primes_up_to(n), want, "n = {n}");
        }
    }
}
