//! Speed of trial division, C against the Rust twin (ignored by default; it measures):
//! `cargo test --release --test trial_throughput -- --ignored --nocapture`.

use primecluster::kernel::trial::{Trial, TrialImpl};
use std::time::Instant;

/// Best of three runs, in seconds, and the count.
fn time(imp: TrialImpl, start: u64, stop: u64) -> (f64, u64) {
    let mut t = Trial::new(imp);
    t.count_u64(start, start + 10); // build the table outside the timing
    let mut best = f64::MAX;
    let mut count = 0;
    for _ in 0..3 {
        let clock = Instant::now();
        count = t.count_u64(start, stop);
        best = best.min(clock.elapsed().as_secs_f64());
    }
    (best, count)
}

#[test]
#[ignore]
fn trial_c_vs_rust() {
    if !TrialImpl::c_available() {
        println!("trial: C kernel not built, nothing to compare");
        return;
    }
    for &(name, start, len) in &[
        ("1e9", 1_000_000_000u64, 400_000u64),
        ("1e12", 1_000_000_000_000, 20_000),
    ] {
        let stop = start + len - 1;
        let (c, nc) = time(TrialImpl::C, start, stop);
        let (r, nr) = time(TrialImpl::Rust, start, stop);
        assert_eq!(nc, nr);
        println!(
            "trial {name:>5}: {len} numbers, {nc} primes: C {c:.3} s, Rust {r:.3} s, Rust/C = {:.2}",
            r / c
        );
    }
}
