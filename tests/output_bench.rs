//! Measurements of the output module (ignored by default; run with
//! `cargo test --release --test output_bench -- --ignored --nocapture --test-threads 1`):
//! text writer speed from gap bytes to a file for the primes up to 1e9, compact bytes
//! per prime up to 1e9 and in [1e18, 1e18+1e9], decode speed, the cost of a checkpoint.
//! The primes come from a plain segmented sieve written here, not from the kernels.

mod output_common;
mod reference;

use output_common::*;
use primecluster::gaps::GapEncoder;
use primecluster::output::{decode, Format, OutputWriter};
use std::time::Instant;

/// Odd-only sieve: the primes up to `limit`.
fn base_primes(limit: u64) -> Vec<u32> {
    let n = (limit / 2 + 1) as usize; // index i stands for 2i+1
    let mut composite = vec![false; n];
    let mut out = vec![2u32];
    let mut i = 1;
    while i < n {
        if !composite[i] {
            let p = 2 * i as u64 + 1;
            out.push(p as u32);
            let mut j = (p * p / 2) as usize;
            while j < n {
                composite[j] = true;
                j += p as usize;
            }
        }
        i += 1;
    }
    out.retain(|&p| p as u64 <= limit);
    out
}

/// Odd-only segmented sieve of `lo..=hi` (lo odd, lo > 2 or lo handled by caller).
fn segment(lo: u64, hi: u64, base: &[u32], comp: &mut Vec<bool>, out: &mut Vec<u64>) {
    let n = ((hi - lo) / 2 + 1) as usize; // index i stands for lo + 2i
    comp.clear();
    comp.resize(n, false);
    for &p in &base[1..] {
        let p = p as u64;
        if p * p > hi {
            break;
        }
        let mut m = lo.div_ceil(p) * p;
        if m < p * p {
            m = p * p;
        }
        if m % 2 == 0 {
            m += p;
        }
        let mut j = ((m - lo) / 2) as usize;
        while j < n {
            comp[j] = true;
            j += p as usize;
        }
    }
    out.extend(
        (0..n)
            .filter(|&i| !comp[i])
            .map(|i| lo + 2 * i as u64)
            .filter(|&x| x > 1),
    );
}

/// Chunks of `size` numbers covering `start..=stop`, gap-encoded.
fn sieve_chunks(start: u64, stop: u64, size: u64) -> Vec<Chunk> {
    let base = base_primes((stop as f64).sqrt() as u64 + 1);
    let mut comp = Vec::new();
    let mut ps = Vec::new();
    let mut out = Vec::new();
    let mut lo = start;
    loop {
        let hi = lo.saturating_add(size - 1).min(stop);
        ps.clear();
        if lo <= 2 && hi >= 2 {
            ps.push(2);
        }
        let a = if lo % 2 == 0 { lo + 1 } else { lo };
        let b = if hi % 2 == 0 { hi - 1 } else { hi };
        if a <= b {
            segment(a, b, &base, &mut comp, &mut ps);
        }
        let mut e = GapEncoder::new(lo as u128);
        e.push_u64s(&ps);
        out.push(Chunk {
            start: lo as u128,
            stop: hi as u128,
            gaps: e.into_bytes(),
        });
        if hi == stop {
            return out;
        }
        lo = hi + 1;
    }
}

/// CPU time of this thread in seconds: steadier than the wall clock on a shared machine.
fn cpu_now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn count(cs: &[Chunk]) -> u64 {
    cs.iter()
        .map(|c| c.gaps.iter().filter(|&&b| b < 0x80).count() as u64)
        .sum()
}

#[test]
#[ignore]
fn text_and_compact_up_to_1e9() {
    let t = Instant::now();
    let cs = sieve_chunks(0, 1_000_000_000, 10_000_000);
    let n = count(&cs);
    println!("sieve: {n} primes up to 1e9 in {:.1?}", t.elapsed());
    assert_eq!(n, 50_847_534);
    let dir = scratch("bench");
    for format in [Format::Text, Format::Compact] {
        let path = dir.join(format!("primes.{format}"));
        let j = job(0, 1_000_000_000, format);
        // Formatting alone: into a sink.
        let (t, cpu) = (Instant::now(), cpu_now());
        let mut w = OutputWriter::to_stream(Box::new(std::io::sink()), &j);
        for c in &cs {
            append(&mut w, c.start, c.stop, &c.gaps).unwrap();
        }
        w.finish().unwrap();
        let (s, cpu) = (t.elapsed().as_secs_f64(), cpu_now() - cpu);
        println!(
            "{format} to a sink: {s:.3} s wall, {cpu:.3} s CPU: {:.1} M primes/s per CPU second",
            n as f64 / cpu / 1e6
        );
        // To a file: appends, then finish (flush + fsync + final checkpoint).
        let (t, cpu) = (Instant::now(), cpu_now());
        let mut w = OutputWriter::create(&path, &j, true).unwrap();
        for c in &cs {
            append(&mut w, c.start, c.stop, &c.gaps).unwrap();
        }
        let appended = t.elapsed().as_secs_f64();
        let sum = w.finish().unwrap();
        let (s, cpu) = (t.elapsed().as_secs_f64(), cpu_now() - cpu);
        println!(
            "{format} to {}: appends {appended:.3} s, {cpu:.3} s CPU ({:.1} M primes/s per CPU s), \
             with finish/fsync {s:.3} s wall ({:.1} M primes/s); {} bytes, {:.4} bytes/prime",
            path.display(),
            n as f64 / cpu / 1e6,
            n as f64 / s / 1e6,
            sum.bytes,
            sum.bytes as f64 / n as f64
        );
    }
    let t = Instant::now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("decoded.txt")).unwrap());
    let m = decode(&dir.join("primes.compact"), &mut out).unwrap();
    drop(out);
    let s = t.elapsed().as_secs_f64();
    println!(
        "decode to a file: {s:.3} s, {:.1} M primes/s",
        m as f64 / s / 1e6
    );
    let a = std::fs::read(dir.join("decoded.txt")).unwrap();
    let b = std::fs::read(dir.join("primes.text")).unwrap();
    assert!(a == b, "decode differs from text");
    println!(
        "files left in {} for comparison with primesieve",
        dir.display()
    );
}

#[test]
#[ignore]
fn compact_near_1e18() {
    let (lo, len) = (1_000_000_000_000_000_000u64, 1_000_000_000u64);
    let t = Instant::now();
    let cs = sieve_chunks(lo, lo + len, 1 << 28);
    let n = count(&cs);
    println!(
        "sieve: {n} primes in [1e18, 1e18+1e9] in {:.1?}",
        t.elapsed()
    );
    let dir = scratch("bench18");
    let path = dir.join("p.compact");
    let j = job(lo as u128, (lo + len) as u128, Format::Compact);
    let mut w = OutputWriter::create(&path, &j, true).unwrap();
    for c in &cs {
        append(&mut w, c.start, c.stop, &c.gaps).unwrap();
    }
    let sum = w.finish().unwrap();
    println!(
        "compact [1e18, 1e18+1e9]: {} bytes, {:.4} bytes/prime",
        sum.bytes,
        sum.bytes as f64 / n as f64
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
#[ignore]
fn checkpoint_cost() {
    let cs = sieve_chunks(0, 1_000_000_000, 10_000_000);
    let dir = scratch("bench-ckpt");
    let path = dir.join("p.txt");
    let j = job(0, 1_000_000_000, Format::Text);
    let mut w = OutputWriter::create(&path, &j, true).unwrap();
    let mut i = 0;
    // About 100 MB of text, not yet synced.
    while i < cs.len() && (w.primes_written() as f64) < 100e6 / 10.0 {
        append(&mut w, cs[i].start, cs[i].stop, &cs[i].gaps).unwrap();
        i += 1;
    }
    let bytes = std::fs::metadata(&path).unwrap().len();
    let t = Instant::now();
    w.checkpoint().unwrap();
    println!(
        "checkpoint after {} MB unsynced: {:.1?}",
        bytes / 1_000_000,
        t.elapsed()
    );
    let t = Instant::now();
    append(&mut w, cs[i].start, cs[i].stop, &cs[i].gaps).unwrap();
    let after = t.elapsed();
    let t = Instant::now();
    w.checkpoint().unwrap();
    println!(
        "checkpoint after one more 1e7-number chunk (appended in {after:.1?}): {:.1?}",
        t.elapsed()
    );
    let t = Instant::now();
    for _ in 0..20 {
        w.checkpoint().unwrap();
    }
    println!("checkpoint with nothing new: {:.2?} each", t.elapsed() / 20);
    let _ = std::fs::remove_dir_all(dir);
}
