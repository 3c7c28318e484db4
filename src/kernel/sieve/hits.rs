//! Hit lists for the window's large primes (yafu's and Oliveira e Silva's "hit list"
//! bucket sieve): when a window opens, every sieving prime above the kept limit is set
//! up once and each of its multiples in the window is written down as a 2-byte hit in
//! the list of the 8 KiB block it falls in; sieving a segment then clears its blocks'
//! hits, each block in L1.
//!
//! Why not buckets of primes, as for the kept primes: a window's primes are dropped at
//! its end anyway, so nothing needs to be filed again, and a hit is 2 bytes where a
//! bucket entry is 8. Memory is what bounds a window (a Pi Zero's 64 MiB leaves about
//! 25 for it at 1e18), and every window sets up all of its primes again (50 million
//! at 1e18, 200 million near 2^64), so 4 times the hits per byte of budget means a
//! quarter of the windows and of their set-up.
//!
//! A hit is `byte within block << 3 | bit`: blocks of 2^13 bytes make it exactly 16
//! bits. Each block's list is a chain of pages from one arena (as `Buckets`): a push is
//! a store and an increment, nothing is copied as lists grow, and a block's pages go
//! back to the free list once the sieve has passed the block.

use super::large::{Step210, STEPS210, W210};
use super::*;

/// Bytes per block: a hit's byte offset takes 13 bits, its bit 3.
const BLOCK_SHIFT: u32 = 13;
pub(super) const HIT_BLOCK: u64 = 1 << BLOCK_SHIFT;

/// Hits per page: each block has one part-filled page, and a window has a block per 8
/// KiB, so pages are small (256 against 1024 made windows on 64 MiB 7% longer and the
/// sieve 10% faster at 1e18).
pub(super) const HIT_PAGE: usize = 256;

/// The bit of p*q within its byte, by class of p mod 30 and wheel-210 class of q (the
/// bit `STEPS210[c][j].mask` clears).
static HIT_BIT: [[u8; 64]; 8] = {
    let mut t = [[0u8; 64]; 8];
    let mut c = 0;
    while c < 8 {
        let mut j = 0;
        while j < 48 {
            t[c][j] = BIT_OF[(WHEEL[c] * W210[j] % 30) as usize];
            j += 1;
        }
        c += 1;
    }
    t
};

/// The hits of one window, by block.
pub(super) struct HitLists {
    /// Pages of `HIT_PAGE` hits each; page 0 is never used (a tail of 0: no page).
    arena: Vec<u16>,
    /// Per page: the next full page of the same block (0: none).
    link: Vec<u32>,
    /// Per block: arena index of its next hit (in its filling page; 0: no page).
    tail: Vec<u32>,
    /// Per block: its first full page (0: none).
    full: Vec<u32>,
    /// Pages free for reuse.
    free: Vec<u32>,
    /// Byte index of block 0's first byte.
    base: u64,
    /// Byte index just past the window: no hit is at or past it.
    end: u64,
    /// Blocks before this one have been passed and freed.
    done: usize,
}

impl HitLists {
    pub(super) fn new() -> Self {
        HitLists {
            arena: vec![0; HIT_PAGE],
            link: vec![0],
            tail: Vec::new(),
            full: Vec::new(),
            free: Vec::new(),
            base: 0,
            end: 0,
            done: 0,
        }
    }

    /// Empties the lists (keeping their pages) for a window of bytes `base..end`
    /// (`base` a multiple of the block size).
    pub(super) fn reset(&mut self, base: u64, end: u64) {
        debug_assert!(base % HIT_BLOCK == 0 && base <= end);
        self.clear();
        let blocks = (end - base).div_ceil(HIT_BLOCK) as usize;
        self.tail.clear();
        self.tail.resize(blocks, 0);
        self.full.clear();
        self.full.resize(blocks, 0);
        self.base = base;
        self.end = end;
        self.done = 0;
    }

    /// Byte index just past the window.
    pub(super) fn end(&self) -> u64 {
        self.end
    }

    /// Frees every list (the pages are kept for the next window).
    pub(super) fn clear(&mut self) {
        for block in self.done..self.tail.len() {
            self.free_block(block);
        }
        self.done = self.tail.len();
    }

    /// Makes room for about `hits` hits in all, so the arena is not grown (and copied)
    /// while the window is set up.
    pub(super) fn reserve(&mut self, hits: usize) {
        let want = hits.div_ceil(HIT_PAGE) * HIT_PAGE;
        if want > self.arena.capacity() {
            self.arena.reserve_exact(want - self.arena.len());
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.arena.capacity() * 2
            + (self.link.capacity() + self.free.capacity()) * 4
            + (self.tail.capacity() + self.full.capacity()) * 4
    }

    /// Writes down every multiple p*q at or past byte `byte` and before the window's
    /// end, q prime to 210 and from wheel-210 class `j` on (`byte` is p*q's byte for the
    /// first one).
    #[inline(always)]
    pub(super) fn push_prime(&mut self, p: u64, byte: u64, j: usize) {
        assert!(byte >= self.base && j < 48);
        let c = BIT_OF[(p % 30) as usize] as usize;
        let p30 = p / 30;
        let steps: &[Step210; 64] = &STEPS210[c];
        let bits = &HIT_BIT[c];
        let (mut byte, mut j) = (byte, j);
        let (base, end) = (self.base, self.end);
        let tail = self.tail.as_mut_ptr(); // new_page never moves `tail`
        let mut arena = self.arena.as_mut_ptr();
        while byte < end {
            let rel = byte - base;
            let hit = ((rel & (HIT_BLOCK - 1)) as u16) << 3 | u16::from(bits[j]);
            let block = (rel >> BLOCK_SHIFT) as usize;
            // SAFETY: base <= byte < end, so block < (end - base).div_ceil(HIT_BLOCK) =
            // tail.len() (`reset`); a tail not at a page boundary lies inside an
            // allocated page (`new_page` allocates whole pages), and `arena` is fetched
            // again after `new_page`, which may move it. j stays below 48 (`next`).
            unsafe {
                let mut t = *tail.add(block) as usize;
                if t % HIT_PAGE == 0 {
                    t = self.new_page(block, t);
                    arena = self.arena.as_mut_ptr();
                }
                *arena.add(t) = hit;
                *tail.add(block) = (t + 1) as u32;
            }
            let st = steps[j];
            byte += p30 * u64::from(st.dq) + u64::from(st.corr);
            j = usize::from(st.next);
        }
    }

    /// Gives `block` an empty page (its first, or after the full one ending at `t`)
    /// and returns the page's first index.
    #[cold]
    #[inline(never)]
    fn new_page(&mut self, block: usize, t: usize) -> usize {
        if t != 0 {
            let full = t / HIT_PAGE - 1;
            self.link[full] = self.full[block];
            self.full[block] = full as u32;
        }
        let page = match self.free.pop() {
            Some(page) => page as usize,
            None => {
                let page = self.link.len();
                if self.arena.len() == self.arena.capacity() {
                    // Past what `reserve` foresaw: grow by an eighth, not double, so the
                    // budget's estimate stays close to what is held.
                    self.arena.reserve_exact((page / 8).max(16) * HIT_PAGE);
                }
                self.arena.resize((page + 1) * HIT_PAGE, 0);
                self.link.push(0);
                page
            }
        };
        page * HIT_PAGE
    }

    /// Calls `f` with each run of `block`'s hits (pages, the filling one first).
    #[inline(always)]
    fn for_each_run(&self, block: usize, mut f: impl FnMut(&[u16])) {
        let t = self.tail[block] as usize;
        if t != 0 {
            f(&self.arena[(t - 1) / HIT_PAGE * HIT_PAGE..t]);
        }
        let mut page = self.full[block] as usize;
        while page != 0 {
            f(&self.arena[page * HIT_PAGE..(page + 1) * HIT_PAGE]);
            page = self.link[page] as usize;
        }
    }

    /// Gives `block`'s pages back to the free list.
    fn free_block(&mut self, block: usize) {
        let t = std::mem::take(&mut self.tail[block]) as usize;
        if t != 0 {
            self.free.push(((t - 1) / HIT_PAGE) as u32);
        }
        let mut page = std::mem::take(&mut self.full[block]) as usize;
        while page != 0 {
            self.free.push(page as u32);
            page = self.link[page] as usize;
        }
    }

    /// Clears the hits that fall in `seg`, the bytes from byte `pos` on, and frees the
    /// blocks the sieve is then past.
    pub(super) fn cross_off(&mut self, seg: &mut [u8], pos: u64) {
        let stop = (pos + seg.len() as u64).min(self.end);
        if pos >= stop {
            return;
        }
        let first = ((pos - self.base) >> BLOCK_SHIFT) as usize;
        let last = ((stop - 1 - self.base) >> BLOCK_SHIFT) as usize;
        for block in first..=last {
            let start = self.base + ((block as u64) << BLOCK_SHIFT);
            let block_end = (start + HIT_BLOCK).min(self.end);
            if start >= pos && block_end == start + HIT_BLOCK && block_end <= stop {
                // A whole block inside `seg`: every hit is in it, unchecked by type
                // (a hit's byte is below 2^13).
                let from = (start - pos) as usize;
                let bytes: &mut [u8; HIT_BLOCK as usize] = (&mut seg
                    [from..from + HIT_BLOCK as usize])
                    .try_into()
                    .expect("a block is HIT_BLOCK bytes");
                self.for_each_run(block, |run| {
                    for &hit in run {
                        bytes[usize::from(hit >> 3) & (HIT_BLOCK as usize - 1)] &=
                            !(1u8 << (hit & 7));
                    }
                });
            } else {
                // Part of a block (a call's ends, the window's last block): only the
                // hits inside `seg`.
                let (lo, hi) = (pos.max(start) - start, stop.min(block_end) - start);
                self.for_each_run(block, |run| {
                    for &hit in run {
                        let b = u64::from(hit >> 3);
                        if (lo..hi).contains(&b) {
                            seg[(start + b - pos) as usize] &= !(1u8 << (hit & 7));
                        }
                    }
                });
            }
            if block_end <= stop {
                self.free_block(block);
                self.done = block + 1;
            }
        }
    }

    /// Frees the blocks wholly before byte `to` (a call jumped over them).
    pub(super) fn advance(&mut self, to: u64) {
        while self.done < self.tail.len() {
            let block_end = self.base + ((self.done as u64 + 1) << BLOCK_SHIFT);
            if block_end.min(self.end) > to {
                break;
            }
            self.free_block(self.done);
            self.done += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::large::first_multiple210;
    use super::*;

    /// Hit lists against a plain computation: primes of every size written down for a
    /// window whose end is not a block's, then crossed off in pieces of random length
    /// (parts of blocks, whole blocks, several at once), some jumped over with
    /// `advance`; every byte of every piece not jumped over must come out with exactly
    /// the bits of the multiples p*q (q prime to 210) inside it cleared.
    #[test]
    fn pieces_and_jumps_match_the_multiples() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let mut lists = HitLists::new();
        for round in 0..4 {
            let seg = SEGMENT_BYTES as u64;
            let base = (1u64 << 40) / seg * seg + round * seg;
            let pos = base + next() % 5000;
            let end = base + 3 * seg + 1 + next() % (2 * HIT_BLOCK);
            lists.reset(base, end);
            // The expected bytes, from the same first multiples, stepped by plain
            // arithmetic.
            let mut want = vec![0xffu8; (end - base) as usize];
            let small = crate::kernel::small::primes_up_to(1 << 16);
            let primes =
                small
                    .iter()
                    .map(|&p| u64::from(p))
                    .filter(|&p| p > 7)
                    .step_by(97)
                    // Large ones need only be prime to 30 here.
                    .chain((0..200).map(|_| {
                        30 * ((1 << 15) + next() % (1 << 25)) + WHEEL[(next() % 8) as usize]
                    }));
            for p in primes {
                let (byte, j) = first_multiple210(p, pos * 30);
                lists.push_prime(p, byte, j);
                let mut q = (pos * 30).div_ceil(p);
                loop {
                    if [2, 3, 5, 7].iter().all(|d| q % d != 0) {
                        let n = u128::from(p) * u128::from(q);
                        let b = (n / 30) as u64;
                        if b >= end {
                            break;
                        }
                        want[(b - base) as usize] &= !(1 << BIT_OF[(n % 30) as usize]);
                    }
                    q += 1;
                }
            }
            // Cross off piece by piece from pos; now and then jump.
            let mut at = pos;
            while at < end {
                let len = match next() % 4 {
                    0 => 1 + next() % 40,
                    1 => 1 + next() % (2 * HIT_BLOCK),
                    _ => 1 + next() % seg,
                }
                .min(end - at);
                if next() % 5 == 0 {
                    lists.advance(at + len);
                } else {
                    let mut got = vec![0xffu8; len as usize];
                    lists.cross_off(&mut got, at);
                    let from = (at - base) as usize;
                    let want = &want[from..from + len as usize];
                    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                        panic!(
                            "round {round}: byte {} of {at}..{}: {:#010b}, want {:#010b}",
                            at + i as u64,
                            at + len,
                            got[i],
                            want[i]
                        );
                    }
                }
                at += len;
            }
            // Every page is back on the free list once the window is passed.
            assert_eq!(lists.free.len() + 1, lists.link.len(), "round {round}");
        }
    }
}
