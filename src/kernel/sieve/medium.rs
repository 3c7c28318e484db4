//! Medium sieving primes (up to `MEDIUM_MAX`, a quarter segment) and the packed
//! 8-byte form every larger sieving prime shares (`Wheeled`): crossed off over the
//! whole segment, one loop per class of p mod 30 so that masks and carries are
//! constants, unrolled per turn of the wheel (8 multiples at fixed distances, p bytes
//! per turn).

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

/// Crosses off the medium primes' multiples in `seg`.
pub(super) fn cross_off_medium(seg: &mut [u8], medium: &mut [Wheeled]) {
    let len = seg.len();
    for mp in medium {
        let off = (mp.offset_wheel >> 3) as usize;
        let j = (mp.offset_wheel & 7) as usize;
        let p30 = (mp.p30_class >> 3) as usize;
        // One copy of the loop per class of p mod 30, so that its masks and carries
        // are constants.
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
        mp.offset_wheel = ((off - len) as u32) << 3 | j as u32;
    }
}

/// Crosses off the multiples of p = 30*p30 + WHEEL[C] in `seg` from byte `off`, whose
/// cofactor has wheel index `j`; returns the first multiple past `seg`, the same way.
#[inline(always)]
pub(super) fn cross_off_one<const C: usize>(
    seg: &mut [u8],
    mut off: usize,
    mut j: usize,
    p30: usize,
) -> (usize, usize) {
    let len = seg.len();
    let steps = &STEPS[C];
    let single = |seg: &mut [u8], off: &mut usize, j: &mut usize| {
        let st = steps[*j];
        seg[*off] &= st.mask;
        *off += p30 * st.dq as usize + st.corr as usize;
        *j = (*j + 1) & 7;
    };
    // Step to the start of a turn of the wheel (cofactor = 1 mod 30)...
    while j != 0 {
        if off >= len {
            return (off, j);
        }
        single(seg, &mut off, &mut j);
    }
    // ...then cross off whole turns: 8 multiples at fixed distances from its start,
    // p bytes per turn.
    let r = WHEEL[C] as usize;
    let d = WHEEL.map(|w| p30 * (w as usize - 1) + r * w as usize / 30);
    let p = 30 * p30 + r;
    while off + d[7] < len {
        let turn = &mut seg[off..off + d[7] + 1];
        for k in 0..8 {
            turn[d[k]] &= steps[k].mask;
        }
        off += p;
    }
    while off < len {
        single(seg, &mut off, &mut j);
    }
    (off, j)
}
