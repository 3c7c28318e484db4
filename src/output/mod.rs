//! Output: the text and compact writers, checkpoints and resume, decode and verify.
//!
//! # Contract
//! - [`OutputWriter`] takes the job's chunks in order as [`crate::gaps::Checked`] gap
//!   lists and writes them as text (one decimal prime per line, byte-identical to
//!   `primesieve START STOP --print`) or compact (`docs/FORMAT.md`) in large sequential
//!   writes (1 MiB), asking the kernel to start write-back every 8 MiB so that dirty
//!   pages never pile up.
//! - [`OutputWriter::checkpoint`] is the durability point: flush, fsync the output, check
//!   the file is still the one written, then atomically replace `<out>.ckpt`
//!   ([`checkpoint_path`]). A checkpoint never claims more than is durably on disk; after
//!   an error the writer refuses to go on and the file stays resumable from its last
//!   checkpoint.
//! - [`OutputWriter::resume`] truncates the output to its checkpoint and says where the
//!   job goes on ([`ResumeAt`]); the finished file is byte-identical to an uninterrupted
//!   run's, whatever the chunk boundaries were (compact blocks hold a fixed number of
//!   primes).
//! - [`decode`] turns a compact file into the identical text; [`verify`] checks that a
//!   file holds exactly the primes of its range without trusting the sieve it checks.
//!
//! # Layout
//! - [`job`]: the format and the job an output belongs to.
//! - [`error`]: the error type.
//! - [`writer`]: the writer and its checkpoints.
//! - [`resume`]: going on from a checkpoint.
//! - [`text`]: incremental decimal formatting and the output buffer.
//! - [`compact`]: the compact format's header, blocks and trailer; writer and reader.
//! - [`checkpoint`]: the checkpoint file.
//! - [`verify`]: `decode` and `verify`.
//!
//! Every one of them reads gap lists with the one walker, [`crate::gaps::GapDecoder`].

pub mod checkpoint;
pub mod compact;
pub mod error;
pub mod job;
pub mod resume;
pub mod text;
pub mod verify;
pub mod writer;

pub use checkpoint::{checkpoint_path, Checkpoint};
pub use error::{OutputError, WriteSummary};
pub use job::{Format, JobSpec};
pub use resume::{FreshStart, ResumeAt};
pub use verify::{decode, verify, Discrepancy, DiscrepancyKind, VerifyReport};
pub use writer::OutputWriter;
