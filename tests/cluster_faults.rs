//! The cluster end to end: a master and worker processes (the built binary) on
//! 127.0.0.1 with ephemeral ports. The master's file is compared with the `primes`
//! command's output (a different code path: no network, no scheduler) and, on a short
//! range, with trial division written here.
//!
//! The jobs use `--kernel trial` on the workers so that they last a few seconds: long
//! enough for workers to join, die and be replaced mid-run.

mod common;
mod reference;

use common::*;
use primecluster::auth::{HelloAuth, Method, Role};
use primecluster::wire::{self, ErrorCode, Hello, Message};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(180);

#[test]
fn master_and_three_workers_match_the_kernel_and_a_naive_reference() {
    let dir = scratch("three");
    let out = dir.join("p.txt");
    let outs = out.to_str().unwrap();
    let (mut m, port) = master(&["1e9", "1e9+3e6", "--kernel", "trial", "--out", outs]);
    let _w1 = worker(port, &["--threads", "1", "--name", "one"]);
    let _w2 = worker(port, &["--threads", "1", "--name", "two"]);
    let _w3 = worker(port, &["--threads", "2", "--name", "three"]);
    assert!(m.wait_for(LIMIT).success());
    let got = read(&out);
    assert_eq!(got, output_of(&["primes", "1e9", "1e9+3e6"]));
    // The first 1e5 numbers of the range, against trial division written here.
    let limit = 1_000_100_000u128;
    let prefix: Vec<u8> = got
        .split_inclusive(|&b| b == b'\n')
        .take_while(|l| {
            std::str::from_utf8(l)
                .unwrap()
                .trim()
                .parse::<u128>()
                .unwrap()
                <= limit
        })
        .flatten()
        .copied()
        .collect();
    assert_eq!(prefix, naive_text(1_000_000_000, limit));
}

#[test]
fn sigkill_of_a_worker_mid_run_loses_nothing() {
    let dir = scratch("kill");
    let out = dir.join("p.txt");
    let outs = out.to_str().unwrap();
    let (mut m, port) = master(&[
        "1e10",
        "1e10+4e6",
        "--kernel",
        "trial",
        "--out",
        outs,
        "--heartbeat-ms",
        "200",
    ]);
    let mut victim = worker(port, &["--threads", "2", "--name", "victim"]);
    victim.wait_line("joined", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1500));
    victim.kill9();
    let _survivor = worker(port, &["--threads", "2", "--name", "survivor"]);
    assert!(m.wait_for(LIMIT).success());
    assert_eq!(read(&out), output_of(&["primes", "1e10", "1e10+4e6"]));
}

#[test]
fn a_worker_started_before_its_master_connects_when_it_appears() {
    let port = free_port();
    let mut w = worker(port, &["--threads", "1"]);
    std::thread::sleep(Duration::from_millis(1200));
    let listen = format!("127.0.0.1:{port}");
    let dir = scratch("early");
    let out = dir.join("p.txt");
    let mut m = spawn(
        "master",
        &[
            "master",
            "0",
            "2e6",
            "--listen",
            &listen,
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        Stdio::null(),
    );
    assert!(m.wait_for(LIMIT).success());
    assert!(
        w.wait_for(Duration::from_secs(30)).success(),
        "the worker exits 0 when the job is done"
    );
    assert_eq!(read(&out), naive_text(0, 2_000_000));
}

/// Reads frames from a raw connection until the master closes it.
fn replies(mut s: TcpStream) -> Vec<Message> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let mut msgs = Vec::new();
    let mut at = 0;
    while let Ok(Some((m, used))) = wire::decode(&buf[at..]) {
        msgs.push(m);
        at += used;
    }
    msgs
}

#[test]
fn garbage_and_wrong_version_clients_are_dropped_while_the_job_completes() {
    let dir = scratch("garbage");
    let out = dir.join("p.txt");
    let (mut m, port) = master(&[
        "1e9",
        "1e9+2e6",
        "--kernel",
        "trial",
        "--out",
        out.to_str().unwrap(),
    ]);
    let _w = worker(port, &["--threads", "2"]);

    let mut g = TcpStream::connect(("127.0.0.1", port)).unwrap();
    g.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = replies(g);
    assert!(
        matches!(
            r.as_slice(),
            [Message::Error {
                code: ErrorCode::Malformed,
                ..
            }]
        ),
        "garbage gets one error frame, then the close: {r:?}"
    );

    let mut v = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let hello = Hello {
        version: 99,
        name: "future".into(),
        cores: 1,
        threads: 1,
        arch: "x".into(),
        kernels: 7,
        auth: HelloAuth {
            auth: Method::None,
            role: Role::Worker,
            client_nonce: [7; 32],
        },
    };
    let mut frame = Vec::new();
    wire::encode(&Message::Hello(hello), &mut frame);
    v.write_all(&frame).unwrap();
    let r = replies(v);
    match r.as_slice() {
        [Message::Error {
            code: ErrorCode::BadVersion,
            message,
        }] => {
            assert!(message.contains("99") && message.contains('2'), "{message}")
        }
        other => panic!("wrong-version hello: {other:?}"),
    }

    // A well-formed frame that is not a hello, sent first.
    let mut early = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut frame = Vec::new();
    wire::encode(
        &Message::Heartbeat {
            threads: 1,
            busy: 0,
        },
        &mut frame,
    );
    early.write_all(&frame).unwrap();
    assert!(matches!(
        replies(early).as_slice(),
        [Message::Error {
            code: ErrorCode::Malformed,
            ..
        }]
    ));

    assert!(m.wait_for(LIMIT).success());
    assert_eq!(read(&out), output_of(&["primes", "1e9", "1e9+2e6"]));
}
