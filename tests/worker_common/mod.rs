//! A fake master for the worker tests: accept with a deadline, read frames with a
//! deadline, send frames, and count what arrives. Written against `docs/PROTOCOL.md`,
//! using only `wire` from the crate.

#![allow(dead_code)]

use primecluster::auth::{Challenge, ClientProof};
use primecluster::wire::{self, Hello, Message, Mode, Welcome};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// A listener on 127.0.0.1 with an ephemeral port, polled so no accept blocks for ever.
pub struct FakeListener {
    pub listener: TcpListener,
    pub port: u16,
}

impl FakeListener {
    pub fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        FakeListener { listener, port }
    }

    /// The next connection within `limit`, or `None`.
    pub fn try_accept(&self, limit: Duration) -> Option<FakeMaster> {
        let until = Instant::now() + limit;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_millis(100)))
                        .unwrap();
                    return Some(FakeMaster {
                        stream,
                        buf: Vec::new(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= until {
                        return None;
                    }
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    /// The next connection within `limit`; panics without one.
    pub fn accept(&self, limit: Duration) -> FakeMaster {
        self.try_accept(limit)
            .unwrap_or_else(|| panic!("no worker connected within {limit:?}"))
    }

    /// Connections waiting right now, accepted and dropped: how many there were.
    pub fn drain(&self) -> usize {
        let mut n = 0;
        while self.listener.accept().is_ok() {
            n += 1;
        }
        n
    }
}

/// One accepted worker connection.
pub struct FakeMaster {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl FakeMaster {
    pub fn send(&mut self, msg: &Message) {
        let mut f = Vec::new();
        wire::encode(msg, &mut f);
        self.stream.write_all(&f).unwrap();
    }

    /// The next frame within `limit`; `None` when the worker closed the connection.
    pub fn recv(&mut self, limit: Duration) -> Option<Message> {
        let until = Instant::now() + limit;
        loop {
            if let Some((m, used)) = wire::decode(&self.buf).expect("the worker sends valid frames")
            {
                self.buf.drain(..used);
                return Some(m);
            }
            assert!(
                Instant::now() < until,
                "no frame from the worker within {limit:?}"
            );
            let mut chunk = [0u8; 1 << 16];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// The worker's Hello, which must be its first frame.
    pub fn hello(&mut self) -> Hello {
        match self.recv(Duration::from_secs(30)) {
            Some(Message::Hello(h)) => h,
            other => panic!("first frame must be a hello, got {other:?}"),
        }
    }

    /// Reads the Hello, runs the handshake of a master without a token (challenge
    /// `auth = 0`, then the worker's proof) and answers with a Welcome in primes mode.
    pub fn welcome(&mut self, heartbeat_ms: u32) -> Hello {
        let h = self.hello();
        self.send(&Message::Challenge(Challenge::NoAuth));
        match self.recv(Duration::from_secs(30)) {
            Some(Message::Proof(ClientProof::NoAuth)) => {}
            other => panic!("the worker must answer the challenge with a proof: {other:?}"),
        }
        self.send(&Message::Welcome(Welcome {
            version: wire::VERSION,
            worker_id: 1,
            mode: Mode::Primes,
            kernel: 0,
            heartbeat_ms,
            threads: 0,
        }));
        h
    }
}
