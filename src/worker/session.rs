//! One connection of a worker to its master, on the network thread: connect, Hello,
//! the authentication handshake (Challenge, then Proof; `docs/PROTOCOL.md` section 11),
//! Welcome (or Shutdown, or Error), then read frames until the connection ends, posting
//! a heartbeat to the outbox every `heartbeat_ms` (the first one `heartbeat_ms` after
//! the Welcome arrived).
//!
//! The socket gets TCP keepalive (a master that vanished without a FIN is noticed in
//! about a minute even when nothing is being sent) and, on Linux, `TCP_USER_TIMEOUT`
//! (bytes unacknowledged for [`WRITE_STALL`] end it too; keepalive alone does not
//! probe while data is in flight).

use super::outbox::Outbox;
use super::pool::Pool;
use super::{cores, Backoff, WorkerConfig, WRITE_STALL};
use crate::auth::{self, ClientHandshake, Role};
use crate::wire::{self, ErrorCode, Hello, Message, ShutdownReason};
use log::{info, warn};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A connection attempt to one address gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The master must answer Hello within this long.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refusal (an Error frame) may take to go out before the connection closes.
const REFUSAL_GRACE: Duration = Duration::from_secs(2);
/// Keepalive: first probe after this much silence, then every [`KEEPALIVE_INTERVAL`],
/// up to [`KEEPALIVE_PROBES`] unanswered.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_PROBES: i32 = 3;

/// The kernel codes (bit i: code i) this worker's hello offers: auto, sieve, trial
/// and presieve ([`wire::kernel_code`]).
pub const OFFERED_KERNELS: u32 = 1 << wire::kernel_code::AUTO
    | 1 << wire::kernel_code::SIEVE
    | 1 << wire::kernel_code::TRIAL
    | 1 << wire::kernel_code::PRESIEVE;

/// How one connection ended.
pub enum End {
    /// Shutdown `Done`: the job is complete.
    Finished,
    /// Shutdown `Stopped`: the master stops (error, signal, operator), with its reason.
    Stopped(String),
    /// BadMagic or BadVersion, from either side: retrying cannot help.
    Refused { code: ErrorCode, message: String },
    /// The handshake failed (either side refused the other's token or lack of one):
    /// an operator error, retried slowly in case the operator fixes it.
    Unauthorized(String),
    /// Error `Quarantined`: a result of this worker lost a vote, and the master
    /// refuses it for the rest of the job (dropped now, refused at every hello).
    Quarantined(String),
    /// The connection failed or ended without Shutdown, or the master refused a frame.
    Lost(io::Error),
}

/// How a connection ended, and whether it got as far as a Welcome.
pub struct Outcome {
    pub end: End,
    pub joined: bool,
}

fn lost(e: io::Error) -> Outcome {
    Outcome {
        end: End::Lost(e),
        joined: false,
    }
}

/// One connection: hello, welcome, then work until it ends.
pub fn run(cfg: &WorkerConfig, pool: &Pool, backoff: &mut Backoff) -> Outcome {
    let stream = match connect(&cfg.master) {
        Ok(s) => s,
        Err(e) => return lost(e),
    };
    let outcome = converse(cfg, pool, backoff, &stream);
    let _ = stream.shutdown(Shutdown::Both);
    outcome
}

/// Resolves `addr` afresh (DNS may have changed or come up) and tries each address.
fn connect(addr: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{addr} resolves to no address"),
    );
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn converse(cfg: &WorkerConfig, pool: &Pool, backoff: &mut Backoff, stream: &TcpStream) -> Outcome {
    let setup = || -> io::Result<(FrameReader, ClientHandshake)> {
        stream.set_nodelay(true)?;
        keepalive(stream)?;
        let nonce = auth::fresh_nonce().map_err(|e| io::Error::other(e.to_string()))?;
        let handshake = ClientHandshake::new(cfg.token.as_ref(), nonce, Role::Worker, &cfg.name);
        let hello = Hello {
            version: wire::VERSION,
            name: handshake.name().to_owned(),
            cores: cores(),
            threads: pool.load().0,
            arch: std::env::consts::ARCH.to_string(),
            // Auto, sieve, trial and presieve: the master spreads the copies of a
            // chunk over sieve and presieve when it asks for votes.
            kernels: OFFERED_KERNELS,
            auth: handshake.hello_auth(),
        };
        // Before the sender thread exists, the network thread writes Hello itself;
        // a master that does not read it within the stall time is dead anyway.
        stream.set_write_timeout(Some(WRITE_STALL))?;
        send_now(stream, &Message::Hello(hello))?;
        Ok((FrameReader::new(stream.try_clone()?), handshake))
    };
    let (mut reader, mut handshake) = match setup() {
        Ok(r) => r,
        Err(e) => return lost(e),
    };
    match authenticate(&mut reader, stream, &mut handshake) {
        Ok(Ok(())) => {}
        Ok(Err(end)) => return Outcome { end, joined: false },
        Err(e) => return lost(e),
    }
    let welcome = match await_welcome(&mut reader, stream) {
        Ok(Ok(w)) => w,
        Ok(Err(end)) => return Outcome { end, joined: false },
        Err(e) => return lost(e),
    };
    if welcome.version != wire::VERSION {
        let message = format!(
            "master speaks protocol {}, this worker {}",
            welcome.version,
            wire::VERSION
        );
        let code = ErrorCode::BadVersion;
        let _ = send_now(
            stream,
            &Message::Error {
                code,
                message: message.clone(),
            },
        );
        return Outcome {
            end: End::Refused { code, message },
            joined: false,
        };
    }
    backoff.reset();
    if welcome.threads > 0 {
        pool.resize(welcome.threads);
    }
    info!(
        "worker {}: joined {} with {} threads",
        welcome.worker_id,
        cfg.master,
        pool.load().0
    );
    let started = stream
        .try_clone()
        .and_then(|s| Outbox::start(s, WRITE_STALL));
    let (outbox, sender) = match started {
        Ok(x) => x,
        Err(e) => {
            return Outcome {
                end: End::Lost(e),
                joined: true,
            }
        }
    };
    pool.begin_session(&welcome, outbox.clone());
    let heartbeat = Duration::from_millis(welcome.heartbeat_ms.max(100) as u64);
    let end = serve(&mut reader, pool, &outbox, stream, heartbeat);
    // Stop the sender: drop what it holds, end a write in progress, wait for it.
    outbox.close();
    let _ = stream.shutdown(Shutdown::Both);
    let _ = sender.join();
    Outcome { end, joined: true }
}

/// The master's answer to the hello: checks its challenge (its proof of the token, or
/// its lack of one) and sends this side's proof. `Ok(Err(end))` when the session ends
/// here: a refusal either way, or a Shutdown or Error instead of the challenge.
fn authenticate(
    reader: &mut FrameReader,
    stream: &TcpStream,
    handshake: &mut ClientHandshake,
) -> io::Result<Result<(), End>> {
    let challenge = match await_frame(reader, stream, "challenge")? {
        Ok(Message::Challenge(c)) => c,
        Ok(other) => {
            let text = format!("expected challenge, got {}", other.name());
            let _ = send_now(stream, &malformed(&text));
            return Err(protocol(text));
        }
        Err(end) => return Ok(Err(end)),
    };
    match handshake.on_challenge(&challenge) {
        Ok(proof) => {
            send_now(stream, &Message::Proof(proof))?;
            Ok(Ok(()))
        }
        Err(e) => {
            let message = e.to_string();
            let _ = send_now(
                stream,
                &Message::Error {
                    code: ErrorCode::Unauthorized,
                    message: message.clone(),
                },
            );
            Ok(Err(End::Unauthorized(message)))
        }
    }
}

/// The master's frame after the handshake: `Ok(Ok(welcome))`, or how the session ends
/// at once.
fn await_welcome(
    reader: &mut FrameReader,
    stream: &TcpStream,
) -> io::Result<Result<wire::Welcome, End>> {
    Ok(match await_frame(reader, stream, "welcome")? {
        Ok(Message::Welcome(w)) => Ok(w),
        Ok(other) => {
            let text = format!("expected welcome, got {}", other.name());
            let _ = send_now(stream, &malformed(&text));
            return Err(protocol(text));
        }
        Err(end) => Err(end),
    })
}

/// The master's next frame before the welcome, within [`WELCOME_TIMEOUT`]; a Shutdown
/// or Error frame becomes how the session ends.
fn await_frame(
    reader: &mut FrameReader,
    stream: &TcpStream,
    what: &str,
) -> io::Result<Result<Message, End>> {
    stream.set_read_timeout(Some(Duration::from_millis(250)))?;
    let until = Instant::now() + WELCOME_TIMEOUT;
    loop {
        let next = reader.next();
        if let Some(reply) = reader.refusal.take() {
            let _ = send_now(stream, &reply);
        }
        let msg = match next? {
            Some(m) => m,
            None if Instant::now() < until => continue,
            None => return Err(protocol(format!("no {what} within 10 s"))),
        };
        return Ok(match msg {
            // The job ended as we joined: Done ends the worker, Stopped waits for the
            // master's return like any other stop.
            Message::Shutdown { reason, message } => Err(shutdown_end(reason, message)),
            Message::Error { code, message } => Err(error_end(code, message)),
            other => Ok(other),
        });
    }
}

fn shutdown_end(reason: ShutdownReason, message: String) -> End {
    info!(
        "worker: master ends the job ({}){}",
        reason.name(),
        suffix(&message)
    );
    match reason {
        ShutdownReason::Done => End::Finished,
        ShutdownReason::Stopped => End::Stopped(message),
    }
}

fn error_end(code: ErrorCode, message: String) -> End {
    warn!("worker: master reports {code}: {message}");
    match code {
        ErrorCode::BadMagic | ErrorCode::BadVersion => End::Refused { code, message },
        ErrorCode::Unauthorized => End::Unauthorized(message),
        ErrorCode::Quarantined => End::Quarantined(message),
        _ => End::Lost(protocol(format!("master reports {code}: {message}"))),
    }
}

/// Reads frames until the session ends, posting heartbeats on time.
fn serve(
    reader: &mut FrameReader,
    pool: &Pool,
    outbox: &Outbox,
    stream: &TcpStream,
    heartbeat: Duration,
) -> End {
    // Short reads keep the heartbeat on time whatever the master sends.
    let tick = (heartbeat / 4).max(Duration::from_millis(25));
    if let Err(e) = stream.set_read_timeout(Some(tick)) {
        return End::Lost(e);
    }
    let mut next_beat = Instant::now() + heartbeat;
    loop {
        if Instant::now() >= next_beat {
            let (threads, busy) = pool.load();
            let mut frame = Vec::with_capacity(32);
            wire::encode(&Message::Heartbeat { threads, busy }, &mut frame);
            outbox.beat(frame);
            next_beat = Instant::now() + heartbeat;
        }
        let msg = match reader.next() {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(e) => {
                if let Some(reply) = reader.refusal.take() {
                    refuse(outbox, &reply);
                }
                // The sender's failure, if any, is the cause of the read's.
                return End::Lost(outbox.take_failure().unwrap_or(e));
            }
        };
        match msg {
            Message::Assign(a) => {
                if let Err(max) = pool.push(a) {
                    return End::Lost(protocol(format!(
                        "the master assigned more than {max} chunks at once"
                    )));
                }
            }
            Message::Cancel { chunk } => pool.cancel(chunk),
            Message::SetThreads { threads: n } => {
                info!("worker: master sets threads to {n}");
                pool.resize(n);
            }
            Message::Shutdown { reason, message } => return shutdown_end(reason, message),
            Message::Error { code, message } => return error_end(code, message),
            other => {
                let text = format!("unexpected {} from master", other.name());
                refuse(outbox, &malformed(&text));
                return End::Lost(protocol(text));
            }
        }
    }
}

fn malformed(text: &str) -> Message {
    Message::Error {
        code: ErrorCode::Malformed,
        message: text.to_string(),
    }
}

/// Answers a bad frame with an Error frame (after what is being written), giving the
/// sender a moment to get it out before the connection closes.
fn refuse(outbox: &Outbox, reply: &Message) {
    let mut frame = Vec::new();
    wire::encode(reply, &mut frame);
    outbox.push_last(frame);
    outbox.wait_closed(REFUSAL_GRACE);
}

/// Turns on TCP keepalive with short timers (defaults wait two hours).
fn keepalive(stream: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPIDLE,
            KEEPALIVE_IDLE.as_secs() as i32,
        )?;
        setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            KEEPALIVE_INTERVAL.as_secs() as i32,
        )?;
        setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, KEEPALIVE_PROBES)?;
        setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            WRITE_STALL.as_millis() as i32,
        )?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_PROBES);
    Ok(())
}

fn setsockopt(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: i32,
) -> io::Result<()> {
    let v: libc::c_int = value;
    // SAFETY: `fd` is an open socket owned by the caller's TcpStream; the option value
    // is a c_int that lives across the call, and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

fn protocol(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Writes one frame on the network thread (only before the sender thread exists).
fn send_now(mut stream: &TcpStream, msg: &Message) -> io::Result<()> {
    let mut buf = Vec::with_capacity(msg.encoded_len());
    wire::encode(msg, &mut buf);
    stream.write_all(&buf)
}

/// Frames from a blocking socket; `Ok(None)` when a read timed out (a partial frame
/// stays buffered for the next call).
struct FrameReader {
    stream: TcpStream,
    buf: Vec<u8>,
    /// After a frame failed to decode: the Error frame that answers it.
    refusal: Option<Message>,
}

impl FrameReader {
    fn new(stream: TcpStream) -> Self {
        FrameReader {
            stream,
            buf: Vec::with_capacity(64 << 10),
            refusal: None,
        }
    }

    fn next(&mut self) -> io::Result<Option<Message>> {
        loop {
            match wire::decode(&self.buf) {
                Ok(Some((msg, used))) => {
                    self.buf.drain(..used);
                    return Ok(Some(msg));
                }
                Ok(None) => {}
                Err(e) => {
                    self.refusal = Some(e.to_message());
                    return Err(protocol(format!("bad frame from the master: {e}")));
                }
            }
            let mut chunk = [0u8; 16 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "master closed the connection",
                    ))
                }
                Ok(n) => self
                    .buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
