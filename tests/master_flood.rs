//! Memory under a flood (issue 7, defect 5): connections that announce most of a legal
//! 64 MiB frame — before their hello, or after it in place of a result — must not
//! grow the master past 32 MiB (its peak RSS, VmHWM, read from /proc), and connections
//! past `--max-connections` are closed at once. The job still completes afterwards.

mod common;
mod master_util;
mod reference;

use common::{master, output_of, read, scratch, worker};
use master_util::status_kib;
use primecluster::auth::{HelloAuth, Method, Role};
use primecluster::wire::{self, Hello, Message};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(180);
/// Each flooder announces this frame length (legal: below the 64 MiB maximum) and
/// sends up to this many bytes unless the master hangs up first.
const FLOOD: u32 = 40 << 20;

fn hello() -> Vec<u8> {
    let mut v = Vec::new();
    let h = Hello {
        version: wire::VERSION,
        name: "flood".into(),
        cores: 1,
        threads: 1,
        arch: "x86_64".into(),
        kernels: 1,
        auth: HelloAuth {
            auth: Method::None,
            role: Role::Worker,
            client_nonce: [7; 32],
        },
    };
    wire::encode(&Message::Hello(h), &mut v);
    v
}

/// Connects, optionally says hello, then streams one huge frame until the master
/// closes the connection or all of it is sent.
fn flood(port: u16, say_hello: bool) -> u64 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    if say_hello {
        s.write_all(&hello()).unwrap();
    }
    let mut head = FLOOD.to_be_bytes().to_vec();
    head.push(wire::code::RESULT);
    if s.write_all(&head).is_err() {
        return 0;
    }
    let zeros = vec![0u8; 64 << 10];
    let mut sent = 0u64;
    while sent < FLOOD as u64 {
        match s.write(&zeros) {
            Ok(n) => sent += n as u64,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    sent
}

#[test]
fn eight_flooding_connections_keep_the_master_under_32_mib() {
    let dir = scratch("flood");
    let out = dir.join("p.txt");
    let (mut m, port) = master(&["1e12", "1e12+2e7", "--out", out.to_str().unwrap()]);
    let pid = m.child.id();
    let floods: Vec<_> = (0..8)
        .map(|i| std::thread::spawn(move || flood(port, i % 4 == 3)))
        .collect();
    let sent: Vec<u64> = floods.into_iter().map(|t| t.join().unwrap()).collect();
    let hwm = status_kib(pid, "VmHWM").expect("master's VmHWM");
    let rss = status_kib(pid, "VmRSS").expect("master's VmRSS");
    eprintln!("flood: sent {sent:?} bytes; master VmHWM {hwm} KiB, VmRSS {rss} KiB");
    assert!(hwm < 32 << 10, "master peak RSS {hwm} KiB under the flood");
    let _w = worker(port, &["--threads", "2"]);
    assert!(m.wait_for(LIMIT).success());
    assert_eq!(read(&out), output_of(&["primes", "1e12", "1e12+2e7"]));
}

#[test]
fn connections_past_the_cap_are_closed_at_once() {
    let (mut m, port) = master(&["1e9", "1e9+1e6", "--max-connections", "4"]);
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(("127.0.0.1", port)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(8)))
        .unwrap();
    let mut b = [0u8; 64];
    match extra.read(&mut b) {
        Ok(_) => {} // EOF (or an error frame and then EOF): closed by the master.
        Err(e) => assert!(
            !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "the fifth connection was kept open"
        ),
    }
    // The four within the cap are still open.
    idle[0]
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let kept = (&idle[0]).read(&mut b);
    assert!(
        matches!(&kept, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "a connection within the cap was closed: {kept:?}"
    );
    drop(idle);
    let _w = worker(port, &["--threads", "1"]);
    assert!(m.wait_for(LIMIT).success());
}
