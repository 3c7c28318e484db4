//! The worker process against a master written here, frame by frame: hello, welcome,
//! heartbeats, set-threads growing and shrinking the pool at once, results checked
//! against trial division, cancel, and shutdown ending the process with status 0.

mod common;
mod reference;

use common::*;
use primecluster::auth::{Challenge, ClientProof};
use primecluster::gaps::{self, GapDecoder};
use primecluster::wire::{self, Assign, Message, Mode, ShutdownReason, Welcome};
use reference::is_prime_naive;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

struct FakeMaster {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl FakeMaster {
    fn send(&mut self, msg: &Message) {
        let mut f = Vec::new();
        wire::encode(msg, &mut f);
        self.stream.write_all(&f).unwrap();
    }

    /// The next frame, within the deadline.
    fn recv(&mut self, limit: Duration) -> Message {
        let until = Instant::now() + limit;
        loop {
            if let Some((m, used)) = wire::decode(&self.buf).expect("the worker sends valid frames")
            {
                self.buf.drain(..used);
                return m;
            }
            assert!(
                Instant::now() < until,
                "no frame from the worker within {limit:?}"
            );
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("worker closed the connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Waits for a heartbeat satisfying `pred`, ignoring other frames.
    fn heartbeat_where(&mut self, pred: impl Fn(u32, u32) -> bool) -> (u32, u32) {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Message::Heartbeat { threads, busy } = self.recv(Duration::from_secs(30)) {
                if pred(threads, busy) {
                    return (threads, busy);
                }
            }
        }
        panic!("no matching heartbeat");
    }
}

fn accept_worker(listener: &TcpListener, kernel: u8) -> FakeMaster {
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut m = FakeMaster {
        stream,
        buf: Vec::new(),
    };
    match m.recv(Duration::from_secs(20)) {
        Message::Hello(h) => {
            assert_eq!(h.version, wire::VERSION);
            assert_eq!(h.threads, 1, "--threads 1");
            assert_eq!(h.name, "probe");
        }
        other => panic!("first frame must be a hello: {other}"),
    }
    // A master without a token: challenge `auth = 0`, the worker's proof `auth = 0`.
    m.send(&Message::Challenge(Challenge::NoAuth));
    match m.recv(Duration::from_secs(20)) {
        Message::Proof(ClientProof::NoAuth) => {}
        other => panic!("the worker must answer the challenge with a proof: {other}"),
    }
    let welcome = Welcome {
        version: wire::VERSION,
        worker_id: 7,
        mode: Mode::Primes,
        kernel,
        heartbeat_ms: 100,
        threads: 0,
    };
    m.send(&Message::Welcome(welcome));
    m
}

#[test]
fn set_threads_grows_and_shrinks_the_pool_and_shutdown_ends_the_worker() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut w = worker(port, &["--threads", "1", "--name", "probe", "--once"]);
    // Trial division near 1e13: each chunk below takes a while, so threads stay busy.
    let mut m = accept_worker(&listener, 2);
    assert_eq!(m.heartbeat_where(|_, _| true).0, 1);
    m.send(&Message::SetThreads { threads: 3 });
    assert_eq!(m.heartbeat_where(|t, _| t == 3).0, 3);
    let base = 10_000_000_000_000u128;
    for chunk in 0..3u64 {
        let start = base + chunk as u128 * 20_000;
        m.send(&Message::Assign(Assign {
            chunk,
            start,
            stop: start + 19_999,
            kernel: 0,
        }));
    }
    let (_, busy) = m.heartbeat_where(|_, busy| busy == 3);
    assert_eq!(busy, 3, "three threads compute at once after set-threads 3");
    let mut got = Vec::new();
    while got.len() < 3 {
        if let Message::Result(r) = m.recv(Duration::from_secs(120)) {
            got.push(r);
        }
    }
    got.sort_by_key(|r| r.chunk);
    for r in &got {
        let mut primes = Vec::new();
        GapDecoder::new(&r.gaps, r.start, r.stop)
            .for_each(|p| primes.push(p))
            .unwrap();
        let want: Vec<u128> = (r.start..=r.stop).filter(|&n| is_prime_naive(n)).collect();
        assert_eq!(primes, want, "chunk {}", r.chunk);
        assert_eq!(r.count, want.len() as u64);
        assert_eq!(r.digest, gaps::digest(&r.gaps));
    }
    m.send(&Message::SetThreads { threads: 1 });
    assert_eq!(m.heartbeat_where(|t, _| t == 1).0, 1);
    // A cancelled chunk sends nothing back; the one after it does.
    m.send(&Message::Assign(Assign {
        chunk: 10,
        start: base,
        stop: base + 200_000,
        kernel: 0,
    }));
    m.send(&Message::Cancel { chunk: 10 });
    m.send(&Message::Assign(Assign {
        chunk: 11,
        start: 100,
        stop: 200,
        kernel: 0,
    }));
    loop {
        match m.recv(Duration::from_secs(120)) {
            Message::Result(r) => {
                assert_eq!(
                    r.chunk, 11,
                    "the cancelled chunk 10 must not come back first"
                );
                assert_eq!(r.count, 21);
                break;
            }
            Message::Heartbeat { .. } => {}
            other => panic!("{other}"),
        }
    }
    m.send(&Message::Shutdown {
        reason: ShutdownReason::Done,
        message: "job complete".into(),
    });
    assert!(
        w.wait_for(Duration::from_secs(60)).success(),
        "exit 0 on shutdown"
    );
}

#[test]
fn a_worker_refused_for_its_version_exits_non_zero_without_retrying() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut w = worker(port, &["--threads", "1", "--name", "probe"]);
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut m = FakeMaster {
        stream,
        buf: Vec::new(),
    };
    assert!(matches!(m.recv(Duration::from_secs(20)), Message::Hello(_)));
    let text = "this master speaks protocol version 9".to_string();
    m.send(&Message::Error {
        code: wire::ErrorCode::BadVersion,
        message: text,
    });
    let st = w.wait_for(Duration::from_secs(30));
    assert_eq!(st.code(), Some(1));
}
