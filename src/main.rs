//! The `primecluster` command line: raw arguments -> validated configuration -> run.
//!
//! Nothing past this file sees an unparsed string. Bad input exits with status 2 and
//! one line naming the argument; a failed job exits 1; a worker its master quarantined
//! exits 3; a closed stdout (`| head`) is not an error.

use argh::FromArgs;
use primecluster::control::{self, client, msg::SetThreadsRequest, msg::Target};
use primecluster::gaps::GapEncoder;
use primecluster::kernel::{Kernel, KernelKind, Memory};
use primecluster::master::{self, MasterConfig, Output, Summary};
use primecluster::output::{Format, JobSpec, OutputError, OutputWriter, ResumeAt};
use primecluster::worker::{self, WorkerConfig};
use primecluster::{auth, bench, numarg, wire};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

#[derive(FromArgs)]
/// Find every prime in a range with a cluster of mixed machines. Numbers may be written
/// 1000000, 1_000_000, 1e9, 10^12, 2^64, 2^64+1e6 or 2^64-59; ranges are inclusive at
/// both ends, from 0 to 2^128-1. Below 3.317e24 every prime printed is proven (sieve,
/// or Miller-Rabin with bases proven for that size); above it they are BPSW probable
/// primes. RUST_LOG sets the log level (e.g. RUST_LOG=debug).
struct Cli {
    #[argh(subcommand)]
    cmd: Cmd,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Cmd {
    Run(RunArgs),
    Master(MasterArgs),
    Worker(WorkerArgs),
    Primes(PrimesArgs),
    Decode(DecodeArgs),
    Verify(VerifyArgs),
    Bench(BenchArgs),
    Token(TokenArgs),
    Status(StatusArgs),
    Threads(ThreadsArgs),
    Stop(StopArgs),
}

/// Defines the argument struct of `run` or `master`: the options given, then the job
/// options they share (argh has no flattening, so a macro writes them once).
macro_rules! job_args {
    ($(#[$meta:meta])* struct $name:ident { $($field:tt)* }) => {
        $(#[$meta])*
        struct $name {
            /// [START] STOP: the range (START defaults to 0)
            #[argh(positional)]
            range: Vec<String>,
            #[argh(option)]
            /// write the primes to FILE (default: stdout)
            out: Option<PathBuf>,
            #[argh(switch)]
            /// print only the number of primes
            count: bool,
            #[argh(option, default = "String::from(\"text\")")]
            /// output format: text (one prime per line) or compact (about 1 byte per prime)
            format: String,
            #[argh(option, default = "String::from(\"auto\")")]
            /// kernel: auto, sieve, trial (trial division: slow, the baseline) or presieve (pre-sieve + Miller-Rabin at every height)
            kernel: String,
            #[argh(switch)]
            /// overwrite an existing output file
            force: bool,
            #[argh(switch)]
            /// continue an interrupted job from the checkpoint beside --out
            resume: bool,
            #[argh(option, default = "String::from(\"10\")")]
            /// seconds between checkpoints of the output file, 0.01 to 86400 (default 10)
            checkpoint: String,
            #[argh(option, default = "String::from(\"24\")")]
            /// mebibytes of results that may wait for their turn in memory, 1 to 4096 (default 24)
            max_buffer: String,
            #[argh(option, default = "String::from(\"2000\")")]
            /// milliseconds between worker heartbeats, 100 to 60000; 5 missed drop a worker (default 2000)
            heartbeat_ms: String,
            #[argh(option, default = "String::from(\"1024\")")]
            /// connections open at once, 1 to 4096; more are closed at once (default 1024)
            max_connections: String,
            #[argh(option, default = "String::from(\"1\")")]
            /// distinct workers (name and address) that must agree on each chunk before it is written, 1 to 5 (default 1); needs that many workers connected, else the job waits
            redundancy: String,
            #[argh(option, default = "String::from(\"0\")")]
            /// with --redundancy 1: fraction of results a second worker also computes before they are written, 0 to 1 (default 0: off); each worker's first 8 are all checked
            spot_check: String,
            #[argh(switch)]
            /// with --redundancy or --spot-check: every copy of a chunk uses the job's kernel; by default copies are spread over the sieve and pre-sieve + Miller-Rabin (which share no code, so a kernel bug is outvoted like a liar), which costs throughput: the pre-sieve is ~25 times slower than the sieve below 1e16
            same_kernel: bool,
            #[argh(switch, short = 'q')]
            /// no progress display
            quiet: bool,
            $($field)*
        }

        impl $name {
            fn job_opts(&self) -> JobOpts {
                JobOpts {
                    format: self.format.clone(),
                    kernel: self.kernel.clone(),
                    force: self.force,
                    resume: self.resume,
                    checkpoint: self.checkpoint.clone(),
                    max_buffer: self.max_buffer.clone(),
                    heartbeat_ms: self.heartbeat_ms.clone(),
                    max_connections: self.max_connections.clone(),
                    redundancy: self.redundancy.clone(),
                    spot_check: self.spot_check.clone(),
                    same_kernel: self.same_kernel,
                    quiet: self.quiet,
                }
            }
        }
    };
}

job_args! {
    #[derive(FromArgs)]
    /// Run a whole job on this machine: a master and local worker threads in one process.
    /// Other machines may join with `primecluster worker HOST:PORT` when --listen is given.
    #[argh(subcommand, name = "run")]
    struct RunArgs {
        #[argh(option)]
        /// local worker threads, 1 to 1024 (default: all cores)
        threads: Option<String>,
        #[argh(option)]
        /// memory budget in MiB for the whole process: 3 MiB for the master, the rest for
        /// the local worker's threads (default: from RAM and threads)
        memory: Option<u64>,
        #[argh(option)]
        /// also accept workers from other machines on ADDR (e.g. 0.0.0.0:7878); an
        /// address other than loopback needs --token-file (or --insecure)
        listen: Option<String>,
        #[argh(option, arg_name = "FILE")]
        /// the cluster's token (see `primecluster token`): workers and control clients
        /// must prove it, and the local worker uses it too (default: no token)
        token_file: Option<PathBuf>,
        #[argh(switch)]
        /// allow --listen on a non-loopback address without a token (a trusted LAN only:
        /// anyone who reaches the port can join the job)
        insecure: bool,
    }
}

job_args! {
    #[derive(FromArgs)]
    /// Run the master: hand out ranges to workers that connect, write the primes in order.
    #[argh(subcommand, name = "master")]
    struct MasterArgs {
        #[argh(option)]
        /// address to listen on for workers, e.g. 0.0.0.0:7878 or 127.0.0.1:0; an address
        /// other than loopback needs --token-file (or --insecure)
        listen: String,
        #[argh(option, arg_name = "FILE")]
        /// the cluster's token (see `primecluster token`): workers and control clients
        /// must prove it before they are welcomed
        token_file: Option<PathBuf>,
        #[argh(switch)]
        /// allow a non-loopback --listen without a token (a trusted LAN only: anyone who
        /// reaches the port can join the job)
        insecure: bool,
        #[argh(option)]
        /// threads every worker should run, 1 to 1024 (default: each worker's own choice)
        worker_threads: Option<String>,
    }
}

/// Options shared by `run` and `master`, as given (numbers are bounded in [`job`]).
struct JobOpts {
    format: String,
    kernel: String,
    force: bool,
    resume: bool,
    checkpoint: String,
    max_buffer: String,
    heartbeat_ms: String,
    max_connections: String,
    redundancy: String,
    spot_check: String,
    same_kernel: bool,
    quiet: bool,
}

#[derive(FromArgs)]
/// Run a worker: compute ranges for the master at HOST:PORT until the job is done (exit 0).
/// While there is no master it retries every few seconds, logging at attempts 1, 2, 4,
/// 8, ...; a master that stops (error, signal) is waited for the same way. A worker the
/// master quarantines (its results disagreed with the majority) exits with status 3.
#[argh(subcommand, name = "worker")]
struct WorkerArgs {
    #[argh(positional)]
    /// the master, HOST:PORT (port 1-65535; a host name that does not resolve yet is
    /// retried, since DNS may come later)
    master: String,
    #[argh(option)]
    /// compute threads (default: all cores)
    threads: Option<u32>,
    #[argh(option)]
    /// memory budget in MiB for all compute threads (default: from RAM and threads)
    memory: Option<u64>,
    #[argh(option)]
    /// name in the master's logs (default: host name and process id, e.g. raspberrypi-812)
    name: Option<String>,
    #[argh(switch)]
    /// exit (status 1) instead of retrying when the master cannot be reached, is lost or
    /// stops
    once: bool,
    #[argh(option)]
    /// exit 0 after SECONDS without a master (default: wait for ever)
    idle_exit: Option<u64>,
    #[argh(option, arg_name = "FILE")]
    /// the cluster's token (see `primecluster token`): the master must prove it before
    /// this worker computes anything, then the worker proves it
    token_file: Option<PathBuf>,
    #[argh(switch)]
    /// when the master quarantines this worker (its results disagreed with the
    /// majority), keep reconnecting every 5 s instead of exiting with status 3
    keep_trying: bool,
}

#[derive(FromArgs)]
/// Print the primes of [START] STOP on this machine, no network (like `primesieve START STOP --print`).
#[argh(subcommand, name = "primes")]
struct PrimesArgs {
    /// [START] STOP: the range (START defaults to 0)
    #[argh(positional)]
    range: Vec<String>,
    #[argh(switch)]
    /// print only the number of primes
    count: bool,
    #[argh(option, default = "String::from(\"auto\")")]
    /// kernel: auto, sieve, trial (trial division: slow, the baseline) or presieve (pre-sieve + Miller-Rabin at every height)
    kernel: String,
    #[argh(option)]
    /// threads (default: 1)
    threads: Option<u32>,
    #[argh(option)]
    /// memory budget in MiB for all threads (default: from RAM and threads)
    memory: Option<u64>,
}

#[derive(FromArgs)]
/// Turn a compact file into the text that --format text writes.
#[argh(subcommand, name = "decode")]
struct DecodeArgs {
    #[argh(positional)]
    /// the compact file
    file: PathBuf,
    #[argh(option)]
    /// write to FILE instead of stdout
    out: Option<PathBuf>,
}

#[derive(FromArgs)]
/// Check that FILE holds exactly the primes of its range, in order: every number by
/// Miller-Rabin, and no prime missing by a lister other than the sieve.
#[argh(subcommand, name = "verify")]
struct VerifyArgs {
    #[argh(positional)]
    /// the output file (text or compact)
    file: PathBuf,
    /// START STOP for a text file (a compact file records its range)
    #[argh(positional)]
    range: Vec<String>,
    #[argh(option, default = "String::from(\"auto\")")]
    /// lister for the no-prime-missing check: auto (the pre-sieve, not the sieve),
    /// sieve (started fresh for every piece) or trial
    kernel: String,
}

#[derive(FromArgs)]
/// Measure the kernels (numbers/s and primes/s) and compare with primesieve if present.
#[argh(subcommand, name = "bench")]
struct BenchArgs {
    #[argh(switch)]
    /// smaller ranges, for a quick look
    quick: bool,
}

#[derive(FromArgs)]
/// Print a new random token: 32 bytes from the OS random source as 64 hex characters.
/// Save it where only you can read it, e.g. `(umask 077; primecluster token > cluster.token)`
/// (a token file readable by group or others gets a warning; `chmod 600` it), copy that
/// file to every machine of the cluster, and give it with --token-file to master, run,
/// worker, status, threads and stop. The file's text is the secret; it never crosses the
/// network: both sides prove that they know it.
#[argh(subcommand, name = "token")]
struct TokenArgs {}

#[derive(FromArgs)]
/// Show a running job: range, format, done %, numbers/s, ETA, bytes written, reorder
/// buffer, redundancy, last checkpoint, and one row per worker (id, name, address, arch,
/// cores, threads, busy, chunks, numbers/s, share, last heard, state). Uses the master's
/// port and token; a control client never gets work.
#[argh(subcommand, name = "status")]
struct StatusArgs {
    #[argh(positional, arg_name = "HOST:PORT")]
    /// the master's address, as workers use it
    master: String,
    #[argh(switch)]
    /// print one JSON object with `job` and `workers` instead of the table
    json: bool,
    #[argh(option, arg_name = "FILE")]
    /// the master's token file (see `primecluster token`)
    token_file: Option<PathBuf>,
}

#[derive(FromArgs)]
/// Set the threads of every worker (and of workers that join later), or of one with
/// --worker, at once. Remembered for that worker across reconnects. N above a worker's
/// cores is allowed, with a warning.
#[argh(subcommand, name = "threads")]
struct ThreadsArgs {
    #[argh(positional, arg_name = "HOST:PORT")]
    /// the master's address, as workers use it
    master: String,
    #[argh(positional, arg_name = "N")]
    /// threads per worker, 1 to 1024
    n: String,
    #[argh(option, arg_name = "NAME|ID")]
    /// only this worker: a number is its id (see `status`), anything else its name
    worker: Option<String>,
    #[argh(option, arg_name = "FILE")]
    /// the master's token file (see `primecluster token`)
    token_file: Option<PathBuf>,
}

#[derive(FromArgs)]
/// Stop the job resumably: the master writes what is in order, checkpoints, tells the
/// workers to wait for it and exits 0; start it again with --resume to continue.
#[argh(subcommand, name = "stop")]
struct StopArgs {
    #[argh(positional, arg_name = "HOST:PORT")]
    /// the master's address, as workers use it
    master: String,
    #[argh(option, arg_name = "FILE")]
    /// the master's token file (see `primecluster token`)
    token_file: Option<PathBuf>,
}

/// How the program ends.
enum Fail {
    /// Bad input: status 2.
    Usage(String),
    /// The job failed: status 1.
    Job(String),
    /// stdout was closed by its reader: not an error.
    ClosedPipe,
    /// The master stopped cleanly on a signal: status 128 + signal.
    Interrupted(i32),
    /// The master stopped cleanly because `primecluster stop` asked: status 0.
    Stopped,
    /// A worker was quarantined by its master: status [`EXIT_QUARANTINED`].
    Quarantined(String),
}

/// A worker's exit status when its master quarantined it (its results lost a vote):
/// distinct, so that a service manager can be told not to restart it
/// (`RestartPreventExitStatus=3` in `cross/systemd/primecluster-worker.service`).
const EXIT_QUARANTINED: u8 = 3;

impl From<OutputError> for Fail {
    fn from(e: OutputError) -> Self {
        if let OutputError::Io { source, .. } = &e {
            if source.kind() == io::ErrorKind::BrokenPipe {
                return Fail::ClosedPipe;
            }
        }
        Fail::Job(e.to_string())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let name = args.first().map_or("primecluster", |s| s.as_str());
    let rest: Vec<&str> = args.iter().skip(1).map(|s| s.as_str()).collect();
    let cli = match Cli::from_args(&[name], &rest) {
        Ok(cli) => cli,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    println!("{}", early.output);
                    ExitCode::SUCCESS
                }
                Err(()) => {
                    // argh's message spans lines ("Unrecognized argument: --x" then a
                    // hint); ours are one line with the program's prefix.
                    let text: Vec<&str> = early
                        .output
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .collect();
                    eprintln!("primecluster: {}", text.join(" "));
                    ExitCode::from(2)
                }
            };
        }
    };
    let default_level = match cli.cmd {
        Cmd::Master(_) | Cmd::Worker(_) => "info",
        _ => "warn",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level))
        .format_target(false)
        .init();
    let result = match cli.cmd {
        Cmd::Run(a) => cmd_run(a),
        Cmd::Master(a) => cmd_master(a),
        Cmd::Worker(a) => cmd_worker(a),
        Cmd::Primes(a) => cmd_primes(a),
        Cmd::Decode(a) => cmd_decode(a),
        Cmd::Verify(a) => cmd_verify(a),
        Cmd::Bench(a) => {
            bench::run(a.quick);
            Ok(())
        }
        Cmd::Token(_) => cmd_token(),
        Cmd::Status(a) => cmd_status(a),
        Cmd::Threads(a) => cmd_threads(a),
        Cmd::Stop(a) => cmd_stop(a),
    };
    match result {
        Ok(()) | Err(Fail::ClosedPipe) | Err(Fail::Stopped) => ExitCode::SUCCESS,
        Err(Fail::Usage(msg)) => {
            eprintln!("primecluster: {msg}");
            ExitCode::from(2)
        }
        Err(Fail::Job(msg)) => {
            eprintln!("primecluster: {msg}");
            ExitCode::from(1)
        }
        Err(Fail::Interrupted(sig)) => ExitCode::from((128 + sig).clamp(0, 255) as u8),
        Err(Fail::Quarantined(msg)) => {
            eprintln!("primecluster: {msg}");
            ExitCode::from(EXIT_QUARANTINED)
        }
    }
}

/// `[START] STOP` -> (start, stop), naming the bad argument.
fn parse_range(range: &[String]) -> Result<(u128, u128), Fail> {
    let num = |what: &str, text: &str| {
        numarg::parse(text).map_err(|e| Fail::Usage(format!("{what}: {e}")))
    };
    let (start, stop) = match range {
        [stop] => (0, num("STOP", stop)?),
        [start, stop] => (num("START", start)?, num("STOP", stop)?),
        [] => {
            return Err(Fail::Usage(
                "missing STOP (usage: [START] STOP; see --help)".into(),
            ))
        }
        more => {
            return Err(Fail::Usage(format!(
                "expected [START] STOP, got {} numbers",
                more.len()
            )))
        }
    };
    if start > stop {
        return Err(Fail::Usage(format!(
            "START {start} is greater than STOP {stop}"
        )));
    }
    Ok((start, stop))
}

fn parse_kernel(text: &str) -> Result<KernelKind, Fail> {
    let k: KernelKind = text
        .parse()
        .map_err(|e| Fail::Usage(format!("--kernel: {e}")))?;
    if k == KernelKind::Trial {
        eprintln!(
            "primecluster: warning: --kernel trial is trial division, the slow baseline: correct at any size, \
             but each prime near STOP costs about sqrt(STOP)/ln(sqrt(STOP)) divisions, hopeless past ~2^70"
        );
    }
    Ok(k)
}

/// `--memory MIB`: at least 1.
fn parse_memory(mib: Option<u64>) -> Result<Option<u64>, Fail> {
    match mib {
        Some(0) => Err(Fail::Usage(
            "--memory: 0 MiB; give at least 1 (64 runs a Pi Zero)".into(),
        )),
        m => Ok(m),
    }
}

fn parse_threads(flag: &str, t: Option<u32>) -> Result<Option<u32>, Fail> {
    match t {
        Some(n) if !(1..=wire::MAX_THREADS).contains(&n) => Err(Fail::Usage(format!(
            "{flag}: {n} is outside the allowed range 1 to {} threads",
            wire::MAX_THREADS
        ))),
        other => Ok(other),
    }
}

/// An integer option given as text (any number syntax of [`numarg`]) within
/// `min..=max`; the error names the option, the text given and the range.
fn bounded(flag: &str, text: &str, min: u64, max: u64, unit: &str) -> Result<u64, Fail> {
    let outside = || {
        Fail::Usage(format!(
            "{flag}: {text} is outside the allowed range {min} to {max} {unit}"
        ))
    };
    let v = numarg::parse(text).map_err(|e| Fail::Usage(format!("{flag}: {e}")))?;
    let v = u64::try_from(v).map_err(|_| outside())?;
    if !(min..=max).contains(&v) {
        return Err(outside());
    }
    Ok(v)
}

/// `--threads`/`--worker-threads` given as text: 1 to [`wire::MAX_THREADS`].
fn threads_option(flag: &str, text: Option<&str>) -> Result<Option<u32>, Fail> {
    text.map(|t| bounded(flag, t, 1, wire::MAX_THREADS as u64, "threads").map(|n| n as u32))
        .transpose()
}

/// Bounds of the numeric job options: wide enough for any sane use, narrow enough
/// that nothing overflows (seconds into a Duration, MiB into bytes) and that a typo
/// (1e-300 s: thousands of fsyncs a second) is refused rather than obeyed.
const CHECKPOINT_SECS: (f64, f64) = (0.01, 86_400.0);
const MAX_BUFFER_MIB: (u64, u64) = (1, 4096);
const HEARTBEAT_MS: (u64, u64) = (100, 60_000);
const MAX_CONNECTIONS: (u64, u64) = (1, 4096);
const REDUNDANCY: (u64, u64) = (1, 5);
const SPOT_CHECK: (f64, f64) = (0.0, 1.0);

/// The validated job of `run` and `master`.
struct Job {
    start: u128,
    stop: u128,
    kernel: KernelKind,
    count: bool,
    out: Option<PathBuf>,
    format: Format,
    checkpoint: Duration,
    max_buffer_bytes: u64,
    heartbeat: Duration,
    max_connections: usize,
    redundancy: u32,
    spot_check: f64,
    opts: JobOpts,
}

fn job(range: &[String], count: bool, out: Option<PathBuf>, opts: JobOpts) -> Result<Job, Fail> {
    let (start, stop) = parse_range(range)?;
    let kernel = parse_kernel(&opts.kernel)?;
    let format: Format = opts
        .format
        .parse()
        .map_err(|e| Fail::Usage(format!("--format: {e}")))?;
    let (lo, hi) = CHECKPOINT_SECS;
    let checkpoint = match opts.checkpoint.trim().parse::<f64>() {
        Ok(s) if (lo..=hi).contains(&s) => Duration::from_secs_f64(s),
        _ => {
            return Err(Fail::Usage(format!(
                "--checkpoint: {} is outside the allowed range {lo} to {hi} seconds",
                opts.checkpoint
            )))
        }
    };
    let (lo, hi) = MAX_BUFFER_MIB;
    let max_buffer_mib = bounded("--max-buffer", &opts.max_buffer, lo, hi, "MiB")?;
    let (lo, hi) = HEARTBEAT_MS;
    let heartbeat_ms = bounded("--heartbeat-ms", &opts.heartbeat_ms, lo, hi, "ms")?;
    let (lo, hi) = MAX_CONNECTIONS;
    let max_connections = bounded(
        "--max-connections",
        &opts.max_connections,
        lo,
        hi,
        "connections",
    )?;
    let (lo, hi) = REDUNDANCY;
    let redundancy = bounded("--redundancy", &opts.redundancy, lo, hi, "workers")? as u32;
    let (lo, hi) = SPOT_CHECK;
    let spot_check = match opts.spot_check.trim().parse::<f64>() {
        Ok(f) if (lo..=hi).contains(&f) => f,
        _ => {
            return Err(Fail::Usage(format!(
                "--spot-check: {} is outside the allowed range {lo} to {hi} (a fraction)",
                opts.spot_check
            )))
        }
    };
    if redundancy > 1 && spot_check > 0.0 {
        return Err(Fail::Usage(format!(
            "--spot-check {} with --redundancy {redundancy}: spot checks are for \
             redundancy 1 (at {redundancy} every chunk is already checked); drop one",
            opts.spot_check
        )));
    }
    if opts.resume && out.is_none() {
        return Err(Fail::Usage(
            "--resume needs --out FILE: there is nothing to resume on stdout".into(),
        ));
    }
    if opts.resume && opts.force {
        return Err(Fail::Usage(
            "--resume and --force contradict each other: choose one".into(),
        ));
    }
    if count && (out.is_some() || opts.format != "text") {
        return Err(Fail::Usage(
            "--count prints only a number: drop --out and --format".into(),
        ));
    }
    Ok(Job {
        start,
        stop,
        kernel,
        count,
        out,
        format,
        checkpoint,
        max_buffer_bytes: max_buffer_mib << 20,
        heartbeat: Duration::from_millis(heartbeat_ms),
        max_connections: max_connections as usize,
        redundancy,
        spot_check,
        opts,
    })
}

/// Opens the output of a job; returns it and the first number still to compute, or
/// `None` when a resumed output is already complete (it is finished here: a compact
/// file's trailer is written if a crash came before it).
fn open_output(job: &Job) -> Result<Option<(Output, u128)>, Fail> {
    if job.count {
        return Ok(Some((Output::Count, job.start)));
    }
    let spec = JobSpec {
        start: job.start,
        stop: job.stop,
        format: job.format,
        kernel: job.kernel.name().to_string(),
    };
    match &job.out {
        Some(path) if job.opts.resume => {
            let (w, at) = OutputWriter::resume(path, &spec)?;
            let shown = path.display();
            let start = match at {
                ResumeAt::Fresh(why) => {
                    eprintln!("primecluster: nothing to resume ({why}): starting {shown} fresh");
                    job.start
                }
                ResumeAt::Continue(next) => {
                    if next > job.start {
                        eprintln!("primecluster: resuming {shown} at {next}");
                    }
                    next
                }
                ResumeAt::Complete => {
                    let summary = w.finish()?;
                    eprintln!(
                        "primecluster: {shown} is already complete ({} primes): nothing to do",
                        summary.primes
                    );
                    return Ok(None);
                }
            };
            Ok(Some((Output::Primes(Box::new(w)), start)))
        }
        Some(path) => Ok(Some((
            Output::Primes(Box::new(OutputWriter::create(path, &spec, job.opts.force)?)),
            job.start,
        ))),
        None => {
            let out = Box::new(io::stdout());
            Ok(Some((
                Output::Primes(Box::new(OutputWriter::to_stream(out, &spec))),
                job.start,
            )))
        }
    }
}

/// Hidden setting, for the process tests only: the idle limit of control clients in
/// milliseconds (100 to 3600000), in place of [`master::CONTROL_IDLE`] (30 s). An
/// environment variable rather than an option: no operator needs to change it, and a
/// test must not wait 30 s to see it work.
const CONTROL_IDLE_ENV: &str = "PRIMECLUSTER_CONTROL_IDLE_MS";

/// The control clients' idle limit: [`CONTROL_IDLE_ENV`] if set (exit 2 naming it when
/// it is not a whole number of milliseconds in range), else 30 s.
fn control_idle() -> Result<Duration, Fail> {
    let Some(text) = std::env::var_os(CONTROL_IDLE_ENV) else {
        return Ok(master::CONTROL_IDLE);
    };
    let text = text.to_string_lossy();
    let ms = bounded(CONTROL_IDLE_ENV, &text, 100, 3_600_000, "ms")?;
    Ok(Duration::from_millis(ms))
}

fn master_config(
    job: &Job,
    start: u128,
    worker_threads: Option<u32>,
    token: Option<auth::Token>,
) -> Result<MasterConfig, Fail> {
    Ok(MasterConfig {
        start,
        stop: job.stop,
        kernel: job.kernel,
        heartbeat: job.heartbeat,
        checkpoint: job.checkpoint,
        max_buffer_bytes: job.max_buffer_bytes,
        worker_threads,
        max_connections: job.max_connections,
        quiet: job.opts.quiet,
        token,
        redundancy: job.redundancy,
        spot_check: job.spot_check,
        same_kernel: job.opts.same_kernel,
        control_idle: control_idle()?,
    })
}

fn bind(addr: &str) -> Result<std::net::TcpListener, Fail> {
    std::net::TcpListener::bind(addr).map_err(|e| Fail::Usage(format!("--listen {addr}: {e}")))
}

/// Refuses, before binding, a listener that strangers could reach without a token:
/// every address `addr` resolves to must be loopback, unless there is a token or the
/// operator said `--insecure`.
fn check_listen(addr: &str, has_token: bool, insecure: bool) -> Result<(), Fail> {
    use std::net::ToSocketAddrs;
    let addrs = addr
        .to_socket_addrs()
        .map_err(|e| Fail::Usage(format!("--listen {addr}: {e}")))?;
    for a in addrs {
        auth::check_listen(&a, has_token, insecure).map_err(|e| Fail::Usage(e.to_string()))?;
    }
    Ok(())
}

/// Reads `--token-file` (exit 2 naming the file if it cannot be used), warning when
/// other users may read it.
fn load_token(path: Option<&std::path::Path>) -> Result<Option<auth::Token>, Fail> {
    let Some(path) = path else {
        return Ok(None);
    };
    let loaded = auth::Token::load(path).map_err(|e| Fail::Usage(format!("--token-file: {e}")))?;
    if let Some(w) = &loaded.warning {
        log::warn!("{w}");
    }
    Ok(Some(loaded.token))
}

fn cmd_master(a: MasterArgs) -> Result<(), Fail> {
    let worker_threads = threads_option("--worker-threads", a.worker_threads.as_deref())?;
    let job = job(&a.range, a.count, a.out.clone(), a.job_opts())?;
    let token = load_token(a.token_file.as_deref())?;
    check_listen(&a.listen, token.is_some(), a.insecure)?;
    // Bind before touching any file: a busy port must leave the output as it was.
    let listener = bind(&a.listen)?;
    let Some((output, start)) = open_output(&job)? else {
        return Ok(());
    };
    if let Ok(addr) = listener.local_addr() {
        // Tests and scripts read the port from here when listening on port 0.
        eprintln!("primecluster: master listening on {addr}");
    }
    let cfg = master_config(&job, start, worker_threads, token)?;
    let summary = master::run(cfg, output, listener).map_err(|e| master_failure(&job, e))?;
    report(&job, &summary)
}

fn cmd_run(a: RunArgs) -> Result<(), Fail> {
    let threads = threads_option("--threads", a.threads.as_deref())?;
    let job = job(&a.range, a.count, a.out.clone(), a.job_opts())?;
    if a.listen.is_none() && (job.redundancy > 1 || job.spot_check > 0.0) {
        // Votes are per worker, and `run` alone has one: a second local worker would
        // run the same code on the same machine and prove nothing, so it is refused.
        return Err(Fail::Usage(format!(
            "--redundancy {} / --spot-check {} need other workers to vote, and `run` has \
             one local worker: add --listen ADDR and start workers elsewhere, or use \
             `master`",
            job.redundancy, job.opts.spot_check
        )));
    }
    let token = load_token(a.token_file.as_deref())?;
    let listen = a.listen.as_deref().unwrap_or("127.0.0.1:0");
    check_listen(listen, token.is_some(), a.insecure)?;
    // Bind before touching any file: a busy port must leave the output as it was.
    let listener = bind(listen)?;
    let Some((output, start)) = open_output(&job)? else {
        return Ok(());
    };
    let addr = listener
        .local_addr()
        .map_err(|e| Fail::Job(format!("listening socket: {e}")))?;
    let local = WorkerConfig {
        master: local_dial(addr).to_string(),
        threads: Some(threads.unwrap_or_else(worker::cores)),
        name: "local".into(),
        once: true,
        idle_exit: None,
        token: token.clone(),
        // The master shares the process: its writer and the chunk it writes take about
        // 3 MiB in steady state (`run --memory 64` at 1e18 peaked 0.9 MiB over without
        // this). A reorder buffer that workers fill out of order comes on top, up to
        // --max-buffer.
        memory: parse_memory(a.memory)?.map(|mib| mib.saturating_sub(RUN_MASTER_MIB).max(1)),
        keep_trying: false,
    };
    let local_worker = thread::spawn(move || worker::run(&local));
    let cfg = master_config(&job, start, None, token)?;
    let summary = master::run(cfg, output, listener).map_err(|e| master_failure(&job, e))?;
    // Only a finished job waits for its local worker (told "done", it ends at once);
    // after a signal or a closed pipe the process simply exits.
    if let Ok(Err(e)) = local_worker.join() {
        log::debug!("local worker: {e}");
    }
    report(&job, &summary)
}

/// MiB of `run --memory` left to its master (see `cmd_run`).
const RUN_MASTER_MIB: u64 = 3;

/// Where `run`'s own worker dials: the bound address itself, or loopback when the
/// listener is on every address (0.0.0.0 or ::), so that any --listen works.
fn local_dial(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// How a master error ends the program: a closed stdout quietly, a signal with the
/// command that resumes the job, anything else as a failed job.
fn master_failure(job: &Job, e: master::MasterError) -> Fail {
    if e.is_closed_pipe() {
        return Fail::ClosedPipe;
    }
    if let master::MasterError::Stopped { by, next, .. } = &e {
        let how = format!("stopped by a control client ({by})");
        print_stopped(job, &how, *next);
        return Fail::Stopped;
    }
    let master::MasterError::Interrupted { signal, next } = e else {
        return Fail::Job(e.to_string());
    };
    let how = format!("stopped by {}", master::signal_name(signal));
    print_stopped(job, &how, next);
    Fail::Interrupted(signal)
}

/// After a clean stop: where the output stands and the command that resumes it.
fn print_stopped(job: &Job, how: &str, next: Option<u128>) {
    match (&job.out, next) {
        (Some(path), Some(next)) => eprintln!(
            "primecluster: {how}; {} is checkpointed up to {next}. To go on: {}",
            path.display(),
            resume_command()
        ),
        (Some(path), None) => eprintln!(
            "primecluster: {how}; {} is checkpointed. To go on: {}",
            path.display(),
            resume_command()
        ),
        (None, _) => eprintln!(
            "primecluster: {how}; the output went to stdout, so there is nothing to \
             resume (use --out FILE for a resumable job)"
        ),
    }
}

/// This process's own command line with --force dropped and --resume added, quoted
/// for a POSIX shell.
fn resume_command() -> String {
    let mut args: Vec<String> = std::env::args().filter(|a| a != "--force").collect();
    if !args.iter().any(|a| a == "--resume") {
        args.push("--resume".into());
    }
    args.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(a: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.,/:=@^+%".contains(c);
    if !a.is_empty() && a.chars().all(plain) {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// Prints the count (stdout) and the summary (stderr).
fn report(job: &Job, s: &Summary) -> Result<(), Fail> {
    if job.count {
        let mut out = io::stdout();
        if let Err(e) = writeln!(out, "{}", s.primes).and_then(|_| out.flush()) {
            return if e.kind() == io::ErrorKind::BrokenPipe {
                Err(Fail::ClosedPipe)
            } else {
                Err(Fail::Job(e.to_string()))
            };
        }
    }
    if job.opts.quiet {
        return Ok(());
    }
    let secs = s.elapsed.as_secs_f64();
    eprintln!(
        "primecluster: {} numbers, {} primes in {:.2} s ({} numbers/s)",
        s.numbers,
        s.primes,
        secs,
        master::human(s.numbers as f64 / secs.max(1e-9))
    );
    let total = s.shares.iter().map(|x| x.numbers).sum::<u128>().max(1);
    for share in &s.shares {
        eprintln!(
            "primecluster:   {:<24} {:5.1}% ({} chunks)",
            format!("{}@{}", share.name, share.addr),
            share.numbers as f64 * 100.0 / total as f64,
            share.chunks
        );
    }
    Ok(())
}

fn cmd_worker(a: WorkerArgs) -> Result<(), Fail> {
    let threads = parse_threads("--threads", a.threads)?;
    worker::check_master_addr(&a.master).map_err(|e| Fail::Usage(e.to_string()))?;
    let max = worker::MAX_IDLE_EXIT.as_secs();
    let idle_exit = match a.idle_exit {
        None => None,
        Some(s @ 1..) if s <= max => Some(Duration::from_secs(s)),
        Some(s) => {
            return Err(Fail::Usage(format!(
                "--idle-exit: {s} seconds is not in 1..={max}"
            )))
        }
    };
    let token = load_token(a.token_file.as_deref())?;
    let cfg = WorkerConfig {
        master: a.master,
        threads,
        name: a.name.unwrap_or_else(worker::default_name),
        once: a.once,
        idle_exit,
        token,
        memory: parse_memory(a.memory)?,
        keep_trying: a.keep_trying,
    };
    worker::run(&cfg).map_err(|e| {
        if e.is_quarantined() {
            Fail::Quarantined(e.to_string())
        } else {
            Fail::Job(e.to_string())
        }
    })
}

/// Slices a `primes` run computes at a time, per thread, at least (more high up).
const SLICE: u128 = 1 << 24;

fn cmd_primes(a: PrimesArgs) -> Result<(), Fail> {
    let (start, stop) = parse_range(&a.range)?;
    let kind = parse_kernel(&a.kernel)?;
    let threads = parse_threads("--threads", a.threads)?.unwrap_or(1);
    let memory = match parse_memory(a.memory)? {
        Some(mib) => Memory::mib(mib, threads),
        None => Memory::default_for(threads),
    };
    log::info!("primes: memory budget {memory}");
    let spec = JobSpec {
        start,
        stop,
        format: Format::Text,
        kernel: kind.name().into(),
    };
    let mut out = (!a.count).then(|| OutputWriter::to_stream(Box::new(io::stdout()), &spec));
    let mut total = 0u64;
    slices_in_order(start, stop, memory, kind, a.count, |s, e, count, gaps| {
        total += count;
        match &mut out {
            Some(w) => {
                let list = primecluster::gaps::check(gaps, s, e, count)
                    .map_err(|err| Fail::Job(format!("slice {s}..={e}: {err}")))?;
                w.append(&list).map_err(Fail::from)
            }
            None => Ok(()),
        }
    })?;
    match out {
        Some(w) => {
            w.finish()?;
        }
        None => {
            let mut o = io::stdout();
            if let Err(e) = writeln!(o, "{total}").and_then(|_| o.flush()) {
                return if e.kind() == io::ErrorKind::BrokenPipe {
                    Err(Fail::ClosedPipe)
                } else {
                    Err(Fail::Job(e.to_string()))
                };
            }
        }
    }
    Ok(())
}

/// Computes `start..=stop` in slices on `threads` threads and hands each slice's
/// (start, stop, count, gaps) to `sink` in order. Thread i takes slices i, i+n, ...
/// and a bounded channel per thread keeps memory flat.
fn slices_in_order(
    start: u128,
    stop: u128,
    memory: Memory,
    kind: KernelKind,
    count_only: bool,
    mut sink: impl FnMut(u128, u128, u64, Vec<u8>) -> Result<(), Fail>,
) -> Result<(), Fail> {
    let n = memory.threads as u128;
    if count_only {
        return count_in_parts(start, stop, memory, kind, sink);
    }
    // High up, a slice must be long enough for the sieve's set-up of its large primes
    // (else the kernel takes pre-sieve + Miller-Rabin, 20x slower); with one thread the
    // slices are consecutive and the sieve carries its window from one to the next.
    let worth = primecluster::kernel::sieve::Sieve::worth_len(stop.min(u64::MAX as u128) as u64);
    let slice = SLICE.max(u128::from(worth).saturating_mul(2).next_power_of_two());
    let slice_of = move |i: u128| -> Option<(u128, u128)> {
        let s = start.checked_add(i.checked_mul(slice)?)?;
        (s <= stop).then(|| (s, s.saturating_add(slice - 1).min(stop)))
    };
    // The kernels' budget leaves room for the slices in flight: per thread, two in
    // its channel, one being made and one being written, about a byte a prime each
    // (gap-encoded).
    let per_slice = (slice as f64 / (stop.max(3) as f64).ln() * 1.2) as u64 + 4096;
    let memory = Memory {
        total: memory
            .total
            .saturating_sub(per_slice.saturating_mul(4 * n as u64)),
        threads: memory.threads,
    };
    let began = Instant::now();
    thread::scope(|scope| {
        let mut rxs = Vec::new();
        for t in 0..n {
            let (tx, rx) = mpsc::sync_channel::<(u128, u128, u64, Vec<u8>)>(2);
            rxs.push(rx);
            scope.spawn(move || {
                let mut kernel = Kernel::with_budget(kind, memory);
                let mut i = t;
                while let Some((s, e)) = slice_of(i) {
                    let msg = if count_only {
                        (s, e, kernel.count(s, e), Vec::new())
                    } else {
                        let mut enc = GapEncoder::new(s);
                        kernel.primes(s, e, &mut enc);
                        (s, e, enc.count(), enc.into_bytes())
                    };
                    if tx.send(msg).is_err() {
                        return; // The consumer stopped (closed pipe or error).
                    }
                    i += n;
                }
            });
        }
        let mut i = 0u128;
        while slice_of(i).is_some() {
            let Ok((s, e, count, gaps)) = rxs[(i % n) as usize].recv() else {
                break;
            };
            sink(s, e, count, gaps)?;
            i += 1;
        }
        drop(rxs);
        log::debug!("primes: {:.3} s", began.elapsed().as_secs_f64());
        Ok(())
    })
}

/// Counting needs no order and holds nothing per slice: each thread counts one
/// contiguous part in one call, so the sieve sets up its sieving primes once per thread
/// rather than once per slice (near 2^64 that set-up costs as much as sieving 1e9
/// numbers), like `primesieve -c`. The total goes to `sink` as one slice.
fn count_in_parts(
    start: u128,
    stop: u128,
    memory: Memory,
    kind: KernelKind,
    mut sink: impl FnMut(u128, u128, u64, Vec<u8>) -> Result<(), Fail>,
) -> Result<(), Fail> {
    let n = memory.threads as u128;
    // Saturates only for 0..=2^128-1, where the last part simply runs to stop.
    let part = (stop - start).saturating_add(1).div_ceil(n).max(1);
    let begin = |t: u128| {
        start
            .checked_add(t.checked_mul(part)?)
            .filter(|&s| s <= stop)
    };
    let total = thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .filter_map(|t| {
                let s = begin(t)?;
                Some((s, begin(t + 1).map_or(stop, |next| next - 1)))
            })
            .map(|(s, e)| scope.spawn(move || Kernel::with_budget(kind, memory).count(s, e)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .sum::<u64>()
    });
    sink(start, stop, total, Vec::new())
}

fn cmd_decode(a: DecodeArgs) -> Result<(), Fail> {
    let result = match &a.out {
        Some(path) => decode_to_file(&a.file, path),
        None => {
            let mut out = io::stdout().lock();
            primecluster::output::decode(&a.file, &mut out).map(|_| ())
        }
    };
    result.map_err(|e| match e {
        OutputError::Usage(m) => Fail::Usage(m),
        other => Fail::from(other),
    })
}

/// Decodes into a temporary file beside `path`, renamed to it only when the whole file
/// decoded: a damaged input leaves no `--out` behind (and no partial text that looks
/// like a result).
fn decode_to_file(file: &std::path::Path, path: &std::path::Path) -> Result<(), OutputError> {
    if path.exists() {
        return Err(OutputError::Usage(format!(
            "{} exists: choose another --out or remove it",
            path.display()
        )));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".part{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let io_err = |op: &str, p: &std::path::Path| {
        let (op, p) = (op.to_string(), p.to_path_buf());
        move |source| OutputError::Io {
            op,
            path: p,
            source,
        }
    };
    let decoded = std::fs::File::create_new(&tmp)
        .map_err(io_err("creating", &tmp))
        .and_then(|f| {
            let mut w = io::BufWriter::with_capacity(1 << 20, f);
            primecluster::output::decode(file, &mut w)?;
            let f = w
                .into_inner()
                .map_err(|e| io_err("writing", &tmp)(e.into_error()))?;
            f.sync_all().map_err(io_err("syncing", &tmp))?;
            std::fs::rename(&tmp, path).map_err(io_err("renaming the decoded text to", path))
        });
    if decoded.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    decoded
}

fn cmd_verify(a: VerifyArgs) -> Result<(), Fail> {
    let kind = parse_kernel(&a.kernel)?;
    let range = match a.range.as_slice() {
        [] => None,
        [_, _] => Some(parse_range(&a.range)?),
        _ => return Err(Fail::Usage("verify takes FILE [START STOP]".into())),
    };
    let report = primecluster::output::verify(&a.file, range, kind).map_err(|e| match e {
        OutputError::Usage(m) => Fail::Usage(m),
        other => Fail::Job(other.to_string()),
    })?;
    println!("{report}");
    if report.discrepancy.is_some() {
        return Err(Fail::Job(format!(
            "{} does not hold exactly the primes of its range",
            a.file.display()
        )));
    }
    Ok(())
}

/// `token`: one new random token on stdout.
fn cmd_token() -> Result<(), Fail> {
    let token = auth::new_token_hex().map_err(|e| Fail::Job(e.to_string()))?;
    let mut out = io::stdout().lock();
    match writeln!(out, "{token}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Fail::ClosedPipe),
        Err(e) => Err(Fail::Job(format!("cannot write the token to stdout: {e}"))),
    }
}

/// Where and how a control command reaches the master, validated.
#[derive(Debug)]
struct ControlTarget {
    /// HOST:PORT, with a port that parses.
    master: String,
    token_file: Option<PathBuf>,
}

fn control_target(master: &str, token_file: Option<PathBuf>) -> Result<ControlTarget, Fail> {
    let bad = || {
        Fail::Usage(format!(
            "master address '{master}' is not HOST:PORT (e.g. 192.168.1.10:7878)"
        ))
    };
    let (host, port) = master.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    if let Some(path) = &token_file {
        if !path.is_file() {
            return Err(Fail::Usage(format!(
                "--token-file {}: no such file (make one with `primecluster token`)",
                path.display()
            )));
        }
    }
    Ok(ControlTarget {
        master: master.to_string(),
        token_file,
    })
}

/// `threads`' N: 1..=MAX_THREADS, naming the value otherwise.
fn parse_thread_count(n: &str) -> Result<u32, Fail> {
    match n.parse::<u32>() {
        Ok(t) if (1..=control::MAX_THREADS).contains(&t) => Ok(t),
        _ => Err(Fail::Usage(format!(
            "N: '{n}' is not a thread count from 1 to {}",
            control::MAX_THREADS
        ))),
    }
}

/// `--worker NAME|ID`: a number is an id, anything else a name (not empty).
fn parse_worker_target(worker: Option<&str>) -> Result<Target, Fail> {
    match worker {
        None => Ok(Target::All),
        Some("") => Err(Fail::Usage(
            "--worker: empty; give a worker's name or id (see `primecluster status`)".into(),
        )),
        Some(w) => Ok(Target::from_arg(w)),
    }
}

/// How long a control command waits for the TCP connection, and then for each reply
/// (a stop's reply comes after the master's final checkpoint, so it may take a while).
const CONTROL_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const CONTROL_REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// The one point where a control command connects: TCP (with timeouts), then the
/// version 2 hello with role "control" and the authentication handshake
/// (`docs/PROTOCOL.md` section 11), then the master's welcome. What follows is the control
/// client's ([`client`]).
fn control_connect(t: &ControlTarget) -> Result<client::StreamLink<std::net::TcpStream>, Fail> {
    use std::net::{TcpStream, ToSocketAddrs};
    let token = load_token(t.token_file.as_deref())?;
    let addrs = t
        .master
        .to_socket_addrs()
        .map_err(|e| Fail::Job(format!("resolving {}: {e}", t.master)))?;
    let mut last = None;
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONTROL_CONNECT_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = stream.ok_or_else(|| {
        Fail::Job(format!(
            "connecting to {}: {}",
            t.master,
            last.map_or("no address".into(), |e| e.to_string())
        ))
    })?;
    let fail = |e: &dyn std::fmt::Display| Fail::Job(format!("master {}: {e}", t.master));
    stream
        .set_read_timeout(Some(CONTROL_REPLY_TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(CONTROL_REPLY_TIMEOUT)))
        .map_err(|e| fail(&e))?;
    let nonce = auth::fresh_nonce().map_err(|e| fail(&e))?;
    let name = format!("control-{}", std::process::id());
    let mut hs = auth::ClientHandshake::new(token.as_ref(), nonce, auth::Role::Control, &name);
    let hello = wire::Hello {
        version: wire::VERSION,
        name: hs.name().to_owned(),
        cores: 0,
        threads: 0,
        arch: String::new(),
        kernels: 0,
        auth: hs.hello_auth(),
    };
    control_send(&mut stream, &wire::Message::Hello(hello)).map_err(|e| fail(&e))?;
    let challenge = match control_recv(&mut stream).map_err(|e| fail(&e))? {
        wire::Message::Challenge(c) => c,
        other => return Err(fail(&control_unexpected("challenge", &other))),
    };
    let proof = match hs.on_challenge(&challenge) {
        Ok(p) => p,
        Err(e) => {
            let refusal = wire::Message::Error {
                code: wire::ErrorCode::Unauthorized,
                message: e.to_string(),
            };
            let _ = control_send(&mut stream, &refusal);
            return Err(fail(&e));
        }
    };
    control_send(&mut stream, &wire::Message::Proof(proof)).map_err(|e| fail(&e))?;
    match control_recv(&mut stream).map_err(|e| fail(&e))? {
        wire::Message::Welcome(_) => Ok(client::StreamLink::new(stream)),
        other => Err(fail(&control_unexpected("welcome", &other))),
    }
}

/// What a control client says when the master answers the hello or the proof with
/// anything but the expected frame (an Error frame: the master's reason).
fn control_unexpected(want: &str, got: &wire::Message) -> String {
    match got {
        wire::Message::Error { code, message } => format!("refused ({code}): {message}"),
        other => format!("expected {want}, got {}", other.name()),
    }
}

fn control_send(stream: &mut std::net::TcpStream, msg: &wire::Message) -> io::Result<()> {
    let mut buf = Vec::with_capacity(msg.encoded_len());
    wire::encode(msg, &mut buf);
    stream.write_all(&buf)
}

/// One frame of the handshake, within the early cap (a longer one is not the master's
/// challenge or welcome, whatever it is).
fn control_recv(stream: &mut std::net::TcpStream) -> io::Result<wire::Message> {
    use std::io::Read;
    let mut buf = Vec::new();
    loop {
        match wire::decode_within(&buf, wire::MAX_EARLY_FRAME_LEN, "before the welcome") {
            Ok(Some((msg, used))) => {
                if used != buf.len() {
                    // Nothing may follow the welcome before the client's request.
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the master sent more than one frame before the request",
                    ));
                }
                return Ok(msg);
            }
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        }
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the master closed the connection during the handshake",
            ));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

fn control_fail(e: control::ControlError) -> Fail {
    Fail::Job(e.to_string())
}

/// Writes `text` to stdout; a closed stdout is not an error.
fn print_out(text: &str) -> Result<(), Fail> {
    let mut out = io::stdout();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Fail::ClosedPipe),
        Err(e) => Err(Fail::Job(e.to_string())),
    }
}

fn cmd_status(a: StatusArgs) -> Result<(), Fail> {
    let target = control_target(&a.master, a.token_file)?;
    let mut link = control_connect(&target)?;
    let reply = client::status(&mut link).map_err(control_fail)?;
    let text = if a.json {
        control::render::json(&reply)
    } else {
        control::render::table(&reply)
    };
    print_out(&text)
}

fn cmd_threads(a: ThreadsArgs) -> Result<(), Fail> {
    let threads = parse_thread_count(&a.n)?;
    let target = parse_worker_target(a.worker.as_deref())?;
    let master = control_target(&a.master, a.token_file)?;
    let req = SetThreadsRequest { target, threads };
    let mut link = control_connect(&master)?;
    let reply = client::set_threads(&mut link, &req).map_err(control_fail)?;
    print_out(&control::render::threads_reply(&req, &reply))?;
    for w in &reply.warnings {
        eprintln!("primecluster: warning: {}", w.describe(reply.threads));
    }
    if req.target != Target::All && reply.changed.is_empty() && reply.warnings.is_empty() {
        return Err(Fail::Job(format!(
            "{} matched no worker: nothing changed (see `primecluster status`)",
            req.target
        )));
    }
    Ok(())
}

fn cmd_stop(a: StopArgs) -> Result<(), Fail> {
    let target = control_target(&a.master, a.token_file)?;
    let mut link = control_connect(&target)?;
    let reply = client::stop(&mut link).map_err(control_fail)?;
    print_out(&control::render::stop_reply(&reply))
}
