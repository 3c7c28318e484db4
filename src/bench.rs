//! The `bench` subcommand: figures, never pass/fail.
//!
//! For each kernel and magnitude (around 1e9, 1e12, 1e18, just below and just above
//! 2^64, around 1e30) it times one thread on a range sized for that kernel there and
//! prints numbers/s and primes/s; the trial kernel is timed in C and in Rust and their
//! ratio printed. If `primesieve` is on the PATH it is timed on the same sieve ranges
//! (one thread) and the ratio printed, with the two counts compared. Last, the master's
//! own path: result frames decoded, checked, put in order by the scheduler and written
//! to a compact file, in primes per second.
//!
//! First comes the table of issue 9: counting a 1e9-wide range (1e8 with `--quick`)
//! at every height from 1e9 to 2^64-1e9 on one thread, ours against `primesieve -t1`,
//! as CPU seconds (the machine is shared: wall time would measure the neighbours) and
//! the memory of each run (ours: the sieve's heap plus the shared table up to √stop;
//! primesieve: its peak resident size), then 2 threads at 1e18 and near 2^64, then the
//! same ranges as a worker's threads count them on the chunks a master cuts for a job
//! that ships primes (2^20 primes each, dealt to the threads in turn): a run of short
//! calls. Each time is the better of two runs, ours and primesieve's side by side.

use crate::gaps::{self, GapEncoder};
use crate::kernel::sieving_primes::{shared_table, table_bytes};
use crate::kernel::trial::{Trial, TrialImpl};
use crate::kernel::{Kernel, KernelKind, Memory};
use crate::master::{check_result, human};
use crate::output::{Format, JobSpec, OutputWriter};
use crate::schedule::{aligned_width, Action, Config, Event, Scheduler};
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
    height_table(quick, has_primesieve);
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

/// CPU seconds of this process so far (every thread).
fn process_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec; the clock id is a constant the OS knows.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// `primesieve START STOP -tN` -> (CPU seconds, peak resident bytes, count), from the
/// child's own resource usage.
fn primesieve_run(start: u128, stop: u128, threads: u32) -> Option<(f64, u64, u64)> {
    use std::os::unix::process::ExitStatusExt;
    let child = Command::new("primesieve")
        .args([
            start.to_string(),
            stop.to_string(),
            format!("-t{threads}"),
            "-c1".into(),
            "--no-status".into(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let pid = child.id() as libc::pid_t;
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout?, &mut out).ok()?;
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills; pid is our child, not yet reaped
    // (Child is dropped without wait, which neither waits nor kills).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if rc != pid || !std::process::ExitStatus::from_raw(status).success() {
        return None;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    let cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
    let count = out
        .lines()
        .filter_map(|l| l.rsplit(':').next()?.trim().parse().ok())
        .next_back()?;
    Some((cpu, ru.ru_maxrss as u64 * 1024, count))
}

/// Builds the process's table of sieving primes for stops up to `stop` (below 2^64)
/// and returns the CPU seconds it took: a worker pays this once, not per chunk.
fn warm_table(stop: u128) -> f64 {
    let cpu0 = process_cpu();
    let root = (stop.min(u64::MAX as u128) as u64).isqrt();
    drop(shared_table(root));
    process_cpu() - cpu0
}

/// Bytes of the shared table a fresh process holds for a range ending at `stop`. The
/// process's own table may be larger by now (it grows for earlier rows and never
/// shrinks), which would charge a low row for a high row's table.
fn table_for(stop: u128) -> u64 {
    table_bytes((stop.min(u64::MAX as u128) as u64).isqrt())
}

/// Counts `start..=stop` on `threads` threads (each its own kernel on its part, the
/// budget shared as a worker shares it): (CPU seconds, bytes held at the end, count).
fn ours(start: u128, stop: u128, threads: u32) -> (f64, u64, u64) {
    let part = (stop - start + 1).div_ceil(u128::from(threads));
    let ranges: Vec<(u128, u128)> = (0..u128::from(threads))
        .map(|t| start + t * part)
        .map(|a| (a, (a + part - 1).min(stop)))
        .collect();
    count_on_threads(&ranges, threads, stop)
}

/// Counts `start..=stop` as a worker's `threads` threads do on the chunks a master cuts
/// for a job that ships primes: each thread's first chunk `initial_width` wide, the
/// rest as wide as the cap of 2^20 primes allows (the sieve's rate would make them
/// wider), cut back to end on a sieve segment as the master does, chunk i to thread
/// i mod `threads` (the master cuts in order and hands out round the robin).
/// (CPU seconds, bytes held at the end, count.)
fn ours_chunks(start: u128, stop: u128, threads: u32) -> (f64, u64, u64) {
    let cfg = Config::new(start, stop, true);
    let mut chunks: Vec<(u128, u128)> = Vec::new();
    let mut a = start;
    while a <= stop {
        let w = if chunks.len() < threads as usize {
            cfg.initial_width
        } else {
            aligned_width(a, (cfg.max_chunk_primes as f64 * (a as f64).ln()) as u128)
        };
        let b = (a + w - 1).min(stop);
        chunks.push((a, b));
        a = b + 1;
    }
    count_on_threads(&chunks, threads, stop)
}

/// Counts `ranges` on `threads` threads at the default budget for them, range i on
/// thread i mod `threads`, each thread one kernel through its ranges in order:
/// (CPU seconds, bytes the kernels hold at the end plus the table for `stop`, count).
fn count_on_threads(ranges: &[(u128, u128)], threads: u32, stop: u128) -> (f64, u64, u64) {
    let memory = Memory::default_for(threads);
    let cpu0 = process_cpu();
    let (count, heap) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads as usize)
            .map(|t| {
                scope.spawn(move || {
                    let mut k = Kernel::with_budget(KernelKind::Auto, memory);
                    let mine = ranges.iter().skip(t).step_by(threads as usize);
                    let c: u64 = mine.map(|&(a, b)| k.count(a, b)).sum();
                    (c, k.heap_bytes() as u64)
                })
            })
            .collect();
        handles
            .into_iter()
            // A thread's panic is the bench's: a count of 0 would read as a result.
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .fold((0, 0), |(c, m), (c2, m2)| (c + c2, m + m2))
    });
    let cpu = process_cpu() - cpu0;
    (cpu, heap + table_for(stop), count)
}

/// The table of issue 9 (see the module header).
fn height_table(quick: bool, has_primesieve: bool) {
    let width: u128 = if quick { 100_000_000 } else { 1_000_000_000 };
    // Whole ranges (one call per thread), then as chunks ("chunks": see `ours_chunks`).
    let (e16, e18) = (10_000_000_000_000_000, 1_000_000_000_000_000_000);
    let heights: [(&str, u128, u32, bool); 15] = [
        ("1e9", 1_000_000_000, 1, false),
        ("1e12", 1_000_000_000_000, 1, false),
        ("1e15", 1_000_000_000_000_000, 1, false),
        ("1e16", e16, 1, false),
        ("1e17", 100_000_000_000_000_000, 1, false),
        ("1e18", e18, 1, false),
        ("1e19", 10_000_000_000_000_000_000, 1, false),
        ("2^64-w", TWO64 - width, 1, false),
        ("1e18", e18, 2, false),
        ("2^64-w", TWO64 - width, 2, false),
        ("1e16", e16, 1, true),
        ("1e18", e18, 1, true),
        ("2^64-w", TWO64 - width, 1, true),
        ("1e18", e18, 2, true),
        ("2^64-w", TWO64 - width, 2, true),
    ];
    println!(
        "counting {} numbers from each height (CPU seconds; memory: ours heap + shared table to sqrt(stop), primesieve peak RSS;",
        human(width as f64)
    );
    println!(
        "table s: building our shared table of sieving primes, once per process, not in 'ours s';"
    );
    println!(
        "chunks: ours on the chunks a master cuts when primes are shipped, 2^20 primes each, dealt to the threads in turn;"
    );
    println!("each time the better of two runs, ours and primesieve's taken side by side)");
    println!(
        "{:<13} {:>3} {:>9} {:>9} {:>10} {:>9} {:>10} {:>7} {:>8}",
        "height", "thr", "count", "ours s", "ours MiB", "ps s", "ps MiB", "ratio", "table s"
    );
    // primesieve first: a child's peak resident size starts from its parent's (Linux
    // carries it over fork and exec), so its memory is measured while ours is still
    // small. Its time is the better of that run and one right after ours: the
    // machine's speed drifts over the minutes the table takes (a phase of primesieve
    // and then one of ours moved ratios by 0.3), so both sides are also timed
    // side by side, and each takes the better of two runs.
    let ps_runs: Vec<_> = heights
        .iter()
        .map(|&(_, start, threads, _)| {
            has_primesieve
                .then(|| primesieve_run(start, start + width - 1, threads))
                .flatten()
        })
        .collect();
    for ((label, start, threads, chunked), ps) in heights.into_iter().zip(ps_runs) {
        let stop = start + width - 1;
        let table_s = warm_table(stop);
        let run_ours = || {
            if chunked {
                ours_chunks(start, stop, threads)
            } else {
                ours(start, stop, threads)
            }
        };
        let (cpu, mem, count) = run_ours();
        let ps = ps.map(|(ps_cpu, ps_mem, ps_count)| {
            let again = primesieve_run(start, stop, threads);
            let best = again.map_or(ps_cpu, |(t, _, _)| t.min(ps_cpu));
            (best, ps_mem, ps_count)
        });
        let cpu = cpu.min(run_ours().0);
        let label = if chunked {
            format!("{label} chunks")
        } else {
            label.to_string()
        };
        let (ps_s, ps_mib, ratio) = match ps {
            Some((ps_cpu, ps_mem, ps_count)) if ps_count == count => (
                format!("{ps_cpu:.3}"),
                format!("{:.1}", ps_mem as f64 / 1048576.0),
                format!("{:.2}x", cpu / ps_cpu),
            ),
            Some((_, _, ps_count)) => ("-".into(), "-".into(), format!("MISMATCH {ps_count}")),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<13} {:>3} {:>9} {:>9.3} {:>10.1} {:>9} {:>10} {:>7} {:>8.3}",
            label,
            threads,
            count,
            cpu,
            mem as f64 / 1048576.0,
            ps_s,
            ps_mib,
            ratio,
            table_s
        );
    }
}
