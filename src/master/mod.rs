//! The master: a single-threaded mio event loop around the [`Scheduler`].
//!
//! It owns the sockets, the output and the clock, and carries out the scheduler's
//! [`Action`]s: assign and cancel frames, in-order writes to the [`OutputWriter`],
//! dropped connections, and the final shutdown.
//!
//! # Layout
//! - this file: the loop — accept (up to `max_connections`), the hello and the
//!   authentication handshake (`docs/PROTOCOL.md` section 11), read, hand frames to the
//!   scheduler, carry out its actions, timers, checkpoints, the end of the job;
//! - [`conn`]: one connection's buffers and socket I/O, with per-state frame caps;
//! - [`control`]: the replies to `status`, `threads` and `stop` (pure functions) and the
//!   thread counts remembered for workers that join later;
//! - [`check`]: the checks a result passes before the scheduler sees it;
//! - [`clock`]: the stall-free clock that worker silence is measured on;
//! - [`signal`]: SIGINT/SIGTERM/SIGHUP handling through a self-pipe;
//! - [`progress`]: the progress line.
//!
//! # Promises
//! - Sockets that became ready while the master stood still (stopped, blocked on its
//!   output) are read before any timer may expire a worker, and the stall itself is
//!   left out of the silence that drops workers.
//! - With a token, no client is welcomed before it proved the token (and the master
//!   proved it first); a refusal is an Error `Unauthorized` with the reason, logged with
//!   the peer's address. A connection that has not finished the handshake within
//!   [`HELLO_TIMEOUT`] is closed. Control clients are welcomed but never join the
//!   scheduler.
//! - Memory stays bounded under any flood: connections are capped, and each may send
//!   only a frame as large as its state allows (see [`conn`]).
//! - A write error stops the handing out of work at once: every worker is told to
//!   stop (and wait), and [`run`] returns the error naming the path and the OS error;
//!   the output stays resumable from its last checkpoint. A closed stdout ends the job
//!   quietly ([`MasterError::is_closed_pipe`]).
//! - A stop signal ends the loop; what is in order is written, fsynced and
//!   checkpointed, workers are told to wait, and [`run`] returns
//!   [`MasterError::Interrupted`]. A control client's stop request does the same, answers
//!   it with where the job stopped, and [`run`] returns [`MasterError::Stopped`].
//! - A welcomed control client that sends nothing for [`MasterConfig::control_idle`]
//!   (30 s by default) is closed, so idle ones cannot hold `max_connections` slots.
//! - A worker that is quarantined (a result of it lost a vote) is told so with Error
//!   `Quarantined` (code 7), at once and again before any Welcome when it comes back.
//! - A control client (welcomed by [`Master::welcome_control`]) is never a worker: the
//!   scheduler does not hear of it, it gets no work, and it may send only control
//!   requests; a worker (or a peer before its hello) that sends one is refused
//!   (Error `Malformed`, close).

mod check;
mod clock;
mod conn;
mod control;
mod progress;
mod signal;

pub use check::{check_result, ResultError};
pub use progress::human;
pub use signal::signal_name;

use crate::auth::{self, AuthError, Role, ServerHandshake};
use crate::control::msg::{OutputFormat, SetThreadsRequest};
use crate::gaps::Checked;
use crate::kernel::KernelKind;
use crate::output::{Format, OutputError, OutputWriter};
use crate::schedule::{Action, Config, DropReason, Event, Scheduler, Share, WorkerId};
use crate::wire::{self, ErrorCode, Hello, Message, Mode, ShutdownReason, Welcome};
use clock::StallClock;
use conn::{Conn, ReadOutcome};
use control::{PeerInfo, RateWindow, ThreadMemory};
use log::{debug, info, trace, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use progress::Progress;
use signal::Signals;
use std::collections::{BTreeMap, VecDeque};
use std::io;
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
    /// Connections open at once (workers and not-yet-welcomed peers); more are closed
    /// as soon as they are accepted.
    pub max_connections: usize,
    /// No progress display.
    pub quiet: bool,
    /// The cluster's token: every client must prove it (and gets the master's proof)
    /// before its welcome. `None`: clients without a token are welcomed (loopback or
    /// `--insecure` only, checked by the caller with [`auth::check_listen`]).
    pub token: Option<auth::Token>,
    /// Distinct workers (name and address) that must agree on each chunk, 1..=5.
    pub redundancy: u32,
    /// With redundancy 1: fraction of results also computed by a second worker
    /// (after each worker's first [`SPOT_CHECK_FIRST`](crate::schedule::SPOT_CHECK_FIRST),
    /// which all are), 0..=1; 0 turns spot checks off.
    pub spot_check: f64,
    /// Copies computed for a vote all use the job's kernel (`--same-kernel`) instead of
    /// being spread over the sieve and pre-sieve + Miller–Rabin.
    pub same_kernel: bool,
    /// A control client (`status`, `threads`, `stop`) that sends nothing for this long
    /// is closed, so that idle ones cannot hold `max_connections` slots for ever
    /// ([`CONTROL_IDLE`] unless a test shortens it).
    pub control_idle: Duration,
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
    /// A stop signal (`signal`) ended the job early, cleanly: the output holds every
    /// chunk up to `next` (exclusive; `None` when nothing is left or nothing counts),
    /// flushed, fsynced and checkpointed.
    Interrupted {
        signal: i32,
        next: Option<u128>,
    },
    /// A control client (`primecluster stop`, from `by`) stopped the job cleanly, as a
    /// signal does: the output holds every chunk up to `next` (exclusive; `None` when
    /// nothing is left or nothing counts), checkpointed when `checkpointed`. The
    /// program exits 0: the operator asked for it.
    Stopped {
        by: String,
        next: Option<u128>,
        checkpointed: bool,
    },
}

impl MasterError {
    /// Whether this is the reader of stdout going away (`| head`): not a failure.
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, MasterError::Output(OutputError::Io { source, .. })
            if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl std::fmt::Display for MasterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasterError::Output(e) => write!(f, "{e}"),
            MasterError::Io { what, source } => write!(f, "{what}: {source}"),
            MasterError::Interrupted { signal, .. } => {
                write!(f, "stopped by {}", signal_name(*signal))
            }
            MasterError::Stopped { by, .. } => write!(f, "stopped by a control client ({by})"),
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
const SIGNALS: Token = Token(1);
/// Worker ids start past the fixed tokens.
const FIRST_WORKER: WorkerId = 2;
/// A connection that has not finished its hello and handshake by then is closed.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A welcomed control client that sends nothing for this long is closed (the default
/// of [`MasterConfig::control_idle`]): `status` and friends send their request at once,
/// and even a script polling with one connection asks more often than this.
pub const CONTROL_IDLE: Duration = Duration::from_secs(30);
/// Bytes read from one connection before the loop turns to the others and its timers;
/// the rest waits in `Master::backlog` (mio is edge-triggered: no new event comes).
const READ_BURST: usize = 4 << 20;
/// Departed workers whose connection facts (arch, cores, address) are kept for the
/// `status` rows of workers that left: as many as the scheduler lists (64), and some.
const DEPARTED_KEPT: usize = 128;

/// Why the event loop ended without an error.
enum End {
    /// Every number is written.
    Done,
    /// A control client (this connection) asked for a clean stop.
    StopRequested(WorkerId),
}

struct Master {
    cfg: MasterConfig,
    poll: Poll,
    listener: TcpListener,
    signals: Signals,
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
    clock: StallClock,
    next_checkpoint: Instant,
    progress: Progress,
    /// Connections refused at the cap so far (the first is logged as a warning).
    refused: u64,
    done: bool,
    /// A control client asked for a stop: the loop ends and answers it.
    stop_by: Option<WorkerId>,
    /// Connection facts of workers that left, newest last (see [`DEPARTED_KEPT`]).
    departed: VecDeque<(WorkerId, PeerInfo)>,
    /// Thread counts set by control, for workers that join later.
    threads_memory: ThreadMemory,
    /// Numbers done lately, for the rate `status` reports.
    rate: RateWindow,
    /// When the output was last checkpointed (a file output is checkpointed as it is
    /// opened); `None` for outputs without checkpoints.
    last_checkpoint: Option<Instant>,
}

impl Master {
    /// The master of `cfg`'s job on `listener`, with its event loop and signal handlers
    /// set up; nothing is read or written yet.
    fn new(
        cfg: MasterConfig,
        output: Output,
        listener: std::net::TcpListener,
    ) -> Result<Master, MasterError> {
        let io = |what| move |source| MasterError::Io { what, source };
        listener
            .set_nonblocking(true)
            .map_err(io("listening socket"))?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new().map_err(io("creating the event loop"))?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(io("listening socket"))?;
        let signals =
            Signals::install(poll.registry(), SIGNALS).map_err(io("installing signal handlers"))?;
        let mode = match output {
            Output::Primes(_) => Mode::Primes,
            Output::Count => Mode::Count,
        };
        let mut sc = Config::new(cfg.start, cfg.stop, mode == Mode::Primes);
        sc.heartbeat_timeout = cfg.heartbeat * 5;
        sc.max_buffer_bytes = cfg.max_buffer_bytes;
        sc.redundancy = cfg.redundancy;
        sc.spot_check = cfg.spot_check;
        sc.kernel_mask = vote_kernels(cfg.kernel, cfg.same_kernel);
        // Auto sieves below 2^64 (where the sieve fits): a spot check's second copy of
        // a result computed with the job's kernel then goes to the pre-sieve.
        sc.default_kernel = Some(match cfg.kernel {
            KernelKind::Auto => wire::kernel_code::SIEVE,
            k => kernel_code(k),
        });
        if cfg.spot_check > 0.0 {
            // Which results are checked must be unguessable, or a liar lies only on the
            // others: the seed comes from the OS, never from the clock.
            let mut seed = [0u8; 8];
            getrandom::fill(&mut seed).map_err(|e| MasterError::Io {
                what: "reading OS randomness for the spot checks",
                source: io::Error::other(e.to_string()),
            })?;
            sc.seed = u64::from_le_bytes(seed);
        }
        if cfg.redundancy > 1 {
            warn!(
                "master: redundancy {}: each chunk is written only when {} distinct workers \
                 (name and address) agree; with fewer connected, the job waits",
                cfg.redundancy, cfg.redundancy
            );
        }
        let now = Instant::now();
        let last_checkpoint = match &output {
            Output::Primes(w) if w.is_file() => Some(now),
            _ => None,
        };
        Ok(Master {
            next_checkpoint: now + cfg.checkpoint,
            progress: Progress::new(cfg.quiet),
            cfg,
            poll,
            listener,
            signals,
            conns: BTreeMap::new(),
            backlog: Vec::new(),
            lost: Vec::new(),
            next_id: FIRST_WORKER,
            sched: Scheduler::new(sc),
            output,
            mode,
            started: now,
            clock: StallClock::new(now),
            refused: 0,
            done: false,
            stop_by: None,
            departed: VecDeque::new(),
            threads_memory: ThreadMemory::default(),
            rate: RateWindow::default(),
            last_checkpoint,
        })
    }
}

/// Runs the job on `listener` until every number is written. Workers may come and go.
pub fn run(
    cfg: MasterConfig,
    output: Output,
    listener: std::net::TcpListener,
) -> Result<Summary, MasterError> {
    let mut m = Master::new(cfg, output, listener)?;
    let result = m.event_loop();
    m.progress.clear();
    if m.clock.excluded() > Duration::ZERO {
        debug!(
            "master: {:.1} s of stalls left out of worker silence",
            m.clock.excluded().as_secs_f64()
        );
    }
    match result {
        Ok(End::Done) => m.finish(),
        Ok(End::StopRequested(by)) => Err(m.stop_for_control(by)),
        Err(MasterError::Interrupted { signal, .. }) => Err(m.stop_for_signal(signal)),
        Err(e) if e.is_closed_pipe() => {
            // Nothing to resume on a closed stdout: the job is over for everyone.
            m.broadcast_shutdown(ShutdownReason::Done, "the output was closed by its reader");
            Err(e)
        }
        Err(e) => {
            m.stop_workers(&e.to_string());
            Err(e)
        }
    }
}

impl Master {
    fn now(&self) -> Duration {
        self.clock.now()
    }

    fn event_loop(&mut self) -> Result<End, MasterError> {
        let mut events = Events::with_capacity(256);
        if self.sched.is_done() {
            let acts = self.sched.on(Event::Tick, self.now());
            self.apply(acts)?;
        }
        // After a stall, the next round only reads: frames that arrived meanwhile are
        // heard before any timer may expire their senders.
        let mut after_stall = false;
        while !self.done {
            if let Some(by) = self.stop_by {
                return Ok(End::StopRequested(by));
            }
            if let Some(signal) = self.signals.received() {
                return Err(MasterError::Interrupted { signal, next: None });
            }
            let busy = !(self.backlog.is_empty() && self.lost.is_empty());
            let timeout = if busy || after_stall {
                Duration::ZERO
            } else {
                self.timeout()
            };
            let waited = Instant::now();
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(MasterError::Io {
                        what: "waiting for events",
                        source: e,
                    });
                }
            }
            let mut stalled = self.clock.after_wait(timeout, waited.elapsed());
            let worked = Instant::now();
            self.on_events(&events)?;
            for id in std::mem::take(&mut self.backlog) {
                if !self.done && self.stop_by.is_none() {
                    self.read(id)?;
                }
            }
            self.report_lost()?;
            stalled |= self.clock.after_work(worked.elapsed());
            if stalled && !after_stall {
                after_stall = true;
                continue;
            }
            let timed = Instant::now();
            self.on_timers()?;
            after_stall = self.clock.after_work(timed.elapsed());
        }
        Ok(End::Done)
    }

    fn on_events(&mut self, events: &Events) -> Result<(), MasterError> {
        for ev in events.iter() {
            match ev.token() {
                LISTENER => self.accept(),
                SIGNALS => self.signals.drain(),
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
            if self.done || self.stop_by.is_some() {
                break;
            }
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
            .filter(|(_, c)| !c.welcomed && now.saturating_sub(c.opened) >= HELLO_TIMEOUT)
            .map(|(&id, _)| id)
            .collect();
        for id in late {
            self.close(id, "no hello and handshake within 10 s", None)?;
        }
        let idle = self.cfg.control_idle;
        let quiet: Vec<WorkerId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.control && now.saturating_sub(c.last_frame) >= idle)
            .map(|(&id, _)| id)
            .collect();
        for id in quiet {
            let why = format!(
                "silent for {:.1} s (the control clients' limit): closed so that it cannot \
                 hold a connection slot",
                idle.as_secs_f64()
            );
            self.close(id, &why, None)?;
        }
        if Instant::now() >= self.next_checkpoint {
            if let Output::Primes(w) = &mut self.output {
                let began = Instant::now();
                w.checkpoint()?;
                self.last_checkpoint = Some(Instant::now());
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
        self.rate.record(now, self.done_numbers());
        Ok(())
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, peer)) => {
                    if self.conns.len() >= self.cfg.max_connections {
                        // Closed at once (dropped): a flood of connections costs a
                        // descriptor for a moment, never a buffer.
                        self.refused += 1;
                        let text = format!(
                            "master: connection from {peer} refused: {} connections open \
                             (--max-connections)",
                            self.conns.len()
                        );
                        if self.refused == 1 {
                            warn!("{text}");
                        } else {
                            debug!("{text}");
                        }
                        continue;
                    }
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
                    let conn = Conn::new(stream, peer, self.now());
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
            match conn.read_some(&mut buf) {
                ReadOutcome::Bytes(n) => {
                    taken += n;
                    self.handle_frames(id)?;
                }
                ReadOutcome::WouldBlock => return Ok(()),
                ReadOutcome::Closed => {
                    let why = if conn.welcomed {
                        "connection closed"
                    } else if conn.pending.is_some() {
                        "closed during the handshake"
                    } else {
                        "closed before hello"
                    };
                    return self.close(id, why, None);
                }
                ReadOutcome::Failed(e) => return self.close(id, &format!("read error: {e}"), None),
            }
        }
    }

    fn handle_frames(&mut self, id: WorkerId) -> Result<(), MasterError> {
        loop {
            if self.stop_by.is_some() {
                return Ok(()); // The stop is carried out once the loop has ended.
            }
            let Some(conn) = self.conns.get_mut(&id) else {
                return Ok(());
            };
            let msg = match conn.next_frame(self.mode) {
                Ok(Some(msg)) => msg,
                Ok(None) => return Ok(()),
                Err(e) => {
                    let reply = e.to_message();
                    return self.close(id, &format!("bad frame: {e}"), Some(reply));
                }
            };
            self.handle(id, msg)?;
        }
    }

    fn handle(&mut self, id: WorkerId, msg: Message) -> Result<(), MasterError> {
        let now = self.now();
        let Some(conn) = self.conns.get(&id) else {
            return Ok(());
        };
        let (welcomed, pending) = (conn.welcomed, conn.pending.is_some());
        let (worker, control) = (conn.is_worker(), conn.control);
        if let Some(c) = self.conns.get_mut(&id) {
            c.last_frame = now;
        }
        match msg {
            Message::Hello(h) if !welcomed && !pending => self.on_hello(id, h),
            Message::Proof(proof) if pending => {
                let Some((hello, mut hs)) = self.conns.get_mut(&id).and_then(|c| c.pending.take())
                else {
                    return Ok(());
                };
                match hs.on_proof(&proof) {
                    Ok(Role::Worker) => self.welcome_worker(id, hello),
                    Ok(Role::Control) => {
                        self.welcome_control(id);
                        Ok(())
                    }
                    Err(e) => {
                        self.refuse(id, &e);
                        Ok(())
                    }
                }
            }
            Message::Error { code, message } => {
                // The peer's last word (e.g. a worker refusing this master's proof):
                // logged as it is, and not answered, since it closes anyway.
                let text = format!("it reports {code}: {message}");
                if let Some(c) = self.conns.get(&id) {
                    if code == ErrorCode::Unauthorized {
                        warn!("master: {} refused this master: {message}", c.peer);
                    }
                }
                self.close(id, &text, None)
            }
            Message::Heartbeat { threads, busy } if worker => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.busy = busy;
                }
                let acts = self.sched.on(
                    Event::Heard {
                        worker: id,
                        threads: threads.clamp(1, wire::MAX_THREADS),
                    },
                    now,
                );
                self.apply(acts)
            }
            Message::Result(mut r) if worker => {
                trace!(
                    "master: worker {id} answers chunk {} (count {}, digest {:016x})",
                    r.chunk,
                    r.count,
                    r.digest
                );
                if let Some(c) = self.conns.get_mut(&id) {
                    c.settled(r.chunk);
                }
                match check_result(&mut r, self.mode) {
                    Ok(list) => {
                        let ev = Event::Result {
                            worker: id,
                            chunk: r.chunk,
                            start: r.start,
                            stop: r.stop,
                            count: r.count,
                            digest: r.digest,
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
                }
            }
            Message::StatusRequest | Message::SetThreadsRequest(_) | Message::StopRequest
                if welcomed && control =>
            {
                self.on_control(id, msg)
            }
            other => {
                let text = format!(
                    "unexpected {} {}",
                    other.name(),
                    match (welcomed, control) {
                        (false, _) if pending => "during the handshake",
                        (false, _) => "before hello",
                        (true, false) => "from a worker",
                        (true, true) => "from a control client",
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

    /// A hello: checks the version, then answers with the challenge (the master's proof
    /// of the token, or that it has none) and waits for the client's proof.
    fn on_hello(&mut self, id: WorkerId, h: Hello) -> Result<(), MasterError> {
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
        let nonce = match auth::fresh_nonce() {
            Ok(n) => n,
            Err(e) => {
                let reply = Message::Error {
                    code: ErrorCode::Internal,
                    message: e.to_string(),
                };
                return self.close(id, &e.to_string(), Some(reply));
            }
        };
        let mut hs = ServerHandshake::new(self.cfg.token.as_ref(), nonce);
        match hs.on_hello(&h.auth, &h.name) {
            Ok(challenge) => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.pending = Some((h, hs));
                }
                self.send(id, &Message::Challenge(challenge));
            }
            Err(e) => self.refuse(id, &e),
        }
        Ok(())
    }

    /// Ends a handshake that failed: Error `Unauthorized` with the reason, then close.
    /// Logged as a warning with the peer's address: a wrong token is an operator's
    /// mistake, or a stranger knocking.
    fn refuse(&mut self, id: WorkerId, e: &AuthError) {
        let Some(c) = self.conns.remove(&id) else {
            return;
        };
        warn!("master: connection from {} refused: {e}", c.peer);
        let reply = Message::Error {
            code: ErrorCode::Unauthorized,
            message: e.to_string(),
        };
        c.close(self.poll.registry(), Some(reply));
    }

    /// The welcome of an authenticated worker, which joins the scheduler.
    fn welcome_worker(&mut self, id: WorkerId, h: Hello) -> Result<(), MasterError> {
        let now = self.now();
        let welcome = self.welcome(id);
        // A worker's claim sizes its share of chunks: keep it to what a worker runs.
        let threads = self
            .cfg
            .worker_threads
            .unwrap_or(h.threads)
            .clamp(1, wire::MAX_THREADS);
        let Some(peer_ip) = self.conns.get(&id).map(|c| c.peer.ip()) else {
            return Ok(());
        };
        let job_code = kernel_code(self.cfg.kernel);
        if self.cfg.kernel == KernelKind::Presieve && h.kernels & (1 << job_code) == 0 {
            // A worker from before kernel code 3 would refuse this Welcome as malformed
            // and reconnect for ever; this says what is wrong instead.
            let text = format!(
                "this job runs kernel presieve (code {job_code}), which the worker does not \
                 offer (its kernels bitmask is 0b{:b}): upgrade the worker",
                h.kernels
            );
            let reply = Message::Error {
                code: ErrorCode::BadVersion,
                message: text.clone(),
            };
            return self.close(id, &format!("refused: {text}"), Some(reply));
        }
        if self.sched.is_quarantined(&h.name, peer_ip) {
            // Refused before Welcome: a quarantined worker gets no id and no work, and
            // its connection never counts as a worker.
            let text = format!(
                "{}@{peer_ip} is quarantined for this job: a result of it lost a vote \
                 (it disagreed with the majority of the workers that computed the chunk)",
                h.name
            );
            let reply = Message::Error {
                code: ErrorCode::Quarantined,
                message: text.clone(),
            };
            return self.close(id, &format!("refused: {text}"), Some(reply));
        }
        if let Some(c) = self.conns.get_mut(&id) {
            c.welcomed = true;
            c.arch = h.arch.clone();
            c.cores = h.cores;
            c.name = format!("{}@{}", h.name, c.peer.ip());
            info!(
                "master: worker {id} joined: {} ({}, {} threads)",
                c.name, h.arch, threads
            );
        }
        self.send(id, &Message::Welcome(welcome));
        let remembered = self.threads_memory.for_worker(&h.name, peer_ip);
        let acts = self.sched.on(
            Event::Joined {
                worker: id,
                threads,
                name: h.name,
                addr: peer_ip,
                kernels: h.kernels,
            },
            now,
        );
        self.apply(acts)?;
        self.give_remembered_threads(id, remembered)
    }

    fn welcome(&self, id: WorkerId) -> Welcome {
        Welcome {
            version: wire::VERSION,
            worker_id: id,
            mode: self.mode,
            kernel: kernel_code(self.cfg.kernel),
            heartbeat_ms: self.cfg.heartbeat.as_millis().min(u32::MAX as u128) as u32,
            threads: self.cfg.worker_threads.unwrap_or(0),
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
                    kernel,
                } => {
                    trace!("master: chunk {chunk} ({start}..={stop}) to worker {worker}");
                    if let Some(c) = self.conns.get_mut(&worker) {
                        c.assigned(chunk, start, stop);
                    }
                    let assign = wire::Assign {
                        chunk,
                        start,
                        stop,
                        kernel: kernel.unwrap_or(wire::kernel_code::AUTO),
                    };
                    self.send(worker, &Message::Assign(assign));
                }
                Action::Cancel { worker, chunk } => {
                    trace!("master: chunk {chunk} cancelled on worker {worker}");
                    if let Some(c) = self.conns.get_mut(&worker) {
                        c.cancelled(chunk);
                    }
                    self.send(worker, &Message::Cancel { chunk })
                }
                Action::Write { chunk, payload, .. } => {
                    trace!("master: chunk {chunk} written");
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
                        DropReason::MissedDeadlines(_) => Some(Message::Error {
                            code: ErrorCode::BadResult,
                            message: reason.to_string(),
                        }),
                        DropReason::Quarantined { .. } => Some(Message::Error {
                            code: ErrorCode::Quarantined,
                            message: reason.to_string(),
                        }),
                        DropReason::Silent(_) => None,
                    };
                    self.disconnect(worker, &reason.to_string(), reply);
                }
                Action::Done => self.done = true,
                Action::Quarantine {
                    worker,
                    name,
                    addr,
                    reason,
                } => {
                    warn!("master: {name}@{addr} quarantined for this job: {reason}");
                    if let Some(worker) = worker {
                        let reply = Message::Error {
                            code: ErrorCode::Quarantined,
                            message: format!("quarantined: {reason}"),
                        };
                        self.disconnect(worker, &format!("quarantined: {reason}"), Some(reply));
                    }
                }
                Action::SetThreads { worker, threads } => {
                    self.send(worker, &Message::SetThreads { threads })
                }
                Action::Warn(text) => warn!("master: {text}"),
            }
        }
        Ok(())
    }

    /// Queues a frame and flushes what the socket takes now.
    fn send(&mut self, id: WorkerId, msg: &Message) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.queue(msg);
            self.flush(id);
        }
    }

    /// Writes the connection's output buffer until the socket would block; a failed
    /// socket closes the connection (and its worker is reported lost).
    fn flush(&mut self, id: WorkerId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if let Err(why) = c.flush(self.poll.registry(), Token(id as usize)) {
            if c.welcomed && !c.control {
                self.lost.push(id);
            }
            self.disconnect(id, &why, None);
        }
    }

    /// Closes a connection (sending `reply` first, best effort) and tells the scheduler.
    fn close(
        &mut self,
        id: WorkerId,
        why: &str,
        reply: Option<Message>,
    ) -> Result<(), MasterError> {
        let worker = self.conns.get(&id).is_some_and(Conn::is_worker);
        self.disconnect(id, why, reply);
        if worker {
            let acts = self.sched.on(Event::Left { worker: id }, self.now());
            self.apply(acts)?;
        }
        Ok(())
    }

    /// Closes a connection without telling the scheduler (it dropped the worker itself).
    fn disconnect(&mut self, id: WorkerId, why: &str, reply: Option<Message>) {
        let Some(c) = self.conns.remove(&id) else {
            return;
        };
        if c.is_worker() {
            info!("master: worker {id} ({}) lost: {why}", c.name);
            self.departed.push_back((id, peer_info(&c)));
            if self.departed.len() > DEPARTED_KEPT {
                self.departed.pop_front();
            }
        } else if c.welcomed {
            debug!("master: control client {id} ({}) left: {why}", c.name);
        } else {
            info!("master: connection from {} dropped: {why}", c.peer);
        }
        c.close(self.poll.registry(), reply);
    }

    /// Tells every worker the job is over, giving their sockets (and any control reply
    /// queued) a moment to drain. Control clients get no Shutdown: it is not a reply to
    /// their request.
    fn broadcast_shutdown(&mut self, reason: ShutdownReason, message: &str) {
        let ids: Vec<WorkerId> = self.conns.keys().copied().collect();
        for id in &ids {
            if self.conns.get(id).is_some_and(|c| c.control) {
                continue;
            }
            self.send(
                *id,
                &Message::Shutdown {
                    reason,
                    message: message.to_string(),
                },
            );
        }
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && self.conns.values().any(Conn::has_output) {
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

    /// Workers are told to stop for now: the job is not done, and a resumed master
    /// will want them back.
    fn stop_workers(&mut self, why: &str) {
        self.broadcast_shutdown(ShutdownReason::Stopped, why);
    }

    /// The clean stop after a signal: what is in order is already handed to the
    /// writer; flush, fsync and checkpoint it, then tell the workers to wait.
    fn stop_for_signal(&mut self, signal: i32) -> MasterError {
        let name = signal_name(signal);
        info!("master: {name}: stopping; no more work is handed out");
        let mut next = None;
        if let Output::Primes(w) = &mut self.output {
            if let Err(e) = w.checkpoint() {
                self.stop_workers(&e.to_string());
                return e.into();
            }
            next = w.next_start();
        }
        self.stop_workers(&format!("master stopped by {name}; it will be resumed"));
        MasterError::Interrupted { signal, next }
    }

    /// The clean stop a control client asked for: as after a signal (what is in order is
    /// written; flush, fsync, checkpoint; workers told to wait), and the client gets a
    /// [`Message::StopReply`] saying where the job stopped. A failed checkpoint is
    /// answered with an Error frame naming it, and returned.
    fn stop_for_control(&mut self, by: WorkerId) -> MasterError {
        let peer = self
            .conns
            .get(&by)
            .map_or_else(|| "gone".to_string(), |c| c.peer.to_string());
        info!("master: stop requested by control client {peer}; no more work is handed out");
        let mut next = None;
        let mut checkpointed = false;
        if let Output::Primes(w) = &mut self.output {
            if let Err(e) = w.checkpoint() {
                let reply = Message::Error {
                    code: ErrorCode::Internal,
                    message: format!("stopping: {e}"),
                };
                self.send(by, &reply);
                self.stop_workers(&e.to_string());
                return e.into();
            }
            next = w.next_start();
            checkpointed = w.is_file();
        }
        let workers = self
            .conns
            .values()
            .filter(|c| c.welcomed && !c.control)
            .count();
        let (done, primes) = (self.done_numbers(), self.primes_written());
        let reply = control::stop_reply(
            done,
            primes,
            checkpointed,
            u32::try_from(workers).unwrap_or(u32::MAX),
        );
        // Queued first; the shutdown below flushes every connection, this one too.
        if let Some(c) = self.conns.get_mut(&by) {
            c.queue(&Message::StopReply(reply));
        }
        self.stop_workers("master stopped by a control client; it will be resumed");
        MasterError::Stopped {
            by: peer,
            next,
            checkpointed,
        }
    }

    /// Marks connection `id` a control client and welcomes it: called when a hello's
    /// role is "control" and its proof checked out. The scheduler
    /// never hears of it, so it gets no work and is no worker in `status`.
    fn welcome_control(&mut self, id: WorkerId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.welcomed = true;
        c.control = true;
        c.name = format!("control@{}", c.peer);
        debug!("master: control client {id} from {}", c.peer);
        let welcome = Welcome {
            threads: 0,
            ..self.welcome(id)
        };
        self.send(id, &Message::Welcome(welcome));
    }

    /// Answers a control client's request.
    fn on_control(&mut self, id: WorkerId, msg: Message) -> Result<(), MasterError> {
        match msg {
            Message::StatusRequest => {
                let reply = self.status_reply();
                self.send(id, &Message::StatusReply(Box::new(reply)));
                Ok(())
            }
            Message::SetThreadsRequest(req) => self.set_threads(id, &req),
            Message::StopRequest => {
                // Carried out once the loop has ended (see `stop_for_control`).
                self.stop_by = Some(id);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Applies a set-threads request through the scheduler and answers it.
    fn set_threads(&mut self, id: WorkerId, req: &SetThreadsRequest) -> Result<(), MasterError> {
        let plan = control::plan_threads(req, &self.sched.workers(), &self.peer_infos());
        self.threads_memory.note(req, &plan);
        info!(
            "master: control client set {} threads for {} ({} changed)",
            req.threads,
            req.target,
            plan.reply.changed.len()
        );
        for worker in &plan.events {
            let ev = Event::SetThreads {
                worker: *worker,
                threads: req.threads,
            };
            let acts = self.sched.on(ev, self.now());
            self.apply(acts)?;
        }
        self.send(id, &Message::SetThreadsReply(plan.reply));
        Ok(())
    }

    /// After a worker joined: the threads control set for it (or for all, or its name)
    /// while it was away, through the scheduler so that it remembers them too.
    fn give_remembered_threads(
        &mut self,
        id: WorkerId,
        remembered: Option<u32>,
    ) -> Result<(), MasterError> {
        let Some(threads) = remembered else {
            return Ok(());
        };
        if !self.conns.contains_key(&id) {
            return Ok(()); // Refused at join (quarantined).
        }
        let ev = Event::SetThreads {
            worker: Some(id),
            threads,
        };
        let acts = self.sched.on(ev, self.now());
        self.apply(acts)
    }

    /// Numbers of the job written in order from its start (resumed ones included), or
    /// counted.
    fn done_numbers(&self) -> u128 {
        match &self.output {
            Output::Primes(w) => {
                let job = w.job();
                match w.next_start() {
                    Some(next) => next.saturating_sub(job.start),
                    None => job.stop.saturating_sub(job.start).saturating_add(1),
                }
            }
            Output::Count => self.sched.progress().numbers_done,
        }
    }

    fn primes_written(&self) -> u64 {
        match &self.output {
            Output::Primes(w) => w.primes_written(),
            Output::Count => self.sched.progress().primes,
        }
    }

    /// Connection facts of every worker connected now or departed lately.
    fn peer_infos(&self) -> BTreeMap<WorkerId, PeerInfo> {
        let live = self
            .conns
            .iter()
            .filter(|(_, c)| c.welcomed && !c.control)
            .map(|(&id, c)| (id, peer_info(c)));
        self.departed.iter().cloned().chain(live).collect()
    }

    /// The status reply, from the output, the scheduler and the connections.
    fn status_reply(&self) -> crate::control::msg::StatusReply {
        let now = self.now();
        let (start, stop, format, bytes_written) = match &self.output {
            Output::Primes(w) => {
                let job = w.job();
                let format = match job.format {
                    Format::Text => OutputFormat::Text,
                    Format::Compact => OutputFormat::Compact,
                };
                (job.start, job.stop, format, w.bytes_written())
            }
            Output::Count => (self.cfg.start, self.cfg.stop, OutputFormat::Count, 0),
        };
        let done = self.done_numbers();
        let facts = control::JobFacts {
            start,
            stop,
            format,
            done,
            primes: self.primes_written(),
            bytes_written,
            buffer_used: self.sched.buffered_bytes(),
            buffer_cap: self.cfg.max_buffer_bytes,
            redundancy: self.sched.config().redundancy,
            checkpoint_age: self.last_checkpoint.map(|t| t.elapsed()),
        };
        let rate = self.rate.rate(now, done);
        control::status_reply(&facts, rate, &self.sched.workers(), &self.peer_infos(), now)
    }

    fn finish(mut self) -> Result<Summary, MasterError> {
        let elapsed = self.started.elapsed();
        let progress = self.sched.progress();
        let output = std::mem::replace(&mut self.output, Output::Count);
        if let Output::Primes(w) = output {
            if let Err(e) = w.finish() {
                let e = MasterError::from(e);
                if e.is_closed_pipe() {
                    self.broadcast_shutdown(ShutdownReason::Done, "output closed by its reader");
                } else {
                    self.stop_workers(&e.to_string());
                }
                return Err(e);
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

/// What `status` shows of a worker's connection.
fn peer_info(c: &Conn) -> PeerInfo {
    PeerInfo {
        address: c.peer.to_string(),
        arch: c.arch.clone(),
        cores: c.cores,
        busy: c.busy,
    }
}

/// Kernels (bit i: wire code i) that copies of a chunk may be spread over: the sieve
/// and pre-sieve + Miller–Rabin, which share no code, so a bug in one is outvoted like
/// a liar. Trial division only when the job asked for it: it is hundreds of times
/// slower than the sieve, and a copy sent to it would hold up the vote. With
/// `same_kernel` (`--same-kernel`), none: every copy uses the job's kernel, for the
/// throughput of the sieve alone (the pre-sieve is ~25 times slower below 1e16).
fn vote_kernels(job: KernelKind, same_kernel: bool) -> u32 {
    let sieve = 1 << wire::kernel_code::SIEVE;
    let presieve = 1 << wire::kernel_code::PRESIEVE;
    match job {
        _ if same_kernel => 0,
        KernelKind::Trial => sieve | 1 << wire::kernel_code::TRIAL,
        KernelKind::Auto | KernelKind::Sieve | KernelKind::Presieve => sieve | presieve,
    }
}

/// The wire code of a kernel.
pub fn kernel_code(k: KernelKind) -> u8 {
    match k {
        KernelKind::Auto => wire::kernel_code::AUTO,
        KernelKind::Sieve => wire::kernel_code::SIEVE,
        KernelKind::Trial => wire::kernel_code::TRIAL,
        KernelKind::Presieve => wire::kernel_code::PRESIEVE,
    }
}

#[cfg(test)]
mod tests {
    //! The control path in process, through real loopback sockets: a worker joins with
    //! the version 1 hello, a control client is welcomed with [`Master::welcome_control`]
    //! (what the version 2 hello will call), and the master answers its requests.

    use super::*;
    use crate::control::msg::{Target, WorkerState};
    use crate::output::JobSpec;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn master(output: Output) -> Master {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let cfg = MasterConfig {
            start: 0,
            stop: 10_000_000,
            kernel: KernelKind::Auto,
            heartbeat: Duration::from_secs(5),
            checkpoint: Duration::from_secs(3600),
            max_buffer_bytes: 16 << 20,
            worker_threads: None,
            max_connections: 16,
            quiet: true,
            token: None,
            redundancy: 1,
            spot_check: 0.0,
            same_kernel: false,
            control_idle: CONTROL_IDLE,
        };
        Master::new(cfg, output, listener).unwrap()
    }

    /// Connects a client and lets the master accept it; returns both ends.
    fn connect(m: &mut Master) -> (TcpStream, WorkerId) {
        let addr = m.listener.local_addr().unwrap();
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let before = m.next_id;
        for _ in 0..500 {
            m.accept();
            if m.next_id > before {
                return (s, before);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the master did not accept the connection");
    }

    fn send(s: &mut TcpStream, msg: &Message) {
        let mut buf = Vec::new();
        wire::encode(msg, &mut buf);
        s.write_all(&buf).unwrap();
    }

    /// Lets the master read connection `id` until `done` holds (bounded).
    fn pump(m: &mut Master, id: WorkerId, done: impl Fn(&Master) -> bool) {
        for _ in 0..500 {
            m.read(id).unwrap();
            if done(m) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("connection {id}: the condition never held");
    }

    /// The next frame on `s` whose name is `want`, skipping others (assigns).
    fn recv(s: &mut TcpStream, buf: &mut Vec<u8>, want: &str) -> Message {
        loop {
            while let Some((msg, used)) = wire::decode(buf).unwrap() {
                buf.drain(..used);
                if msg.name() == want {
                    return msg;
                }
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).expect("a frame within 10 s");
            assert!(n > 0, "closed while waiting for a {want}");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn hello(name: &str, cores: u32, threads: u32) -> Message {
        Message::Hello(wire::Hello {
            version: wire::VERSION,
            name: name.into(),
            cores,
            threads,
            arch: "armv7".into(),
            kernels: 0b111,
            auth: crate::auth::HelloAuth {
                auth: crate::auth::Method::None,
                role: Role::Worker,
                client_nonce: [3; 32],
            },
        })
    }

    /// A worker's hello and its (token-less) proof, which may follow it at once.
    fn join(w: &mut TcpStream, name: &str, cores: u32, threads: u32) {
        send(w, &hello(name, cores, threads));
        send(w, &Message::Proof(crate::auth::ClientProof::NoAuth));
    }

    #[test]
    fn status_and_threads_answered_to_a_control_client_only() {
        let mut m = master(Output::Count);
        let (mut w, wid) = connect(&mut m);
        join(&mut w, "pi3", 4, 2);
        pump(&mut m, wid, |m| m.sched.workers().len() == 1);
        let (mut c, cid) = connect(&mut m);
        m.welcome_control(cid);
        let mut cbuf = Vec::new();
        recv(&mut c, &mut cbuf, "welcome");
        assert_eq!(m.sched.workers().len(), 1, "a control client is no worker");

        send(&mut c, &Message::StatusRequest);
        m.read(cid).unwrap();
        let Message::StatusReply(s) = recv(&mut c, &mut cbuf, "status reply") else {
            unreachable!()
        };
        assert_eq!((s.job.start, s.job.stop), (0, 10_000_000));
        assert_eq!(s.job.format, OutputFormat::Count);
        assert_eq!(s.job.redundancy, 1);
        assert_eq!(s.workers.len(), 1);
        let row = &s.workers[0];
        assert_eq!(
            (row.id, row.name.as_str(), row.arch.as_str()),
            (wid, "pi3", "armv7")
        );
        assert_eq!(
            (row.cores, row.threads, row.state),
            (4, 2, WorkerState::Active)
        );
        assert!(row.address.starts_with("127.0.0.1:"), "{}", row.address);

        // threads 6 --worker pi3: the worker is told at once; the reply warns (4 cores).
        let req = SetThreadsRequest {
            target: Target::Name("pi3".into()),
            threads: 6,
        };
        send(&mut c, &Message::SetThreadsRequest(req));
        m.read(cid).unwrap();
        let Message::SetThreadsReply(r) = recv(&mut c, &mut cbuf, "set-threads reply") else {
            unreachable!()
        };
        assert_eq!(r.changed.len(), 1);
        assert_eq!((r.changed[0].id, r.changed[0].before), (wid, 2));
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        let mut wbuf = Vec::new();
        let got = recv(&mut w, &mut wbuf, "set-threads");
        assert_eq!(got, Message::SetThreads { threads: 6 });

        // Its heartbeat reports the new count: status shows it, with the busy threads.
        send(
            &mut w,
            &Message::Heartbeat {
                threads: 6,
                busy: 5,
            },
        );
        pump(&mut m, wid, |m| {
            m.conns.get(&wid).is_some_and(|c| c.busy == 5)
        });
        send(&mut c, &Message::StatusRequest);
        m.read(cid).unwrap();
        let Message::StatusReply(s) = recv(&mut c, &mut cbuf, "status reply") else {
            unreachable!()
        };
        assert_eq!((s.workers[0].threads, s.workers[0].busy), (6, 5));

        // A worker may not send control requests: refused, closed, and lost.
        send(&mut w, &Message::StatusRequest);
        pump(&mut m, wid, |m| !m.conns.contains_key(&wid));
        match recv(&mut w, &mut wbuf, "error") {
            Message::Error { code, message } => {
                assert_eq!(code, ErrorCode::Malformed);
                assert!(message.contains("from a worker"), "{message}");
            }
            other => panic!("{other}"),
        }
        // Nor may a control client send what workers send.
        send(
            &mut c,
            &Message::Heartbeat {
                threads: 1,
                busy: 0,
            },
        );
        pump(&mut m, cid, |m| !m.conns.contains_key(&cid));
        assert!(m
            .sched
            .workers()
            .iter()
            .all(|w| w.state == crate::schedule::WorkerState::Lost));
    }

    #[test]
    fn a_stop_request_checkpoints_tells_the_workers_and_answers() {
        let dir = std::env::temp_dir().join(format!("pc-ctl-stop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.txt");
        let spec = JobSpec {
            start: 0,
            stop: 10_000_000,
            format: Format::Text,
            kernel: "auto".into(),
        };
        let w = OutputWriter::create(&path, &spec, false).unwrap();
        let mut m = master(Output::Primes(Box::new(w)));
        let (mut w, wid) = connect(&mut m);
        join(&mut w, "x86", 8, 8);
        pump(&mut m, wid, |m| m.sched.workers().len() == 1);
        let (mut c, cid) = connect(&mut m);
        m.welcome_control(cid);
        let mut cbuf = Vec::new();
        recv(&mut c, &mut cbuf, "welcome");

        send(&mut c, &Message::StatusRequest);
        m.read(cid).unwrap();
        let Message::StatusReply(s) = recv(&mut c, &mut cbuf, "status reply") else {
            unreachable!()
        };
        assert_eq!(s.job.format, OutputFormat::Text);
        assert!(
            s.job.checkpoint_age_ms.is_some(),
            "created files are checkpointed"
        );

        send(&mut c, &Message::StopRequest);
        pump(&mut m, cid, |m| m.stop_by == Some(cid));
        let e = m.stop_for_control(cid);
        match &e {
            MasterError::Stopped {
                next, checkpointed, ..
            } => {
                assert_eq!(*next, Some(0), "nothing was written yet");
                assert!(*checkpointed);
            }
            other => panic!("{other}"),
        }
        let Message::StopReply(r) = recv(&mut c, &mut cbuf, "stop reply") else {
            unreachable!()
        };
        assert_eq!(
            (r.done, r.primes, r.checkpointed, r.workers),
            (0, 0, true, 1)
        );
        let mut wbuf = Vec::new();
        match recv(&mut w, &mut wbuf, "shutdown") {
            Message::Shutdown { reason, .. } => assert_eq!(reason, ShutdownReason::Stopped),
            other => panic!("{other}"),
        }
        assert!(
            std::fs::read_dir(&dir).unwrap().count() >= 2,
            "output and checkpoint"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn copies_spread_over_sieve_and_presieve_and_trial_only_when_asked() {
        assert_eq!(vote_kernels(KernelKind::Auto, false), 0b1010);
        assert_eq!(vote_kernels(KernelKind::Sieve, false), 0b1010);
        assert_eq!(vote_kernels(KernelKind::Presieve, false), 0b1010);
        assert_eq!(vote_kernels(KernelKind::Trial, false), 0b0110);
        for k in [KernelKind::Auto, KernelKind::Presieve, KernelKind::Trial] {
            assert_eq!(vote_kernels(k, true), 0, "--same-kernel: no spreading");
        }
    }
}
