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
//! Decoding is the check the master relies on: [`GapDecoder`], the one walker over the
//! encoding, refuses a varint that is too long or overflows, a zero gap after an odd
//! prime (a repeat), an even number other than 2, and any prime past the range's stop.
//! [`check`] walks a list once and returns it as a [`Checked`] value (bytes, range,
//! count, last prime): the only way to make one, so the writers that take it never
//! re-check, and everything that reads primes back walks with [`GapDecoder`].

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

/// The one walker over a gap list: decodes it prime by prime and checks it as it goes
/// (see the module doc). Every reader of the encoding (the master's check, the text and
/// compact writers, `decode`, `verify`) walks with it, so there is one definition of what
/// a valid list is.
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
        Self::after(bytes, None, base, stop)
    }

    /// A decoder that continues after the prime `prev` (the compact file's blocks); with
    /// `prev` `None` the first prime is relative to `base`.
    pub fn after(bytes: &'a [u8], prev: Option<u128>, base: u128, stop: u128) -> Self {
        GapDecoder {
            bytes,
            pos: 0,
            prev,
            base,
            stop,
        }
    }

    /// The last prime decoded (or the `prev` it started after).
    pub fn last(&self) -> Option<u128> {
        self.prev
    }

    /// The next prime, `None` at the end of the bytes.
    #[inline]
    pub fn next_prime(&mut self) -> Result<Option<u128>, GapError> {
        // Hot path: a one-byte halved gap after an odd prime (almost every prime below
        // 1e18). The sum stays odd, so only the stop and overflow need checking.
        if let (Some(q), Some(&b)) = (self.prev, self.bytes.get(self.pos)) {
            if b != 0 && b < 0x80 && q != 2 {
                if let Some(p) = q.checked_add(2 * b as u128).filter(|&p| p <= self.stop) {
                    self.pos += 1;
                    self.prev = Some(p);
                    return Ok(Some(p));
                }
            }
        }
        self.next_slow()
    }

    #[cold]
    fn next_slow(&mut self) -> Result<Option<u128>, GapError> {
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

    /// Walks every remaining prime, calling `f(prime, previous prime)` (the previous is
    /// `None` for the first prime of a list relative to its base); stops at the first
    /// error of the list (through `bad`) or of `f`. The same checks as
    /// [`GapDecoder::next_prime`], with the one-byte gaps in a tight loop over locals:
    /// the writers' hot path.
    #[inline]
    pub fn try_walk<E>(
        &mut self,
        mut f: impl FnMut(u128, Option<u128>) -> Result<(), E>,
        bad: impl Fn(GapError) -> E,
    ) -> Result<(), E> {
        loop {
            if let Some(mut q) = self.prev.filter(|&q| q != 2) {
                let mut pos = self.pos;
                while let Some(&b) = self.bytes.get(pos) {
                    let Some(p) = q.checked_add(2 * b as u128) else {
                        break;
                    };
                    if b == 0 || b >= 0x80 || p > self.stop {
                        break;
                    }
                    pos += 1;
                    let r = f(p, Some(q));
                    q = p;
                    if r.is_err() {
                        (self.pos, self.prev) = (pos, Some(q));
                        return r;
                    }
                }
                (self.pos, self.prev) = (pos, Some(q));
            }
            let prev = self.prev;
            match self.next_slow() {
                Ok(Some(p)) => f(p, prev)?,
                Ok(None) => return Ok(()),
                Err(e) => return Err(bad(e)),
            }
        }
    }

    /// Decodes everything, calling `f` for each prime, and returns how many there were.
    #[inline]
    pub fn for_each(mut self, mut f: impl FnMut(u128)) -> Result<u64, GapError> {
        let mut n = 0u64;
        while let Some(p) = self.next_prime()? {
            f(p);
            n += 1;
        }
        Ok(n)
    }
}

/// A gap list that passed [`check`] (or [`check_after`]): the only way to make one, so
/// a value of this type is proof that its bytes decode within `start..=stop`, rise
/// strictly, hold no even number but 2 and hold `count` primes ending at `last`. The
/// master checks each result into one, the scheduler carries it, and
/// `OutputWriter::append` takes it without walking it a second time for checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    bytes: Vec<u8>,
    start: u128,
    stop: u128,
    prev: Option<u128>,
    count: u64,
    last: Option<u128>,
}

impl Checked {
    /// The encoded primes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The range's first number (the base of the first varint when [`Checked::prev`] is
    /// `None`).
    pub fn start(&self) -> u128 {
        self.start
    }

    /// The range's last number: no prime of the list exceeds it.
    pub fn stop(&self) -> u128 {
        self.stop
    }

    /// The prime the list continues after (compact blocks), `None` for a chunk.
    pub fn prev(&self) -> Option<u128> {
        self.prev
    }

    /// The number of primes in the list.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The list's last prime, `None` when it is empty.
    pub fn last(&self) -> Option<u128> {
        self.last
    }

    /// A walker over the primes (it cannot fail on a checked list, but reports an error
    /// rather than panicking should it ever be asked to).
    pub fn walk(&self) -> GapDecoder<'_> {
        GapDecoder::after(&self.bytes, self.prev, self.start, self.stop)
    }

    /// Gives the bytes back (to reuse the allocation).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Checks the gap list of a chunk `start..=stop` against the count announced with it,
/// returning it as a [`Checked`] list.
pub fn check(bytes: Vec<u8>, start: u128, stop: u128, announced: u64) -> Result<Checked, GapError> {
    let c = check_after(bytes, None, start, stop)?;
    if c.count != announced {
        return Err(GapError::CountMismatch {
            announced,
            found: c.count,
        });
    }
    Ok(c)
}

/// Checks a gap list that continues after the prime `prev` (or, when `None`, starts
/// relative to `start`), with no prime past `stop`.
pub fn check_after(
    bytes: Vec<u8>,
    prev: Option<u128>,
    start: u128,
    stop: u128,
) -> Result<Checked, GapError> {
    let mut dec = GapDecoder::after(&bytes, prev, start, stop);
    let mut count = 0u64;
    dec.try_walk(
        |_, _| {
            count += 1;
            Ok(())
        },
        |e| e,
    )?;
    let last = if count == 0 { None } else { dec.last() };
    Ok(Checked {
        bytes,
        start,
        stop,
        prev,
        count,
        last,
    })
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
        let c = check(bytes.clone(), base, stop, ps.len() as u64).unwrap();
        assert_eq!(
            (c.count(), c.last(), c.bytes()),
            (ps.len() as u64, ps.last().copied(), &bytes[..])
        );
        let mut walked = Vec::new();
        c.walk().for_each(|p| walked.push(p)).unwrap();
        assert_eq!(walked, ps);
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
            check(vec![3, 1], 0, 100, 3).err(),
            Some(GapError::CountMismatch {
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

    /// A reference decoder written apart from the walker: every varint first, then the
    /// primes by the rules of the module doc, then the checks.
    fn reference(bytes: &[u8], base: u128, stop: u128) -> Result<(u64, Option<u128>), GapError> {
        let mut vs = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            vs.push(get_varint(bytes, &mut pos)?);
        }
        let mut prev: Option<u128> = None;
        for &v in &vs {
            let p = match prev {
                None => base.checked_add(v),
                Some(q) if v == 0 && q != 2 => return Err(GapError::NotRising { after: q }),
                Some(q) => v
                    .checked_mul(2)
                    .and_then(|d| d.checked_add((q == 2) as u128))
                    .and_then(|d| q.checked_add(d)),
            }
            .ok_or(GapError::Overflow)?;
            if p > stop {
                return Err(GapError::PastStop { prime: p, stop });
            }
            if p % 2 == 0 && p != 2 {
                return Err(GapError::Even { number: p });
            }
            prev = Some(p);
        }
        Ok((vs.len() as u64, prev))
    }

    #[test]
    fn walker_agrees_with_a_reference_decoder() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = [0u8, 1, 2, 3, 4, 5, 0x7f, 0x80, 0x81, 0xff];
        for _ in 0..200_000 {
            let len = (rnd() % 8) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| alphabet[(rnd() % 10) as usize]).collect();
            let base = [0u128, 1, 2, 3, u128::MAX - 300][(rnd() % 5) as usize];
            let stop = base.saturating_add((rnd() % 600) as u128);
            let got = check_after(bytes.clone(), None, base, stop).map(|c| (c.count(), c.last()));
            let want = reference(&bytes, base, stop);
            // Both refuse the same lists (the first error found may differ in kind: the
            // reference reads every varint before it checks a prime).
            assert_eq!(
                got.is_ok(),
                want.is_ok(),
                "{bytes:?} from {base} to {stop}: {got:?} vs {want:?}"
            );
            if got.is_ok() {
                assert_eq!(got, want, "{bytes:?} from {base} to {stop}");
            }
            // next_prime (one at a time) and try_walk (the tight loop) agree.
            let one = GapDecoder::new(&bytes, base, stop).for_each(|_| {});
            assert_eq!(one, got.map(|(n, _)| n), "{bytes:?} from {base} to {stop}");
        }
    }

    #[test]
    fn digest_differs_on_any_change() {
        assert_ne!(digest(&[1, 2, 3]), digest(&[1, 2, 4]));
        assert_ne!(digest(&[]), digest(&[0]));
    }
}
