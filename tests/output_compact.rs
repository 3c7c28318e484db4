//! The compact format: decode gives exactly the text file of the same job (small
//! primes, numbers straddling 2^64, up to 2^128-1, empty jobs), the bytes do not depend
//! on the chunk boundaries, and damage or truncation is an error naming the offset.

mod output_common;
mod reference;

use output_common::*;
use primecluster::output::{decode, Format, OutputError};
use reference::Rng;

fn decoded(path: &std::path::Path) -> Result<(Vec<u8>, u64), OutputError> {
    let mut out = Vec::new();
    let n = decode(path, &mut out)?;
    Ok((out, n))
}

#[test]
fn decode_equals_text_for_primes() {
    let dir = scratch("compact-primes");
    let all = naive_primes(0, 3_000_000);
    let mut rng = Rng::xorshift(3);
    for &(a, b) in &[
        (0u128, 3_000_000u128),
        (2, 2),
        (3, 3),
        (24, 28),
        (0, 1),
        (1_000_000, 1_999_999),
    ] {
        let ps: Vec<u128> = all.iter().copied().filter(|&p| p >= a && p <= b).collect();
        let cuts = random_cuts(&mut rng, a, b, 17);
        let compact = write_all(
            &dir.join("c"),
            &job(a, b, Format::Compact),
            &chunks(a, b, &ps, &cuts),
        );
        let other = write_all(
            &dir.join("c2"),
            &job(a, b, Format::Compact),
            &chunks(a, b, &ps, &[]),
        );
        assert!(
            compact == other,
            "{a}..={b}: bytes depend on chunk boundaries"
        );
        let (text, n) = decoded(&dir.join("c")).unwrap();
        assert_eq!(n, ps.len() as u64);
        assert!(text == text_of(&ps), "{a}..={b}: decode differs from text");
        if b == 3_000_000 {
            let per = (compact.len() as f64) / ps.len() as f64;
            println!(
                "{a}..={b}: {} primes, {} bytes, {per:.4} bytes/prime",
                ps.len(),
                compact.len()
            );
            assert!(per < 1.05);
        }
    }
}

#[test]
fn decode_equals_text_for_big_numbers() {
    let dir = scratch("compact-big");
    let mut rng = Rng::xorshift(5);
    let two64 = 1u128 << 64;
    for &(a, b) in &[
        (two64 - 100_000_000, two64 + 100_000_000),
        (u128::MAX - (1 << 90), u128::MAX),
    ] {
        let mut ps = Vec::new();
        let mut p = a | 1;
        while ps.len() < 150_000 {
            ps.push(p);
            let g = if rng.below(50) == 0 {
                1u128 << (20 + rng.below(60))
            } else {
                2 * (1 + rng.below(200) as u128)
            };
            match p.checked_add(g).filter(|&q| q < b) {
                Some(q) => p = q,
                None => break,
            }
        }
        let cuts = random_cuts(&mut rng, a, b, 9);
        let c = write_all(
            &dir.join("c"),
            &job(a, b, Format::Compact),
            &chunks(a, b, &ps, &cuts),
        );
        let t = write_all(
            &dir.join("t"),
            &job(a, b, Format::Text),
            &chunks(a, b, &ps, &cuts),
        );
        let (text, n) = decoded(&dir.join("c")).unwrap();
        assert_eq!(n, ps.len() as u64);
        assert!(text == t && t == text_of(&ps), "{a}..={b}");
        assert!(!c.is_empty());
    }
}

#[test]
fn damage_and_truncation_name_the_offset() {
    let dir = scratch("compact-damage");
    let ps = naive_primes(0, 2_000_000);
    let good = write_all(
        &dir.join("c"),
        &job(0, 2_000_000, Format::Compact),
        &chunks(0, 2_000_000, &ps, &[]),
    );
    let bad = dir.join("bad");
    let mut rng = Rng::xorshift(9);
    // Flipped bytes anywhere, including header, block frames and trailer.
    let mut spots: Vec<usize> = (0..60)
        .map(|_| rng.below(good.len() as u64) as usize)
        .collect();
    spots.extend([0, 8, 51, 52, 53, 57, good.len() - 29, good.len() - 1]);
    for at in spots {
        let mut b = good.clone();
        b[at] ^= 0x10;
        std::fs::write(&bad, &b).unwrap();
        let e = decoded(&bad)
            .err()
            .unwrap_or_else(|| panic!("flip at {at} not caught"));
        assert!(
            matches!(e, OutputError::Corrupt { .. }),
            "flip at {at}: {e}"
        );
        assert!(e.to_string().contains("is damaged at byte"), "{e}");
    }
    // Cut short anywhere, including exactly at a block boundary (trailer missing).
    for cut in [
        0,
        10,
        52,
        53,
        1000,
        good.len() / 2,
        good.len() - 29,
        good.len() - 1,
    ] {
        std::fs::write(&bad, &good[..cut]).unwrap();
        let e = decoded(&bad)
            .err()
            .unwrap_or_else(|| panic!("cut at {cut} not caught"));
        assert!(
            matches!(e, OutputError::Corrupt { .. }),
            "cut at {cut}: {e}"
        );
    }
    // Extra bytes after the trailer.
    let mut b = good.clone();
    b.push(0);
    std::fs::write(&bad, &b).unwrap();
    let e = decoded(&bad).err().unwrap();
    assert!(
        e.to_string()
            .contains(&format!("byte {}: bytes after the trailer", good.len())),
        "{e}"
    );
}
