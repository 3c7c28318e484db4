//! The prime kernels behind one interface.
//!
//! A [`Kernel`] takes an inclusive range `start..=stop` (any u128) and gives the primes
//! in it, ascending, to a [`PrimeSink`] in batches, or counts them. It splits the range
//! at 2^64 and hands each part to a backend:
//! - [`sieve::Sieve`]: segmented sieve of Eratosthenes, the default below 2^64 while it
//!   fits the memory budget ([`Memory`], [`sieve::Sieve::fits`]); its table of sieving
//!   primes is shared by all kernels of the process ([`sieving_primes`]);
//! - [`big::Presieve`]: pre-sieve by small primes, then deterministic Miller–Rabin
//!   (BPSW past 3.317e24), for everything the sieve does not take;
//! - [`trial::Trial`]: trial division by primes up to the square root, in C
//!   (`csrc/trialdiv.c`) or its Rust twin; slow on purpose, the faithful baseline.
//!
//! A kernel keeps its state (sieving primes, pre-sieve patterns) between calls, so a
//! worker thread that owns one reuses it across consecutive chunks.

pub mod big;
pub mod budget;
pub mod sieve;
pub mod sieving_primes;
pub mod small;
pub mod trial;

pub use budget::Memory;

use std::fmt;
use std::str::FromStr;

/// Which kernel a user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KernelKind {
    /// The sieve below 2^64 where its table fits, pre-sieve + Miller–Rabin elsewhere.
    #[default]
    Auto,
    /// Same choice as `Auto` today; named so a job can insist on it.
    Sieve,
    /// Trial division everywhere (C where built, else Rust).
    Trial,
    /// Pre-sieve by small primes, then Miller–Rabin, at every height (below 2^64 too,
    /// where `Auto` would sieve): about 25 times slower than the sieve there, but it
    /// shares no code with it, so a copy computed with it catches a sieve bug (and the
    /// other way round) when votes spread copies over kernels.
    Presieve,
}

impl KernelKind {
    /// The names the CLI accepts, for messages.
    pub const NAMES: &'static str = "auto, sieve, trial, presieve";

    /// The kernel's name as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Auto => "auto",
            KernelKind::Sieve => "sieve",
            KernelKind::Trial => "trial",
            KernelKind::Presieve => "presieve",
        }
    }
}

impl fmt::Display for KernelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KernelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(KernelKind::Auto),
            "sieve" => Ok(KernelKind::Sieve),
            "trial" => Ok(KernelKind::Trial),
            "presieve" => Ok(KernelKind::Presieve),
            _ => Err(format!(
                "unknown kernel '{s}' (known: {})",
                KernelKind::NAMES
            )),
        }
    }
}

/// Where a kernel delivers primes: ascending, in batches, each batch after the last.
pub trait PrimeSink {
    /// A batch of primes below 2^64.
    fn u64s(&mut self, primes: &[u64]);
    /// A batch of primes at or above 2^64.
    fn u128s(&mut self, primes: &[u128]);
}

/// Collects everything as u128 (tests and small jobs).
impl PrimeSink for Vec<u128> {
    fn u64s(&mut self, primes: &[u64]) {
        self.extend(primes.iter().map(|&p| p as u128));
    }
    fn u128s(&mut self, primes: &[u128]) {
        self.extend_from_slice(primes);
    }
}

/// Gap-encodes everything (the worker's result).
impl PrimeSink for crate::gaps::GapEncoder {
    fn u64s(&mut self, primes: &[u64]) {
        self.push_u64s(primes);
    }
    fn u128s(&mut self, primes: &[u128]) {
        for &p in primes {
            self.push(p);
        }
    }
}

const U64_TOP: u128 = u64::MAX as u128;

/// A kernel instance: owns the backends' reusable state. One per compute thread.
pub struct Kernel {
    kind: KernelKind,
    sieve: sieve::Sieve,
    presieve: big::Presieve,
    trial: trial::Trial,
    /// Calls below 2^64 the sieve took (see [`Kernel::sieve_calls`]).
    sieve_calls: u64,
}

impl Kernel {
    /// A kernel of the given kind with the default budget of one thread; trial
    /// division uses C where it was built.
    pub fn new(kind: KernelKind) -> Self {
        Self::with_budget(kind, Memory::default_for(1))
    }

    /// A kernel of the given kind that keeps within its share of `memory` (the budget
    /// of its process, shared with `memory.threads - 1` other kernels).
    pub fn with_budget(kind: KernelKind, memory: Memory) -> Self {
        Kernel {
            kind,
            sieve: sieve::Sieve::with_memory(memory),
            presieve: big::Presieve::new(),
            trial: trial::Trial::new(trial::TrialImpl::preferred()),
            sieve_calls: 0,
        }
    }

    /// A kernel whose trial division uses the given implementation (tests compare them).
    pub fn with_trial(kind: KernelKind, trial: trial::Trial) -> Self {
        Kernel {
            kind,
            sieve: sieve::Sieve::new(),
            presieve: big::Presieve::new(),
            trial,
            sieve_calls: 0,
        }
    }

    /// Bytes this kernel's sieve holds (not counting the shared table of sieving
    /// primes, see [`sieving_primes::shared_table_bytes`]).
    pub fn heap_bytes(&self) -> usize {
        self.sieve.heap_bytes()
    }

    /// How many calls (their parts below 2^64) the sieve took rather than pre-sieve +
    /// Miller–Rabin: tests check the dispatcher's choice with it.
    #[doc(hidden)]
    pub fn sieve_calls(&self) -> u64 {
        self.sieve_calls
    }

    /// The kind this kernel was made as.
    pub fn kind(&self) -> KernelKind {
        self.kind
    }

    /// Does the sieve take a range ending at `stop` within the budget? When not, says
    /// so once per process (the pre-sieve + Miller–Rabin path is much slower).
    fn sieve_fits(&self, stop: u64) -> bool {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let fits = self.sieve.fits(stop);
        if !fits && !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
            log::warn!(
                "kernel: the sieve needs more than the budget ({}) at {stop}; \
                 using pre-sieve + Miller-Rabin there (slower): raise --memory",
                self.sieve.memory()
            );
        }
        fits
    }

    /// Does the sieve take `a..=b` (below 2^64, in the auto or sieve kernel)? Yes when it
    /// fits the budget and is worth its set-up there ([`sieve::Sieve::worth_here`]: a
    /// long range, or one in a run of calls). A call it does not take is still told to
    /// it, so that a run of short calls that start on Miller–Rabin is seen as a run.
    fn sieve_takes(&mut self, a: u64, b: u64) -> bool {
        let takes = self.sieve.worth_here(a, b) && self.sieve_fits(b);
        if takes {
            self.sieve_calls += 1;
        } else {
            self.sieve.note_call(a, b);
        }
        takes
    }

    /// Gives the primes in `start..=stop` to `sink`, ascending. An empty range gives none.
    pub fn primes(&mut self, start: u128, stop: u128, sink: &mut dyn PrimeSink) {
        if start > stop {
            return;
        }
        if start <= U64_TOP {
            let (a, b) = (start as u64, stop.min(U64_TOP) as u64);
            let mut f = |ps: &[u64]| sink.u64s(ps);
            let kind = self.kind;
            match kind {
                KernelKind::Trial => self.trial.primes_u64(a, b, &mut f),
                KernelKind::Presieve => self.presieve.primes_u64(a, b, &mut f),
                _ if self.sieve_takes(a, b) => self.sieve.primes(a, b, &mut f),
                _ => self.presieve.primes_u64(a, b, &mut f),
            }
        }
        if stop > U64_TOP {
            let a = start.max(U64_TOP + 1);
            let mut f = |ps: &[u128]| sink.u128s(ps);
            match self.kind {
                KernelKind::Trial => self.trial.primes_u128(a, stop, &mut f),
                _ => self.presieve.primes_u128(a, stop, &mut f),
            }
        }
    }

    /// Counts the primes in `start..=stop`.
    pub fn count(&mut self, start: u128, stop: u128) -> u64 {
        if start > stop {
            return 0;
        }
        let mut n = 0;
        if start <= U64_TOP {
            let (a, b) = (start as u64, stop.min(U64_TOP) as u64);
            let kind = self.kind;
            n += match kind {
                KernelKind::Trial => self.trial.count_u64(a, b),
                KernelKind::Presieve => self.presieve.count_u64(a, b),
                _ if self.sieve_takes(a, b) => self.sieve.count(a, b),
                _ => self.presieve.count_u64(a, b),
            };
        }
        if stop > U64_TOP {
            let a = start.max(U64_TOP + 1);
            let mut f = |ps: &[u128]| n += ps.len() as u64;
            match self.kind {
                KernelKind::Trial => self.trial.primes_u128(a, stop, &mut f),
                _ => self.presieve.primes_u128(a, stop, &mut f),
            }
        }
        n
    }
}
