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
//!   most about [`Config::max_chunk_primes`] primes; one at least a sieve segment wide
//!   ends on a multiple of [`SEGMENT_SPAN`] ([`aligned_width`]).
//! - Each worker holds up to `threads + ceil(threads / 2)` chunks, so its threads never
//!   wait on the network, and never more than [`MAX_HELD`] whatever threads it claims.
//! - Each chunk a worker holds has a deadline from that worker's measured rate with
//!   the kernel the chunk was asked for (or [`Config::assumed_rate`] before a result
//!   with that kernel shows it), never sooner than two heartbeat timeouts. Rates are
//!   kept per (worker, kernel): a pre-sieve copy ~25 times slower than the sieve neither
//!   makes its worker look like a zombie nor shrinks its sieve chunks. Past it the chunk is copied to another worker before anything new is cut
//!   (the first valid result wins); a worker that misses [`Config::max_missed`] deadlines
//!   in a row, with no result between, is dropped ([`DropReason::MissedDeadlines`]).
//!   So a worker that heartbeats but never answers (a zombie) cannot stall the output.
//! - Results are written ([`Action::Write`]) strictly in chunk order, each chunk once,
//!   and only once its vote is settled ([`quorum`]): [`Config::redundancy`] distinct
//!   workers (name and address) agree on (count, digest) and are a strict majority of
//!   those who answered. Copies go to distinct hosts (addresses) while enough are
//!   connected, else to distinct workers with one [`Action::Warn`]; when workers offer
//!   several kernels of [`Config::kernel_mask`], copies of a chunk use different ones
//!   ([`Action::Assign::kernel`]), the slow one's copies spread evenly over workers, and
//!   the chunk is cut to take about the target time with the slowest of them.
//! - Spot checks (redundancy 1, [`Config::spot_check`] > 0): a worker's results until
//!   [`SPOT_CHECK_FIRST`] of them were confirmed by another worker, then a
//!   seeded-random fraction, need a second agreeing worker before they are written.
//! - On disagreement more copies go out until a strict majority agrees. Each worker
//!   whose answer lost is quarantined for the job ([`Action::Quarantine`]): dropped,
//!   its name and address refused when it joins again, its other unwritten answers
//!   discarded and those chunks voted on again. Workers that left keep their votes.
//! - Memory: results waiting for their turn or for a quorum (one payload per distinct
//!   answer: agreeing copies are stored once) plus the estimated size of chunks still
//!   out stay within [`Config::max_buffer_bytes`]; at that cap no chunk past the head
//!   is cut. An idle worker is given a copy of the oldest unfinished chunk (the late
//!   head, or a straggler at the end of the range); once the vote is settled the other
//!   holders get [`Action::Cancel`].
//! - Threads set through [`Event::SetThreads`] are remembered per name and address and
//!   sent again ([`Action::SetThreads`]) when that worker joins again.
//! - A worker that leaves, or is silent past [`Config::heartbeat_timeout`], gives its
//!   unfinished chunks back; they are handed out again before anything new is cut.
//! - A result for a chunk the worker does not hold, or whose range differs from the
//!   chunk's, drops that worker ([`Action::Drop`]); a late result for a chunk already
//!   written by someone else is ignored.
//!
//! The payload `P` (the gap-encoded primes, in the master) is opaque here: the master
//! checks its contents before it reaches the scheduler.

pub mod quorum;

use quorum::{Answer, Verdict};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

/// With spot checks on, this many of a worker's first results are all checked.
pub const SPOT_CHECK_FIRST: u64 = 8;

/// Workers that left or were quarantined, kept for [`Scheduler::workers`]: enough to
/// show a cluster's recent history without letting reconnect storms grow memory.
const GONE_KEPT: usize = 64;

/// Most copies of a chunk: redundancy 5 plus room for the copies a disagreement asks
/// for. Past it the chunk waits for those out to answer.
const MAX_COPIES: usize = 16;

/// Most chunks one worker holds at once. A worker may claim up to 1024 threads; at
/// `threads * 1.5` it would take 1536 chunks, most of the job's memory budget and of the
/// queue, and lose them all if it fails. 96 covers a 64-thread machine with its
/// prefetch; a faster machine gets wider chunks (they are sized by its rate) instead.
pub const MAX_HELD: usize = 96;

/// Numbers in one segment of the sieve (`SEGMENT_BYTES` bytes of 30 numbers each;
/// segments lie on multiples of it). A chunk at least this wide ends on a multiple, so
/// that a worker thread's calls never split a segment: a split one is sieved in two
/// parts, each a pass over the kept primes' bucket and the medium primes (at 1e16,
/// 1e9 numbers in chunks of 2^20 primes took 0.53 s ending anywhere, 0.46 s aligned).
pub const SEGMENT_SPAN: u128 = 30 * crate::kernel::sieve::SEGMENT_BYTES as u128;

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
    /// Distinct workers that must agree on each chunk (1..=5; clamped).
    pub redundancy: u32,
    /// With redundancy 1: the fraction of results (after a worker's first
    /// [`SPOT_CHECK_FIRST`], which are all checked) also computed by another worker;
    /// 0 turns spot checks off. Clamped to 0..=1.
    pub spot_check: f64,
    /// Seed for the spot checks' random choice (the scheduler reads no OS randomness).
    pub seed: u64,
    /// Kernel codes (bit i: code i) that copies of a chunk may be spread over. The
    /// master leaves out kernels too slow to be worth it (trial division) so that a
    /// worker offering one is not asked to use it.
    pub kernel_mask: u32,
    /// The kernel code a copy sent without one (`kernel: None`, the job's kernel) runs,
    /// as far as the master knows (auto: the sieve below 2^64). Counted as a use of that
    /// kernel when copies are spread, so the check of a spot-checked result uses the
    /// other kernel. `None`: unknown, not counted.
    pub default_kernel: Option<u8>,
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
            redundancy: 1,
            spot_check: 0.0,
            seed: 0x5eed,
            // Every kernel but code 0 ("auto", which is not a kernel of its own).
            kernel_mask: !1,
            default_kernel: None,
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
    /// Set the threads of one worker (`Some(id)`) or of all: remembered by name and
    /// address across reconnects.
    SetThreads {
        worker: Option<WorkerId>,
        threads: u32,
    },
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
    /// Drop this worker for the job: its answer lost a vote. Remember `name` and
    /// `addr` and refuse them at hello; `worker` is `None` when it is not connected
    /// (it left before the vote was settled).
    Quarantine {
        worker: Option<WorkerId>,
        name: String,
        addr: IpAddr,
        reason: String,
    },
    /// Send a set-threads frame (a control request, or a remembered setting for a
    /// worker that joined again).
    SetThreads { worker: WorkerId, threads: u32 },
    /// Something the operator should know (logged once per occurrence).
    Warn(String),
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
    /// Its name and address were quarantined earlier in this job.
    Quarantined { name: String, addr: IpAddr },
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
            DropReason::Quarantined { name, addr } => write!(
                f,
                "{name}@{addr} is quarantined for this job (a result of it lost a vote)"
            ),
        }
    }
}

/// A worker's identity across connections: its name and address.
type Key = (String, IpAddr);

struct Chunk<P> {
    start: u128,
    stop: u128,
    est_bytes: u64,
    /// Workers computing it now, with the kernel each was asked to use.
    holders: Vec<(WorkerId, Option<u8>)>,
    /// Holders told to cancel once the vote was settled: their late results are
    /// ignored, even if the vote is opened again by a quarantine.
    cancelled: Vec<WorkerId>,
    /// One per distinct worker that answered (workers that left keep their vote).
    votes: Vec<Vote>,
    /// One payload per distinct answer: agreeing copies are stored once.
    answers: Vec<Stored<P>>,
    /// Agreeing votes it needs: the redundancy, or 2 once picked for a spot check.
    required: u32,
    /// The winning answer, once the vote is settled; it waits for its turn.
    accepted: Option<Answer>,
}

struct Vote {
    key: Key,
    answer: Answer,
    kernel: Option<u8>,
}

struct Stored<P> {
    answer: Answer,
    bytes: u64,
    payload: P,
}

impl<P> Chunk<P> {
    fn verdict(&self) -> Verdict {
        let answers: Vec<Answer> = self.votes.iter().map(|v| v.answer).collect();
        quorum::verdict(&answers, self.required)
    }

    /// More votes the vote needs, 0 once settled.
    fn needed(&self) -> usize {
        match (self.accepted, self.verdict()) {
            (None, Verdict::Open(n)) => n as usize,
            _ => 0,
        }
    }

    /// Copies still to hand out: what the vote needs beyond the copies out, within
    /// [`MAX_COPIES`].
    fn wanted(&self) -> usize {
        let out = self.holders.len();
        let room = MAX_COPIES.saturating_sub(out + self.votes.len());
        self.needed().saturating_sub(out).min(room)
    }

    fn holds(&self, worker: WorkerId) -> bool {
        self.holders.iter().any(|&(h, _)| h == worker)
    }
}

/// A chunk as one worker holds it.
struct Hold {
    /// When the result is due; past it the chunk is copied to another worker.
    deadline: Duration,
    /// The deadline passed (counted once); the worker may still send the result.
    missed: bool,
    /// The kernel it was asked to use: its expected time is at that kernel's rate.
    kernel: Option<u8>,
}

struct Worker {
    key: Key,
    /// Bit i set: it has kernel code i.
    kernels: u32,
    threads: u32,
    held: BTreeMap<ChunkId, Hold>,
    last_heard: Duration,
    /// Numbers per second on one thread over all its results, for `status`.
    rate: Option<f64>,
    /// Numbers per second on one thread per kernel asked for (`None`: the worker's
    /// default), once a result has shown it. Deadlines and chunk widths use the rate of
    /// the kernel a chunk is computed with: a pre-sieve copy is ~25 times slower than
    /// the sieve below 1e16, and must not make the worker look slow or a zombie.
    rates: Vec<(Option<u8>, f64)>,
    /// Deadlines missed since its last result.
    misses: u32,
    /// Results it returned for chunks it held (spot checks count them).
    results: u64,
    /// Numbers in those results.
    numbers: u128,
    /// Its answers that another worker confirmed (a vote needing 2 or more that it
    /// won): with spot checks, every result is checked until there are
    /// [`SPOT_CHECK_FIRST`] of these.
    confirmed: u64,
}

impl Worker {
    /// Its measured rate with `kernel`, if a result has shown it.
    fn rate_with(&self, kernel: Option<u8>) -> Option<f64> {
        self.rates
            .iter()
            .find(|(k, _)| *k == kernel)
            .map(|&(_, r)| r)
    }

    /// Folds a result's rate into the kernel's average (and the overall one).
    fn measured(&mut self, kernel: Option<u8>, r: f64) {
        let avg = |old: Option<f64>| old.map_or(r, |old| 0.5 * old + 0.5 * r);
        self.rate = Some(avg(self.rate));
        match self.rates.iter_mut().find(|(k, _)| *k == kernel) {
            Some((_, rate)) => *rate = avg(Some(*rate)),
            // At most one entry per kernel code (and `None`): 33 at the very most.
            None => self.rates.push((kernel, r)),
        }
    }

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
    /// Numbers in the written chunks this worker computed (with redundancy, each
    /// agreeing worker is counted).
    pub numbers: u128,
    pub chunks: u64,
}

/// Whether a worker is connected, quarantined or gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    Active,
    Quarantined,
    Lost,
}

impl std::fmt::Display for WorkerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WorkerState::Active => "active",
            WorkerState::Quarantined => "quarantined",
            WorkerState::Lost => "lost",
        })
    }
}

/// One worker as `status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStatus {
    pub id: WorkerId,
    pub name: String,
    pub addr: IpAddr,
    pub threads: u32,
    /// Chunks it holds now.
    pub held: usize,
    /// Results it returned.
    pub chunks_done: u64,
    /// Numbers in those results.
    pub numbers_done: u128,
    /// Numbers per second over all its threads, once a result has shown it.
    pub rate: Option<f64>,
    /// When it was last heard from (the scheduler's `now`).
    pub last_heard: Duration,
    pub state: WorkerState,
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
    /// Chunks whose vote wants more copies than are out, handed out lowest first.
    pending: BTreeSet<ChunkId>,
    /// Chunks without a result whose every holder let its deadline pass: copied to
    /// another worker before anything new is cut.
    overdue: BTreeSet<ChunkId>,
    workers: BTreeMap<WorkerId, Worker>,
    /// Workers that left or were quarantined, newest last, at most [`GONE_KEPT`].
    gone: VecDeque<WorkerStatus>,
    /// Names and addresses refused for the rest of the job.
    quarantined: BTreeSet<Key>,
    /// Threads set by control, per name and address.
    threads_for: BTreeMap<Key, u32>,
    /// Bytes of results waiting for their turn or their quorum.
    buffered: u64,
    /// Estimated bytes of chunks cut but not settled.
    reserved: u64,
    done_sent: bool,
    /// Whether the "too few hosts" warning was given.
    warned_hosts: bool,
    numbers_done: u128,
    primes: u64,
    /// Keyed by name and address: workers with the same host name stay apart.
    shares: BTreeMap<Key, Share>,
    /// xorshift64 state for spot checks.
    rng: u64,
}

impl<P> Scheduler<P> {
    /// A scheduler for the job in `cfg`. An empty job (start > stop) is done at once.
    /// Redundancy is clamped to 1..=5 and the spot-check fraction to 0..=1.
    pub fn new(mut cfg: Config) -> Self {
        cfg.redundancy = cfg.redundancy.clamp(1, 5);
        cfg.spot_check = if cfg.spot_check.is_nan() {
            0.0
        } else {
            cfg.spot_check.clamp(0.0, 1.0)
        };
        let next_cut = (cfg.start <= cfg.stop).then_some(cfg.start);
        let rng = cfg.seed | 1;
        Scheduler {
            cfg,
            next_cut,
            next_id: 0,
            head: 0,
            chunks: BTreeMap::new(),
            pending: BTreeSet::new(),
            overdue: BTreeSet::new(),
            workers: BTreeMap::new(),
            gone: VecDeque::new(),
            quarantined: BTreeSet::new(),
            threads_for: BTreeMap::new(),
            buffered: 0,
            reserved: 0,
            done_sent: false,
            warned_hosts: false,
            numbers_done: 0,
            primes: 0,
            shares: BTreeMap::new(),
            rng,
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
                kernels,
            } => self.join(worker, threads, (name, addr), kernels, now, &mut out),
            Event::Left { worker } => self.remove(worker, WorkerState::Lost),
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
                digest,
                compute,
                bytes,
                payload,
            } => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.last_heard = now;
                }
                let result = Stored {
                    answer: (count, digest),
                    bytes,
                    payload,
                };
                self.on_result(worker, chunk, (start, stop), compute, result, &mut out);
            }
            Event::Tick => self.expire(now, &mut out),
            Event::SetThreads { worker, threads } => self.set_threads(worker, threads, &mut out),
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

    /// Every connected worker (by id), then the last [`GONE_KEPT`] that left or were
    /// quarantined, oldest first: the rows of `status`.
    pub fn workers(&self) -> Vec<WorkerStatus> {
        let live = self
            .workers
            .iter()
            .map(|(&id, w)| status(id, w, WorkerState::Active));
        live.chain(self.gone.iter().cloned()).collect()
    }

    /// Whether a worker with this name and address is refused for the job.
    pub fn is_quarantined(&self, name: &str, addr: IpAddr) -> bool {
        self.quarantined.contains(&(name.to_string(), addr))
    }

    /// Bytes of results waiting for their turn or their quorum (the reorder buffer).
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

    fn join(
        &mut self,
        worker: WorkerId,
        threads: u32,
        key: Key,
        kernels: u32,
        now: Duration,
        out: &mut Vec<Action<P>>,
    ) {
        if self.quarantined.contains(&key) {
            let (name, addr) = key;
            out.push(Action::Drop {
                worker,
                reason: DropReason::Quarantined { name, addr },
            });
            return;
        }
        let threads = match self.threads_for.get(&key) {
            Some(&t) => {
                out.push(Action::SetThreads { worker, threads: t });
                t
            }
            None => threads,
        };
        let w = Worker {
            key,
            kernels,
            threads,
            held: BTreeMap::new(),
            last_heard: now,
            rate: None,
            rates: Vec::new(),
            misses: 0,
            results: 0,
            numbers: 0,
            confirmed: 0,
        };
        if let Some(old) = self.workers.insert(worker, w) {
            // A reused id would be a master bug; never lose the old chunks.
            self.release(worker, old.held.into_keys());
        }
    }

    fn set_threads(&mut self, worker: Option<WorkerId>, threads: u32, out: &mut Vec<Action<P>>) {
        let threads = threads.max(1);
        let ids: Vec<WorkerId> = match worker {
            Some(id) => self
                .workers
                .contains_key(&id)
                .then_some(id)
                .into_iter()
                .collect(),
            None => self.workers.keys().copied().collect(),
        };
        for id in ids {
            let w = self.workers.get_mut(&id).expect("listed above");
            w.threads = threads;
            self.threads_for.insert(w.key.clone(), threads);
            out.push(Action::SetThreads {
                worker: id,
                threads,
            });
        }
    }

    fn on_result(
        &mut self,
        worker: WorkerId,
        id: ChunkId,
        range: (u128, u128),
        compute: Duration,
        result: Stored<P>,
        out: &mut Vec<Action<P>>,
    ) {
        if !self.workers.contains_key(&worker) {
            return; // Already dropped: its chunks went back to the queue.
        }
        let Some(chunk) = self.chunks.get_mut(&id) else {
            if id < self.next_id {
                return; // Written already, from other holders' results.
            }
            return self.drop_worker(worker, format!("chunk {id} was never handed out"), out);
        };
        if !chunk.holds(worker) {
            if chunk.cancelled.contains(&worker) {
                return; // Its vote was settled without it; it was told to cancel.
            }
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
        let width = chunk.stop - chunk.start + 1;
        let pos = chunk
            .holders
            .iter()
            .position(|&(h, _)| h == worker)
            .expect("checked above");
        let (_, kernel) = chunk.holders.remove(pos);
        let w = self.workers.get_mut(&worker).expect("checked above");
        w.held.remove(&id);
        w.misses = 0;
        w.results += 1;
        w.numbers += width;
        let secs = compute.as_secs_f64().max(1e-3);
        w.measured(kernel, width as f64 / secs);
        // Counted on confirmed answers, not on results sent: a liar's unchecked results
        // must not make it trusted while its first checks are still open.
        let novice = w.confirmed < SPOT_CHECK_FIRST;
        let key = w.key.clone();
        if chunk.votes.is_empty() && self.cfg.redundancy == 1 && self.cfg.spot_check > 0.0 {
            // Decided on the first answer, by who gave it: a novice's is always checked.
            if novice || next_f64(&mut self.rng) < self.cfg.spot_check {
                chunk.required = 2;
            }
        }
        // The same worker again, on a new connection, does not vote twice.
        if !chunk.votes.iter().any(|v| v.key == key) {
            chunk.votes.push(Vote {
                key,
                answer: result.answer,
                kernel,
            });
            if !chunk.answers.iter().any(|s| s.answer == result.answer) {
                self.buffered += result.bytes;
                chunk.answers.push(result);
            }
        }
        self.overdue.remove(&id);
        let losers = self.settle(id, out);
        self.quarantine(losers, out);
        self.write_ready(out);
    }

    /// Looks at chunk `id`'s vote: if settled, keeps the winning payload, cancels the
    /// other holders and returns the workers whose answers lost (to quarantine);
    /// otherwise queues it if it wants more copies.
    fn settle(&mut self, id: ChunkId, out: &mut Vec<Action<P>>) -> Vec<(Key, String)> {
        let Some(c) = self.chunks.get_mut(&id) else {
            return Vec::new();
        };
        if c.accepted.is_some() {
            return Vec::new();
        }
        let Verdict::Accept(win) = c.verdict() else {
            if c.wanted() > 0 {
                self.pending.insert(id);
            } else {
                self.pending.remove(&id);
            }
            return Vec::new();
        };
        c.accepted = Some(win);
        self.reserved -= c.est_bytes;
        let buffered = &mut self.buffered;
        c.answers.retain(|s| {
            let keep = s.answer == win;
            if !keep {
                *buffered -= s.bytes;
            }
            keep
        });
        let others: Vec<WorkerId> = c.holders.drain(..).map(|(h, _)| h).collect();
        c.cancelled.extend(others.iter().copied());
        let agree = c.votes.iter().filter(|v| v.answer == win).count();
        if c.required >= 2 {
            for w in self.workers.values_mut() {
                if c.votes.iter().any(|v| v.answer == win && v.key == w.key) {
                    w.confirmed += 1;
                }
            }
        }
        let losers: Vec<(Key, String)> = c
            .votes
            .iter()
            .filter(|v| v.answer != win)
            .map(|v| {
                let why = format!(
                    "chunk {id} ({}..={}): its answer (count {}, digest {:016x}) lost to \
                     (count {}, digest {:016x}) given by {agree} workers",
                    c.start, c.stop, v.answer.0, v.answer.1, win.0, win.1
                );
                (v.key.clone(), why)
            })
            .collect();
        for other in others {
            out.push(Action::Cancel {
                worker: other,
                chunk: id,
            });
            if let Some(w) = self.workers.get_mut(&other) {
                w.held.remove(&id);
            }
        }
        self.pending.remove(&id);
        self.overdue.remove(&id);
        losers
    }

    /// Quarantines each worker (name and address) in `queue`: drops its connections,
    /// removes its votes from every chunk not yet written and votes those again, which
    /// may quarantine more.
    fn quarantine(&mut self, mut queue: Vec<(Key, String)>, out: &mut Vec<Action<P>>) {
        while let Some((key, reason)) = queue.pop() {
            if !self.quarantined.insert(key.clone()) {
                continue;
            }
            let live: Vec<WorkerId> = self
                .workers
                .iter()
                .filter(|(_, w)| w.key == key)
                .map(|(&id, _)| id)
                .collect();
            let (name, addr) = key.clone();
            for row in self.gone.iter_mut() {
                if row.name == name && row.addr == addr {
                    row.state = WorkerState::Quarantined;
                }
            }
            if live.is_empty() {
                out.push(Action::Quarantine {
                    worker: None,
                    name: name.clone(),
                    addr,
                    reason: reason.clone(),
                });
            }
            for id in live {
                self.remove(id, WorkerState::Quarantined);
                out.push(Action::Quarantine {
                    worker: Some(id),
                    name: name.clone(),
                    addr,
                    reason: reason.clone(),
                });
            }
            let touched: Vec<ChunkId> = self
                .chunks
                .iter()
                .filter(|(_, c)| c.votes.iter().any(|v| v.key == key))
                .map(|(&id, _)| id)
                .collect();
            for id in touched {
                self.unvote(id, &key);
                queue.extend(self.settle(id, out));
            }
        }
    }

    /// Removes `key`'s vote from chunk `id`, with any answer nobody else gave; opens
    /// the vote again if the winner no longer has its quorum.
    fn unvote(&mut self, id: ChunkId, key: &Key) {
        let c = self.chunks.get_mut(&id).expect("listed by the caller");
        c.votes.retain(|v| &v.key != key);
        let votes = &c.votes;
        let buffered = &mut self.buffered;
        c.answers.retain(|s| {
            let keep = votes.iter().any(|v| v.answer == s.answer);
            if !keep {
                *buffered -= s.bytes;
            }
            keep
        });
        if let Some(win) = c.accepted {
            if c.verdict() != Verdict::Accept(win) {
                c.accepted = None;
                self.reserved += c.est_bytes;
            }
        }
    }

    /// Writes every settled chunk at the head, in order.
    fn write_ready(&mut self, out: &mut Vec<Action<P>>) {
        while let Some(win) = self.chunks.get(&self.head).and_then(|c| c.accepted) {
            let chunk = self.chunks.remove(&self.head).expect("checked above");
            let width = chunk.stop - chunk.start + 1;
            self.numbers_done += width;
            self.primes += win.0;
            for v in chunk.votes.iter().filter(|v| v.answer == win) {
                let share = self.shares.entry(v.key.clone()).or_insert_with(|| Share {
                    name: v.key.0.clone(),
                    addr: v.key.1,
                    numbers: 0,
                    chunks: 0,
                });
                share.numbers += width;
                share.chunks += 1;
            }
            let mut payload = None;
            for s in chunk.answers {
                self.buffered -= s.bytes;
                if s.answer == win {
                    payload = Some(s.payload);
                }
            }
            out.push(Action::Write {
                chunk: self.head,
                start: chunk.start,
                stop: chunk.stop,
                count: win.0,
                payload: payload.expect("the winning answer is stored"),
            });
            self.head += 1;
        }
    }

    fn drop_worker(&mut self, worker: WorkerId, why: String, out: &mut Vec<Action<P>>) {
        self.remove(worker, WorkerState::Lost);
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
            self.remove(worker, WorkerState::Lost);
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
            self.remove(worker, WorkerState::Lost);
            out.push(Action::Drop {
                worker,
                reason: DropReason::MissedDeadlines(n),
            });
            return;
        }
        let rest: Vec<(ChunkId, Option<u8>)> = w
            .held
            .iter()
            .filter(|(_, h)| !h.missed)
            .map(|(&c, h)| (c, h.kernel))
            .collect();
        self.mark_overdue(id);
        let mut ahead = 0.0;
        for (c, kernel) in rest {
            let span = self.span(worker, c, kernel, ahead);
            ahead += self.work_secs(worker, c, kernel);
            let h = self
                .workers
                .get_mut(&worker)
                .and_then(|w| w.held.get_mut(&c))
                .expect("listed above");
            h.deadline = h.deadline.max(now + span);
        }
    }

    /// Numbers in chunk `id` (0 if it is gone).
    fn width_of(&self, id: ChunkId) -> u128 {
        self.chunks
            .get(&id)
            .map_or(0, |c| (c.stop - c.start).saturating_add(1))
    }

    /// Seconds of one thread's work in the chunks `worker` holds and has not missed,
    /// each at the rate of its kernel: the work queued before a new chunk.
    fn queued(&self, worker: WorkerId) -> f64 {
        self.workers[&worker]
            .held
            .iter()
            .filter(|(_, h)| !h.missed)
            .map(|(&c, h)| self.work_secs(worker, c, h.kernel))
            .sum()
    }

    /// Seconds one thread of `worker` is expected to take for chunk `id` with `kernel`
    /// (at [`Config::assumed_rate`] until a result with that kernel showed its rate;
    /// each missed deadline halves the rate assumed).
    fn work_secs(&self, worker: WorkerId, id: ChunkId, kernel: Option<u8>) -> f64 {
        let Some(w) = self.workers.get(&worker) else {
            return 0.0;
        };
        let rate = w
            .rate_with(kernel)
            .unwrap_or(self.cfg.assumed_rate)
            .max(1e-9)
            / 2f64.powi(w.misses.min(60) as i32);
        self.width_of(id) as f64 / rate
    }

    /// Puts `id` on the overdue list if it is not settled and every holder missed it.
    fn mark_overdue(&mut self, id: ChunkId) {
        let Some(c) = self.chunks.get(&id) else {
            return;
        };
        let all_missed = !c.holders.is_empty()
            && c.holders.iter().all(|(h, _)| {
                self.workers
                    .get(h)
                    .and_then(|w| w.held.get(&id))
                    .is_none_or(|hold| hold.missed)
            });
        if c.accepted.is_none() && all_missed {
            self.overdue.insert(id);
        }
    }

    /// How long `worker` may take for chunk `id` computed with `kernel`, with `ahead`
    /// seconds of one thread's work in its other chunks before it, shared by its
    /// threads. Each missed deadline halves the rate assumed, so a slow but honest
    /// worker gets ever longer before it is dropped.
    fn span(&self, worker: WorkerId, id: ChunkId, kernel: Option<u8>, ahead: f64) -> Duration {
        let floor = self.cfg.heartbeat_timeout * 2;
        let (Some(w), true) = (self.workers.get(&worker), self.chunks.contains_key(&id)) else {
            return floor;
        };
        let queued = ahead / w.threads.max(1) as f64;
        let secs = self.cfg.deadline_factor * (self.work_secs(worker, id, kernel) + queued);
        // Capped at a year so the Duration cannot overflow on absurd figures.
        floor.max(Duration::from_secs_f64(secs.clamp(0.0, 3.2e7)))
    }

    fn remove(&mut self, worker: WorkerId, state: WorkerState) {
        if let Some(w) = self.workers.remove(&worker) {
            let mut row = status(worker, &w, state);
            row.held = 0;
            self.gone.push_back(row);
            if self.gone.len() > GONE_KEPT {
                self.gone.pop_front();
            }
            self.release(worker, w.held.into_keys());
        }
    }

    /// Takes `worker` off the chunks it held; those whose vote wants copies are queued,
    /// those left only with holders that missed them are overdue.
    fn release(&mut self, worker: WorkerId, held: impl IntoIterator<Item = ChunkId>) {
        for id in held {
            let Some(c) = self.chunks.get_mut(&id) else {
                continue;
            };
            c.holders.retain(|&(h, _)| h != worker);
            if c.accepted.is_some() {
                continue;
            }
            if c.wanted() > 0 {
                self.overdue.remove(&id);
                self.pending.insert(id);
            } else {
                self.mark_overdue(id);
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
                let ahead = self.queued(worker);
                self.assign(worker, id, ahead, now, out);
            }
        }
    }

    fn assign(
        &mut self,
        worker: WorkerId,
        id: ChunkId,
        ahead: f64,
        now: Duration,
        out: &mut Vec<Action<P>>,
    ) {
        let kernel = self.kernel_for(worker, id);
        let span = self.span(worker, id, kernel, ahead);
        let host = self.workers[&worker].key.1;
        let shared_host = self.hosts_of(id).contains(&host);
        if shared_host && !self.warned_hosts {
            self.warned_hosts = true;
            out.push(Action::Warn(format!(
                "fewer hosts than copies wanted (redundancy {}): copies of a chunk now also \
                 go to distinct workers on one host ({host})",
                self.cfg.redundancy
            )));
        }
        let c = self.chunks.get_mut(&id).expect("picked chunks exist");
        c.holders.push((worker, kernel));
        if c.wanted() == 0 {
            self.pending.remove(&id);
        } else {
            self.pending.insert(id);
        }
        self.overdue.remove(&id);
        let (start, stop) = (c.start, c.stop);
        let hold = Hold {
            deadline: now + span,
            missed: false,
            kernel,
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
            kernel,
        });
    }

    /// The chunk to give `worker` next: a chunk whose vote wants copies (requeued
    /// work, redundancy, spot checks, disagreements) first, then a copy of a chunk whose
    /// holders all missed its deadline, then a new chunk if the memory cap allows, then
    /// (only to an idle worker) a copy of the oldest unsettled chunk, if it has no
    /// spare copy out yet. Always one the worker may take ([`Self::may_take`]).
    fn pick(&mut self, worker: WorkerId, idle: bool) -> Option<ChunkId> {
        let queued = self
            .pending
            .iter()
            .chain(self.overdue.iter())
            .copied()
            .find(|&id| self.may_take(worker, id));
        if queued.is_some() {
            return queued;
        }
        if let Some(id) = self.cut(worker) {
            return Some(id);
        }
        if !idle {
            return None;
        }
        self.chunks
            .iter()
            .filter(|(_, c)| {
                c.accepted.is_none() && !c.holders.is_empty() && c.holders.len() <= c.needed()
            })
            .map(|(&id, _)| id)
            .find(|&id| self.may_take(worker, id))
    }

    /// Whether `worker` may compute a copy of chunk `id`: it (by name and address)
    /// neither holds it nor voted on it, and its host is not used by the chunk's other
    /// copies while a connected worker on an unused host exists.
    fn may_take(&self, worker: WorkerId, id: ChunkId) -> bool {
        let (Some(w), Some(c)) = (self.workers.get(&worker), self.chunks.get(&id)) else {
            return false;
        };
        if c.holders.len() + c.votes.len() >= MAX_COPIES {
            return false;
        }
        let same = |h: &WorkerId| self.workers.get(h).is_some_and(|o| o.key == w.key);
        if c.holders.iter().any(|(h, _)| same(h)) || c.votes.iter().any(|v| v.key == w.key) {
            return false;
        }
        let hosts = self.hosts_of(id);
        if !hosts.contains(&w.key.1) {
            return true;
        }
        !self.workers.values().any(|o| !hosts.contains(&o.key.1))
    }

    /// Hosts computing or having answered chunk `id`.
    fn hosts_of(&self, id: ChunkId) -> BTreeSet<IpAddr> {
        let Some(c) = self.chunks.get(&id) else {
            return BTreeSet::new();
        };
        let holding = c
            .holders
            .iter()
            .filter_map(|(h, _)| self.workers.get(h).map(|w| w.key.1));
        holding.chain(c.votes.iter().map(|v| v.key.1)).collect()
    }

    /// The kernel for a copy of chunk `id` on `worker`: when the chunk needs more than
    /// one agreeing result (redundancy, spot check) and the worker offers several kernels, the one least
    /// used by the chunk's other copies, so that one kernel's bug is outvoted like a
    /// liar. Code 0 ("auto") is not a kernel of its own. `None`: the worker's default.
    ///
    /// Among the least used kernels the choice rotates with the chunk id, so that a
    /// slow kernel's copies (pre-sieve + Miller–Rabin) are spread evenly over the
    /// workers rather than all landing on whoever takes second copies.
    fn kernel_for(&self, worker: WorkerId, id: ChunkId) -> Option<u8> {
        let c = &self.chunks[&id];
        let used = c
            .holders
            .iter()
            .map(|&(_, k)| k)
            .chain(c.votes.iter().map(|v| v.kernel));
        self.choose_kernel(worker, id, c.required, used)
    }

    /// [`Self::kernel_for`] for a chunk `id` needing `required` agreeing results whose
    /// copies so far were asked for the kernels `used`.
    fn choose_kernel(
        &self,
        worker: WorkerId,
        id: ChunkId,
        required: u32,
        used: impl Iterator<Item = Option<u8>>,
    ) -> Option<u8> {
        let offered = self.vote_kernels(worker);
        // Only copies that vote: a straggler's copy at redundancy 1 keeps the job's
        // kernel (a `--kernel trial` job stays trial division throughout).
        if offered.len() < 2 || required < 2 {
            return None;
        }
        let mut uses = [0usize; 32];
        for k in used.filter_map(|k| k.or(self.cfg.default_kernel)) {
            uses[k as usize % 32] += 1;
        }
        let least = offered.iter().map(|&k| uses[k as usize]).min()?;
        let tied: Vec<u8> = offered
            .into_iter()
            .filter(|&k| uses[k as usize] == least)
            .collect();
        tied.get((id % tied.len() as u64) as usize).copied()
    }

    /// The kernel codes `worker` offers that copies may be spread over, ascending.
    fn vote_kernels(&self, worker: WorkerId) -> Vec<u8> {
        let Some(w) = self.workers.get(&worker) else {
            return Vec::new();
        };
        let mask = w.kernels & self.cfg.kernel_mask & !1;
        (1..32u8).filter(|&k| mask & (1 << k) != 0).collect()
    }

    /// Cuts the next chunk for `worker`, if any is left and the memory cap allows.
    fn cut(&mut self, worker: WorkerId) -> Option<ChunkId> {
        let start = self.next_cut?;
        let kernel = self.choose_kernel(
            worker,
            self.next_id,
            self.cfg.redundancy,
            std::iter::empty(),
        );
        let width = aligned_width(start, self.width_for(worker, start, kernel));
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
                cancelled: Vec::new(),
                votes: Vec::new(),
                answers: Vec::new(),
                required: self.cfg.redundancy,
                accepted: None,
            },
        );
        Some(id)
    }

    /// The width of a new chunk that `worker` will compute with `kernel`: about
    /// [`Config::target_chunk_time`] at that kernel's measured rate. When copies spread
    /// over kernels, at the slowest of them this worker has measured: every copy of the
    /// chunk, whichever kernel computes it, then takes about the target time.
    fn width_for(&self, worker: WorkerId, start: u128, kernel: Option<u8>) -> u128 {
        let cfg = &self.cfg;
        let w = self.workers.get(&worker);
        let own = w.and_then(|w| w.rate_with(kernel));
        let others = match kernel {
            Some(_) => self
                .vote_kernels(worker)
                .into_iter()
                .filter_map(|k| w.and_then(|w| w.rate_with(Some(k))))
                .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r)))),
            None => None,
        };
        // A kernel not measured yet on this worker starts at the initial width.
        let rate = own.map(|r| others.map_or(r, |o| r.min(o)));
        let by_time = match rate {
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

/// `width` cut back so that a chunk from `start` ends on a multiple of
/// [`SEGMENT_SPAN`], where that keeps at least half of it: chunks narrower than a
/// segment are left alone, and once one ends on a multiple every later one of at
/// least a segment's width starts and ends on one.
pub fn aligned_width(start: u128, width: u128) -> u128 {
    if width < SEGMENT_SPAN {
        return width;
    }
    match start.checked_add(width) {
        Some(end) if end / SEGMENT_SPAN * SEGMENT_SPAN - start >= width / 2 => {
            end / SEGMENT_SPAN * SEGMENT_SPAN - start
        }
        _ => width,
    }
}

/// The `status` row of a connected worker.
fn status(id: WorkerId, w: &Worker, state: WorkerState) -> WorkerStatus {
    WorkerStatus {
        id,
        name: w.key.0.clone(),
        addr: w.key.1,
        threads: w.threads,
        held: w.held.len(),
        chunks_done: w.results,
        numbers_done: w.numbers,
        rate: w.rate.map(|r| r * w.threads.max(1) as f64),
        last_heard: w.last_heard,
        state,
    }
}

/// A uniform number in 0..1 from a xorshift64 state (never 0).
fn next_f64(state: &mut u64) -> f64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Natural log, at least 2 (the density of primes is at most about 1/2).
fn ln(n: u128) -> f64 {
    (n as f64).ln().max(2.0)
}

#[cfg(test)]
mod tests;
