//! Helpers for the multi-process tests: start the built binary, read the master's
//! port from its stderr, wait with a deadline, and kill every child on drop.

#![allow(dead_code)]

use crate::reference::is_prime_naive;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_primecluster");

/// A child process that is killed when dropped, so no test leaves one behind.
pub struct Proc {
    pub child: Child,
    pub stderr_lines: Option<mpsc::Receiver<String>>,
    pub name: String,
}

impl Proc {
    /// Waits up to `limit` for the process to end; kills it and panics past that.
    pub fn wait_for(&mut self, limit: Duration) -> ExitStatus {
        let until = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not finish within {:?}", self.name, limit);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill9(&mut self) {
        // SAFETY: sending a signal to our own child by pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }

    /// The stderr lines that arrived so far (and were not taken by `wait_line`).
    pub fn lines_so_far(&mut self) -> Vec<String> {
        let rx = self.stderr_lines.as_ref().expect("stderr captured");
        // Give the reader thread a moment to pass on what the process wrote.
        thread::sleep(Duration::from_millis(50));
        rx.try_iter().collect()
    }

    /// Waits for a stderr line containing `needle`, returns it.
    pub fn wait_line(&mut self, needle: &str, limit: Duration) -> String {
        let rx = self.stderr_lines.as_ref().expect("stderr captured");
        let until = Instant::now() + limit;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!(
            "{}: no stderr line with '{needle}' within {limit:?}",
            self.name
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with `args`; stderr is read line by line in a thread.
pub fn spawn(name: &str, args: &[&str], stdout: Stdio) -> Proc {
    spawn_env(name, args, &[], stdout)
}

/// [`spawn`] with extra environment variables. The child logs at `info` (tests wait
/// for its info lines); `PC_TEST_RUST_LOG=trace` shows the master's every assign and
/// answer when a process test fails, with `PC_TEST_VERBOSE=1` to print its lines.
pub fn spawn_env(name: &str, args: &[&str], env: &[(&str, &str)], stdout: Stdio) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env(
            "RUST_LOG",
            std::env::var("PC_TEST_RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start primecluster");
    let err = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    let tag = name.to_string();
    thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if std::env::var_os("PC_TEST_VERBOSE").is_some() {
                eprintln!("[{tag}] {line}");
            }
            let _ = tx.send(line);
        }
    });
    Proc {
        child,
        stderr_lines: Some(rx),
        name: name.to_string(),
    }
}

/// Starts a master on 127.0.0.1:0 and returns it with the port it got.
pub fn master(args: &[&str]) -> (Proc, u16) {
    let mut all = vec!["master", "--listen", "127.0.0.1:0", "--quiet"];
    all.extend_from_slice(args);
    let mut m = spawn("master", &all, Stdio::null());
    let line = m.wait_line("listening on", Duration::from_secs(20));
    let port = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("port in the listening line");
    (m, port)
}

pub fn worker(port: u16, extra: &[&str]) -> Proc {
    let addr = format!("127.0.0.1:{port}");
    let mut all = vec!["worker", addr.as_str()];
    all.extend_from_slice(extra);
    spawn("worker", &all, Stdio::null())
}

/// Runs the binary to the end and returns its stdout.
pub fn output_of(args: &[&str]) -> Vec<u8> {
    let out = Command::new(BIN)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run primecluster");
    assert!(
        out.status.success(),
        "primecluster {args:?} failed: {:?}",
        out.status
    );
    out.stdout
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh folder under the target dir for this test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn read(path: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut v))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    v
}

/// The primes of start..=stop as text, by trial division in the test itself: the
/// independent reference for short ranges.
pub fn naive_text(start: u128, stop: u128) -> Vec<u8> {
    let mut s = String::new();
    let mut n = start;
    while n <= stop {
        if is_prime_naive(n) {
            s.push_str(&n.to_string());
            s.push('\n');
        }
        if n == u128::MAX {
            break;
        }
        n += 1;
    }
    s.into_bytes()
}
