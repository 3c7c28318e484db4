//! The only path bytes take from a worker to its master: a queue and one sender thread
//! per connection.
//!
//! Compute threads queue encoded result frames; the network thread posts heartbeats.
//! The sender thread writes one whole frame at a time; between frames a pending
//! heartbeat goes first, so a heartbeat waits for at most the one frame being written,
//! never for the results queued behind it (and never splits a frame). Only the sender
//! blocks on the socket: the network thread keeps reading (Cancel, Shutdown) while a
//! big result crawls over a slow link.
//!
//! Bounds: at most one heartbeat is pending (a newer one replaces it), and a compute
//! thread waits ([`Outbox::wait_room`]) while more results are queued than the worker
//! has threads, so a master that stops reading cannot make the worker hoard results.
//! The socket has a send timeout ([`WRITE_STALL`](super::WRITE_STALL)): a write that
//! moves no byte for that long fails, the sender records why and shuts the socket, and
//! the network thread ends the connection.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Frames waiting for one connection's sender thread.
pub struct Outbox {
    state: Mutex<State>,
    /// Signals the sender: something to send, or closed.
    work: Condvar,
    /// Signals compute threads waiting for room in the queue.
    room: Condvar,
}

#[derive(Default)]
struct State {
    /// The latest heartbeat not yet sent.
    beat: Option<Vec<u8>>,
    /// Result (or final error) frames, in the order they were queued.
    frames: VecDeque<Frame>,
    /// No more sending: the connection ended or the sender failed.
    closed: bool,
    /// Why the sender failed, for the network thread's log.
    failure: Option<io::Error>,
}

struct Frame {
    bytes: Vec<u8>,
    /// Close the connection once this frame is out (an Error frame).
    last: bool,
}

impl Outbox {
    /// An outbox for `stream` and its sender thread, which writes with a send timeout
    /// of `stall`.
    pub fn start(stream: TcpStream, stall: Duration) -> io::Result<(Arc<Outbox>, JoinHandle<()>)> {
        stream.set_write_timeout(Some(stall))?;
        let outbox = Arc::new(Outbox::new());
        let mine = Arc::clone(&outbox);
        let handle = thread::Builder::new()
            .name("worker-sender".into())
            .spawn(move || mine.send_loop(stream, stall))?;
        Ok((outbox, handle))
    }

    fn new() -> Outbox {
        Outbox {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            room: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the queue inconsistent (every change is one
        // assignment or push), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a heartbeat frame ahead of any queued result; replaces one not yet sent.
    pub fn beat(&self, frame: Vec<u8>) {
        let mut st = self.lock();
        if !st.closed {
            st.beat = Some(frame);
            self.work.notify_one();
        }
    }

    /// Queues a result frame; dropped if the connection has ended.
    pub fn push(&self, frame: Vec<u8>) {
        self.queue(Frame {
            bytes: frame,
            last: false,
        });
    }

    /// Queues a frame after which the connection is closed (an Error frame).
    pub fn push_last(&self, frame: Vec<u8>) {
        self.queue(Frame {
            bytes: frame,
            last: true,
        });
    }

    fn queue(&self, frame: Frame) {
        let mut st = self.lock();
        if !st.closed {
            st.frames.push_back(frame);
            self.work.notify_one();
        }
    }

    /// Waits while more than `limit` frames are queued (and the connection lives).
    pub fn wait_room(&self, limit: usize) {
        let mut st = self.lock();
        while !st.closed && st.frames.len() > limit {
            st = self.room.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits up to `limit` for the sender to finish (after [`push_last`](Self::push_last)).
    pub fn wait_closed(&self, limit: Duration) {
        let until = std::time::Instant::now() + limit;
        let mut st = self.lock();
        while !st.closed {
            let Some(left) = until.checked_duration_since(std::time::Instant::now()) else {
                return;
            };
            st = match self.room.wait_timeout(st, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Ends sending: queued frames are dropped, waiting threads released. The caller
    /// shuts the socket down, which also ends a write in progress.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.frames.clear();
        st.beat = None;
        self.work.notify_all();
        self.room.notify_all();
    }

    /// Why the sender failed, if it did.
    pub fn take_failure(&self) -> Option<io::Error> {
        self.lock().failure.take()
    }

    /// The sender thread: one whole frame at a time, a pending heartbeat first.
    fn send_loop(&self, mut stream: TcpStream, stall: Duration) {
        loop {
            let frame = {
                let mut st = self.lock();
                loop {
                    if st.closed {
                        return;
                    }
                    if let Some(beat) = st.beat.take() {
                        break Frame {
                            bytes: beat,
                            last: false,
                        };
                    }
                    if let Some(f) = st.frames.pop_front() {
                        self.room.notify_all();
                        break f;
                    }
                    st = self.work.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            let sent = stream.write_all(&frame.bytes);
            let failure = match sent {
                Ok(()) if !frame.last => continue,
                Ok(()) => None,
                // The send timeout shows as WouldBlock (EAGAIN): say what it means.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    Some(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no byte could be written to the master for {} s",
                            stall.as_secs()
                        ),
                    ))
                }
                Err(e) => Some(e),
            };
            {
                let mut st = self.lock();
                st.closed = true;
                st.failure = failure;
                st.frames.clear();
                self.room.notify_all();
            }
            // Wakes the network thread's read, which then ends the connection.
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Instant;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    #[test]
    fn a_write_without_progress_fails_after_the_stall_time() {
        let (ours, _peer_never_reads) = pair();
        let shut = ours.try_clone().unwrap();
        let (outbox, sender) = Outbox::start(ours, Duration::from_secs(1)).unwrap();
        let began = Instant::now();
        // Far more than the socket buffers hold.
        for _ in 0..4 {
            outbox.push(vec![0u8; 16 << 20]);
        }
        sender.join().unwrap();
        let e = outbox.take_failure().expect("the stuck write failed");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(e.to_string().contains("1 s"), "{e}");
        assert!(began.elapsed() < Duration::from_secs(30));
        // Nothing more is queued after a failure, and waiting for room returns.
        outbox.push(vec![1]);
        outbox.wait_room(0);
        drop(shut);
    }

    #[test]
    fn a_pending_heartbeat_goes_before_queued_results() {
        let (ours, mut peer) = pair();
        // Queue first, start the sender after: it sees everything at once.
        let outbox = Arc::new(Outbox::new());
        outbox.push(b"R1".to_vec());
        outbox.push(b"R2".to_vec());
        outbox.beat(b"H1".to_vec());
        outbox.beat(b"H2".to_vec()); // replaces H1: one heartbeat pending at most
        let mine = Arc::clone(&outbox);
        let sender = thread::spawn(move || mine.send_loop(ours, Duration::from_secs(30)));
        let mut got = [0u8; 6];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"H2R1R2");
        outbox.close();
        sender.join().unwrap();
    }
}
