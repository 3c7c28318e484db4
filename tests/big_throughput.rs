//! Throughput of `Presieve` (ignored by default; it measures, it does not check):
//! `cargo test --release --test big_throughput -- --ignored --nocapture`.
//! `PRESIEVE_LIMITS=u64max,u128max` overrides the largest sieving primes for tuning.

use primecluster::kernel::big::Presieve;
use std::time::Instant;

fn presieve() -> Presieve {
    match std::env::var("PRESIEVE_LIMITS") {
        Ok(s) => {
            let v: Vec<u32> = s.split(',').map(|x| x.parse().expect("a number")).collect();
            Presieve::with_limits(v[0], v[1])
        }
        Err(_) => Presieve::new(),
    }
}

#[test]
#[ignore]
fn presieve_throughput() {
    let two64 = 1u128 << 64;
    let cases: [(&str, u128, u128); 5] = [
        ("1e12", 1_000_000_000_000, 1 << 24),
        ("1e18", 1_000_000_000_000_000_000, 1 << 23),
        ("2^64-", two64 - (1 << 22), 1 << 22),
        ("2^64+", two64, 1 << 21),
        ("1e30", 1_000_000_000_000_000_000_000_000_000_000, 1 << 21),
    ];
    let mut ps = presieve();
    for &(name, start, len) in &cases {
        let stop = start + len - 1;
        // Warm the tables once so that the figure is the steady state of a worker.
        ps.primes_u128(start, start + 1000, &mut |_| {});
        // Best of three: the machine may be shared.
        let mut secs = f64::MAX;
        let mut count = 0u64;
        for _ in 0..3 {
            let t = Instant::now();
            count = 0;
            ps.primes_u128(start, stop, &mut |b| count += b.len() as u64);
            secs = secs.min(t.elapsed().as_secs_f64());
        }
        println!(
            "presieve {name:>6}: {len} numbers in {secs:.3} s = {:.3e} numbers/s, {count} primes = {:.3e} primes/s",
            len as f64 / secs,
            count as f64 / secs
        );
    }
}
