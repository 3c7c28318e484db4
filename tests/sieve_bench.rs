//! Timing of the sieve, for the notes; ignored by default. Run with
//! `cargo test --release --test sieve_bench -- --ignored --nocapture` and compare with
//! `primesieve START STOP -t1 -c --time` on the same machine.

use primecluster::kernel::sieve::Sieve;
use std::time::Instant;

/// CPU seconds used by this thread: the machine is shared, so wall time is noisy.
fn cpu_secs() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// The ranges to run: all, or the one whose label is in SIEVE_BENCH.
fn ranges() -> impl Iterator<Item = &'static (&'static str, u64, u64)> {
    let only = std::env::var("SIEVE_BENCH").ok();
    RANGES
        .iter()
        .filter(move |r| only.as_deref().is_none_or(|l| l == r.0))
}

/// (label, start, length) of each measured range.
const RANGES: [(&str, u64, u64); 9] = [
    ("0..1e9", 0, 1_000_000_000),
    ("1e12+1e10", 1_000_000_000_000, 10_000_000_000),
    ("1e12+1e9", 1_000_000_000_000, 1_000_000_000),
    ("1e15+1e9", 1_000_000_000_000_000, 1_000_000_000),
    ("1e16-1e9", 9_999_999_000_000_000, 1_000_000_000),
    ("1e17+1e9", 100_000_000_000_000_000, 1_000_000_000),
    ("1e18+1e9", 1_000_000_000_000_000_000, 1_000_000_000),
    ("1e19+1e9", 10_000_000_000_000_000_000, 1_000_000_000),
    ("2^64-1e9", u64::MAX - 1_000_000_000, 1_000_000_000),
];

fn report(what: &str, label: &str, len: u64, primes: u64, wall: f64, secs: f64) {
    println!(
        "{what:9} {label:10} {secs:6.3} s cpu ({wall:6.3} wall) {:6.2} G numbers/s {:6.1} M primes/s ({primes} primes)",
        len as f64 / secs / 1e9,
        primes as f64 / secs / 1e6
    );
}

#[test]
#[ignore]
fn bench_count() {
    // RUST_LOG=debug shows the sieve's windows.
    let _ = env_logger::builder().is_test(true).try_init();
    for &(label, start, len) in ranges() {
        let mut s = Sieve::new();
        // Set up the sieving primes first, as a worker has after its first chunk.
        s.count(start.saturating_sub(1000), start.saturating_sub(1));
        let (t, c) = (Instant::now(), cpu_secs());
        let n = s.count(start, start + len);
        report(
            "count",
            label,
            len,
            n,
            t.elapsed().as_secs_f64(),
            cpu_secs() - c,
        );
    }
}

#[test]
#[ignore]
fn bench_primes() {
    for &(label, start, len) in ranges() {
        let mut s = Sieve::new();
        s.count(start.saturating_sub(1000), start.saturating_sub(1));
        let (mut n, mut sum) = (0u64, 0u64);
        let (t, c) = (Instant::now(), cpu_secs());
        s.primes(start, start + len, &mut |b| {
            n += b.len() as u64;
            sum = sum.wrapping_add(b[b.len() - 1]);
        });
        report(
            "primes",
            label,
            len,
            n,
            t.elapsed().as_secs_f64(),
            cpu_secs() - c,
        );
        assert!(sum != 1);
    }
}

#[test]
#[ignore]
fn bench_chunks_of_5e7() {
    // A worker's pattern: consecutive chunks on one instance.
    let mut s = Sieve::new();
    let (start, len, chunk) = (1_000_000_000_000u64, 10_000_000_000u64, 50_000_000u64);
    let (t, c) = (Instant::now(), cpu_secs());
    let mut n = 0;
    let mut a = start;
    while a <= start + len {
        let b = (a + chunk - 1).min(start + len);
        n += s.count(a, b);
        a = b + 1;
    }
    report(
        "chunks",
        "1e12+1e10",
        len,
        n,
        t.elapsed().as_secs_f64(),
        cpu_secs() - c,
    );
}

#[test]
#[ignore]
fn bench_jump_cost() {
    // What a call that does not continue the last one pays, here on a tiny range:
    // forwards (from half as far) the primes set up are kept and get one division each;
    // backwards they are all made and set up again.
    for &(label, start, _) in ranges() {
        for (what, before) in [("jump fwd", start / 2), ("jump back", start + 1_000_000)] {
            let mut s = Sieve::new();
            s.count(before, before + 1000);
            let (t, c) = (Instant::now(), cpu_secs());
            let n = s.count(start, start + 1000);
            report(
                what,
                label,
                1000,
                n,
                t.elapsed().as_secs_f64(),
                cpu_secs() - c,
            );
        }
    }
}

#[test]
#[ignore]
fn bench_pi_zero_budget_at_1e18() {
    // A 1-thread worker at --memory 64 (a Pi Zero's budget), counting 1e9 at 1e18.
    use primecluster::kernel::Memory;
    let start = 1_000_000_000_000_000_000u64;
    let mut s = Sieve::with_memory(Memory::mib(64, 1));
    s.count(start - 1000, start - 1);
    let (t, c) = (Instant::now(), cpu_secs());
    let n = s.count(start, start + 1_000_000_000);
    report(
        "64 MiB",
        "1e18+1e9",
        1_000_000_000,
        n,
        t.elapsed().as_secs_f64(),
        cpu_secs() - c,
    );
    println!("heap {} bytes", s.heap_bytes());
}
