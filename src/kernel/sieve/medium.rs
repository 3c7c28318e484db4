//! Medium sieving primes (up to `MEDIUM_MAX`, one segment) and the packed 8-byte form
//! every larger sieving prime shares (`Wheeled`): one loop per class of p mod 30 so
//! that masks and carries are constants, the primes kept in lists by class and wheel
//! position so that the branches into the loop are predicted.

use super::*;

/// One step of a medium prime from the multiple `p*q`, `q` in wheel class `j`, to the
/// next one: clear `mask`, then advance `p/30 * dq + corr` bytes. Indexed by the class
/// of p mod 30 and by `j`.
#[derive(Clone, Copy)]
pub(super) struct Step {
    pub(super) mask: u8,
    pub(super) dq: u8,
    pub(super) corr: u8,
}

pub(super) const STEPS: [[Step; 8]; 8] = {
    let mut t = [[Step {
        mask: 0,
        dq: 0,
        corr: 0,
    }; 8]; 8];
    let mut c = 0;
    while c < 8 {
        let r = WHEEL[c];
        let mut j = 0;
        while j < 8 {
            let w = WHEEL[j];
            let next = if j == 7 { 31 } else { WHEEL[j + 1] };
            // p*q = 30*(p/30)*q + r*q, so byte(p*q) = (p/30)*q + r*q/30.
            t[c][j] = Step {
                mask: !(1u8 << bit_of(r * w % 30)),
                dq: (next - w) as u8,
                corr: ((r * next) / 30 - (r * w) / 30) as u8,
            };
            j += 1;
        }
        c += 1;
    }
    t
};

/// A sieving prime above `SMALL_MAX`, packed into 8 bytes: `(p/30) << 3 | class of
/// p mod 30`, and `next multiple's byte offset << 3 | wheel index of its cofactor`.
/// A medium prime's offset is from the current segment; a bucketed prime's is from the
/// start of the aligned segment its bucket stands for.
#[derive(Clone, Copy)]
pub(super) struct Wheeled {
    pub(super) p30_class: u32,
    pub(super) offset_wheel: u32,
}

impl Wheeled {
    pub(super) fn prime(self) -> u64 {
        30 * u64::from(self.p30_class >> 3) + WHEEL[(self.p30_class & 7) as usize]
    }

    /// A bucketed prime: its offset is followed by 6 bits of wheel-210 class (see
    /// `large::STEPS210`).
    pub(super) fn big(p: u64, offset: u64, wheel210: usize) -> Self {
        Wheeled {
            p30_class: ((p / 30) as u32) << 3 | u32::from(BIT_OF[(p % 30) as usize]),
            offset_wheel: (offset as u32) << 6 | wheel210 as u32,
        }
    }

    pub(super) fn new(p: u64, offset: u64, wheel: usize) -> Self {
        Wheeled {
            p30_class: ((p / 30) as u32) << 3 | u32::from(BIT_OF[(p % 30) as usize]),
            offset_wheel: (offset as u32) << 3 | wheel as u32,
        }
    }
}

/// The medium sieving primes, in two sets of sorted lists: those up to
/// `MEDIUM_DENSE_MAX` hit a segment hundreds of times and cross off a part of it
/// (`MEDIUM_PART`) at a time, so that their hits stay in L2 (a segment is as large as
/// L2, and the lists stream through it too); the larger ones cross off the whole
/// segment at once, as each visit costs a mispredicted exit (splitting them too was
/// 10-20% slower at 1e15).
pub(super) struct Medium {
    dense: Lists,
    sparse: Lists,
}

impl Medium {
    pub(super) fn new() -> Self {
        Medium {
            dense: Lists::new(),
            sparse: Lists::new(),
        }
    }

    /// Adds a medium prime (its offset from the current segment).
    pub(super) fn push(&mut self, w: Wheeled) {
        if w.prime() <= MEDIUM_DENSE_MAX {
            self.dense.push(w);
        } else {
            self.sparse.push(w);
        }
    }

    /// Forgets every prime (keeping the lists' memory).
    pub(super) fn clear(&mut self) {
        self.dense.clear();
        self.sparse.clear();
    }

    /// Every prime, to be set up again in place (a forward skip).
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Wheeled> {
        self.dense.iter_mut().chain(self.sparse.iter_mut())
    }

    /// Entries the lists hold room for.
    pub(super) fn capacity(&self) -> usize {
        self.dense.capacity() + self.sparse.capacity()
    }

    /// Crosses off the medium primes' multiples in `seg`, leaving each prime's offset
    /// from the next segment.
    pub(super) fn cross_off(&mut self, seg: &mut [u8]) {
        for part in seg.chunks_mut(MEDIUM_PART) {
            self.dense.cross_off(part);
        }
        self.sparse.cross_off(seg);
    }
}

/// Medium sieving primes in 64 lists by class of p mod 30 and wheel index of the
/// next multiple's cofactor (primesieve's EratMedium sorts them the same way): after
/// crossing off, each prime is filed under the list of where it stopped, so in the next
/// segment every prime of a list starts at the same step of the same loop and the
/// branches into the loop are predicted. (Unsorted, the mispredicted way into the loop
/// and out of its turns cost as much per prime as its few hits, which kept
/// `MEDIUM_MAX` at a quarter segment.) The order is only for speed: each prime's class
/// and wheel index are read from its own entry.
struct Lists {
    /// The lists being filled.
    lists: Vec<Vec<Wheeled>>,
    /// The lists being read during `cross_off` (empty, their capacity kept, otherwise).
    spare: Vec<Vec<Wheeled>>,
}

/// List of a medium prime: its class of p mod 30 and its next cofactor's wheel index.
fn list_of(w: Wheeled) -> usize {
    ((w.p30_class & 7) << 3 | (w.offset_wheel & 7)) as usize
}

impl Lists {
    fn new() -> Self {
        Lists {
            lists: vec![Vec::new(); 64],
            spare: vec![Vec::new(); 64],
        }
    }

    /// Adds a medium prime (its offset from the current segment).
    fn push(&mut self, w: Wheeled) {
        self.lists[list_of(w)].push(w);
    }

    /// Forgets every prime (keeping the lists' memory).
    fn clear(&mut self) {
        self.lists.iter_mut().for_each(Vec::clear);
    }

    /// Every prime, to be set up again in place (a forward skip): a changed wheel
    /// index leaves a prime in a list not its own until the next `cross_off`, which
    /// is slower once and still right.
    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Wheeled> {
        self.lists.iter_mut().flatten()
    }

    /// Entries the lists hold room for.
    fn capacity(&self) -> usize {
        self.lists
            .iter()
            .chain(&self.spare)
            .map(Vec::capacity)
            .sum()
    }

    /// Crosses off the medium primes' multiples in `seg` and files each prime under
    /// its next multiple's list, with its offset from the next segment.
    fn cross_off(&mut self, seg: &mut [u8]) {
        let len = seg.len();
        std::mem::swap(&mut self.lists, &mut self.spare);
        for i in 0..self.spare.len() {
            let mut list = std::mem::take(&mut self.spare[i]);
            for &mp in &list {
                let off = (mp.offset_wheel >> 3) as usize;
                let j = (mp.offset_wheel & 7) as usize;
                let p30 = (mp.p30_class >> 3) as usize;
                // One copy of the loop per class of p mod 30, so that its masks and
                // carries are constants (all of a list's primes take the same arm).
                let (off, j) = match mp.p30_class & 7 {
                    0 => cross_off_one::<0>(seg, off, j, p30),
                    1 => cross_off_one::<1>(seg, off, j, p30),
                    2 => cross_off_one::<2>(seg, off, j, p30),
                    3 => cross_off_one::<3>(seg, off, j, p30),
                    4 => cross_off_one::<4>(seg, off, j, p30),
                    5 => cross_off_one::<5>(seg, off, j, p30),
                    6 => cross_off_one::<6>(seg, off, j, p30),
                    _ => cross_off_one::<7>(seg, off, j, p30),
                };
                self.push(Wheeled {
                    p30_class: mp.p30_class,
                    offset_wheel: ((off - len) as u32) << 3 | j as u32,
                });
            }
            list.clear();
            self.spare[i] = list;
        }
    }
}

/// Crosses off the multiples of p = 30*p30 + WHEEL[C] in `seg` from byte `off`, whose
/// cofactor has wheel index `j`; returns the first multiple past `seg`, the same way.
/// Every step checks the end, so the only mispredicted branch is the exit (the way in,
/// the rest of the wheel's turn from `j`, runs the same for a whole list).
#[inline(always)]
fn cross_off_one<const C: usize>(
    seg: &mut [u8],
    mut off: usize,
    j: usize,
    p30: usize,
) -> (usize, usize) {
    let len = seg.len();
    let steps = &STEPS[C];
    let d = steps.map(|st| p30 * st.dq as usize + st.corr as usize);
    for k in j..8 {
        if off >= len {
            return (off, k);
        }
        seg[off] &= steps[k].mask;
        off += d[k];
    }
    loop {
        for k in 0..8 {
            if off >= len {
                return (off, k);
            }
            seg[off] &= steps[k].mask;
            off += d[k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Medium primes crossed off segment after segment (their lists reordered each
    /// time, and once set up again in place as a forward skip does) clear exactly the
    /// numbers that one of them divides.
    #[test]
    fn sorted_lists_cross_off_every_multiple() {
        // Primes from just above SMALL_MAX to past a segment of the test: some hit a
        // segment hundreds of times, some not at all.
        let primes: Vec<u64> = primes_up_to(300_000)
            .into_iter()
            .map(u64::from)
            .filter(|&p| p > SMALL_MAX)
            .step_by(97)
            .collect();
        // Longer than MEDIUM_PART, and not a multiple of it, so the dense primes
        // cross off each segment in parts, the last one short.
        let len = MEDIUM_PART * 2 + 12_345;
        let set_up = |medium: &mut Medium, pos: u64| {
            for &p in &primes {
                let (byte, class) = first_multiple(p, 30 * pos);
                medium.push(Wheeled::new(p, byte - pos, class));
            }
        };
        let mut medium = Medium::new();
        let mut pos = 1_000_000_000_000 / 30 + 12_345;
        set_up(&mut medium, pos);
        for round in 0..6 {
            if round == 3 {
                // A forward skip: each prime's first multiple past the gap, in place.
                pos += 3 * len as u64 + 7;
                for w in medium.iter_mut() {
                    let p = w.prime();
                    let (byte, class) = first_multiple(p, 30 * pos);
                    *w = Wheeled::new(p, byte - pos, class);
                }
            }
            let mut seg = vec![0xffu8; len];
            medium.cross_off(&mut seg);
            // The naive way: every multiple of every prime in the segment.
            let mut want = vec![0xffu8; len];
            let (lo, hi) = (30 * pos, 30 * (pos + len as u64));
            for &p in &primes {
                for m in (lo.div_ceil(p) * p..hi).step_by(p as usize) {
                    if let Some(k) = WHEEL.iter().position(|&w| w == m % 30) {
                        want[(m / 30 - pos) as usize] &= !(1 << k);
                    }
                }
            }
            assert!(seg == want, "round {round} at byte {pos}");
            pos += len as u64;
        }
        assert_eq!(medium.iter_mut().count(), primes.len());
    }
}
