//! The master's edges as a user meets them (issue 7): a busy port touches no file
//! (defect 11), a closed stdout ends the job quietly with status 0 (defect 7), and
//! `run`'s own worker finds its master whatever `--listen` says (defect 6).

mod common;
mod master_util;
mod reference;

use common::{output_of, read, scratch, spawn, worker};
use master_util::{run_bounded, Guard, BIN};
use primecluster::output::checkpoint_path;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn a_busy_port_touches_no_file() {
    let dir = scratch("busy-port");
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = busy.local_addr().unwrap().to_string();
    let fresh = dir.join("o.txt");
    let fs = fresh.to_str().unwrap();
    for cmd in ["master", "run"] {
        let r = run_bounded(&[cmd, "1000", "--listen", &listen, "--out", fs], LIMIT);
        assert_eq!(r.code, Some(2), "{cmd}: {}", r.stderr);
        assert!(r.stderr.contains(&listen), "{cmd}: {}", r.stderr);
        assert!(!fresh.exists(), "{cmd} created {fs}");
        assert!(!checkpoint_path(&fresh).exists(), "{cmd} left a checkpoint");
    }
    // A finished file survives a --force run that cannot bind.
    let done = dir.join("done.txt");
    let ds = done.to_str().unwrap();
    let r = run_bounded(&["run", "1000", "--out", ds, "--quiet"], LIMIT);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let before = read(&done);
    let ckpt_before = read(&checkpoint_path(&done));
    let args = [
        "master", "1000", "--listen", &listen, "--out", ds, "--force",
    ];
    let r = run_bounded(&args, LIMIT);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(read(&done), before, "--force truncated a finished file");
    assert_eq!(read(&checkpoint_path(&done)), ckpt_before);
}

/// Reads two lines of stdout, closes it, and returns the exit code and stderr.
fn close_after_two_lines(mut g: Guard) -> (Option<i32>, String) {
    let out = g.0.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "2");
    assert_eq!(lines.next().unwrap().unwrap(), "3");
    drop(lines);
    let mut err = String::new();
    let mut stderr = g.0.stderr.take().unwrap();
    let until = std::time::Instant::now() + LIMIT;
    let st = loop {
        if let Some(st) = g.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < until,
            "no exit after the pipe closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = stderr.read_to_string(&mut err);
    (st.code(), err)
}

#[test]
fn run_into_a_closed_pipe_exits_0_quietly() {
    let child = Command::new(BIN)
        .args(["run", "1e9", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, err) = close_after_two_lines(Guard(child));
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(!err.to_lowercase().contains("broken pipe"), "{err}");
}

#[test]
fn master_into_a_closed_pipe_exits_0_quietly() {
    let args = ["master", "--listen", "127.0.0.1:0", "--quiet", "1e9"];
    let mut m = spawn("master", &args, Stdio::piped());
    let line = m.wait_line("listening on", Duration::from_secs(30));
    let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let _w = worker(port, &["--threads", "1"]);
    let out = m.child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "2");
    drop(lines);
    let st = m.wait_for(LIMIT);
    let rest = m.lines_so_far();
    assert_eq!(st.code(), Some(0), "stderr: {rest:#?}");
    assert!(
        !rest
            .iter()
            .any(|l| l.to_lowercase().contains("broken pipe")),
        "{rest:#?}"
    );
}

#[test]
fn runs_own_worker_does_not_depend_on_the_listen_address() {
    let want = output_of(&["primes", "1e5"]);
    // 127.0.0.2 is loopback on Linux but not 127.0.0.1; 0.0.0.0 is every address (which
    // needs a token or --insecure: tests/auth_cluster.rs checks the refusal).
    for listen in ["127.0.0.2:0", "0.0.0.0:0"] {
        let r = run_bounded(
            &["run", "1e5", "--listen", listen, "--quiet", "--insecure"],
            LIMIT,
        );
        assert_eq!(r.code, Some(0), "--listen {listen}: {}", r.stderr);
        assert_eq!(r.stdout, want, "--listen {listen}");
    }
}
