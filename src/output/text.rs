//! Text output: one prime per line in decimal, byte-identical to
//! `primesieve START STOP --print`.
//!
//! Speed is the point here (a whole `run 1e9 --out f` should be no slower than
//! primesieve's own printing), so no prime goes through `fmt`. [`Decimal`] keeps the
//! ASCII digits of the current prime and adds each gap to them with a carry, which
//! touches two or three digits on average; each line is then stored with one fixed-size
//! copy into an [`OutBuf`] with slack at its end, and the buffer goes out in large
//! sequential writes. Numbers past 2^64 take the same path; only the first prime of a
//! chunk and multi-byte gaps are converted the slow way.

use crate::gaps::{GapDecoder, GapError};

/// Bytes an [`OutBuf`] holds before it wants flushing: large sequential writes.
pub const BUF_CAP: usize = 1 << 20;
/// Room past [`BUF_CAP`] so that a line can be stored with one fixed-size copy.
const SLACK: usize = 64;
/// Bytes copied per line: the longest line (39 digits of 2^128-1 and `\n`) fits.
const LINE: usize = 48;

/// A byte buffer of [`BUF_CAP`] bytes plus slack, filled by lines and records.
pub struct OutBuf {
    data: Box<[u8]>,
    fill: usize,
}

impl Default for OutBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl OutBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        OutBuf {
            data: vec![0; BUF_CAP + SLACK].into_boxed_slice(),
            fill: 0,
        }
    }

    /// The bytes held.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.fill]
    }

    /// Number of bytes held.
    pub fn len(&self) -> usize {
        self.fill
    }

    /// Holds nothing?
    pub fn is_empty(&self) -> bool {
        self.fill == 0
    }

    /// Holds enough for one large write?
    #[inline]
    pub fn is_full(&self) -> bool {
        self.fill >= BUF_CAP
    }

    /// Forgets the bytes held (after they were written).
    pub fn clear(&mut self) {
        self.fill = 0;
    }

    /// Appends bytes; the caller flushes first when they would not fit in [`BUF_CAP`].
    pub fn put(&mut self, bytes: &[u8]) -> bool {
        if self.fill + bytes.len() > BUF_CAP + SLACK {
            return false;
        }
        self.data[self.fill..self.fill + bytes.len()].copy_from_slice(bytes);
        self.fill += bytes.len();
        true
    }

    #[inline]
    fn put_line(&mut self, d: &Decimal) {
        let at = self.fill;
        self.data[at..at + LINE].copy_from_slice(&d.digits[..LINE]);
        self.fill = at + d.len + 1;
    }
}

/// A number as ASCII decimal digits followed by `\n`, to which gaps are added in place.
#[derive(Clone)]
pub struct Decimal {
    /// `digits[..len]` are the digits, `digits[len]` is `\n`.
    digits: [u8; 64],
    len: usize,
}

impl Default for Decimal {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Decimal {
    /// The decimal form of `v`.
    pub fn new(v: u128) -> Self {
        let mut d = Decimal {
            digits: [0; 64],
            len: 0,
        };
        d.set(v);
        d
    }

    /// Sets the number to `v` (the slow way, once per chunk).
    pub fn set(&mut self, mut v: u128) {
        let mut tmp = [0u8; 40];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let n = tmp.len() - i;
        self.digits[..n].copy_from_slice(&tmp[i..]);
        self.digits[n] = b'\n';
        self.len = n;
    }

    /// The line: digits and `\n`.
    pub fn line(&self) -> &[u8] {
        &self.digits[..=self.len]
    }

    /// Adds a gap below 2^32 (almost always one or two digits' worth) with a carry.
    #[inline]
    pub fn add_small(&mut self, g: u32) {
        let mut c = g;
        let mut i = self.len;
        while c != 0 {
            if i == 0 {
                return self.prepend(c as u128);
            }
            i -= 1;
            let d = (self.digits[i] - b'0') as u32 + c % 10;
            c /= 10;
            if d >= 10 {
                self.digits[i] = (d - 10) as u8 + b'0';
                c += 1;
            } else {
                self.digits[i] = d as u8 + b'0';
            }
        }
    }

    /// Adds any gap; the caller makes sure the sum stays below 2^128.
    pub fn add(&mut self, g: u128) {
        if g <= u32::MAX as u128 {
            return self.add_small(g as u32);
        }
        let mut c = g;
        let mut i = self.len;
        while c != 0 {
            if i == 0 {
                return self.prepend(c);
            }
            i -= 1;
            let d = (self.digits[i] - b'0') as u128 + c % 10;
            c /= 10;
            if d >= 10 {
                self.digits[i] = (d - 10) as u8 + b'0';
                c += 1;
            } else {
                self.digits[i] = d as u8 + b'0';
            }
        }
    }

    /// Puts the digits of the carry `c` in front (the number grew longer).
    fn prepend(&mut self, c: u128) {
        let head = Decimal::new(c);
        let n = head.len;
        self.digits.copy_within(..=self.len, n);
        self.digits[..n].copy_from_slice(&head.digits[..n]);
        self.len += n;
    }
}

/// Writes the primes of a gap list, walked by the one walker ([`GapDecoder`]), as text
/// lines into `out`, calling `flush` whenever the buffer is full; returns the last prime
/// (or the one the walker starts after, when the list is empty). The list is normally
/// checked already; a malformed one gives a `GapError` through `bad` rather than a
/// panic.
pub fn encode<E>(
    mut list: GapDecoder<'_>,
    dec: &mut Decimal,
    out: &mut OutBuf,
    flush: &mut dyn FnMut(&mut OutBuf) -> Result<(), E>,
    bad: &dyn Fn(GapError) -> E,
) -> Result<Option<u128>, E> {
    if let Some(q) = list.last() {
        dec.set(q);
    }
    if out.is_full() {
        flush(out)?;
    }
    list.try_walk(
        |p, prev| {
            // The digits follow the primes by adding each gap with a carry; only the
            // first prime of a chunk is converted the slow way.
            match prev.map(|q| p - q) {
                Some(g) if g <= u32::MAX as u128 => dec.add_small(g as u32),
                Some(g) => dec.add(g),
                None => dec.set(p),
            }
            out.put_line(dec);
            if out.is_full() {
                flush(out)?;
            }
            Ok(())
        },
        bad,
    )?;
    Ok(list.last())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaps::GapEncoder;

    #[test]
    fn decimal_adds_with_carry() {
        let mut d = Decimal::new(7);
        d.add_small(254);
        assert_eq!(d.line(), b"261\n");
        d.add_small(9739);
        assert_eq!(d.line(), b"10000\n");
        let mut d = Decimal::new(u64::MAX as u128 - 10);
        d.add(11);
        assert_eq!(d.line(), format!("{}\n", 1u128 << 64).as_bytes());
        let mut d = Decimal::new(0);
        d.add(u128::MAX);
        assert_eq!(d.line(), format!("{}\n", u128::MAX).as_bytes());
        let mut d = Decimal::new(999_999_999_999);
        d.add(1 << 70);
        assert_eq!(
            d.line(),
            format!("{}\n", 999_999_999_999u128 + (1 << 70)).as_bytes()
        );
    }

    fn text_of(ps: &[u128], base: u128) -> Vec<u8> {
        let mut e = GapEncoder::new(base);
        for &p in ps {
            e.push(p);
        }
        let mut out = OutBuf::new();
        let mut got = Vec::new();
        let mut dec = Decimal::default();
        let mut flush = |o: &mut OutBuf| -> Result<(), GapError> {
            got.extend_from_slice(o.bytes());
            o.clear();
            Ok(())
        };
        let list = GapDecoder::new(e.bytes(), base, u128::MAX);
        let last = encode(list, &mut dec, &mut out, &mut flush, &|e| e).unwrap();
        assert_eq!(last, ps.last().copied());
        got.extend_from_slice(out.bytes());
        got
    }

    #[test]
    fn lines_match_format() {
        let ps: Vec<u128> = vec![2, 3, 5, 7, 11, 97, 101, 1009, 9973, 10007, 99991, 100003];
        let want: String = ps.iter().map(|p| format!("{p}\n")).collect();
        assert_eq!(text_of(&ps, 0), want.as_bytes());
        let ps = vec![u128::MAX - 158, u128::MAX];
        let want: String = ps.iter().map(|p| format!("{p}\n")).collect();
        assert_eq!(text_of(&ps, 1 << 127), want.as_bytes());
    }

    #[test]
    fn malformed_gaps_are_errors() {
        let mut out = OutBuf::new();
        let mut dec = Decimal::default();
        let mut flush = |o: &mut OutBuf| -> Result<(), GapError> {
            o.clear();
            Ok(())
        };
        let from = |bytes| GapDecoder::new(bytes, 0, u128::MAX);
        for bad in [&[3u8, 0][..], &[3, 0x80], &[0xff; 20]] {
            assert!(encode(from(bad), &mut dec, &mut out, &mut flush, &|e| e).is_err());
        }
        let mut big = Vec::new();
        crate::gaps::put_varint(&mut big, u128::MAX);
        big.push(1);
        assert_eq!(
            encode(from(&big), &mut dec, &mut out, &mut flush, &|e| e),
            Err(GapError::Overflow)
        );
    }
}
