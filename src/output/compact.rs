//! The compact binary format (`docs/FORMAT.md` is the full description): a header, the
//! primes as one continuous gap list (the `gaps.rs` varints: the first prime relative to
//! the job's start, then halved gaps) cut into blocks of a fixed number of primes, each
//! block framed with its length and a CRC-32, and a trailer that marks the file
//! complete.
//!
//! Blocks hold [`BLOCK_PRIMES`] primes each (the last one fewer), never "one chunk", so
//! the file's bytes do not depend on how the job was cut into chunks or where it was
//! resumed: a checkpoint covers whole blocks only and the partial block is rebuilt after
//! a crash.
//!
//! [`BlockWriter`] turns chunks into blocks; [`Reader`] walks a file block by block,
//! checking every CRC, the block sizes and the trailer, and names the byte offset of
//! the first thing wrong.

use std::io::{self, Read};

use crate::gaps::{check_after, put_varint, Checked, GapDecoder, GapError};

/// First bytes of every compact file.
pub const MAGIC: [u8; 8] = *b"PCPRIMES";
/// Format version written in the header.
pub const VERSION: u16 = 1;
/// Primes per block (the last block may hold fewer).
pub const BLOCK_PRIMES: u32 = 65536;
/// Size of the header in bytes.
pub const HEADER_LEN: usize = 52;
/// Record tag of a block.
pub const TAG_BLOCK: u8 = b'B';
/// Record tag of the trailer.
pub const TAG_TRAILER: u8 = b'T';
/// Size of the trailer in bytes.
pub const TRAILER_LEN: usize = 29;
/// Longest varint of a u128 in bytes.
const MAX_VARINT: usize = 19;
/// A block payload longer than this is corrupt.
const MAX_PAYLOAD: u32 = BLOCK_PRIMES * MAX_VARINT as u32;

/// The header: what range the file holds and how it is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub start: u128,
    pub stop: u128,
    pub block_primes: u32,
}

impl Header {
    /// The header's bytes, CRC included.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..10].copy_from_slice(&VERSION.to_le_bytes());
        // 10..12: flags, zero in version 1.
        h[12..16].copy_from_slice(&self.block_primes.to_le_bytes());
        h[16..32].copy_from_slice(&self.start.to_le_bytes());
        h[32..48].copy_from_slice(&self.stop.to_le_bytes());
        let crc = crc32fast::hash(&h[..48]);
        h[48..52].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Parses and checks a header; the error says what is wrong with it.
    pub fn parse(h: &[u8]) -> Result<Header, String> {
        if h.len() < HEADER_LEN {
            return Err(format!(
                "file ends inside the header ({} of {HEADER_LEN} bytes)",
                h.len()
            ));
        }
        if h[0..8] != MAGIC {
            return Err("not a compact primes file (bad magic)".into());
        }
        let crc = u32::from_le_bytes(h[48..52].try_into().unwrap_or_default());
        if crc != crc32fast::hash(&h[..48]) {
            return Err("header CRC mismatch".into());
        }
        let version = u16::from_le_bytes([h[8], h[9]]);
        if version != VERSION || h[10..12] != [0, 0] {
            return Err(format!(
                "unknown version {version} (this program reads {VERSION})"
            ));
        }
        let u128_at = |i: usize| u128::from_le_bytes(h[i..i + 16].try_into().unwrap_or_default());
        let block_primes = u32::from_le_bytes(h[12..16].try_into().unwrap_or_default());
        if block_primes == 0 || block_primes > BLOCK_PRIMES {
            return Err(format!("bad block size {block_primes}"));
        }
        Ok(Header {
            start: u128_at(16),
            stop: u128_at(32),
            block_primes,
        })
    }
}

/// The 5 bytes in front of a block payload: tag and length.
pub fn block_head(payload: &[u8]) -> [u8; 5] {
    let mut h = [TAG_BLOCK, 0, 0, 0, 0];
    h[1..5].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h
}

/// The 4 bytes after a block payload: CRC-32 of head and payload.
pub fn block_crc(head: &[u8; 5], payload: &[u8]) -> [u8; 4] {
    let mut c = crc32fast::Hasher::new();
    c.update(head);
    c.update(payload);
    c.finalize().to_le_bytes()
}

/// The trailer: total primes and the last prime (0 for none), with its CRC.
pub fn trailer(primes: u64, last: Option<u128>) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    t[0] = TAG_TRAILER;
    t[1..9].copy_from_slice(&primes.to_le_bytes());
    t[9..25].copy_from_slice(&last.unwrap_or(0).to_le_bytes());
    let crc = crc32fast::hash(&t[..25]);
    t[25..29].copy_from_slice(&crc.to_le_bytes());
    t
}

/// Receives each full block: its payload and its last prime.
pub type Emit<'a, E> = dyn FnMut(&[u8], u128) -> Result<(), E> + 'a;

/// Re-frames chunks (gap lists relative to each chunk's start) into the file's one
/// continuous gap list, cut into blocks of [`BLOCK_PRIMES`] primes.
#[derive(Debug, Clone)]
pub struct BlockWriter {
    block: Vec<u8>,
    in_block: u32,
    prev: Option<u128>,
    job_start: u128,
}

impl BlockWriter {
    /// A writer whose first prime follows `prev` (after a resume) or, if none, is
    /// stored relative to `job_start`.
    pub fn new(job_start: u128, prev: Option<u128>) -> Self {
        BlockWriter {
            block: Vec::with_capacity(1 << 17),
            in_block: 0,
            prev,
            job_start,
        }
    }

    /// Primes in the block being filled.
    pub fn pending(&self) -> u32 {
        self.in_block
    }

    /// Adds one chunk's primes, walked by the one walker (the list was checked);
    /// `emit(payload, last prime)` gets each block that fills up. Each prime is
    /// re-encoded relative to the one before it in the file, so the file is canonical
    /// whatever came in.
    pub fn push_chunk<E>(
        &mut self,
        mut list: GapDecoder<'_>,
        emit: &mut Emit<'_, E>,
        bad: &dyn Fn(GapError) -> E,
    ) -> Result<(), E> {
        list.try_walk(
            |p, _| {
                let v = match self.prev {
                    None => p.checked_sub(self.job_start),
                    Some(q) => p
                        .checked_sub(q)
                        .filter(|&d| d > 0)
                        .map(|d| (d - (q == 2) as u128) >> 1),
                }
                .ok_or_else(|| {
                    bad(GapError::NotRising {
                        after: self.prev.unwrap_or(p),
                    })
                })?;
                if v < 0x80 {
                    self.block.push(v as u8);
                } else {
                    put_varint(&mut self.block, v);
                }
                self.prev = Some(p);
                self.count_one(p, emit)
            },
            bad,
        )
    }

    #[inline]
    fn count_one<E>(&mut self, p: u128, emit: &mut Emit<'_, E>) -> Result<(), E> {
        self.in_block += 1;
        if self.in_block == BLOCK_PRIMES {
            emit(&self.block, p)?;
            self.block.clear();
            self.in_block = 0;
        }
        Ok(())
    }

    /// Emits the partial last block, if any (at the end of the job).
    pub fn finish<E>(&mut self, emit: &mut Emit<'_, E>) -> Result<(), E> {
        if let (true, Some(p)) = (self.in_block > 0, self.prev) {
            emit(&self.block, p)?;
            self.block.clear();
            self.in_block = 0;
        }
        Ok(())
    }
}

/// Why reading a compact file stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The operating system failed the read.
    Io(io::Error),
    /// The file is damaged or cut short at `offset`.
    Corrupt { offset: u64, reason: String },
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn corrupt<T>(offset: u64, reason: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError::Corrupt {
        offset,
        reason: reason.into(),
    })
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` if the file ends first.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Walks a compact file block by block, checking everything.
pub struct Reader<R: Read> {
    r: R,
    header: Header,
    offset: u64,
    /// The last block read, checked; its allocation is reused for the next.
    block: Option<Checked>,
    prev: Option<u128>,
    primes: u64,
    short_block: Option<u64>,
    block_offset: u64,
}

/// One block, as [`Reader::next_block`] returns it.
pub struct Block<'a> {
    /// Byte offset of the block's record in the file.
    pub offset: u64,
    /// Primes in the file before this block.
    pub primes_before: u64,
    /// The prime before the block's first (`None` for the first block).
    pub prev: Option<u128>,
    /// The block's gap list, checked (it continues after `prev`).
    pub list: &'a Checked,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header.
    pub fn new(mut r: R) -> Result<Self, ReadError> {
        let mut h = [0u8; HEADER_LEN];
        let mut got = 0;
        while got < HEADER_LEN {
            match r.read(&mut h[got..])? {
                0 => break,
                n => got += n,
            }
        }
        let header = Header::parse(&h[..got]).or_else(|e| corrupt(0, e))?;
        Ok(Reader {
            r,
            header,
            offset: HEADER_LEN as u64,
            block: None,
            prev: None,
            primes: 0,
            short_block: None,
            block_offset: 0,
        })
    }

    /// The file's header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// The next block, or `None` after a valid trailer at the end of the file.
    pub fn next_block(&mut self) -> Result<Option<Block<'_>>, ReadError> {
        let at = self.offset;
        let mut tag = [0u8; 1];
        if !read_full(&mut self.r, &mut tag)? {
            return corrupt(at, "file ends without a trailer (cut short?)");
        }
        match tag[0] {
            TAG_BLOCK => {}
            TAG_TRAILER => {
                self.read_trailer(at)?;
                return Ok(None);
            }
            t => return corrupt(at, format!("unknown record type 0x{t:02x}")),
        }
        if let Some(short) = self.short_block {
            return corrupt(
                at,
                format!("a block follows the short block at byte {short}"),
            );
        }
        let mut head = [TAG_BLOCK, 0, 0, 0, 0];
        if !read_full(&mut self.r, &mut head[1..])? {
            return corrupt(at, "file ends inside a block header (cut short?)");
        }
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        if len == 0 || len > MAX_PAYLOAD {
            return corrupt(at, format!("block length {len} out of bounds"));
        }
        let mut payload = self
            .block
            .take()
            .map(Checked::into_bytes)
            .unwrap_or_default();
        payload.resize(len as usize, 0);
        let mut crc = [0u8; 4];
        if !read_full(&mut self.r, &mut payload)? || !read_full(&mut self.r, &mut crc)? {
            return corrupt(at, "file ends inside a block (cut short?)");
        }
        if crc != block_crc(&head, &payload) {
            return corrupt(at, "block CRC mismatch");
        }
        let (start, stop) = (self.header.start, self.header.stop);
        let list = match check_after(payload, self.prev, start, stop) {
            Ok(list) => list,
            Err(e) => return corrupt(at, format!("block holds a bad gap list: {e}")),
        };
        let n = list.count();
        let want = self.header.block_primes as u64;
        if n > want {
            return corrupt(at, format!("block holds {n} primes, more than {want}"));
        }
        if n < want {
            self.short_block = Some(at);
        }
        let prev = self.prev;
        let primes_before = self.primes;
        self.prev = list.last().or(prev);
        self.primes += n;
        self.offset += 9 + len as u64;
        self.block_offset = at;
        let list = self.block.insert(list);
        Ok(Some(Block {
            offset: at,
            primes_before,
            prev,
            list,
        }))
    }

    fn read_trailer(&mut self, at: u64) -> Result<(), ReadError> {
        let mut t = [0u8; TRAILER_LEN];
        t[0] = TAG_TRAILER;
        if !read_full(&mut self.r, &mut t[1..])? {
            return corrupt(at, "file ends inside the trailer (cut short?)");
        }
        if t != trailer(
            u64::from_le_bytes(t[1..9].try_into().unwrap_or_default()),
            {
                let last = u128::from_le_bytes(t[9..25].try_into().unwrap_or_default());
                (last != 0).then_some(last)
            },
        ) {
            return corrupt(at, "trailer CRC mismatch");
        }
        let primes = u64::from_le_bytes(t[1..9].try_into().unwrap_or_default());
        let last = u128::from_le_bytes(t[9..25].try_into().unwrap_or_default());
        if primes != self.primes || last != self.prev.unwrap_or(0) {
            return corrupt(
                at,
                format!(
                    "trailer says {primes} primes ending at {last}, blocks hold {} ending at {}",
                    self.primes,
                    self.prev.unwrap_or(0)
                ),
            );
        }
        let end = at + TRAILER_LEN as u64;
        let mut extra = [0u8; 1];
        if read_full(&mut self.r, &mut extra)? {
            return corrupt(end, "bytes after the trailer");
        }
        self.offset = end;
        Ok(())
    }

    /// Primes read so far.
    pub fn primes(&self) -> u64 {
        self.primes
    }

    /// Byte offset of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip_and_checks() {
        let h = Header {
            start: 7,
            stop: u128::MAX,
            block_primes: BLOCK_PRIMES,
        };
        let b = h.to_bytes();
        assert_eq!(Header::parse(&b), Ok(h));
        for i in 0..HEADER_LEN {
            let mut c = b;
            c[i] ^= 1;
            assert!(Header::parse(&c).is_err(), "flip at {i} accepted");
        }
        assert!(Header::parse(&b[..51]).is_err());
    }

    #[test]
    fn blocks_do_not_depend_on_chunks() {
        // Primes 3, 5, 7, ... as chunk gap lists cut two ways give the same blocks.
        let ps: Vec<u128> = (0..200_000u128).map(|i| 3 + 2 * i).collect();
        let run = |cuts: &[usize]| {
            let mut w = BlockWriter::new(0, None);
            let mut blocks: Vec<(Vec<u8>, u128)> = Vec::new();
            let mut emit = |b: &[u8], last: u128| -> Result<(), GapError> {
                blocks.push((b.to_vec(), last));
                Ok(())
            };
            let mut lo = 0;
            for &hi in cuts.iter().chain([ps.len()].iter()) {
                let start = if lo == 0 { 0 } else { ps[lo - 1] + 1 };
                let mut e = crate::gaps::GapEncoder::new(start);
                ps[lo..hi].iter().for_each(|&p| e.push(p));
                let list = GapDecoder::new(e.bytes(), start, u128::MAX);
                w.push_chunk(list, &mut emit, &|e| e).unwrap();
                lo = hi;
            }
            w.finish(&mut emit).unwrap();
            blocks
        };
        let a = run(&[]);
        assert_eq!(a.len(), 4);
        assert_eq!(a[0].1, ps[65535]);
        assert_eq!(a, run(&[1, 65536, 65537, 100_000, 131072]));
    }
}
