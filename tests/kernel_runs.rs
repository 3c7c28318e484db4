//! Runs of short calls, as a worker thread makes them on the chunks the master cuts:
//! which backend the `Kernel` dispatcher picks, and that the answers stay right.
//!
//! Above 1e16 the sieve sets up every large sieving prime once per window, so a call
//! shorter than `Sieve::worth_len` alone is faster by pre-sieve + Miller–Rabin. But a
//! worker's chunks near 2^64 are about that short (1.5 s of Miller–Rabin, or 2^20
//! primes when they are shipped), and a `run` there went through Miller–Rabin from
//! start to end: 5.6 times slower than primesieve. A thread's chunks come in a
//! forward run (consecutive, or skipping its neighbours' chunks), and a window opened
//! for such a run serves the calls after it too: the dispatcher must see the run.
//!
//! Every call's answer is checked against `Presieve` (pre-sieve + Miller–Rabin, which
//! shares no code with the sieve); near 2^64 the listed primes are compared whole.

use primecluster::kernel::big::Presieve;
use primecluster::kernel::sieve::Sieve;
use primecluster::kernel::{Kernel, KernelKind};

const E18: u64 = 1_000_000_000_000_000_000;

/// Calls the kernel on `chunks` (start, stop) in order, each count checked against the
/// pre-sieve; returns how many of the calls the sieve took.
fn counts(kernel: &mut Kernel, chunks: &[(u64, u64)]) -> u64 {
    let mut reference = Presieve::new();
    let before = kernel.sieve_calls();
    for &(a, b) in chunks {
        let got = kernel.count(u128::from(a), u128::from(b));
        assert_eq!(got, reference.count_u64(a, b), "count of {a}..={b}");
    }
    kernel.sieve_calls() - before
}

/// `n` chunks of `len` numbers from `start`, each `stride` chunks after the last (a
/// thread of a worker with `stride` threads, the master cutting chunks in order).
fn chunks(start: u64, len: u64, stride: u64, n: u64) -> Vec<(u64, u64)> {
    (0..n)
        .map(|i| {
            let a = start + i * stride * len;
            (a, a + (len - 1))
        })
        .collect()
}

/// At 1e18, chunks of 4 M numbers (a sixth of `worth_len` there): alone, each goes to
/// Miller–Rabin; in a run (one thread's consecutive chunks, or every second or fourth
/// chunk as with 2 or 4 threads) the first goes to Miller–Rabin and every later one to
/// the sieve, whose window the first sieved call opened for the run.
#[test]
fn a_run_of_short_chunks_is_sieved_at_1e18() {
    let len = 4_000_000;
    assert!(
        len * 4 < Sieve::worth_len(E18 + 100 * len),
        "chunks must be short"
    );
    for (stride, start) in [(1, E18), (2, E18 + 7), (4, E18 + 1_000_000_011)] {
        let mut kernel = Kernel::new(KernelKind::Auto);
        let run = chunks(start, len, stride, 5);
        assert_eq!(
            counts(&mut kernel, &run),
            4,
            "stride {stride}: sieved calls"
        );
        // The run goes on after a jump back (a chunk handed out again): alone, that
        // call is not worth a window, and the next ones continue the run again.
        let back = chunks(start + len / 2, len, stride, 3);
        assert_eq!(
            counts(&mut kernel, &back),
            2,
            "stride {stride}, after a jump back"
        );
    }
}

/// Lone calls far apart (a thread whose chunks are spread over a huge range, or many
/// workers' worth of chunks between two of them) are not worth a window each: they
/// stay with Miller–Rabin, and so does a sparse run (every 64th chunk).
#[test]
fn lone_and_sparse_short_calls_stay_with_miller_rabin() {
    let len = 2_000_000;
    let mut kernel = Kernel::new(KernelKind::Auto);
    let lone = chunks(E18, len, 1_000_000, 4);
    assert_eq!(counts(&mut kernel, &lone), 0, "lone calls");
    let mut kernel = Kernel::new(KernelKind::Auto);
    let sparse = chunks(3 * E18, len, 64, 4);
    assert_eq!(counts(&mut kernel, &sparse), 0, "every 64th chunk");
}

/// Near 2^64 (sieving primes up to 2^32, the shared table's largest), three
/// consecutive chunks of 10 M numbers ending at 2^64 - 1: the second and third are
/// sieved, and every prime listed equals the pre-sieve's list.
#[test]
fn heavy_a_run_of_short_chunks_is_sieved_up_to_2_64() {
    let len = 10_000_000u64;
    assert!(len * 4 < Sieve::worth_len(u64::MAX), "chunks must be short");
    let start = u64::MAX - 3 * len + 1;
    let mut kernel = Kernel::new(KernelKind::Auto);
    let mut reference = Presieve::new();
    let before = kernel.sieve_calls();
    for (a, b) in chunks(start, len, 1, 3) {
        let mut got: Vec<u128> = Vec::new();
        kernel.primes(u128::from(a), u128::from(b), &mut got);
        let mut want: Vec<u64> = Vec::new();
        reference.primes_u64(a, b, &mut |ps| want.extend_from_slice(ps));
        let want: Vec<u128> = want.into_iter().map(u128::from).collect();
        assert_eq!(got.len(), want.len(), "count of {a}..={b}");
        assert!(got == want, "primes of {a}..={b} differ");
    }
    assert_eq!(kernel.sieve_calls() - before, 2, "sieved calls");
}
