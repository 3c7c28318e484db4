//! SIGINT, SIGTERM and SIGHUP while the master runs: the first one is recorded and
//! wakes the event loop, which then stops cleanly (writes what is in order, fsyncs,
//! checkpoints, tells the workers to wait); a second one ends the process at once with
//! status 128 + signal, for a master stuck on its output.
//!
//! The handler does only async-signal-safe things: an atomic swap, a `write` of one
//! byte to a non-blocking socket (the self-pipe trick; the other end is registered in
//! the mio poll), or `_exit`. Plain libc `sigaction` is enough here; a crate such as
//! signal-hook would do the same with more machinery.

use mio::net::UnixStream;
use mio::{Interest, Registry, Token};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// The first signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// Write end of the self-pipe (-1: none).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// The signals that stop the master.
const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    if RECEIVED
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // SAFETY: _exit is async-signal-safe; a second signal means "now".
        unsafe { libc::_exit(128 + sig) };
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write is async-signal-safe; the buffer is one valid byte. A full
        // socket (EAGAIN) is fine: the loop is awake already.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

/// The installed handlers; dropping it restores the default actions.
pub(super) struct Signals {
    rx: UnixStream,
    /// Kept open for the handler, which writes to its raw descriptor.
    _tx: UnixStream,
}

impl Signals {
    /// Installs the handlers and registers the self-pipe's read end under `token`.
    pub(super) fn install(registry: &Registry, token: Token) -> io::Result<Signals> {
        let (tx, mut rx) = UnixStream::pair()?;
        registry.register(&mut rx, token, Interest::READABLE)?;
        RECEIVED.store(0, Ordering::SeqCst);
        WAKE_FD.store(tx.as_raw_fd(), Ordering::SeqCst);
        for sig in STOP_SIGNALS {
            set_action(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )?;
        }
        Ok(Signals { rx, _tx: tx })
    }

    /// The first stop signal received, if any.
    pub(super) fn received(&self) -> Option<i32> {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(sig),
        }
    }

    /// Empties the self-pipe (its bytes only wake the loop).
    pub(super) fn drain(&mut self) {
        let mut buf = [0u8; 64];
        while matches!(self.rx.read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for sig in STOP_SIGNALS {
            let _ = set_action(sig, libc::SIG_DFL);
        }
        // Before `tx` closes, so that a late signal writes to no reused descriptor.
        WAKE_FD.store(-1, Ordering::SeqCst);
    }
}

fn set_action(sig: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is valid; we set the handler, an empty mask and
    // SA_RESTART (so that interrupted reads and writes elsewhere simply go on).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// "SIGTERM" for 15, and so on.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        other => format!("signal {other}"),
    }
}
