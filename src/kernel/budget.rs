//! The memory budget of a worker process and how a kernel reads its share.
//!
//! A worker (or `primes`, or `run`) has one budget for all its compute threads. The
//! sieve's table of sieving primes is shared by every thread of the process
//! ([`super::sieving_primes`]), so a kernel's own share is what remains of the budget
//! after that table, divided by the number of threads. The sieve sizes its windows of
//! large primes from that share ([`super::sieve`]), and below the least it needs the
//! dispatcher falls back to pre-sieve + Miller–Rabin.

use std::fmt;

const MIB: u64 = 1 << 20;

/// A process's memory budget for its kernels, and how many kernels share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Bytes for all kernels of the process together, the shared table included.
    pub total: u64,
    /// Kernels (compute threads) that share `total`; at least 1.
    pub threads: u32,
}

impl Memory {
    /// `mib` mebibytes for `threads` kernels.
    pub fn mib(mib: u64, threads: u32) -> Self {
        Memory {
            total: mib.saturating_mul(MIB),
            threads: threads.max(1),
        }
    }

    /// The default for `threads` kernels: 160 MiB (the shared table up to 2^32 takes
    /// 137 MiB) plus 160 MiB per thread, at least 480 MiB (one thread then sieves 1e9
    /// numbers near 2^64 in two windows; two threads stay under 512 MiB), but at most
    /// half the machine's RAM.
    pub fn default_for(threads: u32) -> Self {
        let threads = threads.max(1);
        let want = ((160 + 160 * u64::from(threads)).max(480)) * MIB;
        let total = match ram_bytes() {
            Some(ram) => want.min(ram / 2),
            None => want,
        };
        Memory { total, threads }
    }

    /// One kernel's share once `shared` bytes (the table of sieving primes) are taken
    /// out, or `None` when the table alone does not fit.
    pub fn share_after(&self, shared: u64) -> Option<u64> {
        self.total
            .checked_sub(shared)
            .map(|rest| rest / u64::from(self.threads.max(1)))
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} MiB for {} thread{}",
            self.total / MIB,
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }
}

/// Total RAM of the machine, from /proc/meminfo (Linux; `None` elsewhere or when it
/// cannot be read).
pub fn ram_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares() {
        let m = Memory::mib(512, 2);
        assert_eq!(m.share_after(112 * MIB), Some(200 * MIB));
        assert_eq!(m.share_after(513 * MIB), None);
        assert_eq!(Memory::mib(64, 0).threads, 1);
        assert_eq!(Memory::mib(u64::MAX, 1).total, u64::MAX);
    }

    #[test]
    fn default_is_bounded_by_ram() {
        let d = Memory::default_for(2);
        assert!(d.total <= 480 * MIB);
        if let Some(ram) = ram_bytes() {
            assert!(d.total <= ram / 2);
        }
        assert_eq!(format!("{}", Memory::mib(64, 1)), "64 MiB for 1 thread");
    }
}
