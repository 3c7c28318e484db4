//! The worker: a blocking client with one network thread, one sender thread per
//! connection and N compute threads.
//!
//! Layout:
//! - this file: the configuration, the errors, and the life of a worker across
//!   connections ([`run`]): reconnect with capped backoff and ever sparser log lines,
//!   exit on `Done`, wait and reconnect on `Stopped`, give up after `--idle-exit`.
//! - `session`: one connection: hello, welcome, then reading frames and timing
//!   heartbeats on the network thread (the caller of [`run`]).
//! - `outbox`: the only path bytes take to the master. A sender thread writes queued
//!   frames; a due heartbeat jumps ahead of queued results between frames (never inside
//!   one), so no thread ever waits on a socket write but the sender, and a write that
//!   makes no progress for [`WRITE_STALL`] ends the connection.
//! - `pool`: the compute threads. Each owns a [`Kernel`](crate::kernel::Kernel) (so its
//!   sieving primes are reused across chunks), takes the oldest queued chunk, computes
//!   it and hands the encoded result to the outbox of the connection it came on.
//!
//! # When a worker ends (`docs/PROTOCOL.md` §7)
//! - `Shutdown { Done }`, whenever it comes (also instead of Welcome): `Ok`, exit 0.
//! - `Shutdown { Stopped }` (the master stops on an error or a signal and may be
//!   resumed): the worker drops its chunks and reconnects with backoff, like after a
//!   lost connection; with `once` it returns [`WorkerError::Stopped`].
//! - No master for `idle_exit`: `Ok` (exit 0), for a worker whose master finished
//!   while it was away.
//! - Error `BadMagic` / `BadVersion`: [`WorkerError::Refused`]; retrying cannot help.
//! - A failed handshake (either side's token missing or wrong, an Error `Unauthorized`):
//!   retried every [`Backoff`] cap (5 s) with a warning at attempts 1, 2, 4, ...; an
//!   operator may fix the token file meanwhile. With `once`: [`WorkerError::Unauthorized`].
//! - Error `Quarantined` (a result of this worker lost a vote; the master refuses it for
//!   the rest of the job): [`WorkerError::Quarantined`] (the program exits 3, which the
//!   systemd unit does not restart on), unless `keep_trying`: then it is retried every
//!   [`Backoff`] cap, for a master whose next job will take it again.

mod outbox;
mod pool;
mod session;

pub use pool::compute_chunk;

use log::{info, warn};
use pool::Pool;
use session::End;
use std::fmt;
use std::io;
use std::thread;
use std::time::{Duration, Instant};

use crate::auth::Token;
use crate::kernel::Memory;
use crate::wire::ErrorCode;

/// More compute threads than this are never started, whatever the master asks (the
/// protocol's cap).
pub use crate::wire::MAX_THREADS;

/// A write to the master that makes no progress this long ends the connection (the
/// master or the link is dead; a slow link that moves bytes is never cut). Long enough
/// that a master stalled on its disk for tens of seconds keeps its workers.
pub const WRITE_STALL: Duration = Duration::from_secs(60);

/// Largest `--idle-exit`: ten years, so that deadlines never overflow.
pub const MAX_IDLE_EXIT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The master, as `HOST:PORT` (checked by [`check_master_addr`]).
    pub master: String,
    /// Compute threads; `None` for all cores.
    pub threads: Option<u32>,
    /// Name shown in the master's logs and summary ([`default_name`] when not given).
    pub name: String,
    /// Give up on the first failed connection, lost master or `Stopped` instead of
    /// retrying.
    pub once: bool,
    /// Exit `Ok` after this long without a master; `None` retries for ever.
    pub idle_exit: Option<Duration>,
    /// The cluster's token (`--token-file`): the master must prove it, and this worker
    /// proves it in turn. `None`: only a master without a token is accepted.
    pub token: Option<Token>,
    /// Memory budget in MiB for all compute threads together; `None` for the default
    /// from the machine's RAM and the thread count ([`crate::kernel::Memory`]).
    pub memory: Option<u64>,
    /// Keep reconnecting (at the backoff's cap) when the master quarantined this
    /// worker, instead of returning [`WorkerError::Quarantined`].
    pub keep_trying: bool,
}

/// Why a worker stopped without finishing a job.
#[derive(Debug)]
pub enum WorkerError {
    /// The master address is not `HOST:PORT` with a port 1..=65535.
    BadAddress { master: String, why: &'static str },
    /// `once` was asked and the master could not be reached or was lost.
    Unreachable { master: String, source: io::Error },
    /// `once` was asked and the master stopped the job without finishing it.
    Stopped { master: String, message: String },
    /// The master refused us for good (wrong protocol or magic).
    Refused {
        master: String,
        code: ErrorCode,
        message: String,
    },
    /// `once` was asked and the handshake failed (a token missing or wrong on one side).
    Unauthorized { master: String, message: String },
    /// The master quarantined this worker for the job: a result of it disagreed with
    /// the majority of the workers that computed the same chunk. Retrying cannot help
    /// until the job ends (the master refuses this name and address).
    Quarantined { master: String, message: String },
}

impl WorkerError {
    /// Whether this is [`WorkerError::Quarantined`] (the program exits 3 on it).
    pub fn is_quarantined(&self) -> bool {
        matches!(self, WorkerError::Quarantined { .. })
    }
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::BadAddress { master, why } => {
                write!(f, "master address '{master}': {why} (expected HOST:PORT)")
            }
            WorkerError::Unreachable { master, source } => write!(f, "master {master}: {source}"),
            WorkerError::Stopped { master, message } => {
                write!(f, "master {master} stopped the job unfinished: {message}")
            }
            WorkerError::Refused {
                master,
                code,
                message,
            } => {
                write!(f, "master {master} refused this worker ({code}): {message}")
            }
            WorkerError::Unauthorized { master, message } => {
                write!(f, "master {master}: authentication failed: {message}")
            }
            WorkerError::Quarantined { master, message } => write!(
                f,
                "master {master} quarantined this worker for the job: its results \
                 disagreed with the majority of the workers that computed the same chunks \
                 (check this machine's hardware and binary); the master said: {message}"
            ),
        }
    }
}

impl std::error::Error for WorkerError {}

/// Checks that `addr` is `HOST:PORT`: a non-empty host without spaces (a name, an IPv4
/// address or a bracketed IPv6 address) and a decimal port 1..=65535. Whether the host
/// resolves is not checked: DNS may answer later, so the worker retries that.
pub fn check_master_addr(addr: &str) -> Result<(), WorkerError> {
    let bad = |why| {
        Err(WorkerError::BadAddress {
            master: addr.to_string(),
            why,
        })
    };
    let Some((host, port)) = addr.rsplit_once(':') else {
        return bad("no ':PORT'");
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return bad("the port is not a number");
    }
    match port.parse::<u32>() {
        Ok(1..=65535) => {}
        _ => return bad("the port is not in 1..=65535"),
    }
    if host.is_empty() {
        return bad("the host is empty");
    }
    if host.chars().any(char::is_whitespace) {
        return bad("the host contains a space");
    }
    if let Some(inner) = host.strip_prefix('[') {
        let ok = inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        if !ok {
            return bad("a bracketed host must be an IPv6 address, e.g. [::1]:7878");
        }
    }
    Ok(())
}

/// The default worker name: host name and process id (`raspberrypi-1234`), unique
/// among the processes of a cluster even when every Pi has the same host name.
pub fn default_name() -> String {
    format!("{}-{}", host_name(), std::process::id())
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // or truncates, and we stop at the first NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "worker".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).into_owned()
}

/// All cores of this machine.
pub fn cores() -> u32 {
    thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Capped exponential backoff with jitter: 0.25 s doubling to 5 s.
pub struct Backoff {
    next: Duration,
    seed: u64,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(250);
    const CAP: Duration = Duration::from_secs(5);

    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
        Backoff {
            next: Self::FIRST,
            seed: nanos ^ ((std::process::id() as u64) << 32) | 1,
        }
    }

    /// The wait before the next attempt (±20 % jitter), doubling up to the cap.
    pub fn wait(&mut self) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = 0.8 + (self.seed % 401) as f64 / 1000.0;
        let d = self.next.mul_f64(jitter);
        self.next = (self.next * 2).min(Self::CAP);
        d
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// Jumps to the cap: for failures that a quick retry cannot fix (a wrong token).
    pub fn saturate(&mut self) {
        self.next = Self::CAP;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether failed attempt `n` (1, 2, 3, ...) of one absence is logged: 1, 2, 4, 8, ...
/// A worker left running for a day without its master (17 280 attempts at the 5 s cap)
/// writes 15 lines, not 17 280.
pub fn logs_attempt(n: u64) -> bool {
    n.is_power_of_two()
}

/// Runs the worker until the master says the job is done (or `idle_exit` passes
/// without a master).
pub fn run(cfg: &WorkerConfig) -> Result<(), WorkerError> {
    check_master_addr(&cfg.master)?;
    let threads = cfg.threads.unwrap_or_else(cores).max(1);
    let memory = match cfg.memory {
        Some(mib) => Memory::mib(mib, threads),
        None => Memory::default_for(threads),
    };
    info!("worker: memory budget {memory}");
    let pool = Pool::new(threads, memory);
    let result = reconnect_loop(cfg, &pool);
    pool.stop();
    result
}

fn reconnect_loop(cfg: &WorkerConfig, pool: &Pool) -> Result<(), WorkerError> {
    let mut backoff = Backoff::new();
    // When the worker last had a master (or started): the clock of `idle_exit`.
    let mut alone_since = Instant::now();
    let mut failures = 0u64;
    let mut auth_failures = 0u64;
    let mut refusals = 0u64;
    loop {
        let outcome = session::run(cfg, pool, &mut backoff);
        // Whatever is queued or computing belongs to the connection that ended: the
        // master requeued it. Computing threads finish their chunk and discard it.
        pool.end_session();
        if outcome.joined {
            alone_since = Instant::now();
            failures = 0;
            auth_failures = 0;
        }
        let why = match outcome.end {
            End::Finished => return Ok(()),
            End::Refused { code, message } => {
                return Err(WorkerError::Refused {
                    master: cfg.master.clone(),
                    code,
                    message,
                })
            }
            End::Stopped(message) => {
                if cfg.once {
                    return Err(WorkerError::Stopped {
                        master: cfg.master.clone(),
                        message,
                    });
                }
                info!(
                    "worker: master {} stopped the job ({message}); waiting for it to resume",
                    cfg.master
                );
                // Counted as an absence from here on: the master is going away.
                alone_since = Instant::now();
                failures = 0;
                None
            }
            End::Unauthorized(message) => {
                if cfg.once {
                    return Err(WorkerError::Unauthorized {
                        master: cfg.master.clone(),
                        message,
                    });
                }
                // An operator error: retried slowly (at the backoff's cap) in case the
                // token is fixed, and said plainly at every level of the log's backoff.
                auth_failures += 1;
                if logs_attempt(auth_failures) {
                    warn!(
                        "worker: master {}: authentication failed: {message}; attempt \
                         {auth_failures}, retrying every {} s until the token is fixed \
                         (logged at attempts 1, 2, 4, 8, ...)",
                        cfg.master,
                        Backoff::CAP.as_secs()
                    );
                }
                backoff.saturate();
                None
            }
            End::Quarantined(message) => {
                if !cfg.keep_trying {
                    return Err(WorkerError::Quarantined {
                        master: cfg.master.clone(),
                        message,
                    });
                }
                refusals += 1;
                if logs_attempt(refusals) {
                    warn!(
                        "worker: master {} quarantined this worker: {message}; attempt \
                         {refusals}, retrying every {} s (--keep-trying; logged at attempts \
                         1, 2, 4, 8, ...)",
                        cfg.master,
                        Backoff::CAP.as_secs()
                    );
                }
                backoff.saturate();
                None
            }
            End::Lost(source) => {
                if cfg.once {
                    return Err(WorkerError::Unreachable {
                        master: cfg.master.clone(),
                        source,
                    });
                }
                Some(source)
            }
        };
        let mut wait = backoff.wait();
        if let Some(limit) = cfg.idle_exit {
            let alone = alone_since.elapsed();
            if alone >= limit {
                info!(
                    "worker: no master for {:.0} s (--idle-exit {}); exiting",
                    alone.as_secs_f64(),
                    limit.as_secs()
                );
                return Ok(());
            }
            // Wake in time to leave when the limit passes, not up to a backoff later.
            wait = wait.min(limit - alone);
        }
        if let Some(source) = why {
            failures += 1;
            if logs_attempt(failures) {
                info!(
                    "worker: master {} unavailable ({source}); attempt {failures}, retrying \
                     every few seconds (logged at attempts 1, 2, 4, 8, ...)",
                    cfg.master
                );
            }
        }
        thread::sleep(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::new();
        let waits: Vec<Duration> = (0..10).map(|_| b.wait()).collect();
        assert!(waits[0] >= Duration::from_millis(200) && waits[0] <= Duration::from_millis(300));
        assert!(waits[9] >= Duration::from_secs(4) && waits[9] <= Duration::from_secs(6));
        b.reset();
        assert!(b.wait() <= Duration::from_millis(300));
    }

    #[test]
    fn a_day_without_master_logs_a_handful_of_lines() {
        let day_at_cap = 24 * 3600 / 5;
        let lines = (1..=day_at_cap).filter(|&n| logs_attempt(n)).count();
        assert_eq!(lines, 15);
        assert!(logs_attempt(1) && logs_attempt(2) && !logs_attempt(3) && logs_attempt(4));
    }

    #[test]
    fn master_addresses_are_checked_before_any_attempt() {
        for good in [
            "127.0.0.1:7878",
            "localhost:1",
            "master-host:65535",
            "[::1]:7878",
            "no-such-host.invalid:7878",
        ] {
            assert!(check_master_addr(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("127.0.0.1:99999", "1..=65535"),
            ("127.0.0.1:0", "1..=65535"),
            ("localhost:abc", "not a number"),
            ("localhost:+80", "not a number"),
            ("localhost:", "not a number"),
            ("localhost", "no ':PORT'"),
            (":7878", "host is empty"),
            ("a b:7878", "space"),
            ("[::1:7878", "IPv6"),
        ] {
            let e = check_master_addr(bad).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn the_default_name_tells_processes_of_one_host_apart() {
        let name = default_name();
        let pid = format!("-{}", std::process::id());
        assert!(name.ends_with(&pid) && name.len() > pid.len(), "{name}");
    }
}
