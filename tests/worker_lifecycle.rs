//! When a worker process leaves and when it stays (issue 7, defects 8, 10, 18): the
//! worker binary against a fake master. Shutdown `Done` ends it with status 0 also as
//! the first frame; `Stopped` (a master stopping on an error or a signal) makes it wait
//! and reconnect; `--idle-exit` ends it after that long without a master, with ever
//! sparser log lines meanwhile; a bad HOST:PORT exits 2 at once; the default name is
//! unique per process.

mod common;
mod reference;
mod worker_common;

use common::*;
use primecluster::wire::{Message, ShutdownReason};
use std::process::Stdio;
use std::time::{Duration, Instant};
use worker_common::*;

const LONG: Duration = Duration::from_secs(60);

fn shutdown(reason: ShutdownReason) -> Message {
    Message::Shutdown {
        reason,
        message: format!("test says {}", reason.name()),
    }
}

#[test]
fn done_as_the_first_frame_ends_the_worker_with_status_0() {
    let l = FakeListener::new();
    let mut w = worker(l.port, &["--threads", "1"]);
    let mut m = l.accept(LONG);
    m.hello();
    // The job ended as the worker joined: no Welcome, only Shutdown Done.
    m.send(&shutdown(ShutdownReason::Done));
    assert_eq!(w.wait_for(LONG).code(), Some(0));
}

#[test]
fn stopped_makes_the_worker_reconnect_until_done() {
    let l = FakeListener::new();
    let mut w = worker(l.port, &["--threads", "1"]);
    // A master that stops (disk full, SIGTERM) after Welcome...
    let mut m = l.accept(LONG);
    m.welcome(1000);
    m.send(&shutdown(ShutdownReason::Stopped));
    // ...gets the worker back when it is resumed; one stopping before Welcome too.
    let mut m = l.accept(LONG);
    m.hello();
    m.send(&shutdown(ShutdownReason::Stopped));
    let mut m = l.accept(LONG);
    m.welcome(1000);
    assert!(w.child.try_wait().unwrap().is_none(), "still running");
    m.send(&shutdown(ShutdownReason::Done));
    assert_eq!(w.wait_for(LONG).code(), Some(0));
}

#[test]
fn idle_exit_ends_a_worker_without_master_and_logs_sparsely() {
    // A "master" that accepts and closes at once: every attempt fails visibly.
    let l = FakeListener::new();
    let began = Instant::now();
    let mut w = worker(l.port, &["--threads", "1", "--idle-exit", "8"]);
    let mut attempts = 0;
    while w.child.try_wait().unwrap().is_none() {
        attempts += l.drain();
        assert!(began.elapsed() < LONG, "no exit within {LONG:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    attempts += l.drain();
    let took = began.elapsed();
    assert_eq!(w.wait_for(LONG).code(), Some(0), "idle exit is a success");
    assert!(took >= Duration::from_secs(8), "left after {took:?}");
    let lines = w
        .lines_so_far()
        .into_iter()
        .filter(|l| l.contains("unavailable"))
        .count();
    // Logged at attempts 1, 2, 4, 8, ...: with ~6 attempts in 8 s, 3 lines.
    let powers = (1..=attempts)
        .filter(|n: &usize| n.is_power_of_two())
        .count();
    assert!(attempts >= 4, "{attempts} attempts");
    assert!(
        lines <= powers && lines < attempts,
        "{lines} log lines for {attempts} attempts"
    );
}

#[test]
fn idle_exit_counts_from_the_last_master() {
    let l = FakeListener::new();
    let mut w = worker(l.port, &["--threads", "1", "--idle-exit", "3"]);
    let mut m = l.accept(LONG);
    m.welcome(200);
    // Connected for longer than --idle-exit: that is not idle.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        assert!(m.recv(LONG).is_some());
    }
    assert!(
        w.child.try_wait().unwrap().is_none(),
        "left while connected"
    );
    drop(m);
    // Gone: the worker leaves about 3 s later (accepting nothing meanwhile).
    let gone = Instant::now();
    assert_eq!(w.wait_for(LONG).code(), Some(0));
    assert!(gone.elapsed() >= Duration::from_millis(2500));
}

#[test]
fn a_bad_master_address_exits_2_at_once() {
    for addr in ["127.0.0.1:99999", "localhost:abc", "127.0.0.1:0", ":7878"] {
        let mut w = spawn("worker", &["worker", addr], Stdio::null());
        let st = w.wait_for(Duration::from_secs(30));
        assert_eq!(st.code(), Some(2), "{addr}");
        let said = w.lines_so_far().join("\n");
        assert!(said.contains(addr), "{addr}: {said}");
    }
    for idle in ["0", "999999999999"] {
        let mut w = spawn(
            "worker",
            &["worker", "127.0.0.1:7878", "--idle-exit", idle],
            Stdio::null(),
        );
        assert_eq!(
            w.wait_for(Duration::from_secs(30)).code(),
            Some(2),
            "{idle}"
        );
    }
}

#[test]
fn an_unresolvable_host_is_retried_not_refused() {
    let mut w = spawn(
        "worker",
        &["worker", "no-such-host.invalid:7878", "--idle-exit", "2"],
        Stdio::null(),
    );
    assert_eq!(w.wait_for(LONG).code(), Some(0));
    let said = w.lines_so_far().join("\n");
    assert!(said.contains("no-such-host.invalid"), "{said}");
}

#[test]
fn default_names_differ_between_processes_of_one_host() {
    let l = FakeListener::new();
    let mut w1 = worker(l.port, &["--threads", "1"]);
    let mut w2 = worker(l.port, &["--threads", "1"]);
    let mut names = Vec::new();
    let mut masters = Vec::new();
    for _ in 0..2 {
        let mut m = l.accept(LONG);
        names.push(m.hello().name);
        masters.push(m);
    }
    assert_ne!(names[0], names[1]);
    for w in [&w1, &w2] {
        let pid = format!("-{}", w.child.id());
        assert!(
            names.iter().any(|n| n.ends_with(&pid)),
            "{names:?} lacks {pid}"
        );
    }
    for m in &mut masters {
        m.send(&shutdown(ShutdownReason::Done));
    }
    assert_eq!(w1.wait_for(LONG).code(), Some(0));
    assert_eq!(w2.wait_for(LONG).code(), Some(0));
}

#[test]
fn a_bad_frame_from_the_master_is_answered_then_the_worker_reconnects() {
    use std::io::Write;
    let l = FakeListener::new();
    let mut w = worker(l.port, &["--threads", "1"]);
    let mut m = l.accept(LONG);
    m.welcome(1000);
    // A heartbeat frame whose CRC is wrong (the worked example's, last byte changed).
    let bad = [
        0, 0, 0, 0x0d, 0x12, 0, 0, 0, 8, 0, 0, 0, 3, 0xcd, 0x46, 0x64, 0x23,
    ];
    m.stream.write_all(&bad).unwrap();
    loop {
        match m.recv(LONG) {
            Some(Message::Error { code, message }) => {
                assert_eq!(code, primecluster::wire::ErrorCode::Malformed);
                assert!(message.contains("CRC"), "{message}");
                break;
            }
            Some(Message::Heartbeat { .. }) => {}
            other => panic!("expected an Error frame, got {other:?}"),
        }
    }
    let mut m = l.accept(LONG);
    m.welcome(1000);
    m.send(&shutdown(ShutdownReason::Done));
    assert_eq!(w.wait_for(LONG).code(), Some(0));
}
