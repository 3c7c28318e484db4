//! What `status` prints: the JSON read back by serde_json (shape, exact big numbers,
//! hostile names escaped and recovered), the table's alignment with no workers, with
//! long names and with names that hold terminal control characters; and the small
//! number formatters.

use primecluster::control::msg::basis_points;
use primecluster::control::msg::*;
use primecluster::control::render::{self, bytes, duration, human, json, table};
use serde_json::Value;

fn row(id: u32, name: &str, state: WorkerState) -> WorkerRow {
    WorkerRow {
        id,
        name: name.into(),
        address: format!("10.0.0.{id}:5000"),
        arch: "x86_64".into(),
        cores: 8,
        threads: 8,
        busy: 7,
        chunks: 1234,
        rate: 123_456_789,
        share_bp: 5000,
        last_heard_ms: 2500,
        state,
    }
}

fn reply(workers: Vec<WorkerRow>) -> StatusReply {
    StatusReply {
        job: JobStatus {
            start: 0,
            stop: u128::MAX,
            format: OutputFormat::Text,
            done: 1 << 100,
            primes: 42,
            rate: 2_000_000_000,
            eta_secs: None,
            bytes_written: 3 << 30,
            buffer_used: 1 << 20,
            buffer_cap: 24 << 20,
            redundancy: 3,
            checkpoint_age_ms: Some(4200),
        },
        workers,
    }
}

const HOSTILE: &[&str] = &[
    "quote\"d",
    "back\\slash",
    "new\nline\r\ttab",
    "\u{1b}[31mred\u{1b}[0m",
    "nul\u{0}bell\u{7}del\u{7f}c1\u{9b}",
    "café-ops ☃ 素数 🚀",
    "sep\u{2028}\u{2029}",
    "",
    "</script>",
];

#[test]
fn json_has_job_and_workers_and_reads_back() {
    let r = reply(vec![
        row(1, "alpha", WorkerState::Active),
        row(2, "beta", WorkerState::Quarantined),
        row(3, "gamma", WorkerState::Lost),
    ]);
    let text = json(&r);
    assert!(text.ends_with("}\n") && !text.trim_end().contains('\n'));
    let v: Value = serde_json::from_str(&text).expect("valid JSON");
    let job = &v["job"];
    // Numbers past 2^53 are strings, exact.
    assert_eq!(job["start"], "0");
    assert_eq!(job["stop"], u128::MAX.to_string());
    assert_eq!(job["done"], (1u128 << 100).to_string());
    assert_eq!(job["format"], "text");
    assert_eq!(job["primes"], 42);
    assert_eq!(job["numbers_per_sec"], 2_000_000_000u64);
    assert_eq!(job["eta_secs"], Value::Null);
    assert_eq!(job["checkpoint_age_ms"], 4200);
    assert_eq!(job["redundancy"], 3);
    assert_eq!(job["buffer_cap"], 24u64 << 20);
    let pct = job["done_percent"].as_f64().unwrap();
    assert!((pct - 100.0 / 2f64.powi(28)).abs() < 1e-12, "{pct}");
    let workers = v["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 3);
    let states: Vec<&str> = workers
        .iter()
        .map(|w| w["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["active", "quarantined", "lost"]);
    for (w, want) in workers.iter().zip(["alpha", "beta", "gamma"]) {
        assert_eq!(w["name"], want);
        assert_eq!(w["threads"], 8);
        assert_eq!(w["share_percent"], 50.0);
        assert_eq!(w["last_heard_ms"], 2500);
    }
}

#[test]
fn json_with_no_workers_is_an_empty_list() {
    let v: Value = serde_json::from_str(&json(&reply(vec![]))).unwrap();
    assert_eq!(v["workers"], Value::Array(vec![]));
    assert!(v["job"].is_object());
}

#[test]
fn json_escapes_hostile_names_and_recovers_them_exactly() {
    let workers = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, n)| WorkerRow {
            address: n.to_string(),
            arch: n.to_string(),
            ..row(i as u32, n, WorkerState::Active)
        })
        .collect();
    let text = json(&reply(workers));
    // No raw control character survives, and neither do the separators.
    assert!(
        !text
            .trim_end()
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
        "{text:?}"
    );
    let v: Value = serde_json::from_str(&text).expect("valid JSON");
    for (w, want) in v["workers"].as_array().unwrap().iter().zip(HOSTILE) {
        assert_eq!(w["name"], *want);
        assert_eq!(w["address"], *want);
        assert_eq!(w["arch"], *want);
    }
    // Non-ASCII stays readable UTF-8 rather than \u escapes.
    assert!(text.contains("café-ops ☃ 素数 🚀"));
}

#[test]
fn json_str_escapes_exactly() {
    let mut out = String::new();
    render::json_str("a\"b\\c\nd\u{1}e\u{7f}", &mut out);
    assert_eq!(out, r#""a\"b\\c\nd\u0001e\u007f""#);
}

#[test]
fn table_with_no_workers() {
    let t = table(&reply(vec![]));
    assert!(t.contains("workers: none connected"), "{t}");
    assert!(t.contains(&format!("0..={}", u128::MAX)), "{t}");
    assert!(t.contains("ETA unknown"), "{t}");
    assert!(t.contains("redundancy 3"), "{t}");
    assert!(t.contains("checkpoint 4s ago"), "{t}");
    assert!(t.contains("reorder buffer 1.0 MiB of 24.0 MiB"), "{t}");
    assert!(t.contains("2.00G numbers/s"), "{t}");
    assert!(!t.contains("NAME"));
}

/// The character column where `needle` starts in `line`.
fn col(line: &str, needle: &str) -> usize {
    let at = line
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} in {line:?}"));
    line[..at].chars().count()
}

#[test]
fn table_columns_align_with_long_and_wide_names() {
    let long = "a-very-long-worker-name-".repeat(10); // 240 bytes
    let t = table(&reply(vec![
        row(1, "pi", WorkerState::Active),
        row(22, &long, WorkerState::Quarantined),
        row(333, "café-☃", WorkerState::Lost),
    ]));
    let lines: Vec<&str> = t.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("ID "))
        .expect("header");
    let rows = &lines[header + 1..];
    assert_eq!(rows.len(), 3, "{t}");
    // The long name is cut to 32 characters, ending in an ellipsis.
    let cut: String = long.chars().take(31).collect::<String>() + "…";
    assert!(rows[1].contains(&cut), "{t}");
    assert!(!t.contains(&long[..40]), "{t}");
    // Every row's address and state start under their headers.
    for r in rows {
        assert_eq!(col(r, "10.0.0."), col(lines[header], "ADDRESS"), "{t}");
        let state = ["active", "quarantined", "lost"]
            .iter()
            .find(|s| r.ends_with(*s))
            .unwrap();
        assert_eq!(col(r, state), col(lines[header], "STATE"), "{t}");
        // Right-aligned numbers end where their header ends.
        assert_eq!(col(r, "1234") + 4, col(lines[header], "CHUNKS") + 6, "{t}");
    }
    assert!(
        rows[0].contains("50.00%") && rows[0].contains("123.46M") && rows[0].contains("2s ago")
    );
}

#[test]
fn table_escapes_control_characters() {
    let t = table(&reply(vec![row(
        1,
        "\u{1b}[2Jevil\nrow",
        WorkerState::Active,
    )]));
    assert!(!t.contains('\u{1b}'), "{t:?}");
    assert!(t.contains("\\u{1b}[2Jevil\\u{a}row"), "{t:?}");
    // One header line and one row: the newline in the name did not add a line.
    let header = t
        .lines()
        .position(|l| l.trim_start().starts_with("ID "))
        .unwrap();
    assert_eq!(t.lines().count(), header + 2, "{t}");
}

#[test]
fn number_formatting() {
    assert_eq!(human(0.0), "0");
    assert_eq!(human(999.0), "999");
    assert_eq!(human(1234.0), "1.23k");
    assert_eq!(human(1.5e18), "1.50E");
    assert_eq!(duration(0), "0s");
    assert_eq!(duration(59), "59s");
    assert_eq!(duration(187), "3m07s");
    assert_eq!(duration(3900), "1h05m");
    assert_eq!(duration(2 * 86_400 + 3 * 3600 + 59), "2d03h");
    assert_eq!(bytes(0), "0 B");
    assert_eq!(bytes(1023), "1023 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(u64::MAX), "16384.0 PiB");
}

#[test]
fn threads_and_stop_lines() {
    let req = SetThreadsRequest {
        target: Target::Name("pi\u{1b}3".into()),
        threads: 8,
    };
    let reply = SetThreadsReply::new(
        8,
        vec![Changed {
            id: 3,
            name: "pi\u{1b}3".into(),
            cores: 4,
            before: 2,
        }],
    );
    let text = render::threads_reply(&req, &reply);
    assert_eq!(text, "worker 3 pi\\u{1b}3: 2 -> 8 threads (4 cores)\n");
    assert_eq!(reply.warnings.len(), 1);
    let w = reply.warnings[0].describe(8);
    assert!(
        w.contains("4 cores") && w.contains("8 threads") && !w.contains('\u{1b}'),
        "{w}"
    );
    let none = SetThreadsReply::new(8, vec![]);
    assert!(render::threads_reply(&req, &none).contains("no connected worker changed"));

    let s = render::stop_reply(&StopReply {
        done: 500,
        primes: 73,
        checkpointed: true,
        workers: 2,
    });
    assert!(
        s.contains("500 numbers") && s.contains("73 primes") && s.contains("--resume"),
        "{s}"
    );
    let s = render::stop_reply(&StopReply {
        done: 5,
        primes: 2,
        checkpointed: false,
        workers: 0,
    });
    assert!(s.contains("cannot be resumed"), "{s}");
}

#[test]
fn eta_and_share_helpers() {
    let mut j = reply(vec![]).job;
    j.start = 1;
    j.stop = 1000;
    j.done = 400;
    assert_eq!(j.eta_at(0), None);
    assert_eq!(j.eta_at(600), Some(1));
    assert_eq!(j.eta_at(599), Some(2), "rounded up");
    assert_eq!(j.eta_at(1), Some(600));
    j.done = 1000;
    assert_eq!(j.eta_at(0), Some(0), "nothing left");
    // The full u128 range (2^128 numbers) with one number a second.
    j.start = 0;
    j.stop = u128::MAX;
    j.done = 0;
    assert_eq!(j.eta_at(1), Some(u64::MAX));
    assert_eq!(j.fraction(), 0.0);

    assert_eq!(basis_points(0, 0), 0);
    assert_eq!(basis_points(1, 3), 3333);
    assert_eq!(basis_points(2, 3), 6666);
    assert_eq!(basis_points(5, 5), 10_000);
    assert_eq!(basis_points(7, 5), 10_000, "clamped");
    // Rounded down: (2^127 - 1) / (2^128 - 1) is just below one half.
    assert_eq!(basis_points(u128::MAX / 2, u128::MAX), 4999);
    assert_eq!(basis_points(u128::MAX / 2 + 1, u128::MAX), 5000);
    assert_eq!(basis_points(1 << 100, 1 << 101), 5000);
    assert_eq!(basis_points(u128::MAX, u128::MAX), 10_000);
    assert_eq!(basis_points(1, u128::MAX), 0);
}
