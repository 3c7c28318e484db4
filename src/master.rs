//! The master: a single-threaded mio event loop around the [`Scheduler`].
//!
//! It owns the sockets, the output and the clock. Each connection keeps an input buffer
//! (frames are parsed by [`wire::decode`] as they complete) and an output buffer that is
//! flushed until `WouldBlock`; `WRITABLE` interest is registered only while that buffer
//! holds bytes. Results are checked here ([`check_result`]: the gap list decodes, rises,
//! stays in range, matches its count and digest) before the scheduler sees them; the
//! scheduler's [`Action`]s are then carried out: assign and cancel frames, in-order
//! writes to the [`OutputWriter`], dropped connections, and the final shutdown.
//!
//! A write error stops the handing out of work at once: every worker is told to stop,
//! and [`run`] returns the error naming the path and the OS error; the output stays
//! resumable from its last checkpoint.

use crate::gaps::{self, Checked};
use crate::kernel::KernelKind;
use crate::output::{OutputError, OutputWriter};
use crate::schedule::{Action, Config, DropReason, Event, Scheduler, Share, WorkerId};
use crate::wire::{self, ChunkResult, ErrorCode, Message, Mode, ShutdownReason, Welcome};
use crate::worker::MAX_THREADS;
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where the primes go.
pub enum Output {
    /// Written in order by this writer (a file or stdout).
    Primes(Box<OutputWriter>),
    /// Only counted; the total is in the [`Summary`].
    Count,
}

/// How the master runs a job.
pub struct MasterConfig {
    /// First number still to do (the job's start, or the resume point).
    pub start: u128,
    pub stop: u128,
    pub kernel: KernelKind,
    /// Interval at which workers send heartbeats; silence for 5 of them drops a worker.
    pub heartbeat: Duration,
    /// Interval between checkpoints of a file output.
    pub checkpoint: Duration,
    /// Cap on results waiting for their turn, bytes.
    pub max_buffer_bytes: u64,
    /// Threads every worker should run (`None`: each keeps its own).
    pub worker_threads: Option<u32>,
    /// No progress display.
    pub quiet: bool,
}

/// What a finished job did.
#[derive(Debug, Clone)]
pub struct Summary {
    pub numbers: u128,
    pub primes: u64,
    pub elapsed: Duration,
    pub shares: Vec<Share>,
}

/// Why the master stopped before the end of the job.
#[derive(Debug)]
pub enum MasterError {
    Output(OutputError),
    Io {
        what: &'static str,
        source: io::Error,
    },
}

impl std::fmt::Display for MasterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasterError::Output(e) => write!(f, "{e}"),
            MasterError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for MasterError {}

impl From<OutputError> for MasterError {
    fn from(e: OutputError) -> Self {
        MasterError::Output(e)
    }
}

const LISTENER: Token = Token(0);
/// A connection that has not said hello by then is closed.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the progress line is redrawn on a terminal, and logged otherwise.
const PROGRESS_TTY: Duration = Duration::from_millis(500);
const PROGRESS_LOG: Duration = Duration::from_secs(10);
/// Bytes read from one connection before the loop turns to the others and its timers;
/// the rest waits in `Master::backlog` (mio is edge-triggered: no new event comes).
const READ_BURST: usize = 4 << 20;

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    /// Registered for WRITABLE too (only while `outbuf` holds bytes).
    writable: bool,
    welcomed: bool,
    name: String,
    opened: Instant,
}

struct Master {
    cfg: MasterConfig,
    poll: Poll,
    listener: TcpListener,
    conns: BTreeMap<WorkerId, Conn>,
    /// Connections that had more to read when their burst ran out.
    backlog: Vec<WorkerId>,
    /// Welcomed workers whose socket failed while writing: closed already, reported
    /// to the scheduler as `Left` once the current batch of actions is carried out.
    lost: Vec<WorkerId>,
    next_id: WorkerId,
    sched: Scheduler<Checked>,
    output: Output,
    mode: Mode,
    started: Instant,
    next_checkpoint: Instant,
    progress: Progress,
    done: bool,
}

/// Runs the job on `listener` until every number is written. Workers may come and go.
pub fn run(
    cfg: MasterConfig,
    output: Output,
    listener: std::net::TcpListener,
) -> Result<Summary, MasterError> {
    let io = |what| move |source| MasterError::Io { what, source };
    listener
        .set_nonblocking(true)
        .map_err(io("listening socket"))?;
    let mut listener = TcpListener::from_std(listener);
    let poll = Poll::new().map_err(io("creating the event loop"))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(io("listening socket"))?;
    let mode = match output {
        Output::Primes(_) => Mode::Primes,
        Output::Count => Mode::Count,
    };
    let mut sc = Config::new(cfg.start, cfg.stop, mode == Mode::Primes);
    sc.heartbeat_timeout = cfg.heartbeat * 5;
    sc.max_buffer_bytes = cfg.max_buffer_bytes;
    let now = Instant::now();
    let mut m = Master {
        next_checkpoint: now + cfg.checkpoint,
        progress: Progress::new(cfg.quiet),
        cfg,
        poll,
        listener,
        conns: BTreeMap::new(),
        backlog: Vec::new(),
        lost: Vec::new(),
        next_id: 1,
        sched: Scheduler::new(sc),
        output,
        mode,
        started: now,
        done: false,
    };
    let result = m.event_loop();
    m.progress.clear();
    match result {
        Ok(()) => m.finish(),
        Err(e) => {
            m.stop_workers(&e.to_string());
            Err(e)
        }
    }
}

impl Master {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn event_loop(&mut self) -> Result<(), MasterError> {
        let mut events = Events::with_capacity(256);
        if self.sched.is_done() {
            let acts = self.sched.on(Event::Tick, self.now());
            self.apply(acts)?;
        }
        while !self.done {
            let timeout = if self.backlog.is_empty() && self.lost.is_empty() {
                self.timeout()
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(MasterError::Io {
                    what: "waiting for events",
                    source: e,
                });
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    Token(t) => {
                        let id = t as WorkerId;
                        if ev.is_writable() {
                            self.flush(id);
                        }
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.read(id)?;
                        }
                    }
                }
                if self.done {
                    break;
                }
            }
            for id in std::mem::take(&mut self.backlog) {
                if !self.done {
                    self.read(id)?;
                }
            }
            self.report_lost()?;
            self.on_timers()?;
        }
        Ok(())
    }

    /// Tells the scheduler about workers whose sockets failed while writing, so their
    /// chunks are requeued now rather than at their heartbeat deadline.
    fn report_lost(&mut self) -> Result<(), MasterError> {
        while let Some(worker) = self.lost.pop() {
            let acts = self.sched.on(Event::Left { worker }, self.now());
            self.apply(acts)?;
        }
        Ok(())
    }

    /// Time until the next thing that must happen without an event.
    fn timeout(&self) -> Duration {
        let now = self.now();
        let mut t = self
            .progress
            .next_due()
            .saturating_duration_since(Instant::now());
        if let Some(d) = self.sched.next_deadline() {
            t = t.min(d.saturating_sub(now));
        }
        if matches!(self.output, Output::Primes(_)) {
            t = t.min(
                self.next_checkpoint
                    .saturating_duration_since(Instant::now()),
            );
        }
        t.min(Duration::from_secs(1))
    }

    fn on_timers(&mut self) -> Result<(), MasterError> {
        let now = self.now();
        if self.sched.next_deadline().is_some_and(|d| d <= now) {
            let acts = self.sched.on(Event::Tick, now);
            self.apply(acts)?;
        }
        let late: Vec<WorkerId> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.welcomed && c.opened.elapsed() >= HELLO_TIMEOUT)
            .map(|(&id, _)| id)
            .collect();
        for id in late {
            self.close(id, "no hello within 10 s", None)?;
        }
        if Instant::now() >= self.next_checkpoint {
            if let Output::Primes(w) = &mut self.output {
                let began = Instant::now();
                w.checkpoint()?;
                debug!(
                    "master: checkpoint in {:.1} ms",
                    began.elapsed().as_secs_f64() * 1e3
                );
            }
            self.next_checkpoint = Instant::now() + self.cfg.checkpoint;
        }
        if !self.done {
            self.progress.maybe_show(&self.sched, self.started);
        }
        Ok(())
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, peer)) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let _ = stream.set_nodelay(true);
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        Token(id as usize),
                        Interest::READABLE,
                    ) {
                        warn!("master: cannot watch connection from {peer}: {e}");
                        continue;
                    }
                    debug!("master: connection {id} from {peer}");
                    let conn = Conn {
                        stream,
                        peer,
                        inbuf: Vec::new(),
                        outbuf: Vec::new(),
                        writable: false,
                        welcomed: false,
                        name: peer.to_string(),
                        opened: Instant::now(),
                    };
                    self.conns.insert(id, conn);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors and the like: the next event retries.
                    warn!("master: accepting a connection: {e}");
                    return;
                }
            }
        }
    }

    /// Reads what the connection has, up to a burst, and handles every complete frame.
    fn read(&mut self, id: WorkerId) -> Result<(), MasterError> {
        let mut buf = [0u8; 64 << 10];
        let mut taken = 0;
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return Ok(());
            };
            if taken >= READ_BURST {
                if !self.backlog.contains(&id) {
                    self.backlog.push(id);
                }
                return Ok(());
            }
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    let why = if conn.welcomed {
                        "connection closed"
                    } else {
                        "closed before hello"
                    };
                    return self.close(id, why, None);
                }
                Ok(n) => {
                    taken += n;
                    conn.inbuf.extend_from_slice(&buf[..n]);
                    self.handle_frames(id)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.close(id, &format!("read error: {e}"), None),
            }
        }
    }

    fn handle_frames(&mut self, id: WorkerId) -> Result<(), MasterError> {
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return Ok(());
            };
            let (msg, used) = match wire::decode(&conn.inbuf) {
                Ok(Some(x)) => x,
                Ok(None) => return Ok(()),
                Err(e) => {
                    let reply = e.to_message();
                    return self.close(id, &format!("bad frame: {e}"), Some(reply));
                }
            };
            conn.inbuf.drain(..used);
            self.handle(id, msg)?;
        }
    }

    fn handle(&mut self, id: WorkerId, msg: Message) -> Result<(), MasterError> {
        let now = self.now();
        let welcomed = self.conns.get(&id).is_some_and(|c| c.welcomed);
        match msg {
            Message::Hello(h) if !welcomed => {
                if h.version != wire::VERSION {
                    let text = format!(
                        "this master speaks protocol version {}, the worker {}",
                        wire::VERSION,
                        h.version
                    );
                    let reply = Message::Error {
                        code: ErrorCode::BadVersion,
                        message: text.clone(),
                    };
                    return self.close(id, &text, Some(reply));
                }
                let welcome = Welcome {
                    version: wire::VERSION,
                    worker_id: id,
                    mode: self.mode,
                    kernel: kernel_code(self.cfg.kernel),
                    heartbeat_ms: self.cfg.heartbeat.as_millis() as u32,
                    threads: self.cfg.worker_threads.unwrap_or(0),
                };
                // A worker's claim sizes its share of chunks: keep it to what a worker runs.
                let threads = self
                    .cfg
                    .worker_threads
                    .unwrap_or(h.threads)
                    .clamp(1, MAX_THREADS);
                if let Some(c) = self.conns.get_mut(&id) {
                    c.welcomed = true;
                    c.name = format!("{}@{}", h.name, c.peer.ip());
                    info!(
                        "master: worker {id} joined: {} ({}, {} threads)",
                        c.name, h.arch, threads
                    );
                }
                self.send(id, &Message::Welcome(welcome));
                let acts = self.sched.on(
                    Event::Joined {
                        worker: id,
                        threads,
                        name: h.name,
                    },
                    now,
                );
                self.apply(acts)
            }
            Message::Heartbeat { threads, .. } if welcomed => {
                let acts = self.sched.on(
                    Event::Heard {
                        worker: id,
                        threads: threads.clamp(1, MAX_THREADS),
                    },
                    now,
                );
                self.apply(acts)
            }
            Message::Result(mut r) if welcomed => match check_result(&mut r, self.mode) {
                Ok(list) => {
                    let ev = Event::Result {
                        worker: id,
                        chunk: r.chunk,
                        start: r.start,
                        stop: r.stop,
                        count: r.count,
                        compute: Duration::from_micros(r.compute_us),
                        bytes: list.bytes().len() as u64,
                        payload: list,
                    };
                    let acts = self.sched.on(ev, now);
                    self.apply(acts)
                }
                Err(why) => {
                    let text = format!("chunk {}: {why}", r.chunk);
                    let reply = Message::Error {
                        code: ErrorCode::BadResult,
                        message: text.clone(),
                    };
                    self.close(id, &format!("bad result: {text}"), Some(reply))
                }
            },
            other => {
                let text = format!(
                    "unexpected {} {}",
                    other.name(),
                    if welcomed {
                        "after welcome"
                    } else {
                        "before hello"
                    }
                );
                let reply = Message::Error {
                    code: ErrorCode::Malformed,
                    message: text.clone(),
                };
                self.close(id, &text, Some(reply))
            }
        }
    }

    fn apply(&mut self, actions: Vec<Action<Checked>>) -> Result<(), MasterError> {
        for a in actions {
            match a {
                Action::Assign {
                    worker,
                    chunk,
                    start,
                    stop,
                } => {
                    self.send(
                        worker,
                        &Message::Assign(wire::Assign { chunk, start, stop }),
                    );
                }
                Action::Cancel { worker, chunk } => self.send(worker, &Message::Cancel { chunk }),
                Action::Write { payload, .. } => {
                    if let Output::Primes(w) = &mut self.output {
                        w.append(&payload)?;
                    }
                }
                Action::Drop { worker, reason } => {
                    let reply = match &reason {
                        DropReason::BadResult(why) => Some(Message::Error {
                            code: ErrorCode::BadResult,
                            message: why.clone(),
                        }),
                        DropReason::Silent(_) => None,
                    };
                    self.disconnect(worker, &reason.to_string(), reply);
                }
                Action::Done => self.done = true,
            }
        }
        Ok(())
    }

    /// Queues a frame and flushes what the socket takes now.
    fn send(&mut self, id: WorkerId, msg: &Message) {
        if let Some(c) = self.conns.get_mut(&id) {
            wire::encode(msg, &mut c.outbuf);
            self.flush(id);
        }
    }

    /// Writes the connection's output buffer until the socket would block; watches
    /// for writability only while bytes are left.
    fn flush(&mut self, id: WorkerId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let mut sent = 0;
        let mut failed = None;
        while sent < c.outbuf.len() {
            match c.stream.write(&c.outbuf[sent..]) {
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
        c.outbuf.drain(..sent);
        if let Some(why) = failed {
            if c.welcomed {
                self.lost.push(id);
            }
            self.disconnect(id, &why, None);
            return;
        }
        let want = !c.outbuf.is_empty();
        if want != c.writable {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(&mut c.stream, Token(id as usize), interest)
                .is_ok()
            {
                c.writable = want;
            }
        }
    }

    /// Closes a connection (sending `reply` first, best effort) and tells the scheduler.
    fn close(
        &mut self,
        id: WorkerId,
        why: &str,
        reply: Option<Message>,
    ) -> Result<(), MasterError> {
        let welcomed = self.conns.get(&id).is_some_and(|c| c.welcomed);
        self.disconnect(id, why, reply);
        if welcomed {
            let acts = self.sched.on(Event::Left { worker: id }, self.now());
            self.apply(acts)?;
        }
        Ok(())
    }

    /// Closes a connection without telling the scheduler (it dropped the worker itself).
    fn disconnect(&mut self, id: WorkerId, why: &str, reply: Option<Message>) {
        let Some(mut c) = self.conns.remove(&id) else {
            return;
        };
        if c.welcomed {
            info!("master: worker {id} ({}) lost: {why}", c.name);
        } else {
            info!("master: connection from {} dropped: {why}", c.peer);
        }
        if let Some(msg) = reply {
            wire::encode(&msg, &mut c.outbuf);
        }
        if !c.outbuf.is_empty() {
            // One non-blocking attempt: a peer that does not read gets nothing more.
            let _ = c.stream.write(&c.outbuf);
        }
        let _ = self.poll.registry().deregister(&mut c.stream);
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Tells every worker the job is over, giving their sockets a moment to drain.
    fn broadcast_shutdown(&mut self, reason: ShutdownReason, message: &str) {
        let ids: Vec<WorkerId> = self.conns.keys().copied().collect();
        for id in &ids {
            self.send(
                *id,
                &Message::Shutdown {
                    reason,
                    message: message.to_string(),
                },
            );
        }
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && self.conns.values().any(|c| !c.outbuf.is_empty()) {
            std::thread::sleep(Duration::from_millis(2));
            for id in &ids {
                self.flush(*id);
            }
        }
        for id in ids {
            if let Some(mut c) = self.conns.remove(&id) {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
        }
    }

    fn stop_workers(&mut self, why: &str) {
        self.broadcast_shutdown(ShutdownReason::Stopped, why);
    }

    fn finish(mut self) -> Result<Summary, MasterError> {
        let elapsed = self.started.elapsed();
        let progress = self.sched.progress();
        let output = std::mem::replace(&mut self.output, Output::Count);
        if let Output::Primes(w) = output {
            if let Err(e) = w.finish() {
                self.stop_workers(&e.to_string());
                return Err(e.into());
            }
        }
        self.broadcast_shutdown(ShutdownReason::Done, "job complete");
        Ok(Summary {
            numbers: progress.numbers_done,
            primes: progress.primes,
            elapsed,
            shares: self.sched.shares(),
        })
    }
}

/// The wire code of a kernel.
pub fn kernel_code(k: KernelKind) -> u8 {
    match k {
        KernelKind::Auto => 0,
        KernelKind::Sieve => 1,
        KernelKind::Trial => 2,
    }
}

/// Checks a result's own consistency: in primes mode the gap list decodes within its
/// range, rises strictly, holds `count` primes and matches the digest; in count mode
/// it carries no list. Takes the list out of `r` and returns it checked (empty in count
/// mode), ready for the scheduler and `OutputWriter::append`. Whether the range is the
/// one assigned is the scheduler's part.
pub fn check_result(r: &mut ChunkResult, mode: Mode) -> Result<Checked, String> {
    match mode {
        Mode::Primes => {
            let d = gaps::digest(&r.gaps);
            if d != r.digest {
                return Err(format!(
                    "digest {:#018x} does not match the primes ({d:#018x})",
                    r.digest
                ));
            }
            let list = std::mem::take(&mut r.gaps);
            gaps::check(list, r.start, r.stop, r.count).map_err(|e| e.to_string())
        }
        Mode::Count if !r.gaps.is_empty() => Err("a count-mode result carries primes".into()),
        Mode::Count => gaps::check(Vec::new(), r.start, r.stop, 0).map_err(|e| e.to_string()),
    }
}

/// The progress display: one redrawn stderr line on a terminal, log lines otherwise.
struct Progress {
    quiet: bool,
    tty: bool,
    next: Instant,
    shown: bool,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        // SAFETY: isatty only inspects the descriptor.
        let tty = unsafe { libc::isatty(2) } == 1;
        let every = if tty { PROGRESS_TTY } else { PROGRESS_LOG };
        Progress {
            quiet,
            tty,
            next: Instant::now() + every,
            shown: false,
        }
    }

    fn next_due(&self) -> Instant {
        if self.quiet {
            Instant::now() + Duration::from_secs(3600)
        } else {
            self.next
        }
    }

    fn maybe_show(&mut self, sched: &Scheduler<Checked>, started: Instant) {
        if self.quiet || Instant::now() < self.next {
            return;
        }
        let p = sched.progress();
        let secs = started.elapsed().as_secs_f64();
        let frac = if p.numbers_total == 0 {
            1.0
        } else {
            p.numbers_done as f64 / p.numbers_total as f64
        };
        let rate = p.numbers_done as f64 / secs.max(1e-9);
        let eta = if rate > 0.0 {
            (p.numbers_total - p.numbers_done) as f64 / rate
        } else {
            f64::INFINITY
        };
        let line = format!(
            "{:5.1}% {}/{} numbers, {} primes, {}/s, {} workers, {} threads, ETA {}",
            frac * 100.0,
            human(p.numbers_done as f64),
            human(p.numbers_total as f64),
            p.primes,
            human(rate),
            p.workers,
            p.threads,
            eta_text(eta)
        );
        if self.tty {
            eprint!("\r{line}\x1b[K");
            self.shown = true;
            self.next = Instant::now() + PROGRESS_TTY;
        } else {
            // Not through `log`: progress is asked for (no --quiet) whatever RUST_LOG says.
            eprintln!("primecluster: {line}");
            self.next = Instant::now() + PROGRESS_LOG;
        }
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

/// 1234567 -> "1.23M".
pub fn human(x: f64) -> String {
    const UNITS: [(f64, &str); 6] = [
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
    ];
    for (scale, unit) in UNITS {
        if x >= scale {
            return format!("{:.2}{unit}", x / scale);
        }
    }
    format!("{x:.0}")
}

fn eta_text(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    let s = secs.round() as u64;
    match s {
        0..=99 => format!("{s}s"),
        100..=5999 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaps::GapEncoder;

    #[test]
    fn check_result_catches_lies() {
        let mut e = GapEncoder::new(10);
        for p in [11u128, 13, 17, 19] {
            e.push(p);
        }
        let gaps = e.into_bytes();
        let good = ChunkResult {
            chunk: 0,
            start: 10,
            stop: 20,
            count: 4,
            digest: gaps::digest(&gaps),
            compute_us: 1,
            gaps,
        };
        let list = check_result(&mut good.clone(), Mode::Primes).unwrap();
        assert_eq!((list.count(), list.last()), (4, Some(19)));
        let mut bad = good.clone();
        bad.count = 5;
        assert!(check_result(&mut bad, Mode::Primes).is_err());
        let mut bad = good.clone();
        bad.digest ^= 1;
        assert!(check_result(&mut bad, Mode::Primes).is_err());
        let mut bad = good.clone();
        bad.stop = 18;
        assert!(check_result(&mut bad, Mode::Primes)
            .unwrap_err()
            .contains("19"));
        assert!(check_result(&mut good.clone(), Mode::Count).is_err());
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(999.0), "999");
        assert_eq!(human(1_234_567.0), "1.23M");
        assert_eq!(eta_text(61.0), "61s");
        assert_eq!(eta_text(3700.0), "61m40s");
        assert_eq!(eta_text(f64::INFINITY), "?");
    }
}
