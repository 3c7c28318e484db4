//! Helpers for the master's process-level tests: run the binary to its end within a
//! time bound (killed on timeout or on a panicking test), send it signals, read its
//! memory figures from /proc.

#![allow(dead_code)]

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_primecluster");

/// How a bounded run ended.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// A child killed on drop, whatever the test does.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `primecluster ARGS` to its end; panics (after killing it) past `limit`.
pub fn run_bounded(args: &[&str], limit: Duration) -> Finished {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start primecluster");
    let mut g = Guard(child);
    let mut out = g.0.stdout.take().expect("stdout piped");
    let mut err = g.0.stderr.take().expect("stderr piped");
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let until = Instant::now() + limit;
    let status = loop {
        if let Some(st) = g.0.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > until {
            let _ = g.0.kill();
            let _ = g.0.wait();
            let stderr = err_t.join().unwrap_or_default();
            panic!("primecluster {args:?} did not finish within {limit:?}; stderr:\n{stderr}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Finished {
        code: status.code(),
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// Sends `sig` to process `pid` (one of ours).
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill only sends a signal to the given pid, a child this test started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// A field of /proc/PID/status in KiB (e.g. "VmHWM"), if the process is there.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(&format!("{field}:")))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
