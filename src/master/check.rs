//! Result checks: what the master verifies in a result frame on its own, before the
//! scheduler sees it. Whether the range is the one assigned to the sender is the
//! scheduler's part; here: the gap list decodes within the range, rises strictly,
//! holds the announced count and matches the digest (primes mode), or is absent
//! (count mode). This is the master's only call of [`gaps::check`].

use crate::gaps::{self, Checked, GapError};
use crate::wire::{ChunkResult, Mode};
use std::fmt;

/// Why a result was refused; each message names the bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultError {
    /// The gap list does not describe `count` rising primes inside the range.
    Gaps(GapError),
    /// The digest field is not FNV-1a of the gap bytes.
    Digest { stated: u64, computed: u64 },
    /// A count-mode result carried a gap list.
    PrimesInCountMode { bytes: usize },
}

impl fmt::Display for ResultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultError::Gaps(e) => write!(f, "{e}"),
            ResultError::Digest { stated, computed } => write!(
                f,
                "digest {stated:#018x} does not match the primes ({computed:#018x})"
            ),
            ResultError::PrimesInCountMode { bytes } => {
                write!(f, "a count-mode result carries {bytes} bytes of primes")
            }
        }
    }
}

impl std::error::Error for ResultError {}

/// Checks a result's own consistency (see the module doc) and returns its primes as a
/// [`Checked`] list, the only form in which they reach the scheduler and the writer. The
/// gap bytes are moved out of `r`.
pub fn check_result(r: &mut ChunkResult, mode: Mode) -> Result<Checked, ResultError> {
    match mode {
        Mode::Primes => {
            let computed = gaps::digest(&r.gaps);
            if computed != r.digest {
                return Err(ResultError::Digest {
                    stated: r.digest,
                    computed,
                });
            }
            let list = std::mem::take(&mut r.gaps);
            gaps::check(list, r.start, r.stop, r.count).map_err(ResultError::Gaps)
        }
        Mode::Count if !r.gaps.is_empty() => Err(ResultError::PrimesInCountMode {
            bytes: r.gaps.len(),
        }),
        Mode::Count => gaps::check(Vec::new(), r.start, r.stop, 0).map_err(ResultError::Gaps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaps::GapEncoder;

    fn result(start: u128, stop: u128, primes: &[u128]) -> ChunkResult {
        let mut e = GapEncoder::new(start);
        for &p in primes {
            e.push(p);
        }
        let count = e.count();
        let gaps = e.into_bytes();
        ChunkResult {
            chunk: 0,
            start,
            stop,
            count,
            digest: gaps::digest(&gaps),
            compute_us: 1,
            gaps,
        }
    }

    /// Checks a copy (the check moves the gap bytes out); the list's count on success.
    fn check(r: &ChunkResult, mode: Mode) -> Result<u64, ResultError> {
        check_result(&mut r.clone(), mode).map(|list| list.count())
    }

    #[test]
    fn check_result_catches_lies() {
        let good = result(10, 20, &[11, 13, 17, 19]);
        assert_eq!(check(&good, Mode::Primes), Ok(4));
        let mut bad = good.clone();
        bad.count = 5;
        assert!(check(&bad, Mode::Primes).is_err());
        let mut bad = good.clone();
        bad.digest ^= 1;
        assert!(matches!(
            check(&bad, Mode::Primes),
            Err(ResultError::Digest { .. })
        ));
        let mut bad = good.clone();
        bad.stop = 18;
        let why = check(&bad, Mode::Primes).unwrap_err().to_string();
        assert!(why.contains("19"), "{why}");
        assert_eq!(
            check(&good, Mode::Count),
            Err(ResultError::PrimesInCountMode { bytes: 4 })
        );
    }

    #[test]
    fn a_prime_free_result_has_the_digest_of_nothing() {
        // FNV-1a of no bytes is its offset basis, as docs/PROTOCOL.md says.
        let empty = result(24, 28, &[]);
        assert_eq!(empty.digest, 0xcbf2_9ce4_8422_2325);
        assert_eq!(check(&empty, Mode::Primes), Ok(0));
        let mut zero = empty.clone();
        zero.digest = 0;
        assert!(check(&zero, Mode::Primes).is_err());
    }
}
