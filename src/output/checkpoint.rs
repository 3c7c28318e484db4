//! The checkpoint file beside an output (`<out>.ckpt`): what part of the output is
//! durable and where the job goes on after a crash.
//!
//! It is a small text file of `key=value` lines, readable with `cat`, ending in a
//! `crc=` line holding the CRC-32 (hex) of every byte before it:
//! ```text
//! primecluster checkpoint 1
//! start=0
//! stop=1000000000
//! format=text
//! kernel=auto
//! next=500000001
//! bytes=262000000
//! primes=26355867
//! last=499999993
//! complete=no
//! crc=1a2b3c4d
//! ```
//! `next` is the first number still to compute (`end` when none is left), `bytes` the
//! length of the valid output, `last` the last prime in those bytes (`none` before the
//! first). It is replaced atomically: written to `<out>.ckpt.tmp`, fsynced, renamed over
//! the old one, and the folder fsynced, so a crash leaves either the old or the new one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Format, JobSpec, OutputError};

const FIRST_LINE: &str = "primecluster checkpoint 1";

/// The content of a checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The job the output belongs to.
    pub job: JobSpec,
    /// The first number still to compute; `None` when every number was appended.
    pub next: Option<u128>,
    /// Bytes of output that are valid (and durable).
    pub bytes: u64,
    /// Primes in those bytes.
    pub primes: u64,
    /// The last prime in those bytes.
    pub last: Option<u128>,
    /// The output was finished (trailer written for compact).
    pub complete: bool,
}

/// `<out>.ckpt`: where the checkpoint of an output lives.
pub fn checkpoint_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".ckpt");
    PathBuf::from(s)
}

fn temp_path(ckpt: &Path) -> PathBuf {
    let mut s = ckpt.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn opt_to_string(v: Option<u128>, none: &str) -> String {
    v.map_or_else(|| none.to_string(), |v| v.to_string())
}

impl Checkpoint {
    /// The file's bytes, `crc=` line included.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{FIRST_LINE}\nstart={}\nstop={}\nformat={}\nkernel={}\nnext={}\nbytes={}\n\
             primes={}\nlast={}\ncomplete={}\n",
            self.job.start,
            self.job.stop,
            self.job.format,
            self.job.kernel,
            opt_to_string(self.next, "end"),
            self.bytes,
            self.primes,
            opt_to_string(self.last, "none"),
            if self.complete { "yes" } else { "no" },
        );
        let crc = crc32fast::hash(s.as_bytes());
        s.push_str(&format!("crc={crc:08x}\n"));
        s
    }

    /// Parses a checkpoint file's bytes; the error says what is wrong.
    pub fn parse(text: &[u8]) -> Result<Checkpoint, String> {
        let text = std::str::from_utf8(text).map_err(|_| "not text".to_string())?;
        let crc_at = text.rfind("crc=").ok_or("no crc line (cut short?)")?;
        let (body, crc_line) = text.split_at(crc_at);
        let stored = crc_line["crc=".len()..].trim_end();
        let stored = u32::from_str_radix(stored, 16).map_err(|_| format!("bad crc '{stored}'"))?;
        let computed = crc32fast::hash(body.as_bytes());
        if stored != computed {
            return Err(format!("crc {stored:08x} stored, {computed:08x} computed"));
        }
        let mut lines = body.lines();
        if lines.next() != Some(FIRST_LINE) {
            return Err(format!("first line is not '{FIRST_LINE}'"));
        }
        let mut get = |key: &str| -> Result<String, String> {
            let line = lines.next().ok_or_else(|| format!("no '{key}' line"))?;
            match line.split_once('=') {
                Some((k, v)) if k == key => Ok(v.to_string()),
                _ => Err(format!("expected '{key}=...', found '{line}'")),
            }
        };
        fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{key}='{v}' is not a number"))
        }
        let start = num("start", &get("start")?)?;
        let stop = num("stop", &get("stop")?)?;
        let format: Format = get("format")?.parse()?;
        let kernel = get("kernel")?;
        let next = match get("next")?.as_str() {
            "end" => None,
            v => Some(num("next", v)?),
        };
        let bytes = num("bytes", &get("bytes")?)?;
        let primes = num("primes", &get("primes")?)?;
        let last = match get("last")?.as_str() {
            "none" => None,
            v => Some(num("last", v)?),
        };
        let complete = match get("complete")?.as_str() {
            "yes" => true,
            "no" => false,
            v => return Err(format!("complete='{v}' is not yes or no")),
        };
        let job = JobSpec {
            start,
            stop,
            format,
            kernel,
        };
        Ok(Checkpoint {
            job,
            next,
            bytes,
            primes,
            last,
            complete,
        })
    }

    /// Replaces the checkpoint of `out` atomically (temp file, fsync, rename, fsync folder).
    pub fn store(&self, out: &Path) -> Result<(), OutputError> {
        let path = checkpoint_path(out);
        let tmp = temp_path(&path);
        let io = |op: &str, p: &Path| {
            let p = p.to_path_buf();
            let op = op.to_string();
            move |e| OutputError::Io {
                op,
                path: p,
                source: e,
            }
        };
        let mut f = File::create(&tmp).map_err(io("creating", &tmp))?;
        f.write_all(self.to_text().as_bytes())
            .map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("syncing", &tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io(&format!("renaming {} to", tmp.display()), &path))?;
        sync_folder_of(&path)
    }

    /// Reads the checkpoint of `out`: `Ok(None)` if there is none.
    pub fn load(out: &Path) -> Result<Option<Checkpoint>, OutputError> {
        let path = checkpoint_path(out);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(OutputError::Io {
                    op: "reading".into(),
                    path,
                    source: e,
                })
            }
        };
        Checkpoint::parse(&bytes)
            .map(Some)
            .map_err(|reason| OutputError::BadCheckpoint { path, reason })
    }
}

/// Fsyncs the folder holding `path`, so a rename or a new file in it is durable.
pub fn sync_folder_of(path: &Path) -> Result<(), OutputError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| OutputError::Io {
            op: "syncing folder".into(),
            path: dir.to_path_buf(),
            source: e,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            job: JobSpec {
                start: 0,
                stop: u128::MAX,
                format: Format::Compact,
                kernel: "auto".into(),
            },
            next: Some(1 << 100),
            bytes: 123,
            primes: 45,
            last: None,
            complete: false,
        }
    }

    #[test]
    fn roundtrip() {
        let c = sample();
        assert_eq!(Checkpoint::parse(c.to_text().as_bytes()), Ok(c.clone()));
        let mut d = c;
        d.next = None;
        d.last = Some(7);
        d.complete = true;
        assert_eq!(Checkpoint::parse(d.to_text().as_bytes()), Ok(d));
    }

    #[test]
    fn any_change_is_caught() {
        let text = sample().to_text().into_bytes();
        for i in 0..text.len() {
            let mut t = text.clone();
            t[i] ^= 0x04;
            assert!(Checkpoint::parse(&t).is_err(), "flip at {i} accepted");
        }
        for n in 0..text.len() - 1 {
            assert!(
                Checkpoint::parse(&text[..n]).is_err(),
                "cut at {n} accepted"
            );
        }
    }

    #[test]
    fn path_appends_suffix() {
        assert_eq!(
            checkpoint_path(Path::new("/x/p.txt")),
            PathBuf::from("/x/p.txt.ckpt")
        );
    }
}
