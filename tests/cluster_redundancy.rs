//! Redundancy and spot checks against the real master (the built binary), with honest
//! worker processes (`primecluster worker`, distinct `--name`s) and lying workers
//! written here with the crate's `wire` and `gaps` modules. Each liar computes the true
//! primes of its chunk and then lies in one way, keeping its result self-consistent
//! (count and digest recomputed), so the master's own checks cannot see the lie; only
//! the vote can. The liars join first, so each is sure to get work and answer before
//! any honest worker; then honest workers join, one more than the liars, so that every
//! vote can reach a strict majority.
//!
//! Each job must end with zero wrong primes written: the output byte-identical to the
//! `primes` command's and to a plain sieve of Eratosthenes written in the test. Each liar must be
//! quarantined (the master logs it and drops the liar), and a liar that comes back
//! with the same name from the same address is refused before any Welcome.

mod common;
mod reference;

use common::*;
use primecluster::auth::{ClientProof, HelloAuth, Method, Role};
use primecluster::gaps::{self, GapEncoder};
use primecluster::kernel::{Kernel, KernelKind};
use primecluster::wire::{self, ChunkResult, Hello, Message, Mode};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How a liar lies; every lie keeps the result consistent with itself.
#[derive(Debug, Clone, Copy)]
enum Lie {
    /// Leaves out one prime (count and digest recomputed).
    DropPrime,
    /// Adds an odd composite p*q inside the chunk (count and digest recomputed).
    AddComposite,
    /// Replaces a prime p by the composite p+1: the count is right, the digest (of the
    /// wrong list) consistent, so only the digest tells the answers apart.
    SwapPrime,
    /// Says one prime more than there is (count mode: there is no list to check).
    WrongCount,
    /// No lie: a witness (see [`Liar::witness`]).
    Truth,
}

/// Assigns a liar answers; it holds the later ones without an answer. A liar that
/// answered everything at once would take chunks as fast as the master cuts them, and
/// the votes on its lies could settle only at the end of the job, leaving no time to
/// see it refused when it comes back.
const ANSWERED: u64 = 2;

/// What a liar saw, for the test's asserts.
#[derive(Debug, Default)]
struct Seen {
    results: u64,
    /// The Error that ended its welcomed session (the quarantine).
    dropped_with: Option<String>,
    /// What the master said to its second hello: `Err(text)` for an Error frame,
    /// `Ok(())` if it was welcomed again (a failure).
    reconnect: Option<Result<(), String>>,
}

/// A lying worker in a thread. Dropping it stops the thread and closes its socket.
struct Liar {
    name: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    socket: Arc<Mutex<Option<TcpStream>>>,
    assigned: mpsc::Receiver<u64>,
    thread: Option<JoinHandle<()>>,
}

/// Chunk ids the liars answered: the only ones witnesses answer.
type Lied = Arc<Mutex<BTreeSet<u64>>>;

impl Liar {
    /// A liar: answers its first [`ANSWERED`] assigns with `lie`, noting them in `lied`.
    fn join(port: u16, name: &str, lie: Lie, lied: &Lied) -> Liar {
        Liar::start(port, name, lie, lied)
    }

    /// A truthful fake worker that answers only chunks some liar answered (as soon as
    /// one has) and holds every other chunk without an answer. Witnesses outvote the
    /// liars together with one real worker, while the job cannot end: every other
    /// chunk has only that real worker to vote for it (or, with spot checks, to be
    /// confirmed by), so the liars' return is seen while the master still runs.
    fn witness(port: u16, name: &str, lied: &Lied) -> Liar {
        Liar::start(port, name, Lie::Truth, lied)
    }

    fn start(port: u16, name: &str, lie: Lie, lied: &Lied) -> Liar {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let socket = Arc::new(Mutex::new(None));
        let (tx, assigned) = mpsc::channel();
        let (st, se, so, nm) = (stop.clone(), seen.clone(), socket.clone(), name.to_string());
        let lied = lied.clone();
        let thread = thread::spawn(move || {
            let fake = Fake {
                port,
                name: &nm,
                lie,
                stop: &st,
                seen: &se,
                socket: &so,
                assigned: &tx,
                lied: &lied,
            };
            fake.run()
        });
        Liar {
            name: name.into(),
            stop,
            seen,
            socket,
            assigned,
            thread: Some(thread),
        }
    }

    /// Waits until the master has given it a chunk (it answers at once).
    fn wait_assigned(&self) {
        self.assigned
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{}: no assign within 30 s", self.name));
    }

    /// Waits until it has sent `n` results.
    fn wait_results(&self, n: u64) {
        let until = Instant::now() + Duration::from_secs(30);
        while self.seen.lock().unwrap().results < n {
            assert!(
                Instant::now() < until,
                "{}: fewer than {n} results sent within 30 s: {:?}",
                self.name,
                self.seen.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until its session ended with an Error and its second hello was answered.
    fn wait_refused(&self, limit: Duration) -> (String, String) {
        let until = Instant::now() + limit;
        loop {
            {
                let s = self.seen.lock().unwrap();
                if let (Some(drop), Some(again)) = (&s.dropped_with, &s.reconnect) {
                    let again = again
                        .clone()
                        .map(|()| "welcomed again".to_string())
                        .unwrap_or_else(|e| e);
                    return (drop.clone(), again);
                }
            }
            assert!(
                Instant::now() < until,
                "{}: not dropped and refused within {limit:?}: {:?}",
                self.name,
                self.seen.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Liar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(s) = self.socket.lock().unwrap().as_ref() {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn send(s: &mut TcpStream, msg: &Message) -> std::io::Result<()> {
    let mut f = Vec::new();
    wire::encode(msg, &mut f);
    s.write_all(&f)
}

fn hello(name: &str) -> Message {
    Message::Hello(Hello {
        version: wire::VERSION,
        name: name.into(),
        cores: 1,
        threads: 1,
        arch: "liar".into(),
        kernels: 1 << wire::kernel_code::SIEVE,
        auth: HelloAuth {
            auth: Method::None,
            role: Role::Worker,
            client_nonce: [5; 32],
        },
    })
}

/// What one read brought.
enum Got {
    Frame(Message),
    /// Nothing within the read timeout (100 ms): time to heartbeat.
    Idle,
    /// The socket ended, failed, sent garbage, or `stop` was set.
    Closed,
}

/// Reads the next frame, or reports a quiet read timeout.
fn next_frame(s: &mut TcpStream, buf: &mut Vec<u8>, stop: &AtomicBool) -> Got {
    loop {
        match wire::decode(buf) {
            Ok(Some((m, used))) => {
                buf.drain(..used);
                return Got::Frame(m);
            }
            Ok(None) => {}
            Err(_) => return Got::Closed,
        }
        if stop.load(Ordering::Relaxed) {
            return Got::Closed;
        }
        let mut chunk = [0u8; 65536];
        match s.read(&mut chunk) {
            Ok(0) => return Got::Closed,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Got::Idle
            }
            Err(_) => return Got::Closed,
        }
    }
}

/// The first frame the master sends, waiting up to 30 s.
fn first_frame(s: &mut TcpStream, buf: &mut Vec<u8>, stop: &AtomicBool) -> Option<Message> {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        match next_frame(s, buf, stop) {
            // The master's (token-less) challenge comes before its answer to the proof.
            Got::Frame(Message::Challenge(_)) => {}
            Got::Frame(m) => return Some(m),
            Got::Idle => {}
            Got::Closed => return None,
        }
    }
    None
}

fn connect(port: u16, name: &str, socket: &Mutex<Option<TcpStream>>) -> Option<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(100))).ok()?;
    // As the real worker does: without it, a result written right after another waits
    // in this socket for the master's delayed ACK (up to 40 ms), and the test's order of
    // events (a liar answers, then a witness joins) is not the order the master sees.
    s.set_nodelay(true).ok()?;
    *socket.lock().unwrap() = s.try_clone().ok();
    send(&mut s, &hello(name)).ok()?;
    // No token on either side: the proof is "none" and may follow the hello at once.
    send(&mut s, &Message::Proof(ClientProof::NoAuth)).ok()?;
    Some(s)
}

/// A fake worker's thread: what it needs.
struct Fake<'a> {
    port: u16,
    name: &'a str,
    lie: Lie,
    stop: &'a AtomicBool,
    seen: &'a Mutex<Seen>,
    socket: &'a Mutex<Option<TcpStream>>,
    assigned: &'a mpsc::Sender<u64>,
    lied: &'a Mutex<BTreeSet<u64>>,
}

impl Fake<'_> {
    /// One welcomed session, then (a liar, after its quarantine) one more hello.
    fn run(&self) {
        let Some(mut s) = connect(self.port, self.name, self.socket) else {
            return;
        };
        let mut buf = Vec::new();
        let Some(Message::Welcome(w)) = first_frame(&mut s, &mut buf, self.stop) else {
            return;
        };
        let mut kernel = Kernel::new(KernelKind::Sieve);
        let mut last_beat = Instant::now();
        // A witness's chunks that no liar answered (yet).
        let mut waiting: Vec<wire::Assign> = Vec::new();
        loop {
            if last_beat.elapsed() > Duration::from_millis(200) {
                let beat = Message::Heartbeat {
                    threads: 1,
                    busy: 0,
                };
                if send(&mut s, &beat).is_err() {
                    return;
                }
                last_beat = Instant::now();
            }
            let mut answer = Vec::new();
            match next_frame(&mut s, &mut buf, self.stop) {
                Got::Frame(Message::Assign(a)) => {
                    let _ = self.assigned.send(a.chunk);
                    waiting.push(a);
                }
                Got::Frame(Message::Error { message, .. }) => {
                    self.seen.lock().unwrap().dropped_with = Some(message);
                    break;
                }
                Got::Frame(Message::Cancel { chunk }) => waiting.retain(|a| a.chunk != chunk),
                Got::Frame(_) | Got::Idle => {}
                Got::Closed => return,
            }
            if matches!(self.lie, Lie::Truth) {
                let lied = self.lied.lock().unwrap();
                let (now, later) = waiting.drain(..).partition(|a| lied.contains(&a.chunk));
                (answer, waiting) = (now, later);
            } else if self.seen.lock().unwrap().results < ANSWERED {
                // Holds the rest (heartbeating): its lies are on its first chunks.
                answer = std::mem::take(&mut waiting);
                answer.truncate(ANSWERED as usize);
            }
            for a in answer {
                if !matches!(self.lie, Lie::Truth) {
                    self.lied.lock().unwrap().insert(a.chunk);
                }
                let r = lying_result(&mut kernel, w.mode, &a, self.lie);
                if send(&mut s, &Message::Result(r)).is_err() {
                    return;
                }
                self.seen.lock().unwrap().results += 1;
            }
        }
        // Back again under the same name, from the same address: refused before Welcome.
        drop(s);
        let Some(mut s) = connect(self.port, self.name, self.socket) else {
            return;
        };
        buf.clear();
        let answer = match first_frame(&mut s, &mut buf, self.stop) {
            Some(Message::Error { message, .. }) => Err(message),
            Some(Message::Welcome(_)) => Ok(()),
            other => Err(format!("no Error frame but {other:?}")),
        };
        self.seen.lock().unwrap().reconnect = Some(answer);
    }
}

/// The true primes of the chunk, then the lie, as a self-consistent result.
fn lying_result(kernel: &mut Kernel, mode: Mode, a: &wire::Assign, lie: Lie) -> ChunkResult {
    let mut primes: Vec<u128> = Vec::new();
    kernel.primes(a.start, a.stop, &mut primes);
    match lie {
        Lie::DropPrime if !primes.is_empty() => {
            primes.remove(primes.len() / 2);
        }
        Lie::AddComposite => {
            // The smallest odd composite (a product p*q of odd primes) in the chunk.
            let first = a.start.max(9) | 1;
            let pq = (first..=a.stop)
                .step_by(2)
                .find(|n| !reference::is_prime_naive(*n));
            if let Some(pq) = pq {
                let at = primes.partition_point(|&p| p < pq);
                primes.insert(at, pq);
            }
        }
        Lie::SwapPrime => {
            // p -> p+2 where p+2 is composite: the list stays odd after 2 (as the gap
            // codec requires) and rising, the count unchanged.
            let swap = primes
                .iter()
                .position(|&p| p > 3 && p + 2 <= a.stop && !reference::is_prime_naive(p + 2));
            if let Some(i) = swap {
                primes[i] += 2;
            }
        }
        _ => {}
    }
    let (count, gap_bytes, digest) = match mode {
        Mode::Count => {
            let extra = matches!(lie, Lie::WrongCount) as u64;
            (primes.len() as u64 + extra, Vec::new(), 0)
        }
        Mode::Primes => {
            let mut enc = GapEncoder::new(a.start);
            for &p in &primes {
                enc.push(p);
            }
            let count = enc.count();
            let bytes = enc.into_bytes();
            let digest = gaps::digest(&bytes);
            (count, bytes, digest)
        }
    };
    ChunkResult {
        chunk: a.chunk,
        start: a.start,
        stop: a.stop,
        count,
        digest,
        compute_us: 1000,
        gaps: gap_bytes,
    }
}

/// Liars join and answer first; then one witness per liar ([`Liar::witness`]) and one
/// real worker, which outvote them while the job cannot end; each liar must be
/// quarantined and refused when it comes back. Then `honest - 1` more real workers
/// join, the witnesses leave, and the job must end. Returns the master.
fn job_with_liars(master_args: &[&str], liars: &[(&str, Lie)], honest: usize) -> Proc {
    // Witnesses hold copies without answering; should a vote ever count on such a
    // copy, it waits for its deadline (two heartbeat timeouts at least): 1 s heartbeats
    // keep the floor at 10 s, and 5 s of silence still drops no real worker on a
    // loaded machine.
    let mut args = vec![
        "master",
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--heartbeat-ms",
        "1000",
    ];
    args.extend_from_slice(master_args);
    let stdout = if master_args.contains(&"--count") {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut m = spawn("master", &args, stdout);
    let line = m.wait_line("listening on", Duration::from_secs(30));
    let port: u16 = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("port in the listening line");
    // One at a time, each after the last one's answers are in: every liar and then every
    // witness finds the lied chunks (the first two) wanting copies and takes them first,
    // and the honest worker's vote is always the one that settles them. If a witness
    // joined while a liar's answer was in flight, a lied chunk could look fully copied
    // and the witness fill its slots with chunks it never answers; the vote would then
    // wait for that witness's deadline, minutes for a chunk cut wide for a fast liar.
    let lied: Lied = Arc::default();
    let liars: Vec<Liar> = liars
        .iter()
        .map(|&(name, lie)| {
            let l = Liar::join(port, name, lie, &lied);
            l.wait_assigned();
            l.wait_results(ANSWERED);
            l
        })
        .collect();
    let witnesses: Vec<Liar> = (0..liars.len())
        .map(|i| {
            let w = Liar::witness(port, &format!("witness{i}"), &lied);
            let chunks = lied.lock().unwrap().len() as u64;
            w.wait_results(chunks);
            w
        })
        .collect();
    let names: Vec<String> = (0..honest).map(|i| format!("honest{i}")).collect();
    let mut workers = vec![worker(port, &["--threads", "1", "--name", &names[0]])];
    for l in &liars {
        let (dropped, again) = l.wait_refused(Duration::from_secs(120));
        assert!(dropped.contains("quarantined"), "{}: {dropped}", l.name);
        assert!(
            again.contains("quarantined") && again.contains(&l.name),
            "{} came back and was not refused at hello: {again}",
            l.name
        );
        assert!(l.seen.lock().unwrap().results >= 1);
    }
    for n in &names[1..] {
        workers.push(worker(port, &["--threads", "1", "--name", n]));
    }
    // Each is welcomed while the witnesses still keep the job from ending: a worker
    // that came after the end would wait for a master forever.
    for w in &mut workers[1..] {
        w.wait_line("joined 127.0.0.1", Duration::from_secs(30));
    }
    drop(witnesses);
    let status = m.wait_for(Duration::from_secs(180));
    assert!(status.success(), "master: {status:?}");
    let lines = m.lines_so_far();
    for l in &liars {
        let tag = format!("{}@127.0.0.1 quarantined", l.name);
        assert!(
            lines.iter().any(|x| x.contains(&tag)),
            "no '{tag}' in the master's log: {lines:#?}"
        );
        let refused = format!("refused: {}@127.0.0.1 is quarantined", l.name);
        assert!(
            lines.iter().any(|x| x.contains(&refused)),
            "no '{refused}' in the master's log"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|x| x.contains("honest") && x.contains("quarantined")),
        "an honest worker was quarantined: {lines:#?}"
    );
    for w in &mut workers {
        assert!(w.wait_for(Duration::from_secs(60)).success());
    }
    drop(liars);
    m
}

/// Runs a primes job with liars into a file; checks it against `primes` and trial
/// division.
fn primes_job(tag: &str, stop: u128, extra: &[&str], liars: &[(&str, Lie)], honest: usize) {
    let dir = scratch(tag);
    let out = dir.join("p.txt");
    let outs = out.to_str().unwrap();
    let stop_s = stop.to_string();
    let mut args = vec!["0", stop_s.as_str(), "--out", outs];
    args.extend_from_slice(extra);
    job_with_liars(&args, liars, honest);
    let written = read(&out);
    assert!(
        written == output_of(&["primes", "0", &stop_s]),
        "{tag}: output differs from `primes`"
    );
    assert!(
        written == eratosthenes_text(stop),
        "{tag}: output differs from the plain sieve of Eratosthenes"
    );
}

/// The primes up to `stop` as text, by the plain (unsegmented) sieve of Eratosthenes
/// written here: a reference that shares no code with the crate's kernels.
fn eratosthenes_text(stop: u128) -> Vec<u8> {
    let n = stop as usize;
    let mut composite = vec![false; n + 1];
    let mut text = Vec::new();
    for i in 2..=n {
        if composite[i] {
            continue;
        }
        text.extend_from_slice(format!("{i}\n").as_bytes());
        let mut j = i * i;
        while j <= n {
            composite[j] = true;
            j += i;
        }
    }
    text
}

#[test]
fn redundancy_two_outvotes_a_dropper_an_adder_and_a_swapper() {
    let liars = [
        ("dropper", Lie::DropPrime),
        ("adder", Lie::AddComposite),
        ("swapper", Lie::SwapPrime),
    ];
    primes_job("redund-k2", 30_000_000, &["--redundancy", "2"], &liars, 2);
}

#[test]
fn redundancy_three_outvotes_a_dropper_and_an_adder() {
    let liars = [("dropper", Lie::DropPrime), ("adder", Lie::AddComposite)];
    primes_job("redund-k3", 20_000_000, &["--redundancy", "3"], &liars, 3);
}

#[test]
fn spot_checks_catch_a_swapper_and_an_adder_at_redundancy_one() {
    let liars = [("swapper", Lie::SwapPrime), ("adder", Lie::AddComposite)];
    primes_job(
        "redund-spot",
        2_000_000,
        &["--spot-check", "0.1"],
        &liars,
        3,
    );
}

#[test]
fn redundancy_two_outvotes_a_wrong_count() {
    // pi(10^8) = 5761455 (a published value), and the `primes` command's count.
    let args = ["0", "1e8", "--count", "--redundancy", "2"];
    let liars = [("counter", Lie::WrongCount)];
    let mut m = job_with_liars(&args, &liars, 2);
    let mut printed = String::new();
    m.child
        .stdout
        .take()
        .expect("stdout piped")
        .read_to_string(&mut printed)
        .unwrap();
    assert_eq!(printed, "5761455\n");
    let primes = output_of(&["primes", "0", "1e8", "--count"]);
    assert_eq!(printed.as_bytes(), primes);
}

/// Runs the binary with `args`, bounded; returns (exit code, stderr).
fn usage(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start primecluster");
    let until = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not end within 30 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn bad_redundancy_and_spot_check_values_exit_2_naming_them() {
    let cases: [(&[&str], &str); 7] = [
        (
            &["--redundancy", "0"],
            "--redundancy: 0 is outside the allowed range 1 to 5",
        ),
        (
            &["--redundancy", "6"],
            "--redundancy: 6 is outside the allowed range 1 to 5",
        ),
        (&["--redundancy", "two"], "--redundancy"),
        (
            &["--spot-check", "1.5"],
            "--spot-check: 1.5 is outside the allowed range 0 to 1",
        ),
        (&["--spot-check", "-0.1"], "--spot-check: -0.1 is outside"),
        (&["--spot-check", "NaN"], "--spot-check: NaN is outside"),
        (
            &["--redundancy", "2", "--spot-check", "0.5"],
            "spot checks are for redundancy 1",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["master", "--listen", "127.0.0.1:0", "0", "1000"];
        args.extend_from_slice(extra);
        let (code, err) = usage(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: '{err}' lacks '{want}'");
    }
}

#[test]
fn run_refuses_votes_it_cannot_hold_without_listen() {
    for extra in [["--redundancy", "2"], ["--spot-check", "0.2"]] {
        let mut args = vec!["run", "0", "1000"];
        args.extend_from_slice(&extra);
        let (code, err) = usage(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("--listen"), "{args:?}: {err}");
    }
    // With --listen, `run` takes them (its local worker is one voter among others);
    // at redundancy 1 with spot checks off, `run` still works alone.
    let (code, err) = usage(&["run", "0", "1000", "--count", "--redundancy", "1", "-q"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn help_documents_both_options() {
    for cmd in ["master", "run"] {
        let out = Command::new(BIN)
            .args([cmd, "--help"])
            .output()
            .expect("run primecluster");
        let text = String::from_utf8_lossy(&out.stdout);
        for want in ["--redundancy", "1 to 5", "--spot-check", "0 to 1"] {
            assert!(text.contains(want), "{cmd} --help lacks '{want}':\n{text}");
        }
    }
}
