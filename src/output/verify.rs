//! Reading outputs back: [`decode`] (compact to the identical text) and [`verify`]
//! (recompute every prime of the range and compare, one by one).
//!
//! Both stream: memory stays bounded whatever the file's size. `verify` recomputes the
//! range in pieces of [`PIECE`] numbers with a fresh [`Kernel`] and walks the file in
//! step; the first discrepancy is reported with its position (prime index, line number
//! and byte offset for text, block offset for compact), the number expected and the one
//! found, telling a missing prime from an extra one by looking one step ahead.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::compact::{ReadError, Reader, MAGIC};
use super::text::{self, Decimal, OutBuf, Resume};
use super::{Checkpoint, Format, OutputError};
use crate::kernel::{Kernel, KernelKind};

/// Numbers recomputed per kernel call in `verify`.
pub const PIECE: u128 = 1 << 22;

fn open(path: &Path) -> Result<File, OutputError> {
    File::open(path).map_err(|e| OutputError::Io {
        op: "opening".into(),
        path: path.to_path_buf(),
        source: e,
    })
}

fn read_error(path: &Path, e: ReadError) -> OutputError {
    match e {
        ReadError::Io(source) => OutputError::Io {
            op: "reading".into(),
            path: path.into(),
            source,
        },
        ReadError::Corrupt { offset, reason } => OutputError::Corrupt {
            path: path.into(),
            offset,
            reason,
        },
    }
}

/// Writes the text form of the compact file at `path` to `out` (the same bytes
/// `--format text` would have written) and returns the number of primes. Every block
/// CRC and the trailer are checked; a damaged or truncated file is an error naming the
/// byte offset (the text of the blocks before it has been written by then).
pub fn decode(path: &Path, out: &mut dyn Write) -> Result<u64, OutputError> {
    let file = open(path)?;
    let mut reader =
        Reader::new(BufReader::with_capacity(1 << 20, file)).map_err(|e| read_error(path, e))?;
    let base = reader.header().start;
    let mut buf = OutBuf::new();
    let mut dec = Decimal::default();
    let out_name = PathBuf::from("decode output");
    let write_err = |e| OutputError::Io {
        op: "writing".into(),
        path: out_name.clone(),
        source: e,
    };
    let mut flush = |b: &mut OutBuf| -> Result<(), OutputError> {
        out.write_all(b.bytes()).map_err(write_err)?;
        b.clear();
        Ok(())
    };
    let bad = |e: crate::gaps::GapError| OutputError::Corrupt {
        path: path.into(),
        offset: 0,
        reason: e.to_string(),
    };
    while let Some(block) = reader.next_block().map_err(|e| read_error(path, e))? {
        let from = Resume {
            base,
            prev: block.prev,
        };
        text::encode(block.payload, from, &mut dec, &mut buf, &mut flush, &bad)?;
    }
    flush(&mut buf)?;
    out.flush().map_err(write_err)?;
    Ok(reader.primes())
}

/// What is wrong at a discrepancy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscrepancyKind {
    /// A wrong number where a prime was expected.
    Wrong { expected: u128, found: u128 },
    /// The expected prime is missing: the file goes on with the one after it.
    Missing { expected: u128 },
    /// A number that should not be there (a duplicate, or past the range).
    Extra { found: u128 },
    /// The file ends while primes are still expected.
    EndsEarly { expected: u128 },
    /// A text line that is not a decimal number.
    NotANumber { text: String },
    /// The last text line lacks its `\n`.
    NoFinalNewline { text: String },
    /// A compact file is damaged or cut short.
    Corrupt { reason: String },
}

/// The first place where a file and the recomputed primes disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    /// 1-based index of the prime (for text, also the line number).
    pub index: u64,
    /// Byte offset: of the line (text) or of the block (compact).
    pub offset: u64,
    /// Text or compact: how to name the position.
    pub format: Format,
    pub kind: DiscrepancyKind,
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DiscrepancyKind::*;
        let (i, at) = (self.index, self.offset);
        let pos = match self.format {
            Format::Text => format!("line {i}"),
            Format::Compact => format!("prime {i}"),
        };
        let place = match self.format {
            Format::Text => format!("byte {at}"),
            Format::Compact => format!("block at byte {at}"),
        };
        match &self.kind {
            Wrong { expected, found } => {
                write!(f, "{pos} ({place}): expected {expected}, found {found}")
            }
            Missing { expected } => write!(f, "missing {expected} at {pos} ({place})"),
            Extra { found } => write!(f, "extra {pos} ({place}): {found}"),
            EndsEarly { expected } => {
                write!(
                    f,
                    "file ends after {} primes; expected {expected} next",
                    i - 1
                )
            }
            NotANumber { text } => write!(f, "{pos} ({place}) is not a number: '{text}'"),
            NoFinalNewline { text } => {
                write!(f, "{pos} ({place}) has no final newline: '{text}'")
            }
            Corrupt { reason } => write!(f, "damaged at byte {at}: {reason}"),
        }
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The range checked.
    pub start: u128,
    pub stop: u128,
    pub format: Format,
    /// Primes that matched before the first discrepancy (all of them if none).
    pub primes_checked: u64,
    pub discrepancy: Option<Discrepancy>,
}

impl VerifyReport {
    /// No discrepancy?
    pub fn is_ok(&self) -> bool {
        self.discrepancy.is_none()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, a, b, fmt_) = (self.primes_checked, self.start, self.stop, self.format);
        match &self.discrepancy {
            None => write!(f, "ok: all {n} primes in {a}..={b} match ({fmt_} file)"),
            Some(d) => write!(f, "FAILED after {n} matching primes in {a}..={b}: {d}"),
        }
    }
}

/// One number read from the file, with its position.
#[derive(Debug, Clone, Copy)]
struct Found {
    value: u128,
    index: u64,
    offset: u64,
}

/// A file position's problem, before it is turned into a [`Discrepancy`].
type Bad = (u64, u64, DiscrepancyKind);

/// The numbers of a file, one at a time, with one of look-ahead.
trait Source {
    fn next(&mut self) -> Result<Option<Found>, OutputError>;
    /// What stopped the numbers early (a bad line, a damaged block), if anything.
    fn take_bad(&mut self) -> Option<Bad>;
}

/// Text lines.
struct TextSource<R: BufRead> {
    r: R,
    path: PathBuf,
    line: Vec<u8>,
    index: u64,
    offset: u64,
    bad: Option<Bad>,
}

fn shown(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.into_owned()
    }
}

fn parse_decimal(s: &[u8]) -> Option<u128> {
    if s.is_empty() || s.len() > 39 || (s[0] == b'0' && s.len() > 1) {
        return None;
    }
    let mut v: u128 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u128)?;
    }
    Some(v)
}

impl<R: BufRead> Source for TextSource<R> {
    fn take_bad(&mut self) -> Option<Bad> {
        self.bad.take()
    }

    fn next(&mut self) -> Result<Option<Found>, OutputError> {
        if self.bad.is_some() {
            return Ok(None);
        }
        self.line.clear();
        let n = self
            .r
            .read_until(b'\n', &mut self.line)
            .map_err(|e| OutputError::Io {
                op: "reading".into(),
                path: self.path.clone(),
                source: e,
            })?;
        if n == 0 {
            return Ok(None);
        }
        self.index += 1;
        let (index, offset) = (self.index, self.offset);
        self.offset += n as u64;
        let Some(digits) = self.line.strip_suffix(b"\n") else {
            let text = shown(&self.line);
            self.bad = Some((index, offset, DiscrepancyKind::NoFinalNewline { text }));
            return Ok(None);
        };
        match parse_decimal(digits) {
            Some(value) => Ok(Some(Found {
                value,
                index,
                offset,
            })),
            None => {
                let text = shown(digits);
                self.bad = Some((index, offset, DiscrepancyKind::NotANumber { text }));
                Ok(None)
            }
        }
    }
}

/// Compact blocks, decoded one block at a time.
struct CompactSource<R: Read> {
    reader: Reader<R>,
    path: PathBuf,
    primes: Vec<u128>,
    at: usize,
    block_offset: u64,
    index: u64,
    bad: Option<Bad>,
    done: bool,
}

impl<R: Read> Source for CompactSource<R> {
    fn take_bad(&mut self) -> Option<Bad> {
        self.bad.take()
    }

    fn next(&mut self) -> Result<Option<Found>, OutputError> {
        while self.at == self.primes.len() {
            if self.done {
                return Ok(None);
            }
            self.primes.clear();
            self.at = 0;
            let h = self.reader.header();
            let (start, stop) = (h.start, h.stop);
            match self.reader.next_block() {
                Ok(Some(b)) => {
                    self.block_offset = b.offset;
                    let dec = crate::gaps::GapDecoder::after(b.payload, b.prev, start, stop);
                    let primes = &mut self.primes;
                    // The reader already decoded this payload without error.
                    let _ = dec.for_each(|p| primes.push(p));
                }
                Ok(None) => self.done = true,
                Err(ReadError::Corrupt { offset, reason }) => {
                    self.done = true;
                    let kind = DiscrepancyKind::Corrupt { reason };
                    self.bad = Some((self.index + 1, offset, kind));
                }
                Err(e) => return Err(read_error(&self.path, e)),
            }
        }
        let value = self.primes[self.at];
        self.at += 1;
        self.index += 1;
        Ok(Some(Found {
            value,
            index: self.index,
            offset: self.block_offset,
        }))
    }
}

/// The primes of a range, recomputed piece by piece.
struct Expected {
    kernel: Kernel,
    next_lo: Option<u128>,
    stop: u128,
    primes: Vec<u128>,
    at: usize,
}

impl Expected {
    fn next(&mut self) -> Option<u128> {
        while self.at == self.primes.len() {
            let lo = self.next_lo?;
            let hi = lo.saturating_add(PIECE - 1).min(self.stop);
            self.next_lo = if hi == self.stop { None } else { Some(hi + 1) };
            self.primes.clear();
            self.at = 0;
            self.kernel.primes(lo, hi, &mut self.primes);
        }
        self.at += 1;
        Some(self.primes[self.at - 1])
    }
}

/// Recomputes the primes of the range with `kernel` and compares them with the file's,
/// one by one. A compact file (told by its magic) carries its range in its header; for
/// a text file the range is `range`, or else the job's in the checkpoint beside it. Errors are for files that cannot be read; everything wrong
/// inside the file is the report's discrepancy.
pub fn verify(
    path: &Path,
    range: Option<(u128, u128)>,
    kernel: KernelKind,
) -> Result<VerifyReport, OutputError> {
    let mut file = BufReader::with_capacity(1 << 20, open(path)?);
    let head = file.fill_buf().map_err(|e| OutputError::Io {
        op: "reading".into(),
        path: path.into(),
        source: e,
    })?;
    let is_compact = head.starts_with(&MAGIC);
    let (format, start, stop, mut source): (_, _, _, Box<dyn Source>) = if is_compact {
        let reader = Reader::new(file).map_err(|e| read_error(path, e))?;
        let h = reader.header();
        if let Some((a, b)) = range.filter(|&r| r != (h.start, h.stop)) {
            return Err(OutputError::Usage(format!(
                "{} holds {}..={}, not {a}..={b}",
                path.display(),
                h.start,
                h.stop
            )));
        }
        let source = CompactSource {
            reader,
            path: path.into(),
            primes: Vec::new(),
            at: 0,
            block_offset: 0,
            index: 0,
            bad: None,
            done: false,
        };
        (Format::Compact, h.start, h.stop, Box::new(source))
    } else {
        let Some((a, b)) = range.or(text_range_from_checkpoint(path)?) else {
            return Err(OutputError::Usage(format!(
                "{} is a text file without a checkpoint: give the range (START STOP) to \
                 verify it against",
                path.display()
            )));
        };
        let source = TextSource {
            r: file,
            path: path.into(),
            line: Vec::new(),
            index: 0,
            offset: 0,
            bad: None,
        };
        (Format::Text, a, b, Box::new(source))
    };
    let mut expected = Expected {
        kernel: Kernel::new(kernel),
        next_lo: (start <= stop).then_some(start),
        stop,
        primes: Vec::new(),
        at: 0,
    };
    let (checked, bad) = compare(&mut expected, source.as_mut())?;
    let discrepancy = bad.map(|(index, offset, kind)| Discrepancy {
        index,
        offset,
        format,
        kind,
    });
    Ok(VerifyReport {
        start,
        stop,
        format,
        primes_checked: checked,
        discrepancy,
    })
}

/// The range of a text output, from the checkpoint beside it (if it is a text job's).
fn text_range_from_checkpoint(path: &Path) -> Result<Option<(u128, u128)>, OutputError> {
    Ok(Checkpoint::load(path)?
        .filter(|ck| ck.job.format == Format::Text)
        .map(|ck| (ck.job.start, ck.job.stop)))
}

fn compare(exp: &mut Expected, src: &mut dyn Source) -> Result<(u64, Option<Bad>), OutputError> {
    // One look-ahead on each side tells a missing prime from an extra one.
    let mut e_cur = exp.next();
    let mut f_cur = src.next()?;
    let mut checked = 0u64;
    loop {
        match (e_cur, f_cur) {
            (None, None) => return Ok((checked, src.take_bad())),
            (Some(e), None) => {
                let bad = src.take_bad().unwrap_or((
                    checked + 1,
                    0,
                    DiscrepancyKind::EndsEarly { expected: e },
                ));
                return Ok((checked, Some(bad)));
            }
            (None, Some(f)) => {
                let kind = DiscrepancyKind::Extra { found: f.value };
                return Ok((checked, Some((f.index, f.offset, kind))));
            }
            (Some(e), Some(f)) if e == f.value => {
                checked += 1;
                e_cur = exp.next();
                f_cur = src.next()?;
            }
            (Some(e), Some(f)) => {
                let e_next = exp.next();
                let f_next = src.next()?;
                let kind = if e_next == Some(f.value) {
                    DiscrepancyKind::Missing { expected: e }
                } else if f_next.map(|x| x.value) == Some(e) {
                    DiscrepancyKind::Extra { found: f.value }
                } else {
                    DiscrepancyKind::Wrong {
                        expected: e,
                        found: f.value,
                    }
                };
                return Ok((checked, Some((f.index, f.offset, kind))));
            }
        }
    }
}
