//! The `primecluster` command line: raw arguments -> validated configuration -> run.
//!
//! Nothing past this file sees an unparsed string. Bad input exits with status 2 and
//! one line naming the argument; a failed job exits 1; a closed stdout (`| head`) is
//! not an error.

use argh::FromArgs;
use primecluster::gaps::GapEncoder;
use primecluster::kernel::{Kernel, KernelKind, Memory};
use primecluster::master::{self, MasterConfig, Output, Summary};
use primecluster::output::{Format, JobSpec, OutputError, OutputWriter};
use primecluster::worker::{self, WorkerConfig};
use primecluster::{bench, numarg};
use std::io::{self, Write};
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
            /// kernel: auto, sieve or trial (trial division: slow, the baseline)
            kernel: String,
            #[argh(switch)]
            /// overwrite an existing output file
            force: bool,
            #[argh(switch)]
            /// continue an interrupted job from the checkpoint beside --out
            resume: bool,
            #[argh(option, default = "10.0")]
            /// seconds between checkpoints of the output file (default 10)
            checkpoint: f64,
            #[argh(option, default = "24")]
            /// mebibytes of results that may wait for their turn in memory (default 24)
            max_buffer: u64,
            #[argh(option, default = "2000")]
            /// milliseconds between worker heartbeats; 5 missed drop a worker (default 2000)
            heartbeat_ms: u32,
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
                    checkpoint: self.checkpoint,
                    max_buffer: self.max_buffer,
                    heartbeat_ms: self.heartbeat_ms,
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
        /// local worker threads (default: all cores)
        threads: Option<u32>,
        #[argh(option)]
        /// memory budget in MiB for the local worker's threads (default: from RAM and threads)
        memory: Option<u64>,
        #[argh(option)]
        /// also accept workers from other machines on ADDR (e.g. 0.0.0.0:7878)
        listen: Option<String>,
    }
}

job_args! {
    #[derive(FromArgs)]
    /// Run the master: hand out ranges to workers that connect, write the primes in order.
    #[argh(subcommand, name = "master")]
    struct MasterArgs {
        #[argh(option)]
        /// address to listen on for workers, e.g. 0.0.0.0:7878 or 127.0.0.1:0
        listen: String,
        #[argh(option)]
        /// threads every worker should run (default: each worker's own choice)
        worker_threads: Option<u32>,
    }
}

/// Options shared by `run` and `master`, once parsed.
struct JobOpts {
    format: String,
    kernel: String,
    force: bool,
    resume: bool,
    checkpoint: f64,
    max_buffer: u64,
    heartbeat_ms: u32,
    quiet: bool,
}

#[derive(FromArgs)]
/// Run a worker: compute ranges for the master at HOST:PORT until the job is done.
#[argh(subcommand, name = "worker")]
struct WorkerArgs {
    #[argh(positional)]
    /// the master, HOST:PORT
    master: String,
    #[argh(option)]
    /// compute threads (default: all cores)
    threads: Option<u32>,
    #[argh(option)]
    /// memory budget in MiB for all compute threads (default: from RAM and threads)
    memory: Option<u64>,
    #[argh(option)]
    /// name in the master's logs (default: host name)
    name: Option<String>,
    #[argh(switch)]
    /// exit instead of retrying when the master cannot be reached or is lost
    once: bool,
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
    /// kernel: auto, sieve or trial (trial division: slow, the baseline)
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
/// Check that FILE holds exactly the primes of its range, in order, by recomputing them.
#[argh(subcommand, name = "verify")]
struct VerifyArgs {
    #[argh(positional)]
    /// the output file (text or compact)
    file: PathBuf,
    /// START STOP for a text file (a compact file records its range)
    #[argh(positional)]
    range: Vec<String>,
    #[argh(option, default = "String::from(\"auto\")")]
    /// kernel to recompute with: auto, sieve or trial
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

/// How the program ends.
enum Fail {
    /// Bad input: status 2.
    Usage(String),
    /// The job failed: status 1.
    Job(String),
    /// stdout was closed by its reader: not an error.
    ClosedPipe,
}

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
                    eprintln!("{}", early.output.trim_end());
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
    };
    match result {
        Ok(()) | Err(Fail::ClosedPipe) => ExitCode::SUCCESS,
        Err(Fail::Usage(msg)) => {
            eprintln!("primecluster: {msg}");
            ExitCode::from(2)
        }
        Err(Fail::Job(msg)) => {
            eprintln!("primecluster: {msg}");
            ExitCode::from(1)
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
        Some(0) => Err(Fail::Usage(format!("{flag}: 0 threads; give at least 1"))),
        Some(n) if n > worker::MAX_THREADS => Err(Fail::Usage(format!(
            "{flag}: {n} threads is more than {}",
            worker::MAX_THREADS
        ))),
        other => Ok(other),
    }
}

/// The validated job of `run` and `master`.
struct Job {
    start: u128,
    stop: u128,
    kernel: KernelKind,
    count: bool,
    out: Option<PathBuf>,
    format: Format,
    opts: JobOpts,
}

fn job(range: &[String], count: bool, out: Option<PathBuf>, opts: JobOpts) -> Result<Job, Fail> {
    let (start, stop) = parse_range(range)?;
    let kernel = parse_kernel(&opts.kernel)?;
    let format: Format = opts
        .format
        .parse()
        .map_err(|e| Fail::Usage(format!("--format: {e}")))?;
    if !(opts.checkpoint.is_finite() && opts.checkpoint > 0.0) {
        return Err(Fail::Usage(format!(
            "--checkpoint: {} is not a positive number of seconds",
            opts.checkpoint
        )));
    }
    if opts.max_buffer == 0 {
        return Err(Fail::Usage(
            "--max-buffer: 0 MiB leaves no room for a single result".into(),
        ));
    }
    if opts.heartbeat_ms < 100 {
        return Err(Fail::Usage(format!(
            "--heartbeat-ms: {} is below 100",
            opts.heartbeat_ms
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
        opts,
    })
}

/// Opens the output of a job; returns it and the first number still to compute.
fn open_output(job: &Job) -> Result<(Output, u128), Fail> {
    if job.count {
        return Ok((Output::Count, job.start));
    }
    let spec = JobSpec {
        start: job.start,
        stop: job.stop,
        format: job.format,
        kernel: job.kernel.name().to_string(),
    };
    match &job.out {
        Some(path) if job.opts.resume => {
            let (w, next) = OutputWriter::resume(path, &spec)?;
            if next > job.start {
                eprintln!("primecluster: resuming {} at {next}", path.display());
            }
            Ok((Output::Primes(Box::new(w)), next))
        }
        Some(path) => Ok((
            Output::Primes(Box::new(OutputWriter::create(path, &spec, job.opts.force)?)),
            job.start,
        )),
        None => {
            let out = Box::new(io::stdout());
            Ok((
                Output::Primes(Box::new(OutputWriter::to_stream(out, &spec))),
                job.start,
            ))
        }
    }
}

fn master_config(job: &Job, start: u128, worker_threads: Option<u32>) -> MasterConfig {
    MasterConfig {
        start,
        stop: job.stop,
        kernel: job.kernel,
        heartbeat: Duration::from_millis(job.opts.heartbeat_ms as u64),
        checkpoint: Duration::from_secs_f64(job.opts.checkpoint),
        max_buffer_bytes: job.opts.max_buffer << 20,
        worker_threads,
        quiet: job.opts.quiet,
    }
}

fn bind(addr: &str) -> Result<std::net::TcpListener, Fail> {
    std::net::TcpListener::bind(addr).map_err(|e| Fail::Usage(format!("--listen {addr}: {e}")))
}

fn cmd_master(a: MasterArgs) -> Result<(), Fail> {
    let worker_threads = parse_threads("--worker-threads", a.worker_threads)?;
    let job = job(&a.range, a.count, a.out.clone(), a.job_opts())?;
    let (output, start) = open_output(&job)?;
    let listener = bind(&a.listen)?;
    if let Ok(addr) = listener.local_addr() {
        // Tests and scripts read the port from here when listening on port 0.
        eprintln!("primecluster: master listening on {addr}");
    }
    let cfg = master_config(&job, start, worker_threads);
    let summary = master::run(cfg, output, listener).map_err(|e| Fail::Job(e.to_string()))?;
    report(&job, &summary)
}

fn cmd_run(a: RunArgs) -> Result<(), Fail> {
    let threads = parse_threads("--threads", a.threads)?;
    let job = job(&a.range, a.count, a.out.clone(), a.job_opts())?;
    let (output, start) = open_output(&job)?;
    let listener = bind(a.listen.as_deref().unwrap_or("127.0.0.1:0"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Fail::Job(format!("listening socket: {e}")))?;
    let local = WorkerConfig {
        master: format!("127.0.0.1:{}", addr.port()),
        threads: Some(threads.unwrap_or_else(worker::cores)),
        name: "local".into(),
        once: true,
        memory: parse_memory(a.memory)?,
    };
    let local_worker = thread::spawn(move || worker::run(&local));
    let cfg = master_config(&job, start, None);
    let summary = master::run(cfg, output, listener).map_err(|e| Fail::Job(e.to_string()));
    if let Ok(Err(e)) = local_worker.join() {
        log::debug!("local worker: {e}");
    }
    report(&job, &summary?)
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
            share.name,
            share.numbers as f64 * 100.0 / total as f64,
            share.chunks
        );
    }
    Ok(())
}

fn cmd_worker(a: WorkerArgs) -> Result<(), Fail> {
    let threads = parse_threads("--threads", a.threads)?;
    if a.master.parse::<std::net::SocketAddr>().is_err() && !a.master.contains(':') {
        return Err(Fail::Usage(format!(
            "master address '{}' is not HOST:PORT",
            a.master
        )));
    }
    let cfg = WorkerConfig {
        master: a.master,
        threads,
        name: a.name.unwrap_or_else(host_name),
        once: a.once,
        memory: parse_memory(a.memory)?,
    };
    worker::run(&cfg).map_err(|e| Fail::Job(e.to_string()))
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // or truncates, and we stop at the first NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "worker".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Slices a `primes` run computes at a time, per thread.
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
            Some(w) => w.append(s, e, gaps).map_err(Fail::from),
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
    mut sink: impl FnMut(u128, u128, u64, &[u8]) -> Result<(), Fail>,
) -> Result<(), Fail> {
    let n = memory.threads as u128;
    let slice_of = move |i: u128| -> Option<(u128, u128)> {
        let s = start.checked_add(i.checked_mul(SLICE)?)?;
        (s <= stop).then(|| (s, s.saturating_add(SLICE - 1).min(stop)))
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
            sink(s, e, count, &gaps)?;
            i += 1;
        }
        drop(rxs);
        log::debug!("primes: {:.3} s", began.elapsed().as_secs_f64());
        Ok(())
    })
}

fn cmd_decode(a: DecodeArgs) -> Result<(), Fail> {
    let result = match &a.out {
        Some(path) => {
            if path.exists() {
                return Err(Fail::Usage(format!(
                    "{} exists: choose another --out or remove it",
                    path.display()
                )));
            }
            let file = std::fs::File::create(path)
                .map_err(|e| Fail::Job(format!("creating {}: {e}", path.display())))?;
            let mut w = io::BufWriter::with_capacity(1 << 20, file);
            primecluster::output::decode(&a.file, &mut w).and_then(|n| {
                w.flush().map_err(|e| OutputError::Io {
                    op: "writing".into(),
                    path: path.clone(),
                    source: e,
                })?;
                Ok(n)
            })
        }
        None => {
            let mut out = io::stdout().lock();
            primecluster::output::decode(&a.file, &mut out)
        }
    };
    result.map(|_| ()).map_err(Fail::from)
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
