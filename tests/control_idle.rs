//! An idle control client is closed: a client that is welcomed as `status`, `threads`
//! or `stop` would be, then sends nothing, must not hold a `--max-connections` slot
//! for ever. The master's limit (30 s) is shortened here with the hidden
//! `PRIMECLUSTER_CONTROL_IDLE_MS`, and a bad value of it is refused with exit 2.

mod common;
mod reference;

use common::*;
use primecluster::auth::{ClientProof, HelloAuth, Method, Role};
use primecluster::wire::{self, Hello, Message};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A master that never finishes on its own (no worker joins), with the idle limit of
/// control clients set to `idle_ms` and at most `max_conns` connections.
fn idle_master(idle_ms: &str, max_conns: &str) -> (Proc, u16) {
    let mut child = Command::new(BIN)
        .args([
            "master",
            "--listen",
            "127.0.0.1:0",
            "--quiet",
            "0",
            "1e12",
            "--count",
            "--max-connections",
            max_conns,
        ])
        .env("RUST_LOG", "debug")
        .env("PRIMECLUSTER_CONTROL_IDLE_MS", idle_ms)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start primecluster");
    let err = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut m = Proc {
        child,
        stderr_lines: Some(rx),
        name: "master".into(),
    };
    let line = m.wait_line("listening on", Duration::from_secs(20));
    let port = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("port in the listening line");
    (m, port)
}

fn send(s: &mut TcpStream, msg: &Message) {
    let mut f = Vec::new();
    wire::encode(msg, &mut f);
    s.write_all(&f).expect("send");
}

/// Connects as a control client (no token) and waits for its Welcome.
fn welcomed_control_client(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    send(
        &mut s,
        &Message::Hello(Hello {
            version: wire::VERSION,
            name: "idle".into(),
            cores: 0,
            threads: 0,
            arch: String::new(),
            kernels: 0,
            auth: HelloAuth {
                auth: Method::None,
                role: Role::Control,
                client_nonce: [9; 32],
            },
        }),
    );
    send(&mut s, &Message::Proof(ClientProof::NoAuth));
    let mut buf = Vec::new();
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some((msg, used))) = wire::decode(&buf) {
            buf.drain(..used);
            match msg {
                Message::Challenge(_) => continue,
                Message::Welcome(_) => return s,
                other => panic!("expected a welcome, got {other}"),
            }
        }
        assert!(Instant::now() < until, "no welcome within 20 s");
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) => panic!("closed before the welcome"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
    }
}

/// Reads until the master closes the connection; returns how long that took.
fn until_closed(s: &mut TcpStream, limit: Duration) -> Duration {
    let began = Instant::now();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return began.elapsed(),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return began.elapsed(),
        }
        assert!(began.elapsed() < limit, "still open after {limit:?}");
    }
}

#[test]
fn a_silent_control_client_is_closed_and_its_slot_freed() {
    // One connection at a time: while the idle client holds it, nobody else gets in.
    let (mut m, port) = idle_master("700", "1");
    let mut first = welcomed_control_client(port);
    let waited = until_closed(&mut first, Duration::from_secs(30));
    assert!(
        waited >= Duration::from_millis(300),
        "closed after {waited:?}, before the 700 ms limit"
    );
    m.wait_line("silent for 0.7 s", Duration::from_secs(10));
    // The slot is free again: `status` (a real control client) is answered.
    let out = Command::new(BIN)
        .args(["status", &format!("127.0.0.1:{port}"), "--json"])
        .output()
        .expect("run status");
    assert!(
        out.status.success(),
        "status after the idle client was closed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(json.get("job").is_some(), "{json}");
}

#[test]
fn a_control_client_that_keeps_asking_stays() {
    // Requests reset the idle clock: a client asking every 300 ms outlives the 1 s limit.
    let (_m, port) = idle_master("1000", "4");
    let mut s = welcomed_control_client(port);
    let began = Instant::now();
    let mut buf = Vec::new();
    while began.elapsed() < Duration::from_millis(2500) {
        send(&mut s, &Message::StatusRequest);
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some((msg, used))) = wire::decode(&buf) {
                buf.drain(..used);
                assert!(matches!(msg, Message::StatusReply(_)), "{msg}");
                break;
            }
            assert!(Instant::now() < until, "no status reply");
            let mut chunk = [0u8; 65536];
            match s.read(&mut chunk) {
                Ok(0) => panic!("closed while asking, after {:?}", began.elapsed()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
        thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_bad_idle_limit_is_refused_naming_it() {
    let out = Command::new(BIN)
        .args(["master", "--listen", "127.0.0.1:0", "0", "1000", "--count"])
        .env("PRIMECLUSTER_CONTROL_IDLE_MS", "5")
        .stdin(Stdio::null())
        .output()
        .expect("run primecluster");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("PRIMECLUSTER_CONTROL_IDLE_MS: 5 is outside"),
        "{err}"
    );
}
