//! Extraction: the sieved bytes into numbers (a word-wise walk of set bits with
//! `trailing_zeros`), counts (popcount), and the masks that clear the numbers outside
//! a range in its first and last bytes.

use super::*;

/// For t = 8*byte + bit within a 64-bit word: the number's offset from 30*(word start).
pub(super) const WORD_OFFSETS: [u64; 64] = {
    let mut t = [0u64; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = 30 * (i as u64 / 8) + WHEEL[i % 8];
        i += 1;
    }
    t
};

/// Mask keeping the numbers >= start in start's byte.
pub(super) fn low_mask(start: u64) -> u8 {
    let r = start % 30;
    let mut m = 0u8;
    for (k, &w) in WHEEL.iter().enumerate() {
        if w >= r {
            m |= 1 << k;
        }
    }
    m
}

/// Mask keeping the numbers <= stop when byte `b` is stop's byte `last`, else all.
pub(super) fn high_mask(b: u64, last: u64, stop: u64) -> u8 {
    if b != last {
        return 0xff;
    }
    let r = stop % 30;
    let mut m = 0u8;
    for (k, &w) in WHEEL.iter().enumerate() {
        if w <= r {
            m |= 1 << k;
        }
    }
    m
}

/// Appends the numbers whose bits are set in `bytes` (at byte index `pos`).
pub(super) fn extract(pos: u64, bytes: &[u8], out: &mut Vec<u64>) {
    let mut base = pos * 30;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut bits = u64::from_le_bytes(w.try_into().unwrap());
        while bits != 0 {
            out.push(base + WORD_OFFSETS[bits.trailing_zeros() as usize]);
            bits &= bits - 1;
        }
        // Past the last word near 2^64 this would overflow, but is then unused.
        base = base.wrapping_add(240);
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    let mut bits = u64::from_le_bytes(tail);
    while bits != 0 {
        out.push(base + WORD_OFFSETS[bits.trailing_zeros() as usize]);
        bits &= bits - 1;
    }
}

/// Number of set bits in `bytes`.
pub(super) fn popcount(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut n: u64 = (&mut words)
        .map(|w| u64::from(u64::from_le_bytes(w.try_into().unwrap()).count_ones()))
        .sum();
    n += words
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>();
    n
}
