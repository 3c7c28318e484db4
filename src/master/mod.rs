//! The master: a single-threaded mio event loop around the [`Scheduler`].
//!
//! It owns the sockets, the output and the clock, and carries out the scheduler's
//! [`Action`]s: assign and cancel frames, in-order writes to the [`OutputWriter`],
//! dropped connections, and the final shutdown.
//!
//! # Layout
//! - this file: the loop — accept (up to `max_connections`), read, hand frames to the
//!   scheduler, carry out its actions, timers, checkpoints, the end of the job;
//! - [`conn`]: one connection's buffers and socket I/O, with per-state frame caps;
//! - [`check`]: the checks a result passes before the scheduler sees it;
//! - [`clock`]: the stall-free clock that worker silence is measured on;
//! - [`signal`]: SIGINT/SIGTERM/SIGHUP handling through a self-pipe;
//! - [`progress`]: the progress line.
//!
//! # Promises
//! - Sockets that became ready while the master stood still (stopped, blocked on its
//!   output) are read before any timer may expire a worker, and the stall itself is
//!   left out of the silence that drops workers.
//! - Memory stays bounded under any flood: connections are capped, and each may send
//!   only a frame as large as its state allows (see [`conn`]).
//! - A write error stops the handing out of work at once: every worker is told to
//!   stop (and wait), and [`run`] returns the error naming the path and the OS error;
//!   the output stays resumable from its last checkpoint. A closed stdout ends the job
//!   quietly ([`MasterError::is_closed_pipe`]).
//! - A stop signal ends the loop; what is in order is written, fsynced and
//!   checkpointed, workers are told to wait, and [`run`] returns
//!   [`MasterError::Interrupted`].

mod check;
mod clock;
mod conn;
mod progress;
mod signal;

pub use check::{check_result, ResultError};
pub use progress::human;
pub use signal::signal_name;

use crate::kernel::KernelKind;
use crate::output::{OutputError, OutputWriter};
use crate::schedule::{Action, Config, DropReason, Event, Scheduler, Share, WorkerId};
use crate::wire::{self, ErrorCode, Message, Mode, ShutdownReason, Welcome};
use clock::StallClock;
use conn::{Conn, ReadOutcome};
use log::{debug, info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use progress::Progress;
use signal::Signals;
use std::collections::BTreeMap;
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
    /// Distinct workers (name and address) that must agree on each chunk, 1..=5.
    pub redundancy: u32,
    /// With redundancy 1: fraction of results also computed by a second worker
    /// (after each worker's first [`SPOT_CHECK_FIRST`](crate::schedule::SPOT_CHECK_FIRST),
    /// which all are), 0..=1; 0 turns spot checks off.
    pub spot_check: f64,
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
/// A connection that has not said hello by then is closed.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read from one connection before the loop turns to the others and its timers;
/// the rest waits in `Master::backlog` (mio is edge-triggered: no new event comes).
const READ_BURST: usize = 4 << 20;

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
    sched: Scheduler<Vec<u8>>,
    output: Output,
    mode: Mode,
    started: Instant,
    clock: StallClock,
    next_checkpoint: Instant,
    progress: Progress,
    /// Connections refused at the cap so far (the first is logged as a warning).
    refused: u64,
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
    sc.kernel_mask = vote_kernels(cfg.kernel);
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
    let mut m = Master {
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
    };
    let result = m.event_loop();
    m.progress.clear();
    if m.clock.excluded() > Duration::ZERO {
        debug!(
            "master: {:.1} s of stalls left out of worker silence",
            m.clock.excluded().as_secs_f64()
        );
    }
    match result {
        Ok(()) => m.finish(),
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

    fn event_loop(&mut self) -> Result<(), MasterError> {
        let mut events = Events::with_capacity(256);
        if self.sched.is_done() {
            let acts = self.sched.on(Event::Tick, self.now());
            self.apply(acts)?;
        }
        // After a stall, the next round only reads: frames that arrived meanwhile are
        // heard before any timer may expire their senders.
        let mut after_stall = false;
        while !self.done {
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
                if !self.done {
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
        Ok(())
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
            if self.done {
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
                    heartbeat_ms: self.cfg.heartbeat.as_millis().min(u32::MAX as u128) as u32,
                    threads: self.cfg.worker_threads.unwrap_or(0),
                };
                // A worker's claim sizes its share of chunks: keep it to what a worker runs.
                let threads = self
                    .cfg
                    .worker_threads
                    .unwrap_or(h.threads)
                    .clamp(1, wire::MAX_THREADS);
                let Some(peer_ip) = self.conns.get(&id).map(|c| c.peer.ip()) else {
                    return Ok(());
                };
                if self.sched.is_quarantined(&h.name, peer_ip) {
                    // Refused before Welcome: a quarantined worker gets no id and no
                    // work, and its connection never counts as a worker.
                    let text = format!(
                        "{}@{peer_ip} is quarantined for this job: a result of it lost a vote",
                        h.name
                    );
                    let reply = Message::Error {
                        code: ErrorCode::BadResult,
                        message: text.clone(),
                    };
                    return self.close(id, &format!("refused: {text}"), Some(reply));
                }
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
                        addr: peer_ip,
                        kernels: h.kernels,
                    },
                    now,
                );
                self.apply(acts)
            }
            Message::Heartbeat { threads, .. } if welcomed => {
                let acts = self.sched.on(
                    Event::Heard {
                        worker: id,
                        threads: threads.clamp(1, wire::MAX_THREADS),
                    },
                    now,
                );
                self.apply(acts)
            }
            Message::Result(r) if welcomed => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.settled(r.chunk);
                }
                match check_result(&r, self.mode) {
                    Ok(()) => {
                        let ev = Event::Result {
                            worker: id,
                            chunk: r.chunk,
                            start: r.start,
                            stop: r.stop,
                            count: r.count,
                            digest: r.digest,
                            compute: Duration::from_micros(r.compute_us),
                            bytes: r.gaps.len() as u64,
                            payload: r.gaps,
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

    fn apply(&mut self, actions: Vec<Action<Vec<u8>>>) -> Result<(), MasterError> {
        for a in actions {
            match a {
                Action::Assign {
                    worker,
                    chunk,
                    start,
                    stop,
                    kernel,
                } => {
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
                    if let Some(c) = self.conns.get_mut(&worker) {
                        c.cancelled(chunk);
                    }
                    self.send(worker, &Message::Cancel { chunk })
                }
                Action::Write {
                    start,
                    stop,
                    payload,
                    ..
                } => {
                    if let Output::Primes(w) = &mut self.output {
                        w.append(start, stop, &payload)?;
                    }
                }
                Action::Drop { worker, reason } => {
                    let reply = match &reason {
                        DropReason::BadResult(why) => Some(Message::Error {
                            code: ErrorCode::BadResult,
                            message: why.clone(),
                        }),
                        DropReason::MissedDeadlines(_) | DropReason::Quarantined { .. } => {
                            Some(Message::Error {
                                code: ErrorCode::BadResult,
                                message: reason.to_string(),
                            })
                        }
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
                            code: ErrorCode::BadResult,
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
            if c.welcomed {
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
        let Some(c) = self.conns.remove(&id) else {
            return;
        };
        if c.welcomed {
            info!("master: worker {id} ({}) lost: {why}", c.name);
        } else {
            info!("master: connection from {} dropped: {why}", c.peer);
        }
        c.close(self.poll.registry(), reply);
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

/// Kernels (bit i: wire code i) that copies of a chunk may be spread over. Trial
/// division only when the job asked for it: it is hundreds of times slower than the
/// sieve, and a copy sent to it would hold up the vote.
fn vote_kernels(job: KernelKind) -> u32 {
    let sieve = 1 << wire::kernel_code::SIEVE;
    match job {
        KernelKind::Trial => sieve | 1 << wire::kernel_code::TRIAL,
        KernelKind::Auto | KernelKind::Sieve => sieve,
    }
}

/// The wire code of a kernel.
pub fn kernel_code(k: KernelKind) -> u8 {
    match k {
        KernelKind::Auto => wire::kernel_code::AUTO,
        KernelKind::Sieve => wire::kernel_code::SIEVE,
        KernelKind::Trial => wire::kernel_code::TRIAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_go_to_trial_division_only_when_the_job_asked_for_it() {
        assert_eq!(vote_kernels(KernelKind::Auto), 0b010);
        assert_eq!(vote_kernels(KernelKind::Sieve), 0b010);
        assert_eq!(vote_kernels(KernelKind::Trial), 0b110);
    }
}
