//! [`OutputWriter::resume`]: going on with an output after a crash or a stop, from the
//! checkpoint beside it.
//!
//! # Contract
//! - A checkpoint of another job is refused, naming each difference; an output shorter
//!   than its checkpoint, or whose kept part is not that job's, is refused.
//! - The output is truncated to what the checkpoint claims, and the answer says where
//!   the job goes on: [`ResumeAt::Continue`] with the first number still to compute, or
//!   [`ResumeAt::Complete`] when every number was appended (never a number past the
//!   stop, which would wrap to 0 for a job ending at 2^128-1).
//! - Nothing to resume is not an error: with neither output nor checkpoint, or an output
//!   killed before its first checkpoint (empty, or holding only part of this job's
//!   compact header), a new output is created and the answer is [`ResumeAt::Fresh`]
//!   with the reason, so that restart scripts can always pass `--resume`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::compact::{Header, BLOCK_PRIMES, HEADER_LEN};
use super::job::job_diffs;
use super::writer::Dest;
use super::{checkpoint_path, Checkpoint, Format, JobSpec, OutputError, OutputWriter};

/// Where a resumed job goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeAt {
    /// Nothing durable was there: a new output was started; the job starts at its start.
    Fresh(FreshStart),
    /// The first number still to compute.
    Continue(u128),
    /// Every number was appended: only `finish` is left (it writes a compact file's
    /// trailer if the crash came before it, and changes nothing on a finished file).
    Complete,
}

/// Why a resume started a new output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreshStart {
    /// Neither the output nor its checkpoint existed.
    NoFiles,
    /// The output existed without a checkpoint but held only what is written before the
    /// first checkpoint (`bytes` of it): a run killed in its first moments.
    BeforeFirstCheckpoint { bytes: u64 },
}

impl fmt::Display for FreshStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FreshStart::NoFiles => write!(f, "neither the output nor its checkpoint exists"),
            FreshStart::BeforeFirstCheckpoint { bytes } => write!(
                f,
                "the output holds {bytes} bytes and no checkpoint: it was cut before its first \
                 checkpoint"
            ),
        }
    }
}

impl OutputWriter {
    /// After a crash or a stop: reads the checkpoint beside `path` and goes on from it,
    /// or starts fresh when there is nothing to resume (see the module doc).
    pub fn resume(path: &Path, job: &JobSpec) -> Result<(Self, ResumeAt), OutputError> {
        let ckpt_path = checkpoint_path(path);
        let Some(ck) = Checkpoint::load(path)? else {
            let fresh = match fs::metadata(path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => FreshStart::NoFiles,
                Err(e) => {
                    return Err(OutputError::Io {
                        op: "reading the metadata of".into(),
                        path: path.to_path_buf(),
                        source: e,
                    })
                }
                Ok(_) if cut_before_first_checkpoint(path, job)? => {
                    let bytes = fs::metadata(path).map_or(0, |m| m.len());
                    FreshStart::BeforeFirstCheckpoint { bytes }
                }
                Ok(_) => {
                    return Err(OutputError::NoCheckpoint {
                        path: path.to_path_buf(),
                        ckpt: ckpt_path,
                    })
                }
            };
            let force = fresh != FreshStart::NoFiles;
            let w = OutputWriter::create(path, job, force)?;
            return Ok((w, ResumeAt::Fresh(fresh)));
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
        let at = match ck.next {
            Some(next) => ResumeAt::Continue(next),
            None => ResumeAt::Complete,
        };
        let dest = Dest::file(file, path, ck.bytes)?;
        Ok((OutputWriter::reopened(job, dest, &ck), at))
    }
}

/// Does the output at `path` hold no more than what `create` writes before its first
/// checkpoint: nothing, or (compact) a prefix of this job's header?
fn cut_before_first_checkpoint(path: &Path, job: &JobSpec) -> Result<bool, OutputError> {
    let io = |e| OutputError::Io {
        op: "reading".into(),
        path: path.to_path_buf(),
        source: e,
    };
    let mut head = Vec::new();
    File::open(path)
        .map_err(io)?
        .take(HEADER_LEN as u64 + 1)
        .read_to_end(&mut head)
        .map_err(io)?;
    let header = Header {
        start: job.start,
        stop: job.stop,
        block_primes: BLOCK_PRIMES,
    };
    Ok(match job.format {
        _ if head.is_empty() => true,
        Format::Compact => header.to_bytes().starts_with(&head),
        Format::Text => false,
    })
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
