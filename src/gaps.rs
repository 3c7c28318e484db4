//! The gap encoding of an ascending list of primes, shared by result frames on the wire
//! (`docs/PROTOCOL.md`) and the compact output file (`docs/FORMAT.md`).
//!
//! A list of primes `p0 < p1 < ...` relative to a base `b` (the start of the range, or
//! the last prime written before it) is a sequence of unsigned LEB128 varints:
//! - the first is `p0 - b`;
//! - each next is `(p[i] - p[i-1] - [p[i-1] == 2]) / 2`: every gap between odd primes is
//!   even, so halving it makes almost every gap below 1e18 fit one byte; the only odd
//!   gap, 2 -> 3, becomes 0.
//!
//! Decoding is the check the master relies on: [`GapDecoder`] refuses a varint that is
//! too long or overflows, a zero gap after an odd prime (a repeat), an odd prime
//! followed by an even number, and any prime past the range's stop.

use std::fmt;

/// Why a gap-encoded list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GapError {
    /// The bytes ended inside a varint.
    Truncated,
    /// A varint longer than a u128 can hold, or a prime past 2^128-1.
    Overflow,
    /// A gap of zero after an odd prime: the list does not rise strictly.
    NotRising { after: u128 },
    /// A prime past the stop of the range.
    PastStop { prime: u128, stop: u128 },
    /// An even number other than 2.
    Even { number: u128 },
    /// The number of primes decoded differs from the count announced.
    CountMismatch { announced: u64, found: u64 },
}

impl fmt::Display for GapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GapError::Truncated => write!(f, "gap list ends inside a number"),
            GapError::Overflow => write!(f, "gap list holds a number past 2^128-1"),
            GapError::NotRising { after } => write!(f, "gap list repeats {after}"),
            GapError::PastStop { prime, stop } => {
                write!(f, "gap list holds {prime}, past the range's stop {stop}")
            }
            GapError::Even { number } => write!(f, "gap list holds the even number {number}"),
            GapError::CountMismatch { announced, found } => {
                write!(f, "gap list holds {found} primes, {announced} announced")
            }
        }
    }
}

impl std::error::Error for GapError {}

/// Appends `v` to `out` as an unsigned LEB128 varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one unsigned LEB128 varint from `bytes[*pos..]`, advancing `pos`.
#[inline]
pub fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<u128, GapError> {
    let first = *bytes.get(*pos).ok_or(GapError::Truncated)?;
    *pos += 1;
    if first < 0x80 {
        return Ok(first as u128);
    }
    let mut v = (first & 0x7f) as u128;
    let mut shift = 7u32;
    loop {
        let b = *bytes.get(*pos).ok_or(GapError::Truncated)?;
        *pos += 1;
        let low = (b & 0x7f) as u128;
        if shift >= 128 || (shift > 121 && low >> (128 - shift) != 0) {
            return Err(GapError::Overflow);
        }
        v |= low << shift;
        if b < 0x80 {
            return Ok(v);
        }
        shift += 7;
    }
}

/// Encodes ascending primes as gaps, relative to a base.
#[derive(Debug, Clone)]
pub struct GapEncoder {
    prev: Option<u128>,
    base: u128,
    count: u64,
    bytes: Vec<u8>,
}

impl GapEncoder {
    /// An encoder whose first prime is stored relative to `base` (which must not exceed it).
    pub fn new(base: u128) -> Self {
        GapEncoder {
            prev: None,
            base,
            count: 0,
            bytes: Vec::new(),
        }
    }

    /// Appends one prime, which must exceed the previous one and the base.
    #[inline]
    pub fn push(&mut self, p: u128) {
        let v = match self.prev {
            None => p - self.base,
            Some(q) => (p - q - (q == 2) as u128) >> 1,
        };
        put_varint(&mut self.bytes, v);
        self.prev = Some(p);
        self.count += 1;
    }

    /// Appends a run of primes below 2^64 (the sieve's output), a hot path.
    #[inline]
    pub fn push_u64s(&mut self, ps: &[u64]) {
        // The first prime and the one after 2 do not follow the halved-gap rule.
        let mut rest = ps;
        while let Some((&p, tail)) = rest.split_first() {
            if self.prev.is_some() && self.prev != Some(2) {
                break;
            }
            self.push(p as u128);
            rest = tail;
        }
        let Some(prev) = self.prev else { return };
        let mut q = prev as u64;
        self.bytes.reserve(rest.len());
        for &p in rest {
            let v = (p - q) >> 1;
            if v < 0x80 {
                self.bytes.push(v as u8);
            } else {
                put_varint(&mut self.bytes, v as u128);
            }
            q = p;
        }
        self.count += rest.len() as u64;
        self.prev = Some(q as u128);
    }

    /// Number of primes pushed so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The last prime pushed.
    pub fn last(&self) -> Option<u128> {
        self.prev
    }

    /// The encoded bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the encoder, giving the encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Decodes a gap list, checking it as it goes (see the module doc).
#[derive(Debug, Clone)]
pub struct GapDecoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    prev: Option<u128>,
    base: u128,
    stop: u128,
}

impl<'a> GapDecoder<'a> {
    /// A decoder for primes relative to `base` that must not exceed `stop`.
    pub fn new(bytes: &'a [u8], base: u128, stop: u128) -> Self {
        GapDecoder {
            bytes,
            pos: 0,
            prev: None,
            base,
            stop,
        }
    }

    /// A decoder that continues after the prime `prev` (the compact file's blocks).
    pub fn after(bytes: &'a [u8], prev: Option<u128>, base: u128, stop: u128) -> Self {
        GapDecoder {
            bytes,
            pos: 0,
            prev,
            base,
            stop,
        }
    }

    /// The last prime decoded.
    pub fn last(&self) -> Option<u128> {
        self.prev
    }

    /// The next prime, `None` at the end of the bytes.
    #[inline]
    pub fn next_prime(&mut self) -> Result<Option<u128>, GapError> {
        if self.pos >= self.bytes.len() {
            return Ok(None);
        }
        let v = get_varint(self.bytes, &mut self.pos)?;
        let p = match self.prev {
            None => self.base.checked_add(v).ok_or(GapError::Overflow)?,
            Some(q) => {
                if v == 0 && q != 2 {
                    return Err(GapError::NotRising { after: q });
                }
                let d = v
                    .checked_mul(2)
                    .and_then(|d| d.checked_add((q == 2) as u128))
                    .ok_or(GapError::Overflow)?;
                q.checked_add(d).ok_or(GapError::Overflow)?
            }
        };
        if p > self.stop {
            return Err(GapError::PastStop {
                prime: p,
                stop: self.stop,
            });
        }
        if p & 1 == 0 && p != 2 {
            return Err(GapError::Even { number: p });
        }
        self.prev = Some(p);
        Ok(Some(p))
    }

    /// Decodes everything, calling `f` for each prime, and returns how many there were.
    pub fn for_each(mut self, mut f: impl FnMut(u128)) -> Result<u64, GapError> {
        let mut n = 0u64;
        while let Some(p) = self.next_prime()? {
            f(p);
            n += 1;
        }
        Ok(n)
    }
}

/// Checks a gap list for `base..=stop` against the count announced with it.
pub fn check(bytes: &[u8], base: u128, stop: u128, announced: u64) -> Result<(), GapError> {
    let found = GapDecoder::new(bytes, base, stop).for_each(|_| {})?;
    if found != announced {
        return Err(GapError::CountMismatch { announced, found });
    }
    Ok(())
}

/// A 64-bit FNV-1a digest of a byte string: results from different workers for one
/// range are compared by it (see the redundancy level in `docs/PROTOCOL.md`).
pub fn digest(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(base: u128, stop: u128, ps: &[u128]) {
        let mut e = GapEncoder::new(base);
        for &p in ps {
            e.push(p);
        }
        assert_eq!(e.count(), ps.len() as u64);
        let bytes = e.into_bytes();
        let mut got = Vec::new();
        let n = GapDecoder::new(&bytes, base, stop)
            .for_each(|p| got.push(p))
            .unwrap();
        assert_eq!(n, ps.len() as u64);
        assert_eq!(got, ps);
        check(&bytes, base, stop, ps.len() as u64).unwrap();
    }

    #[test]
    fn small_primes_roundtrip() {
        roundtrip(0, 100, &[2, 3, 5, 7, 11, 13, 97]);
        roundtrip(2, 3, &[2, 3]);
        roundtrip(3, 3, &[3]);
        roundtrip(0, 1, &[]);
        roundtrip(0, 2, &[2]);
    }

    #[test]
    fn big_values_roundtrip() {
        let m = u128::MAX;
        roundtrip(0, m, &[m - 158]);
        roundtrip(m - 200, m, &[m - 158]);
        roundtrip(
            1 << 64,
            m,
            &[(1 << 64) + 13, (1 << 64) + 37, (1 << 100) + 277],
        );
    }

    #[test]
    fn u64_bulk_push_matches_single_push() {
        let ps: Vec<u64> = vec![2, 3, 5, 7, 11, 13, 17, 19, 23, 1009, 2003];
        for split in 0..ps.len() {
            let mut a = GapEncoder::new(0);
            a.push_u64s(&ps[..split]);
            a.push_u64s(&ps[split..]);
            let mut b = GapEncoder::new(0);
            for &p in &ps {
                b.push(p as u128);
            }
            assert_eq!(a.bytes(), b.bytes(), "split at {split}");
            assert_eq!(a.count(), b.count());
            assert_eq!(a.last(), b.last());
        }
    }

    #[test]
    fn one_byte_per_gap_below_256() {
        let mut e = GapEncoder::new(1000);
        e.push(1009);
        e.push(1013);
        e.push(1019);
        assert_eq!(e.bytes(), &[9, 2, 3]);
    }

    #[test]
    fn decoder_refuses_bad_lists() {
        assert_eq!(get_varint(&[0x80], &mut 0), Err(GapError::Truncated));
        assert_eq!(get_varint(&[0xff; 20], &mut 0), Err(GapError::Overflow));
        // 3 then a zero gap repeats 3.
        assert_eq!(
            GapDecoder::new(&[3, 0], 0, 100).for_each(|_| {}),
            Err(GapError::NotRising { after: 3 })
        );
        assert_eq!(
            GapDecoder::new(&[101], 0, 100).for_each(|_| {}),
            Err(GapError::PastStop {
                prime: 101,
                stop: 100
            })
        );
        assert_eq!(
            GapDecoder::new(&[4], 0, 100).for_each(|_| {}),
            Err(GapError::Even { number: 4 })
        );
        assert_eq!(
            check(&[3, 1], 0, 100, 3),
            Err(GapError::CountMismatch {
                announced: 3,
                found: 2
            })
        );
        let mut big = Vec::new();
        put_varint(&mut big, u128::MAX);
        put_varint(&mut big, 1);
        assert_eq!(
            GapDecoder::new(&big, 0, u128::MAX).for_each(|_| {}),
            Err(GapError::Overflow)
        );
    }

    #[test]
    fn digest_differs_on_any_change() {
        assert_ne!(digest(&[1, 2, 3]), digest(&[1, 2, 4]));
        assert_ne!(digest(&[]), digest(&[0]));
    }
}
