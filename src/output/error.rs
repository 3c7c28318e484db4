//! [`OutputError`]: everything that can go wrong with an output, each message naming
//! the file (and the value) concerned; and [`WriteSummary`], what a finished output
//! reports.

use std::fmt;
use std::io;
use std::path::PathBuf;

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
    /// The output's path no longer names a file: someone deleted it mid-run.
    Vanished { path: PathBuf },
    /// The output's path names another file than the one being written: someone
    /// replaced it mid-run.
    Replaced { path: PathBuf },
    /// The output's length is not what was written: someone cut or extended it.
    Resized { path: PathBuf, have: u64, want: u64 },
    /// Bytes written before the last checkpoint changed: someone cut the file and it
    /// was written past again (a hole), or overwrote it.
    Overwritten { path: PathBuf, from: u64, to: u64 },
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
            Vanished { path } => write!(
                f,
                "output {} was deleted during the run: its primes are lost; start over \
                 (--force)",
                path.display()
            ),
            Replaced { path } => write!(
                f,
                "output {} was replaced by another file during the run; the checkpoint \
                 describes the old one",
                path.display()
            ),
            Resized { path, have, want } => write!(
                f,
                "output {} holds {have} bytes but {want} were written: someone cut or \
                 extended it during the run",
                path.display()
            ),
            Overwritten { path, from, to } => write!(
                f,
                "output {} changed at bytes {from}..{to} after they were checkpointed: \
                 someone cut or overwrote it during the run",
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
