//! The authentication handshake in the real processes (issue 8 item 1): a cluster with a
//! token on both sides completes byte-identical to `primes`; a worker with a wrong token
//! or none is refused while the job completes with a good one; a worker with a token
//! refuses a master without one; a listener off loopback needs a token or `--insecure`;
//! a replayed hello and proof, truncated handshakes and garbage proofs are refused
//! without harming the master; control clients pass the handshake and never get work.
//!
//! Everything runs on 127.0.0.1 with ephemeral ports; every process is killed on drop.

mod common;
mod reference;

use common::*;
use primecluster::auth::{self, Challenge, ClientHandshake, ClientProof, Role, Token};
use primecluster::wire::{self, ErrorCode, Hello, Message};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(180);
const SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const OTHER: &str = "ffffffffffffffffffffffffffffffff00000000000000000000000000000000";

/// A private token file holding `secret` and a newline.
fn token_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn token(secret: &str) -> Token {
    Token::from_secret(secret.as_bytes(), "test").unwrap()
}

/// A raw client speaking frames by hand.
struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Raw { s, buf: Vec::new() }
    }

    fn send(&mut self, msg: &Message) -> Vec<u8> {
        let mut f = Vec::new();
        wire::encode(msg, &mut f);
        self.s.write_all(&f).unwrap();
        f
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    /// The next frame, `None` when the master closed the connection.
    fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some((m, used)) = wire::decode(&self.buf).expect("the master sends valid frames")
            {
                self.buf.drain(..used);
                return Some(m);
            }
            let mut chunk = [0u8; 4096];
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Every frame until the master closes.
    fn rest(&mut self) -> Vec<Message> {
        let mut v = Vec::new();
        while let Some(m) = self.recv() {
            v.push(m);
        }
        v
    }
}

fn hello(hs: &ClientHandshake) -> Message {
    Message::Hello(Hello {
        version: wire::VERSION,
        name: hs.name().to_owned(),
        cores: 1,
        threads: 1,
        arch: "test".into(),
        kernels: 7,
        auth: hs.hello_auth(),
    })
}

/// An Error frame `Unauthorized` whose message contains `needle`, then the close.
fn assert_unauthorized(frames: &[Message], needle: &str) {
    match frames {
        [Message::Error {
            code: ErrorCode::Unauthorized,
            message,
        }] => assert!(message.contains(needle), "{message}"),
        other => panic!("expected one Unauthorized error with {needle:?}: {other:?}"),
    }
}

/// Runs the binary to the end within [`LIMIT`]: (status, stderr).
fn run_to_end(args: &[&str]) -> (Option<i32>, String) {
    let mut p = spawn("cmd", args, Stdio::null());
    let st = p.wait_for(LIMIT);
    (st.code(), p.lines_so_far().join("\n"))
}

#[test]
fn a_token_on_both_sides_completes_and_wrong_or_missing_tokens_are_refused() {
    let dir = scratch("auth-cluster");
    let good = token_file(&dir, "good.token", SECRET);
    let bad = token_file(&dir, "bad.token", OTHER);
    let out = dir.join("p.txt");
    let (mut m, port) = master(&[
        "1e9",
        "1e9+3e6",
        "--out",
        out.to_str().unwrap(),
        "--token-file",
        good.to_str().unwrap(),
    ]);
    // A wrong token: the worker finds the master's proof wrong, says so and (with
    // --once) exits 1; the master logs the refusal with the peer's address.
    let mut w = worker(port, &["--once", "--token-file", bad.to_str().unwrap()]);
    assert_eq!(w.wait_for(LIMIT).code(), Some(1));
    let err = w.lines_so_far().join("\n");
    assert!(err.contains("master's proof does not match"), "{err}");
    let line = m.wait_line("refused this master", LIMIT);
    assert!(
        line.contains("127.0.0.1:") && line.contains("proof does not match"),
        "{line}"
    );
    // No token: the master refuses it.
    let mut w = worker(port, &["--once", "--name", "tokenless"]);
    assert_eq!(w.wait_for(LIMIT).code(), Some(1));
    let err = w.lines_so_far().join("\n");
    assert!(err.contains("requires one"), "{err}");
    let line = m.wait_line("refused:", LIMIT);
    assert!(
        line.contains("127.0.0.1:") && line.contains("\"tokenless\" has no token"),
        "{line}"
    );
    // The right token: the job completes, byte-identical to one machine's run.
    let mut w = worker(
        port,
        &["--threads", "2", "--token-file", good.to_str().unwrap()],
    );
    assert!(m.wait_for(LIMIT).success());
    assert_eq!(w.wait_for(LIMIT).code(), Some(0));
    assert_eq!(read(&out), output_of(&["primes", "1e9", "1e9+3e6"]));
}

#[test]
fn a_worker_with_a_token_refuses_a_master_without_one_and_keeps_retrying() {
    let dir = scratch("auth-nomaster");
    let t = token_file(&dir, "t", SECRET);
    let (mut m, port) = master(&["1e6", "--count"]);
    let mut w = worker(port, &["--once", "--token-file", t.to_str().unwrap()]);
    assert_eq!(w.wait_for(LIMIT).code(), Some(1));
    let err = w.lines_so_far().join("\n");
    assert!(
        err.contains("offers no authentication") && err.contains("refusing"),
        "{err}"
    );
    m.wait_line("refused this master", LIMIT);
    // Without --once it keeps trying, saying why plainly. (Its token file is readable
    // by others: that works, with a warning.)
    let open = dir.join("open.token");
    std::fs::copy(&t, &open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let mut w = worker(port, &["--token-file", open.to_str().unwrap()]);
    let line = w.wait_line("readable by group or others", LIMIT);
    assert!(line.contains("chmod 600"), "{line}");
    let line = w.wait_line("authentication failed", LIMIT);
    assert!(line.contains("retrying every 5 s"), "{line}");
    assert!(w.child.try_wait().unwrap().is_none(), "still retrying");
    drop(w);
    // A tokenless worker finishes the job.
    let mut ok = worker(port, &["--threads", "1"]);
    assert!(m.wait_for(LIMIT).success());
    assert_eq!(ok.wait_for(LIMIT).code(), Some(0));
}

#[test]
fn listening_off_loopback_needs_a_token_or_insecure() {
    let dir = scratch("auth-listen");
    let t = token_file(&dir, "t", SECRET);
    for cmd in ["master", "run"] {
        let (code, err) = run_to_end(&[cmd, "1e5", "--listen", "0.0.0.0:0", "--count"]);
        assert_eq!(code, Some(2), "{cmd}: {err}");
        assert!(
            err.contains("--token-file") && err.contains("--insecure") && err.contains("0.0.0.0"),
            "{cmd}: {err}"
        );
    }
    // --insecure: it runs, and a worker finishes the job.
    let mut m = spawn(
        "master",
        &[
            "master",
            "1e5",
            "--count",
            "--quiet",
            "--listen",
            "0.0.0.0:0",
            "--insecure",
        ],
        Stdio::piped(),
    );
    let line = m.wait_line("listening on", LIMIT);
    let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let mut w = worker(port, &["--threads", "1"]);
    assert!(m.wait_for(LIMIT).success());
    assert_eq!(w.wait_for(LIMIT).code(), Some(0));
    // With a token: `run` on every address, its own worker using the same token.
    let r = Command::new(BIN)
        .args(["run", "1e5", "--quiet", "--listen", "0.0.0.0:0"])
        .arg("--token-file")
        .arg(&t)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(r.stdout, output_of(&["primes", "1e5"]));
}

#[test]
fn replays_truncations_and_garbage_proofs_are_refused_without_harm() {
    let dir = scratch("auth-raw");
    let t = token_file(&dir, "t", SECRET);
    let out = dir.join("p.txt");
    let (mut m, port) = master(&[
        "1e6",
        "--out",
        out.to_str().unwrap(),
        "--token-file",
        t.to_str().unwrap(),
    ]);
    let key = token(SECRET);

    // A real handshake, recorded: a control client, so it gets no work.
    let mut c = Raw::connect(port);
    let mut hs = ClientHandshake::new(
        Some(&key),
        auth::fresh_nonce().unwrap(),
        Role::Control,
        "rec",
    );
    let hello_bytes = c.send(&hello(&hs));
    let Some(Message::Challenge(ch)) = c.recv() else {
        panic!("no challenge")
    };
    let proof = hs.on_challenge(&ch).unwrap();
    let proof_bytes = c.send(&Message::Proof(proof));
    assert!(matches!(c.recv(), Some(Message::Welcome(_))));
    drop(c);

    // Replayed: the master's fresh nonce makes the old proof fail.
    let mut r = Raw::connect(port);
    r.send_bytes(&hello_bytes);
    let Some(Message::Challenge(Challenge::Hmac { server_nonce, .. })) = r.recv() else {
        panic!("no challenge for the replay")
    };
    assert!(matches!(ch, Challenge::Hmac { server_nonce: old, .. } if old != server_nonce));
    r.send_bytes(&proof_bytes);
    assert_unauthorized(&r.rest(), "proof does not match");
    m.wait_line("proof does not match", LIMIT);

    // A garbage proof of the right shape.
    let mut g = Raw::connect(port);
    let hs = ClientHandshake::new(Some(&key), [1; 32], Role::Worker, "garbage");
    g.send(&hello(&hs));
    assert!(matches!(g.recv(), Some(Message::Challenge(_))));
    g.send(&Message::Proof(ClientProof::Hmac {
        client_proof: [0x42; 32],
    }));
    assert_unauthorized(&g.rest(), "proof does not match");

    // A proof claiming no authentication after an HMAC challenge.
    let mut n = Raw::connect(port);
    n.send(&hello(&hs));
    assert!(matches!(n.recv(), Some(Message::Challenge(_))));
    n.send(&Message::Proof(ClientProof::NoAuth));
    assert_unauthorized(&n.rest(), "does not follow the protocol");

    // A hello without a token.
    let mut h = Raw::connect(port);
    let hs0 = ClientHandshake::new(None, [2; 32], Role::Worker, "anon");
    h.send(&hello(&hs0));
    assert_unauthorized(&h.rest(), "has no token");

    // A malformed proof payload, a proof before any hello, a second hello.
    let mut p = Raw::connect(port);
    p.send(&hello(&hs));
    assert!(matches!(p.recv(), Some(Message::Challenge(_))));
    let mut f = Vec::new();
    wire::encode(&Message::Proof(ClientProof::NoAuth), &mut f);
    f[5] = 7; // auth 7
    let crc = crc32fast::hash(&f[4..6]);
    f[6..10].copy_from_slice(&crc.to_be_bytes());
    p.send_bytes(&f);
    let rest = p.rest();
    assert!(
        matches!(rest.as_slice(), [Message::Error { code: ErrorCode::Malformed, message }]
            if message.contains("`auth` has invalid value 7")),
        "{rest:?}"
    );
    let mut early = Raw::connect(port);
    early.send(&Message::Proof(ClientProof::Hmac {
        client_proof: [0; 32],
    }));
    assert!(matches!(
        early.rest().as_slice(),
        [Message::Error {
            code: ErrorCode::Malformed,
            ..
        }]
    ));
    let mut twice = Raw::connect(port);
    twice.send(&hello(&hs));
    assert!(matches!(twice.recv(), Some(Message::Challenge(_))));
    twice.send(&hello(&hs));
    assert!(matches!(
        twice.rest().as_slice(),
        [Message::Error {
            code: ErrorCode::Malformed,
            ..
        }]
    ));

    // Closed mid-way: after the hello, and inside the proof frame.
    let mut a = Raw::connect(port);
    a.send(&hello(&hs));
    drop(a);
    let mut b = Raw::connect(port);
    b.send(&hello(&hs));
    assert!(matches!(b.recv(), Some(Message::Challenge(_))));
    b.send_bytes(&proof_bytes[..10]);
    drop(b);

    // The master is unharmed: a worker with the token completes the job.
    let mut w = worker(
        port,
        &["--threads", "1", "--token-file", t.to_str().unwrap()],
    );
    assert!(m.wait_for(LIMIT).success());
    assert_eq!(w.wait_for(LIMIT).code(), Some(0));
    assert_eq!(read(&out), output_of(&["primes", "1e6"]));
}

#[test]
fn control_clients_pass_the_handshake_and_never_get_work() {
    let dir = scratch("auth-control");
    let t = token_file(&dir, "t", SECRET);
    let bad = token_file(&dir, "bad", OTHER);
    let (mut m, port) = master(&["1e7", "--count", "--token-file", t.to_str().unwrap()]);
    let ts = t.to_str().unwrap();
    let addr = format!("127.0.0.1:{port}");
    // The right token gets through the handshake, and the request is answered.
    let (code, err) = run_to_end(&["status", &addr, "--token-file", ts]);
    assert_eq!(code, Some(0), "{err}");
    // A wrong token or none does not.
    let (code, err) = run_to_end(&["status", &addr, "--token-file", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("master's proof does not match"), "{err}");
    let (code, err) = run_to_end(&["stop", &addr]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("has no token but this master requires one"),
        "{err}"
    );

    // An idle authenticated control client stays connected through the whole job and
    // hears nothing but its welcome: it holds no worker slot.
    let key = token(SECRET);
    let mut c = Raw::connect(port);
    c.s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut hs = ClientHandshake::new(
        Some(&key),
        auth::fresh_nonce().unwrap(),
        Role::Control,
        "idle",
    );
    c.send(&hello(&hs));
    let Some(Message::Challenge(ch)) = c.recv() else {
        panic!("no challenge")
    };
    c.send(&Message::Proof(hs.on_challenge(&ch).unwrap()));
    assert!(matches!(c.recv(), Some(Message::Welcome(_))));
    let mut w = worker(port, &["--threads", "2", "--token-file", ts]);
    assert!(m.wait_for(LIMIT).success());
    assert_eq!(w.wait_for(LIMIT).code(), Some(0));
    // No work, ever: at the end the master just closes (Shutdown is for workers).
    let rest = c.rest();
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn an_unfinished_handshake_is_closed_at_the_hello_timeout() {
    let dir = scratch("auth-timeout");
    let t = token_file(&dir, "t", SECRET);
    let (mut m, port) = master(&["1e5", "--count", "--token-file", t.to_str().unwrap()]);
    let key = token(SECRET);
    let mut c = Raw::connect(port);
    c.s.set_read_timeout(Some(LIMIT)).unwrap();
    let hs = ClientHandshake::new(Some(&key), [3; 32], Role::Worker, "silent");
    c.send(&hello(&hs));
    let began = Instant::now();
    assert!(matches!(c.recv(), Some(Message::Challenge(_))));
    // No proof: the master closes the connection after its 10 s hello timeout.
    assert_eq!(c.rest(), Vec::new());
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(60),
        "{waited:?}"
    );
    let line = m.wait_line("dropped", LIMIT);
    assert!(line.contains("handshake within 10 s"), "{line}");
    let mut w = worker(
        port,
        &["--threads", "1", "--token-file", t.to_str().unwrap()],
    );
    assert!(m.wait_for(LIMIT).success());
    assert_eq!(w.wait_for(LIMIT).code(), Some(0));
}

/// Connect-to-welcome time of `n` sequential connections (control clients, so the
/// scheduler is not involved), with and without a token. Run with
/// `cargo test --test auth_cluster -- --ignored --nocapture handshake_overhead`.
#[test]
#[ignore]
fn handshake_overhead() {
    let dir = scratch("auth-overhead");
    let t = token_file(&dir, "t", SECRET);
    let n = 200;
    for with_token in [false, true] {
        let mut args = vec!["1e7", "--count"];
        if with_token {
            args.extend(["--token-file", t.to_str().unwrap()]);
        }
        let (_m, port) = master(&args);
        let key = token(SECRET);
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let began = Instant::now();
            let mut c = Raw::connect(port);
            let mut hs = ClientHandshake::new(
                with_token.then_some(&key),
                auth::fresh_nonce().unwrap(),
                Role::Control,
                "bench",
            );
            c.send(&hello(&hs));
            let Some(Message::Challenge(ch)) = c.recv() else {
                panic!("no challenge")
            };
            c.send(&Message::Proof(hs.on_challenge(&ch).unwrap()));
            assert!(matches!(c.recv(), Some(Message::Welcome(_))));
            times.push(began.elapsed());
        }
        times.sort();
        let total: Duration = times.iter().sum();
        println!(
            "handshake {}: {n} connections, mean {:.0} us, median {:.0} us, p90 {:.0} us",
            if with_token {
                "with token"
            } else {
                "without token"
            },
            total.as_secs_f64() * 1e6 / n as f64,
            times[n / 2].as_secs_f64() * 1e6,
            times[n * 9 / 10].as_secs_f64() * 1e6,
        );
    }
}
