//! The command line as a user meets it: exit statuses, one-line errors naming the bad
//! argument, a closed stdout, known values of pi(x), edges of the number range.

mod common;
mod reference;

use common::*;
use std::io::Read;
use std::process::{Command, Stdio};

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run primecluster");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bad_input_exits_2_naming_the_argument() {
    let cases: &[(&[&str], &str)] = &[
        (&["primes", "1e9.5"], "1e9.5"),
        (&["primes", "10", "5"], "START 10"),
        (&["primes", "2^128"], "2^128"),
        (
            &["primes", "0", "340282366920938463463374607431768211456"],
            "340282366920938463463374607431768211456",
        ),
        (&["primes", "abc"], "abc"),
        (&["primes", "5", "--kernel", "foo"], "foo"),
        (&["primes"], "STOP"),
        (&["primes", "1", "2", "3"], "3 numbers"),
        (&["primes", "100", "--threads", "0"], "--threads"),
        (&["run", "100", "--threads", "5000"], "1024"),
        (&["run", "100", "--format", "xml"], "xml"),
        (&["run", "100", "--resume"], "--resume"),
        (&["run", "100", "--checkpoint", "-1"], "--checkpoint"),
        (&["master", "100"], "--listen"),
        (
            &["master", "100", "--listen", "not-an-address"],
            "not-an-address",
        ),
        (&["primes", "100", "--bogus"], "--bogus"),
        (&["worker", "nowhere"], "nowhere"),
    ];
    for (args, needle) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: stderr {err}");
        assert!(out.is_empty(), "{args:?} printed to stdout: {out}");
        assert!(
            err.contains(needle),
            "{args:?}: '{needle}' not named in: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn help_explains_itself() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    for word in [
        "run", "master", "worker", "primes", "decode", "verify", "bench", "BPSW", "2^64+1e6",
    ] {
        assert!(out.contains(word), "--help lacks {word}: {out}");
    }
    let (code, out, _) = run(&["primes", "--help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("--kernel") && out.contains("--count"), "{out}");
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let mut child = Command::new(BIN)
        .args(["primes", "1e10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let st = child.wait().unwrap();
    assert!(st.success(), "status {st:?}, stderr {err}");
    assert!(err.is_empty(), "{err}");
    assert!(first.starts_with(b"2\n3\n5\n7\n11\n"));
}

#[test]
fn pi_of_powers_of_ten() {
    // OEIS A006880.
    let pi = [
        4u64, 25, 168, 1229, 9592, 78498, 664579, 5761455, 50847534, 455052511,
    ];
    for (i, &want) in pi.iter().enumerate() {
        let stop = format!("10^{}", i + 1);
        let (code, out, err) = run(&["primes", &stop, "--count"]);
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(out, format!("{want}\n"), "pi({stop})");
    }
    let (_, out, _) = run(&["run", "1e9", "--count", "--quiet"]);
    assert_eq!(out, "50847534\n");
}

#[test]
fn edge_ranges_match_trial_division() {
    for (a, b) in [
        (0u128, 0u128),
        (0, 1),
        (0, 2),
        (2, 2),
        (3, 3),
        (4, 4),
        (0, 1000),
        (1 << 32, (1 << 32) + 500),
    ] {
        let (sa, sb) = (a.to_string(), b.to_string());
        let (code, out, _) = run(&["primes", &sa, &sb]);
        assert_eq!(code, Some(0));
        assert_eq!(out.as_bytes(), naive_text(a, b).as_slice(), "{a}..={b}");
    }
    // Straddling 2^64: 2^64-59 is the largest prime below it, 2^64+13 and 2^64+37
    // the first above (primes.utm.edu's tables); trial division here would take
    // minutes per prime.
    let (_, out, _) = run(&["primes", "2^64-60", "2^64+40"]);
    assert_eq!(
        out,
        "18446744073709551557\n18446744073709551629\n18446744073709551653\n"
    );
    let (_, out, _) = run(&["primes", "2^64-59", "2^64-59"]);
    assert_eq!(
        out, "18446744073709551557\n",
        "the largest prime below 2^64"
    );
    // The top of u128: 2^128-159 is the largest prime below 2^128.
    let (code, out, _) = run(&["primes", "2^128-200", "2^128-1"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out.lines().last(),
        Some("340282366920938463463374607431768211297")
    );
    let (_, out, _) = run(&["primes", "2^128-158", "2^128-1"]);
    assert_eq!(out, "");
    let (_, out, _) = run(&["primes", "2^128-1", "2^128-1", "--count"]);
    assert_eq!(out, "0\n");
}

#[test]
fn threads_and_kernels_agree() {
    let one = run(&["primes", "1e9", "1e9+6e7"]).1;
    let three = run(&["primes", "1e9", "1e9+6e7", "--threads", "3"]).1;
    assert_eq!(one.len(), three.len());
    assert!(one == three, "--threads 3 differs from one thread");
    let (_, trial, err) = run(&["primes", "1e12", "1e12+20000", "--kernel", "trial"]);
    assert!(err.contains("warning") && err.contains("2^70"), "{err}");
    assert_eq!(
        trial,
        run(&["primes", "1e12", "1e12+20000", "--kernel", "sieve"]).1
    );
    let (_, count, _) = run(&[
        "run",
        "1e12",
        "1e12+1e8",
        "--count",
        "--quiet",
        "--threads",
        "2",
    ]);
    let (_, count1, _) = run(&["primes", "1e12", "1e12+1e8", "--count"]);
    assert_eq!(count, count1);
}

#[test]
fn decode_and_verify_from_the_command_line() {
    let dir = scratch("cli-decode");
    let pcc = dir.join("p.pcc");
    let txt = dir.join("p.txt");
    let (pccs, txts) = (pcc.to_str().unwrap(), txt.to_str().unwrap());
    assert_eq!(
        run(&["run", "1e6", "2e6", "--format", "compact", "--out", pccs, "--quiet"]).0,
        Some(0)
    );
    assert_eq!(
        run(&["run", "1e6", "2e6", "--out", txts, "--quiet"]).0,
        Some(0)
    );
    assert_eq!(run(&["decode", pccs]).1.as_bytes(), read(&txt).as_slice());
    assert_eq!(run(&["verify", pccs]).0, Some(0));
    assert_eq!(run(&["verify", txts, "1e6", "2e6"]).0, Some(0));
    // One changed digit is reported with its line.
    let mut bytes = read(&txt);
    let at = bytes.iter().position(|&b| b == b'\n').unwrap() + 3;
    bytes[at] = if bytes[at] == b'9' {
        b'8'
    } else {
        bytes[at] + 1
    };
    std::fs::write(&txt, bytes).unwrap();
    let (code, out, err) = run(&["verify", txts, "1e6", "2e6"]);
    assert_eq!(code, Some(1), "{out} {err}");
    assert!(out.contains("line 2"), "{out}");
}

/// Every numeric option of `run` and `master` is bounded (issue 7, defect 9): out of
/// range, or not a number, exits 2 with one line naming the option, the value given
/// and the allowed range; argh's own errors are one prefixed line too (defect 19).
#[test]
fn numeric_options_are_bounded_and_errors_are_one_line() {
    let listen = ["--listen", "127.0.0.1:0"];
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["run", "100", "--checkpoint", "1e19"],
            &["--checkpoint", "1e19", "86400"],
        ),
        (
            &["run", "100", "--checkpoint", "1e300"],
            &["--checkpoint", "1e300"],
        ),
        (
            &["run", "100", "--checkpoint", "1e-300"],
            &["--checkpoint", "1e-300", "0.01"],
        ),
        (
            &["run", "100", "--checkpoint", "nan"],
            &["--checkpoint", "nan"],
        ),
        (
            &["run", "100", "--max-buffer", "2^50"],
            &["--max-buffer", "2^50", "4096"],
        ),
        (&["run", "100", "--max-buffer", "0"], &["--max-buffer", "0"]),
        (
            &["run", "100", "--heartbeat-ms", "99"],
            &["--heartbeat-ms", "99", "100"],
        ),
        (
            &["run", "100", "--heartbeat-ms", "1e10"],
            &["--heartbeat-ms", "1e10"],
        ),
        (
            &["run", "100", "--threads", "1e10"],
            &["--threads", "1e10", "1024"],
        ),
        (
            &[
                "master",
                "100",
                listen[0],
                listen[1],
                "--worker-threads",
                "0",
            ],
            &["--worker-threads", "0"],
        ),
        (
            &[
                "master",
                "100",
                listen[0],
                listen[1],
                "--worker-threads",
                "2000",
            ],
            &["--worker-threads", "2000", "1024"],
        ),
        (
            &[
                "master",
                "100",
                listen[0],
                listen[1],
                "--max-connections",
                "0",
            ],
            &["--max-connections", "0"],
        ),
        (&["primes", "100", "--bogus"], &["--bogus"]),
        (&["run", "100", "--threads"], &["--threads"]),
    ];
    for (args, needles) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: stderr {err}");
        assert!(out.is_empty(), "{args:?} printed to stdout: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(err.starts_with("primecluster: "), "{args:?}: {err}");
        for needle in *needles {
            assert!(
                err.contains(needle),
                "{args:?}: '{needle}' not named in: {err}"
            );
        }
    }
}
