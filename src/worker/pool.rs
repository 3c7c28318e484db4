//! The compute threads of a worker. They live as long as the worker, across
//! connections; each session (one connection) gives them its settings and its
//! [`Outbox`], and a result reaches the master only through the outbox of the session
//! its chunk came on, so a stale result never reaches a new master.
//!
//! Bookkeeping is bounded: one join handle per thread index (at most
//! [`MAX_THREADS`](super::MAX_THREADS)), cancellations remembered only for chunks being
//! computed right now, and at most [`MAX_QUEUED`] chunks waiting (a master that assigns
//! more is broken, and the session drops it).

use super::outbox::Outbox;
use super::MAX_THREADS;
use crate::gaps::{self, GapEncoder};
use crate::kernel::{Kernel, KernelKind, Memory};
use crate::wire::{self, ChunkResult, ErrorCode, Message, Mode, Welcome};
use log::warn;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// Most chunks a worker keeps queued: far above what a master hands out
/// (`threads + ceil(threads / 2)`, at most 1536 for 1024 threads).
pub const MAX_QUEUED: usize = 4 * MAX_THREADS as usize;

/// What the compute threads share.
struct Shared {
    state: Mutex<PoolState>,
    wake: Condvar,
    /// The budget every compute thread's kernel shares.
    memory: Memory,
}

/// One queued chunk, with the settings of the connection it came on.
struct Task {
    assign: wire::Assign,
    session: u64,
    mode: Mode,
    /// The assign's own kernel, else the session's (the welcome's).
    kernel: KernelKind,
}

struct PoolState {
    queue: VecDeque<Task>,
    /// Chunk being computed by each thread index (`None`: idle), and whether it was
    /// cancelled meanwhile. Bounded by the thread count.
    computing: Vec<Option<(u64, bool)>>,
    /// Bumped when a connection ends; results of older sessions are dropped.
    session: u64,
    outbox: Option<Arc<Outbox>>,
    mode: Mode,
    kernel: KernelKind,
    /// Threads wanted; thread i exits once i >= wanted.
    wanted: u32,
    /// Which thread indices are running.
    running: Vec<bool>,
    busy: u32,
    stop: bool,
}

/// The compute threads; they live as long as the worker, across reconnections.
pub struct Pool {
    shared: Arc<Shared>,
    /// One slot per thread index: a thread that left is joined before its index is
    /// started again, so this never grows past the largest thread count.
    handles: Mutex<Vec<Option<JoinHandle<()>>>>,
}

impl Pool {
    pub fn new(threads: u32, memory: Memory) -> Pool {
        if fault::faulty_presieve() {
            warn!(
                "worker: {} is set: this worker's presieve kernel drops a prime from \
                 every chunk (a test of the master's votes); its results will be outvoted",
                fault::FAULTY_PRESIEVE_ENV
            );
        }
        let pool = Pool::without_threads(memory);
        pool.resize(threads);
        pool
    }

    fn without_threads(memory: Memory) -> Pool {
        let state = PoolState {
            queue: VecDeque::new(),
            computing: Vec::new(),
            session: 0,
            outbox: None,
            mode: Mode::Primes,
            kernel: KernelKind::Auto,
            wanted: 0,
            running: Vec::new(),
            busy: 0,
            stop: false,
        };
        let shared = Shared {
            state: Mutex::new(state),
            wake: Condvar::new(),
            memory,
        };
        Pool {
            shared: Arc::new(shared),
            handles: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        lock(&self.shared)
    }

    /// A new connection: its outbox takes the results, its settings the next chunks.
    pub fn begin_session(&self, welcome: &Welcome, outbox: Arc<Outbox>) {
        let mut st = self.lock();
        st.mode = welcome.mode;
        st.kernel = kernel_kind(welcome.kernel).unwrap_or(KernelKind::Auto);
        st.outbox = Some(outbox);
    }

    /// The connection ended: forget its chunks and its outbox.
    pub fn end_session(&self) {
        let mut st = self.lock();
        st.session += 1;
        st.queue.clear();
        st.outbox = None;
    }

    /// Grows or shrinks the pool: new threads start now, surplus ones leave after
    /// their current chunk.
    pub fn resize(&self, threads: u32) {
        if threads > MAX_THREADS {
            warn!("worker: {threads} threads asked; running {MAX_THREADS}");
        }
        let threads = threads.clamp(1, MAX_THREADS);
        let mut st = self.lock();
        st.wanted = threads;
        let n = threads as usize;
        if st.running.len() < n {
            st.running.resize(n, false);
            st.computing.resize(n, None);
        }
        let mut handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        if handles.len() < n {
            handles.resize_with(n, || None);
        }
        for i in 0..threads {
            let idx = i as usize;
            if st.running.get(idx) == Some(&false) {
                // The thread that had this index has left (it clears its flag last,
                // under the lock we hold): joining it is immediate.
                if let Some(old) = handles.get_mut(idx).and_then(Option::take) {
                    let _ = old.join();
                }
                if let Some(r) = st.running.get_mut(idx) {
                    *r = true;
                }
                let shared = Arc::clone(&self.shared);
                let h = thread::spawn(move || compute(shared, i));
                if let Some(slot) = handles.get_mut(idx) {
                    *slot = Some(h);
                }
            }
        }
        self.shared.wake.notify_all();
    }

    /// Queues an assigned chunk; `Err` with the bound when the master overfills us.
    pub fn push(&self, assign: wire::Assign) -> Result<(), usize> {
        let mut st = self.lock();
        if st.queue.len() >= MAX_QUEUED {
            return Err(MAX_QUEUED);
        }
        let kernel = kernel_kind(assign.kernel).unwrap_or(st.kernel);
        let task = Task {
            assign,
            session: st.session,
            mode: st.mode,
            kernel,
        };
        st.queue.push_back(task);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Drops a chunk: from the queue, or its result when it is being computed. A
    /// chunk this worker does not hold is ignored.
    pub fn cancel(&self, chunk: u64) {
        let mut st = self.lock();
        let before = st.queue.len();
        st.queue.retain(|t| t.assign.chunk != chunk);
        if st.queue.len() == before {
            for (c, cancelled) in st.computing.iter_mut().flatten() {
                if *c == chunk {
                    *cancelled = true;
                }
            }
        }
    }

    /// (threads wanted, threads computing now).
    pub fn load(&self) -> (u32, u32) {
        let st = self.lock();
        (st.wanted, st.busy)
    }

    /// Stops every thread (each finishes its current chunk) and waits for them.
    pub fn stop(&self) {
        {
            let mut st = self.lock();
            st.stop = true;
            st.queue.clear();
            if let Some(o) = st.outbox.take() {
                o.close();
            }
        }
        self.shared.wake.notify_all();
        let handles = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|p| p.into_inner()));
        for h in handles.into_iter().flatten() {
            let _ = h.join();
        }
    }
}

/// The kernel a wire code names; `None` for [`wire::kernel_code::AUTO`] ("no choice
/// here": the welcome's kernel, or the worker's own, applies). The wire decoder refuses
/// other codes, so none is lost.
fn kernel_kind(code: u8) -> Option<KernelKind> {
    match code {
        wire::kernel_code::SIEVE => Some(KernelKind::Sieve),
        wire::kernel_code::TRIAL => Some(KernelKind::Trial),
        wire::kernel_code::PRESIEVE => Some(KernelKind::Presieve),
        _ => None,
    }
}

/// A compute thread's kernels, one per kind, made when first asked for: chunks of one
/// job may alternate kernels (copies for a vote), and each keeps its tables (sieving
/// primes, pre-sieve patterns) across the chunks it computes.
#[derive(Default)]
struct Kernels {
    auto: Option<Kernel>,
    sieve: Option<Kernel>,
    trial: Option<Kernel>,
    presieve: Option<Kernel>,
}

impl Kernels {
    fn get(&mut self, kind: KernelKind, memory: Memory) -> &mut Kernel {
        let slot = match kind {
            KernelKind::Auto => &mut self.auto,
            KernelKind::Sieve => &mut self.sieve,
            KernelKind::Trial => &mut self.trial,
            KernelKind::Presieve => &mut self.presieve,
        };
        slot.get_or_insert_with(|| Kernel::with_budget(kind, memory))
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, PoolState> {
    // Every change under this lock is a few assignments, so a thread that panicked
    // holding it cannot have left it half-done: keep going.
    shared.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// One compute thread: take a chunk, compute it, queue the result; until told to stop.
fn compute(shared: Arc<Shared>, index: u32) {
    let idx = index as usize;
    let mut kernels = Kernels::default();
    loop {
        let task = {
            let mut st = lock(&shared);
            loop {
                if st.stop || index >= st.wanted {
                    if let Some(r) = st.running.get_mut(idx) {
                        *r = false;
                    }
                    return;
                }
                if let Some(t) = st.queue.pop_front() {
                    st.busy += 1;
                    if let Some(slot) = st.computing.get_mut(idx) {
                        *slot = Some((t.assign.chunk, false));
                    }
                    break t;
                }
                st = shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        let kernel = kernels.get(task.kernel, shared.memory);
        let result = if task.kernel == KernelKind::Presieve && fault::faulty_presieve() {
            fault::compute_wrong(kernel, task.mode, &task.assign)
        } else {
            compute_chunk(kernel, task.mode, &task.assign)
        };
        let (outbox, room) = {
            let mut st = lock(&shared);
            st.busy -= 1;
            let cancelled = st
                .computing
                .get_mut(idx)
                .and_then(Option::take)
                .is_some_and(|(_, c)| c);
            let current = !st.stop && task.session == st.session && !cancelled;
            (st.outbox.clone().filter(|_| current), st.wanted as usize)
        };
        let Some(outbox) = outbox else {
            continue;
        };
        let msg = Message::Result(result);
        if msg.encoded_len() > wire::MAX_FRAME_LEN as usize + wire::LEN_PREFIX {
            let text = format!(
                "chunk {} gives a result of {} bytes, too large for one frame",
                task.assign.chunk,
                msg.encoded_len()
            );
            warn!("worker: {text}; telling the master and reconnecting");
            let mut frame = Vec::new();
            wire::encode(
                &Message::Error {
                    code: ErrorCode::Internal,
                    message: text,
                },
                &mut frame,
            );
            outbox.push_last(frame);
            continue;
        }
        let mut frame = Vec::with_capacity(msg.encoded_len());
        wire::encode(&msg, &mut frame);
        outbox.push(frame);
        // Back-pressure: while the master reads slowly, stop computing ahead of it.
        outbox.wait_room(room);
    }
}

/// Computes one chunk into a result frame.
pub fn compute_chunk(kernel: &mut Kernel, mode: Mode, task: &wire::Assign) -> ChunkResult {
    let began = Instant::now();
    // The digest is FNV-1a of the gap bytes in primes mode, also of an empty list
    // (0xcbf29ce484222325, what the master checks), and 0 in count mode: PROTOCOL.md §6.
    let (count, gaps, digest) = match mode {
        Mode::Count => (kernel.count(task.start, task.stop), Vec::new(), 0),
        Mode::Primes => {
            let mut enc = GapEncoder::new(task.start);
            kernel.primes(task.start, task.stop, &mut enc);
            let count = enc.count();
            let gaps = enc.into_bytes();
            let digest = gaps::digest(&gaps);
            (count, gaps, digest)
        }
    };
    ChunkResult {
        chunk: task.chunk,
        start: task.start,
        stop: task.stop,
        count,
        digest,
        compute_us: began.elapsed().as_micros() as u64,
        gaps,
    }
}

/// A fault injected for the process-level tests of the votes: with
/// `PRIMECLUSTER_TEST_FAULTY_PRESIEVE=1`, the presieve kernel of a real worker binary
/// drops the first prime of every chunk it computes (count and digest made to match),
/// as a miscompiled or broken kernel on one machine would. Only builds with debug
/// assertions (`cargo build`, `cargo test`) read the variable: a release binary has
/// no such code, so it cannot be turned on by accident where results matter.
mod fault {
    use super::*;

    pub const FAULTY_PRESIEVE_ENV: &str = "PRIMECLUSTER_TEST_FAULTY_PRESIEVE";

    /// Whether the fault is on (read once per process).
    pub fn faulty_presieve() -> bool {
        if cfg!(debug_assertions) {
            static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
            *ON.get_or_init(|| std::env::var_os(FAULTY_PRESIEVE_ENV).is_some_and(|v| v == "1"))
        } else {
            false
        }
    }

    /// [`compute_chunk`] with the chunk's first prime left out.
    pub fn compute_wrong(kernel: &mut Kernel, mode: Mode, task: &wire::Assign) -> ChunkResult {
        let mut r = compute_chunk(kernel, mode, task);
        match mode {
            Mode::Count => r.count = r.count.saturating_sub(1),
            Mode::Primes => {
                let mut primes: Vec<u128> = Vec::new();
                kernel.primes(task.start, task.stop, &mut primes);
                let mut enc = GapEncoder::new(task.start);
                for &p in primes.iter().skip(1) {
                    enc.push(p);
                }
                r.count = enc.count();
                r.gaps = enc.into_bytes();
                r.digest = gaps::digest(&r.gaps);
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prime_free_chunk_carries_the_digest_of_nothing() {
        // Issue 7, defect 2: 24..=28 holds no prime; in primes mode the digest is FNV-1a
        // of the empty gap list (0xcbf29ce484222325), which the master checks. It was 0.
        let mut k = Kernel::new(KernelKind::Auto);
        let task = wire::Assign {
            chunk: 1,
            start: 24,
            stop: 28,
            kernel: 0,
        };
        let r = compute_chunk(&mut k, Mode::Primes, &task);
        assert_eq!((r.count, r.gaps.len()), (0, 0));
        assert_eq!(r.digest, 0xcbf2_9ce4_8422_2325);
        assert_eq!(r.digest, gaps::digest(&[]));
        let c = compute_chunk(&mut k, Mode::Count, &task);
        assert_eq!((c.count, c.digest), (0, 0), "count mode keeps digest 0");
    }

    #[test]
    fn chunk_result_checks_out() {
        let mut k = Kernel::new(KernelKind::Auto);
        let task = wire::Assign {
            chunk: 3,
            start: 100,
            stop: 200,
            kernel: 0,
        };
        let r = compute_chunk(&mut k, Mode::Primes, &task);
        assert_eq!(r.count, 21);
        gaps::check(r.gaps.clone(), 100, 200, 21).unwrap();
        assert_eq!(r.digest, gaps::digest(&r.gaps));
        let c = compute_chunk(&mut k, Mode::Count, &task);
        assert_eq!((c.count, c.digest, c.gaps.len()), (21, 0, 0));
    }

    #[test]
    fn an_assigns_kernel_overrides_the_welcomes() {
        let pool = Pool::without_threads(Memory::default_for(1));
        pool.lock().kernel = KernelKind::Sieve;
        let assign = |chunk, kernel| wire::Assign {
            chunk,
            start: 0,
            stop: 10,
            kernel,
        };
        pool.push(assign(1, wire::kernel_code::AUTO)).unwrap();
        pool.push(assign(2, wire::kernel_code::TRIAL)).unwrap();
        pool.push(assign(3, wire::kernel_code::SIEVE)).unwrap();
        let kinds: Vec<KernelKind> = pool.lock().queue.iter().map(|t| t.kernel).collect();
        assert_eq!(
            kinds,
            [KernelKind::Sieve, KernelKind::Trial, KernelKind::Sieve]
        );
        pool.stop();

        // One kernel per kind per thread, kept across chunks.
        let mut ks = Kernels::default();
        assert_eq!(
            ks.get(KernelKind::Trial, Memory::default_for(1)).kind(),
            KernelKind::Trial
        );
        assert_eq!(
            ks.get(KernelKind::Sieve, Memory::default_for(1)).kind(),
            KernelKind::Sieve
        );
        assert!(ks.auto.is_none() && ks.trial.is_some() && ks.sieve.is_some());
    }

    #[test]
    fn bookkeeping_stays_bounded_across_resizes_and_cancels() {
        let pool = Pool::new(2, Memory::default_for(2));
        for round in 0..50u32 {
            pool.resize(1 + round % 4);
            // Cancels of chunks nobody holds are ignored, not remembered.
            pool.cancel(round as u64 + 1_000_000);
        }
        assert!(pool.handles.lock().unwrap().len() <= 4);
        assert!(pool.lock().computing.len() <= 4);
        pool.stop();

        // A pool with no thread running keeps what it is given: up to the bound.
        let idle = Pool::without_threads(Memory::default_for(1));
        let assign = |chunk| wire::Assign {
            chunk,
            start: 0,
            stop: 10,
            kernel: 0,
        };
        for chunk in 0..MAX_QUEUED as u64 {
            assert_eq!(idle.push(assign(chunk)), Ok(()));
        }
        assert_eq!(idle.push(assign(u64::MAX)), Err(MAX_QUEUED));
        idle.cancel(5);
        assert_eq!(
            idle.push(assign(u64::MAX)),
            Ok(()),
            "a cancel frees a place"
        );
        idle.stop();
    }
}
