//! Output: the text and compact writers, checkpoints and resume, decode and verify.
//!
//! # Contract
//! - [`OutputWriter`] takes the job's chunks in order (gap lists, `gaps.rs`), writes
//!   them as text (one decimal prime per line, byte-identical to `primesieve START STOP
//!   --print`) or compact (`docs/FORMAT.md`) in large sequential writes (1 MiB), asking
//!   the kernel to start write-back every 8 MiB so that dirty pages never pile up.
//! - [`OutputWriter::checkpoint`] is the durability point: flush, fsync the output, then
//!   atomically replace `<out>.ckpt` ([`checkpoint_path`]). A checkpoint never claims
//!   more than is durably on disk; after a write error the writer refuses to go on and
//!   the file stays resumable from its last checkpoint.
//! - [`OutputWriter::resume`] truncates the output to its checkpoint and says where the
//!   job goes on; the finished file is byte-identical to an uninterrupted run's,
//!   whatever the chunk boundaries were (compact blocks hold a fixed number of primes).
//! - [`decode`] turns a compact file into the identical text; [`verify`] recomputes a
//!   file's primes and names the first discrepancy.
//!
//! # Layout
//! - [`text`]: incremental decimal formatting and the output buffer.
//! - [`compact`]: the compact format's header, blocks and trailer; writer and reader.
//! - [`checkpoint`]: the checkpoint file.
//! - [`verify`]: `decode` and `verify`.

pub mod checkpoint;
pub mod compact;
pub mod text;
pub mod verify;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::gaps::{get_varint, GapError};
pub use checkpoint::{checkpoint_path, Checkpoint};
use compact::{BlockWriter, Header, BLOCK_PRIMES, HEADER_LEN};
use text::{Decimal, OutBuf, Resume, BUF_CAP};
pub use verify::{decode, verify, Discrepancy, DiscrepancyKind, VerifyReport};

/// The output file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One decimal prime per line.
    #[default]
    Text,
    /// Gap-encoded binary, about one byte per prime (`docs/FORMAT.md`).
    Compact,
}

impl Format {
    /// The names the CLI accepts, for messages.
    pub const NAMES: &'static str = "text, compact";
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Text => "text",
            Format::Compact => "compact",
        })
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Format::Text),
            "compact" => Ok(Format::Compact),
            _ => Err(format!("unknown format '{s}' (known: {})", Format::NAMES)),
        }
    }
}

/// What an output holds: the range, the format and the kernel that computed it. A
/// checkpoint of one job is refused for any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    pub start: u128,
    pub stop: u128,
    pub format: Format,
    pub kernel: String,
}

/// What went wrong with an output; every message names the file.
#[derive(Debug)]
pub enum OutputError {
    /// The operating system failed `op` ("writing", "syncing", ...) on `path`.
    Io {
        op: String,
        path: PathBuf,
        source: io::Error,
    },
    /// `create` without `force` found the file.
    Exists { path: PathBuf },
    /// `resume` found the output but no checkpoint beside it.
    NoCheckpoint { path: PathBuf, ckpt: PathBuf },
    /// `resume` found neither the output nor a checkpoint.
    NothingToResume { path: PathBuf },
    /// The checkpoint file is damaged.
    BadCheckpoint { path: PathBuf, reason: String },
    /// The checkpoint is for another job: `(field, there, here)` for each difference.
    OtherJob {
        ckpt: PathBuf,
        diffs: Vec<(&'static str, String, String)>,
    },
    /// The output is shorter than its checkpoint says: a wrong or damaged file.
    ShortOutput { path: PathBuf, have: u64, need: u64 },
    /// A chunk was refused: out of order, outside the job, or a bad gap list.
    BadChunk {
        start: u128,
        stop: u128,
        reason: String,
    },
    /// A compact file is damaged or cut short at `offset`.
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// `finish` before every chunk was appended.
    Unfinished {
        path: PathBuf,
        next: u128,
        stop: u128,
    },
    /// A call after an earlier write error (or after the job was finished).
    Stopped { path: PathBuf, reason: String },
    /// Bad arguments (e.g. verifying a text file without a range).
    Usage(String),
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use OutputError::*;
        match self {
            Io { op, path, source } => write!(f, "{op} {}: {source}", path.display()),
            Exists { path } => write!(
                f,
                "{} exists: use --resume to continue it or --force to overwrite it",
                path.display()
            ),
            NoCheckpoint { path, ckpt } => write!(
                f,
                "cannot resume {}: no checkpoint {} beside it; use --force to start over",
                path.display(),
                ckpt.display()
            ),
            NothingToResume { path } => {
                write!(
                    f,
                    "cannot resume {}: neither it nor its checkpoint exists",
                    path.display()
                )
            }
            BadCheckpoint { path, reason } => write!(
                f,
                "checkpoint {} is damaged ({reason}); use --force to start over",
                path.display()
            ),
            OtherJob { ckpt, diffs } => {
                write!(f, "checkpoint {} is for another job: ", ckpt.display())?;
                for (i, (field, there, here)) in diffs.iter().enumerate() {
                    let sep = if i > 0 { "; " } else { "" };
                    write!(f, "{sep}{field} {there} there, {here} here")?;
                }
                Ok(())
            }
            ShortOutput { path, have, need } => write!(
                f,
                "{} holds {have} bytes but its checkpoint says {need}: wrong or damaged file; \
                 use --force to start over",
                path.display()
            ),
            BadChunk {
                start,
                stop,
                reason,
            } => write!(f, "chunk {start}..={stop} refused: {reason}"),
            Corrupt {
                path,
                offset,
                reason,
            } => {
                write!(
                    f,
                    "{} is damaged at byte {offset}: {reason}",
                    path.display()
                )
            }
            Unfinished { path, next, stop } => write!(
                f,
                "finishing {} too early: numbers {next}..={stop} were never appended",
                path.display()
            ),
            Stopped { path, reason } => write!(f, "output {} stopped: {reason}", path.display()),
            Usage(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for OutputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OutputError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What [`OutputWriter::finish`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSummary {
    /// Primes in the file.
    pub primes: u64,
    /// Bytes in the file.
    pub bytes: u64,
}

/// Bytes written between two calls asking the kernel to start writing them back.
const WRITEBACK_STEP: u64 = 8 << 20;

enum Dest {
    /// `pos`: the file offset after the bytes written; `kicked`: up to where write-back
    /// was started (see [`start_writeback`]).
    File {
        file: File,
        path: PathBuf,
        pos: u64,
        kicked: u64,
    },
    Stream {
        w: Box<dyn Write + Send>,
        name: PathBuf,
    },
}

impl Dest {
    fn path(&self) -> &Path {
        match self {
            Dest::File { path, .. } => path,
            Dest::Stream { name, .. } => name,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        let r = match self {
            Dest::File {
                file, pos, kicked, ..
            } => file.write_all(bytes).map(|()| {
                *pos += bytes.len() as u64;
                if *pos - *kicked >= WRITEBACK_STEP {
                    start_writeback(file, *kicked, *pos - *kicked);
                    *kicked = *pos;
                }
            }),
            Dest::Stream { w, .. } => w.write_all(bytes),
        };
        r.map_err(|e| self.io("writing", e))
    }

    fn io(&self, op: &str, source: io::Error) -> OutputError {
        OutputError::Io {
            op: op.into(),
            path: self.path().to_path_buf(),
            source,
        }
    }
}

enum Body {
    Text(Decimal),
    Compact(BlockWriter),
}

/// Where the durable part of a compact file ends: after its last complete block.
#[derive(Debug, Clone, Copy)]
struct Mark {
    bytes: u64,
    primes: u64,
    last: Option<u128>,
}

/// Writes a job's chunks, in order, to a text or compact output; see the module doc.
pub struct OutputWriter {
    job: JobSpec,
    dest: Dest,
    buf: OutBuf,
    /// Bytes handed to `dest` so far (the file's length once flushed).
    written: u64,
    /// First number of the next chunk; `None` once the job's stop was appended.
    next: Option<u128>,
    primes: u64,
    last: Option<u128>,
    body: Body,
    /// Compact: the end of the last complete block (what a checkpoint may claim).
    mark: Mark,
    complete: bool,
    /// Set by the first write error; every later call fails with it.
    stopped: Option<String>,
}

fn first_next(job: &JobSpec) -> Option<u128> {
    (job.start <= job.stop).then_some(job.start)
}

impl OutputWriter {
    fn new(job: &JobSpec, dest: Dest) -> Self {
        let body = match job.format {
            Format::Text => Body::Text(Decimal::default()),
            Format::Compact => Body::Compact(BlockWriter::new(job.start, None)),
        };
        let mut w = OutputWriter {
            job: job.clone(),
            dest,
            buf: OutBuf::new(),
            written: 0,
            next: first_next(job),
            primes: 0,
            last: None,
            body,
            mark: Mark {
                bytes: 0,
                primes: 0,
                last: None,
            },
            complete: false,
            stopped: None,
        };
        if job.format == Format::Compact {
            let h = Header {
                start: job.start,
                stop: job.stop,
                block_primes: BLOCK_PRIMES,
            };
            w.buf.put(&h.to_bytes());
            w.mark.bytes = HEADER_LEN as u64;
        }
        w
    }

    /// New output file; an existing file is refused unless `force`. Writes a first
    /// checkpoint at once, so that even an early crash can be resumed.
    pub fn create(path: &Path, job: &JobSpec, force: bool) -> Result<Self, OutputError> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true);
        if force {
            opts.create(true).truncate(true);
        } else {
            opts.create_new(true);
        }
        let file = opts.open(path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                OutputError::Exists {
                    path: path.to_path_buf(),
                }
            } else {
                OutputError::Io {
                    op: "creating".into(),
                    path: path.to_path_buf(),
                    source: e,
                }
            }
        })?;
        let mut w = Self::new(
            job,
            Dest::File {
                file,
                path: path.to_path_buf(),
                pos: 0,
                kicked: 0,
            },
        );
        w.checkpoint()?;
        Ok(w)
    }

    /// Output to any writer (e.g. standard output); no checkpoints (`checkpoint` only
    /// flushes). Errors name the writer "standard output".
    pub fn to_stream(w: Box<dyn Write + Send>, job: &JobSpec) -> Self {
        Self::to_stream_named(w, job, "standard output")
    }

    /// Like [`OutputWriter::to_stream`], with the name errors should give the writer.
    pub fn to_stream_named(w: Box<dyn Write + Send>, job: &JobSpec, name: &str) -> Self {
        Self::new(
            job,
            Dest::Stream {
                w,
                name: PathBuf::from(name),
            },
        )
    }

    /// After a crash: reads the checkpoint beside `path`, refuses one of another job
    /// (naming each difference), truncates the file to the checkpoint, and returns the
    /// writer and the number from which the job must continue: `stop + 1` when every
    /// number was appended (wrapping to 0 for a job ending at 2^128-1: ask
    /// [`OutputWriter::next_start`] to tell the two apart). A complete job's writer
    /// only accepts `finish`, which then changes nothing.
    pub fn resume(path: &Path, job: &JobSpec) -> Result<(Self, u128), OutputError> {
        let ckpt_path = checkpoint_path(path);
        let Some(ck) = Checkpoint::load(path)? else {
            return Err(if path.exists() {
                OutputError::NoCheckpoint {
                    path: path.to_path_buf(),
                    ckpt: ckpt_path,
                }
            } else {
                OutputError::NothingToResume {
                    path: path.to_path_buf(),
                }
            });
        };
        let diffs = job_diffs(&ck.job, job);
        if !diffs.is_empty() {
            return Err(OutputError::OtherJob {
                ckpt: ckpt_path,
                diffs,
            });
        }
        let io = |op: &str, e| OutputError::Io {
            op: op.into(),
            path: path.to_path_buf(),
            source: e,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io("opening", e))?;
        let have = file.metadata().map_err(|e| io("reading", e))?.len();
        if have < ck.bytes {
            return Err(OutputError::ShortOutput {
                path: path.to_path_buf(),
                have,
                need: ck.bytes,
            });
        }
        check_kept_part(&mut file, path, &ck)?;
        if have > ck.bytes {
            file.set_len(ck.bytes).map_err(|e| io("truncating", e))?;
            file.sync_all().map_err(|e| io("syncing", e))?;
        }
        file.seek(SeekFrom::Start(ck.bytes))
            .map_err(|e| io("seeking in", e))?;
        let body = match job.format {
            Format::Text => Body::Text(Decimal::default()),
            Format::Compact => Body::Compact(BlockWriter::new(job.start, ck.last)),
        };
        let w = OutputWriter {
            job: job.clone(),
            dest: Dest::File {
                file,
                path: path.to_path_buf(),
                pos: ck.bytes,
                kicked: ck.bytes,
            },
            buf: OutBuf::new(),
            written: ck.bytes,
            next: ck.next,
            primes: ck.primes,
            last: ck.last,
            body,
            mark: Mark {
                bytes: ck.bytes,
                primes: ck.primes,
                last: ck.last,
            },
            complete: ck.complete,
            stopped: None,
        };
        let next = ck.next.unwrap_or_else(|| job.stop.wrapping_add(1));
        Ok((w, next))
    }

    /// The first number of the next chunk, `None` when every number was appended.
    pub fn next_start(&self) -> Option<u128> {
        self.next
    }

    /// Primes appended so far.
    pub fn primes_written(&self) -> u64 {
        self.primes
    }

    /// Bytes of output so far: handed to the file or stream, plus those still in the
    /// write buffer (for `status`).
    pub fn bytes_written(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    /// Whether the output is a file (checkpointed, resumable) rather than a stream.
    pub fn is_file(&self) -> bool {
        matches!(self.dest, Dest::File { .. })
    }

    /// The output's path (or the stream's name).
    pub fn path(&self) -> &Path {
        self.dest.path()
    }

    /// The job this output belongs to.
    pub fn job(&self) -> &JobSpec {
        &self.job
    }

    fn check_usable(&self) -> Result<(), OutputError> {
        if let Some(reason) = &self.stopped {
            let path = self.dest.path().to_path_buf();
            return Err(OutputError::Stopped {
                path,
                reason: reason.clone(),
            });
        }
        Ok(())
    }

    /// Records the first write error: no later call may write or checkpoint.
    fn fail(&mut self, e: OutputError) -> OutputError {
        if self.stopped.is_none() {
            self.stopped = Some(format!(
                "{e}; the file can be resumed from its last checkpoint"
            ));
        }
        e
    }

    /// Appends the next chunk: `start..=stop` with its primes gap-encoded relative to
    /// `start`. Chunks must be contiguous from the job start (or the resume point).
    pub fn append(&mut self, start: u128, stop: u128, gaps: &[u8]) -> Result<(), OutputError> {
        self.check_usable()?;
        let refuse = |reason: String| OutputError::BadChunk {
            start,
            stop,
            reason,
        };
        match self.next {
            _ if self.complete => return Err(refuse("the output is already finished".into())),
            None => return Err(refuse(format!("the job ended at {}", self.job.stop))),
            Some(n) if n != start => return Err(refuse(format!("expected a chunk from {n}"))),
            Some(_) if stop < start || stop > self.job.stop => {
                return Err(refuse(format!("the job ends at {}", self.job.stop)))
            }
            Some(_) => {}
        }
        // Check the whole list before writing any of it.
        let (n, last) = scan(gaps, start, stop).map_err(|e| refuse(e.to_string()))?;
        let r = self.encode_chunk(start, gaps);
        if let Err(e) = r {
            return Err(self.fail(e));
        }
        self.primes += n;
        if last.is_some() {
            self.last = last;
        }
        self.next = if stop == self.job.stop {
            None
        } else {
            Some(stop + 1)
        };
        Ok(())
    }

    fn encode_chunk(&mut self, start: u128, gaps: &[u8]) -> Result<(), OutputError> {
        let bad = |e: GapError| OutputError::BadChunk {
            start,
            stop: start,
            reason: e.to_string(),
        };
        let dest = &mut self.dest;
        let written = &mut self.written;
        match &mut self.body {
            Body::Text(dec) => {
                let mut flush = |b: &mut OutBuf| -> Result<(), OutputError> {
                    dest.write_all(b.bytes())?;
                    *written += b.len() as u64;
                    b.clear();
                    Ok(())
                };
                let from = Resume {
                    base: start,
                    prev: None,
                };
                text::encode(gaps, from, dec, &mut self.buf, &mut flush, &bad)?;
            }
            Body::Compact(bw) => {
                let buf = &mut self.buf;
                let mark = &mut self.mark;
                let mut emit = |payload: &[u8], last: u128| -> Result<(), OutputError> {
                    let head = compact::block_head(payload);
                    let crc = compact::block_crc(&head, payload);
                    for part in [&head[..], payload, &crc[..]] {
                        put(dest, written, buf, part)?;
                    }
                    mark.bytes = *written + buf.len() as u64;
                    mark.primes += BLOCK_PRIMES as u64;
                    mark.last = Some(last);
                    Ok(())
                };
                bw.push_chunk(start, gaps, &mut emit, &bad)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OutputError> {
        if !self.buf.is_empty() {
            self.dest.write_all(self.buf.bytes())?;
            self.written += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Flushes and fsyncs the output (a stream: flushes it).
    fn sync(&mut self) -> Result<(), OutputError> {
        self.flush()?;
        let r = match &mut self.dest {
            Dest::File { file, .. } => file.sync_data(),
            Dest::Stream { w, .. } => w.flush(),
        };
        r.map_err(|e| self.dest.io("syncing", e))
    }

    /// What a checkpoint written now may claim.
    fn durable_state(&self) -> Checkpoint {
        let (next, bytes, primes, last) = match self.job.format {
            _ if self.complete => (None, self.written, self.primes, self.last),
            Format::Text => (self.next, self.written, self.primes, self.last),
            Format::Compact => {
                let m = self.mark;
                let next = match m.last {
                    None => first_next(&self.job),
                    Some(p) if p >= self.job.stop => None,
                    Some(p) => Some(p + 1),
                };
                (next, m.bytes, m.primes, m.last)
            }
        };
        let job = self.job.clone();
        Checkpoint {
            job,
            next,
            bytes,
            primes,
            last,
            complete: self.complete,
        }
    }

    /// Durability point: flush, fsync the output, then atomically replace the
    /// checkpoint file. Compact: the checkpoint covers the complete blocks only (the
    /// partial block stays in memory and is rebuilt after a resume).
    pub fn checkpoint(&mut self) -> Result<(), OutputError> {
        self.check_usable()?;
        let r = self.checkpoint_inner();
        r.map_err(|e| self.fail(e))
    }

    fn checkpoint_inner(&mut self) -> Result<(), OutputError> {
        self.sync()?;
        if let Dest::File { path, .. } = &self.dest {
            self.durable_state().store(path)?;
        }
        Ok(())
    }

    /// After the last chunk: the trailer (compact), flush, fsync, and a final
    /// checkpoint marked complete.
    pub fn finish(mut self) -> Result<WriteSummary, OutputError> {
        self.check_usable()?;
        if self.complete {
            return Ok(WriteSummary {
                primes: self.primes,
                bytes: self.written,
            });
        }
        if let Some(next) = self.next {
            let path = self.dest.path().to_path_buf();
            return Err(OutputError::Unfinished {
                path,
                next,
                stop: self.job.stop,
            });
        }
        let r = self.finish_inner();
        r.map_err(|e| self.fail(e))?;
        Ok(WriteSummary {
            primes: self.primes,
            bytes: self.written,
        })
    }

    fn finish_inner(&mut self) -> Result<(), OutputError> {
        if let Body::Compact(bw) = &mut self.body {
            let (dest, written, buf) = (&mut self.dest, &mut self.written, &mut self.buf);
            let mut emit = |payload: &[u8], _last: u128| -> Result<(), OutputError> {
                let head = compact::block_head(payload);
                let crc = compact::block_crc(&head, payload);
                for part in [&head[..], payload, &crc[..]] {
                    put(dest, written, buf, part)?;
                }
                Ok(())
            };
            bw.finish(&mut emit)?;
            let t = compact::trailer(self.primes, self.last);
            put(dest, written, buf, &t)?;
        }
        self.sync()?;
        self.complete = true;
        self.checkpoint_inner()
    }
}

/// Checks a chunk's gap list as [`crate::gaps::GapDecoder`] does (plus: the first prime is 2 or odd)
/// and returns the number of primes and the last one; one-byte gaps take a fast path.
fn scan(gaps: &[u8], start: u128, stop: u128) -> Result<(u64, Option<u128>), GapError> {
    if gaps.is_empty() {
        return Ok((0, None));
    }
    let mut pos = 0;
    let v = get_varint(gaps, &mut pos)?;
    let mut p = start.checked_add(v).ok_or(GapError::Overflow)?;
    if p & 1 == 0 && p != 2 {
        return Err(GapError::Even { number: p });
    }
    let mut n = 1u64;
    if p == 2 && pos < gaps.len() {
        // The one odd gap: 2 -> 3 is stored as 0.
        let v = get_varint(gaps, &mut pos)?;
        p = v
            .checked_mul(2)
            .and_then(|d| d.checked_add(3))
            .ok_or(GapError::Overflow)?;
        n = 2;
    }
    let rest = &gaps[pos..];
    let mut i = 0;
    while i < rest.len() {
        let b = rest[i];
        let g = if b < 0x80 {
            i += 1;
            if b == 0 {
                return Err(GapError::NotRising { after: p });
            }
            2 * b as u128
        } else {
            let v = get_varint(rest, &mut i)?;
            if v == 0 {
                return Err(GapError::NotRising { after: p });
            }
            v.checked_mul(2).ok_or(GapError::Overflow)?
        };
        p = p.checked_add(g).ok_or(GapError::Overflow)?;
        n += 1;
    }
    if p > stop {
        return Err(GapError::PastStop { prime: p, stop });
    }
    Ok((n, Some(p)))
}

/// Asks the kernel to start writing `len` bytes at `from` back to the device now, without
/// waiting for them: dirty pages then never pile up, so a checkpoint's fsync waits for a
/// few megabytes at most instead of everything since the last one (seconds on a slow
/// microSD card), and the card sees a steady stream. Only a hint: errors are ignored
/// (the fsync of the checkpoint reports any real one).
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, from: u64, len: u64) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: a plain system call on a file descriptor we own; it reads no memory.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            from as _,
            len as _,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _from: u64, _len: u64) {}

/// Appends `bytes` to the buffer, flushing it first when they would not fit; a part
/// larger than the buffer goes straight out.
fn put(
    dest: &mut Dest,
    written: &mut u64,
    buf: &mut OutBuf,
    bytes: &[u8],
) -> Result<(), OutputError> {
    if buf.len() + bytes.len() > BUF_CAP {
        dest.write_all(buf.bytes())?;
        *written += buf.len() as u64;
        buf.clear();
    }
    if bytes.len() > BUF_CAP {
        dest.write_all(bytes)?;
        *written += bytes.len() as u64;
    } else {
        buf.put(bytes);
    }
    Ok(())
}

/// Cheap checks that the part of the output a checkpoint keeps is that job's: a compact
/// file's header, or the text's last line being the checkpoint's last prime.
fn check_kept_part(file: &mut File, path: &Path, ck: &Checkpoint) -> Result<(), OutputError> {
    let io = |e| OutputError::Io {
        op: "reading".into(),
        path: path.to_path_buf(),
        source: e,
    };
    let (at, want) = match ck.job.format {
        Format::Compact => {
            let h = Header {
                start: ck.job.start,
                stop: ck.job.stop,
                block_primes: BLOCK_PRIMES,
            };
            (0, h.to_bytes().to_vec())
        }
        Format::Text => match ck.last {
            None => return Ok(()),
            Some(last) => {
                let line = format!("{last}\n").into_bytes();
                (ck.bytes.saturating_sub(line.len() as u64), line)
            }
        },
    };
    let mut got = vec![0u8; want.len()];
    file.seek(SeekFrom::Start(at)).map_err(io)?;
    file.read_exact(&mut got).map_err(io)?;
    if got != want {
        let reason = match ck.job.format {
            Format::Compact => "the header is not this job's".to_string(),
            Format::Text => format!("the line before byte {} is not {}", ck.bytes, shown(&want)),
        };
        return Err(OutputError::Corrupt {
            path: path.to_path_buf(),
            offset: at,
            reason,
        });
    }
    Ok(())
}

fn shown(line: &[u8]) -> String {
    String::from_utf8_lossy(line).trim_end().to_string()
}

/// The fields in which two jobs differ, as `(field, there, here)`.
fn job_diffs(there: &JobSpec, here: &JobSpec) -> Vec<(&'static str, String, String)> {
    let mut d = Vec::new();
    let mut cmp = |field, a: String, b: String| {
        if a != b {
            d.push((field, a, b));
        }
    };
    cmp("start", there.start.to_string(), here.start.to_string());
    cmp("stop", there.stop.to_string(), here.stop.to_string());
    cmp("format", there.format.to_string(), here.format.to_string());
    cmp("kernel", there.kernel.clone(), here.kernel.clone());
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaps::GapDecoder;

    /// The reference check: the gaps.rs decoder, plus "the first prime is 2 or odd".
    fn reference(gaps: &[u8], start: u128, stop: u128) -> Result<(u64, Option<u128>), GapError> {
        let mut dec = GapDecoder::new(gaps, start, stop);
        let mut n = 0;
        while let Some(p) = dec.next_prime()? {
            if n == 0 && p & 1 == 0 && p != 2 {
                return Err(GapError::Even { number: p });
            }
            n += 1;
        }
        Ok((n, dec.last()))
    }

    #[test]
    fn scan_agrees_with_the_decoder() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = [0u8, 1, 2, 3, 4, 5, 0x7f, 0x80, 0x81, 0xff];
        for _ in 0..200_000 {
            let len = (rnd() % 8) as usize;
            let gaps: Vec<u8> = (0..len).map(|_| alphabet[(rnd() % 10) as usize]).collect();
            let start = [0u128, 1, 2, 3, u128::MAX - 300][(rnd() % 5) as usize];
            let stop = start.saturating_add((rnd() % 600) as u128);
            let (a, b) = (scan(&gaps, start, stop), reference(&gaps, start, stop));
            assert_eq!(
                a.is_ok(),
                b.is_ok(),
                "{gaps:?} from {start} to {stop}: {a:?} vs {b:?}"
            );
            if let (Ok(a), Ok(b)) = (a, b) {
                assert_eq!(a, b, "{gaps:?} from {start} to {stop}");
            }
        }
    }
}
