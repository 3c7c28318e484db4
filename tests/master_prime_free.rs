//! Ranges without a prime (issue 7, defect 2): each must end at once with an empty
//! output (or a count of 0) and exit 0, in every mode: `run` to stdout, to a text file,
//! to a compact file, counting; and a master with a separate worker process.

mod common;
mod master_util;
mod reference;

use common::{master, read, scratch, spawn, worker};
use master_util::run_bounded;
use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

/// Hangs on the old code, so a bound keeps the test finite.
const LIMIT: Duration = Duration::from_secs(90);

const PRIME_FREE: &[(&str, &str)] = &[
    ("24", "28"),
    ("0", "1"),
    ("4", "4"),
    ("2^128-1", "2^128-1"),
    // A maximal prime gap of 1476 follows 1425172824437699411.
    ("1425172824437699412", "1425172824437700886"),
];

#[test]
fn run_finishes_prime_free_ranges_empty_in_every_format() {
    let dir = scratch("prime-free-run");
    for (i, (start, stop)) in PRIME_FREE.iter().enumerate() {
        let r = run_bounded(&["run", start, stop, "--quiet"], LIMIT);
        assert_eq!(r.code, Some(0), "run {start} {stop}: {}", r.stderr);
        assert!(
            r.stdout.is_empty(),
            "run {start} {stop} printed {:?}",
            r.stdout
        );

        let r = run_bounded(&["run", start, stop, "--count", "--quiet"], LIMIT);
        assert_eq!(r.code, Some(0), "run --count {start} {stop}: {}", r.stderr);
        assert_eq!(r.stdout, b"0\n", "run --count {start} {stop}");

        let text = dir.join(format!("t{i}.txt"));
        let ts = text.to_str().unwrap();
        let r = run_bounded(&["run", start, stop, "--out", ts, "--quiet"], LIMIT);
        assert_eq!(r.code, Some(0), "run --out {start} {stop}: {}", r.stderr);
        assert!(read(&text).is_empty());

        let compact = dir.join(format!("c{i}.pc"));
        let cs = compact.to_str().unwrap();
        let args = ["run", start, stop, "--out", cs, "--format", "compact", "-q"];
        let r = run_bounded(&args, LIMIT);
        assert_eq!(r.code, Some(0), "compact {start} {stop}: {}", r.stderr);
        let r = run_bounded(&["decode", cs], LIMIT);
        assert_eq!(r.code, Some(0), "decode {start} {stop}: {}", r.stderr);
        assert!(
            r.stdout.is_empty(),
            "decode of {start} {stop}: {:?}",
            r.stdout
        );
    }
}

#[test]
fn master_and_worker_finish_prime_free_ranges() {
    let dir = scratch("prime-free-master");
    for (i, (start, stop)) in PRIME_FREE.iter().enumerate() {
        let out = dir.join(format!("m{i}.txt"));
        let (mut m, port) = master(&[start, stop, "--out", out.to_str().unwrap()]);
        let _w = worker(port, &["--threads", "1"]);
        let st = m.wait_for(LIMIT);
        assert!(st.success(), "master {start} {stop}: {st:?}");
        assert!(read(&out).is_empty());

        // Counting, the count read from the master's stdout.
        let args = [
            "master",
            "--listen",
            "127.0.0.1:0",
            "--quiet",
            "--count",
            start,
            stop,
        ];
        let mut m = spawn("master", &args, Stdio::piped());
        let line = m.wait_line("listening on", Duration::from_secs(30));
        let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
        let _w = worker(port, &["--threads", "1"]);
        let st = m.wait_for(LIMIT);
        assert!(st.success(), "master --count {start} {stop}: {st:?}");
        let mut got = String::new();
        m.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut got)
            .unwrap();
        assert_eq!(got, "0\n", "master --count {start} {stop}");
    }
}
