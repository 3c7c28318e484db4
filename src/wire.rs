//! PLACEHOLDER BODY (being written): frames and messages of the master–worker protocol.
//! The types below are the contract; `encode`/`decode` are being implemented.

use std::fmt;

/// First bytes of both hellos.
pub const MAGIC: [u8; 4] = *b"PCLU";
/// Protocol version; a peer with another gets an error frame and is dropped.
pub const VERSION: u16 = 1;
/// Largest frame length accepted (type + payload + CRC), checked before reading the body.
pub const MAX_FRAME_LEN: u32 = 64 << 20;

/// What a result carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The primes themselves, gap-encoded.
    Primes = 0,
    /// Only their count (the gap list is empty).
    Count = 1,
}

/// Worker -> master, first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
    pub name: String,
    pub cores: u32,
    pub threads: u32,
    pub arch: String,
    /// Bit i set: the worker has kernel i (0 auto, 1 sieve, 2 trial).
    pub kernels: u32,
}

/// Master -> worker, first frame: the master's hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub version: u16,
    pub worker_id: u32,
    pub mode: Mode,
    /// 0 auto, 1 sieve, 2 trial.
    pub kernel: u8,
    pub heartbeat_ms: u32,
    /// Threads the worker should run; 0 keeps its own choice.
    pub threads: u32,
}

/// Master -> worker: compute `start..=stop` as chunk `chunk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assign {
    pub chunk: u64,
    pub start: u128,
    pub stop: u128,
}

/// Worker -> master: the primes of an assigned chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkResult {
    pub chunk: u64,
    pub start: u128,
    pub stop: u128,
    pub count: u64,
    /// `gaps::digest` of `gaps` (0 in count mode).
    pub digest: u64,
    /// Compute time on the worker, microseconds (chunk sizing uses it).
    pub compute_us: u64,
    /// The primes, gap-encoded relative to `start` (`gaps` module); empty in count mode.
    pub gaps: Vec<u8>,
}

/// Why the master ends a worker's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    /// The job is complete: exit 0.
    Done = 0,
    /// The master stops (error or operator): exit 0 without waiting for more.
    Stopped = 1,
}

/// Error codes of error frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadMagic = 1,
    BadVersion = 2,
    Malformed = 3,
    BadResult = 4,
    Internal = 5,
}

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Hello(Hello),
    Welcome(Welcome),
    Assign(Assign),
    Result(ChunkResult),
    Heartbeat {
        threads: u32,
        busy: u32,
    },
    SetThreads {
        threads: u32,
    },
    Cancel {
        chunk: u64,
    },
    Shutdown {
        reason: ShutdownReason,
        message: String,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// Why bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    TooLong { len: u32 },
    Other(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for WireError {}

/// Appends `msg` as one frame to `out`.
pub fn encode(_msg: &Message, _out: &mut Vec<u8>) {
    unimplemented!("wire::encode is being written")
}

/// Parses one frame from the front of `buf`: `Ok(None)` when more bytes are needed,
/// `Ok(Some((msg, consumed)))` for a whole frame.
pub fn decode(_buf: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
    Err(WireError::Other("wire::decode is being written".into()))
}
