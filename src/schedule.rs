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
//!   wait on the network.
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
use std::time::Duration;

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
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::Silent(d) => write!(f, "silent for {:.1} s", d.as_secs_f64()),
            DropReason::BadResult(why) => write!(f, "bad result: {why}"),
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

struct Worker {
    name: String,
    threads: u32,
    held: BTreeSet<ChunkId>,
    last_heard: Duration,
    /// Numbers per second on one thread, once a result has shown it.
    rate: Option<f64>,
}

impl Worker {
    fn slots(&self) -> usize {
        let t = self.threads.max(1) as usize;
        t + t.div_ceil(2)
    }
}

/// A worker's share of the job so far, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub name: String,
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
    workers: BTreeMap<WorkerId, Worker>,
    /// Bytes of results waiting for their turn.
    buffered: u64,
    /// Estimated bytes of chunks cut but without a result.
    reserved: u64,
    done_sent: bool,
    numbers_done: u128,
    primes: u64,
    shares: BTreeMap<String, Share>,
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
            } => {
                let w = Worker {
                    name,
                    threads,
                    held: BTreeSet::new(),
                    last_heard: now,
                    rate: None,
                };
                if let Some(old) = self.workers.insert(worker, w) {
                    // A reused id would be a master bug; never lose the old chunks.
                    self.release(worker, old.held);
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
        self.fill(&mut out);
        if self.is_done() && !self.done_sent {
            self.done_sent = true;
            out.push(Action::Done);
        }
        out
    }

    /// When the master must call again with [`Event::Tick`]: the earliest moment a
    /// worker would have been silent too long.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.workers
            .values()
            .map(|w| w.last_heard + self.cfg.heartbeat_timeout)
            .min()
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

    /// Each worker's share of what was written, by name, largest first.
    pub fn shares(&self) -> Vec<Share> {
        let mut v: Vec<Share> = self.shares.values().cloned().collect();
        v.sort_by(|a, b| b.numbers.cmp(&a.numbers).then(a.name.cmp(&b.name)));
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
            .map(|w| w.held.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The job's configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
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
        for other in others {
            if let Some(w) = self.workers.get_mut(&other) {
                w.held.remove(&id);
            }
        }
        if let Some(w) = self.workers.get_mut(&worker) {
            w.held.remove(&id);
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
                let share = self.shares.entry(w.name.clone()).or_insert_with(|| Share {
                    name: w.name.clone(),
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
    }

    fn remove(&mut self, worker: WorkerId) {
        if let Some(w) = self.workers.remove(&worker) {
            self.release(worker, w.held);
        }
    }

    /// Takes `worker` off the chunks it held; those left with no holder are requeued.
    fn release(&mut self, worker: WorkerId, held: BTreeSet<ChunkId>) {
        for id in held {
            if let Some(c) = self.chunks.get_mut(&id) {
                c.holders.retain(|&h| h != worker);
                if c.holders.is_empty() && c.result.is_none() {
                    self.pending.insert(id);
                }
            }
        }
    }

    /// Hands out work to every worker with a free slot, lowest worker id first.
    fn fill(&mut self, out: &mut Vec<Action<P>>) {
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for worker in ids {
            loop {
                let w = &self.workers[&worker];
                if w.held.len() >= w.slots() {
                    break;
                }
                let idle = w.held.is_empty();
                let Some(id) = self.pick(worker, idle) else {
                    break;
                };
                let c = self.chunks.get_mut(&id).expect("picked chunks exist");
                c.holders.push(worker);
                self.pending.remove(&id);
                let (start, stop) = (c.start, c.stop);
                self.workers
                    .get_mut(&worker)
                    .expect("listed above")
                    .held
                    .insert(id);
                out.push(Action::Assign {
                    worker,
                    chunk: id,
                    start,
                    stop,
                });
            }
        }
    }

    /// The chunk to give `worker` next: requeued work first, then a new chunk if the
    /// memory cap allows, then (only to an idle worker) a copy of the oldest unfinished
    /// chunk held by one other worker.
    fn pick(&mut self, worker: WorkerId, idle: bool) -> Option<ChunkId> {
        if let Some(&id) = self.pending.iter().next() {
            return Some(id);
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
}
