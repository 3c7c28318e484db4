//! `status`, `threads` and `stop` against a running master, through the public command
//! line exactly as a user types them: a `master` and a `worker` process on 127.0.0.1,
//! then `primecluster status|threads|stop 127.0.0.1:PORT`.
//! The control client passes the version 2 handshake with role "control" (no token
//! here). Every process is bounded in time and killed on drop.

mod common;
mod reference;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Bound on anything the loaded machine might be slow at.
const LIMIT: Duration = Duration::from_secs(120);

/// Runs `primecluster ARGS` to its end (bounded) and returns its output.
fn cli(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start primecluster");
    let until = Instant::now() + LIMIT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("primecluster {args:?} did not finish within {LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `status --json`, checked to succeed and parsed.
fn status_json(addr: &str) -> Value {
    let out = cli(&["status", addr, "--json"]);
    assert!(
        out.status.success(),
        "status --json failed: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {}", text(&out.stdout)))
}

/// The status row of the worker called `name`, once there is one.
fn row_of(status: &Value, name: &str) -> Option<Value> {
    status["workers"]
        .as_array()?
        .iter()
        .find(|w| w["name"] == name)
        .cloned()
}

/// Polls `status --json` until `want` holds for the worker `name` (bounded).
fn wait_row(addr: &str, name: &str, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + LIMIT;
    loop {
        let s = status_json(addr);
        if let Some(row) = row_of(&s, name) {
            if want(&row) {
                return row;
            }
        }
        assert!(Instant::now() < until, "{what} never showed: {s}");
        thread::sleep(Duration::from_millis(200));
    }
}

/// A master with a slow job (trial division: it runs long enough to be looked at and
/// stopped) writing `out`, and one worker called `name` with 2 threads.
fn cluster(port: u16, out: &Path, resume: bool, name: &str) -> (Proc, Proc) {
    let listen = format!("127.0.0.1:{port}");
    let out = out.to_str().unwrap().to_string();
    let mut args = vec![
        "master",
        "--listen",
        listen.as_str(),
        "--quiet",
        "--kernel",
        "trial",
        "--checkpoint",
        "0.2",
        "--out",
        out.as_str(),
        START,
        STOP,
    ];
    if resume {
        args.push("--resume");
    }
    let mut m = spawn("master", &args, Stdio::null());
    m.wait_line("listening on", LIMIT);
    let w = worker(port, &["--name", name, "--threads", "2"]);
    m.wait_line("joined", LIMIT);
    (m, w)
}

/// The job: 2 million numbers near 10^12, about 72 000 primes, slow on trial division.
const START: &str = "1000000000000";
const STOP: &str = "1000002000000";

#[test]
fn status_shows_the_job_and_each_worker() {
    let dir = scratch("control-live-status");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (_m, _w) = cluster(port, &dir.join("out.txt"), false, "livepi");

    let out = cli(&["status", &addr]);
    assert!(out.status.success(), "status: {}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains(&format!("{START}..={STOP} (text)")),
        "{table}"
    );
    assert!(table.contains("livepi"), "{table}");
    assert!(table.contains("active"), "{table}");

    let s = status_json(&addr);
    assert_eq!(s["job"]["start"], START);
    assert_eq!(s["job"]["stop"], STOP);
    assert_eq!(s["job"]["format"], "text");
    assert_eq!(s["job"]["redundancy"], 1);
    let row = row_of(&s, "livepi").expect("a row for the worker");
    assert_eq!(row["threads"], 2);
    assert_eq!(row["state"], "active");
    assert!(row["cores"].as_u64().unwrap() >= 1, "{row}");
    assert!(
        row["address"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{row}"
    );
    // The control client itself is no worker.
    assert_eq!(s["workers"].as_array().unwrap().len(), 1, "{s}");
}

#[test]
fn threads_reach_all_workers_and_one_by_name() {
    let dir = scratch("control-live-threads");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (_m, _w) = cluster(port, &dir.join("out.txt"), false, "livepi");

    // All workers: the worker's heartbeat then reports the new count.
    let out = cli(&["threads", &addr, "3"]);
    assert!(out.status.success(), "threads: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("livepi"),
        "{}",
        text(&out.stdout)
    );
    wait_row(&addr, "livepi", "threads 3", |r| r["threads"] == 3);

    // One worker by name.
    let out = cli(&["threads", &addr, "1", "--worker", "livepi"]);
    assert!(
        out.status.success(),
        "threads --worker: {}",
        text(&out.stderr)
    );
    let row = wait_row(&addr, "livepi", "threads 1", |r| r["threads"] == 1);
    // Above its cores: allowed, with a warning on stderr.
    let above = (row["cores"].as_u64().unwrap() + 1).to_string();
    let out = cli(&["threads", &addr, &above, "--worker", "livepi"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cores"), "{}", text(&out.stderr));
    wait_row(&addr, "livepi", "threads above cores", |r| {
        r["threads"].as_u64().unwrap().to_string() == above
    });

    // A worker that does not exist: remembered for its name, with a warning.
    let out = cli(&["threads", &addr, "2", "--worker", "nobody"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no worker \"nobody\" is connected"),
        "{}",
        text(&out.stderr)
    );
    // An id that matches nothing is an error.
    let out = cli(&["threads", &addr, "2", "--worker", "999"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[test]
fn stop_then_resume_finishes_byte_identical() {
    let dir = scratch("control-live-stop");
    let file = dir.join("out.txt");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (mut m, _w) = cluster(port, &file, false, "livepi");
    // Some primes written before the stop, so the resume starts mid-range.
    wait_row(&addr, "livepi", "a chunk done", |r| {
        r["chunks"].as_u64().unwrap_or(0) > 0
    });

    let out = cli(&["stop", &addr]);
    assert!(out.status.success(), "stop: {}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("--resume"), "{said}");
    let status = m.wait_for(LIMIT);
    assert_eq!(status.code(), Some(0), "the master exits 0 after a stop");
    let lines = m.lines_so_far();
    assert!(
        lines.iter().any(|l| l.contains("--resume")),
        "the master prints the resume command: {lines:?}"
    );
    let mut ckpt = file.as_os_str().to_owned();
    ckpt.push(".ckpt");
    assert!(Path::new(&ckpt).exists(), "a checkpoint beside the output");
    drop(m);

    // The worker waits for its master; the resumed one finishes the job.
    let listen = format!("127.0.0.1:{port}");
    let f = file.to_str().unwrap();
    let mut m = spawn(
        "master",
        &[
            "master",
            "--listen",
            &listen,
            "--quiet",
            "--kernel",
            "trial",
            "--checkpoint",
            "0.2",
            "--out",
            f,
            START,
            STOP,
            "--resume",
        ],
        Stdio::null(),
    );
    let status = m.wait_for(Duration::from_secs(600));
    assert!(status.success(), "the resumed master finishes");
    let want = output_of(&["primes", START, STOP]);
    assert!(
        read(&file) == want,
        "the resumed file differs from `primes`"
    );
}
