//! The worker's one writer path (issue 7, defect 17), against a fake master that stops
//! reading: heartbeats jump ahead of queued results between frames, and the network
//! thread keeps reading (a Shutdown is obeyed) while a result write is stuck.

mod common;
mod reference;
mod worker_common;

use common::*;
use primecluster::wire::{Assign, Message, ShutdownReason};
use std::time::{Duration, Instant};
use worker_common::*;

const LONG: Duration = Duration::from_secs(60);

/// A chunk near 1e9 whose result is about 12 MB of gap bytes (~12 million primes),
/// far more than the loopback socket buffers hold while nobody reads (about 4 MB).
fn big_chunk(chunk: u64) -> Assign {
    let width = 250_000_000u128;
    let start = 1_000_000_000 + chunk as u128 * width;
    Assign {
        chunk,
        start,
        stop: start + width - 1,
        kernel: 0,
    }
}

#[test]
fn a_heartbeat_waits_for_one_result_frame_not_for_all_queued() {
    let l = FakeListener::new();
    let mut w = worker(l.port, &["--threads", "4", "--name", "probe"]);
    let mut m = l.accept(LONG);
    // Heartbeats every 5 s: the first is due after the four results are computed (about
    // a second) and the first of them has filled the socket.
    m.welcome(5000);
    for c in 0..4 {
        m.send(&Message::Assign(big_chunk(c)));
    }
    // The master does not read for 10 s (a stall, a slow link): everything queues.
    std::thread::sleep(Duration::from_secs(10));
    assert!(w.child.try_wait().unwrap().is_none());
    // How many results had arrived when the first heartbeat did.
    let mut first_beat_after = None;
    let mut results = 0;
    let began = Instant::now();
    while results < 4 {
        match m.recv(LONG) {
            Some(Message::Result(r)) => {
                assert_eq!(r.start, big_chunk(r.chunk).start);
                results += 1;
            }
            Some(Message::Heartbeat { .. }) => {
                first_beat_after.get_or_insert(results);
            }
            Some(other) => panic!("unexpected {other}"),
            None => panic!("worker closed the connection"),
        }
    }
    // Only the frame that was being written when the beat came due goes before it.
    let after = first_beat_after.expect("a heartbeat among the results");
    assert!(
        after <= 1,
        "{after} results came before the first heartbeat"
    );
    assert!(began.elapsed() < LONG);
    m.send(&Message::Shutdown {
        reason: ShutdownReason::Done,
        message: String::new(),
    });
    assert_eq!(w.wait_for(LONG).code(), Some(0));
}

#[test]
fn shutdown_is_obeyed_while_a_result_write_is_stuck() {
    let l = FakeListener::new();
    let mut w = worker(l.port, &["--threads", "1", "--name", "probe"]);
    let mut m = l.accept(LONG);
    m.welcome(200);
    m.send(&Message::Assign(big_chunk(0)));
    // Computed and stuck in the socket well within this; heartbeats are due meanwhile.
    std::thread::sleep(Duration::from_secs(6));
    m.send(&Message::Shutdown {
        reason: ShutdownReason::Done,
        message: "job complete".into(),
    });
    // Still not reading: the worker must hear the Shutdown and leave on its own.
    assert_eq!(w.wait_for(Duration::from_secs(30)).code(), Some(0));
}
