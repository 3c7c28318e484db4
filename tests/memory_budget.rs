//! A process at `--memory MIB` stays within it: `primes --count` and `primes` listing
//! at 1e17 on a small budget (windows in two tiers), their peak resident memory read
//! with getrusage after each child exits, and their answers checked against the
//! library's sieve at the default budget. One test in its own binary, so that no other
//! test's children count in RUSAGE_CHILDREN.

use primecluster::kernel::sieve::Sieve;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Peak resident set of the largest child waited for so far, in bytes.
fn children_peak_rss() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    usage.ru_maxrss as u64 * 1024 // kilobytes on Linux
}

/// Runs `primecluster primes ARGS` to its end (within a minute) and returns stdout.
fn primes(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_primecluster"))
        .arg("primes")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn primecluster");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).expect("read stdout");
        s
    });
    let began = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "primes {args:?}: {status}");
            break;
        }
        if began.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("primes {args:?} took over 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    reader.join().expect("reader")
}

#[test]
fn primes_stays_within_its_memory_budget() {
    if std::env::var_os("PRIMECLUSTER_TEST_EMULATED").is_some() {
        return; // the 1e17 table and windows are slow under qemu; native CI runs this
    }
    let (start, stop) = (100_000_000_000_000_000u64, 100_000_000_300_000_000u64);
    // The reference is counted after the children ran: a child forked from this
    // process while it held the sieve would count its pages in ru_maxrss.
    let (a, b) = (start.to_string(), stop.to_string());
    let mib = 40u64;
    let budget = mib << 20;
    let count = primes(&["--count", "--memory", &mib.to_string(), &a, &b]);
    let after_count = children_peak_rss();
    assert!(
        after_count < budget,
        "primes --count at --memory {mib} peaked at {after_count} bytes"
    );
    let listed = primes(&["--memory", &mib.to_string(), &a, &b]);
    let after_list = children_peak_rss();
    let want = Sieve::new().count(start, stop);
    assert_eq!(count.trim(), want.to_string(), "count");
    assert_eq!(listed.lines().count() as u64, want, "listed");
    let first: u64 = listed.lines().next().unwrap().parse().unwrap();
    assert!(first >= start);
    assert!(
        after_list < budget,
        "primes at --memory {mib} peaked at {after_list} bytes"
    );
    println!("peak RSS: count {after_count} B, listing {after_list} B, budget {budget} B");
}
