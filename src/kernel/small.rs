//! Small primes by a plain sieve of Eratosthenes: the seed for every other kernel.

/// All primes `<= n`, ascending. Meant for n up to a few million.
pub fn primes_up_to(n: u32) -> Vec<u32> {
    let n = n as usize;
    if n < 2 {
        return Vec::new();
    }
    let mut composite = vec![false; n + 1];
    let mut out = Vec::new();
    for i in 2..=n {
        if !composite[i] {
            out.push(i as u32);
            // i * i overflows a 32-bit usize (ARMv7, ARMv6) for i > 65535; such an i
            // has no multiple to strike that a smaller prime has not struck.
            if i > n / i {
                continue;
            }
            let mut j = i * i;
            while j <= n {
                composite[j] = true;
                j += i;
            }
        }
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
        // Past 65536^2 as u32: the square of the last prime must not wrap.
        let top = super::primes_up_to(u16::MAX as u32 + 100);
        assert_eq!(top.len(), 6_556);
        assert_eq!(top.last(), Some(&65_633));
    }
}
