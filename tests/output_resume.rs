//! Crashes and resumes: whatever the chunk boundaries and wherever the writer is
//! killed (after a checkpoint, mid-chunk, mid-block, with junk past the checkpoint),
//! resuming and finishing gives a file byte-identical to an uninterrupted run, for both
//! formats. Also the refusals of resume: another job, no checkpoint, a short output.

mod output_common;
mod reference;

use output_common::*;
use primecluster::gaps::GapEncoder;
use primecluster::output::{checkpoint_path, Format, JobSpec, OutputError, OutputWriter, ResumeAt};
use reference::Rng;
use std::io::Write;
use std::path::Path;

/// The gap list of the primes of `ps` inside `lo..=hi`.
fn gaps_in(ps: &[u128], lo: u128, hi: u128) -> Vec<u8> {
    let a = ps.partition_point(|&p| p < lo);
    let b = ps.partition_point(|&p| p <= hi);
    let mut e = GapEncoder::new(lo);
    ps[a..b].iter().for_each(|&p| e.push(p));
    e.into_bytes()
}

/// Runs `job` with random chunk sizes, checkpoints and crashes; returns the file and the
/// number of crashes.
fn run_with_crashes(
    path: &Path,
    job: &JobSpec,
    ps: &[u128],
    seed: u64,
    crashes: usize,
) -> (Vec<u8>, usize) {
    let mut rng = Rng::xorshift(seed);
    let span = job.stop - job.start + 1;
    let mut w = OutputWriter::create(path, job, true).unwrap();
    let mut pos = Some(job.start);
    let mut left = crashes;
    while let Some(lo) = pos {
        let len = 1 + (rng.next() as u128 % (span / 8));
        let hi = lo.saturating_add(len - 1).min(job.stop);
        append(&mut w, lo, hi, &gaps_in(ps, lo, hi)).unwrap();
        pos = (hi < job.stop).then(|| hi + 1);
        assert_eq!(w.next_start(), pos);
        if rng.below(3) == 0 {
            w.checkpoint().unwrap();
        }
        if left > 0 && rng.below(3) == 0 {
            left -= 1;
            // Crash: the buffer is lost; sometimes junk lands past the checkpoint.
            drop(w);
            if rng.below(2) == 0 {
                let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
                f.write_all(b"\x00junk\xff9999\n").unwrap();
            }
            let (w2, at) = OutputWriter::resume(path, job).unwrap();
            w = w2;
            pos = match at {
                ResumeAt::Continue(next) => Some(next),
                ResumeAt::Complete => None,
                ResumeAt::Fresh(why) => panic!("a checkpointed run started fresh: {why}"),
            };
            assert_eq!(w.next_start(), pos);
        }
    }
    w.finish().unwrap();
    // A crash after finishing: resuming finds the job complete and changes nothing.
    let before = std::fs::read(path).unwrap();
    let (w, at) = OutputWriter::resume(path, job).unwrap();
    assert_eq!(at, ResumeAt::Complete);
    w.finish().unwrap();
    assert_eq!(std::fs::read(path).unwrap(), before);
    (before, crashes - left)
}

#[test]
fn crashes_at_random_points_give_identical_files() {
    let dir = scratch("resume-random");
    // 0..=2e6 holds 148933 primes: more than two compact blocks of 65536.
    let stop = 2_000_000u128;
    let ps = naive_primes(0, stop as u64);
    for format in [Format::Text, Format::Compact] {
        for start in [0u128, 3, 1_000_003] {
            let job = job(start, stop, format);
            let mine: Vec<u128> = ps.iter().copied().filter(|&p| p >= start).collect();
            let reference = write_all(&dir.join("ref"), &job, &chunks(start, stop, &mine, &[]));
            if format == Format::Text {
                assert!(reference == text_of(&mine));
            }
            let mut crashes = 0;
            for seed in 1..=6 {
                let (got, n) =
                    run_with_crashes(&dir.join("p"), &job, &mine, seed * 7919 + start as u64, 4);
                assert!(
                    got == reference,
                    "{format} from {start}, seed {seed}: files differ"
                );
                crashes += n;
            }
            assert!(
                crashes >= 6,
                "{format} from {start}: only {crashes} crashes"
            );
        }
    }
}

#[test]
fn crash_right_after_create_resumes_from_the_start() {
    let dir = scratch("resume-early");
    for format in [Format::Text, Format::Compact] {
        let path = dir.join("p");
        let j = job(0, 1000, format);
        drop(OutputWriter::create(&path, &j, false).unwrap());
        let (mut w, at) = OutputWriter::resume(&path, &j).unwrap();
        assert_eq!(at, ResumeAt::Continue(0));
        let ps = naive_primes(0, 1000);
        append(&mut w, 0, 1000, &gaps_in(&ps, 0, 1000)).unwrap();
        w.finish().unwrap();
        let reference = write_all(&dir.join("ref"), &j, &chunks(0, 1000, &ps, &[]));
        assert_eq!(std::fs::read(&path).unwrap(), reference);
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(checkpoint_path(&path)).unwrap();
    }
}

#[test]
fn resume_refuses_another_job_naming_the_difference() {
    let dir = scratch("resume-other");
    let path = dir.join("primes.txt");
    let j = job(0, 1_000_000_000, Format::Text);
    let mut w = OutputWriter::create(&path, &j, false).unwrap();
    append(&mut w, 0, 10, &[2, 0, 1, 1]).unwrap();
    w.checkpoint().unwrap();
    let mut other = job(0, 2_000_000_000, Format::Text);
    let msg = OutputWriter::resume(&path, &other)
        .err()
        .unwrap()
        .to_string();
    let want = format!(
        "checkpoint {}.ckpt is for another job: stop 1000000000 there, 2000000000 here",
        path.display()
    );
    assert_eq!(msg, want);
    other.format = Format::Compact;
    other.kernel = "trial".into();
    let e = OutputWriter::resume(&path, &other).err().unwrap();
    let OutputError::OtherJob { diffs, .. } = &e else {
        panic!("{e}")
    };
    let fields: Vec<&str> = diffs.iter().map(|d| d.0).collect();
    assert_eq!(fields, ["stop", "format", "kernel"], "{e}");
    // The right job resumes after 10.
    let (_, at) = OutputWriter::resume(&path, &j).unwrap();
    assert_eq!(at, ResumeAt::Continue(11));
}

#[test]
fn resume_refuses_missing_checkpoint_short_output_and_damage() {
    let dir = scratch("resume-refuse");
    let path = dir.join("primes.txt");
    let j = job(0, 100, Format::Text);
    std::fs::write(&path, b"2\n3\n").unwrap();
    let msg = OutputWriter::resume(&path, &j).err().unwrap().to_string();
    assert!(
        msg.contains("no checkpoint") && msg.contains("--force to start over"),
        "{msg}"
    );

    let mut w = OutputWriter::create(&path, &j, true).unwrap();
    append(&mut w, 0, 10, &[2, 0, 1, 1]).unwrap();
    w.checkpoint().unwrap();
    drop(w);
    // Shorter than the checkpoint says: refused, naming both sizes.
    std::fs::write(&path, b"2\n3\n").unwrap();
    let msg = OutputWriter::resume(&path, &j).err().unwrap().to_string();
    assert!(
        msg.contains("holds 4 bytes but its checkpoint says 8"),
        "{msg}"
    );
    // The same size but other content: refused.
    std::fs::write(&path, b"2\n3\n5\n9\n").unwrap();
    let msg = OutputWriter::resume(&path, &j).err().unwrap().to_string();
    assert!(
        msg.contains("damaged at byte 6: the line before byte 8 is not 7"),
        "{msg}"
    );
    // A damaged checkpoint.
    std::fs::write(&path, b"2\n3\n5\n7\n").unwrap();
    let ck = checkpoint_path(&path);
    let mut text = std::fs::read(&ck).unwrap();
    let i = text.iter().position(|&c| c == b'=').unwrap() + 1;
    text[i] = b'9';
    std::fs::write(&ck, &text).unwrap();
    let msg = OutputWriter::resume(&path, &j).err().unwrap().to_string();
    assert!(msg.contains("is damaged") && msg.contains("crc"), "{msg}");
}

/// A real full disk: a 1 MiB tmpfs (needs root and mount; skipped with a note if not).
#[test]
fn disk_full_leaves_the_file_resumable() {
    let dir = scratch("resume-full");
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        println!("note: cannot mount a tmpfs here (not root?); disk-full case skipped");
        return;
    }
    let result = std::panic::catch_unwind(|| disk_full_case(&mnt));
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    result.unwrap();
}

fn disk_full_case(mnt: &Path) {
    let path = mnt.join("primes.txt");
    let stop = 3_000_000u128; // 216816 primes, about 1.5 MB of text: more than fits.
    let ps = naive_primes(0, stop as u64);
    let j = job(0, stop, Format::Text);
    let mut w = OutputWriter::create(&path, &j, false).unwrap();
    let step = 100_000u128;
    let mut lo = 0;
    let err = loop {
        let hi = (lo + step - 1).min(stop);
        if let Err(e) = append(&mut w, lo, hi, &gaps_in(&ps, lo, hi))
            .and_then(|_| w.checkpoint().map_err(|e| e.to_string()))
        {
            break e;
        }
        lo = hi + 1;
        assert!(lo <= stop, "1 MiB tmpfs never filled");
    };
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("No space left"),
        "{msg}"
    );
    drop(w);
    // Resume cuts the file back to its last checkpoint: a valid prefix.
    let (_w, at) = OutputWriter::resume(&path, &j).unwrap();
    let ResumeAt::Continue(next) = at else {
        panic!("resume after a full disk: {at:?}")
    };
    assert!(
        next > 0 && next <= lo,
        "resumes at {next}, failed chunk started at {lo}"
    );
    let got_prefix = std::fs::read(&path).unwrap();
    let want_prefix: Vec<u128> = ps.iter().copied().filter(|&p| p < next).collect();
    assert!(got_prefix == text_of(&want_prefix));
    println!("disk full at chunk from {lo}; resumed at {next}: {msg}");
}
