//! Reading outputs back: [`decode`] (compact to the identical text) and [`verify`]
//! (check that a file holds exactly the primes of its range).
//!
//! `verify` does not trust the kernel it checks. Membership is decided by Miller–Rabin
//! alone ([`crate::u128math::is_prime`]: proven below 3.317e24, BPSW above): a number
//! is accepted only if it is the next prime the lister gives *and* passes Miller–Rabin,
//! or, when the lister skipped it, passes Miller–Rabin by itself. Completeness (no
//! prime missing between the listed ones) comes from a lister that is not the sieve by
//! default: the pre-sieve kernel ([`crate::kernel::big::Presieve`]; `--kernel sieve`
//! takes a sieve started fresh for every piece, `--kernel trial` trial division). So a
//! sieve that lists a composite or drops a prime cannot make a wrong file pass, and
//! the report counts the lister's disagreements with Miller–Rabin.
//!
//! Both stream: memory stays bounded whatever the file's size. The first discrepancy is
//! reported with its position (prime index, line number and byte offset for text,
//! block offset for compact), the number expected and the one found, telling a missing
//! prime from an extra one by looking one step ahead. Bytes of a bad line are shown
//! escaped (`\r`, `\x00`), never raw.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use super::compact::{ReadError, Reader, MAGIC};
use super::text::{self, Decimal, OutBuf};
use super::{Checkpoint, Format, OutputError};
use crate::kernel::big::Presieve;
use crate::kernel::{Kernel, KernelKind};
use crate::u128math::is_prime;

/// Numbers listed per lister call in `verify`.
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
        text::encode(block.list.walk(), &mut dec, &mut buf, &mut flush, &bad)?;
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
    /// A composite number inserted between two primes (Miller–Rabin's verdict).
    Composite { found: u128 },
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
            Composite { found } => write!(f, "{pos} ({place}): {found} is composite"),
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
    /// Numbers on which the lister and Miller–Rabin disagreed (a composite listed, or a
    /// prime skipped): a kernel bug that the file did not share.
    pub lister_errors: u64,
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
            None => write!(f, "ok: all {n} primes in {a}..={b} match ({fmt_} file)")?,
            Some(d) => write!(f, "FAILED after {n} matching primes in {a}..={b}: {d}")?,
        }
        match self.lister_errors {
            0 => Ok(()),
            k => write!(
                f,
                " (the lister disagreed with Miller-Rabin on {k} numbers: a kernel bug)"
            ),
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

/// A bad line as shown in a message: at most 40 bytes, every control or non-ASCII
/// byte escaped (a raw CR or NUL would garble the terminal or hide the text).
fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(40)];
    let more = if bytes.len() > 40 { "..." } else { "" };
    format!("{}{more}", cut.escape_ascii())
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
            match self.reader.next_block() {
                Ok(Some(b)) => {
                    self.block_offset = b.offset;
                    let primes = &mut self.primes;
                    if let Err(e) = b.list.walk().for_each(|p| primes.push(p)) {
                        // Not reached: the reader checked the list with this walker.
                        self.done = true;
                        let kind = DiscrepancyKind::Corrupt {
                            reason: e.to_string(),
                        };
                        self.bad = Some((self.index + 1, b.offset, kind));
                    }
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

/// What lists the primes of a piece for the completeness check: never a sieve that
/// carries state from one piece to the next (see the module doc).
pub type Lister = Box<dyn FnMut(u128, u128, &mut Vec<u128>) + Send>;

/// Makes a [`Lister`] for each of verify's threads.
pub type MakeLister = dyn Fn() -> Lister + Sync;

/// The lister `verify` uses for a `--kernel` choice.
pub fn lister(kind: KernelKind) -> Lister {
    match kind {
        // Auto lists with the pre-sieve already: it is not the sieve that wrote the file.
        KernelKind::Auto | KernelKind::Presieve => {
            let mut pre = Presieve::new();
            Box::new(move |lo, hi, out: &mut Vec<u128>| {
                if lo <= u64::MAX as u128 {
                    let top = hi.min(u64::MAX as u128) as u64;
                    pre.primes_u64(lo as u64, top, &mut |ps| {
                        out.extend(ps.iter().map(|&p| p as u128))
                    });
                }
                if hi > u64::MAX as u128 {
                    let from = lo.max(u64::MAX as u128 + 1);
                    pre.primes_u128(from, hi, &mut |ps| out.extend_from_slice(ps));
                }
            })
        }
        // A new instance per piece: no state (a partly sieved byte, grown tables) can
        // carry a mistake from one piece into the next.
        KernelKind::Sieve => Box::new(|lo, hi, out: &mut Vec<u128>| {
            Kernel::new(KernelKind::Sieve).primes(lo, hi, out)
        }),
        KernelKind::Trial => {
            let mut k = Kernel::new(KernelKind::Trial);
            Box::new(move |lo, hi, out: &mut Vec<u128>| k.primes(lo, hi, out))
        }
    }
}

/// The primes of a range: the lister's, piece by piece, each confirmed by Miller–Rabin.
/// Pieces are listed and confirmed on `threads` threads (thread t takes pieces t,
/// t + threads, ...; Miller–Rabin on every prime is most of verify's work) and read here
/// in order through one bounded channel per thread, so memory stays bounded.
struct Expected {
    rxs: Vec<mpsc::Receiver<(Vec<u128>, u64)>>,
    piece: usize,
    primes: Vec<u128>,
    at: usize,
    /// Composites the lister gave (dropped by the threads).
    lister_errors: u64,
}

/// Piece `i` of `start..=stop`, `None` past the end.
fn piece(start: u128, stop: u128, i: usize) -> Option<(u128, u128)> {
    let lo = (i as u128)
        .checked_mul(PIECE)
        .and_then(|d| start.checked_add(d))
        .filter(|&lo| lo <= stop)?;
    Some((lo, lo.saturating_add(PIECE - 1).min(stop)))
}

impl Expected {
    /// Starts the listing threads in `scope`.
    fn start<'s>(
        scope: &'s thread::Scope<'s, '_>,
        (start, stop): (u128, u128),
        make: &'s MakeLister,
        threads: usize,
    ) -> Self {
        let n = threads.max(1);
        let mut rxs = Vec::with_capacity(n);
        for t in 0..n {
            let (tx, rx) = mpsc::sync_channel(1);
            rxs.push(rx);
            scope.spawn(move || {
                let mut list = make();
                let mut i = t;
                while let Some((lo, hi)) = piece(start, stop, i) {
                    let mut ps = Vec::new();
                    list(lo, hi, &mut ps);
                    let before = ps.len();
                    ps.retain(|&p| is_prime(p));
                    let errors = (before - ps.len()) as u64;
                    if tx.send((ps, errors)).is_err() {
                        return; // verify stopped at a discrepancy.
                    }
                    i += n;
                }
            });
        }
        Expected {
            rxs,
            piece: 0,
            primes: Vec::new(),
            at: 0,
            lister_errors: 0,
        }
    }

    fn next(&mut self) -> Option<u128> {
        while self.at == self.primes.len() {
            let rx = &self.rxs[self.piece % self.rxs.len()];
            let (ps, errors) = rx.recv().ok()?;
            self.piece += 1;
            self.lister_errors += errors;
            self.primes = ps;
            self.at = 0;
        }
        self.at += 1;
        Some(self.primes[self.at - 1])
    }
}

/// Checks that the file holds exactly the primes of its range (see the module doc;
/// `kernel` picks the completeness lister with [`lister`]). A compact file (told by its
/// magic) carries its range in its header; for a text file the range is `range`, or else
/// the job's in the checkpoint beside it. Errors are for files that cannot be read;
/// everything wrong inside the file is the report's discrepancy.
pub fn verify(
    path: &Path,
    range: Option<(u128, u128)>,
    kernel: KernelKind,
) -> Result<VerifyReport, OutputError> {
    let threads = thread::available_parallelism().map_or(1, |n| n.get());
    verify_with(path, range, &move || lister(kernel), threads)
}

/// [`verify`] with any lister, one made per thread (tests give it a lying one).
pub fn verify_with(
    path: &Path,
    range: Option<(u128, u128)>,
    make: &MakeLister,
    threads: usize,
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
    let (checked, skipped, bad, lister_errors) = thread::scope(|scope| {
        let mut expected = Expected::start(scope, (start, stop), make, threads);
        let r = compare(&mut expected, source.as_mut(), (start, stop));
        let errors = expected.lister_errors;
        // Dropping the receivers stops the threads before the scope joins them.
        drop(expected);
        r.map(|(c, s, b)| (c, s, b, errors))
    })?;
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
        lister_errors: lister_errors + skipped,
        discrepancy,
    })
}

/// The range of a text output, from the checkpoint beside it (if it is a text job's).
fn text_range_from_checkpoint(path: &Path) -> Result<Option<(u128, u128)>, OutputError> {
    Ok(Checkpoint::load(path)?
        .filter(|ck| ck.job.format == Format::Text)
        .map(|ck| (ck.job.start, ck.job.stop)))
}

/// Walks the confirmed primes and the file's numbers in step; returns the numbers that
/// matched, the primes the lister skipped (found in the file, confirmed by
/// Miller–Rabin) and the first discrepancy.
fn compare(
    exp: &mut Expected,
    src: &mut dyn Source,
    (start, stop): (u128, u128),
) -> Result<(u64, u64, Option<Bad>), OutputError> {
    // One look-ahead on each side tells a missing prime from an extra one.
    let mut e_cur = exp.next();
    let mut f_cur = src.next()?;
    let mut checked = 0u64;
    let mut skipped = 0u64;
    let mut prev: Option<u128> = None;
    loop {
        match (e_cur, f_cur) {
            (None, None) => return Ok((checked, skipped, src.take_bad())),
            (Some(e), None) => {
                let bad = src.take_bad().unwrap_or((
                    checked + 1,
                    0,
                    DiscrepancyKind::EndsEarly { expected: e },
                ));
                return Ok((checked, skipped, Some(bad)));
            }
            (Some(e), Some(f)) if e == f.value => {
                checked += 1;
                prev = Some(f.value);
                e_cur = exp.next();
                f_cur = src.next()?;
            }
            // A prime the lister skipped: in range, rising, before the next listed one
            // and proven by Miller–Rabin, so the file is right and the lister wrong.
            (e, Some(f))
                if (start..=stop).contains(&f.value)
                    && prev.is_none_or(|p| f.value > p)
                    && e.is_none_or(|e| f.value < e)
                    && is_prime(f.value) =>
            {
                checked += 1;
                skipped += 1;
                prev = Some(f.value);
                f_cur = src.next()?;
            }
            (None, Some(f)) => {
                let kind = DiscrepancyKind::Extra { found: f.value };
                return Ok((checked, skipped, Some((f.index, f.offset, kind))));
            }
            (Some(e), Some(f)) => {
                let e_next = exp.next();
                let f_next = src.next()?;
                let kind = if e_next == Some(f.value) {
                    DiscrepancyKind::Missing { expected: e }
                } else if f_next.map(|x| x.value) == Some(e) && !is_prime(f.value) {
                    DiscrepancyKind::Composite { found: f.value }
                } else if f_next.map(|x| x.value) == Some(e) {
                    DiscrepancyKind::Extra { found: f.value }
                } else {
                    DiscrepancyKind::Wrong {
                        expected: e,
                        found: f.value,
                    }
                };
                return Ok((checked, skipped, Some((f.index, f.offset, kind))));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lister with the seam bug's kind of lie and worse: it lists every odd number
    /// from 9 up (composites among them) and drops 101.
    fn lying_lister() -> Lister {
        Box::new(|lo, hi, out: &mut Vec<u128>| {
            out.extend((lo..=hi).filter(|&n| {
                n == 2 || n == 3 || n == 5 || n == 7 || (n >= 9 && n % 2 == 1 && n != 101)
            }));
        })
    }

    fn primes(a: u128, b: u128) -> Vec<u128> {
        (a..=b)
            .filter(|&n| n > 1 && (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0))
            .collect()
    }

    fn file_of(name: &str, ps: &[u128]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pc-verify-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let text: String = ps.iter().map(|p| format!("{p}\n")).collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_lying_lister_cannot_vouch_for_a_wrong_file() {
        let good = primes(0, 1000);
        // The right file passes; the lister's lies are counted, not believed.
        let r = verify_with(
            &file_of("good.txt", &good),
            Some((0, 1000)),
            &lying_lister,
            2,
        )
        .unwrap();
        assert!(r.is_ok(), "{r}");
        assert_eq!(r.primes_checked, good.len() as u64);
        assert!(r.lister_errors > 100, "{r}");
        // A composite inserted, which the lister also lists: Miller–Rabin rejects it.
        let mut bad = good.clone();
        let at = bad.partition_point(|&p| p < 91);
        bad.insert(at, 91);
        let r = verify_with(
            &file_of("composite.txt", &bad),
            Some((0, 1000)),
            &lying_lister,
            2,
        )
        .unwrap();
        let d = r.discrepancy.expect("91 = 7 * 13 caught");
        assert_eq!(d.kind, DiscrepancyKind::Composite { found: 91 });
        // A prime removed that the lister still lists.
        let mut bad = good.clone();
        bad.retain(|&p| p != 89);
        let r = verify_with(
            &file_of("missing.txt", &bad),
            Some((0, 1000)),
            &lying_lister,
            2,
        )
        .unwrap();
        assert_eq!(
            r.discrepancy.expect("89 missing").kind,
            DiscrepancyKind::Missing { expected: 89 }
        );
    }
}
