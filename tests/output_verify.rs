//! `verify` against damaged files: a flipped byte, a deleted line, a duplicated line,
//! a truncated file, a missing final newline, an extra line, garbage, for text; a
//! flipped byte and truncation for compact. Each names the first discrepancy.

mod output_common;
mod reference;

use output_common::*;
use primecluster::kernel::KernelKind;
use primecluster::output::{verify, DiscrepancyKind, Format, VerifyReport};
use std::path::Path;

const STOP: u128 = 300_000;

fn text_file(dir: &Path) -> (Vec<u128>, Vec<u8>) {
    let ps = naive_primes(0, STOP as u64);
    let t = write_all(
        &dir.join("good.txt"),
        &job(0, STOP, Format::Text),
        &chunks(0, STOP, &ps, &[]),
    );
    (ps, t)
}

fn check_text(dir: &Path, bytes: &[u8]) -> VerifyReport {
    let p = dir.join("bad.txt");
    std::fs::write(&p, bytes).unwrap();
    verify(&p, Some((0, STOP)), KernelKind::Auto).unwrap()
}

/// Byte offset of the start of 1-based line `n`.
fn line_start(t: &[u8], n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    t.iter()
        .enumerate()
        .filter(|&(_, &c)| c == b'\n')
        .nth(n - 2)
        .unwrap()
        .0
        + 1
}

#[test]
fn good_files_pass() {
    let dir = scratch("verify-good");
    let (ps, _) = text_file(&dir);
    let r = verify(&dir.join("good.txt"), Some((0, STOP)), KernelKind::Auto).unwrap();
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.primes_checked, ps.len() as u64);
    write_all(
        &dir.join("good.pc"),
        &job(0, STOP, Format::Compact),
        &chunks(0, STOP, &ps, &[1000]),
    );
    let r = verify(&dir.join("good.pc"), None, KernelKind::Auto).unwrap();
    assert!(r.is_ok() && r.primes_checked == ps.len() as u64, "{r}");
    println!("{r}");
    // A text file takes its range from its checkpoint, or needs it given.
    let r = verify(&dir.join("good.txt"), None, KernelKind::Auto).unwrap();
    assert!(r.is_ok() && (r.start, r.stop) == (0, STOP), "{r}");
    std::fs::copy(dir.join("good.txt"), dir.join("bare.txt")).unwrap();
    let e = verify(&dir.join("bare.txt"), None, KernelKind::Auto).unwrap_err();
    assert!(e.to_string().contains("give the range"), "{e}");
}

#[test]
fn text_damage_is_found_and_named() {
    let dir = scratch("verify-text");
    let (ps, t) = text_file(&dir);
    let n = 1234usize; // line 1234 holds ps[1233]
    let at = line_start(&t, n);
    let len = format!("{}\n", ps[n - 1]).len();

    // Flipped byte: last digit of line 1234 changed.
    let mut b = t.clone();
    b[at + len - 2] = if b[at + len - 2] == b'1' { b'3' } else { b'1' };
    let r = check_text(&dir, &b);
    let d = r.discrepancy.clone().expect("flip caught");
    assert_eq!((d.index, d.offset), (n as u64, at as u64));
    assert!(
        matches!(d.kind, DiscrepancyKind::Wrong { expected, .. } if expected == ps[n - 1]),
        "{r}"
    );
    assert!(r.to_string().contains("line 1234 (byte"), "{r}");
    assert_eq!(r.primes_checked, n as u64 - 1);

    // A non-digit.
    let mut b = t.clone();
    b[at] = b'x';
    let d = check_text(&dir, &b).discrepancy.unwrap();
    assert!(matches!(d.kind, DiscrepancyKind::NotANumber { .. }), "{d}");
    assert!(d.to_string().starts_with("line 1234 (byte"), "{d}");

    // Deleted line.
    let mut b = t[..at].to_vec();
    b.extend_from_slice(&t[at + len..]);
    let d = check_text(&dir, &b).discrepancy.unwrap();
    assert_eq!(
        d.kind,
        DiscrepancyKind::Missing {
            expected: ps[n - 1]
        }
    );
    assert_eq!(
        d.to_string(),
        format!("missing {} at line 1234 (byte {at})", ps[n - 1])
    );

    // Duplicated line.
    let mut b = t[..at + len].to_vec();
    b.extend_from_slice(&t[at..]);
    let d = check_text(&dir, &b).discrepancy.unwrap();
    assert_eq!(d.kind, DiscrepancyKind::Extra { found: ps[n - 1] });
    assert_eq!(d.index, n as u64 + 1);
    assert!(d.to_string().starts_with("extra line 1235"), "{d}");

    // Truncated at a line boundary.
    let d = check_text(&dir, &t[..at]).discrepancy.unwrap();
    assert_eq!(
        d.kind,
        DiscrepancyKind::EndsEarly {
            expected: ps[n - 1]
        }
    );
    assert_eq!(
        d.to_string(),
        format!("file ends after 1233 primes; expected {} next", ps[n - 1])
    );

    // Truncated mid-line, and a missing final newline.
    for cut in [at + 2, t.len() - 1] {
        let d = check_text(&dir, &t[..cut]).discrepancy.unwrap();
        assert!(
            matches!(d.kind, DiscrepancyKind::NoFinalNewline { .. }),
            "{d}"
        );
    }

    // An extra line past the range.
    let mut b = t.clone();
    b.extend_from_slice(b"300007\n");
    let d = check_text(&dir, &b).discrepancy.unwrap();
    assert_eq!(d.kind, DiscrepancyKind::Extra { found: 300007 });

    // An empty file.
    let d = check_text(&dir, b"").discrepancy.unwrap();
    assert_eq!(d.kind, DiscrepancyKind::EndsEarly { expected: 2 });
}

#[test]
fn numbers_past_2_64_are_verified() {
    // The file is written from the kernel's primes; verify must accept it and catch a
    // changed digit (the reference here is the kernel itself: this tests verify's
    // reading and comparing, not the kernel).
    let dir = scratch("verify-big");
    let (a, b) = ((1u128 << 64) - 3000, (1u128 << 64) + 3000);
    let mut ps: Vec<u128> = Vec::new();
    primecluster::kernel::Kernel::new(KernelKind::Auto).primes(a, b, &mut ps);
    assert!(ps.iter().any(|&p| p > 1 << 64) && ps.iter().any(|&p| p < 1 << 64));
    let p = dir.join("big.txt");
    let t = write_all(&p, &job(a, b, Format::Text), &chunks(a, b, &ps, &[1 << 64]));
    assert!(verify(&p, Some((a, b)), KernelKind::Auto).unwrap().is_ok());
    let mut bad = t.clone();
    let at = line_start(&t, 50) + 5;
    bad[at] = if bad[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&p, &bad).unwrap();
    let d = verify(&p, Some((a, b)), KernelKind::Auto)
        .unwrap()
        .discrepancy
        .unwrap();
    assert_eq!(d.index, 50);
}

#[test]
fn compact_damage_is_found() {
    let dir = scratch("verify-compact");
    let ps = naive_primes(0, STOP as u64);
    let good = write_all(
        &dir.join("good.pc"),
        &job(0, STOP, Format::Compact),
        &chunks(0, STOP, &ps, &[]),
    );
    let p = dir.join("bad.pc");
    for at in [60, good.len() / 2, good.len() - 3] {
        let mut b = good.clone();
        b[at] ^= 0x01;
        std::fs::write(&p, &b).unwrap();
        let r = verify(&p, None, KernelKind::Auto).unwrap();
        let d = r
            .discrepancy
            .clone()
            .unwrap_or_else(|| panic!("flip at {at} not caught"));
        assert!(matches!(d.kind, DiscrepancyKind::Corrupt { .. }), "{r}");
    }
    std::fs::write(&p, &good[..good.len() - 10]).unwrap();
    let r = verify(&p, None, KernelKind::Auto).unwrap();
    assert!(
        r.to_string().contains("without a trailer") || r.to_string().contains("cut short"),
        "{r}"
    );
    // A wrong prime with a valid CRC (a lying worker's chunk written as is) is found too.
    let mut wrong = ps.clone();
    wrong[5000] += 2;
    write_all(
        &p,
        &job(0, STOP, Format::Compact),
        &chunks(0, STOP, &wrong, &[]),
    );
    let d = verify(&p, None, KernelKind::Auto)
        .unwrap()
        .discrepancy
        .unwrap();
    assert_eq!(d.index, 5001);
    assert_eq!(
        d.kind,
        DiscrepancyKind::Wrong {
            expected: ps[5000],
            found: ps[5000] + 2
        }
    );
}
