//! primecluster: find every prime in a range with a cluster of mixed machines.
//!
//! # Layout
//! - [`numarg`]: the number syntax of the command line (`1e9`, `2^64+1e6`, ...).
//! - [`u128math`]: mulmod/powmod (Montgomery), isqrt, Miller–Rabin and BPSW on u128.
//! - [`kernel`]: the prime kernels (segmented sieve, trial division in C and Rust,
//!   pre-sieve + Miller–Rabin past the sieve's reach) behind one [`kernel::Kernel`].
//! - [`gaps`]: the gap encoding of ascending primes shared by the wire and compact files.
//! - [`auth`]: tokens and the HMAC-SHA256 challenge–response handshake (pure state
//!   machines and their payloads; token-file reading and OS randomness at the edges).
//! - [`wire`]: frames and messages of the master–worker protocol; no I/O, no state.
//! - [`schedule`]: the master's scheduler, a pure state machine (events and `now` in,
//!   actions out) that a simulation can drive.
//! - [`master`]: the mio event loop that carries out the scheduler's actions.
//! - [`worker`]: the blocking worker client: one network thread, N compute threads.
//! - [`output`]: text and compact writers and readers, checkpoints, decode and verify.
//! - [`control`]: control from any node: the `status`, `threads` and `stop` messages,
//!   their rendering (table, JSON) and the blocking client over a connected link.
//! - [`bench`]: the `bench` subcommand's measurements.

pub mod auth;
pub mod bench;
pub mod control;
pub mod gaps;
pub mod kernel;
pub mod master;
pub mod numarg;
pub mod output;
pub mod schedule;
pub mod u128math;
pub mod wire;
pub mod worker;
