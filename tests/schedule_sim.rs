//! Deterministic simulation of the scheduler: seeded random joins, crashes, hangs,
//! zombies (heartbeats, no results), slow and fast workers, results out of order and
//! lying workers: a shifted range, and, with redundancy K = 2 or 3 or spot checks, wrong
//! answers (a dropped prime, an added composite, a wrong count, a consistent but wrong
//! digest) and colluders (fewer than K, all giving the same wrong answer). Workers
//! also leave mid-vote. With kernels on, workers offer the sieve (code 1) and the
//! pre-sieve (code 3), which takes [`PRESIEVE_SLOWDOWN`] times longer, as it does below
//! 1e16; some workers' pre-sieve is faulty. After every step:
//! chunks are written exactly once, in order, with the right content, contiguous from
//! the job's start; the reorder buffer stays within its bound; and every job ends with
//! the whole range written.

use primecluster::schedule::{Action, ChunkId, Config, DropReason, Event, Scheduler, WorkerId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

mod reference;
use reference::Rng;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Honest,
    /// Stops sending anything, keeps its connection: only the timeout finds it.
    Hung,
    /// Sends results with a shifted range.
    Liar,
    /// Heartbeats but never returns a result: only chunk deadlines find it.
    Zombie,
    /// Right range, wrong answer.
    Lie(Lie),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lie {
    /// One prime left out (which one differs per liar): count - 1, another digest.
    DropPrime,
    /// One composite added: count + 1, another digest.
    AddComposite,
    /// The right primes with a wrong count.
    WrongCount,
    /// The right count, a digest of other numbers.
    WrongDigest,
    /// Every colluder gives the same wrong answer.
    Collude,
    /// The right answer with the sieve, a wrong one (its own) with the pre-sieve: a
    /// broken kernel on one machine.
    FaultyPresieve,
}

/// How much longer a pre-sieve copy takes than the sieve (40M numbers/s against ~1e9).
const PRESIEVE_SLOWDOWN: u64 = 25;
/// The pre-sieve's kernel code (`wire::kernel_code::PRESIEVE`).
const PRESIEVE: u8 = 3;

/// What the simulation mixes in besides honest, hung, zombie and range liars.
#[derive(Clone, Copy, Debug)]
struct Mix {
    redundancy: u32,
    spot_check: f64,
    /// Workers that give wrong answers join (only where votes can catch them).
    answer_liars: bool,
    /// At most this many colluders join over the whole job (fewer than K).
    colluders: u32,
    /// Workers offer the sieve and the slow pre-sieve; with `answer_liars`, some have a
    /// faulty pre-sieve.
    kernels: bool,
}

const PLAIN: Mix = Mix {
    redundancy: 1,
    spot_check: 0.0,
    answer_liars: false,
    colluders: 0,
    kernels: false,
};

/// The right (count, digest) of a chunk: any function of its range will do.
fn truth(start: u128, stop: u128) -> (u64, u64) {
    let h = |x: u128| {
        let mut z = (x as u64) ^ ((x >> 64) as u64).rotate_left(17);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (10 + h(start) % 1000, h(start ^ stop.rotate_left(7)))
}

struct SimWorker {
    threads: u32,
    /// Numbers per millisecond per thread.
    speed: u64,
    /// When each thread is free again: a chunk waits for a free thread.
    lanes: Vec<Duration>,
    /// Chunk, range, when it is computed, and the kernel asked for.
    held: Vec<(ChunkId, u128, u128, Duration, Option<u8>)>,
    kind: Kind,
    /// When it last sent a heartbeat: it sends one at least every 200 ms, like a real
    /// worker's network thread, and sometimes more often.
    last_beat: Duration,
}

/// The payload a result carries in the simulation: its own range and digest, so a write
/// can be checked against the chunk it claims to be and its right content.
type Payload = (u128, u128, u64);

struct Sim {
    rng: Rng,
    now: Duration,
    s: Scheduler<Payload>,
    workers: BTreeMap<WorkerId, SimWorker>,
    next_worker: WorkerId,
    expect_next: u128,
    expect_chunk: ChunkId,
    stop: u128,
    done: bool,
    max_result: u64,
    cap: u64,
    writes: u64,
    drops: u64,
    zombies_dropped: u64,
    /// Set by tests that pick their workers: no random joins or crashes.
    fixed: bool,
    /// Chance per step, in percent, that a worker's connection ends.
    crash_percent: u64,
    /// The longest time between two writes (or from the start to the first).
    longest_stall: Duration,
    last_write: Duration,
    mix: Mix,
    /// Every worker that ever joined, by id (quarantines may name gone ones).
    kinds: BTreeMap<WorkerId, Kind>,
    colluders_joined: u32,
    /// Workers whose wrong answers reached the scheduler: all must end quarantined.
    lied: BTreeSet<WorkerId>,
    quarantined: BTreeSet<WorkerId>,
    /// Wrong answers sent per chunk not yet written: each may be stored until its vote
    /// is settled, so the memory bound allows one result each.
    lies_out: BTreeMap<ChunkId, u64>,
    /// Kernels asked for each chunk's copies, while it is not written.
    kernels_of: BTreeMap<ChunkId, Vec<Option<u8>>>,
    /// Written chunks whose copies used both the sieve and the pre-sieve.
    diverse_writes: u64,
}

impl Sim {
    fn new(seed: u64, start: u128, stop: u128) -> Self {
        Self::with_mix(seed, start, stop, PLAIN)
    }

    fn with_mix(seed: u64, start: u128, stop: u128, mix: Mix) -> Self {
        let mut rng = Rng::xorshift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut cfg = Config::new(start, stop, true);
        cfg.initial_width = 1 + rng.below(5000) as u128;
        cfg.min_width = 1 + rng.below(50) as u128;
        cfg.max_width = 20_000;
        cfg.target_chunk_time = Duration::from_millis(20 + rng.below(200));
        cfg.heartbeat_timeout = Duration::from_millis(500);
        // Mostly a tight buffer (late chunks copied to idle workers); sometimes a
        // roomy one, where only chunk deadlines take a zombie's chunks away.
        cfg.max_buffer_bytes = if rng.chance(30) {
            1 << 24
        } else {
            2_000 + rng.below(20_000)
        };
        // The slowest simulated thread does 1 number per ms; assuming up to 10 times
        // that must not drop an honest worker (each miss halves the rate assumed).
        cfg.assumed_rate = 1000.0 * (1 + rng.below(10)) as f64;
        if mix.kernels {
            // The slowest thread's pre-sieve is 25 times slower still.
            cfg.assumed_rate /= PRESIEVE_SLOWDOWN as f64;
        }
        cfg.redundancy = mix.redundancy;
        cfg.spot_check = mix.spot_check;
        cfg.seed = seed;
        let cap = cfg.max_buffer_bytes;
        Sim {
            rng,
            now: Duration::ZERO,
            s: Scheduler::new(cfg),
            workers: BTreeMap::new(),
            next_worker: 1,
            expect_next: start,
            expect_chunk: 0,
            stop,
            done: false,
            max_result: 0,
            cap,
            writes: 0,
            drops: 0,
            zombies_dropped: 0,
            fixed: false,
            crash_percent: 2,
            longest_stall: Duration::ZERO,
            last_write: Duration::ZERO,
            mix,
            kinds: BTreeMap::new(),
            colluders_joined: 0,
            lied: BTreeSet::new(),
            quarantined: BTreeSet::new(),
            lies_out: BTreeMap::new(),
            kernels_of: BTreeMap::new(),
            diverse_writes: 0,
        }
    }

    fn feed(&mut self, ev: Event<Payload>) {
        let actions = self.s.on(ev, self.now);
        for a in actions {
            self.apply(a);
        }
        // The memory bound: chunks are cut against estimates; a result may be up to
        // ~1.5x its estimate here, and the first chunk is always allowed.
        let lies: u64 = self.lies_out.values().sum();
        assert!(
            self.s.buffered_bytes() <= 2 * self.cap + self.max_result * (1 + lies),
            "buffer {} over bound (cap {})",
            self.s.buffered_bytes(),
            self.cap
        );
    }

    fn apply(&mut self, a: Action<Payload>) {
        match a {
            Action::Assign {
                worker,
                chunk,
                start,
                stop,
                kernel,
            } => {
                assert!(start <= stop);
                let w = self
                    .workers
                    .get_mut(&worker)
                    .expect("assign to a live worker");
                self.kernels_of.entry(chunk).or_default().push(kernel);
                let ms = work_ms(start, stop, w.speed, kernel).min(60_000);
                let lane = (0..w.lanes.len())
                    .min_by_key(|&i| w.lanes[i])
                    .expect("at least one thread");
                let at = w.lanes[lane].max(self.now) + Duration::from_millis(ms + 1);
                w.lanes[lane] = at;
                w.held.push((chunk, start, stop, at, kernel));
            }
            Action::Cancel { worker, chunk } => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.held.retain(|h| h.0 != chunk);
                }
            }
            Action::Write {
                chunk,
                start,
                stop,
                count,
                payload,
            } => {
                assert!(!self.done, "write after done");
                assert_eq!(
                    chunk, self.expect_chunk,
                    "chunks written in order, each once"
                );
                assert_eq!(start, self.expect_next, "no gap, no overlap");
                let (right_count, right_digest) = truth(start, stop);
                assert_eq!(
                    payload,
                    (start, stop, right_digest),
                    "content of chunk {chunk}"
                );
                assert_eq!(count, right_count, "count of chunk {chunk}");
                self.lies_out.remove(&chunk);
                let used = self.kernels_of.remove(&chunk).unwrap_or_default();
                if used.contains(&Some(1)) && used.contains(&Some(PRESIEVE)) {
                    self.diverse_writes += 1;
                }
                self.expect_chunk += 1;
                self.expect_next = stop.wrapping_add(1);
                self.writes += 1;
                self.longest_stall = self.longest_stall.max(self.now - self.last_write);
                self.last_write = self.now;
            }
            Action::Drop { worker, reason } => {
                let w = self.workers.remove(&worker).expect("drop a live worker");
                match reason {
                    DropReason::Silent(_) => {
                        assert_eq!(w.kind, Kind::Hung, "only hung workers go silent")
                    }
                    DropReason::BadResult(_) => {
                        assert_eq!(w.kind, Kind::Liar, "only liars send bad results")
                    }
                    DropReason::MissedDeadlines(_) => {
                        assert_eq!(w.kind, Kind::Zombie, "only zombies miss deadlines");
                        self.zombies_dropped += 1;
                    }
                    DropReason::Quarantined { .. } => panic!("no worker joins twice here"),
                }
                self.drops += 1;
            }
            Action::Quarantine { worker, name, .. } => {
                let id: WorkerId = name[1..].parse().expect("names are w<id>");
                assert_eq!(worker.is_some(), self.workers.contains_key(&id));
                assert!(
                    matches!(self.kinds[&id], Kind::Lie(_)),
                    "{name} ({:?}) quarantined",
                    self.kinds[&id]
                );
                assert!(self.quarantined.insert(id), "{name} quarantined twice");
                self.workers.remove(&id);
            }
            Action::SetThreads { .. } => panic!("no set-threads asked for"),
            Action::Warn(_) => {}
            Action::Done => {
                for id in &self.lied {
                    assert!(self.quarantined.contains(id), "liar w{id} not quarantined");
                }
                assert_eq!(
                    self.expect_next,
                    self.stop.wrapping_add(1),
                    "done only when all is written"
                );
                self.done = true;
            }
        }
    }

    fn join(&mut self) {
        let kind = match self.rng.below(100) {
            0..=7 => Kind::Hung,
            8..=13 => Kind::Liar,
            14..=19 => Kind::Zombie,
            20..=31 if self.mix.answer_liars => {
                let lie = match self.rng.below(5) {
                    0 => Lie::DropPrime,
                    1 => Lie::AddComposite,
                    2 => Lie::WrongCount,
                    3 => Lie::WrongDigest,
                    _ if self.mix.kernels && self.rng.chance(50) => Lie::FaultyPresieve,
                    _ if self.colluders_joined < self.mix.colluders => {
                        self.colluders_joined += 1;
                        Lie::Collude
                    }
                    _ => Lie::WrongDigest,
                };
                Kind::Lie(lie)
            }
            _ => Kind::Honest,
        };
        let threads = 1 + self.rng.below(8) as u32;
        let speed = 1 + self.rng.below(400);
        self.join_as(kind, threads, speed);
    }

    fn join_as(&mut self, kind: Kind, threads: u32, speed: u64) {
        let id = self.next_worker;
        self.next_worker += 1;
        let w = SimWorker {
            threads,
            speed,
            lanes: vec![self.now; threads as usize],
            held: Vec::new(),
            kind,
            last_beat: self.now,
        };
        self.workers.insert(id, w);
        self.kinds.insert(id, kind);
        self.feed(Event::Joined {
            worker: id,
            threads,
            name: format!("w{id}"),
            addr: std::net::IpAddr::from([10, 0, (id >> 8) as u8, id as u8]),
            kernels: if self.mix.kernels { 0b1010 } else { 0 },
        });
    }

    fn step(&mut self) {
        self.now += Duration::from_millis(1 + self.rng.below(40));
        let honest = self
            .workers
            .values()
            .filter(|w| w.kind == Kind::Honest)
            .count();
        if !self.fixed && (honest == 0 || self.rng.chance(3)) {
            self.join();
        }
        if !self.fixed && !self.workers.is_empty() && self.rng.chance(self.crash_percent) {
            // A crash or disconnect: the master sees EOF.
            let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
            let id = ids[self.rng.below(ids.len() as u64) as usize];
            self.workers.remove(&id);
            self.feed(Event::Left { worker: id });
        }
        let ids: Vec<WorkerId> = self.workers.keys().copied().collect();
        for id in ids {
            let Some(w) = self.workers.get_mut(&id) else {
                continue;
            };
            if w.kind == Kind::Hung {
                continue;
            }
            let zombie = w.kind == Kind::Zombie;
            let threads = w.threads;
            if self.now >= w.last_beat + Duration::from_millis(200) || self.rng.chance(30) {
                w.last_beat = self.now;
                self.feed(Event::Heard {
                    worker: id,
                    threads,
                });
            }
            let Some(w) = self.workers.get_mut(&id) else {
                continue;
            };
            if zombie {
                continue;
            }
            // Finish any chunk whose time has come, in random order among them.
            let ready: Vec<usize> = (0..w.held.len())
                .filter(|&i| w.held[i].3 <= self.now)
                .collect();
            if ready.is_empty() {
                continue;
            }
            let pick = ready[(self.rng.next() % ready.len() as u64) as usize];
            let (chunk, start, mut stop, _, kernel) = w.held.remove(pick);
            let kind = w.kind;
            if kind == Kind::Liar && self.rng.chance(50) && stop > start {
                stop -= 1;
            }
            // About one byte per prime, 1.6 times the prime number theorem's count, so
            // results overshoot the scheduler's estimates.
            let bytes = ((stop - start) as f64 / (start as f64).ln() * 1.6) as u64 + 8;
            self.max_result = self.max_result.max(bytes);
            // Time on one thread, as a real worker reports it.
            let compute = Duration::from_millis(work_ms(start, stop, w.speed, kernel) + 1);
            let (mut count, mut digest) = truth(start, stop);
            // A liar's own salt: two liars of one kind still disagree.
            let salt = 0x1000 + id as u64;
            match kind {
                Kind::Lie(Lie::DropPrime) => (count, digest) = (count - 1, digest ^ salt),
                Kind::Lie(Lie::AddComposite) => (count, digest) = (count + 1, digest ^ salt),
                Kind::Lie(Lie::WrongCount) => count += 1 + id as u64,
                Kind::Lie(Lie::WrongDigest) => digest ^= salt,
                Kind::Lie(Lie::Collude) => digest ^= 0x0c01_10de,
                Kind::Lie(Lie::FaultyPresieve) if kernel == Some(PRESIEVE) => {
                    (count, digest) = (count - 1, digest ^ salt)
                }
                _ => {}
            }
            let lied = match kind {
                Kind::Lie(Lie::FaultyPresieve) => kernel == Some(PRESIEVE),
                Kind::Lie(_) => true,
                _ => false,
            };
            if lied {
                self.lied.insert(id);
                *self.lies_out.entry(chunk).or_default() += 1;
            }
            self.feed(Event::Result {
                worker: id,
                chunk,
                start,
                stop,
                count,
                digest,
                compute,
                bytes,
                payload: (start, stop, digest),
            });
        }
        if self.s.next_deadline().is_some_and(|d| d <= self.now) {
            self.feed(Event::Tick);
        }
    }
}

/// Milliseconds a chunk takes on one thread of a worker doing `speed` numbers per ms
/// with the sieve; a pre-sieve copy takes [`PRESIEVE_SLOWDOWN`] times longer.
fn work_ms(start: u128, stop: u128, speed: u64, kernel: Option<u8>) -> u64 {
    let ms = ((stop - start) / speed as u128) as u64;
    if kernel == Some(PRESIEVE) {
        ms * PRESIEVE_SLOWDOWN
    } else {
        ms
    }
}

fn run_seed(seed: u64, start: u128, stop: u128) -> Sim {
    let mut sim = Sim::new(seed, start, stop);
    finish(&mut sim, seed);
    sim
}

fn finish(sim: &mut Sim, seed: u64) {
    for _ in 0..200_000 {
        if sim.done {
            return;
        }
        sim.step();
    }
    panic!(
        "seed {seed}: job not done after 200000 steps (written up to {})",
        sim.expect_next
    );
}

#[test]
fn many_seeds_small_ranges() {
    let mut drops = 0;
    for seed in 0..300 {
        let len = 1 + (seed * 7919) % 200_000;
        drops += run_seed(seed, 1000, 1000 + len as u128).drops;
    }
    assert!(drops > 0, "the simulation should exercise drops");
}

#[test]
fn zombies_in_longer_seeded_jobs_are_dropped_at_their_deadlines() {
    let mut zombies = 0;
    for seed in 3000..3030 {
        let mut sim = Sim::new(seed, 1 << 40, (1 << 40) + 10_000_000);
        sim.crash_percent = 0;
        finish(&mut sim, seed);
        zombies += sim.zombies_dropped;
    }
    assert!(zombies > 0, "no zombie was dropped for missed deadlines");
}

#[test]
fn one_zombie_and_one_honest_worker_finish_without_a_long_stall() {
    for seed in 0..20 {
        let mut sim = Sim::new(seed, 10_000, 2_000_000);
        sim.s.config_mut().assumed_rate = 100_000.0;
        // A buffer big enough that the honest worker never runs idle before the end:
        // only the deadlines can take the zombie's chunks from it.
        sim.s.config_mut().max_buffer_bytes = 1 << 30;
        sim.cap = 1 << 30;
        sim.fixed = true;
        // The zombie joins first, so it holds the job's first chunks.
        sim.join_as(Kind::Zombie, 2, 100);
        sim.join_as(Kind::Honest, 2, 100);
        finish(&mut sim, seed);
        assert_eq!(
            sim.zombies_dropped, 1,
            "seed {seed}: the zombie was dropped"
        );
        // Its chunks are copied at their deadline (a few seconds here), not when the
        // honest worker runs out of other work (about 10 s of it).
        assert!(
            sim.longest_stall < Duration::from_secs(5),
            "seed {seed}: output stalled for {:?}",
            sim.longest_stall
        );
    }
}

#[test]
fn seeds_at_the_top_of_u128() {
    for seed in 1000..1050 {
        run_seed(seed, u128::MAX - 300_000, u128::MAX);
    }
}

#[test]
fn seeds_straddling_2_pow_64() {
    for seed in 2000..2050 {
        let mid = 1u128 << 64;
        run_seed(seed, mid - 50_000, mid + 50_000);
    }
}

#[test]
fn late_head_chunk_goes_to_an_idle_worker_at_the_cap() {
    let mut cfg = Config::new(1_000_000, 100_000_000, true);
    cfg.initial_width = 10_000;
    cfg.min_width = 10_000;
    cfg.max_width = 10_000;
    cfg.max_buffer_bytes = 3_000;
    let mut s: Scheduler<u8> = Scheduler::new(cfg);
    let t = Duration::ZERO;
    s.on(
        Event::Joined {
            worker: 1,
            threads: 1,
            name: "slow".into(),
            addr: std::net::IpAddr::from([127, 0, 0, 1]),
            kernels: 0,
        },
        t,
    );
    let held_slow = s.held_by(1);
    assert!(!held_slow.is_empty());
    let acts = s.on(
        Event::Joined {
            worker: 2,
            threads: 1,
            name: "fast".into(),
            addr: std::net::IpAddr::from([127, 0, 0, 1]),
            kernels: 0,
        },
        t,
    );
    // Worker 2 gets what the cap allows; then, finishing it all while the slow one
    // keeps chunk 0, it must be given chunk 0 as well.
    let mut queue: Vec<(ChunkId, u128, u128)> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Assign {
                worker: 2,
                chunk,
                start,
                stop,
                ..
            } => Some((*chunk, *start, *stop)),
            _ => None,
        })
        .collect();
    let mut got_head = queue.iter().any(|c| c.0 == held_slow[0]);
    let mut rounds = 0;
    while let Some((chunk, start, stop)) = queue.pop() {
        rounds += 1;
        assert!(rounds < 100);
        let ev = Event::Result {
            worker: 2,
            chunk,
            start,
            stop,
            count: 0,
            digest: 0,
            compute: Duration::from_millis(5),
            bytes: 800,
            payload: 0,
        };
        for a in s.on(ev, t) {
            if let Action::Assign {
                worker: 2,
                chunk,
                start,
                stop,
                ..
            } = a
            {
                got_head |= chunk == held_slow[0];
                queue.push((chunk, start, stop));
            }
        }
        if got_head {
            break;
        }
    }
    assert!(
        got_head,
        "the idle worker was never given the late head chunk"
    );
}

#[test]
fn first_result_wins_and_other_holder_is_cancelled() {
    let mut cfg = Config::new(0, 999, true);
    cfg.initial_width = 1000;
    let mut s: Scheduler<u8> = Scheduler::new(cfg);
    let t = Duration::ZERO;
    s.on(
        Event::Joined {
            worker: 1,
            threads: 1,
            name: "a".into(),
            addr: std::net::IpAddr::from([127, 0, 0, 1]),
            kernels: 0,
        },
        t,
    );
    let acts = s.on(
        Event::Joined {
            worker: 2,
            threads: 1,
            name: "b".into(),
            addr: std::net::IpAddr::from([127, 0, 0, 1]),
            kernels: 0,
        },
        t,
    );
    // The whole job is one chunk; the idle second worker gets a copy.
    assert!(acts.contains(&Action::Assign {
        worker: 2,
        chunk: 0,
        start: 0,
        stop: 999,
        kernel: None
    }));
    let res = |worker| Event::Result {
        worker,
        chunk: 0,
        start: 0,
        stop: 999,
        count: 168,
        digest: 1,
        compute: Duration::from_millis(5),
        bytes: 168,
        payload: worker as u8,
    };
    let acts = s.on(res(2), t);
    assert!(acts.contains(&Action::Cancel {
        worker: 1,
        chunk: 0
    }));
    assert!(acts
        .iter()
        .any(|a| matches!(a, Action::Write { payload: 2, .. })));
    assert!(acts.contains(&Action::Done));
    // The cancelled holder's late result is ignored, not an error.
    assert!(s.on(res(1), t).is_empty());
}

/// Runs seeds with `mix` and returns (liars quarantined, warnings-free writes).
fn run_mix(mix: Mix, seeds: std::ops::Range<u64>) -> (usize, u64) {
    let (q, w, _) = run_mix_kernels(mix, seeds);
    (q, w)
}

/// [`run_mix`], also returning the writes whose copies used both kernels.
fn run_mix_kernels(mix: Mix, seeds: std::ops::Range<u64>) -> (usize, u64, u64) {
    let (mut quarantined, mut writes, mut diverse) = (0, 0, 0);
    for seed in seeds {
        let len = 20_000 + (seed * 7919) % 300_000;
        let mut sim = Sim::with_mix(seed, 5000, 5000 + len as u128, mix);
        finish(&mut sim, seed);
        quarantined += sim.quarantined.len();
        writes += sim.writes;
        diverse += sim.diverse_writes;
    }
    (quarantined, writes, diverse)
}

#[test]
fn redundancy_two_writes_only_the_honest_answer_and_quarantines_liars() {
    let mix = Mix {
        redundancy: 2,
        spot_check: 0.0,
        answer_liars: true,
        colluders: 1,
        kernels: false,
    };
    let (q, w) = run_mix(mix, 0..150);
    assert!(q > 20, "only {q} liars quarantined");
    assert!(w > 0);
}

#[test]
fn redundancy_three_outvotes_two_colluders() {
    let mix = Mix {
        redundancy: 3,
        spot_check: 0.0,
        answer_liars: true,
        colluders: 2,
        kernels: false,
    };
    let (q, _) = run_mix(mix, 100..250);
    assert!(q > 20, "only {q} liars quarantined");
}

#[test]
fn spot_checks_catch_liars_at_redundancy_one() {
    let mix = Mix {
        redundancy: 1,
        spot_check: 0.1,
        answer_liars: true,
        colluders: 1,
        kernels: false,
    };
    let (q, _) = run_mix(mix, 200..350);
    assert!(q > 20, "only {q} liars quarantined");
}

#[test]
fn redundancy_without_liars_quarantines_no_one() {
    for k in 1..=5 {
        let mix = Mix {
            redundancy: k,
            spot_check: if k == 1 { 0.5 } else { 0.0 },
            answer_liars: false,
            colluders: 0,
            kernels: false,
        };
        let (q, _) = run_mix(mix, 300..330);
        assert_eq!(q, 0, "K = {k}");
    }
}

#[test]
fn two_fast_colluders_lose_to_three_honest_workers_at_k_three() {
    let mix = Mix {
        redundancy: 3,
        spot_check: 0.0,
        answer_liars: false,
        colluders: 0,
        kernels: false,
    };
    for seed in 400..420 {
        let mut sim = Sim::with_mix(seed, 1 << 50, (1 << 50) + 200_000, mix);
        sim.fixed = true;
        // The colluders join first and are fast: they answer every chunk they share
        // before any honest copy comes back.
        sim.join_as(Kind::Lie(Lie::Collude), 2, 400);
        sim.join_as(Kind::Lie(Lie::Collude), 2, 400);
        for _ in 0..3 {
            sim.join_as(Kind::Honest, 2, 50);
        }
        finish(&mut sim, seed);
        assert_eq!(
            sim.quarantined.len(),
            2,
            "seed {seed}: both colluders caught"
        );
    }
}

#[test]
fn slow_presieve_copies_drop_or_quarantine_no_honest_worker() {
    // Copies spread over the sieve and a pre-sieve 25 times slower: each worker's
    // deadlines and chunk widths follow the kernel a chunk is computed with, so honest
    // workers are never taken for zombies (the simulation panics if a non-zombie
    // misses its deadlines) nor quarantined, at K = 2 and 3 and with spot checks.
    for (k, spot) in [(2, 0.0), (3, 0.0), (1, 0.5)] {
        let mix = Mix {
            redundancy: k,
            spot_check: spot,
            answer_liars: false,
            colluders: 0,
            kernels: true,
        };
        let (q, w, diverse) = run_mix_kernels(mix, 500..560);
        assert_eq!(
            q, 0,
            "K = {k}, spot {spot}: an honest worker was quarantined"
        );
        if k >= 2 {
            assert!(
                diverse * 2 > w,
                "K = {k}: only {diverse} of {w} chunks had a sieve and a pre-sieve copy"
            );
        }
    }
}

#[test]
fn a_faulty_presieve_on_some_workers_is_outvoted_and_quarantined() {
    let mix = Mix {
        redundancy: 2,
        spot_check: 0.0,
        answer_liars: true,
        colluders: 0,
        kernels: true,
    };
    // Every wrong answer reaching the scheduler must end in its worker's quarantine
    // (checked at Done) and never be written (checked at each write).
    let (q, w, diverse) = run_mix_kernels(mix, 600..700);
    assert!(q > 20, "only {q} liars quarantined");
    assert!(diverse > 0 && w > 0);
}
