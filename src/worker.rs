//! The worker: a blocking client with one network thread and N compute threads.
//!
//! The network thread (the caller of [`run`]) connects, says hello, then reads frames:
//! assigns go on a shared queue, cancels strike chunks from it, set-threads grows or
//! shrinks the pool at once, shutdown ends the job. Its socket has a read timeout of
//! half the heartbeat interval, so the same thread sends heartbeats while the compute
//! threads work. Each compute thread owns a [`Kernel`] (so its sieving primes are
//! reused across chunks), takes the oldest queued chunk, computes it and writes the
//! result frame itself under the socket's lock.
//!
//! While the master is absent or restarting, the worker retries with capped backoff
//! ([`Backoff`]); with `once` it gives up instead. It exits `Ok` when the master says
//! the job is done (or stopped), and with an error for a master that speaks another
//! protocol.

use crate::gaps::{self, GapEncoder};
use crate::kernel::{Kernel, KernelKind, Memory};
use crate::wire::{self, ChunkResult, ErrorCode, Hello, Message, Mode, ShutdownReason, Welcome};
use log::{debug, info, warn};
use std::collections::{HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// More compute threads than this are never started, whatever the master asks.
pub const MAX_THREADS: u32 = 1024;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The master, as `HOST:PORT`.
    pub master: String,
    /// Compute threads; `None` for all cores.
    pub threads: Option<u32>,
    /// Name shown in the master's logs and summary.
    pub name: String,
    /// Give up on the first failed connection or lost master instead of retrying.
    pub once: bool,
    /// Memory budget in MiB for all compute threads together; `None` for the default
    /// from the machine's RAM and the thread count ([`crate::kernel::Memory`]).
    pub memory: Option<u64>,
}

/// Why a worker stopped without finishing a job.
#[derive(Debug)]
pub enum WorkerError {
    /// `once` was asked and the master could not be reached or was lost.
    Unreachable { master: String, source: io::Error },
    /// The master refused us for good (wrong protocol or magic).
    Refused {
        master: String,
        code: ErrorCode,
        message: String,
    },
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerError::Unreachable { master, source } => write!(f, "master {master}: {source}"),
            WorkerError::Refused {
                master,
                code,
                message,
            } => {
                write!(f, "master {master} refused this worker ({code}): {message}")
            }
        }
    }
}

impl std::error::Error for WorkerError {}

/// Capped exponential backoff with jitter: 0.25 s doubling to 5 s.
pub struct Backoff {
    next: Duration,
    seed: u64,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(250);
    const CAP: Duration = Duration::from_secs(5);

    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
        Backoff {
            next: Self::FIRST,
            seed: nanos ^ ((std::process::id() as u64) << 32) | 1,
        }
    }

    /// The wait before the next attempt (±20 % jitter), doubling up to the cap.
    pub fn wait(&mut self) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = 0.8 + (self.seed % 401) as f64 / 1000.0;
        let d = self.next.mul_f64(jitter);
        self.next = (self.next * 2).min(Self::CAP);
        d
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the worker until the master says the job is done.
pub fn run(cfg: &WorkerConfig) -> Result<(), WorkerError> {
    let threads = cfg.threads.unwrap_or_else(cores).max(1);
    let memory = match cfg.memory {
        Some(mib) => Memory::mib(mib, threads),
        None => Memory::default_for(threads),
    };
    info!("worker: memory budget {memory}");
    let pool = Pool::new(threads, memory);
    let result = reconnect_loop(cfg, &pool);
    pool.stop();
    result
}

fn reconnect_loop(cfg: &WorkerConfig, pool: &Pool) -> Result<(), WorkerError> {
    let mut backoff = Backoff::new();
    let master = || cfg.master.clone();
    loop {
        let end = session(cfg, pool, &mut backoff);
        // Whatever is queued or computing belongs to the connection that ended: the
        // master requeued it. Computing threads finish their chunk and discard it.
        pool.end_session();
        match end {
            Ok(End::Finished) => return Ok(()),
            Ok(End::Refused { code, message }) => {
                return Err(WorkerError::Refused {
                    master: master(),
                    code,
                    message,
                })
            }
            Ok(End::Lost(source)) | Err(source) => {
                if cfg.once {
                    return Err(WorkerError::Unreachable {
                        master: master(),
                        source,
                    });
                }
                let wait = backoff.wait();
                let secs = wait.as_secs_f64();
                info!(
                    "worker: master {} unavailable ({source}); retrying in {secs:.1} s",
                    cfg.master
                );
                thread::sleep(wait);
            }
        }
    }
}

/// How one connection ended.
enum End {
    Finished,
    Refused { code: ErrorCode, message: String },
    Lost(io::Error),
}

/// One connection: hello, welcome, then work until it ends.
fn session(cfg: &WorkerConfig, pool: &Pool, backoff: &mut Backoff) -> io::Result<End> {
    let mut stream = TcpStream::connect(&cfg.master)?;
    stream.set_nodelay(true)?;
    let hello = Hello {
        version: wire::VERSION,
        name: cfg.name.clone(),
        cores: cores(),
        threads: pool.load().0,
        arch: std::env::consts::ARCH.to_string(),
        kernels: 0b111,
    };
    send(&mut stream, &Message::Hello(hello))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = FrameReader::new(stream.try_clone()?);
    let welcome = match reader.next()? {
        Some(Message::Welcome(w)) => w,
        Some(Message::Error { code, message }) => return Ok(End::Refused { code, message }),
        Some(other) => return Err(protocol(format!("expected welcome, got {other}"))),
        None => return Err(protocol("timed out waiting for welcome".into())),
    };
    if welcome.version != wire::VERSION {
        let message = format!(
            "master speaks protocol {}, this worker {}",
            welcome.version,
            wire::VERSION
        );
        return Ok(End::Refused {
            code: ErrorCode::BadVersion,
            message,
        });
    }
    backoff.reset();
    if welcome.threads > 0 {
        pool.resize(welcome.threads);
    }
    let threads = pool.load().0;
    info!(
        "worker {}: joined {} with {threads} threads",
        welcome.worker_id, cfg.master
    );
    pool.begin_session(&welcome, stream.try_clone()?);
    let heartbeat = Duration::from_millis(welcome.heartbeat_ms.max(100) as u64);
    stream.set_read_timeout(Some(heartbeat / 2))?;
    let end = serve(&mut reader, pool, &stream, heartbeat);
    let _ = stream.shutdown(Shutdown::Both);
    Ok(end)
}

/// Reads frames until the session ends, keeping heartbeats going.
fn serve(reader: &mut FrameReader, pool: &Pool, stream: &TcpStream, heartbeat: Duration) -> End {
    let mut last_beat = Instant::now();
    loop {
        if last_beat.elapsed() >= heartbeat {
            let (t, busy) = pool.load();
            if let Err(e) = pool.send(&Message::Heartbeat { threads: t, busy }) {
                return End::Lost(e);
            }
            last_beat = Instant::now();
        }
        let msg = match reader.next() {
            Ok(Some(m)) => m,
            Ok(None) => continue, // read timeout: time for a heartbeat check
            Err(e) => return End::Lost(e),
        };
        match msg {
            Message::Assign(a) => pool.push(a),
            Message::Cancel { chunk } => pool.cancel(chunk),
            Message::SetThreads { threads: n } => {
                info!("worker: master sets threads to {n}");
                pool.resize(n);
            }
            Message::Shutdown { reason, message } => {
                info!(
                    "worker: master ends the job ({}){}",
                    reason.name(),
                    suffix(&message)
                );
                let _ = stream.shutdown(Shutdown::Both);
                return match reason {
                    ShutdownReason::Done | ShutdownReason::Stopped => End::Finished,
                };
            }
            Message::Error { code, message } => {
                warn!("worker: master reports {code}: {message}");
                return match code {
                    ErrorCode::BadMagic | ErrorCode::BadVersion => End::Refused { code, message },
                    _ => End::Lost(protocol(message)),
                };
            }
            other => return End::Lost(protocol(format!("unexpected {other} from master"))),
        }
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

fn send(stream: &mut TcpStream, msg: &Message) -> io::Result<()> {
    let mut buf = Vec::with_capacity(msg.encoded_len());
    wire::encode(msg, &mut buf);
    stream.write_all(&buf)
}

/// All cores of this machine.
pub fn cores() -> u32 {
    thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Frames from a blocking socket; `Ok(None)` when a read timed out.
struct FrameReader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl FrameReader {
    fn new(stream: TcpStream) -> Self {
        FrameReader {
            stream,
            buf: Vec::with_capacity(64 << 10),
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
                Err(e) => return Err(protocol(e.to_string())),
            }
            let mut chunk = [0u8; 16 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "master closed the connection",
                    ))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
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

/// What the compute threads share.
struct Shared {
    state: Mutex<PoolState>,
    wake: Condvar,
    /// The current connection's socket, for results. Locked before `state` whenever
    /// both are needed, so a session cannot end between checking a result's session
    /// and writing it: a stale result never reaches a new master.
    out: Mutex<Option<TcpStream>>,
    /// The budget every compute thread's kernel shares.
    memory: Memory,
}

/// One queued chunk, with the settings of the connection it came on.
struct Task {
    assign: wire::Assign,
    session: u64,
    mode: Mode,
    kernel: KernelKind,
}

struct PoolState {
    queue: VecDeque<Task>,
    cancelled: HashSet<u64>,
    /// Bumped when a connection ends; results of older sessions are dropped.
    session: u64,
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
struct Pool {
    shared: Arc<Shared>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Pool {
    fn new(threads: u32, memory: Memory) -> Pool {
        let state = PoolState {
            queue: VecDeque::new(),
            cancelled: HashSet::new(),
            session: 0,
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
            out: Mutex::new(None),
            memory,
        };
        let pool = Pool {
            shared: Arc::new(shared),
            handles: Mutex::new(Vec::new()),
        };
        pool.resize(threads);
        pool
    }

    /// A new connection: its socket takes the results, its settings the next chunks.
    fn begin_session(&self, welcome: &Welcome, out: TcpStream) {
        let mut sock = self.shared.out.lock().expect("socket lock");
        let mut st = self.shared.state.lock().expect("pool lock");
        st.mode = welcome.mode;
        st.kernel = match welcome.kernel {
            1 => KernelKind::Sieve,
            2 => KernelKind::Trial,
            _ => KernelKind::Auto,
        };
        *sock = Some(out);
    }

    /// The connection ended: forget its chunks and its socket.
    fn end_session(&self) {
        let mut sock = self.shared.out.lock().expect("socket lock");
        let mut st = self.shared.state.lock().expect("pool lock");
        st.session += 1;
        st.queue.clear();
        st.cancelled.clear();
        *sock = None;
    }

    /// Grows or shrinks the pool: new threads start now, surplus ones leave after
    /// their current chunk.
    fn resize(&self, threads: u32) {
        if threads > MAX_THREADS {
            warn!("worker: {threads} threads asked; running {MAX_THREADS}");
        }
        let threads = threads.clamp(1, MAX_THREADS);
        let mut st = self.shared.state.lock().expect("pool lock");
        st.wanted = threads;
        if st.running.len() < threads as usize {
            st.running.resize(threads as usize, false);
        }
        let mut handles = self.handles.lock().expect("handles lock");
        for i in 0..threads {
            if !st.running[i as usize] {
                st.running[i as usize] = true;
                let shared = Arc::clone(&self.shared);
                handles.push(thread::spawn(move || compute(shared, i)));
            }
        }
        self.shared.wake.notify_all();
    }

    fn push(&self, assign: wire::Assign) {
        let mut st = self.shared.state.lock().expect("pool lock");
        let task = Task {
            assign,
            session: st.session,
            mode: st.mode,
            kernel: st.kernel,
        };
        st.queue.push_back(task);
        self.shared.wake.notify_one();
    }

    fn cancel(&self, chunk: u64) {
        let mut st = self.shared.state.lock().expect("pool lock");
        let before = st.queue.len();
        st.queue.retain(|t| t.assign.chunk != chunk);
        if st.queue.len() == before {
            // Being computed now: drop its result when done.
            st.cancelled.insert(chunk);
        }
    }

    /// (threads wanted, threads computing now).
    fn load(&self) -> (u32, u32) {
        let st = self.shared.state.lock().expect("pool lock");
        (st.wanted, st.busy)
    }

    fn send(&self, msg: &Message) -> io::Result<()> {
        let mut out = self.shared.out.lock().expect("socket lock");
        match out.as_mut() {
            Some(s) => send(s, msg),
            None => Err(io::Error::new(io::ErrorKind::NotConnected, "no master")),
        }
    }

    /// Stops every thread (each finishes its current chunk) and waits for them.
    fn stop(&self) {
        {
            let mut st = self.shared.state.lock().expect("pool lock");
            st.stop = true;
            st.queue.clear();
        }
        self.shared.wake.notify_all();
        let handles = std::mem::take(&mut *self.handles.lock().expect("handles lock"));
        for h in handles {
            let _ = h.join();
        }
    }
}

/// One compute thread: take a chunk, compute it, send the result; until told to stop.
fn compute(shared: Arc<Shared>, index: u32) {
    let mut kernel = Kernel::with_budget(KernelKind::Auto, shared.memory);
    loop {
        let task = {
            let mut st = shared.state.lock().expect("pool lock");
            loop {
                if st.stop || index >= st.wanted {
                    st.running[index as usize] = false;
                    return;
                }
                if let Some(t) = st.queue.pop_front() {
                    st.busy += 1;
                    break t;
                }
                st = shared.wake.wait(st).expect("pool lock");
            }
        };
        if kernel.kind() != task.kernel {
            kernel = Kernel::with_budget(task.kernel, shared.memory);
        }
        let result = compute_chunk(&mut kernel, task.mode, &task.assign);
        let mut out = shared.out.lock().expect("socket lock");
        let current = {
            let mut st = shared.state.lock().expect("pool lock");
            st.busy -= 1;
            let cancelled = st.cancelled.remove(&task.assign.chunk);
            !st.stop && task.session == st.session && !cancelled
        };
        let Some(sock) = out.as_mut().filter(|_| current) else {
            continue;
        };
        let msg = Message::Result(result);
        if msg.encoded_len() > wire::MAX_FRAME_LEN as usize + wire::LEN_PREFIX {
            warn!(
                "worker: chunk {} gives a result too large for one frame; dropping the connection",
                task.assign.chunk
            );
            let _ = sock.shutdown(Shutdown::Both);
            continue;
        }
        if let Err(e) = send(sock, &msg) {
            debug!("worker: sending chunk {}: {e}", task.assign.chunk);
        }
    }
}

/// Computes one chunk into a result frame.
pub fn compute_chunk(kernel: &mut Kernel, mode: Mode, task: &wire::Assign) -> ChunkResult {
    let began = Instant::now();
    let (count, gaps) = match mode {
        Mode::Count => (kernel.count(task.start, task.stop), Vec::new()),
        Mode::Primes => {
            let mut enc = GapEncoder::new(task.start);
            kernel.primes(task.start, task.stop, &mut enc);
            (enc.count(), enc.into_bytes())
        }
    };
    let digest = if gaps.is_empty() {
        0
    } else {
        gaps::digest(&gaps)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::new();
        let waits: Vec<Duration> = (0..10).map(|_| b.wait()).collect();
        assert!(waits[0] >= Duration::from_millis(200) && waits[0] <= Duration::from_millis(300));
        assert!(waits[9] >= Duration::from_secs(4) && waits[9] <= Duration::from_secs(6));
        b.reset();
        assert!(b.wait() <= Duration::from_millis(300));
    }

    #[test]
    fn chunk_result_checks_out() {
        let mut k = Kernel::new(KernelKind::Auto);
        let task = wire::Assign {
            chunk: 3,
            start: 100,
            stop: 200,
        };
        let r = compute_chunk(&mut k, Mode::Primes, &task);
        assert_eq!(r.count, 21);
        gaps::check(&r.gaps, 100, 200, 21).unwrap();
        assert_eq!(r.digest, gaps::digest(&r.gaps));
        let c = compute_chunk(&mut k, Mode::Count, &task);
        assert_eq!((c.count, c.digest, c.gaps.len()), (21, 0, 0));
    }
}
