//! Issue 7's output defects, each probed at its seam: resume at the top of the u128
//! range (defect 3), an output deleted, cut or replaced mid-run (13), `--resume` with
//! nothing to resume (14), an idle checkpoint (15), `decode` of a bad file and
//! `verify`'s shown bytes (19), and `verify` rejecting a composite the sieve's seam bug
//! lets through (it decides membership by Miller–Rabin, not by the sieve).

mod output_common;
mod reference;

use output_common::*;
use primecluster::kernel::KernelKind;
use primecluster::output::{
    checkpoint_path, verify, Checkpoint, DiscrepancyKind, Format, FreshStart, OutputError,
    OutputWriter, ResumeAt,
};
use primecluster::u128math::is_prime;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The primes of `a..=b` by Miller–Rabin, one number at a time (short ranges only).
fn primes_by_mr(a: u128, b: u128) -> Vec<u128> {
    (a..=b).filter(|&n| is_prime(n)).collect()
}

fn ckpt(path: &Path) -> Checkpoint {
    Checkpoint::load(path).unwrap().expect("a checkpoint")
}

#[test]
fn resume_of_a_finished_job_ending_at_2_128_minus_1_is_complete() {
    let dir = scratch("trust-top");
    let (a, b) = (u128::MAX - 400, u128::MAX);
    let ps = primes_by_mr(a, b);
    assert!(!ps.is_empty());
    for format in [Format::Text, Format::Compact] {
        let path = dir.join(format!("top.{format}"));
        let j = job(a, b, format);
        let whole = write_all(&path, &j, &chunks(a, b, &ps, &[a + 200]));
        // Old code: the resume point was `stop + 1`, which wrapped to 0.
        let (w, at) = OutputWriter::resume(&path, &j).unwrap();
        assert_eq!(at, ResumeAt::Complete, "{format}");
        assert_eq!(w.next_start(), None);
        w.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), whole);

        // Every number appended but not finished (a crash before the trailer): still
        // Complete, and finish completes it.
        let mut w = OutputWriter::create(&path, &j, true).unwrap();
        for c in chunks(a, b, &ps, &[a + 200]) {
            append(&mut w, c.start, c.stop, &c.gaps).unwrap();
        }
        w.checkpoint().unwrap();
        drop(w);
        let (mut w, at) = OutputWriter::resume(&path, &j).unwrap();
        if format == Format::Text {
            assert_eq!(at, ResumeAt::Complete, "{format} unfinished");
        } else {
            // Compact checkpoints whole blocks only: the one partial block is redone.
            assert_eq!(at, ResumeAt::Continue(a));
            append(&mut w, a, b, &chunks(a, b, &ps, &[])[0].gaps).unwrap();
        }
        w.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), whole, "{format}");
    }
}

#[test]
fn resume_with_nothing_to_resume_starts_fresh() {
    let dir = scratch("trust-fresh");
    let ps = naive_primes(0, 1000);
    for format in [Format::Text, Format::Compact] {
        let path = dir.join(format!("f.{format}"));
        let j = job(0, 1000, format);
        let reference = write_all(&dir.join("ref"), &j, &chunks(0, 1000, &ps, &[]));
        // Neither file nor checkpoint (old code: "cannot resume").
        let (mut w, at) = OutputWriter::resume(&path, &j).unwrap();
        assert_eq!(at, ResumeAt::Fresh(FreshStart::NoFiles));
        assert!(
            checkpoint_path(&path).exists(),
            "first checkpoint with the file"
        );
        append(&mut w, 0, 1000, &chunks(0, 1000, &ps, &[])[0].gaps).unwrap();
        w.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), reference);

        // Killed between creating the file and its first checkpoint: the file holds
        // nothing, or part of the compact header.
        let cut = if format == Format::Compact { 20 } else { 0 };
        std::fs::write(&path, &reference[..cut]).unwrap();
        std::fs::remove_file(checkpoint_path(&path)).unwrap();
        let (_w, at) = OutputWriter::resume(&path, &j).unwrap();
        assert_eq!(
            at,
            ResumeAt::Fresh(FreshStart::BeforeFirstCheckpoint { bytes: cut as u64 })
        );

        // A file with content and no checkpoint is still refused: it may be anything.
        std::fs::write(&path, b"2\n3\n").unwrap();
        std::fs::remove_file(checkpoint_path(&path)).unwrap();
        let e = OutputWriter::resume(&path, &j).err().unwrap();
        assert!(matches!(e, OutputError::NoCheckpoint { .. }), "{e}");
        std::fs::remove_file(&path).unwrap();
    }
}

/// A writer for 0..=200000 with its first half appended and checkpointed.
fn half_written(path: &Path, format: Format) -> (OutputWriter, Vec<u128>) {
    let ps = naive_primes(0, 200_000);
    let j = job(0, 200_000, format);
    let mut w = OutputWriter::create(path, &j, true).unwrap();
    let cs = chunks(0, 200_000, &ps, &[100_001]);
    append(&mut w, cs[0].start, cs[0].stop, &cs[0].gaps).unwrap();
    w.checkpoint().unwrap();
    (w, ps)
}

fn second_half(w: &mut OutputWriter, ps: &[u128]) -> Result<(), String> {
    let c = &chunks(0, 200_000, ps, &[100_001])[1];
    append(w, c.start, c.stop, &c.gaps)
}

#[test]
fn output_changed_mid_run_is_an_error_naming_the_path() {
    let dir = scratch("trust-tamper");
    for format in [Format::Text, Format::Compact] {
        let path = dir.join(format!("t.{format}"));
        let name = path.display().to_string();
        let before = |p: &Path| ckpt(p);

        // Deleted: the next checkpoint fails, and so does finish; the checkpoint on
        // disk still says incomplete.
        let (mut w, ps) = half_written(&path, format);
        let ck = before(&path);
        std::fs::remove_file(&path).unwrap();
        let e = w.checkpoint().unwrap_err();
        assert!(matches!(e, OutputError::Vanished { .. }), "{e}");
        assert!(e.to_string().contains(&name), "{e}");
        second_half(&mut w, &ps).unwrap_err();
        assert!(w.finish().is_err());
        assert_eq!(before(&path), ck);
        assert!(!ck.complete);

        // Deleted after the last append: finish fails instead of claiming complete.
        let (mut w, ps) = half_written(&path, format);
        second_half(&mut w, &ps).unwrap();
        std::fs::remove_file(&path).unwrap();
        let e = w.finish().unwrap_err();
        assert!(e.to_string().contains(&name), "{e}");
        assert!(!before(&path).complete);

        // Truncated, then written past again by us: the length is right, the bytes
        // before the last checkpoint are a hole of zeros.
        let (mut w, ps) = half_written(&path, format);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        second_half(&mut w, &ps).unwrap();
        let e = w.finish().unwrap_err();
        assert!(
            matches!(
                e,
                OutputError::Overwritten { .. } | OutputError::Resized { .. }
            ),
            "{format}: {e}"
        );
        assert!(e.to_string().contains(&name), "{e}");
        assert!(!before(&path).complete);

        // Truncated with nothing written after: the length tells.
        let (mut w, _) = half_written(&path, format);
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let e = w.checkpoint().unwrap_err();
        assert!(matches!(e, OutputError::Resized { .. }), "{e}");

        // Replaced by another file of the same length.
        let (mut w, _) = half_written(&path, format);
        let other = dir.join("other");
        std::fs::copy(&path, &other).unwrap();
        std::fs::rename(&other, &path).unwrap();
        let e = w.checkpoint().unwrap_err();
        assert!(matches!(e, OutputError::Replaced { .. }), "{e}");
        assert!(e.to_string().contains(&name), "{e}");
        // The writer stays stopped.
        assert!(w.checkpoint().is_err());

        // Untouched: all is well.
        let (mut w, ps) = half_written(&path, format);
        w.checkpoint().unwrap();
        second_half(&mut w, &ps).unwrap();
        w.finish().unwrap();
        assert!(before(&path).complete);
    }
}

#[test]
fn an_idle_checkpoint_writes_nothing() {
    let dir = scratch("trust-idle");
    for format in [Format::Text, Format::Compact] {
        let path = dir.join(format!("i.{format}"));
        let (mut w, ps) = half_written(&path, format);
        // The checkpoint is replaced by rename: a new inode each time it is stored. An
        // open handle keeps the old inode alive, so its number cannot be reused.
        let held = std::fs::File::open(checkpoint_path(&path)).unwrap();
        let first = held.metadata().unwrap().ino();
        let ino = || std::fs::metadata(checkpoint_path(&path)).unwrap().ino();
        for _ in 0..3 {
            w.checkpoint().unwrap();
            assert_eq!(ino(), first, "{format}: idle checkpoint rewritten");
        }
        // New durable work is checkpointed (text: every line; compact: whole blocks
        // only, so 0..=200000's one partial block waits for finish).
        second_half(&mut w, &ps).unwrap();
        w.checkpoint().unwrap();
        assert_eq!(ino() != first, format == Format::Text, "{format}");
        w.finish().unwrap();
        assert_ne!(ino(), first, "{format}: finish not checkpointed");
        assert!(ckpt(&path).complete);
        drop(held);
        // Idle, but the file was deleted meanwhile: still noticed.
        let (mut w, _) = half_written(&path, format);
        w.checkpoint().unwrap();
        std::fs::remove_file(&path).unwrap();
        let e = w.checkpoint().unwrap_err();
        assert!(matches!(e, OutputError::Vanished { .. }), "{e}");
    }
}

#[test]
fn verify_rejects_4099_squared_in_the_sieve_seam_range() {
    // `primes 24585 16801900` printed 16801801 = 4099^2 (the sieve's seam bug): a file
    // holding it must fail verify whatever the sieve does, because membership is
    // decided by Miller–Rabin.
    let dir = scratch("trust-4099");
    let (a, b) = (24_585u128, 16_801_900u128);
    let mut ps = naive_primes(a as u64, b as u64);
    let at = ps.partition_point(|&p| p < 16_801_801);
    ps.insert(at, 16_801_801);
    let path = dir.join("seam.txt");
    std::fs::write(&path, text_of(&ps)).unwrap();
    for kind in [KernelKind::Auto, KernelKind::Sieve] {
        let r = verify(&path, Some((a, b)), kind).unwrap();
        let d = r.discrepancy.clone().expect("composite caught");
        assert_eq!(
            d.kind,
            DiscrepancyKind::Composite { found: 16_801_801 },
            "{kind}: {r}"
        );
        assert_eq!(d.index, at as u64 + 1);
    }
    // And the right file passes.
    ps.remove(at);
    std::fs::write(&path, text_of(&ps)).unwrap();
    let r = verify(&path, Some((a, b)), KernelKind::Auto).unwrap();
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.lister_errors, 0, "{r}");
}

#[test]
fn verify_shows_control_bytes_escaped() {
    let dir = scratch("trust-escape");
    let path = dir.join("cr.txt");
    std::fs::write(&path, b"2\n3\r\x00\n5\n").unwrap();
    let r = verify(&path, Some((0, 6)), KernelKind::Auto).unwrap();
    let shown = r.to_string();
    assert!(shown.contains(r"3\r\x00"), "{shown}");
    assert!(!shown.contains('\r') && !shown.contains('\0'), "{shown:?}");
}

#[test]
fn decode_of_a_bad_file_leaves_no_output() {
    let dir = scratch("trust-decode");
    let ps = naive_primes(0, 100_000);
    let j = job(0, 100_000, Format::Compact);
    let good = write_all(&dir.join("good.pc"), &j, &chunks(0, 100_000, &ps, &[]));
    let bad = dir.join("bad.pc");
    std::fs::write(&bad, &good[..good.len() - 10]).unwrap();
    let out = dir.join("out.txt");
    let o = Command::new(env!("CARGO_BIN_EXE_primecluster"))
        .args([
            "decode",
            bad.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.pc"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("out"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // A good file decodes to the text, and an existing --out is refused (status 2).
    let o = Command::new(env!("CARGO_BIN_EXE_primecluster"))
        .args(["decode", dir.join("good.pc").to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&out).unwrap(), text_of(&ps));
    let o = Command::new(env!("CARGO_BIN_EXE_primecluster"))
        .args(["decode", dir.join("good.pc").to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// Runs the binary with a time bound (the machine may be loaded); status and stderr.
fn run_bin(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_primecluster"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let limit = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err);
        }
        if std::time::Instant::now() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("primecluster {args:?} still running after 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn run_resume_at_the_top_and_from_nothing() {
    let dir = scratch("trust-run");
    let top = dir.join("top.txt");
    let top_s = top.to_str().unwrap();
    let range = ["2^128-400", "2^128-1"];
    let (code, err) = run_bin(&[&["run"][..], &range, &["--out", top_s]].concat());
    assert_eq!(code, Some(0), "{err}");
    let whole = std::fs::read(&top).unwrap();
    assert_eq!(whole, text_of(&primes_by_mr(u128::MAX - 399, u128::MAX)));
    // Old code: resumed at 0 and failed ("chunk 0..=65535 refused").
    let (code, err) = run_bin(&[&["run"][..], &range, &["--out", top_s, "--resume"]].concat());
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("already complete"), "{err}");
    assert_eq!(std::fs::read(&top).unwrap(), whole);

    // Old code: "cannot resume ...: neither it nor its checkpoint exists", status 1.
    let fresh = dir.join("fresh.txt");
    let args = [
        "run",
        "0",
        "1000",
        "--out",
        fresh.to_str().unwrap(),
        "--resume",
    ];
    let (code, err) = run_bin(&args);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("nothing to resume"), "{err}");
    assert_eq!(
        std::fs::read(&fresh).unwrap(),
        text_of(&naive_primes(0, 1000))
    );
}
