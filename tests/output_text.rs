//! Text output against an independent reference: the file must equal the concatenation
//! of `format!("{p}\n")`, whatever the chunk boundaries, for small numbers, numbers
//! straddling 2^64 and numbers up to 2^128-1; create/force and stream write errors.

mod output_common;
mod reference;

use output_common::*;
use primecluster::output::{Format, OutputError, OutputWriter};
use reference::Rng;

#[test]
fn small_ranges_match_format() {
    let dir = scratch("text-small");
    let all = naive_primes(0, 200_000);
    let mut rng = Rng::xorshift(7);
    for &(a, b) in &[
        (0u64, 200_000u64),
        (2, 2),
        (3, 3),
        (0, 1),
        (4, 4),
        (2, 3),
        (3, 100),
        (1000, 1000),
    ] {
        let ps: Vec<u128> = all
            .iter()
            .copied()
            .filter(|&p| p >= a as u128 && p <= b as u128)
            .collect();
        for ncuts in [0, 1, 5, 40] {
            let cuts = random_cuts(&mut rng, a as u128, b as u128, ncuts);
            let cs = chunks(a as u128, b as u128, &ps, &cuts);
            let path = dir.join("p.txt");
            let got = write_all(&path, &job(a as u128, b as u128, Format::Text), &cs);
            assert!(got == text_of(&ps), "{a}..={b} with {ncuts} cuts");
        }
    }
}

/// Strictly rising odd numbers with gaps of every size (the writer does not care
/// whether they are prime): 1-byte, 2-byte and huge varints.
fn fake_primes(rng: &mut Rng, from: u128, to: u128, n: usize) -> Vec<u128> {
    let mut v = Vec::new();
    let mut p = from | 1;
    while v.len() < n {
        if p > to {
            break;
        }
        v.push(p);
        let g = match rng.below(100) {
            0 => 2 * (rng.below(1 << 20) as u128 + 1),
            1 => 1u128 << (40 + rng.below(40)),
            _ => 2 * (rng.below(150) as u128 + 1),
        };
        match p.checked_add(g) {
            Some(q) => p = q,
            None => break,
        }
    }
    v
}

#[test]
fn big_numbers_match_format() {
    let dir = scratch("text-big");
    let mut rng = Rng::xorshift(11);
    let two64 = 1u128 << 64;
    let cases = [
        (two64 - 1_000_000, two64 + 1_000_000, 2000),
        (two64 - (1 << 50), two64 + (1 << 90), 20_000),
        (u128::MAX - (1 << 100), u128::MAX, 20_000),
        (999_999_999_999_999_000, 1_000_000_000_000_001_000, 500),
    ];
    for &(a, b, n) in &cases {
        let mut ps = fake_primes(&mut rng, a, b, n);
        if b == u128::MAX {
            // The largest odd number is the last one.
            ps.retain(|&p| p < u128::MAX);
            ps.push(u128::MAX);
        }
        for ncuts in [0, 3, 30] {
            let cuts = random_cuts(&mut rng, a, b, ncuts);
            let cs = chunks(a, b, &ps, &cuts);
            let got = write_all(&dir.join("p.txt"), &job(a, b, Format::Text), &cs);
            assert!(got == text_of(&ps), "{a}..={b} with {ncuts} cuts");
        }
    }
}

#[test]
fn create_refuses_an_existing_file_unless_forced() {
    let dir = scratch("text-exists");
    let path = dir.join("p.txt");
    std::fs::write(&path, b"old\n").unwrap();
    let j = job(0, 10, Format::Text);
    let e = OutputWriter::create(&path, &j, false)
        .err()
        .expect("refused");
    assert!(matches!(e, OutputError::Exists { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("p.txt exists: use --resume") && msg.contains("--force"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"old\n");
    let cs = chunks(0, 10, &[2, 3, 5, 7], &[]);
    assert_eq!(write_all(&path, &j, &cs), b"2\n3\n5\n7\n");
}

#[test]
fn chunks_out_of_order_or_malformed_are_refused() {
    let dir = scratch("text-refuse");
    let path = dir.join("p.txt");
    let j = job(0, 100, Format::Text);
    let mut w = OutputWriter::create(&path, &j, false).unwrap();
    assert!(
        append(&mut w, 1, 10, &[]).is_err(),
        "does not start at the job start"
    );
    assert!(append(&mut w, 0, 101, &[]).is_err(), "past the job stop");
    assert!(append(&mut w, 0, 10, &[4]).is_err(), "even number");
    assert!(append(&mut w, 0, 10, &[3, 0]).is_err(), "repeat");
    assert!(append(&mut w, 0, 10, &[11]).is_err(), "past the chunk stop");
    assert!(append(&mut w, 0, 10, &[0x80]).is_err(), "cut varint");
    append(&mut w, 0, 10, &[2, 0, 1, 1]).unwrap();
    assert!(append(&mut w, 12, 100, &[]).is_err(), "gap in the chunks");
    let e = w.finish().err().unwrap();
    assert!(
        e.to_string().contains("11..=100 were never appended"),
        "{e}"
    );
}

#[test]
fn a_full_device_is_an_error_naming_the_path() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        println!("note: no /dev/full here; skipped");
        return;
    };
    let ps = naive_primes(0, 2_000_000);
    let j = job(0, 2_000_000, Format::Text);
    let mut w = OutputWriter::to_stream_named(Box::new(full), &j, "/dev/full");
    let cs = chunks(0, 2_000_000, &ps, &[]);
    let msg = append(&mut w, cs[0].start, cs[0].stop, &cs[0].gaps).expect_err("no space");
    assert!(
        msg.starts_with("writing /dev/full: No space left on device"),
        "{msg}"
    );
    // The writer stays stopped.
    assert!(w.checkpoint().is_err());
}
