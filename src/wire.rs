//! Frames and messages of the master–worker protocol: parse and emit, no I/O, no state.
//!
//! The byte layout is specified in `docs/PROTOCOL.md`; this module is its reference
//! implementation. In short, every frame is
//!
//! ```text
//! u32 length (big-endian) | u8 type | payload | u32 CRC-32 of type + payload
//! ```
//!
//! where `length` counts type, payload and CRC (so it is at least [`MIN_FRAME_LEN`]) and
//! may not exceed [`MAX_FRAME_LEN`].
//!
//! # Contract
//! - [`encode`] appends one frame to a buffer and never fails or panics. Strings longer
//!   than [`MAX_STR_LEN`] bytes are cut at a character boundary. A result whose gap list
//!   exceeds [`MAX_GAPS_LEN`] is emitted as is, and the peer refuses it with
//!   [`WireError::TooLong`]; senders check [`Message::encoded_len`] first.
//! - [`decode`] parses one frame from the front of a buffer in two steps, like
//!   mini-redis's `Frame::check` / `Frame::parse`: first it looks at the 4-byte length
//!   alone (refusing an impossible length at once, before the body arrives) and returns
//!   `Ok(None)` without allocating until the whole frame is there; then it checks the
//!   CRC and parses the payload with a length-checked reader.
//! - [`decode`] never panics, whatever the bytes: every read goes through a `Reader`
//!   whose accessors check the length first and return [`WireError::Truncated`]; there
//!   is no slice indexing and no `unwrap` on input. Anything wrong is a [`WireError`]
//!   whose message names the bad value; [`WireError::code`] gives the [`ErrorCode`] to
//!   put in the error frame sent back before closing.
//! - A result frame is a copy of the gap bytes plus one CRC pass: nothing per byte
//!   beyond `crc32fast`.
//!
//! Hello and welcome payloads start with [`MAGIC`] and the protocol version in every
//! version of the protocol. [`decode`] reads them whatever the version, so the receiver
//! can answer "version X not supported"; if a hello or welcome of another version does
//! not parse as this version's layout, the error is [`WireError::UnsupportedVersion`]
//! rather than a parse error, for the same reason.
//!
//! Version 2 adds the authentication handshake (`docs/PROTOCOL.md` section 11): the
//! hello ends with an [`HelloAuth`] block, and a [`Message::Challenge`] and a
//! [`Message::Proof`] go between hello and welcome. Their payloads are `auth.rs`'s; this
//! module frames them. Control frames (types `0x30`–`0x35`) are framed here too, their
//! payloads parsed by `control::msg`.

use crate::auth::{AuthError, Challenge, ClientProof, HelloAuth, HELLO_AUTH_LEN};
use crate::control::msg::{
    SetThreadsReply, SetThreadsRequest, StatusReply, StatusRequest, StopReply, StopRequest,
};
use crate::control::ControlError;
use byteorder::{BigEndian, ByteOrder};
use std::fmt;

/// First bytes of both hellos.
pub const MAGIC: [u8; 4] = *b"PCLU";
/// Protocol version; a peer with another gets an error frame and is dropped.
pub const VERSION: u16 = 2;
/// Largest frame length accepted (type + payload + CRC), checked before reading the body.
pub const MAX_FRAME_LEN: u32 = 64 << 20;
/// Smallest frame length: a type byte and the CRC, with an empty payload.
pub const MIN_FRAME_LEN: u32 = 5;
/// Bytes of the length prefix in front of each frame.
pub const LEN_PREFIX: usize = 4;
/// Longest string (name, arch, messages) in bytes of UTF-8.
pub const MAX_STR_LEN: usize = 256;
/// Fixed part of a result payload: chunk, start, stop, count, digest, compute_us, gaps length.
const RESULT_FIXED_LEN: u32 = 8 + 16 + 16 + 8 + 8 + 8 + 4;
/// Longest gap list a result frame can carry within [`MAX_FRAME_LEN`].
pub const MAX_GAPS_LEN: usize = (MAX_FRAME_LEN - 1 - RESULT_FIXED_LEN - 4) as usize;
/// Most compute threads a worker runs or a master asks for: a hello or set-threads
/// claiming more is clamped, so a claim cannot size a worker's share of chunks (or its
/// slot counts) past what a machine runs.
pub const MAX_THREADS: u32 = 1024;
/// Largest frame a receiver takes before the hello exchange is over. This version's
/// largest hello is 573 bytes (two 256-byte strings and the 34-byte authentication
/// block); the rest leaves room for a later version's hello to be read and answered with
/// "version not supported". The handshake's challenge and proof fit it too.
pub const MAX_EARLY_FRAME_LEN: u32 = 1024;
/// Largest frame other than a result that a worker sends after its welcome (heartbeat,
/// error with a 256-byte message), and largest frame a control client may send: its
/// biggest request, a set-threads by a 256-byte name, is 268 bytes.
pub const MAX_CONTROL_FRAME_LEN: u32 = 1024;

/// Kernel codes of the welcome's `kernel` field.
pub mod kernel_code {
    /// The worker picks by height (sieve below 2^64, pre-sieve + Miller-Rabin above).
    pub const AUTO: u8 = 0;
    /// Segmented sieve of Eratosthenes.
    pub const SIEVE: u8 = 1;
    /// Trial division, the slow baseline.
    pub const TRIAL: u8 = 2;
    /// Pre-sieve by small primes + Miller–Rabin at every height (below 2^64 too): the
    /// kernel that shares no code with the sieve, for copies computed for a vote.
    pub const PRESIEVE: u8 = 3;
    /// The highest code this version knows; a higher one is refused as malformed.
    pub const MAX: u8 = PRESIEVE;
    /// What the codes mean, for error messages.
    pub const EXPECTED: &str = "0 auto, 1 sieve, 2 trial or 3 presieve";
}

/// Longest gap list a correct result for a chunk of `width` numbers can carry, capped
/// at [`MAX_GAPS_LEN`]. At most one number in two is a prime past the first; the first
/// gap is a varint of up to 19 bytes, the 2 -> 3 step costs one byte for one number, and
/// every later gap `g` is encoded as `g/2` in `k` bytes only when `g >= 2 * 128^(k-1)
/// >= 2k`: never more than one byte per two numbers.
pub fn max_gaps_len(width: u128) -> usize {
    let bound = (width / 2).saturating_add(24);
    bound.min(MAX_GAPS_LEN as u128) as usize
}

/// Frame length of a result whose gap list is `gaps_len` bytes (type, fixed fields,
/// gaps, CRC), saturating at `u32::MAX`.
pub fn result_frame_len(gaps_len: usize) -> u32 {
    let len = 1 + RESULT_FIXED_LEN as u64 + gaps_len as u64 + 4;
    len.min(u32::MAX as u64) as u32
}

/// The type byte of each message.
pub mod code {
    /// Worker -> master, first frame.
    pub const HELLO: u8 = 0x01;
    /// Master -> client, after the handshake.
    pub const WELCOME: u8 = 0x02;
    /// Master -> client, answering the hello: the master's nonce and proof.
    pub const CHALLENGE: u8 = 0x03;
    /// Client -> master, answering the challenge: the client's proof.
    pub const PROOF: u8 = 0x04;
    /// Master -> worker: a chunk to compute.
    pub const ASSIGN: u8 = 0x10;
    /// Worker -> master: a computed chunk.
    pub const RESULT: u8 = 0x11;
    /// Worker -> master, every `heartbeat_ms`.
    pub const HEARTBEAT: u8 = 0x12;
    /// Master -> worker: change the thread count.
    pub const SET_THREADS: u8 = 0x20;
    /// Master -> worker: a chunk is no longer needed.
    pub const CANCEL: u8 = 0x21;
    /// Master -> worker: the job ends.
    pub const SHUTDOWN: u8 = 0x22;
    /// Control client -> master: the job's and the workers' state, please.
    pub const STATUS_REQUEST: u8 = 0x30;
    /// Master -> control client: the answer to a status request.
    pub const STATUS_REPLY: u8 = 0x31;
    /// Control client -> master: set the thread count of all workers or one.
    pub const SET_THREADS_REQUEST: u8 = 0x32;
    /// Master -> control client: which workers were changed, and warnings.
    pub const SET_THREADS_REPLY: u8 = 0x33;
    /// Control client -> master: write what is in order, checkpoint, exit 0.
    pub const STOP_REQUEST: u8 = 0x34;
    /// Master -> control client: where the job stopped, sent before the master exits.
    pub const STOP_REPLY: u8 = 0x35;
    /// Either way: what went wrong, then the sender closes.
    pub const ERROR: u8 = 0x7e;
}

/// What a result carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The primes themselves, gap-encoded.
    Primes = 0,
    /// Only their count (the gap list is empty).
    Count = 1,
}

impl Mode {
    /// The mode with wire value `v`.
    pub fn from_u8(v: u8) -> Option<Mode> {
        match v {
            0 => Some(Mode::Primes),
            1 => Some(Mode::Count),
            _ => None,
        }
    }

    /// Lower-case name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Primes => "primes",
            Mode::Count => "count",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Worker -> master, first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
    pub name: String,
    pub cores: u32,
    pub threads: u32,
    pub arch: String,
    /// Bit i set: the worker has kernel i (0 auto, 1 sieve, 2 trial, 3 presieve).
    pub kernels: u32,
    /// Version 2: the authentication block (method, role, fresh client nonce).
    pub auth: HelloAuth,
}

/// Master -> worker, first frame: the master's hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub version: u16,
    pub worker_id: u32,
    pub mode: Mode,
    /// The job's kernel ([`kernel_code`]): 0 auto, 1 sieve, 2 trial, 3 presieve.
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
    /// Kernel for this chunk ([`kernel_code`]): [`kernel_code::AUTO`] (0) keeps the
    /// job's kernel from the welcome; another code asks for that kernel, so that copies
    /// of a chunk computed for a vote use different kernels and a kernel bug is outvoted.
    pub kernel: u8,
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
    /// The master stops (error, signal or operator) and may be resumed: drop the chunks
    /// held, wait and reconnect with backoff.
    Stopped = 1,
}

impl ShutdownReason {
    /// The reason with wire value `v`.
    pub fn from_u8(v: u8) -> Option<ShutdownReason> {
        match v {
            0 => Some(ShutdownReason::Done),
            1 => Some(ShutdownReason::Stopped),
            _ => None,
        }
    }

    /// Lower-case name for logs.
    pub fn name(self) -> &'static str {
        match self {
            ShutdownReason::Done => "done",
            ShutdownReason::Stopped => "stopped",
        }
    }
}

impl fmt::Display for ShutdownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error codes of error frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadMagic = 1,
    BadVersion = 2,
    Malformed = 3,
    BadResult = 4,
    Internal = 5,
    /// The authentication handshake failed (missing or wrong token, bad proof).
    Unauthorized = 6,
    /// The worker (by name and address) is quarantined for this job: a result of it
    /// lost a vote. Sent when it is dropped and when it comes back; retrying cannot
    /// help until the job ends, so a worker stops on it.
    Quarantined = 7,
}

impl ErrorCode {
    /// The code with wire value `v`.
    pub fn from_u8(v: u8) -> Option<ErrorCode> {
        match v {
            1 => Some(ErrorCode::BadMagic),
            2 => Some(ErrorCode::BadVersion),
            3 => Some(ErrorCode::Malformed),
            4 => Some(ErrorCode::BadResult),
            5 => Some(ErrorCode::Internal),
            6 => Some(ErrorCode::Unauthorized),
            7 => Some(ErrorCode::Quarantined),
            _ => None,
        }
    }

    /// Lower-case name for logs.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::BadMagic => "bad-magic",
            ErrorCode::BadVersion => "bad-version",
            ErrorCode::Malformed => "malformed",
            ErrorCode::BadResult => "bad-result",
            ErrorCode::Internal => "internal",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Quarantined => "quarantined",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Hello(Hello),
    Welcome(Welcome),
    Challenge(Challenge),
    Proof(ClientProof),
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
    /// Control client -> master (`docs/PROTOCOL.md` section 12; payloads in
    /// [`crate::control::msg`]).
    StatusRequest,
    /// Master -> control client. Boxed: it is large and rare, and would otherwise widen
    /// every message.
    StatusReply(Box<StatusReply>),
    SetThreadsRequest(SetThreadsRequest),
    SetThreadsReply(SetThreadsReply),
    StopRequest,
    StopReply(StopReply),
}

impl Message {
    /// Lower-case name of the message kind, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Welcome(_) => "welcome",
            Message::Challenge(_) => "challenge",
            Message::Proof(_) => "proof",
            Message::Assign(_) => "assign",
            Message::Result(_) => "result",
            Message::Heartbeat { .. } => "heartbeat",
            Message::SetThreads { .. } => "set-threads",
            Message::Cancel { .. } => "cancel",
            Message::Shutdown { .. } => "shutdown",
            Message::Error { .. } => "error",
            Message::StatusRequest => "status request",
            Message::StatusReply(_) => "status reply",
            Message::SetThreadsRequest(_) => "set-threads request",
            Message::SetThreadsReply(_) => "set-threads reply",
            Message::StopRequest => "stop request",
            Message::StopReply(_) => "stop reply",
        }
    }

    /// The type byte of the message's frame (see [`code`]).
    pub fn type_code(&self) -> u8 {
        match self {
            Message::Hello(_) => code::HELLO,
            Message::Welcome(_) => code::WELCOME,
            Message::Challenge(_) => code::CHALLENGE,
            Message::Proof(_) => code::PROOF,
            Message::Assign(_) => code::ASSIGN,
            Message::Result(_) => code::RESULT,
            Message::Heartbeat { .. } => code::HEARTBEAT,
            Message::SetThreads { .. } => code::SET_THREADS,
            Message::Cancel { .. } => code::CANCEL,
            Message::Shutdown { .. } => code::SHUTDOWN,
            Message::Error { .. } => code::ERROR,
            Message::StatusRequest => code::STATUS_REQUEST,
            Message::StatusReply(_) => code::STATUS_REPLY,
            Message::SetThreadsRequest(_) => code::SET_THREADS_REQUEST,
            Message::SetThreadsReply(_) => code::SET_THREADS_REPLY,
            Message::StopRequest => code::STOP_REQUEST,
            Message::StopReply(_) => code::STOP_REPLY,
        }
    }

    /// Bytes [`encode`] appends for this message, length prefix included. A frame can be
    /// sent only if this is at most `LEN_PREFIX + MAX_FRAME_LEN`.
    pub fn encoded_len(&self) -> usize {
        LEN_PREFIX + 1 + self.payload_len() + 4
    }

    fn payload_len(&self) -> usize {
        match self {
            Message::Hello(h) => {
                4 + 2 + str_len(&h.name) + 4 + 4 + str_len(&h.arch) + 4 + HELLO_AUTH_LEN
            }
            Message::Welcome(_) => 4 + 2 + 4 + 1 + 1 + 4 + 4,
            Message::Challenge(c) => match c {
                Challenge::NoAuth => 1,
                Challenge::Hmac { .. } => 1 + 32 + 32,
            },
            Message::Proof(p) => match p {
                ClientProof::NoAuth => 1,
                ClientProof::Hmac { .. } => 1 + 32,
            },
            Message::Assign(_) => 8 + 16 + 16 + 1,
            Message::Result(r) => RESULT_FIXED_LEN as usize + r.gaps.len(),
            Message::Heartbeat { .. } => 4 + 4,
            Message::SetThreads { .. } => 4,
            Message::Cancel { .. } => 8,
            Message::Shutdown { message, .. } | Message::Error { message, .. } => {
                1 + str_len(message)
            }
            Message::StatusRequest
            | Message::StatusReply(_)
            | Message::SetThreadsRequest(_)
            | Message::SetThreadsReply(_)
            | Message::StopRequest
            | Message::StopReply(_) => {
                // Control payloads have lists and options: emitting is the one exact
                // measure, and they are rare and small enough for it.
                let mut v = Vec::new();
                emit_control(self, &mut v);
                v.len()
            }
        }
    }
}

/// A one-line summary for logs; unlike `Debug` it never prints the gap bytes.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Hello(h) => write!(
                f,
                "hello v{} from {} {:?} ({}, {} cores, {} threads, kernels 0b{:b}, {})",
                h.version, h.auth.role, h.name, h.arch, h.cores, h.threads, h.kernels, h.auth.auth
            ),
            Message::Challenge(c) => write!(f, "challenge ({})", c.method()),
            Message::Proof(p) => write!(
                f,
                "proof ({})",
                match p {
                    ClientProof::NoAuth => "no authentication",
                    ClientProof::Hmac { .. } => "HMAC-SHA256",
                }
            ),
            Message::Welcome(w) => write!(
                f,
                "welcome v{}: worker {}, mode {}, kernel {}, heartbeat {} ms, threads {}",
                w.version, w.worker_id, w.mode, w.kernel, w.heartbeat_ms, w.threads
            ),
            Message::Assign(a) => write!(f, "assign chunk {} [{}..={}]", a.chunk, a.start, a.stop),
            Message::Result(r) => write!(
                f,
                "result chunk {} [{}..={}]: {} primes, {} gap bytes, digest {:016x}, {} us",
                r.chunk,
                r.start,
                r.stop,
                r.count,
                r.gaps.len(),
                r.digest,
                r.compute_us
            ),
            Message::Heartbeat { threads, busy } => {
                write!(f, "heartbeat: {busy} of {threads} threads busy")
            }
            Message::SetThreads { threads } => write!(f, "set-threads {threads}"),
            Message::Cancel { chunk } => write!(f, "cancel chunk {chunk}"),
            Message::Shutdown { reason, message } => write!(f, "shutdown ({reason}): {message}"),
            Message::Error { code, message } => write!(f, "error ({code}): {message}"),
            Message::StatusRequest => f.write_str("status request"),
            Message::StatusReply(r) => write!(
                f,
                "status reply: {} of {}..={} done, {} worker rows",
                r.job.done,
                r.job.start,
                r.job.stop,
                r.workers.len()
            ),
            Message::SetThreadsRequest(r) => {
                write!(
                    f,
                    "set-threads request: {} threads for {}",
                    r.threads, r.target
                )
            }
            Message::SetThreadsReply(r) => write!(
                f,
                "set-threads reply: {} threads, {} changed, {} warnings",
                r.threads,
                r.changed.len(),
                r.warnings.len()
            ),
            Message::StopRequest => f.write_str("stop request"),
            Message::StopReply(r) => write!(
                f,
                "stop reply: {} done, {} primes, checkpointed {}, {} workers told",
                r.done, r.primes, r.checkpointed, r.workers
            ),
        }
    }
}

/// Why bytes were refused. Each message names the bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The length prefix exceeds [`MAX_FRAME_LEN`] (often: the peer is not a primecluster
    /// peer at all, e.g. an HTTP client whose "GET " reads as a huge length).
    TooLong { len: u32 },
    /// The length prefix exceeds what the receiver takes from this peer now (see
    /// [`decode_within`]): `cap` is that bound, `now` says why it applies.
    OverCap {
        len: u32,
        cap: u32,
        now: &'static str,
    },
    /// The length prefix is below [`MIN_FRAME_LEN`].
    TooShort { len: u32 },
    /// The CRC at the end of the frame differs from the one computed over type + payload.
    BadCrc { stated: u32, computed: u32 },
    /// A type byte this version does not know.
    UnknownType { code: u8 },
    /// The payload of a `msg` frame ends inside field `field`.
    Truncated {
        msg: &'static str,
        field: &'static str,
        payload_len: usize,
    },
    /// The payload of a `msg` frame goes on `extra` bytes past its last field.
    TrailingBytes { msg: &'static str, extra: usize },
    /// A field holds a value outside its range; `expected` says what is allowed.
    InvalidValue {
        msg: &'static str,
        field: &'static str,
        value: u64,
        expected: &'static str,
    },
    /// A string field is not UTF-8.
    BadUtf8 {
        msg: &'static str,
        field: &'static str,
    },
    /// A string field is longer than [`MAX_STR_LEN`].
    StringTooLong {
        msg: &'static str,
        field: &'static str,
        len: usize,
    },
    /// A range with `start > stop`.
    StartAfterStop {
        msg: &'static str,
        start: u128,
        stop: u128,
    },
    /// A hello or welcome without [`MAGIC`]: the peer does not speak this protocol.
    BadMagic { msg: &'static str, found: [u8; 4] },
    /// A hello or welcome of another protocol version whose payload does not parse as
    /// this version's. A receiver that decoded a hello or welcome of another version
    /// answers with this error's [`to_message`](WireError::to_message) too.
    UnsupportedVersion { msg: &'static str, version: u16 },
    /// A handshake payload (the hello's authentication block, a challenge or a proof)
    /// does not parse in a way the variants above do not describe.
    Auth(AuthError),
    /// A control payload (types 0x30–0x35) refused by its parser in
    /// [`crate::control::msg`], which names the message, the field and the value.
    Control(ControlError),
}

impl From<AuthError> for WireError {
    fn from(e: AuthError) -> Self {
        WireError::Auth(e)
    }
}

impl WireError {
    /// The code to put in the error frame that answers this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            WireError::BadMagic { .. } => ErrorCode::BadMagic,
            WireError::UnsupportedVersion { .. } => ErrorCode::BadVersion,
            _ => ErrorCode::Malformed,
        }
    }

    /// The error frame that answers this error before the connection is closed.
    pub fn to_message(&self) -> Message {
        Message::Error {
            code: self.code(),
            message: self.to_string(),
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooLong { len } => write!(
                f,
                "frame length {len} exceeds maximum {MAX_FRAME_LEN} (is the peer a primecluster \
                 master or worker?)"
            ),
            WireError::OverCap { len, cap, now } => write!(
                f,
                "frame length {len} exceeds {cap}, the most accepted {now}"
            ),
            WireError::TooShort { len } => write!(
                f,
                "frame length {len} is below the minimum {MIN_FRAME_LEN} (type byte + CRC)"
            ),
            WireError::BadCrc { stated, computed } => write!(
                f,
                "CRC mismatch: frame says 0x{stated:08x}, computed 0x{computed:08x} (frame \
                 corrupted in transit)"
            ),
            WireError::UnknownType { code } => write!(f, "unknown message type 0x{code:02x}"),
            WireError::Truncated {
                msg,
                field,
                payload_len,
            } => write!(
                f,
                "{msg} frame too short: its {payload_len}-byte payload ends inside field `{field}`"
            ),
            WireError::TrailingBytes { msg, extra } => {
                write!(
                    f,
                    "{msg} frame has {extra} unexpected bytes after its last field"
                )
            }
            WireError::InvalidValue {
                msg,
                field,
                value,
                expected,
            } => {
                write!(
                    f,
                    "{msg} field `{field}` has invalid value {value} (expected {expected})"
                )
            }
            WireError::BadUtf8 { msg, field } => {
                write!(f, "{msg} field `{field}` is not valid UTF-8")
            }
            WireError::StringTooLong { msg, field, len } => write!(
                f,
                "{msg} field `{field}` is {len} bytes long, maximum {MAX_STR_LEN}"
            ),
            WireError::StartAfterStop { msg, start, stop } => {
                write!(f, "{msg} range start {start} exceeds stop {stop}")
            }
            WireError::BadMagic { msg, found } => write!(
                f,
                "bad magic 0x{:08x} ({}) in {msg}, expected 0x{:08x} (\"PCLU\"): the peer does not \
                 speak the primecluster protocol",
                u32::from_be_bytes(*found),
                found.escape_ascii(),
                u32::from_be_bytes(MAGIC),
            ),
            WireError::UnsupportedVersion { msg, version } => write!(
                f,
                "{msg} of protocol version {version} not supported, this side speaks {VERSION}"
            ),
            WireError::Auth(e) => write!(f, "{e}"),
            WireError::Control(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WireError {}

// ---------------------------------------------------------------------------------------
// Emit

/// Appends `msg` as one frame to `out`.
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    out.reserve(msg.encoded_len());
    let at = out.len();
    put_u32(out, 0); // length, patched below
    out.push(msg.type_code());
    match msg {
        Message::Hello(h) => {
            out.extend_from_slice(&MAGIC);
            put_u16(out, h.version);
            put_str(out, &h.name);
            put_u32(out, h.cores);
            put_u32(out, h.threads);
            put_str(out, &h.arch);
            put_u32(out, h.kernels);
            h.auth.emit(out);
        }
        Message::Welcome(w) => {
            out.extend_from_slice(&MAGIC);
            put_u16(out, w.version);
            put_u32(out, w.worker_id);
            out.push(w.mode as u8);
            out.push(w.kernel);
            put_u32(out, w.heartbeat_ms);
            put_u32(out, w.threads);
        }
        Message::Challenge(c) => c.emit(out),
        Message::Proof(p) => p.emit(out),
        Message::Assign(a) => {
            put_u64(out, a.chunk);
            put_u128(out, a.start);
            put_u128(out, a.stop);
            out.push(a.kernel);
        }
        Message::Result(r) => {
            put_u64(out, r.chunk);
            put_u128(out, r.start);
            put_u128(out, r.stop);
            put_u64(out, r.count);
            put_u64(out, r.digest);
            put_u64(out, r.compute_us);
            // A gap list past u32::MAX cannot be sent; the clamp keeps the frame
            // self-consistent and the peer refuses its length.
            let n = r.gaps.len().min(u32::MAX as usize);
            put_u32(out, n as u32);
            out.extend_from_slice(r.gaps.get(..n).unwrap_or_default());
        }
        Message::Heartbeat { threads, busy } => {
            put_u32(out, *threads);
            put_u32(out, *busy);
        }
        Message::SetThreads { threads } => put_u32(out, *threads),
        Message::Cancel { chunk } => put_u64(out, *chunk),
        Message::Shutdown { reason, message } => {
            out.push(*reason as u8);
            put_str(out, message);
        }
        Message::Error { code, message } => {
            out.push(*code as u8);
            put_str(out, message);
        }
        control => emit_control(control, out),
    }
    let body = at + LEN_PREFIX;
    let crc = crc32fast::hash(&out[body..]);
    put_u32(out, crc);
    let len = u32::try_from(out.len() - body).unwrap_or(u32::MAX);
    BigEndian::write_u32(&mut out[at..body], len);
}

/// Appends the payload of a control message (nothing for the others).
fn emit_control(msg: &Message, out: &mut Vec<u8>) {
    match msg {
        Message::StatusRequest => StatusRequest.emit(out),
        Message::StatusReply(r) => r.emit(out),
        Message::SetThreadsRequest(r) => r.emit(out),
        Message::SetThreadsReply(r) => r.emit(out),
        Message::StopRequest => StopRequest.emit(out),
        Message::StopReply(r) => r.emit(out),
        _ => {}
    }
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    let mut b = [0; 2];
    BigEndian::write_u16(&mut b, v);
    out.extend_from_slice(&b);
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    let mut b = [0; 4];
    BigEndian::write_u32(&mut b, v);
    out.extend_from_slice(&b);
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    let mut b = [0; 8];
    BigEndian::write_u64(&mut b, v);
    out.extend_from_slice(&b);
}

fn put_u128(out: &mut Vec<u8>, v: u128) {
    let mut b = [0; 16];
    BigEndian::write_u128(&mut b, v);
    out.extend_from_slice(&b);
}

/// `s` cut to at most [`MAX_STR_LEN`] bytes at a character boundary.
fn capped(s: &str) -> &str {
    let mut end = s.len().min(MAX_STR_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn str_len(s: &str) -> usize {
    2 + capped(s).len()
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let s = capped(s);
    put_u16(out, s.len() as u16);
    out.extend_from_slice(s.as_bytes());
}

// ---------------------------------------------------------------------------------------
// Parse

/// Parses one frame from the front of `buf`: `Ok(None)` when more bytes are needed,
/// `Ok(Some((msg, consumed)))` for a whole frame, an error for anything wrong (after
/// which the connection cannot be resynchronised: answer and close).
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
    decode_within(buf, MAX_FRAME_LEN, "")
}

/// The length prefix of the frame at the front of `buf`, once its 4 bytes are there.
pub fn peek_len(buf: &[u8]) -> Option<u32> {
    buf.get(..LEN_PREFIX).map(BigEndian::read_u32)
}

/// [`decode`] with a tighter bound on the length: a frame longer than `cap` (when `cap`
/// is below [`MAX_FRAME_LEN`]) is refused with [`WireError::OverCap`] as soon as its
/// length prefix arrives, before any of its body is buffered. `now` names the state
/// that sets the cap, for the error message (e.g. "before the hello").
pub fn decode_within(
    buf: &[u8],
    cap: u32,
    now: &'static str,
) -> Result<Option<(Message, usize)>, WireError> {
    // Check: the length alone, then whether the whole frame is there. No allocation.
    let Some(len) = peek_len(buf) else {
        return Ok(None);
    };
    if len > MAX_FRAME_LEN {
        return Err(WireError::TooLong { len });
    }
    if len > cap {
        return Err(WireError::OverCap { len, cap, now });
    }
    if len < MIN_FRAME_LEN {
        return Err(WireError::TooShort { len });
    }
    let total = LEN_PREFIX + len as usize;
    let Some(frame) = buf.get(LEN_PREFIX..total) else {
        return Ok(None);
    };

    // Parse.
    let Some((body, crc)) = frame.split_at_checked(frame.len().saturating_sub(4)) else {
        return Err(WireError::TooShort { len });
    };
    let stated = BigEndian::read_u32(crc);
    let computed = crc32fast::hash(body);
    if stated != computed {
        return Err(WireError::BadCrc { stated, computed });
    }
    let Some((&ty, payload)) = body.split_first() else {
        return Err(WireError::TooShort { len });
    };
    let msg = parse_payload(ty, payload)?;
    Ok(Some((msg, total)))
}

fn parse_payload(ty: u8, payload: &[u8]) -> Result<Message, WireError> {
    let msg = match ty {
        code::HELLO => {
            let mut r = Reader::new("hello", payload);
            let version = r.magic_and_version()?;
            versioned("hello", version, parse_hello(version, &mut r))?
        }
        code::WELCOME => {
            let mut r = Reader::new("welcome", payload);
            let version = r.magic_and_version()?;
            versioned("welcome", version, parse_welcome(version, &mut r))?
        }
        code::CHALLENGE => {
            Message::Challenge(Challenge::parse(payload).map_err(|e| auth_error(e, payload.len()))?)
        }
        code::PROOF => {
            Message::Proof(ClientProof::parse(payload).map_err(|e| auth_error(e, payload.len()))?)
        }
        code::ASSIGN => {
            let mut r = Reader::new("assign", payload);
            let chunk = r.u64("chunk")?;
            let (start, stop) = r.range()?;
            let kernel = r.u8("kernel")?;
            if kernel > kernel_code::MAX {
                return Err(r.invalid("kernel", kernel.into(), kernel_code::EXPECTED));
            }
            r.finish()?;
            Message::Assign(Assign {
                chunk,
                start,
                stop,
                kernel,
            })
        }
        code::RESULT => {
            let mut r = Reader::new("result", payload);
            let chunk = r.u64("chunk")?;
            let (start, stop) = r.range()?;
            let count = r.u64("count")?;
            let digest = r.u64("digest")?;
            let compute_us = r.u64("compute_us")?;
            let n = r.u32("gaps_len")? as usize;
            let gaps = r.bytes(n, "gaps")?.to_vec();
            r.finish()?;
            Message::Result(ChunkResult {
                chunk,
                start,
                stop,
                count,
                digest,
                compute_us,
                gaps,
            })
        }
        code::HEARTBEAT => {
            let mut r = Reader::new("heartbeat", payload);
            let threads = r.u32("threads")?;
            let busy = r.u32("busy")?;
            r.finish()?;
            Message::Heartbeat { threads, busy }
        }
        code::SET_THREADS => {
            let mut r = Reader::new("set-threads", payload);
            let threads = r.u32("threads")?;
            if threads == 0 {
                return Err(r.invalid("threads", 0, "at least 1"));
            }
            r.finish()?;
            Message::SetThreads { threads }
        }
        code::CANCEL => {
            let mut r = Reader::new("cancel", payload);
            let chunk = r.u64("chunk")?;
            r.finish()?;
            Message::Cancel { chunk }
        }
        code::SHUTDOWN => {
            let mut r = Reader::new("shutdown", payload);
            let v = r.u8("reason")?;
            let reason = ShutdownReason::from_u8(v)
                .ok_or_else(|| r.invalid("reason", v.into(), "0 done or 1 stopped"))?;
            let message = r.string("message")?;
            r.finish()?;
            Message::Shutdown { reason, message }
        }
        code::ERROR => {
            let mut r = Reader::new("error", payload);
            let v = r.u8("code")?;
            let code =
                ErrorCode::from_u8(v).ok_or_else(|| r.invalid("code", v.into(), "1 to 7"))?;
            let message = r.string("message")?;
            r.finish()?;
            Message::Error { code, message }
        }
        code::STATUS_REQUEST => {
            StatusRequest::parse(payload).map_err(WireError::Control)?;
            Message::StatusRequest
        }
        code::STATUS_REPLY => Message::StatusReply(Box::new(
            StatusReply::parse(payload).map_err(WireError::Control)?,
        )),
        code::SET_THREADS_REQUEST => Message::SetThreadsRequest(
            SetThreadsRequest::parse(payload).map_err(WireError::Control)?,
        ),
        code::SET_THREADS_REPLY => {
            Message::SetThreadsReply(SetThreadsReply::parse(payload).map_err(WireError::Control)?)
        }
        code::STOP_REQUEST => {
            StopRequest::parse(payload).map_err(WireError::Control)?;
            Message::StopRequest
        }
        code::STOP_REPLY => {
            Message::StopReply(StopReply::parse(payload).map_err(WireError::Control)?)
        }
        code => return Err(WireError::UnknownType { code }),
    };
    Ok(msg)
}

/// A handshake payload's error as the frame's: the same variants and wording as every
/// other message, with the whole payload's length (`payload_len`).
fn auth_error(e: AuthError, payload_len: usize) -> WireError {
    match e {
        AuthError::Truncated { msg, field, .. } => WireError::Truncated {
            msg,
            field,
            payload_len,
        },
        AuthError::TrailingBytes { msg, extra } => WireError::TrailingBytes { msg, extra },
        AuthError::InvalidValue {
            msg,
            field,
            value,
            expected,
        } => WireError::InvalidValue {
            msg,
            field,
            value: value.into(),
            expected,
        },
        other => WireError::Auth(other),
    }
}

/// A hello or welcome of a version other than ours that fails to parse is reported as
/// a version problem, which is what the user has to fix.
fn versioned(
    msg: &'static str,
    version: u16,
    parsed: Result<Message, WireError>,
) -> Result<Message, WireError> {
    match parsed {
        Err(_) if version != VERSION => Err(WireError::UnsupportedVersion { msg, version }),
        other => other,
    }
}

fn parse_hello(version: u16, r: &mut Reader<'_>) -> Result<Message, WireError> {
    let name = r.string("name")?;
    let cores = r.u32("cores")?;
    let threads = r.u32("threads")?;
    let arch = r.string("arch")?;
    let kernels = r.u32("kernels")?;
    // The block ends the payload: its parser refuses a short or long remainder.
    let auth = HelloAuth::parse(r.rest()).map_err(|e| auth_error(e, r.payload_len))?;
    Ok(Message::Hello(Hello {
        version,
        name,
        cores,
        threads,
        arch,
        kernels,
        auth,
    }))
}

fn parse_welcome(version: u16, r: &mut Reader<'_>) -> Result<Message, WireError> {
    let worker_id = r.u32("worker_id")?;
    let v = r.u8("mode")?;
    let mode =
        Mode::from_u8(v).ok_or_else(|| r.invalid("mode", v.into(), "0 primes or 1 count"))?;
    let kernel = r.u8("kernel")?;
    if kernel > kernel_code::MAX {
        return Err(r.invalid("kernel", kernel.into(), kernel_code::EXPECTED));
    }
    let heartbeat_ms = r.u32("heartbeat_ms")?;
    let threads = r.u32("threads")?;
    r.finish()?;
    Ok(Message::Welcome(Welcome {
        version,
        worker_id,
        mode,
        kernel,
        heartbeat_ms,
        threads,
    }))
}

/// A cursor over one payload whose every accessor checks the length before reading,
/// so parsing cannot panic (the smoltcp `check_len` idea, one field at a time).
struct Reader<'a> {
    msg: &'static str,
    rest: &'a [u8],
    payload_len: usize,
}

impl<'a> Reader<'a> {
    fn new(msg: &'static str, payload: &'a [u8]) -> Self {
        Reader {
            msg,
            rest: payload,
            payload_len: payload.len(),
        }
    }

    fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        let Some((head, tail)) = self.rest.split_at_checked(n) else {
            return Err(WireError::Truncated {
                msg: self.msg,
                field,
                payload_len: self.payload_len,
            });
        };
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        let Some((&v, tail)) = self.rest.split_first() else {
            return Err(WireError::Truncated {
                msg: self.msg,
                field,
                payload_len: self.payload_len,
            });
        };
        self.rest = tail;
        Ok(v)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        self.bytes(2, field).map(BigEndian::read_u16)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        self.bytes(4, field).map(BigEndian::read_u32)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, WireError> {
        self.bytes(8, field).map(BigEndian::read_u64)
    }

    fn u128(&mut self, field: &'static str) -> Result<u128, WireError> {
        self.bytes(16, field).map(BigEndian::read_u128)
    }

    /// `start` and `stop`, refusing `start > stop`.
    fn range(&mut self) -> Result<(u128, u128), WireError> {
        let start = self.u128("start")?;
        let stop = self.u128("stop")?;
        if start > stop {
            return Err(WireError::StartAfterStop {
                msg: self.msg,
                start,
                stop,
            });
        }
        Ok((start, stop))
    }

    fn string(&mut self, field: &'static str) -> Result<String, WireError> {
        let len = self.u16(field)? as usize;
        if len > MAX_STR_LEN {
            return Err(WireError::StringTooLong {
                msg: self.msg,
                field,
                len,
            });
        }
        let bytes = self.bytes(len, field)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(WireError::BadUtf8 {
                msg: self.msg,
                field,
            }),
        }
    }

    /// The magic and version that open a hello or welcome.
    fn magic_and_version(&mut self) -> Result<u16, WireError> {
        let magic = self.bytes(4, "magic")?;
        if magic != MAGIC {
            let found = <[u8; 4]>::try_from(magic).unwrap_or_default();
            return Err(WireError::BadMagic {
                msg: self.msg,
                found,
            });
        }
        self.u16("version")
    }

    fn invalid(&self, field: &'static str, value: u64, expected: &'static str) -> WireError {
        WireError::InvalidValue {
            msg: self.msg,
            field,
            value,
            expected,
        }
    }

    /// What is left of the payload.
    fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Refuses bytes left after the last field.
    fn finish(&self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes {
                msg: self.msg,
                extra: self.rest.len(),
            })
        }
    }
}
