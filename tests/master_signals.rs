//! Signals (issue 7, defect 12): SIGTERM, SIGINT or SIGHUP stop the master cleanly —
//! what is in order is written and fsynced, a checkpoint is stored, the resume command
//! is printed, and the status is 128 + the signal — and `--resume` then completes the
//! file byte-identical to an uninterrupted run. A second signal ends it at once.

mod common;
mod master_util;
mod reference;

use common::{master, output_of, read, scratch, spawn, worker};
use master_util::signal;
use primecluster::output::checkpoint_path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(180);
/// Long enough (trial division, about 10 s on two idle cores) that the signal lands
/// mid-run, 1 s after the worker joined.
const JOB: [&str; 4] = ["1e10", "1e10+1e7", "--kernel", "trial"];

/// Starts a master and a worker on JOB, waits until work flows, sends `sig`; returns
/// the master's exit code, its stderr lines after the signal and the time it took.
fn interrupt(out: &str, sig: i32) -> (Option<i32>, Vec<String>, Duration) {
    let mut args = JOB.to_vec();
    // No periodic checkpoint during the test: the one on disk is the signal's.
    args.extend(["--out", out, "--checkpoint", "3600"]);
    let (mut m, port) = master(&args);
    let _w = worker(port, &["--threads", "2"]);
    m.wait_line("joined", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1000));
    let t0 = Instant::now();
    signal(m.child.id(), sig);
    let st = m.wait_for(Duration::from_secs(60));
    let took = t0.elapsed();
    (st.code(), m.lines_so_far(), took)
}

#[test]
fn sigterm_checkpoints_exits_143_and_resume_completes_byte_identical() {
    let dir = scratch("sigterm");
    let out = dir.join("p.txt");
    let outs = out.to_str().unwrap();
    let (code, lines, took) = interrupt(outs, libc::SIGTERM);
    eprintln!(
        "SIGTERM: the master exited in {:.0} ms",
        took.as_secs_f64() * 1e3
    );
    assert_eq!(code, Some(143), "stderr: {lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("--resume") && l.contains(outs)),
        "no resume command in {lines:#?}"
    );
    assert!(
        checkpoint_path(&out).exists(),
        "no checkpoint beside {outs}"
    );
    let partial = read(&out).len();
    assert!(partial > 0, "nothing written before the signal");

    let mut args = JOB.to_vec();
    args.extend(["--out", outs, "--resume"]);
    let (mut m, port) = master(&args);
    let _w = worker(port, &["--threads", "2"]);
    assert!(m.wait_for(LIMIT).success());
    assert_eq!(read(&out), output_of(&["primes", JOB[0], JOB[1]]));
}

#[test]
fn sigint_exits_130_and_sighup_129_each_with_a_checkpoint() {
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGHUP, 129)] {
        let dir = scratch(&format!("sig{sig}"));
        let out = dir.join("p.txt");
        let (got, lines, _) = interrupt(out.to_str().unwrap(), sig);
        assert_eq!(got, Some(code), "signal {sig}: {lines:#?}");
        assert!(
            checkpoint_path(&out).exists(),
            "signal {sig}: no checkpoint"
        );
    }
}

#[test]
fn a_second_signal_ends_a_master_stuck_on_its_output() {
    // Stdout is never read: the master blocks writing it, so the first SIGTERM cannot
    // finish its clean stop; the second must end it at once.
    let args = ["master", "--listen", "127.0.0.1:0", "--quiet", "0", "1e9"];
    let mut m = spawn("master", &args, Stdio::piped());
    let line = m.wait_line("listening on", Duration::from_secs(30));
    let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let _w = worker(port, &["--threads", "1"]);
    m.wait_line("joined", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    signal(m.child.id(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(1000));
    let t0 = Instant::now();
    signal(m.child.id(), libc::SIGTERM);
    let st = m.wait_for(Duration::from_secs(30));
    assert_eq!(st.code(), Some(143), "{st:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t0.elapsed()
    );
}
