//! The master's scheduler: a pure state machine with no I/O and no clock.
//!
//! The master's event loop feeds it [`Event`]s with the current time (`now`, any
//! monotonic [`Duration`]) and carries out the [`Action`]s it returns; it asks
//! [`Scheduler::next_deadline`] when to call again with [`Event::Tick`]. Nothing in
//! here reads a socket, a file or a clock, so `tests/schedule_sim.rs` drives it through
//! thousands of seeded joins, crashes, hangs and lies per second.
//!
//! # What it promises
//! - The range is cut into chunks in order; chunk ids rise with the numbers they hold.
//!   A new chunk is cut for the worker that will compute it, sized from that worker's
//!   measured rate to take about [`Config::target_chunk_time`], within
//!   [`Config::min_width`]..=[`Config::max_width`] and, when primes are shipped, to at
//!   most about [`Config::max_chunk_primes`] primes.
//! - Each worker holds up to `threads + ceil(threads / 2)` chunks, so its threads never
//!   wait on the network, and never more than [`MAX_HELD`] whatever threads it claims.
//! - Each chunk a worker holds has a deadline from that worker's measured rate (or
//!   [`Config::assumed_rate`] before a result shows it), never sooner than two heartbeat
//!   timeouts. Past it the chunk is copied to another worker before anything new is cut
//!   (the first valid result wins); a worker that misses [`Config::max_missed`] deadlines
//!   in a row, with no result between, is dropped ([`DropReason::MissedDeadlines`]).
//!   So a worker that heartbeats but never answers (a zombie) cannot stall the output.
//! - Results are written ([`Action::Write`]) strictly in chunk order, each chunk once.
//! - Memory: results waiting for their turn plus the estimated size of chunks still out
//!   stay within [`Config::max_buffer_bytes`]; at that cap no chunk past the head is
//!   cut. An idle worker is given a copy of the oldest unfinished chunk (the late head,
//!   or a straggler at the end of the range); the first valid result wins and the other
//!   holders get [`Action::Cancel`].
//! - A worker that leaves, or is silent past [`Config::heartbeat_timeout`], gives its
//!   unfinished chunks back; they are handed out again before anything new is cut.
//! - A result for a chunk the worker does not hold, or whose range differs from the
//!   chunk's, drops that worker ([`Action::Drop`]); a late result for a chunk already
//!   written by someone else is ignored.
//!
//! The payload `P` (the gap-encoded primes, in the master) is opaque here: the master
//! checks its contents before it reaches the scheduler.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

/// Most chunks one worker holds at once. A worker may claim up to 1024 threads; at
/// `threads * 1.5` it would take 1536 chunks, most of the job's memory budget and of the
/// queue, and lose them all if it fails. 96 covers a 64-thread machine with its
/// prefetch; a faster machine gets wider chunks (they are sized by its rate) instead.
pub const MAX_HELD: usize = 96;

/// A worker, as the master numbers its connections.
pub type WorkerId = u32;
/// A chunk; ids rise with the numbers the chunks hold.
pub type ChunkId = u64;

/// The job and the scheduler's tuning.
#[derive(Debug, Clone)]
pub struct Config {
    /// First number of the job (or of what is left of it after a resume).
    pub start: u128,
    /// Last number of the job, inclusive.
    pub stop: u128,
    /// Whether results carry primes (true) or only counts; sizes the memory estimate.
    pub ship_primes: bool,
    /// Width of a worker's first chunks, before its speed is known.
    pub initial_width: u128,
    /// Smallest chunk cut (except the job's last one).
    pub min_width: u128,
    /// Largest chunk cut.
    pub max_width: u128,
    /// With primes shipped, a chunk is cut to hold about this many primes at most, so
    /// that one result stays a small fraction of the buffer.
    pub max_chunk_primes: u64,
    /// How long a chunk should take on the worker that gets it.
    pub target_chunk_time: Duration,
    /// A worker silent this long is dropped.
    pub heartbeat_timeout: Duration,
    /// Cap on bytes of results waiting for their turn plus estimates of chunks out.
    pub max_buffer_bytes: u64,
    /// Numbers per second one thread is assumed to manage before a result shows its
    /// real rate: low, so that a slow machine's first chunks do not miss deadlines.
    pub assumed_rate: f64,
    /// A chunk's deadline is this many times its expected time on the worker (and at
    /// least two heartbeat timeouts).
    pub deadline_factor: f64,
    /// Deadlines missed in a row, with no result between, that drop a worker.
    pub max_missed: u32,
}

impl Config {
    /// Defaults for the range `start..=stop`.
    pub fn new(start: u128, stop: u128, ship_primes: bool) -> Self {
        Config {
            start,
            stop,
            ship_primes,
            // Small, so a slow worker (a Pi 1 on trial division) is not stuck for
            // minutes before its rate is known; one result sizes the next chunk.
            initial_width: 1 << 16,
            min_width: 1 << 12,
            max_width: 1 << 40,
            max_chunk_primes: 1 << 20,
            target_chunk_time: Duration::from_millis(1500),
            heartbeat_timeout: Duration::from_secs(10),
            max_buffer_bytes: 24 << 20,
            // About a Pi 1 on the sieve near 2^64; trial division is slower still, but
            // the floor of two heartbeat timeouts covers a first chunk there.
            assumed_rate: 1e5,
            deadline_factor: 4.0,
            max_missed: 3,
        }
    }
}

/// What happened, as the master saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<P> {
    /// A worker said hello and was welcomed.
    Joined {
        worker: WorkerId,
        threads: u32,
        name: String,
        /// The peer's IP address: with the name it tells machines (and processes with
        /// the same host name, like every Pi's "raspberrypi") apart.
        addr: IpAddr,
        /// The hello's kernel set: bit i set means the worker has kernel code i.
        kernels: u32,
    },
    /// A worker's connection ended (EOF, I/O error, malformed frame).
    Left { worker: WorkerId },
    /// A frame arrived from the worker: it is alive. Threads as it last reported.
    Heard { worker: WorkerId, threads: u32 },
    /// A checked result for a chunk.
    Result {
        worker: WorkerId,
        chunk: ChunkId,
        start: u128,
        stop: u128,
        count: u64,
        /// The result's digest of its primes (0 in count mode): with the range and the
        /// count it is the answer that copies of a chunk must agree on.
        digest: u64,
        compute: Duration,
        bytes: u64,
        payload: P,
    },
    /// Time passed (the deadline from [`Scheduler::next_deadline`] was reached).
    Tick,
}

/// What the master must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<P> {
    /// Send an assign frame.
    Assign {
        worker: WorkerId,
        chunk: ChunkId,
        start: u128,
        stop: u128,
        /// Kernel code the worker should use for this chunk; `None`: its default.
        kernel: Option<u8>,
    },
    /// Send a cancel frame: someone else's result for this chunk was taken.
    Cancel { worker: WorkerId, chunk: ChunkId },
    /// Write this chunk's result: chunks come strictly in order.
    Write {
        chunk: ChunkId,
        start: u128,
        stop: u128,
        count: u64,
        payload: P,
    },
    /// Close this worker's connection. Its chunks are already requeued.
    Drop {
        worker: WorkerId,
        reason: DropReason,
    },
    /// Every chunk is written: tell the workers and finish.
    Done,
}

/// Why the scheduler drops a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// Nothing heard for this long.
    Silent(Duration),
    /// A result for a chunk it does not hold, or with the wrong range.
    BadResult(String),
    /// It kept heartbeating but let this many chunk deadlines pass in a row.
    MissedDeadlines(u32),
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::Silent(d) => write!(f, "silent for {:.1} s", d.as_secs_f64()),
            DropReason::BadResult(why) => write!(f, "bad result: {why}"),
            DropReason::MissedDeadlines(n) => write!(
                f,
                "missed {n} chunk deadlines in a row while heartbeating (no results)"
            ),
        }
    }
}

struct Chunk<P> {
    start: u128,
    stop: u128,
    est_bytes: u64,
    holders: Vec<WorkerId>,
    result: Option<Finished<P>>,
}

struct Finished<P> {
    worker: WorkerId,
    count: u64,
    bytes: u64,
    payload: P,
}

/// A chunk as one worker holds it.
struct Hold {
    /// When the result is due; past it the chunk is copied to another worker.
    deadline: Duration,
    /// The deadline passed (counted once); the worker may still send the result.
    missed: bool,
}

struct Worker {
    name: String,
    addr: IpAddr,
    threads: u32,
    held: BTreeMap<ChunkId, Hold>,
    last_heard: Duration,
    /// Numbers per second on one thread, once a result has shown it.
    rate: Option<f64>,
    /// Deadlines missed since its last result.
    misses: u32,
}

impl Worker {
    fn slots(&self) -> usize {
        let t = self.threads.max(1) as usize;
        (t + t.div_ceil(2)).min(MAX_HELD)
    }

    /// Chunks it holds whose deadline has not passed: the ones that use its slots.
    fn active(&self) -> usize {
        self.held.values().filter(|h| !h.missed).count()
    }
}

/// A worker's share of the job so far, for the summary; one per name and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub name: String,
    pub addr: IpAddr,
    /// Numbers in the chunks of this worker that were written.
    pub numbers: u128,
    pub chunks: u64,
}

/// Progress figures for the master's display.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Numbers of the job written (or counted) so far.
    pub numbers_done: u128,
    /// Numbers in the job.
    pub numbers_total: u128,
    /// Primes written so far.
    pub primes: u64,
    pub workers: usize,
    pub threads: u64,
}

/// The scheduler's state. See the module doc.
pub struct Scheduler<P> {
    cfg: Config,
    /// Next number to cut; `None` once the whole range is cut.
    next_cut: Option<u128>,
    next_id: ChunkId,
    /// Lowest chunk not yet written.
    head: ChunkId,
    chunks: BTreeMap<ChunkId, Chunk<P>>,
    /// Cut chunks with no holder and no result, handed out lowest first.
    pending: BTreeSet<ChunkId>,
    /// Chunks without a result whose every holder let its deadline pass: copied to
    /// another worker before anything new is cut.
    overdue: BTreeSet<ChunkId>,
    workers: BTreeMap<WorkerId, Worker>,
    /// Bytes of results waiting for their turn.
    buffered: u64,
    /// Estimated bytes of chunks cut but without a result.
    reserved: u64,
    done_sent: bool,
    numbers_done: u128,
    primes: u64,
    /// Keyed by name and address: workers with the same host name stay apart.
    shares: BTreeMap<(String, IpAddr), Share>,
}

impl<P> Scheduler<P> {
    /// A scheduler for the job in `cfg`. An empty job (start > stop) is done at once.
    pub fn new(cfg: Config) -> Self {
        let next_cut = (cfg.start <= cfg.stop).then_some(cfg.start);
        Scheduler {
            cfg,
            next_cut,
            next_id: 0,
            head: 0,
            chunks: BTreeMap::new(),
            pending: BTreeSet::new(),
            overdue: BTreeSet::new(),
            workers: BTreeMap::new(),
            buffered: 0,
            reserved: 0,
            done_sent: false,
            numbers_done: 0,
            primes: 0,
            shares: BTreeMap::new(),
        }
    }

    /// Whether every chunk has been written.
    pub fn is_done(&self) -> bool {
        self.next_cut.is_none() && self.chunks.is_empty()
    }

    /// Feeds one event at time `now` and returns what to do, in order.
    pub fn on(&mut self, event: Event<P>, now: Duration) -> Vec<Action<P>> {
        let mut out = Vec::new();
        match event {
            Event::Joined {
                worker,
                threads,
                name,
                addr,
                kernels: _,
            } => {
                let w = Worker {
                    name,
                    addr,
                    threads,
                    held: BTreeMap::new(),
                    last_heard: now,
                    rate: None,
                    misses: 0,
                };
                if let Some(old) = self.workers.insert(worker, w) {
                    // A reused id would be a master bug; never lose the old chunks.
                    self.release(worker, old.held.into_keys());
                }
            }
            Event::Left { worker } => self.remove(worker),
            Event::Heard { worker, threads } => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.last_heard = now;
                    w.threads = threads;
                }
            }
            Event::Result {
                worker,
                chunk,
                start,
                stop,
                count,
                digest: _,
                compute,
                bytes,
                payload,
            } => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.last_heard = now;
                }
                let result = Finished {
                    worker,
                    count,
                    bytes,
                    payload,
                };
                self.on_result(worker, chunk, (start, stop), compute, result, &mut out);
            }
            Event::Tick => self.expire(now, &mut out),
        }
        self.fill(now, &mut out);
        if self.is_done() && !self.done_sent {
            self.done_sent = true;
            out.push(Action::Done);
        }
        out
    }

    /// When the master must call again with [`Event::Tick`]: the earliest moment a
    /// worker would have been silent too long or a chunk's deadline passes.
    pub fn next_deadline(&self) -> Option<Duration> {
        let silent = self
            .workers
            .values()
            .map(|w| w.last_heard + self.cfg.heartbeat_timeout);
        let due = self
            .workers
            .values()
            .flat_map(|w| w.held.values().filter(|h| !h.missed).map(|h| h.deadline));
        silent.chain(due).min()
    }

    /// Figures for the progress line.
    pub fn progress(&self) -> Progress {
        Progress {
            numbers_done: self.numbers_done,
            numbers_total: self
                .cfg
                .stop
                .checked_sub(self.cfg.start)
                .map_or(0, |d| d.saturating_add(1)),
            primes: self.primes,
            workers: self.workers.len(),
            threads: self.workers.values().map(|w| w.threads as u64).sum(),
        }
    }

    /// Each worker's share of what was written, by name and address, largest first.
    pub fn shares(&self) -> Vec<Share> {
        let mut v: Vec<Share> = self.shares.values().cloned().collect();
        v.sort_by(|a, b| {
            b.numbers
                .cmp(&a.numbers)
                .then(a.name.cmp(&b.name))
                .then(a.addr.cmp(&b.addr))
        });
        v
    }

    /// Bytes of results waiting for their turn (the reorder buffer).
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered
    }

    /// Chunks a worker holds now (for tests and status).
    pub fn held_by(&self, worker: WorkerId) -> Vec<ChunkId> {
        self.workers
            .get(&worker)
            .map(|w| w.held.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The job's configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The configuration, to tune before the first event (tests, benchmarks).
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.cfg
    }

    fn on_result(
        &mut self,
        worker: WorkerId,
        id: ChunkId,
        range: (u128, u128),
        compute: Duration,
        result: Finished<P>,
        out: &mut Vec<Action<P>>,
    ) {
        if !self.workers.contains_key(&worker) {
            return; // Already dropped: its chunks went back to the queue.
        }
        let Some(chunk) = self.chunks.get_mut(&id) else {
            if id < self.next_id {
                return; // Written already, from another holder's result.
            }
            return self.drop_worker(worker, format!("chunk {id} was never handed out"), out);
        };
        if chunk.result.is_some() && !chunk.holders.contains(&worker) {
            return; // Another holder's result was taken; this one was cancelled.
        }
        if !chunk.holders.contains(&worker) {
            return self.drop_worker(
                worker,
                format!("chunk {id} is not assigned to this worker"),
                out,
            );
        }
        if range != (chunk.start, chunk.stop) {
            let why = format!(
                "chunk {id} is {}..={}, the result says {}..={}",
                chunk.start, chunk.stop, range.0, range.1
            );
            return self.drop_worker(worker, why, out);
        }
        let width = (chunk.stop - chunk.start) as f64 + 1.0;
        chunk.holders.retain(|&h| h != worker);
        for &other in &chunk.holders {
            out.push(Action::Cancel {
                worker: other,
                chunk: id,
            });
        }
        let others = std::mem::take(&mut chunk.holders);
        self.reserved -= chunk.est_bytes;
        self.buffered += result.bytes;
        chunk.result = Some(result);
        self.overdue.remove(&id);
        for other in others {
            if let Some(w) = self.workers.get_mut(&other) {
                w.held.remove(&id);
            }
        }
        if let Some(w) = self.workers.get_mut(&worker) {
            w.held.remove(&id);
            w.misses = 0;
            let secs = compute.as_secs_f64().max(1e-3);
            let r = width / secs;
            w.rate = Some(w.rate.map_or(r, |old| 0.5 * old + 0.5 * r));
        }
        self.write_ready(out);
    }

    /// Writes every finished chunk at the head, in order.
    fn write_ready(&mut self, out: &mut Vec<Action<P>>) {
        while self
            .chunks
            .get(&self.head)
            .is_some_and(|c| c.result.is_some())
        {
            let chunk = self.chunks.remove(&self.head).expect("checked above");
            let done = chunk.result.expect("checked above");
            self.buffered -= done.bytes;
            self.numbers_done += chunk.stop - chunk.start + 1;
            self.primes += done.count;
            if let Some(w) = self.workers.get(&done.worker) {
                let key = (w.name.clone(), w.addr);
                let share = self.shares.entry(key).or_insert_with(|| Share {
                    name: w.name.clone(),
                    addr: w.addr,
                    numbers: 0,
                    chunks: 0,
                });
                share.numbers += chunk.stop - chunk.start + 1;
                share.chunks += 1;
            }
            out.push(Action::Write {
                chunk: self.head,
                start: chunk.start,
                stop: chunk.stop,
                count: done.count,
                payload: done.payload,
            });
            self.head += 1;
        }
    }

    fn drop_worker(&mut self, worker: WorkerId, why: String, out: &mut Vec<Action<P>>) {
        self.remove(worker);
        out.push(Action::Drop {
            worker,
            reason: DropReason::BadResult(why),
        });
    }

    /// Drops the silent workers, then marks the chunks whose deadline passed.
    fn expire(&mut self, now: Duration, out: &mut Vec<Action<P>>) {
        let timeout = self.cfg.heartbeat_timeout;
        let silent: Vec<(WorkerId, Duration)> = self
            .workers
            .iter()
            .filter(|(_, w)| now >= w.last_heard + timeout)
            .map(|(&id, w)| (id, now - w.last_heard))
            .collect();
        for (worker, quiet) in silent {
            self.remove(worker);
            out.push(Action::Drop {
                worker,
                reason: DropReason::Silent(quiet),
            });
        }
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for worker in ids {
            self.miss_deadline(worker, now, out);
        }
    }

    /// Counts at most one missed deadline for `worker` (its earliest), so that misses
    /// in a row are spread over time: the deadlines of its other chunks are pushed to at
    /// least a fresh span from now, computed at the halved rate a miss implies.
    fn miss_deadline(&mut self, worker: WorkerId, now: Duration, out: &mut Vec<Action<P>>) {
        let w = &self.workers[&worker];
        let Some((&id, _)) = w
            .held
            .iter()
            .filter(|(_, h)| !h.missed && h.deadline <= now)
            .min_by_key(|(_, h)| h.deadline)
        else {
            return;
        };
        let w = self.workers.get_mut(&worker).expect("listed above");
        w.misses += 1;
        w.held.get_mut(&id).expect("found above").missed = true;
        if w.misses >= self.cfg.max_missed {
            let n = w.misses;
            self.remove(worker);
            out.push(Action::Drop {
                worker,
                reason: DropReason::MissedDeadlines(n),
            });
            return;
        }
        let rest: Vec<ChunkId> = w
            .held
            .iter()
            .filter(|(_, h)| !h.missed)
            .map(|(&c, _)| c)
            .collect();
        self.mark_overdue(id);
        for (ahead, c) in rest.into_iter().enumerate() {
            let span = self.span(worker, c, ahead);
            let h = self
                .workers
                .get_mut(&worker)
                .and_then(|w| w.held.get_mut(&c))
                .expect("listed above");
            h.deadline = h.deadline.max(now + span);
        }
    }

    /// Puts `id` on the overdue list if it has no result and every holder missed it.
    fn mark_overdue(&mut self, id: ChunkId) {
        let Some(c) = self.chunks.get(&id) else {
            return;
        };
        let all_missed = !c.holders.is_empty()
            && c.holders.iter().all(|h| {
                self.workers
                    .get(h)
                    .and_then(|w| w.held.get(&id))
                    .is_none_or(|hold| hold.missed)
            });
        if c.result.is_none() && all_missed {
            self.overdue.insert(id);
        }
    }

    /// How long `worker` may take for chunk `id` with `ahead` of its chunks before it:
    /// its threads take `threads` chunks at a time. Each missed deadline halves the
    /// rate assumed, so a slow but honest worker gets ever longer before it is dropped.
    fn span(&self, worker: WorkerId, id: ChunkId, ahead: usize) -> Duration {
        let floor = self.cfg.heartbeat_timeout * 2;
        let (Some(w), Some(c)) = (self.workers.get(&worker), self.chunks.get(&id)) else {
            return floor;
        };
        let rate =
            w.rate.unwrap_or(self.cfg.assumed_rate).max(1e-9) / 2f64.powi(w.misses.min(60) as i32);
        let width = (c.stop - c.start) as f64 + 1.0;
        let rounds = 1 + ahead / w.threads.max(1) as usize;
        let secs = self.cfg.deadline_factor * width / rate * rounds as f64;
        // Capped at a year so the Duration cannot overflow on absurd figures.
        floor.max(Duration::from_secs_f64(secs.clamp(0.0, 3.2e7)))
    }

    fn remove(&mut self, worker: WorkerId) {
        if let Some(w) = self.workers.remove(&worker) {
            self.release(worker, w.held.into_keys());
        }
    }

    /// Takes `worker` off the chunks it held; those left with no holder are requeued,
    /// those left only with holders that missed them are overdue.
    fn release(&mut self, worker: WorkerId, held: impl IntoIterator<Item = ChunkId>) {
        for id in held {
            if let Some(c) = self.chunks.get_mut(&id) {
                c.holders.retain(|&h| h != worker);
                if c.result.is_some() {
                    continue;
                }
                if c.holders.is_empty() {
                    self.overdue.remove(&id);
                    self.pending.insert(id);
                } else {
                    self.mark_overdue(id);
                }
            }
        }
    }

    /// Hands out work to every worker with a free slot, lowest worker id first.
    fn fill(&mut self, now: Duration, out: &mut Vec<Action<P>>) {
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for worker in ids {
            loop {
                let w = &self.workers[&worker];
                let active = w.active();
                if active >= w.slots() {
                    break;
                }
                let idle = active == 0;
                let Some(id) = self.pick(worker, idle) else {
                    break;
                };
                let span = self.span(worker, id, active);
                let c = self.chunks.get_mut(&id).expect("picked chunks exist");
                c.holders.push(worker);
                self.pending.remove(&id);
                self.overdue.remove(&id);
                let (start, stop) = (c.start, c.stop);
                let hold = Hold {
                    deadline: now + span,
                    missed: false,
                };
                self.workers
                    .get_mut(&worker)
                    .expect("listed above")
                    .held
                    .insert(id, hold);
                out.push(Action::Assign {
                    worker,
                    chunk: id,
                    start,
                    stop,
                    kernel: None,
                });
            }
        }
    }

    /// The chunk to give `worker` next: requeued work first, then a copy of a chunk
    /// whose holders all missed its deadline, then a new chunk if the memory cap
    /// allows, then (only to an idle worker) a copy of the oldest unfinished chunk held
    /// by one other worker.
    fn pick(&mut self, worker: WorkerId, idle: bool) -> Option<ChunkId> {
        if let Some(&id) = self.pending.iter().next() {
            return Some(id);
        }
        let late = self
            .overdue
            .iter()
            .copied()
            .find(|id| !self.chunks[id].holders.contains(&worker));
        if late.is_some() {
            return late;
        }
        if let Some(id) = self.cut(worker) {
            return Some(id);
        }
        if !idle {
            return None;
        }
        self.chunks
            .iter()
            .find(|(_, c)| c.result.is_none() && c.holders.len() == 1 && c.holders[0] != worker)
            .map(|(&id, _)| id)
    }

    /// Cuts the next chunk for `worker`, if any is left and the memory cap allows.
    fn cut(&mut self, worker: WorkerId) -> Option<ChunkId> {
        let start = self.next_cut?;
        let width = self.width_for(worker, start);
        // Don't leave a sliver smaller than a quarter chunk at the end.
        let left = self.cfg.stop - start;
        let stop = if left / 5 * 4 < width {
            self.cfg.stop
        } else {
            start + (width - 1)
        };
        let est_bytes = self.estimate_bytes(start, stop);
        let within_cap = self.buffered + self.reserved + est_bytes <= self.cfg.max_buffer_bytes;
        if !within_cap && !self.chunks.is_empty() {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.next_cut = if stop == self.cfg.stop {
            None
        } else {
            Some(stop + 1)
        };
        self.reserved += est_bytes;
        self.chunks.insert(
            id,
            Chunk {
                start,
                stop,
                est_bytes,
                holders: Vec::new(),
                result: None,
            },
        );
        Some(id)
    }

    fn width_for(&self, worker: WorkerId, start: u128) -> u128 {
        let cfg = &self.cfg;
        let by_time = match self.workers.get(&worker).and_then(|w| w.rate) {
            Some(rate) => (rate * cfg.target_chunk_time.as_secs_f64()) as u128,
            None => cfg.initial_width,
        };
        let mut width = by_time.min(cfg.max_width);
        if cfg.ship_primes {
            let by_primes = (cfg.max_chunk_primes as f64 * ln(start)) as u128;
            width = width.min(by_primes);
        }
        width.max(cfg.min_width).max(1)
    }

    /// Expected result size: by the prime number theorem, about one byte per prime.
    fn estimate_bytes(&self, start: u128, stop: u128) -> u64 {
        const OVERHEAD: u64 = 64;
        if !self.cfg.ship_primes {
            return OVERHEAD;
        }
        let width = (stop - start) as f64 + 1.0;
        let est = width / ln(start.max(stop / 2));
        (est * 1.1) as u64 + OVERHEAD
    }
}

/// Natural log, at least 2 (the density of primes is at most about 1/2).
fn ln(n: u128) -> f64 {
    (n as f64).ln().max(2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn join(
        s: &mut Scheduler<u32>,
        worker: WorkerId,
        threads: u32,
        now: Duration,
    ) -> Vec<Action<u32>> {
        s.on(
            Event::Joined {
                worker,
                threads,
                name: format!("w{worker}"),
                addr: IpAddr::from([10, 0, 0, worker as u8]),
                kernels: 0,
            },
            now,
        )
    }

    fn assigns(actions: &[Action<u32>]) -> Vec<(ChunkId, u128, u128)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Assign {
                    chunk, start, stop, ..
                } => Some((*chunk, *start, *stop)),
                _ => None,
            })
            .collect()
    }

    fn result(worker: WorkerId, chunk: (ChunkId, u128, u128)) -> Event<u32> {
        Event::Result {
            worker,
            chunk: chunk.0,
            start: chunk.1,
            stop: chunk.2,
            count: 1,
            digest: 7,
            compute: ms(10),
            bytes: 8,
            payload: chunk.0 as u32,
        }
    }

    #[test]
    fn one_worker_runs_the_job_in_order() {
        let mut cfg = Config::new(0, 9_999, true);
        cfg.initial_width = 1000;
        cfg.min_width = 10;
        let mut s = Scheduler::new(cfg);
        let a = assigns(&join(&mut s, 1, 2, ms(0)));
        assert_eq!(a.len(), 3, "2 threads hold 3 chunks");
        assert_eq!(a[0], (0, 0, 999));
        assert_eq!(a[1], (1, 1000, 1999));
        // Results out of order: chunk 1 waits for chunk 0.
        let r = s.on(result(1, a[1]), ms(5));
        assert!(!r.iter().any(|x| matches!(x, Action::Write { .. })));
        let r = s.on(result(1, a[0]), ms(6));
        let written: Vec<ChunkId> = r
            .iter()
            .filter_map(|x| match x {
                Action::Write { chunk, .. } => Some(*chunk),
                _ => None,
            })
            .collect();
        assert_eq!(written, vec![0, 1]);
    }

    #[test]
    fn lost_worker_chunks_go_first_to_the_next() {
        let mut cfg = Config::new(0, 1_000_000, true);
        cfg.initial_width = 1000;
        let mut s = Scheduler::new(cfg);
        let a = assigns(&join(&mut s, 1, 1, ms(0)));
        assert_eq!(a.len(), 2);
        let b = assigns(&join(&mut s, 2, 1, ms(1)));
        assert_eq!(b[0].0, 2);
        s.on(Event::Left { worker: 1 }, ms(2));
        // Worker 2 is full; when it returns one, it gets chunk 0 back first.
        let r = assigns(&s.on(result(2, b[0]), ms(3)));
        assert_eq!(r[0].0, 0);
    }

    #[test]
    fn silent_worker_is_dropped_at_its_deadline() {
        let mut s: Scheduler<u32> = Scheduler::new(Config::new(0, 1 << 30, true));
        join(&mut s, 7, 1, ms(0));
        assert_eq!(s.next_deadline(), Some(Duration::from_secs(10)));
        assert!(s.on(Event::Tick, ms(9_999)).is_empty());
        let r = s.on(Event::Tick, ms(10_000));
        assert!(matches!(
            r[0],
            Action::Drop {
                worker: 7,
                reason: DropReason::Silent(_)
            }
        ));
        assert!(s.held_by(7).is_empty());
    }

    #[test]
    fn result_for_unheld_chunk_or_wrong_range_drops_the_worker() {
        let mut cfg = Config::new(0, 1_000_000, true);
        cfg.initial_width = 1000;
        let mut s = Scheduler::new(cfg.clone());
        let a = assigns(&join(&mut s, 1, 1, ms(0)));
        let r = s.on(result(1, (a[0].0, a[0].1, a[0].2 + 1)), ms(1));
        assert!(matches!(
            r[0],
            Action::Drop {
                worker: 1,
                reason: DropReason::BadResult(_)
            }
        ));
        let mut s = Scheduler::new(cfg);
        join(&mut s, 1, 1, ms(0));
        let r = s.on(result(1, (99, 0, 5)), ms(1));
        assert!(matches!(r[0], Action::Drop { worker: 1, .. }));
    }

    #[test]
    fn empty_job_is_done_at_once_and_full_range_is_cut_without_overflow() {
        let mut s: Scheduler<u32> = Scheduler::new(Config::new(5, 4, true));
        assert!(s.is_done());
        assert_eq!(s.on(Event::Tick, ms(0)), vec![Action::Done]);
        let mut cfg = Config::new(u128::MAX - 100, u128::MAX, true);
        cfg.min_width = 1;
        cfg.initial_width = 30;
        let mut s = Scheduler::new(cfg);
        let a = assigns(&join(&mut s, 1, 4, ms(0)));
        assert_eq!(a.last().map(|c| c.2), Some(u128::MAX));
        let mut done = false;
        for c in a {
            done |= s.on(result(1, c), ms(1)).contains(&Action::Done);
        }
        assert!(done);
    }

    #[test]
    fn a_worker_claiming_huge_threads_holds_at_most_max_held() {
        let mut cfg = Config::new(0, 1 << 60, true);
        cfg.max_buffer_bytes = u64::MAX / 4;
        let mut s: Scheduler<u32> = Scheduler::new(cfg);
        let a = assigns(&join(&mut s, 1, 1024, ms(0)));
        assert_eq!(a.len(), MAX_HELD);
        assert_eq!(s.held_by(1).len(), MAX_HELD);
        let a = assigns(&s.on(
            Event::Heard {
                worker: 1,
                threads: u32::MAX,
            },
            ms(1),
        ));
        assert!(a.is_empty(), "still at the cap: {a:?}");
    }

    #[test]
    fn shares_keep_workers_with_one_host_name_apart() {
        let mut cfg = Config::new(0, 3_999, true);
        cfg.initial_width = 1000;
        cfg.min_width = 10;
        let mut s: Scheduler<u32> = Scheduler::new(cfg);
        let mut given = Vec::new();
        for (worker, ip) in [(1, 1), (2, 2)] {
            let acts = s.on(
                Event::Joined {
                    worker,
                    threads: 1,
                    name: "raspberrypi".into(),
                    addr: IpAddr::from([192, 168, 0, ip]),
                    kernels: 0,
                },
                ms(0),
            );
            given.extend(assigns(&acts).into_iter().map(|c| (worker, c)));
        }
        for (worker, c) in given {
            s.on(result(worker, c), ms(1));
        }
        let shares = s.shares();
        assert_eq!(shares.len(), 2, "{shares:?}");
        assert!(shares
            .iter()
            .all(|x| x.name == "raspberrypi" && x.chunks == 2));
        assert_ne!(shares[0].addr, shares[1].addr);
    }

    #[test]
    fn a_zombie_loses_its_chunk_at_the_deadline_and_is_dropped_after_three() {
        let mut cfg = Config::new(0, 1 << 40, true);
        cfg.initial_width = 1000;
        cfg.min_width = 1000;
        cfg.max_width = 1000;
        cfg.heartbeat_timeout = ms(1000);
        cfg.assumed_rate = 1000.0; // 1 s a chunk, 4 s with the factor
        let mut s: Scheduler<u32> = Scheduler::new(cfg);
        let zombie = assigns(&join(&mut s, 1, 1, ms(0)));
        assert_eq!(zombie[0].0, 0);
        let honest = assigns(&join(&mut s, 2, 1, ms(0)));
        let mut now = ms(0);
        let mut copied = false;
        let mut dropped = None;
        let mut queue = honest;
        while now < Duration::from_secs(120) && dropped.is_none() {
            now += ms(100);
            // Both heartbeat; only worker 2 returns results, each 100 ms.
            s.on(
                Event::Heard {
                    worker: 1,
                    threads: 1,
                },
                now,
            );
            s.on(
                Event::Heard {
                    worker: 2,
                    threads: 1,
                },
                now,
            );
            let mut acts = Vec::new();
            if let Some(c) = queue.pop() {
                acts.extend(s.on(result(2, c), now));
            }
            if s.next_deadline().is_some_and(|d| d <= now) {
                acts.extend(s.on(Event::Tick, now));
            }
            for a in &acts {
                match a {
                    Action::Assign {
                        worker: 2,
                        chunk,
                        start,
                        stop,
                        ..
                    } => {
                        copied |= *chunk == 0;
                        queue.insert(0, (*chunk, *start, *stop));
                    }
                    Action::Drop { worker, reason } => dropped = Some((*worker, reason.clone())),
                    _ => {}
                }
            }
        }
        assert!(copied, "chunk 0 was never copied to the honest worker");
        assert_eq!(dropped, Some((1, DropReason::MissedDeadlines(3))));
        assert!(
            now >= Duration::from_secs(4),
            "not before the first deadline"
        );
        assert!(s.held_by(1).is_empty());
    }

    #[test]
    fn a_result_resets_the_missed_count() {
        let mut cfg = Config::new(0, 1 << 40, true);
        cfg.initial_width = 1000;
        cfg.heartbeat_timeout = ms(1000);
        cfg.assumed_rate = 1000.0;
        let mut s: Scheduler<u32> = Scheduler::new(cfg);
        let a = assigns(&join(&mut s, 1, 1, ms(0)));
        let mut now = ms(0);
        // A slow worker: each result comes just after the deadline of the one before.
        let mut held = a;
        for _ in 0..10 {
            now += Duration::from_secs(5);
            s.on(
                Event::Heard {
                    worker: 1,
                    threads: 1,
                },
                now,
            );
            let acts = s.on(Event::Tick, now);
            assert!(
                !acts.iter().any(|x| matches!(x, Action::Drop { .. })),
                "{acts:?}"
            );
            held.extend(assigns(&acts));
            let c = held.remove(0);
            held.extend(assigns(&s.on(result(1, c), now)));
        }
    }
}
