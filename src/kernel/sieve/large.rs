//! Large sieving primes: buckets (primesieve's EratBig, Oliveira e Silva's bucket
//! sieve) and windows. A bucketed prime waits in the bucket of the segment its next
//! multiple falls in, so a segment touches only the primes that hit it; buckets are
//! pages from a pool, so nothing is reallocated as they fill and drain. Kept primes
//! (up to the kept limit) live in one ring for as long as the sieve; primes above it
//! are set up per window from the shared table and dropped past the window, so a
//! thread holds only those that hit its window. Also here: the window sizing from the
//! memory budget (entries of a window of B bytes: about min(1, 8B/p) per prime p).

use super::*;

/// `first_multiple` for p above 2^20 (then the cofactor is below 2^44), without u128
/// division: byte(p*q) = (p/30)*q + (p%30)*q/30. `lower_f` is `lower as f64`.
///
/// The quotient comes from a floating-point division (pipelined, unlike the integer
/// divide, and this runs for every large prime in every window): for p > 2^20 the
/// f64 quotient is within 1 of the true one, and the exact remainder fixes it without
/// branches. Conversions go through i64 (one instruction each; all values < 2^63).
#[inline]
pub(super) fn first_multiple_large(p: u64, lower: u64, lower_f: f64) -> (u64, usize) {
    let mut q = (lower_f / p as i64 as f64) as i64 as u64;
    // |lower - q*p| < 2p < 2^34, so the wrapped difference read as i64 is exact.
    let r = lower.wrapping_sub(q.wrapping_mul(p)) as i64;
    let neg = r >> 63; // -1 when q was one too big
    let r = r + (p as i64 & neg);
    q = q.wrapping_add(neg as u64);
    let big = !((r - p as i64) >> 63); // -1 when q was one too small
    q = q.wrapping_sub(big as u64);
    let r = r - (p as i64 & big);
    let q_min = q + u64::from(r != 0);
    let class = NEXT_CLASS[(q_min % 30) as usize] as usize;
    let q = q_min - q_min % 30 + WHEEL[class];
    ((p / 30) * q + (p % 30) * q / 30, class)
}

/// Sieving primes too big to hit every segment (primesieve's EratBig): each waits in
/// the bucket of the aligned segment its next multiple falls in, so a segment only
/// touches the primes that hit it. Buckets are lists of fixed-size pages from a shared
/// pool, so memory is the primes themselves plus at most one part-filled page per
/// bucket, and nothing is reallocated or copied as buckets fill and drain.
pub(super) struct Buckets {
    pub(super) slots: Vec<Bucket>,
    /// Empty pages (capacity `PAGE`) for reuse.
    pub(super) free: Vec<Vec<Wheeled>>,
}

/// One bucket: the page being filled and the full ones before it.
#[derive(Default)]
pub(super) struct Bucket {
    pub(super) filling: Vec<Wheeled>,
    pub(super) full: Vec<Vec<Wheeled>>,
}

impl Buckets {
    pub(super) fn new(ring: usize) -> Self {
        Buckets {
            slots: (0..ring).map(|_| Bucket::default()).collect(),
            free: Vec::new(),
        }
    }

    #[inline]
    pub(super) fn push(&mut self, slot: usize, w: Wheeled) {
        let b = &mut self.slots[slot];
        if b.filling.len() == b.filling.capacity() {
            self.new_page(slot);
        }
        self.slots[slot].filling.push(w);
    }

    /// Gives bucket `slot` an empty page to fill (its first, or after a full one).
    #[cold]
    pub(super) fn new_page(&mut self, slot: usize) {
        let page = self.free.pop().unwrap_or_else(|| Vec::with_capacity(PAGE));
        let b = &mut self.slots[slot];
        let full = std::mem::replace(&mut b.filling, page);
        if full.capacity() > 0 {
            b.full.push(full);
        }
    }

    /// Returns a drained page to the pool.
    pub(super) fn recycle(&mut self, mut page: Vec<Wheeled>) {
        if page.capacity() > 0 {
            page.clear();
            self.free.push(page);
        }
    }

    /// Empties every bucket (after a jump), keeping the pages for reuse.
    pub(super) fn clear(&mut self) {
        for i in 0..self.slots.len() {
            let b = &mut self.slots[i];
            let (filling, full) = (std::mem::take(&mut b.filling), std::mem::take(&mut b.full));
            self.recycle(filling);
            for page in full {
                self.recycle(page);
            }
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        let page_bytes = |p: &Vec<Wheeled>| p.capacity() * std::mem::size_of::<Wheeled>();
        let bucket_bytes = |b: &Bucket| {
            page_bytes(&b.filling)
                + b.full.iter().map(page_bytes).sum::<usize>()
                + b.full.capacity() * std::mem::size_of::<Vec<Wheeled>>()
        };
        self.slots.capacity() * std::mem::size_of::<Bucket>()
            + self.slots.iter().map(bucket_bytes).sum::<usize>()
            + self.free.iter().map(page_bytes).sum::<usize>()
            + self.free.capacity() * std::mem::size_of::<Vec<Wheeled>>()
    }
}

/// The sieving primes above `KEEP_LIMIT` that hit one window of segments: set up when
/// the window opens (one division each, from the shared table), crossed off through
/// their own ring of buckets, and dropped once their next multiple is past the window.
/// So a thread holds only the primes that hit its window, however far up it sieves,
/// and the window's length follows the memory budget.
pub(super) struct Window {
    /// One bucket per segment of the window, and one more.
    pub(super) buckets: Buckets,
    /// Byte index just past the window; no window is open while `pos >= end`.
    pub(super) end: u64,
    /// The shared table the window's primes came from.
    pub(super) table: Option<Arc<PrimeTable>>,
}

impl Window {
    pub(super) fn new() -> Self {
        Window {
            buckets: Buckets::new(0),
            end: 0,
            table: None,
        }
    }

    /// Forgets the window (its primes are all past it when it was sieved through; after
    /// a call ended early nothing may stay either).
    pub(super) fn close(&mut self) {
        self.buckets.clear();
        self.end = 0;
    }
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

/// Bytes a sieve holds apart from its window: the segment, the kept primes and their
/// buckets, the output batch.
pub(super) fn fixed_bytes(keep: u64) -> u64 {
    let kept = pi_bound(keep) as u64 * 8;
    let pages = (ring_for(keep) * PAGE * 8) as u64;
    let out = (BLOCK_BYTES * 8 * 8) as u64;
    SEGMENT_BYTES as u64 + kept + kept / 8 + pages + out + (1 << 20)
}

/// Bytes a window of `segs` segments holds at most, for sieving primes up to `s`:
/// each prime above `KEEP_LIMIT` with a multiple in the window (about min(1, 8B/p) of
/// them, B the window's bytes: a prime hits 8 times per p bytes) is one 8-byte entry,
/// plus a part-filled page per bucket.
pub(super) fn window_bytes(segs: u64, s: u64, k: u64) -> u64 {
    let x = 8 * segs * SEGMENT_BYTES as u64;
    let mut entries = 0.0;
    if x > k {
        entries += pi_bound(x.min(s)) - pi_bound(k) * 0.9;
    }
    if x < s {
        let from = x.max(k) as f64;
        entries += x as f64 * ((s as f64).ln() / from.ln()).ln();
    }
    let pages = (segs + 2) * (PAGE * 8) as u64;
    (entries.max(0.0) * 8.0 * 1.1) as u64 + pages
}

/// Crosses off the multiples of the bucketed primes due in `seg` (at byte `pos`), and
/// files each prime under the aligned segment of its next multiple, unless that is at
/// or past byte `end` (a window's primes are dropped there).
pub(super) fn cross_off_big(seg: &mut [u8], pos: u64, buckets: &mut Buckets, end_byte: u64) {
    let ring = buckets.slots.len() as u64;
    let seg_no = pos / SEGMENT_BYTES as u64;
    let slot = (seg_no % ring) as usize;
    let seg_start = seg_no * SEGMENT_BYTES as u64;
    // Offsets are from the aligned segment's start; `seg` may be only part of it.
    let skip = (pos % SEGMENT_BYTES as u64) as usize;
    let end = skip + seg.len();
    let b = &mut buckets.slots[slot];
    let (filling, mut full) = (std::mem::take(&mut b.filling), std::mem::take(&mut b.full));
    for page in full.drain(..).chain(std::iter::once(filling)) {
        for w in &page {
            let mut off = (w.offset_wheel >> 3) as usize;
            let mut j = (w.offset_wheel & 7) as usize;
            let p30 = (w.p30_class >> 3) as usize;
            let steps = &STEPS[(w.p30_class & 7) as usize];
            while off < end {
                let st = steps[j];
                seg[off - skip] &= st.mask;
                off += p30 * st.dq as usize + st.corr as usize;
                j = (j + 1) & 7;
            }
            if seg_start + off as u64 >= end_byte {
                continue;
            }
            let next = ((seg_no + (off / SEGMENT_BYTES) as u64) % ring) as usize;
            let offset_wheel = ((off % SEGMENT_BYTES) as u32) << 3 | j as u32;
            buckets.push(
                next,
                Wheeled {
                    p30_class: w.p30_class,
                    offset_wheel,
                },
            );
        }
        buckets.recycle(page);
    }
    // Keep the list's capacity for this bucket unless it was refilled meanwhile.
    if buckets.slots[slot].full.is_empty() {
        buckets.slots[slot].full = full;
    }
}
