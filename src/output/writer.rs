//! [`OutputWriter`]: takes a job's checked chunks in order and writes them as text or
//! compact in large sequential writes, with checkpoints as its durability points.
//!
//! # Contract
//! - [`OutputWriter::append`] takes a [`Checked`] gap list (made only by
//!   [`crate::gaps::check`]), contiguous with the chunk before it; it never re-checks the
//!   list, it only walks it once to write it.
//! - [`OutputWriter::checkpoint`] flushes, fsyncs the output, makes sure the file on disk
//!   is still the one being written (same device and inode at its path, the length
//!   written, the bytes before the last checkpoint unchanged), then atomically replaces
//!   `<out>.ckpt`. When nothing changed since the last checkpoint it only re-checks the
//!   file: an idle master neither rewrites nor fsyncs anything.
//! - The first error (a write error, or the file deleted, replaced or cut by someone
//!   else) stops the writer: every later call fails with it, and the checkpoint on disk
//!   still describes a durable prefix, so the file stays resumable.
//! - [`OutputWriter::finish`] checks the file once more before it writes the checkpoint
//!   that says complete.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::compact::{self, BlockWriter, Header, BLOCK_PRIMES, HEADER_LEN};
use super::text::{self, Decimal, OutBuf, BUF_CAP};
use super::{Checkpoint, Format, JobSpec, OutputError, WriteSummary};
use crate::gaps::{Checked, GapError};

/// Bytes written between two calls asking the kernel to start writing them back.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Bytes before a checkpoint's end that the next checkpoint reads back: a file cut short
/// and then written past by us again (a hole of zeros) has the right length but not
/// these bytes.
const TAIL: u64 = 64;

/// Which file a path named when the writer opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Identity {
    dev: u64,
    ino: u64,
}

impl Identity {
    fn of(m: &fs::Metadata) -> Self {
        Identity {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

pub(super) enum Dest {
    /// `pos`: the file offset after the bytes written; `kicked`: up to where write-back
    /// was started (see [`start_writeback`]); `id`: the file opened.
    File {
        file: File,
        path: PathBuf,
        pos: u64,
        kicked: u64,
        id: Identity,
    },
    Stream {
        w: Box<dyn Write + Send>,
        name: PathBuf,
    },
}

impl Dest {
    /// A file just opened (or created) at `path`, positioned at `pos`.
    pub(super) fn file(file: File, path: &Path, pos: u64) -> Result<Self, OutputError> {
        let meta = file.metadata().map_err(|e| OutputError::Io {
            op: "reading the metadata of".into(),
            path: path.to_path_buf(),
            source: e,
        })?;
        Ok(Dest::File {
            file,
            path: path.to_path_buf(),
            pos,
            kicked: pos,
            id: Identity::of(&meta),
        })
    }

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
    /// Set by the first error; every later call fails with it.
    stopped: Option<String>,
    /// The checkpoint last stored: an unchanged state is not stored again.
    stored: Option<Checkpoint>,
    /// The bytes at `tail_at..tail_at + tail.len()` when the last checkpoint was stored.
    tail: Vec<u8>,
    tail_at: u64,
}

/// The first number of a job, `None` for an empty range.
pub(super) fn first_next(job: &JobSpec) -> Option<u128> {
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
            stored: None,
            tail: Vec::new(),
            tail_at: 0,
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

    /// A writer that goes on from a checkpoint: `file` holds exactly `ck.bytes` valid
    /// bytes and is positioned after them (see `resume.rs`).
    pub(super) fn reopened(job: &JobSpec, dest: Dest, ck: &Checkpoint) -> Self {
        let body = match job.format {
            Format::Text => Body::Text(Decimal::default()),
            Format::Compact => Body::Compact(BlockWriter::new(job.start, ck.last)),
        };
        OutputWriter {
            job: job.clone(),
            dest,
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
            stored: None,
            tail: Vec::new(),
            tail_at: 0,
        }
    }

    /// New output file; an existing file is refused unless `force`. The first
    /// checkpoint is written with the file, so that even an early crash can be resumed
    /// (and `resume` takes a file cut before it as a fresh start).
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
        let mut w = Self::new(job, Dest::file(file, path, 0)?);
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

    /// Has the output been finished (trailer and final checkpoint written)?
    pub fn is_complete(&self) -> bool {
        self.complete
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

    /// Records the first error: no later call may write or checkpoint.
    fn fail(&mut self, e: OutputError) -> OutputError {
        if self.stopped.is_none() {
            self.stopped = Some(format!(
                "{e}; the file can be resumed from its last checkpoint"
            ));
        }
        e
    }

    /// Appends the next chunk, a list checked by [`crate::gaps::check`] for
    /// `list.start()..=list.stop()`. Chunks must be contiguous from the job start (or
    /// the resume point).
    pub fn append(&mut self, list: &Checked) -> Result<(), OutputError> {
        self.check_usable()?;
        let (start, stop) = (list.start(), list.stop());
        let refuse = |reason: String| OutputError::BadChunk {
            start,
            stop,
            reason,
        };
        match self.next {
            _ if self.complete => return Err(refuse("the output is already finished".into())),
            _ if list.prev().is_some() => {
                return Err(refuse(
                    "a chunk's list starts at its start, not after a prime".into(),
                ))
            }
            None => return Err(refuse(format!("the job ended at {}", self.job.stop))),
            Some(n) if n != start => return Err(refuse(format!("expected a chunk from {n}"))),
            Some(_) if stop < start || stop > self.job.stop => {
                return Err(refuse(format!("the job ends at {}", self.job.stop)))
            }
            Some(_) => {}
        }
        let r = self.encode_chunk(list);
        if let Err(e) = r {
            return Err(self.fail(e));
        }
        self.primes += list.count();
        if list.last().is_some() {
            self.last = list.last();
        }
        self.next = if stop == self.job.stop {
            None
        } else {
            Some(stop + 1)
        };
        Ok(())
    }

    fn encode_chunk(&mut self, list: &Checked) -> Result<(), OutputError> {
        let bad = |e: GapError| OutputError::BadChunk {
            start: list.start(),
            stop: list.stop(),
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
                text::encode(list.walk(), dec, &mut self.buf, &mut flush, &bad)?;
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
                bw.push_chunk(list.walk(), &mut emit, &bad)?;
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

    /// Durability point: flush, fsync the output, check that the file is still ours,
    /// then atomically replace the checkpoint file. Compact: the checkpoint covers the
    /// complete blocks only (the partial block stays in memory and is rebuilt after a
    /// resume). With nothing new since the last checkpoint only the file is checked.
    pub fn checkpoint(&mut self) -> Result<(), OutputError> {
        self.check_usable()?;
        let r = self.checkpoint_inner();
        r.map_err(|e| self.fail(e))
    }

    fn checkpoint_inner(&mut self) -> Result<(), OutputError> {
        if !matches!(self.dest, Dest::File { .. }) {
            return self.sync();
        }
        let state = self.durable_state();
        if self.buf.is_empty() && self.stored.as_ref() == Some(&state) {
            return self.check_file();
        }
        self.sync()?;
        self.check_file()?;
        let state = self.durable_state();
        state.store(self.dest.path())?;
        self.stored = Some(state);
        self.remember_tail()
    }

    /// Is the file at our path still the one we write, as long as we wrote it, with the
    /// bytes we read back at the last checkpoint? Someone may have deleted, replaced,
    /// truncated or overwritten it; a checkpoint must then not claim it.
    fn check_file(&self) -> Result<(), OutputError> {
        let Dest::File { file, path, id, .. } = &self.dest else {
            return Ok(());
        };
        let gone = |path: &Path| OutputError::Vanished {
            path: path.to_path_buf(),
        };
        let at_path = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(gone(path)),
            Err(e) => return Err(self.dest.io("checking", e)),
        };
        if Identity::of(&at_path) != *id {
            return Err(OutputError::Replaced { path: path.clone() });
        }
        let have = file
            .metadata()
            .map_err(|e| self.dest.io("checking", e))?
            .len();
        if have != self.written {
            return Err(OutputError::Resized {
                path: path.clone(),
                have,
                want: self.written,
            });
        }
        let mut now = vec![0u8; self.tail.len()];
        file.read_exact_at(&mut now, self.tail_at)
            .map_err(|e| self.dest.io("reading back", e))?;
        if now != self.tail {
            return Err(OutputError::Overwritten {
                path: path.clone(),
                from: self.tail_at,
                to: self.tail_at + self.tail.len() as u64,
            });
        }
        Ok(())
    }

    /// Reads back the last bytes of the file (from the page cache) for the next
    /// [`OutputWriter::check_file`].
    fn remember_tail(&mut self) -> Result<(), OutputError> {
        let Dest::File { file, .. } = &self.dest else {
            return Ok(());
        };
        let n = self.written.min(TAIL);
        let at = self.written - n;
        let mut tail = vec![0u8; n as usize];
        file.read_exact_at(&mut tail, at)
            .map_err(|e| self.dest.io("reading back", e))?;
        self.tail = tail;
        self.tail_at = at;
        Ok(())
    }

    /// After the last chunk: the trailer (compact), flush, fsync, a last check of the
    /// file, and a final checkpoint marked complete.
    pub fn finish(mut self) -> Result<WriteSummary, OutputError> {
        self.check_usable()?;
        if self.complete {
            self.check_file()?;
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
        self.check_file()?;
        self.complete = true;
        self.checkpoint_inner()
    }
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
