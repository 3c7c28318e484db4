//! The `bench` subcommand: figures, never pass/fail.
//!
//! For each kernel and magnitude (around 1e9, 1e12, 1e18, just below and just above
//! 2^64, around 1e30) it times one thread on a range sized for that kernel there and
//! prints numbers/s and primes/s; the trial kernel is timed in C and in Rust and their
//! ratio printed. If `primesieve` is on the PATH it is timed on the same sieve ranges
//! (one thread) and the ratio printed, with the two counts compared. Last, the master's
//! own path: result frames decoded, checked, put in order by the scheduler and written
//! to a compact file, in primes per second.

use crate::gaps::{self, GapEncoder};
use crate::kernel::trial::{Trial, TrialImpl};
use crate::kernel::{Kernel, KernelKind};
use crate::master::{check_result, human};
use crate::output::{Format, JobSpec, OutputWriter};
use crate::schedule::{Action, Config, Event, Scheduler};
use crate::wire::{self, ChunkResult, Message, Mode};
use std::process::Command;
use std::time::{Duration, Instant};

/// One measured range: where, how wide (full and quick).
struct Row {
    label: &'static str,
    start: u128,
    width: u128,
    quick_width: u128,
}

const TWO64: u128 = 1 << 64;

fn sieve_rows() -> Vec<Row> {
    vec![
        Row {
            label: "1e9",
            start: 1_000_000_000,
            width: 1_000_000_000,
            quick_width: 100_000_000,
        },
        Row {
            label: "1e12",
            start: 1_000_000_000_000,
            width: 10_000_000_000,
            quick_width: 1_000_000_000,
        },
        Row {
            label: "1e15",
            start: 1_000_000_000_000_000,
            width: 1_000_000_000,
            quick_width: 100_000_000,
        },
        Row {
            label: "1e18",
            start: 1_000_000_000_000_000_000,
            width: 100_000_000,
            quick_width: 10_000_000,
        },
        Row {
            label: "2^64-1e7",
            start: TWO64 - 10_000_000,
            width: 10_000_000 - 1,
            quick_width: 10_000_000 - 1,
        },
        Row {
            label: "2^64",
            start: TWO64,
            width: 10_000_000,
            quick_width: 1_000_000,
        },
        Row {
            label: "1e30",
            start: 1_000_000_000_000_000_000_000_000_000_000,
            width: 1_000_000,
            quick_width: 100_000,
        },
    ]
}

/// Trial division near 2^64 costs ~1e9 divisions (about 3 s) per prime, so its ranges
/// there hold only a few primes.
fn trial_rows() -> Vec<Row> {
    vec![
        Row {
            label: "1e9",
            start: 1_000_000_000,
            width: 2_000_000,
            quick_width: 200_000,
        },
        Row {
            label: "1e12",
            start: 1_000_000_000_000,
            width: 200_000,
            quick_width: 20_000,
        },
        Row {
            label: "1e18",
            start: 1_000_000_000_000_000_000,
            width: 100,
            quick_width: 30,
        },
        Row {
            label: "2^64-100",
            start: TWO64 - 100,
            width: 100,
            quick_width: 100,
        },
        Row {
            label: "2^64",
            start: TWO64,
            width: 40,
            quick_width: 20,
        },
    ]
}

/// Times `f` and returns (seconds, primes).
fn time(f: impl FnOnce() -> u64) -> (f64, u64) {
    let t = Instant::now();
    let n = f();
    (t.elapsed().as_secs_f64(), n)
}

fn line(kernel: &str, row: &Row, width: u128, secs: f64, primes: u64, extra: &str) {
    println!(
        "{:<14} {:<10} {:>9} {:>9.3} s {:>10}/s {:>10}/s {}",
        kernel,
        row.label,
        human(width as f64),
        secs,
        human(width as f64 / secs),
        human(primes as f64 / secs),
        extra
    );
}

/// Runs every measurement and prints the table.
pub fn run(quick: bool) {
    println!(
        "primecluster bench ({}; one thread per kernel)",
        if quick { "quick" } else { "full" }
    );
    println!(
        "{:<14} {:<10} {:>9} {:>11} {:>12} {:>12}",
        "kernel", "at", "numbers", "time", "numbers", "primes"
    );
    let has_primesieve = Command::new("primesieve")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut kernel = Kernel::new(KernelKind::Auto);
    for row in sieve_rows() {
        let width = if quick { row.quick_width } else { row.width };
        let stop = row.start + width - 1;
        let (secs, primes) = time(|| kernel.count(row.start, stop));
        let mut extra = String::new();
        if has_primesieve && stop < TWO64 {
            extra = match primesieve_count(row.start, stop) {
                Some((ps_secs, ps_count)) if ps_count == primes => {
                    format!(
                        "primesieve -t1 {ps_secs:.3} s, ratio {:.2}x",
                        secs / ps_secs
                    )
                }
                Some((_, ps_count)) => format!("COUNT MISMATCH: primesieve says {ps_count}"),
                None => "primesieve failed".into(),
            };
        }
        line("auto count", &row, width, secs, primes, &extra);
        if row.start < 1_000_000_000_000_000_000 {
            let w = width.min(100_000_000);
            let mut enc = GapEncoder::new(row.start);
            let (secs, primes) = time(|| {
                kernel.primes(row.start, row.start + w - 1, &mut enc);
                enc.count()
            });
            line(
                "auto primes",
                &row,
                w,
                secs,
                primes,
                "(gap-encoded, as a worker ships them)",
            );
        }
    }
    bench_trial(quick);
    bench_master(quick);
    if !has_primesieve {
        println!(
            "(primesieve is not on the PATH: `apt-get install primesieve-bin` adds the comparison)"
        );
    }
}

fn bench_trial(quick: bool) {
    let c_built = TrialImpl::preferred() == TrialImpl::C;
    for row in trial_rows() {
        let width = if quick { row.quick_width } else { row.width };
        let stop = row.start + width - 1;
        let mut rust = Kernel::with_trial(KernelKind::Trial, Trial::new(TrialImpl::Rust));
        let (rs, rp) = time(|| rust.count(row.start, stop));
        line("trial rust", &row, width, rs, rp, "");
        if c_built {
            let mut c = Kernel::with_trial(KernelKind::Trial, Trial::new(TrialImpl::C));
            let (cs, cp) = time(|| c.count(row.start, stop));
            let same = if cp == rp { "" } else { " COUNT MISMATCH" };
            line(
                "trial c",
                &row,
                width,
                cs,
                cp,
                &format!("C/Rust time {:.2}{same}", cs / rs),
            );
        }
    }
    if !c_built {
        println!("(the C trial kernel is not built: pure-rust feature or no C compiler)");
    }
    println!("trial at 1e30: skipped, each prime there needs ~3e13 divisions");
}

/// `primesieve START STOP -t1 -c1` -> (seconds, count).
fn primesieve_count(start: u128, stop: u128) -> Option<(f64, u64)> {
    let t = Instant::now();
    let out = Command::new("primesieve")
        .args([
            start.to_string(),
            stop.to_string(),
            "-t1".into(),
            "-c1".into(),
        ])
        .output()
        .ok()?;
    let secs = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout);
    let count = text
        .lines()
        .filter_map(|l| l.rsplit(':').next()?.trim().parse().ok())
        .next_back()?;
    Some((secs, count))
}

/// The master's own path, without sockets: result frames for 0..=STOP, decoded,
/// checked, ordered by the scheduler (arriving shuffled within a window) and written
/// to a compact file in a temporary folder.
fn bench_master(quick: bool) {
    let stop: u128 = if quick { 100_000_000 } else { 1_000_000_000 };
    let width: u128 = 20_000_000;
    let mut cfg = Config::new(0, stop, true);
    // Chunks of one width, no cap on primes per chunk or on the buffer: the scheduler
    // cuts the whole job at once for one worker with enough slots.
    cfg.initial_width = width;
    cfg.min_width = width;
    cfg.max_width = width;
    cfg.max_chunk_primes = u64::MAX >> 8;
    cfg.max_buffer_bytes = 1 << 40;
    let mut sched: Scheduler<crate::gaps::Checked> = Scheduler::new(cfg);
    let now = Duration::ZERO;
    let join = Event::Joined {
        worker: 1,
        threads: 4096,
        name: "bench".into(),
        addr: std::net::Ipv4Addr::LOCALHOST.into(),
        kernels: 0,
    };
    let mut frames = Vec::new();
    let mut kernel = Kernel::new(KernelKind::Auto);
    for a in sched.on(join, now) {
        if let Action::Assign {
            chunk, start, stop, ..
        } = a
        {
            let mut enc = GapEncoder::new(start);
            kernel.primes(start, stop, &mut enc);
            let count = enc.count();
            let gaps = enc.into_bytes();
            let digest = gaps::digest(&gaps);
            let r = ChunkResult {
                chunk,
                start,
                stop,
                count,
                digest,
                compute_us: 1000,
                gaps,
            };
            let mut f = Vec::new();
            wire::encode(&Message::Result(r), &mut f);
            frames.push(f);
        }
    }
    // Arrival order: pairs swapped, so half the results wait in the reorder buffer.
    for pair in frames.chunks_mut(2) {
        pair.reverse();
    }
    let dir = std::env::temp_dir().join(format!("primecluster-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("bench.pcc");
    let spec = JobSpec {
        start: 0,
        stop,
        format: Format::Compact,
        kernel: "auto".into(),
    };
    let mut writer = match OutputWriter::create(&path, &spec, true) {
        Ok(w) => w,
        Err(e) => return println!("master bench skipped: {e}"),
    };
    let t0 = Instant::now();
    let mut primes = 0u64;
    for frame in &frames {
        let Ok(Some((Message::Result(mut r), _))) = wire::decode(frame) else {
            return println!("master bench: bad frame");
        };
        let list = match check_result(&mut r, Mode::Primes) {
            Ok(list) => list,
            Err(e) => return println!("master bench: {e}"),
        };
        let ev = Event::Result {
            worker: 1,
            chunk: r.chunk,
            start: r.start,
            stop: r.stop,
            count: r.count,
            digest: r.digest,
            compute: Duration::from_millis(1),
            bytes: list.bytes().len() as u64,
            payload: list,
        };
        for a in sched.on(ev, now) {
            match a {
                Action::Write { count, payload, .. } => {
                    primes += count;
                    if let Err(e) = writer.append(&payload) {
                        return println!("master bench: {e}");
                    }
                }
                Action::Drop { reason, .. } => {
                    return println!("master bench: scheduler refused a result: {reason}")
                }
                _ => {}
            }
        }
    }
    let finish = writer.finish();
    let secs = t0.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let _ = std::fs::remove_dir_all(&dir);
    match finish {
        Ok(_) => println!(
            "master path    0..={:<8} {} primes: decode+check+reorder+compact write {:.3} s = {}/s primes ({:.4} bytes/prime)",
            human(stop as f64),
            primes,
            secs,
            human(primes as f64 / secs),
            bytes as f64 / primes.max(1) as f64
        ),
        Err(e) => println!("master bench: {e}"),
    }
}
