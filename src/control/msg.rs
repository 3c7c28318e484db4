//! The control payloads: what `status`, `threads` and `stop` send and get back.
//!
//! Each struct has `emit(&self, out)`, which appends its payload (no frame header), and
//! `parse(payload)`, which reads one. Integers are big-endian, a `str` is a `u16` byte
//! length then UTF-8 (at most [`MAX_STR_LEN`] bytes; `emit` cuts longer ones at a
//! character boundary, as `wire` does), an `opt_u64` is a tag byte (0 absent, 1 present)
//! then, only when present, the `u64`. `docs/PROTOCOL.md` section 12 has the tables.
//!
//! # Contract
//! - `parse` never panics: every read goes through [`Reader`], whose accessors check the
//!   length first. A list's count is checked against its cap and against the bytes left
//!   (count times the smallest entry) before anything is allocated, so a hostile peer
//!   cannot make us reserve more than its payload's size.
//! - `parse` refuses bytes after the last field, and values outside their range, naming
//!   the message, the field and the value.
//! - Encoding is canonical: whatever `parse` accepts, `emit` gives back byte for byte.

use super::{ControlError, MAX_REDUNDANCY, MAX_ROWS, MAX_STR_LEN, MAX_THREADS, MAX_WARNINGS};
use std::fmt;

/// What the job's output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Decimal text, one prime per line.
    Text = 0,
    /// The compact gap format of `docs/FORMAT.md`.
    Compact = 1,
    /// Only the count is printed at the end; no file.
    Count = 2,
}

impl OutputFormat {
    fn from_u8(v: u8) -> Option<OutputFormat> {
        match v {
            0 => Some(OutputFormat::Text),
            1 => Some(OutputFormat::Compact),
            2 => Some(OutputFormat::Count),
            _ => None,
        }
    }

    /// Lower-case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Text => "text",
            OutputFormat::Compact => "compact",
            OutputFormat::Count => "count",
        }
    }
}

/// A worker's standing in the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Connected and given work.
    Active = 0,
    /// Caught disagreeing with a quorum: dropped and refused for the rest of the job.
    Quarantined = 1,
    /// Gone (EOF, error, heartbeat silence); its unfinished chunks were requeued.
    Lost = 2,
}

impl WorkerState {
    fn from_u8(v: u8) -> Option<WorkerState> {
        match v {
            0 => Some(WorkerState::Active),
            1 => Some(WorkerState::Quarantined),
            2 => Some(WorkerState::Lost),
            _ => None,
        }
    }

    /// Lower-case name, as `status` prints it.
    pub fn name(self) -> &'static str {
        match self {
            WorkerState::Active => "active",
            WorkerState::Quarantined => "quarantined",
            WorkerState::Lost => "lost",
        }
    }
}

/// The job part of a status reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// First number of the range.
    pub start: u128,
    /// Last number of the range (inclusive).
    pub stop: u128,
    pub format: OutputFormat,
    /// Numbers of the range whose primes are written, in order from `start`
    /// (at most `stop - start + 1`).
    pub done: u128,
    /// Primes written so far.
    pub primes: u64,
    /// Numbers per second over the recent past.
    pub rate: u64,
    /// Seconds to the end at the current rate; `None` while unknown (no rate yet).
    pub eta_secs: Option<u64>,
    /// Bytes of output written (0 for a count job).
    pub bytes_written: u64,
    /// Bytes of results waiting in the reorder buffer for their turn.
    pub buffer_used: u64,
    /// The reorder buffer's cap in bytes (`--max-buffer`).
    pub buffer_cap: u64,
    /// K of `--redundancy K`: results that must agree before a chunk is written (1..=5).
    pub redundancy: u8,
    /// Milliseconds since the last checkpoint; `None` before the first one, or when the
    /// output has none (stdout, count).
    pub checkpoint_age_ms: Option<u64>,
}

impl JobStatus {
    /// Numbers in the range (`stop - start + 1`), saturated at `u128::MAX` for the one
    /// range that holds 2^128 of them (and 1, not a panic, for a master's struct built
    /// with `start > stop`, which `parse` refuses).
    pub fn total(&self) -> u128 {
        self.stop.saturating_sub(self.start).saturating_add(1)
    }

    /// Fraction done, 0.0..=1.0.
    pub fn fraction(&self) -> f64 {
        (self.done as f64 / self.total() as f64).min(1.0)
    }

    /// The ETA a master reports: seconds to do the `total() - done` numbers left at
    /// `rate` numbers/s, rounded up; unknown while the rate is 0; 0 when all is done.
    pub fn eta_at(&self, rate: u64) -> Option<u64> {
        let left = self.total().saturating_sub(self.done);
        if left == 0 {
            return Some(0);
        }
        if rate == 0 {
            return None;
        }
        let secs = left.div_ceil(u128::from(rate));
        Some(u64::try_from(secs).unwrap_or(u64::MAX))
    }
}

/// `part` of `whole` in basis points (0..=10000), as the `share_bp` of a worker row;
/// 0 when `whole` is 0. Exact for any u128 (no float rounding past 2^53).
pub fn basis_points(part: u128, whole: u128) -> u16 {
    if whole == 0 {
        return 0;
    }
    let part = part.min(whole);
    // part * 10000 may overflow u128 near 2^128: scale down both first, keeping 14 bits
    // of headroom (10000 < 2^14).
    let shift = (128 - whole.leading_zeros()).saturating_sub(114);
    let (p, w) = (part >> shift, (whole >> shift).max(1));
    u16::try_from(p * 10_000 / w).unwrap_or(10_000).min(10_000)
}

/// One worker row of a status reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    pub id: u32,
    /// The name it gave in its hello (remote input: escape before printing).
    pub name: String,
    /// Its address as the master sees it, e.g. `192.168.1.20:51432`.
    pub address: String,
    /// Its architecture as it reported it, e.g. `armv6`, `x86_64`.
    pub arch: String,
    pub cores: u32,
    /// Threads it runs (what the master last told it, or its own choice).
    pub threads: u32,
    /// Threads computing at its last heartbeat.
    pub busy: u32,
    /// Chunks it computed that were accepted.
    pub chunks: u64,
    /// Numbers per second over the recent past.
    pub rate: u64,
    /// Its share of the numbers done, in basis points (0..=10000 = 0..=100 %).
    pub share_bp: u16,
    /// Milliseconds since the master last heard from it.
    pub last_heard_ms: u64,
    pub state: WorkerState,
}

/// Control client -> master: what is the state of the job? (Empty payload.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusRequest;

/// Master -> control client: the job and one row per worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReply {
    pub job: JobStatus,
    pub workers: Vec<WorkerRow>,
}

/// Which workers a set-threads request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every worker, and every worker that joins later.
    All,
    /// The worker(s) with this name (remembered for when it reconnects).
    Name(String),
    /// The worker with this id.
    Id(u32),
}

impl Target {
    /// The command line's `--worker NAME|ID`: a number is an id, anything else a name.
    pub fn from_arg(arg: &str) -> Target {
        match arg.parse::<u32>() {
            Ok(id) => Target::Id(id),
            Err(_) => Target::Name(arg.to_string()),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::All => f.write_str("all workers"),
            Target::Name(n) => write!(f, "worker \"{}\"", n.escape_debug()),
            Target::Id(id) => write!(f, "worker {id}"),
        }
    }
}

/// Control client -> master: run `threads` threads on `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetThreadsRequest {
    pub target: Target,
    /// 1..=[`MAX_THREADS`].
    pub threads: u32,
}

/// One worker a set-threads request changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub id: u32,
    pub name: String,
    pub cores: u32,
    /// Threads it ran before.
    pub before: u32,
}

/// Something the operator should know about a set-threads request that still went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadsWarning {
    /// More threads than the worker has cores: allowed (issue 8), but they share cores.
    AboveCores { id: u32, name: String, cores: u32 },
    /// No worker of that name is connected now: the count is remembered and applied
    /// when one connects.
    NotConnected { name: String },
}

impl ThreadsWarning {
    /// The warning's text for a request of `threads` threads (names escaped).
    pub fn describe(&self, threads: u32) -> String {
        match self {
            ThreadsWarning::AboveCores { id, name, cores } => format!(
                "worker {id} \"{}\" has {cores} cores: {threads} threads will share them",
                name.escape_debug()
            ),
            ThreadsWarning::NotConnected { name } => format!(
                "no worker \"{}\" is connected: {threads} threads will apply when it connects",
                name.escape_debug()
            ),
        }
    }
}

/// Master -> control client: the answer to a set-threads request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetThreadsReply {
    /// The thread count now in force for the changed workers.
    pub threads: u32,
    pub changed: Vec<Changed>,
    pub warnings: Vec<ThreadsWarning>,
}

impl SetThreadsReply {
    /// The reply a master gives after changing `changed` to `threads`, with an
    /// [`ThreadsWarning::AboveCores`] for each worker with fewer cores than `threads`:
    /// one place decides when to warn.
    pub fn new(threads: u32, changed: Vec<Changed>) -> SetThreadsReply {
        let warnings = changed
            .iter()
            .filter(|c| threads > c.cores)
            .map(|c| ThreadsWarning::AboveCores {
                id: c.id,
                name: c.name.clone(),
                cores: c.cores,
            })
            .collect();
        SetThreadsReply {
            threads,
            changed,
            warnings,
        }
    }
}

/// Control client -> master: stop the job resumably. (Empty payload.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StopRequest;

/// Master -> control client, after it wrote what was in order and checkpointed, just
/// before it exits 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopReply {
    /// Numbers of the range written, from its start (so `--resume` continues at
    /// `start + done`).
    pub done: u128,
    /// Primes written.
    pub primes: u64,
    /// Whether a checkpoint was written: false when the output cannot be resumed
    /// (stdout or a count).
    pub checkpointed: bool,
    /// Workers told to wait for the master's return.
    pub workers: u32,
}

// ---------------------------------------------------------------------------------------
// Emit

impl StatusRequest {
    /// Appends the (empty) payload.
    pub fn emit(&self, _out: &mut Vec<u8>) {}

    /// Reads a payload, which must be empty.
    pub fn parse(payload: &[u8]) -> Result<StatusRequest, ControlError> {
        Reader::new("status request", payload).finish()?;
        Ok(StatusRequest)
    }
}

impl StopRequest {
    /// Appends the (empty) payload.
    pub fn emit(&self, _out: &mut Vec<u8>) {}

    /// Reads a payload, which must be empty.
    pub fn parse(payload: &[u8]) -> Result<StopRequest, ControlError> {
        Reader::new("stop request", payload).finish()?;
        Ok(StopRequest)
    }
}

/// Bytes of a worker row with empty strings: the least a row can take.
const MIN_ROW_LEN: usize = 4 + 2 + 2 + 2 + 4 + 4 + 4 + 8 + 8 + 2 + 8 + 1;
/// Bytes of a changed row with an empty name.
const MIN_CHANGED_LEN: usize = 4 + 2 + 4 + 4;
/// Bytes of the smallest warning (not-connected with an empty name).
const MIN_WARNING_LEN: usize = 1 + 2;

impl StatusReply {
    /// Appends the payload. Rows past [`MAX_ROWS`] are left out (a master never has
    /// that many; the peer would refuse the list).
    pub fn emit(&self, out: &mut Vec<u8>) {
        let j = &self.job;
        put_u128(out, j.start);
        put_u128(out, j.stop);
        out.push(j.format as u8);
        put_u128(out, j.done);
        put_u64(out, j.primes);
        put_u64(out, j.rate);
        put_opt_u64(out, j.eta_secs);
        put_u64(out, j.bytes_written);
        put_u64(out, j.buffer_used);
        put_u64(out, j.buffer_cap);
        out.push(j.redundancy);
        put_opt_u64(out, j.checkpoint_age_ms);
        let rows = self.workers.get(..MAX_ROWS).unwrap_or(&self.workers);
        put_u16(out, rows.len() as u16);
        for w in rows {
            put_u32(out, w.id);
            put_str(out, &w.name);
            put_str(out, &w.address);
            put_str(out, &w.arch);
            put_u32(out, w.cores);
            put_u32(out, w.threads);
            put_u32(out, w.busy);
            put_u64(out, w.chunks);
            put_u64(out, w.rate);
            put_u16(out, w.share_bp);
            put_u64(out, w.last_heard_ms);
            out.push(w.state as u8);
        }
    }

    /// Reads a payload.
    pub fn parse(payload: &[u8]) -> Result<StatusReply, ControlError> {
        let mut r = Reader::new("status reply", payload);
        let start = r.u128("start")?;
        let stop = r.u128("stop")?;
        if start > stop {
            return Err(ControlError::StartAfterStop { start, stop });
        }
        let v = r.u8("format")?;
        let format = OutputFormat::from_u8(v)
            .ok_or_else(|| r.invalid("format", v.into(), "0 text, 1 compact or 2 count"))?;
        let done = r.u128("done")?;
        if done > (stop - start).saturating_add(1) {
            return Err(r.invalid("done", done, "at most stop - start + 1"));
        }
        let primes = r.u64("primes")?;
        let rate = r.u64("rate")?;
        let eta_secs = r.opt_u64("eta_secs")?;
        let bytes_written = r.u64("bytes_written")?;
        let buffer_used = r.u64("buffer_used")?;
        let buffer_cap = r.u64("buffer_cap")?;
        let redundancy = r.u8("redundancy")?;
        if !(1..=MAX_REDUNDANCY).contains(&redundancy) {
            return Err(r.invalid("redundancy", redundancy.into(), "1 to 5"));
        }
        let checkpoint_age_ms = r.opt_u64("checkpoint_age_ms")?;
        let n = r.count("workers", MAX_ROWS, MIN_ROW_LEN)?;
        let mut workers = Vec::with_capacity(n);
        for _ in 0..n {
            workers.push(parse_row(&mut r)?);
        }
        r.finish()?;
        Ok(StatusReply {
            job: JobStatus {
                start,
                stop,
                format,
                done,
                primes,
                rate,
                eta_secs,
                bytes_written,
                buffer_used,
                buffer_cap,
                redundancy,
                checkpoint_age_ms,
            },
            workers,
        })
    }
}

fn parse_row(r: &mut Reader<'_>) -> Result<WorkerRow, ControlError> {
    let id = r.u32("id")?;
    let name = r.string("name")?;
    let address = r.string("address")?;
    let arch = r.string("arch")?;
    let cores = r.u32("cores")?;
    let threads = r.u32("threads")?;
    let busy = r.u32("busy")?;
    let chunks = r.u64("chunks")?;
    let rate = r.u64("rate")?;
    let share_bp = r.u16("share_bp")?;
    if share_bp > 10_000 {
        return Err(r.invalid("share_bp", share_bp.into(), "0 to 10000 basis points"));
    }
    let last_heard_ms = r.u64("last_heard_ms")?;
    let v = r.u8("state")?;
    let state = WorkerState::from_u8(v)
        .ok_or_else(|| r.invalid("state", v.into(), "0 active, 1 quarantined or 2 lost"))?;
    Ok(WorkerRow {
        id,
        name,
        address,
        arch,
        cores,
        threads,
        busy,
        chunks,
        rate,
        share_bp,
        last_heard_ms,
        state,
    })
}

impl SetThreadsRequest {
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match &self.target {
            Target::All => out.push(0),
            Target::Name(name) => {
                out.push(1);
                put_str(out, name);
            }
            Target::Id(id) => {
                out.push(2);
                put_u32(out, *id);
            }
        }
        put_u32(out, self.threads);
    }

    /// Reads a payload.
    pub fn parse(payload: &[u8]) -> Result<SetThreadsRequest, ControlError> {
        let mut r = Reader::new("set-threads request", payload);
        let target = match r.u8("target")? {
            0 => Target::All,
            1 => {
                let name = r.string("name")?;
                if name.is_empty() {
                    return Err(r.invalid("name", 0, "a name of at least 1 byte"));
                }
                Target::Name(name)
            }
            2 => Target::Id(r.u32("id")?),
            v => return Err(r.invalid("target", v.into(), "0 all, 1 name or 2 id")),
        };
        let threads = r.u32("threads")?;
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(r.invalid("threads", threads.into(), "1 to 1024"));
        }
        r.finish()?;
        Ok(SetThreadsRequest { target, threads })
    }
}

impl SetThreadsReply {
    /// Appends the payload. Entries past the caps are left out.
    pub fn emit(&self, out: &mut Vec<u8>) {
        put_u32(out, self.threads);
        let changed = self.changed.get(..MAX_ROWS).unwrap_or(&self.changed);
        put_u16(out, changed.len() as u16);
        for c in changed {
            put_u32(out, c.id);
            put_str(out, &c.name);
            put_u32(out, c.cores);
            put_u32(out, c.before);
        }
        let warnings = self.warnings.get(..MAX_WARNINGS).unwrap_or(&self.warnings);
        put_u16(out, warnings.len() as u16);
        for w in warnings {
            match w {
                ThreadsWarning::AboveCores { id, name, cores } => {
                    out.push(0);
                    put_u32(out, *id);
                    put_str(out, name);
                    put_u32(out, *cores);
                }
                ThreadsWarning::NotConnected { name } => {
                    out.push(1);
                    put_str(out, name);
                }
            }
        }
    }

    /// Reads a payload.
    pub fn parse(payload: &[u8]) -> Result<SetThreadsReply, ControlError> {
        let mut r = Reader::new("set-threads reply", payload);
        let threads = r.u32("threads")?;
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(r.invalid("threads", threads.into(), "1 to 1024"));
        }
        let n = r.count("changed", MAX_ROWS, MIN_CHANGED_LEN)?;
        let mut changed = Vec::with_capacity(n);
        for _ in 0..n {
            changed.push(Changed {
                id: r.u32("id")?,
                name: r.string("name")?,
                cores: r.u32("cores")?,
                before: r.u32("before")?,
            });
        }
        let n = r.count("warnings", MAX_WARNINGS, MIN_WARNING_LEN)?;
        let mut warnings = Vec::with_capacity(n);
        for _ in 0..n {
            let w = match r.u8("warning")? {
                0 => ThreadsWarning::AboveCores {
                    id: r.u32("id")?,
                    name: r.string("name")?,
                    cores: r.u32("cores")?,
                },
                1 => ThreadsWarning::NotConnected {
                    name: r.string("name")?,
                },
                v => {
                    return Err(r.invalid("warning", v.into(), "0 above-cores or 1 not-connected"))
                }
            };
            warnings.push(w);
        }
        r.finish()?;
        Ok(SetThreadsReply {
            threads,
            changed,
            warnings,
        })
    }
}

impl StopReply {
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        put_u128(out, self.done);
        put_u64(out, self.primes);
        out.push(u8::from(self.checkpointed));
        put_u32(out, self.workers);
    }

    /// Reads a payload.
    pub fn parse(payload: &[u8]) -> Result<StopReply, ControlError> {
        let mut r = Reader::new("stop reply", payload);
        let done = r.u128("done")?;
        let primes = r.u64("primes")?;
        let checkpointed = match r.u8("checkpointed")? {
            0 => false,
            1 => true,
            v => return Err(r.invalid("checkpointed", v.into(), "0 no or 1 yes")),
        };
        let workers = r.u32("workers")?;
        r.finish()?;
        Ok(StopReply {
            done,
            primes,
            checkpointed,
            workers,
        })
    }
}

/// The payload of the protocol's error frame (`u8 code | str message`), as a control
/// client receives it in place of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub code: u8,
    pub message: String,
}

impl ErrorReply {
    /// Appends the payload.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.code);
        put_str(out, &self.message);
    }

    /// Reads a payload. Any code is kept: the client reports it, whatever it is.
    pub fn parse(payload: &[u8]) -> Result<ErrorReply, ControlError> {
        let mut r = Reader::new("error", payload);
        let code = r.u8("code")?;
        let message = r.string("message")?;
        r.finish()?;
        Ok(ErrorReply { code, message })
    }
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u128(out: &mut Vec<u8>, v: u128) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put_u64(out, v);
        }
    }
}

/// `s` cut to at most [`MAX_STR_LEN`] bytes at a character boundary (the cut `wire` makes).
fn capped(s: &str) -> &str {
    let mut end = s.len().min(MAX_STR_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let s = capped(s);
    put_u16(out, s.len() as u16);
    out.extend_from_slice(s.as_bytes());
}

// ---------------------------------------------------------------------------------------
// Parse

/// A cursor over one payload whose accessors check the length before reading, so the
/// parsers cannot panic (the reader of `wire.rs`, with counts and options added).
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

    fn truncated(&self, field: &'static str) -> ControlError {
        ControlError::Truncated {
            msg: self.msg,
            field,
            payload_len: self.payload_len,
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ControlError> {
        let Some((head, tail)) = self.rest.split_first_chunk::<N>() else {
            return Err(self.truncated(field));
        };
        self.rest = tail;
        Ok(*head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, ControlError> {
        self.array::<1>(field).map(|[v]| v)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, ControlError> {
        self.array(field).map(u16::from_be_bytes)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, ControlError> {
        self.array(field).map(u32::from_be_bytes)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, ControlError> {
        self.array(field).map(u64::from_be_bytes)
    }

    fn u128(&mut self, field: &'static str) -> Result<u128, ControlError> {
        self.array(field).map(u128::from_be_bytes)
    }

    /// A tag byte (0 absent, 1 present) and, when present, a `u64`.
    fn opt_u64(&mut self, field: &'static str) -> Result<Option<u64>, ControlError> {
        match self.u8(field)? {
            0 => Ok(None),
            1 => self.u64(field).map(Some),
            v => Err(self.invalid(field, v.into(), "tag 0 absent or 1 present")),
        }
    }

    /// A `u16` list length, refused past `max` or past what the bytes left can hold at
    /// `min_item` bytes an entry, so the caller may reserve it.
    fn count(
        &mut self,
        field: &'static str,
        max: usize,
        min_item: usize,
    ) -> Result<usize, ControlError> {
        let count = self.u16(field)? as usize;
        if count > max {
            return Err(ControlError::TooMany {
                msg: self.msg,
                field,
                count,
                max,
            });
        }
        if count.saturating_mul(min_item) > self.rest.len() {
            return Err(self.truncated(field));
        }
        Ok(count)
    }

    fn string(&mut self, field: &'static str) -> Result<String, ControlError> {
        let len = self.u16(field)? as usize;
        if len > MAX_STR_LEN {
            return Err(ControlError::StringTooLong {
                msg: self.msg,
                field,
                len,
            });
        }
        let Some((bytes, tail)) = self.rest.split_at_checked(len) else {
            return Err(self.truncated(field));
        };
        self.rest = tail;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(ControlError::BadUtf8 {
                msg: self.msg,
                field,
            }),
        }
    }

    fn invalid(&self, field: &'static str, value: u128, expected: &'static str) -> ControlError {
        ControlError::InvalidValue {
            msg: self.msg,
            field,
            value,
            expected,
        }
    }

    /// Refuses bytes left after the last field.
    fn finish(&self) -> Result<(), ControlError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(ControlError::TrailingBytes {
                msg: self.msg,
                extra: self.rest.len(),
            })
        }
    }
}
