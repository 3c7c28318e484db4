//! A stalled master must not drop healthy workers (issue 7, defect 4): neither when it
//! is stopped (SIGSTOP for 3 s with 200 ms heartbeats; in `run` its own worker threads
//! stop with it) nor when its stdout is not read for seconds. A dropped worker shows as
//! a "lost" line in the master's log.

mod common;
mod master_util;
mod reference;

use common::{output_of, read, scratch, spawn, worker};
use master_util::signal;
use std::io::Read;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(180);
/// Trial division: a job of several seconds with output flowing all along.
const JOB: [&str; 4] = ["1e10", "1e10+3e6", "--kernel", "trial"];

fn assert_none_lost(lines: &[String]) {
    let lost: Vec<&String> = lines.iter().filter(|l| l.contains("lost")).collect();
    assert!(lost.is_empty(), "workers dropped: {lost:#?}");
}

#[test]
fn sigstop_of_run_for_3_s_drops_no_worker() {
    let dir = scratch("sigstop");
    let out = dir.join("p.txt");
    let mut args = vec!["run"];
    args.extend(JOB);
    args.extend(["--threads", "1", "--heartbeat-ms", "200", "-q"]);
    args.extend(["--out", out.to_str().unwrap()]);
    let mut m = spawn("run", &args, Stdio::null());
    std::thread::sleep(Duration::from_millis(2000));
    signal(m.child.id(), libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(3));
    signal(m.child.id(), libc::SIGCONT);
    // On the old code the local worker was dropped and the job never ended.
    let st = m.wait_for(LIMIT);
    assert_none_lost(&m.lines_so_far());
    assert!(st.success(), "{st:?}");
    assert_eq!(read(&out), output_of(&["primes", JOB[0], JOB[1]]));
}

#[test]
fn an_unread_stdout_for_6_s_drops_no_worker() {
    let mut args = vec!["master", "--listen", "127.0.0.1:0", "--heartbeat-ms", "200"];
    args.extend(JOB);
    let mut m = spawn("master", &args, Stdio::piped());
    let line = m.wait_line("listening on", Duration::from_secs(30));
    let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    // Read stdout all along, except for 6 s (30 heartbeat timeouts) once both
    // workers are in: the pipe fills and the master blocks writing to it.
    let pause = Arc::new(AtomicBool::new(false));
    let mut stdout = m.child.stdout.take().unwrap();
    let p = pause.clone();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if p.swap(false, Ordering::SeqCst) {
                std::thread::sleep(Duration::from_secs(6));
            }
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    });
    let _w1 = worker(port, &["--threads", "1", "--name", "one"]);
    let _w2 = worker(port, &["--threads", "1", "--name", "two"]);
    m.wait_line("joined", Duration::from_secs(30));
    m.wait_line("joined", Duration::from_secs(30));
    pause.store(true, Ordering::SeqCst);
    let st = m.wait_for(LIMIT);
    let got = reader.join().unwrap();
    assert_none_lost(&m.lines_so_far());
    assert!(st.success(), "{st:?}");
    assert_eq!(got, output_of(&["primes", JOB[0], JOB[1]]));
}
