//! One worker connection: its buffers, its socket I/O and the size of frame it may
//! send next.
//!
//! Frame caps follow the connection's state, so that no peer can make the master
//! buffer more than its part needs: before its hello a peer may send only a hello-sized
//! frame ([`wire::MAX_EARLY_FRAME_LEN`]); after it, a heartbeat or error is small and a
//! result can be no longer than a correct result for the widest chunk the worker
//! holds ([`wire::max_gaps_len`]); in count mode results carry no primes at all. A
//! control client (`status`, `threads`, `stop`) sends only tiny requests
//! ([`wire::MAX_CONTROL_FRAME_LEN`]) whatever the mode. The handshake's frames (hello,
//! proof) come before the welcome, so they are held to the early cap too. An oversized
//! length is refused as soon as its 4-byte prefix arrives, before any of the body is
//! buffered.

use crate::auth::ServerHandshake;
use crate::schedule::ChunkId;
use crate::wire::{self, Hello, Message, Mode, WireError};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// Input buffer capacity kept between frames; a larger one (after a big result) is
/// given back once it has been consumed.
const KEEP_INBUF: usize = 64 << 10;
/// Cancelled chunks whose width still bounds the next result: a worker may have
/// started sending a result before the cancel reached it. A few suffice (cancels come
/// one per late chunk); older ones are forgotten so the list cannot grow.
const KEEP_CANCELLED: usize = 8;

pub(super) struct Conn {
    pub(super) stream: TcpStream,
    pub(super) peer: SocketAddr,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// Registered for WRITABLE too (only while `outbuf` holds bytes).
    writable: bool,
    pub(super) welcomed: bool,
    /// Between the hello and the proof: the hello and the master's side of the
    /// handshake. Taken when the proof arrives, so a second proof finds nothing.
    pub(super) pending: Option<(Hello, ServerHandshake)>,
    /// A control client (its hello's role): never given work, never a worker to the
    /// scheduler; only it may send control requests.
    pub(super) control: bool,
    pub(super) name: String,
    /// From its hello, for `status`.
    pub(super) arch: String,
    pub(super) cores: u32,
    /// Threads busy at its last heartbeat, for `status`.
    pub(super) busy: u32,
    /// When it connected, on the master's stall-free clock.
    pub(super) opened: Duration,
    /// When its last frame arrived (or it connected), on the same clock: a control
    /// client silent past the master's `control_idle` is closed.
    pub(super) last_frame: Duration,
    /// Chunks assigned to it and not yet answered or cancelled, with their widths:
    /// they bound the size of its next result.
    assigned: BTreeMap<ChunkId, u128>,
    /// The latest cancelled chunks with their widths (see [`KEEP_CANCELLED`]).
    cancelled: VecDeque<(ChunkId, u128)>,
}

/// What a read from the socket found.
pub(super) enum ReadOutcome {
    /// `n` bytes were added to the input buffer.
    Bytes(usize),
    /// Nothing more for now.
    WouldBlock,
    /// The peer closed its end.
    Closed,
    /// The socket failed.
    Failed(io::Error),
}

impl Conn {
    pub(super) fn new(stream: TcpStream, peer: SocketAddr, opened: Duration) -> Conn {
        Conn {
            stream,
            peer,
            inbuf: Vec::new(),
            outbuf: Vec::new(),
            writable: false,
            welcomed: false,
            pending: None,
            control: false,
            name: peer.to_string(),
            arch: String::new(),
            cores: 0,
            busy: 0,
            opened,
            last_frame: opened,
            assigned: BTreeMap::new(),
            cancelled: VecDeque::new(),
        }
    }

    /// Whether this is a welcomed worker: one the scheduler knows.
    pub(super) fn is_worker(&self) -> bool {
        self.welcomed && !self.control
    }

    /// The longest frame this connection may send next, and the state that sets it.
    pub(super) fn frame_cap(&self, mode: Mode) -> (u32, &'static str) {
        if !self.welcomed {
            return (wire::MAX_EARLY_FRAME_LEN, "before the welcome");
        }
        if self.control {
            return (wire::MAX_CONTROL_FRAME_LEN, "from a control client");
        }
        let result = match mode {
            Mode::Count => wire::result_frame_len(0),
            Mode::Primes => {
                let held = self.assigned.values().copied();
                let cancelled = self.cancelled.iter().map(|&(_, w)| w);
                let widest = held.chain(cancelled).max().unwrap_or(0);
                wire::result_frame_len(wire::max_gaps_len(widest))
            }
        };
        (
            result.max(wire::MAX_CONTROL_FRAME_LEN),
            "for the chunks this worker holds",
        )
    }

    /// Notes a chunk sent to this worker.
    pub(super) fn assigned(&mut self, chunk: ChunkId, start: u128, stop: u128) {
        self.assigned
            .insert(chunk, (stop - start).saturating_add(1));
    }

    /// Forgets a chunk answered.
    pub(super) fn settled(&mut self, chunk: ChunkId) {
        self.assigned.remove(&chunk);
        self.cancelled.retain(|&(c, _)| c != chunk);
    }

    /// Moves a chunk to the short list of cancelled ones: its result may be on the way.
    pub(super) fn cancelled(&mut self, chunk: ChunkId) {
        if let Some(width) = self.assigned.remove(&chunk) {
            if self.cancelled.len() == KEEP_CANCELLED {
                self.cancelled.pop_front();
            }
            self.cancelled.push_back((chunk, width));
        }
    }

    /// Reads once from the socket into the input buffer.
    pub(super) fn read_some(&mut self, buf: &mut [u8]) -> ReadOutcome {
        loop {
            return match self.stream.read(buf) {
                Ok(0) => ReadOutcome::Closed,
                Ok(n) => {
                    self.reserve_for_frame(n);
                    self.inbuf.extend_from_slice(&buf[..n]);
                    ReadOutcome::Bytes(n)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => ReadOutcome::Failed(e),
            };
        }
    }

    /// Grows the input buffer to the announced frame's exact size rather than by
    /// doubling, so a capped frame costs its cap and not twice that.
    fn reserve_for_frame(&mut self, incoming: usize) {
        let want = match wire::peek_len(&self.inbuf) {
            Some(len) => (wire::LEN_PREFIX + len as usize).max(self.inbuf.len() + incoming),
            None => self.inbuf.len() + incoming,
        };
        if want > self.inbuf.capacity() {
            self.inbuf.reserve_exact(want - self.inbuf.len());
        }
    }

    /// The next complete frame in the input buffer, within this state's cap.
    pub(super) fn next_frame(&mut self, mode: Mode) -> Result<Option<Message>, WireError> {
        let (cap, now) = self.frame_cap(mode);
        match wire::decode_within(&self.inbuf, cap, now)? {
            Some((msg, used)) => {
                self.inbuf.drain(..used);
                if self.inbuf.capacity() > KEEP_INBUF && self.inbuf.len() <= KEEP_INBUF {
                    self.inbuf.shrink_to(KEEP_INBUF);
                }
                Ok(Some(msg))
            }
            None => Ok(None),
        }
    }

    /// Appends a frame to the output buffer.
    pub(super) fn queue(&mut self, msg: &Message) {
        wire::encode(msg, &mut self.outbuf);
    }

    /// Whether queued bytes wait for the socket.
    pub(super) fn has_output(&self) -> bool {
        !self.outbuf.is_empty()
    }

    /// Writes the output buffer until the socket would block; watches for
    /// writability only while bytes are left. An error names what failed.
    pub(super) fn flush(&mut self, registry: &Registry, token: Token) -> Result<(), String> {
        let mut sent = 0;
        let mut failed = None;
        while sent < self.outbuf.len() {
            match self.stream.write(&self.outbuf[sent..]) {
                Ok(0) => {
                    failed = Some("connection closed while writing".to_string());
                    break;
                }
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(format!("write error: {e}"));
                    break;
                }
            }
        }
        self.outbuf.drain(..sent);
        if let Some(why) = failed {
            return Err(why);
        }
        let want = !self.outbuf.is_empty();
        if want != self.writable {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if registry
                .reregister(&mut self.stream, token, interest)
                .is_ok()
            {
                self.writable = want;
            }
        }
        Ok(())
    }

    /// Last words before closing: one non-blocking attempt to send what is queued
    /// plus `reply`; a peer that does not read gets nothing more.
    pub(super) fn close(mut self, registry: &Registry, reply: Option<Message>) {
        if let Some(msg) = reply {
            wire::encode(&msg, &mut self.outbuf);
        }
        if !self.outbuf.is_empty() {
            let _ = self.stream.write(&self.outbuf);
        }
        let _ = registry.deregister(&mut self.stream);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Conn {
        // A connected pair on loopback, so the Conn holds a real socket.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let peer = a.local_addr().unwrap();
        let (b, _) = l.accept().unwrap();
        b.set_nonblocking(true).unwrap();
        std::mem::forget(a);
        Conn::new(TcpStream::from_std(b), peer, Duration::ZERO)
    }

    #[test]
    fn frame_caps_follow_the_state() {
        let mut c = conn();
        assert_eq!(c.frame_cap(Mode::Primes).0, wire::MAX_EARLY_FRAME_LEN);
        c.welcomed = true;
        assert_eq!(c.frame_cap(Mode::Primes).0, wire::MAX_CONTROL_FRAME_LEN);
        c.assigned(7, 1000, 1000 + (1 << 16) - 1);
        c.assigned(8, 0, 99);
        let cap = c.frame_cap(Mode::Primes).0;
        assert_eq!(cap, wire::result_frame_len((1 << 15) + 24));
        assert_eq!(c.frame_cap(Mode::Count).0, wire::MAX_CONTROL_FRAME_LEN);
        // A cancelled chunk's result may still come: its width still counts.
        c.cancelled(7);
        assert_eq!(c.frame_cap(Mode::Primes).0, cap);
        c.settled(7);
        assert_eq!(c.frame_cap(Mode::Primes).0, wire::MAX_CONTROL_FRAME_LEN);
        // A control client sends only small requests, in either mode.
        c.assigned(9, 0, 1 << 30);
        c.control = true;
        assert_eq!(c.frame_cap(Mode::Primes).0, wire::MAX_CONTROL_FRAME_LEN);
        assert!(c.frame_cap(Mode::Count).1.contains("control client"));
        c.control = false;
        c.settled(9);
        // The cancelled list stays short.
        for i in 100..120 {
            c.assigned(i, 0, 1 << 20);
            c.cancelled(i);
        }
        assert_eq!(c.cancelled.len(), KEEP_CANCELLED);
    }

    #[test]
    fn an_oversized_prefix_is_refused_before_its_body() {
        let mut c = conn();
        c.inbuf.extend_from_slice(&(40u32 << 20).to_be_bytes());
        let e = c.next_frame(Mode::Primes).unwrap_err();
        assert!(matches!(e, WireError::OverCap { cap: 1024, .. }), "{e}");
        assert!(e.to_string().contains("before the welcome"), "{e}");
    }
}
