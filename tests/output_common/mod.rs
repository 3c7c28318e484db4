//! Shared helpers for the `output_*` tests: an independent naive sieve, and gap lists cut
//! into chunks. The files that include this also include `mod reference;` (its `Rng`).

#![allow(dead_code)]

use crate::reference::Rng;
use primecluster::gaps::{check_after, GapEncoder};
use primecluster::output::{Format, JobSpec, OutputWriter};
use std::path::{Path, PathBuf};

/// Primes in `a..=b` by a plain sieve of Eratosthenes (test reference; b small).
pub fn naive_primes(a: u64, b: u64) -> Vec<u128> {
    let n = b as usize;
    let mut composite = vec![false; n + 1];
    let mut out = Vec::new();
    for i in 2..=n {
        if !composite[i] {
            if i as u64 >= a {
                out.push(i as u128);
            }
            // In u64: i * i overflows a 32-bit usize past 65535 (the ARM check).
            let mut j = (i as u64 * i as u64).min(n as u64 + 1) as usize;
            while j <= n {
                composite[j] = true;
                j += i;
            }
        }
    }
    out
}

/// One chunk: its range and its primes' gap list relative to its start.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub start: u128,
    pub stop: u128,
    pub gaps: Vec<u8>,
}

/// Cuts `start..=stop` (holding the ascending numbers `ps`) into chunks at `cuts`
/// (each cut is the first number of a new chunk).
pub fn chunks(start: u128, stop: u128, ps: &[u128], cuts: &[u128]) -> Vec<Chunk> {
    let mut bounds: Vec<u128> = cuts
        .iter()
        .copied()
        .filter(|&c| c > start && c <= stop)
        .collect();
    bounds.sort();
    bounds.dedup();
    let mut out = Vec::new();
    let mut lo = start;
    let mut i = 0;
    for hi_excl in bounds.iter().map(|&c| Some(c)).chain([None]) {
        let hi = hi_excl.map_or(stop, |c| c - 1);
        let mut e = GapEncoder::new(lo);
        while i < ps.len() && ps[i] <= hi {
            e.push(ps[i]);
            i += 1;
        }
        out.push(Chunk {
            start: lo,
            stop: hi,
            gaps: e.into_bytes(),
        });
        if let Some(c) = hi_excl {
            lo = c;
        }
    }
    out
}

/// `n` random cut points inside `start..=stop`.
pub fn random_cuts(rng: &mut Rng, start: u128, stop: u128, n: usize) -> Vec<u128> {
    // 128 random bits modulo the span: no product that could overflow for spans
    // past 2^64 (the test profile checks overflow).
    let span = stop - start;
    (0..n)
        .map(|_| {
            let r = (rng.next() as u128) << 64 | rng.next() as u128;
            start + r % span.max(1)
        })
        .collect()
}

/// The text `--format text` must produce.
pub fn text_of(ps: &[u128]) -> Vec<u8> {
    ps.iter()
        .map(|p| format!("{p}\n"))
        .collect::<String>()
        .into_bytes()
}

pub fn job(start: u128, stop: u128, format: Format) -> JobSpec {
    JobSpec {
        start,
        stop,
        format,
        kernel: "auto".into(),
    }
}

/// Checks a chunk's gap list (as the master does) and appends it; an error from either
/// step, as text.
pub fn append(w: &mut OutputWriter, start: u128, stop: u128, gaps: &[u8]) -> Result<(), String> {
    let list = check_after(gaps.to_vec(), None, start, stop).map_err(|e| e.to_string())?;
    w.append(&list).map_err(|e| e.to_string())
}

/// Writes a whole job to `path` without interruption.
pub fn write_all(path: &Path, job: &JobSpec, chunks: &[Chunk]) -> Vec<u8> {
    let mut w = OutputWriter::create(path, job, true).unwrap();
    for c in chunks {
        append(&mut w, c.start, c.stop, &c.gaps).unwrap();
    }
    w.finish().unwrap();
    std::fs::read(path).unwrap()
}

/// A fresh scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pc-output-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
