//! Large sieving primes: buckets (primesieve's EratBig, Oliveira e Silva's bucket
//! sieve) and windows. A bucketed prime waits in the bucket of the segment its next
//! multiple falls in, so a segment touches only the primes that hit it; buckets are
//! pages from a pool, so nothing is reallocated as they fill and drain. Kept primes
//! (up to the kept limit) live in one ring for as long as the sieve; primes above it
//! are set up per window from the shared table and dropped past the window, so a
//! thread holds only those that hit its window. Also here: the window sizing from the
//! memory budget (entries of a window of B bytes: about min(1, 48B/7p) per prime p).

use super::*;
use std::ops::Range;

/// The residues prime to 210, ascending: bucketed primes cross off only multiples
/// p*q with q prime to 2, 3, 5 and 7 (primesieve's EratBig wheel), 48 in 210 against 8
/// in 30, so a seventh fewer hits; multiples of 7 are already gone (pre-sieve).
pub(super) const W210: [u64; 48] = {
    let mut t = [0u64; 48];
    let (mut n, mut k) = (1u64, 0);
    while n < 210 {
        if n % 2 != 0 && n % 3 != 0 && n % 5 != 0 && n % 7 != 0 {
            t[k] = n;
            k += 1;
        }
        n += 1;
    }
    t
};

/// For m = q mod 210: the index in `W210` of the least residue >= m.
const NEXT210: [u8; 210] = {
    let mut t = [0u8; 210];
    let mut m = 0;
    while m < 210 {
        let mut k = 0;
        while W210[k] < m as u64 {
            k += 1;
        }
        t[m] = k as u8;
        m += 1;
    }
    t
};

/// For m = q mod 210: how far the least number >= q prime to 210 is from q.
const ADVANCE210: [u8; 210] = {
    let mut t = [0u8; 210];
    let mut m = 0;
    while m < 210 {
        t[m] = (W210[NEXT210[m] as usize] - m as u64) as u8;
        m += 1;
    }
    t
};

/// One step of a bucketed prime p = 30*p30 + r from the multiple p*q, q in wheel-210
/// class j, to the next: clear `mask` in the byte, advance `p30 * dq + corr` bytes,
/// go on in class `next`. 4 bytes, so an index is a shift.
#[derive(Clone, Copy)]
pub(super) struct Step210 {
    pub(super) mask: u8,
    pub(super) dq: u8,
    pub(super) corr: u8,
    pub(super) next: u8,
}

/// `Step210` by class of p mod 30 (bit order) and wheel-210 class of q; rows of 64
/// (the last 16 unused) so that an entry's packed class bits index it with a shift.
pub(super) static STEPS210: [[Step210; 64]; 8] = {
    let mut t = [[Step210 {
        mask: 0,
        dq: 0,
        corr: 0,
        next: 0,
    }; 64]; 8];
    let mut c = 0;
    while c < 8 {
        let r = WHEEL[c];
        let mut j = 0;
        while j < 48 {
            let w = W210[j];
            let next = if j == 47 { 211 } else { W210[j + 1] };
            // q = 210a + w: byte(p*q) = p30*q + 7ra + floor(r*w/30), so going from w
            // to next adds p30*(next - w) + floor(r*next/30) - floor(r*w/30).
            t[c][j] = Step210 {
                mask: !(1u8 << BIT_OF[(r * w % 30) as usize]),
                dq: (next - w) as u8,
                corr: ((r * next) / 30 - (r * w) / 30) as u8,
                next: if j == 47 { 0 } else { j as u8 + 1 },
            };
            j += 1;
        }
        c += 1;
    }
    t
};

/// The least multiple `p*q >= lower` with `q` prime to 210, as (byte index, wheel-210
/// class of q).
pub(super) fn first_multiple210(p: u64, lower: u64) -> (u64, usize) {
    let q_min = lower.div_ceil(p);
    let m = (q_min % 210) as usize;
    let q = q_min - m as u64 + W210[NEXT210[m] as usize];
    // At most (2^64 - 1 + 210p) / 30 < 2^64.
    (byte_of(p, q), NEXT210[m] as usize)
}

/// `first_multiple210(p, 30 * pos)` for p in 2^20..2^32 without an integer division: a
/// window sets up every large prime this way (200 million near 2^64), so this is the
/// window's cost. `low_f` is `(30 * pos) as f64`.
///
/// The quotient low/p comes from a floating-point division (pipelined, unlike the
/// integer divide), rounded to the nearest integer by adding 1.5 * 2^52 and reading the
/// bits (exact below 2^51, ours are below 2^44; `as i64` would cost a saturating
/// conversion). low_f is off by at most 2^11 and p > 2^20, so the rounded quotient is
/// floor(low/p) or ceil(low/p), and the sign of q*p - low tells which. Then with
/// d = p*q - low for the wanted q (the least >= low/p prime to 210), the multiple's byte
/// is pos + d/30, as low = 30 * pos: no product near 2^64 is ever formed. (For the
/// least q prime to 210: this sets up bucketed primes.)
#[cfg(test)]
fn first_multiple_window(p: u64, pos: u64, low: u64, low_f: f64) -> (u64, usize) {
    multiple_from_quotient(p, rounded_quotient(p, low_f), pos, low)
}

/// low/p rounded to the nearest integer (see `first_multiple_window`).
#[inline(always)]
fn rounded_quotient(p: u64, low_f: f64) -> u64 {
    const MAGIC: f64 = 6755399441055744.0; // 1.5 * 2^52
    (low_f / p as i64 as f64 + MAGIC)
        .to_bits()
        .wrapping_sub(MAGIC.to_bits())
}

/// `rounded_quotient` of each prime of `batch` (at most 256), in a loop of its own that
/// the compiler vectorises (the divisions are most of a set-up's cost).
#[inline(always)]
fn rounded_quotients(batch: &[u64], low_f: f64) -> [u64; 256] {
    let mut quotients = [0u64; 256];
    for (q, &p) in quotients.iter_mut().zip(batch) {
        *q = rounded_quotient(p, low_f);
    }
    quotients
}

/// The rest of `first_multiple_window`, from `q`, low/p rounded.
#[cfg(test)]
fn multiple_from_quotient(p: u64, q: u64, pos: u64, low: u64) -> (u64, usize) {
    let (d, class) = distance_from_quotient(p, q, low);
    (pos + d / 30, usize::from(class))
}

/// From `q`, low/p rounded (see `first_multiple_window`): the distance from `low` to
/// the least multiple p*q' >= low with q' prime to 210, and the wheel-210 class of q'.
/// Branch-free, so that a loop of it over a batch has no mispredictions.
#[inline(always)]
fn distance_from_quotient(p: u64, q: u64, low: u64) -> (u64, u8) {
    // q*p - low is in (-p, p), so the wrapped difference read as i64 is exact.
    let d = q.wrapping_mul(p).wrapping_sub(low) as i64;
    let short = d >> 63; // -1 when q was floor(low/p) < low/p: one more
    let d0 = (d + (p as i64 & short)) as u64; // p*ceil(low/p) - low, in 0..p
    let q_min = q.wrapping_sub(short as u64);
    let m = (q_min % 210) as usize;
    (d0 + u64::from(ADVANCE210[m]) * p, NEXT210[m])
}

/// Writes down, in `hitting` (index, wheel-210 class) and `dist` (distance from
/// `low`), the primes of `batch` whose first multiple from `low` on is within `span`,
/// and (with `SQUARES`) those whose square is past `low`; returns how many. One loop
/// without branches: most primes of a short window have no multiple in it, and this is
/// all they cost.
#[inline(always)]
fn pick_hitting<const SQUARES: bool>(
    batch: &[u64],
    quotients: &[u64; 256],
    low: u64,
    span: u64,
    hitting: &mut [(u8, u8); 256],
    dist: &mut [u64; 256],
) -> usize {
    let mut n = 0;
    for (i, (&q, &p)) in quotients.iter().zip(batch).enumerate() {
        let (d, class) = distance_from_quotient(p, q, low);
        hitting[n & 255] = (i as u8, class);
        dist[n & 255] = d;
        let pick = if SQUARES {
            d < span || p * p > low
        } else {
            d < span
        };
        n += usize::from(pick);
    }
    n
}

/// Sets up the primes of `batch` (all in 2^20..2^32, each with p^2 at most the
/// window's top): writes down each one's multiples from byte `pos` to the window's
/// end in `hits`; returns how many primes have one. This is a window's whole set-up
/// cost: near 2^64 it runs for 200 million primes, so it is one tight loop over a
/// batch from the table.
#[inline(never)]
pub(super) fn set_up_batch(batch: &[u64], pos: u64, hits: &mut HitLists) -> u64 {
    let low = pos * 30;
    let low_f = low as f64;
    let end = hits.end();
    // Numbers from `low` to the window's end.
    let span = (end - pos) * 30;
    let mut set_up = 0;
    for batch in batch.chunks(256) {
        let quotients = rounded_quotients(batch, low_f);
        // The first multiple of each prime from `low` on, as a distance from `low`,
        // and which primes hit the window: a loop without branches. Most primes of a
        // short window have no multiple in it, and this is all they cost.
        let mut hitting = [(0u8, 0u8); 256];
        let mut dist = [0u64; 256];
        // Primes ascend: unless the window starts below the last one's square (the
        // range's first window only), every square is behind it and need not be
        // compared.
        let n = if batch.last().is_some_and(|&p| p * p <= low) {
            pick_hitting::<false>(batch, &quotients, low, span, &mut hitting, &mut dist)
        } else {
            pick_hitting::<true>(batch, &quotients, low, span, &mut hitting, &mut dist)
        };
        for (&(i, class), &d) in hitting[..n].iter().zip(&dist[..n]) {
            let p = batch[usize::from(i)];
            if p * p <= low {
                hits.push_prime(p, pos + d / 30, usize::from(class));
                set_up += 1;
            } else {
                // Only where the window starts below p^2 (the range's first window).
                let (byte, class) = first_multiple210(p, p * p);
                if byte < end {
                    hits.push_prime(p, byte, class);
                    set_up += 1;
                }
            }
        }
    }
    set_up
}

/// Sets up the kept bucketed primes of `batch` (all in 2^20..2^32) from byte `pos`
/// on: each is filed under the segment of its first multiple from `pos` (or from its
/// square, where that is further), found without an integer division as a window's
/// are (`set_up_batch`).
pub(super) fn set_up_kept_batch(batch: &[u64], pos: u64, buckets: &mut Buckets) {
    let low = pos * 30;
    let low_f = low as f64;
    for batch in batch.chunks(256) {
        let quotients = rounded_quotients(batch, low_f);
        for (&q, &p) in quotients.iter().zip(batch) {
            let (byte, class) = if p * p <= low {
                let (d, class) = distance_from_quotient(p, q, low);
                (pos + d / 30, usize::from(class))
            } else {
                first_multiple210(p, p * p)
            };
            let seg = byte / SEGMENT_BYTES as u64;
            buckets.push(seg, Wheeled::big(p, byte % SEGMENT_BYTES as u64, class));
        }
    }
}

/// Sieving primes too big to hit every segment (primesieve's EratBig): each waits in
/// the bucket of the aligned segment its next multiple falls in, so a segment only
/// touches the primes that hit it.
///
/// The ring of buckets has a power-of-two length, so a segment's bucket is its number
/// masked (a division per crossed-off multiple cost a quarter of the sieve's time).
/// Every bucket is a list of fixed-size pages in one arena, addressed by index: a push
/// is a store and an increment, a full page is noticed by the write index reaching a
/// page boundary (primesieve's aligned buckets), and drained pages go back to a free
/// list, so nothing is reallocated or copied as buckets fill and drain. Page 0 is never
/// used: a write index of 0 means "no page yet".
pub(super) struct Buckets {
    /// Pages of `PAGE` entries each.
    arena: Vec<Wheeled>,
    /// Per page: the next full page of the same bucket (0: none).
    link: Vec<u32>,
    /// Per bucket: arena index of its next entry (in its filling page; 0: no page).
    tail: Vec<u32>,
    /// Per bucket: its first full page (0: none).
    full: Vec<u32>,
    /// Pages free for reuse.
    free: Vec<u32>,
    /// Ring length - 1.
    mask: usize,
}

const NO_ENTRY: Wheeled = Wheeled {
    p30_class: 0,
    offset_wheel: 0,
};

impl Buckets {
    /// A ring of at least `ring` buckets (rounded up to a power of two).
    pub(super) fn new(ring: usize) -> Self {
        let ring = ring.max(1).next_power_of_two();
        Buckets {
            arena: vec![NO_ENTRY; PAGE],
            link: vec![0],
            tail: vec![0; ring],
            full: vec![0; ring],
            free: Vec::new(),
            mask: ring - 1,
        }
    }

    /// Buckets in the ring.
    pub(super) fn ring(&self) -> usize {
        self.mask + 1
    }

    /// Files `w` under the bucket of aligned segment number `seg`.
    #[inline(always)]
    pub(super) fn push(&mut self, seg: u64, w: Wheeled) {
        let slot = seg as usize & self.mask;
        let mut t = self.tail[slot] as usize;
        if t % PAGE == 0 {
            t = self.new_page(slot, t);
        }
        self.arena[t] = w;
        self.tail[slot] = (t + 1) as u32;
    }

    /// Gives bucket `slot` an empty page (its first, or after the full one ending at
    /// `t`) and returns the page's first index.
    #[cold]
    #[inline(never)]
    fn new_page(&mut self, slot: usize, t: usize) -> usize {
        if t != 0 {
            let full = t / PAGE - 1;
            self.link[full] = self.full[slot];
            self.full[slot] = full as u32;
        }
        let page = match self.free.pop() {
            Some(page) => page as usize,
            None => {
                let page = self.link.len();
                if self.arena.len() == self.arena.capacity() {
                    // Past what `reserve` foresaw: grow by an eighth, not double, so the
                    // budget's estimate stays close to what is held.
                    self.arena.reserve_exact((page / 8).max(16) * PAGE);
                }
                self.arena.resize((page + 1) * PAGE, NO_ENTRY);
                self.link.push(0);
                page
            }
        };
        page * PAGE
    }

    /// Detaches bucket `slot` and hands each run of its entries (an index range in
    /// the arena) to `f`, freeing each page once `f` is done with it: entries `f` files
    /// meanwhile may take freed pages, never one still being read.
    #[inline(always)]
    fn drain(&mut self, slot: usize, f: impl FnMut(&mut Self, Range<usize>)) {
        let t = std::mem::take(&mut self.tail[slot]) as usize;
        let page = std::mem::take(&mut self.full[slot]) as usize;
        self.drain_chain(t, page, f);
    }

    /// `drain` of a bucket already detached: its filling page's write index `t` and
    /// its first full page.
    #[inline(always)]
    fn drain_chain(
        &mut self,
        t: usize,
        mut page: usize,
        mut f: impl FnMut(&mut Self, Range<usize>),
    ) {
        if t != 0 {
            let start = (t - 1) / PAGE * PAGE;
            f(self, start..t);
            self.free.push((start / PAGE) as u32);
        }
        while page != 0 {
            f(self, page * PAGE..(page + 1) * PAGE);
            let next = self.link[page] as usize;
            self.free.push(page as u32);
            page = next;
        }
    }

    /// Files every entry again under its first multiple from byte `pos` (after a long
    /// skip forwards), found as at set-up: a batch without divisions. All buckets are
    /// detached first, so no entry is taken twice, and each page is freed once read,
    /// so the entries are never all copied out at once (58 MB of them at 2^27).
    pub(super) fn refile_from(&mut self, pos: u64) {
        let ring = self.tail.len();
        let tails = std::mem::replace(&mut self.tail, vec![0; ring]);
        let fulls = std::mem::replace(&mut self.full, vec![0; ring]);
        for (&t, &page) in tails.iter().zip(&fulls) {
            self.drain_chain(t as usize, page as usize, |b, run| {
                let mut primes = [0u64; PAGE];
                let n = run.len();
                for (p, w) in primes.iter_mut().zip(&b.arena[run]) {
                    *p = w.prime();
                }
                set_up_kept_batch(&primes[..n], pos, b);
            });
        }
    }

    /// Empties every bucket (after a jump), keeping the pages for reuse.
    pub(super) fn clear(&mut self) {
        for slot in 0..self.ring() {
            self.drain(slot, |_, _| {});
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.arena.len() * std::mem::size_of::<Wheeled>()
            + (self.link.capacity() + self.free.capacity()) * 4
            + (self.tail.capacity() + self.full.capacity()) * 4
    }

    /// Crosses off the multiples of the primes in the bucket of `seg` (at byte `pos`),
    /// and files each prime under the aligned segment of its next multiple.
    pub(super) fn cross_off(&mut self, seg: &mut [u8], pos: u64) {
        let seg_no = pos / SEGMENT_BYTES as u64;
        let slot = seg_no as usize & self.mask;
        // Offsets are from the aligned segment's start; `seg` may be only part of it.
        let skip = (pos % SEGMENT_BYTES as u64) as usize;
        let end = skip + seg.len();
        if skip == 0 {
            self.drain(slot, |b, run| b.walk::<UNCHECKED>(seg, run, seg_no, 0, end));
        } else {
            // Only where a call began inside the segment: checked indexing, so that a
            // broken invariant panics rather than writes out of bounds.
            self.drain(slot, |b, run| {
                b.walk::<CHECKED>(seg, run, seg_no, skip, end)
            });
        }
    }

    /// `cross_off` for primes that hit a segment about once or less (above
    /// `MEDIUM_MAX`), primesieve's EratBig way on whole segments: each entry crosses off
    /// one multiple and is filed again, even in this segment's own bucket, which is
    /// drained until nothing is filed in it again. No loop per entry, so no
    /// mispredicted loop exit per entry: that exit, once per prime per segment, was most
    /// of the time at 1e15. A part of a segment (a call's ends) goes through `cross_off`.
    pub(super) fn cross_off_single(&mut self, seg: &mut [u8], pos: u64) {
        if pos % SEGMENT_BYTES as u64 != 0 || seg.len() != SEGMENT_BYTES {
            return self.cross_off(seg, pos);
        }
        let seg_no = pos / SEGMENT_BYTES as u64;
        let slot = seg_no as usize & self.mask;
        while self.tail[slot] != 0 || self.full[slot] != 0 {
            self.drain(slot, |b, run| b.cross_off_all(seg, run, seg_no));
        }
    }

    /// Moves the entries of segment `seg_no`'s bucket past offset `upto` without
    /// crossing anything off (a call jumped over them), filing each under its next
    /// multiple's segment.
    pub(super) fn advance(&mut self, seg_no: u64, upto: usize) {
        let slot = seg_no as usize & self.mask;
        self.drain(slot, |b, run| b.walk::<SKIP>(&mut [], run, seg_no, 0, upto));
    }

    /// One multiple of each entry, all in `seg` (a whole segment); each is filed again
    /// under its next multiple's segment.
    #[inline(always)]
    fn cross_off_all(&mut self, seg: &mut [u8], entries: Range<usize>, seg_no: u64) {
        assert!(entries.end <= self.arena.len() && seg.len() == SEGMENT_BYTES);
        let mask = self.mask;
        let seg_ptr = seg.as_mut_ptr();
        let tail = self.tail.as_mut_ptr(); // new_page never moves `tail`
        let mut arena = self.arena.as_mut_ptr();
        for i in entries {
            // SAFETY: i < arena.len() (asserted; the arena only grows); an offset is
            // below SEGMENT_BYTES = seg.len() (it is taken % SEGMENT_BYTES when filed);
            // the class index (p30_class & 7) << 6 | j is below 512 (j < 64); slot <=
            // mask < tail.len(); a tail not at a page boundary lies inside an allocated
            // page (`new_page` allocates whole pages). `arena` is fetched again after
            // `new_page`, which may move it.
            unsafe {
                let w = *arena.add(i);
                let mut off = (w.offset_wheel >> 6) as usize;
                let k = ((w.p30_class & 7) << 6 | (w.offset_wheel & 63)) as usize;
                let st = *STEPS210.as_ptr().cast::<Step210>().add(k);
                *seg_ptr.add(off) &= st.mask;
                off += (w.p30_class >> 3) as usize * st.dq as usize + st.corr as usize;
                let slot = (seg_no as usize + off / SEGMENT_BYTES) & mask;
                let mut t = *tail.add(slot) as usize;
                if t % PAGE == 0 {
                    t = self.new_page(slot, t);
                    arena = self.arena.as_mut_ptr();
                }
                *arena.add(t) = Wheeled {
                    p30_class: w.p30_class,
                    offset_wheel: ((off % SEGMENT_BYTES) as u32) << 6 | u32::from(st.next),
                };
                *tail.add(slot) = (t + 1) as u32;
            }
        }
    }

    /// Steps each entry over every multiple below offset `end` (clearing it in `seg`,
    /// whose first byte is offset `skip`, as `MODE` says), then files it under its next
    /// multiple's segment.
    #[inline(always)]
    fn walk<const MODE: u8>(
        &mut self,
        seg: &mut [u8],
        entries: Range<usize>,
        seg_no: u64,
        skip: usize,
        end: usize,
    ) {
        assert!(entries.end <= self.arena.len());
        assert!(MODE != UNCHECKED || (skip == 0 && end <= seg.len()));
        let mask = self.mask;
        let seg_ptr = seg.as_mut_ptr();
        let tail = self.tail.as_mut_ptr(); // new_page never moves `tail`
        let mut arena = self.arena.as_mut_ptr();
        for i in entries {
            // SAFETY: as in `cross_off_all`; an UNCHECKED write is at off < end <=
            // seg.len() (asserted), skip being 0.
            unsafe {
                let w = *arena.add(i);
                let mut off = (w.offset_wheel >> 6) as usize;
                let mut j = (w.offset_wheel & 63) as usize;
                let p30 = (w.p30_class >> 3) as usize;
                let steps = STEPS210
                    .as_ptr()
                    .cast::<Step210>()
                    .add(((w.p30_class & 7) << 6) as usize);
                while off < end {
                    let st = *steps.add(j);
                    match MODE {
                        UNCHECKED => *seg_ptr.add(off) &= st.mask,
                        CHECKED => seg[off - skip] &= st.mask,
                        _ => {}
                    }
                    off += p30 * st.dq as usize + st.corr as usize;
                    j = st.next as usize;
                }
                let slot = (seg_no as usize + off / SEGMENT_BYTES) & mask;
                let mut t = *tail.add(slot) as usize;
                if t % PAGE == 0 {
                    t = self.new_page(slot, t);
                    arena = self.arena.as_mut_ptr();
                }
                *arena.add(t) = Wheeled {
                    p30_class: w.p30_class,
                    offset_wheel: ((off % SEGMENT_BYTES) as u32) << 6 | j as u32,
                };
                *tail.add(slot) = (t + 1) as u32;
            }
        }
    }
}

/// `Buckets::walk` modes: clear multiples without bounds checks (a segment from its
/// start), with them (a segment from inside), or not at all (moving over a gap).
const UNCHECKED: u8 = 0;
const CHECKED: u8 = 1;
const SKIP: u8 = 2;

/// The sieving primes above the kept limit that hit one window of segments: set up
/// when the window opens (from the shared table), each of their multiples in the
/// window written down in its block's hit list ([`HitLists`]). So a thread holds only
/// the window's hits, however far up it sieves, and the window's length follows the
/// memory budget.
pub(super) struct Window {
    /// The window's hits, by 8 KiB block.
    pub(super) hits: HitLists,
    /// Byte index just past the window; no window is open while `pos >= end`.
    pub(super) end: u64,
    /// The window holds the sieving primes above `lo` and up to `hi`.
    pub(super) lo: u64,
    pub(super) hi: u64,
    /// Every sieving prime above the kept limit and up to this is set up (its hits in
    /// the window written down); a call with a higher stop adds the rest.
    pub(super) root: u64,
    /// The shared table the window's primes came from.
    pub(super) table: Option<Arc<PrimeTable>>,
}

impl Window {
    pub(super) fn new() -> Self {
        Window {
            hits: HitLists::new(),
            end: 0,
            lo: 0,
            hi: 0,
            root: 0,
            table: None,
        }
    }

    /// Forgets the window (after a call ended early nothing may stay).
    pub(super) fn close(&mut self) {
        self.hits.clear();
        self.end = 0;
    }
}

/// How a sieve windows its large primes for some stop: those up to `split` in windows
/// of `segs[0]` segments, those above in windows of `segs[1]` (one tier when `split`
/// is the kept limit).
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    pub(super) split: u64,
    pub(super) segs: [u64; 2],
}

/// The most segments (up to `MAX_WINDOW_SEGMENTS`) whose window's `bytes` fit in
/// `free`; `None` when not even one does.
pub(super) fn most_segments(free: u64, bytes: impl Fn(u64) -> u64) -> Option<u64> {
    if bytes(1) > free {
        return None;
    }
    let (mut lo, mut hi) = (1, MAX_WINDOW_SEGMENTS);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if bytes(mid) <= free {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(lo)
}

/// sqrt of the last number of stop's byte (every number of a sieved byte is sieved
/// completely; see `sieve_segment`).
pub(super) fn stop_root(stop: u64) -> u64 {
    let byte_end = (stop / 30).saturating_mul(30).saturating_add(29);
    byte_end.isqrt()
}

/// Upper bound of pi(x) (Dusart: pi(x) < 1.25506 x / ln x for x > 1).
pub(super) fn pi_bound(x: u64) -> f64 {
    if x < 17 {
        return 7.0;
    }
    let x = x as f64;
    1.25506 * x / x.ln()
}

/// Bytes a sieve holds apart from its window, for sieving primes up to `s`: the
/// segment, the kept primes and their buckets, the output batch (the primes of one
/// block: fewer high up), the stream's inner sieve and the medium primes' second set
/// of lists, and what its process holds around it (a worker's chunk results and
/// frames). Measured: a worker at `--memory 64` at 1e18 peaked at 61.8 MiB.
pub(super) fn fixed_bytes(keep: u64, s: u64) -> u64 {
    let kept = pi_bound(keep) as u64 * 8;
    let pages = (ring_for(keep) * PAGE * 8) as u64;
    // A block's primes: at most one per bit; about 30/ln(s^2) per byte high up (with
    // half again to spare).
    let per_byte = (30.0 / (2.0 * (s.max(2) as f64).ln()) * 1.5).min(8.0);
    let out = (BLOCK_BYTES as f64 * per_byte) as u64 * 8;
    // The stream's inner sieves: one, and a second past SMALL_MAX^2.
    let stream_and_medium = 2 * SEGMENT_BYTES as u64 + (2 << 20);
    let process = 2 << 20;
    SEGMENT_BYTES as u64 + kept + kept / 8 + pages + out + (1 << 20) + stream_and_medium + process
}

/// Bytes a window of `segs` segments holds at most, for sieving primes up to `s`
/// above the kept limit `k`: 2 bytes per hit, plus a part-filled page and the list
/// heads per block.
pub(super) fn window_bytes(segs: u64, s: u64, k: u64) -> u64 {
    let bytes = segs * SEGMENT_BYTES as u64;
    let blocks = bytes.div_ceil(HIT_BLOCK);
    window_hits(bytes, s, k) * 2 + blocks * (HIT_PAGE as u64 * 2 + 8)
}

/// Hits in a window of `bytes` bytes of the sieving primes in `k..=s` (with a tenth
/// to spare): on the wheel of 210 a prime p hits 48 times per 7p bytes, and the sum of
/// 1/p over the primes in k..=s is about ln(ln s / ln k) (Mertens).
pub(super) fn window_hits(bytes: u64, s: u64, k: u64) -> u64 {
    if s <= k {
        return 0;
    }
    let sum = ((s as f64).ln() / (k.max(2) as f64).ln()).ln();
    (bytes as f64 * 48.0 / 7.0 * sum * 1.1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `byte_of` (u64 only) against the u128 product, at random and extreme values.
    #[test]
    fn byte_of_matches_the_u128_product() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let check = |p: u64, q: u64| {
            let want = u128::from(p) * u128::from(q) / 30;
            if want <= u128::from(u64::MAX) {
                assert_eq!(u128::from(byte_of(p, q)), want, "p {p} q {q}");
            }
        };
        for _ in 0..100_000 {
            let p = 7 + next() % (1 << 32);
            let q = next() % (u64::MAX / p + 211);
            check(p, q);
        }
        let p = 4_294_967_291; // the largest prime below 2^32
        for q in [u64::MAX / p, u64::MAX / p + 1, u64::MAX / p + 209, 1, 0] {
            check(p, q);
        }
        check(7, u64::MAX / 7);
        check(7, u64::MAX);
    }

    /// The division-free set-up against the plain one, at random primes and heights up
    /// to 2^64 and at the ends (multiples exactly at low, the top byte).
    #[test]
    fn first_multiple_window_matches_first_multiple() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let check = |p: u64, pos: u64| {
            let low = 30 * pos;
            assert_eq!(
                first_multiple_window(p, pos, low, low as f64),
                first_multiple210(p, low),
                "p {p} pos {pos}"
            );
        };
        let top_pos = u64::MAX / 30;
        for _ in 0..200_000 {
            let p = (1 << 20) + next() % ((1 << 32) - (1 << 20));
            check(p, next() % (top_pos + 1));
            check(p, top_pos - next() % 1000);
            // low a multiple of p (d = 0) and just past one.
            let k = next() % (top_pos / p);
            let m = k * p; // a multiple of p, as a number; its byte's start
            check(p, m / 30);
            check(p, m / 30 + 1);
        }
        check((1 << 32) - 5, top_pos);
        check((1 << 20) + 7, top_pos);
    }
}
