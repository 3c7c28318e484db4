//! The master's side of `status`, `threads` and `stop`: the replies, computed from the
//! master's and the scheduler's state by pure functions (facts in, reply out), and the
//! small pieces of state control needs that the scheduler does not keep.
//!
//! The event loop (`super`) gathers the facts, calls these, and carries out the result:
//! it feeds [`Event::SetThreads`](crate::schedule::Event::SetThreads) for each worker a
//! [`ThreadsPlan`] names, sends the replies, and runs the clean stop. Nothing here reads
//! a socket, a file or a clock, so every reply is unit-tested below.
//!
//! # Promises
//! - A status reply has one row per worker the scheduler lists (connected ones, then
//!   those that left or were quarantined), with the arch, cores, address and busy
//!   threads its connection reported; shares are of the numbers all listed workers
//!   computed, in basis points, and never exceed 100 %.
//! - A set-threads request changes only connected workers; a name that matches nobody is
//!   remembered and warned about (`NotConnected`), an id that matches nobody changes and
//!   remembers nothing (the client reports it).
//! - [`ThreadMemory`]: the newest request that covers a worker (all, its name, or its
//!   name and address) gives its threads when it joins again, however the requests
//!   were ordered; its size is capped.

use crate::control::msg::{
    basis_points, Changed, JobStatus, OutputFormat, SetThreadsReply, SetThreadsRequest,
    StatusReply, StopReply, Target, ThreadsWarning, WorkerRow, WorkerState,
};
use crate::schedule::{self, WorkerId, WorkerStatus};
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

/// What a worker's connection told the master, kept for its `status` row (also after it
/// left, while the scheduler still lists it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PeerInfo {
    /// Its address and port as the master sees it.
    pub address: String,
    pub arch: String,
    pub cores: u32,
    /// Threads busy at its last heartbeat.
    pub busy: u32,
}

/// The job's figures a status reply reports, gathered by the event loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JobFacts {
    /// The job's range (the original start, also after a resume).
    pub start: u128,
    pub stop: u128,
    pub format: OutputFormat,
    /// Numbers written in order from `start` (resumed ones included).
    pub done: u128,
    pub primes: u64,
    pub bytes_written: u64,
    pub buffer_used: u64,
    pub buffer_cap: u64,
    pub redundancy: u32,
    /// Time since the last checkpoint; `None` when the output has none.
    pub checkpoint_age: Option<Duration>,
}

/// The job part of a status reply, at `rate` numbers per second.
pub(super) fn job_status(f: &JobFacts, rate: u64) -> JobStatus {
    let mut j = JobStatus {
        start: f.start,
        stop: f.stop,
        format: f.format,
        done: f.done.min(f.stop.saturating_sub(f.start).saturating_add(1)),
        primes: f.primes,
        rate,
        eta_secs: None,
        bytes_written: f.bytes_written,
        buffer_used: f.buffer_used,
        buffer_cap: f.buffer_cap,
        redundancy: f
            .redundancy
            .clamp(1, u32::from(crate::control::MAX_REDUNDANCY)) as u8,
        checkpoint_age_ms: f
            .checkpoint_age
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    };
    j.eta_secs = j.eta_at(rate);
    j
}

/// One row per worker the scheduler lists, `now` on the scheduler's clock.
pub(super) fn worker_rows(
    workers: &[WorkerStatus],
    peers: &BTreeMap<WorkerId, PeerInfo>,
    now: Duration,
) -> Vec<WorkerRow> {
    let whole: u128 = workers
        .iter()
        .fold(0u128, |s, w| s.saturating_add(w.numbers_done));
    workers
        .iter()
        .map(|w| {
            let peer = peers.get(&w.id);
            WorkerRow {
                id: w.id,
                name: w.name.clone(),
                // Without its connection's record (evicted), the scheduler's address
                // still tells the machine.
                address: peer.map_or_else(|| w.addr.to_string(), |p| p.address.clone()),
                arch: peer.map(|p| p.arch.clone()).unwrap_or_default(),
                cores: peer.map_or(0, |p| p.cores),
                threads: w.threads,
                busy: peer.map_or(0, |p| p.busy),
                chunks: w.chunks_done,
                rate: w.rate.map_or(0, |r| r.max(0.0) as u64),
                share_bp: basis_points(w.numbers_done, whole),
                last_heard_ms: u64::try_from(now.saturating_sub(w.last_heard).as_millis())
                    .unwrap_or(u64::MAX),
                state: match w.state {
                    schedule::WorkerState::Active => WorkerState::Active,
                    schedule::WorkerState::Quarantined => WorkerState::Quarantined,
                    schedule::WorkerState::Lost => WorkerState::Lost,
                },
            }
        })
        .collect()
}

/// The whole status reply.
pub(super) fn status_reply(
    job: &JobFacts,
    rate: u64,
    workers: &[WorkerStatus],
    peers: &BTreeMap<WorkerId, PeerInfo>,
    now: Duration,
) -> StatusReply {
    StatusReply {
        job: job_status(job, rate),
        workers: worker_rows(workers, peers, now),
    }
}

/// What a set-threads request does: the scheduler events to feed and the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ThreadsPlan {
    /// `Event::SetThreads { worker, .. }` to feed, in order (`None`: all workers).
    pub events: Vec<Option<WorkerId>>,
    /// The workers changed, by name and address, for [`ThreadMemory::note`].
    pub keys: Vec<(String, IpAddr)>,
    pub reply: SetThreadsReply,
}

/// Plans `req` against the connected workers in `workers` (rows of other states are
/// skipped: they get nothing now).
pub(super) fn plan_threads(
    req: &SetThreadsRequest,
    workers: &[WorkerStatus],
    peers: &BTreeMap<WorkerId, PeerInfo>,
) -> ThreadsPlan {
    let live = workers
        .iter()
        .filter(|w| w.state == schedule::WorkerState::Active);
    let hit: Vec<&WorkerStatus> = match &req.target {
        Target::All => live.collect(),
        Target::Name(name) => live.filter(|w| &w.name == name).collect(),
        Target::Id(id) => live.filter(|w| w.id == *id).collect(),
    };
    let events = match req.target {
        Target::All => vec![None],
        _ => hit.iter().map(|w| Some(w.id)).collect(),
    };
    let changed = hit
        .iter()
        .map(|w| Changed {
            id: w.id,
            name: w.name.clone(),
            cores: peers.get(&w.id).map_or(0, |p| p.cores),
            before: w.threads,
        })
        .collect();
    let mut reply = SetThreadsReply::new(req.threads, changed);
    // A worker that did not say how many cores it has (0) is not warned about.
    reply
        .warnings
        .retain(|w| !matches!(w, ThreadsWarning::AboveCores { cores, .. } if *cores == 0));
    if let (Target::Name(name), true) = (&req.target, hit.is_empty()) {
        reply
            .warnings
            .push(ThreadsWarning::NotConnected { name: name.clone() });
    }
    ThreadsPlan {
        events,
        keys: hit.iter().map(|w| (w.name.clone(), w.addr)).collect(),
        reply,
    }
}

/// The reply to a stop request, once the output is checkpointed and `workers` were told
/// to wait.
pub(super) fn stop_reply(done: u128, primes: u64, checkpointed: bool, workers: u32) -> StopReply {
    StopReply {
        done,
        primes,
        checkpointed,
        workers,
    }
}

/// Numbers per second over the recent past, from samples of the numbers done.
#[derive(Debug, Default)]
pub(super) struct RateWindow {
    samples: VecDeque<(Duration, u128)>,
}

/// How far back the rate looks, and how often a sample is kept.
const RATE_SPAN: Duration = Duration::from_secs(20);
const RATE_STEP: Duration = Duration::from_millis(500);

impl RateWindow {
    /// Notes that `done` numbers were done at `now` (kept at most every [`RATE_STEP`],
    /// for [`RATE_SPAN`]: a few dozen samples).
    pub(super) fn record(&mut self, now: Duration, done: u128) {
        if let Some(&(last, _)) = self.samples.back() {
            if now < last + RATE_STEP {
                return;
            }
        }
        self.samples.push_back((now, done));
        while self
            .samples
            .front()
            .is_some_and(|&(t, _)| now.saturating_sub(t) > RATE_SPAN)
        {
            self.samples.pop_front();
        }
    }

    /// The rate between the oldest kept sample and `done` at `now`; 0 until some time
    /// has passed.
    pub(super) fn rate(&self, now: Duration, done: u128) -> u64 {
        let Some(&(t0, d0)) = self.samples.front() else {
            return 0;
        };
        let secs = now.saturating_sub(t0).as_secs_f64();
        if secs < 0.1 {
            return 0;
        }
        (done.saturating_sub(d0) as f64 / secs) as u64
    }
}

/// Most names and name-address pairs remembered (a flood of distinct `threads --worker`
/// requests must not grow the master).
const MAX_REMEMBERED: usize = 1024;

/// Thread counts set by control, to give workers that join later. The scheduler
/// remembers per name and address only the workers connected at the time; this also
/// covers "all" and names not connected yet, and lets the newest request win.
#[derive(Debug, Default)]
pub(super) struct ThreadMemory {
    /// Requests so far: orders the settings below.
    seq: u64,
    all: Option<(u64, u32)>,
    by_name: BTreeMap<String, (u64, u32)>,
    by_key: BTreeMap<(String, IpAddr), (u64, u32)>,
}

impl ThreadMemory {
    /// Remembers a request that `plan` carried out.
    pub(super) fn note(&mut self, req: &SetThreadsRequest, plan: &ThreadsPlan) {
        self.seq += 1;
        let set = (self.seq, req.threads);
        match &req.target {
            Target::All => self.all = Some(set),
            Target::Name(name) => {
                insert_capped(&mut self.by_name, name.clone(), set);
            }
            Target::Id(_) => {
                for key in &plan.keys {
                    insert_capped(&mut self.by_key, key.clone(), set);
                }
            }
        }
    }

    /// Threads for a worker called `name` joining from `addr`: the newest request that
    /// covers it, if any.
    pub(super) fn for_worker(&self, name: &str, addr: IpAddr) -> Option<u32> {
        let by_key = self.by_key.get(&(name.to_string(), addr)).copied();
        [self.all, self.by_name.get(name).copied(), by_key]
            .into_iter()
            .flatten()
            .max_by_key(|&(seq, _)| seq)
            .map(|(_, threads)| threads)
    }
}

/// Inserts, evicting the oldest setting when the map is full.
fn insert_capped<K: Ord + Clone>(map: &mut BTreeMap<K, (u64, u32)>, key: K, set: (u64, u32)) {
    if map.len() >= MAX_REMEMBERED && !map.contains_key(&key) {
        let oldest = map
            .iter()
            .min_by_key(|(_, &(seq, _))| seq)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            map.remove(&k);
        }
    }
    map.insert(key, set);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 8));

    fn row(id: WorkerId, name: &str, addr: IpAddr, threads: u32) -> WorkerStatus {
        WorkerStatus {
            id,
            name: name.into(),
            addr,
            threads,
            held: 0,
            chunks_done: 0,
            numbers_done: 0,
            rate: None,
            last_heard: Duration::ZERO,
            state: schedule::WorkerState::Active,
        }
    }

    fn peer(port: u16, arch: &str, cores: u32, busy: u32) -> PeerInfo {
        PeerInfo {
            address: format!("10.0.0.7:{port}"),
            arch: arch.into(),
            cores,
            busy,
        }
    }

    fn facts() -> JobFacts {
        JobFacts {
            start: 1000,
            stop: 2000,
            format: OutputFormat::Compact,
            done: 500,
            primes: 73,
            bytes_written: 80,
            buffer_used: 16,
            buffer_cap: 24 << 20,
            redundancy: 2,
            checkpoint_age: None,
        }
    }

    #[test]
    fn status_reply_from_the_facts() {
        let mut pi = row(3, "pi3", A, 4);
        pi.chunks_done = 12;
        pi.numbers_done = 300;
        pi.rate = Some(250.7);
        pi.last_heard = Duration::from_millis(8500);
        let mut gone = row(4, "x86", B, 8);
        gone.numbers_done = 100;
        gone.state = schedule::WorkerState::Quarantined;
        let peers = BTreeMap::from([(3, peer(5000, "armv7", 4, 3))]);
        let now = Duration::from_secs(10);
        let s = status_reply(&facts(), 250, &[pi, gone], &peers, now);
        assert_eq!(s.job.start, 1000);
        assert_eq!(s.job.stop, 2000);
        assert_eq!(s.job.format, OutputFormat::Compact);
        assert_eq!(s.job.done, 500);
        assert_eq!(s.job.rate, 250);
        // 501 numbers left at 250/s: 3 s, rounded up.
        assert_eq!(s.job.eta_secs, Some(3));
        assert_eq!(s.job.redundancy, 2);
        assert_eq!(s.job.checkpoint_age_ms, None);
        assert_eq!(s.workers.len(), 2);
        let w = &s.workers[0];
        assert_eq!(
            (w.id, w.name.as_str(), w.address.as_str(), w.arch.as_str()),
            (3, "pi3", "10.0.0.7:5000", "armv7")
        );
        assert_eq!(
            (w.cores, w.threads, w.busy, w.chunks, w.rate),
            (4, 4, 3, 12, 250)
        );
        assert_eq!(w.share_bp, 7500);
        assert_eq!(w.last_heard_ms, 1500);
        assert_eq!(w.state, WorkerState::Active);
        // A worker without its connection's record still has an address and a state.
        let g = &s.workers[1];
        assert_eq!((g.address.as_str(), g.arch.as_str()), ("10.0.0.8", ""));
        assert_eq!((g.share_bp, g.state), (2500, WorkerState::Quarantined));
        // What the master builds, a client parses back.
        let mut bytes = Vec::new();
        s.emit(&mut bytes);
        assert_eq!(StatusReply::parse(&bytes).unwrap(), s);
    }

    #[test]
    fn job_status_edges() {
        let mut f = facts();
        f.checkpoint_age = Some(Duration::from_millis(1234));
        f.redundancy = 9; // clamped into what the wire allows
        let j = job_status(&f, 0);
        assert_eq!(j.eta_secs, None, "no ETA without a rate");
        assert_eq!(j.checkpoint_age_ms, Some(1234));
        assert_eq!(j.redundancy, 5);
        f.done = 1001;
        assert_eq!(job_status(&f, 0).eta_secs, Some(0), "done: nothing left");
        f.done = 5000;
        assert_eq!(job_status(&f, 0).done, 1001, "never past the range");
        // The full u128 range does not overflow.
        f.start = 0;
        f.stop = u128::MAX;
        f.done = 1 << 100;
        assert!(job_status(&f, 1).eta_secs.is_some());
        // No workers: shares are 0, not a division by zero.
        let rows = worker_rows(&[row(2, "a", A, 1)], &BTreeMap::new(), Duration::ZERO);
        assert_eq!(rows[0].share_bp, 0);
    }

    #[test]
    fn threads_for_all_by_name_and_by_id() {
        let mut lost = row(5, "pi", B, 2);
        lost.state = schedule::WorkerState::Lost;
        let workers = [row(2, "pi", A, 4), row(3, "x86", B, 8), lost];
        let peers = BTreeMap::from([(2, peer(1, "armv7", 4, 0)), (3, peer(2, "x86_64", 16, 0))]);

        let all = SetThreadsRequest {
            target: Target::All,
            threads: 6,
        };
        let p = plan_threads(&all, &workers, &peers);
        assert_eq!(p.events, vec![None]);
        let ids: Vec<u32> = p.reply.changed.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![2, 3], "connected workers only");
        assert_eq!(p.reply.changed[0].before, 4);
        assert_eq!(p.reply.threads, 6);
        assert_eq!(
            p.reply.warnings,
            vec![ThreadsWarning::AboveCores {
                id: 2,
                name: "pi".into(),
                cores: 4
            }]
        );

        let by_name = SetThreadsRequest {
            target: Target::Name("x86".into()),
            threads: 2,
        };
        let p = plan_threads(&by_name, &workers, &peers);
        assert_eq!(p.events, vec![Some(3)]);
        assert_eq!(p.keys, vec![("x86".to_string(), B)]);
        assert!(p.reply.warnings.is_empty());

        let absent = SetThreadsRequest {
            target: Target::Name("nobody".into()),
            threads: 2,
        };
        let p = plan_threads(&absent, &workers, &peers);
        assert!(p.events.is_empty() && p.reply.changed.is_empty());
        assert_eq!(
            p.reply.warnings,
            vec![ThreadsWarning::NotConnected {
                name: "nobody".into()
            }]
        );

        let by_id = SetThreadsRequest {
            target: Target::Id(2),
            threads: 1,
        };
        let p = plan_threads(&by_id, &workers, &peers);
        assert_eq!(p.events, vec![Some(2)]);
        // A lost worker's id changes nothing: the client reports the empty reply.
        let gone = SetThreadsRequest {
            target: Target::Id(5),
            threads: 1,
        };
        let p = plan_threads(&gone, &workers, &peers);
        assert!(p.events.is_empty() && p.reply.changed.is_empty() && p.reply.warnings.is_empty());
    }

    #[test]
    fn the_newest_request_gives_a_rejoining_worker_its_threads() {
        let workers = [row(2, "pi", A, 4)];
        let peers = BTreeMap::new();
        let mut mem = ThreadMemory::default();
        assert_eq!(mem.for_worker("pi", A), None);
        let apply = |mem: &mut ThreadMemory, target: Target, threads: u32| {
            let req = SetThreadsRequest { target, threads };
            let plan = plan_threads(&req, &workers, &peers);
            mem.note(&req, &plan);
        };
        apply(&mut mem, Target::Id(2), 3);
        assert_eq!(mem.for_worker("pi", A), Some(3));
        assert_eq!(mem.for_worker("pi", B), None, "by id: that machine only");
        apply(&mut mem, Target::All, 8);
        assert_eq!(mem.for_worker("pi", A), Some(8), "all came later");
        assert_eq!(mem.for_worker("new", B), Some(8));
        apply(&mut mem, Target::Name("pi".into()), 2);
        assert_eq!(mem.for_worker("pi", B), Some(2));
        assert_eq!(mem.for_worker("other", B), Some(8));
    }

    #[test]
    fn thread_memory_is_capped() {
        let mut mem = ThreadMemory::default();
        for i in 0..(MAX_REMEMBERED + 10) {
            let req = SetThreadsRequest {
                target: Target::Name(format!("w{i}")),
                threads: 2,
            };
            let plan = plan_threads(&req, &[], &BTreeMap::new());
            mem.note(&req, &plan);
        }
        assert_eq!(mem.by_name.len(), MAX_REMEMBERED);
        assert_eq!(mem.for_worker("w0", A), None, "the oldest went first");
        assert_eq!(
            mem.for_worker(&format!("w{}", MAX_REMEMBERED + 9), A),
            Some(2)
        );
    }

    #[test]
    fn rate_over_the_recent_past() {
        let mut r = RateWindow::default();
        let s = Duration::from_secs;
        assert_eq!(r.rate(s(0), 0), 0);
        r.record(s(0), 0);
        assert_eq!(r.rate(s(0), 0), 0, "no time passed");
        for t in 1..=10 {
            r.record(s(t), u128::from(t) * 1000);
        }
        assert_eq!(r.rate(s(10), 10_000), 1000);
        // A burst long ago no longer counts: after 40 s at 10/s, the rate is 10/s.
        for t in 11..=50 {
            r.record(s(t), 10_000 + u128::from(t - 10) * 10);
        }
        assert_eq!(r.rate(s(50), 10_400), 10);
        assert!(r.samples.len() <= 42);
    }

    #[test]
    fn stop_reply_parses_back() {
        let r = stop_reply(500, 73, true, 2);
        let mut bytes = Vec::new();
        r.emit(&mut bytes);
        assert_eq!(StopReply::parse(&bytes).unwrap(), r);
    }
}
