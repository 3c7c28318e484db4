//! The control payloads byte by byte: golden bytes (the same hex as the examples in
//! `docs/PROTOCOL.md` section 12, which this test reads so the document cannot drift), every
//! truncation, trailing bytes, each out-of-range field named, oversized counts and
//! strings refused, and seeded random bytes into every parser (no panic; whatever is
//! accepted re-emits identically).

use primecluster::control::msg::*;
use primecluster::control::{ControlError, MAX_ROWS, MAX_STR_LEN};

mod reference;
use reference::Rng;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn sample_status() -> StatusReply {
    StatusReply {
        job: JobStatus {
            start: 1000,
            stop: 2000,
            format: OutputFormat::Compact,
            done: 500,
            primes: 73,
            rate: 250,
            eta_secs: Some(2),
            bytes_written: 80,
            buffer_used: 16,
            buffer_cap: 24 << 20,
            redundancy: 2,
            checkpoint_age_ms: None,
        },
        workers: vec![WorkerRow {
            id: 3,
            name: "pi3".into(),
            address: "10.0.0.7:5000".into(),
            arch: "armv7".into(),
            cores: 4,
            threads: 4,
            busy: 3,
            chunks: 12,
            rate: 250,
            share_bp: 10_000,
            last_heard_ms: 1500,
            state: WorkerState::Active,
        }],
    }
}

fn sample_threads_req() -> SetThreadsRequest {
    SetThreadsRequest {
        target: Target::Name("pi3".into()),
        threads: 8,
    }
}

fn sample_threads_reply() -> SetThreadsReply {
    SetThreadsReply::new(
        8,
        vec![Changed {
            id: 3,
            name: "pi3".into(),
            cores: 4,
            before: 4,
        }],
    )
}

fn sample_stop() -> StopReply {
    StopReply {
        done: 500,
        primes: 73,
        checkpointed: true,
        workers: 1,
    }
}

/// Field by field, as the tables of docs/PROTOCOL.md list them.
const STATUS_REPLY_HEX: &str = "\
    000000000000000000000000000003e8 000000000000000000000000000007d0 01 \
    000000000000000000000000000001f4 0000000000000049 00000000000000fa 01 0000000000000002 \
    0000000000000050 0000000000000010 0000000001800000 02 00 \
    0001 \
    00000003 0003 706933 000d 31302e302e302e373a35303030 0005 61726d7637 \
    00000004 00000004 00000003 000000000000000c 00000000000000fa 2710 00000000000005dc 00";
const THREADS_REQ_HEX: &str = "01 0003 706933 00000008";
const THREADS_REPLY_HEX: &str = "00000008 0001 00000003 0003 706933 00000004 00000004 \
    0001 00 00000003 0003 706933 00000004";
const STOP_REPLY_HEX: &str = "000000000000000000000000000001f4 0000000000000049 01 00000001";

fn emit_with(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    f(&mut v);
    v
}

#[test]
fn golden_bytes() {
    assert_eq!(
        hex(&emit_with(|o| sample_status().emit(o))),
        hex(&unhex(STATUS_REPLY_HEX))
    );
    assert_eq!(
        hex(&emit_with(|o| sample_threads_req().emit(o))),
        hex(&unhex(THREADS_REQ_HEX))
    );
    assert_eq!(
        hex(&emit_with(|o| sample_threads_reply().emit(o))),
        hex(&unhex(THREADS_REPLY_HEX))
    );
    assert_eq!(
        hex(&emit_with(|o| sample_stop().emit(o))),
        hex(&unhex(STOP_REPLY_HEX))
    );
    assert!(emit_with(|o| StatusRequest.emit(o)).is_empty());
    assert!(emit_with(|o| StopRequest.emit(o)).is_empty());
    let all = SetThreadsRequest {
        target: Target::All,
        threads: 1024,
    };
    assert_eq!(hex(&emit_with(|o| all.emit(o))), "0000000400");
    let id = SetThreadsRequest {
        target: Target::Id(7),
        threads: 1,
    };
    assert_eq!(hex(&emit_with(|o| id.emit(o))), "020000000700000001");
}

#[test]
fn golden_bytes_parse_back() {
    assert_eq!(
        StatusReply::parse(&unhex(STATUS_REPLY_HEX)).unwrap(),
        sample_status()
    );
    assert_eq!(
        SetThreadsRequest::parse(&unhex(THREADS_REQ_HEX)).unwrap(),
        sample_threads_req()
    );
    assert_eq!(
        SetThreadsReply::parse(&unhex(THREADS_REPLY_HEX)).unwrap(),
        sample_threads_reply()
    );
    assert_eq!(
        StopReply::parse(&unhex(STOP_REPLY_HEX)).unwrap(),
        sample_stop()
    );
    assert_eq!(StatusRequest::parse(&[]).unwrap(), StatusRequest);
    assert_eq!(StopRequest::parse(&[]).unwrap(), StopRequest);
}

/// docs/PROTOCOL.md shows these payloads as `name = hex` lines; they must be these bytes.
#[test]
fn document_examples_match() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md"))
        .expect("docs/PROTOCOL.md");
    let example = |name: &str| -> String {
        let prefix = format!("{name} = ");
        let line = doc
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("docs/PROTOCOL.md has no line `{name} = ...`"));
        line[prefix.len()..].trim().to_string()
    };
    assert_eq!(example("status_reply"), hex(&unhex(STATUS_REPLY_HEX)));
    assert_eq!(example("set_threads_request"), hex(&unhex(THREADS_REQ_HEX)));
    assert_eq!(example("set_threads_reply"), hex(&unhex(THREADS_REPLY_HEX)));
    assert_eq!(example("stop_reply"), hex(&unhex(STOP_REPLY_HEX)));
    // The frames around them, with their CRCs.
    for (name, ty, payload) in [
        ("status_request_frame", 0x30, Vec::new()),
        ("status_reply_frame", 0x31, unhex(STATUS_REPLY_HEX)),
        ("set_threads_request_frame", 0x32, unhex(THREADS_REQ_HEX)),
        ("stop_request_frame", 0x34, Vec::new()),
        ("stop_reply_frame", 0x35, unhex(STOP_REPLY_HEX)),
    ] {
        let mut f = Vec::new();
        primecluster::control::client::frame(ty, &payload, &mut f);
        assert_eq!(example(name), hex(&f), "{name}");
    }
}

type Parser = fn(&[u8]) -> Result<Vec<u8>, ControlError>;

/// Each parser, returning the re-emitted payload of what it accepted.
fn parsers() -> Vec<(&'static str, Parser, Vec<u8>)> {
    vec![
        (
            "status request",
            |b| StatusRequest::parse(b).map(|m| emit_with(|o| m.emit(o))),
            vec![],
        ),
        (
            "status reply",
            |b| StatusReply::parse(b).map(|m| emit_with(|o| m.emit(o))),
            unhex(STATUS_REPLY_HEX),
        ),
        (
            "set-threads request",
            |b| SetThreadsRequest::parse(b).map(|m| emit_with(|o| m.emit(o))),
            unhex(THREADS_REQ_HEX),
        ),
        (
            "set-threads reply",
            |b| SetThreadsReply::parse(b).map(|m| emit_with(|o| m.emit(o))),
            unhex(THREADS_REPLY_HEX),
        ),
        (
            "stop request",
            |b| StopRequest::parse(b).map(|m| emit_with(|o| m.emit(o))),
            vec![],
        ),
        (
            "stop reply",
            |b| StopReply::parse(b).map(|m| emit_with(|o| m.emit(o))),
            unhex(STOP_REPLY_HEX),
        ),
        (
            "error",
            |b| ErrorReply::parse(b).map(|m| emit_with(|o| m.emit(o))),
            unhex("05 0004 6f6f7073"),
        ),
    ]
}

#[test]
fn every_truncation_is_refused_naming_the_field() {
    for (name, parse, good) in parsers() {
        assert_eq!(parse(&good).unwrap(), good, "{name}");
        for cut in 0..good.len() {
            match parse(&good[..cut]) {
                Err(e @ ControlError::Truncated { msg, .. }) => {
                    assert_eq!(msg, name);
                    assert!(e.to_string().contains("field `"), "{e}");
                }
                other => panic!("{name} cut at {cut}: {other:?}"),
            }
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    for (name, parse, mut good) in parsers() {
        good.push(0);
        match parse(&good) {
            Err(ControlError::TrailingBytes { msg, extra: 1 }) => assert_eq!(msg, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// `good` with `bytes` written at `at`.
fn patched(good: &str, at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut v = unhex(good);
    v[at..at + bytes.len()].copy_from_slice(bytes);
    v
}

fn invalid_field(r: Result<impl std::fmt::Debug, ControlError>) -> (&'static str, u128) {
    match r {
        Err(e @ ControlError::InvalidValue { field, value, .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(field) && text.contains(&value.to_string()),
                "{text}"
            );
            (field, value)
        }
        other => panic!("expected an invalid value, got {other:?}"),
    }
}

#[test]
fn out_of_range_fields_are_named() {
    // Offsets in the status reply: start 0, stop 16, format 32, done 33, primes 49,
    // rate 57, eta 65 (tag) .. 74, bytes 74, used 82, cap 90, redundancy 98, checkpoint 99,
    // count 100, row from 102: id 102, name 106.., address 111.., arch 126.., cores 133,
    // threads 137, busy 141, chunks 145, rate 153, share 161, heard 163, state 171.
    let s = STATUS_REPLY_HEX;
    assert_eq!(
        invalid_field(StatusReply::parse(&patched(s, 32, &[3]))),
        ("format", 3)
    );
    assert_eq!(
        invalid_field(StatusReply::parse(&patched(s, 33, &1002u128.to_be_bytes()))),
        ("done", 1002)
    );
    assert_eq!(
        invalid_field(StatusReply::parse(&patched(s, 65, &[2]))),
        ("eta_secs", 2)
    );
    assert_eq!(
        invalid_field(StatusReply::parse(&patched(s, 98, &[0]))),
        ("redundancy", 0)
    );
    assert_eq!(
        invalid_field(StatusReply::parse(&patched(s, 98, &[6]))),
        ("redundancy", 6)
    );
    assert_eq!(
        invalid_field(StatusReply::parse(&patched(
            s,
            161,
            &10_001u16.to_be_bytes()
        ))),
        ("share_bp", 10_001)
    );
    assert_eq!(
        invalid_field(StatusReply::parse(&patched(s, 171, &[3]))),
        ("state", 3)
    );
    match StatusReply::parse(&patched(s, 16, &999u128.to_be_bytes())) {
        Err(
            e @ ControlError::StartAfterStop {
                start: 1000,
                stop: 999,
            },
        ) => {
            assert!(e.to_string().contains("1000") && e.to_string().contains("999"))
        }
        other => panic!("{other:?}"),
    }
    // A done of exactly stop - start + 1 (the whole range) is fine.
    assert!(StatusReply::parse(&patched(s, 33, &1001u128.to_be_bytes())).is_ok());

    let t = THREADS_REQ_HEX;
    assert_eq!(
        invalid_field(SetThreadsRequest::parse(&patched(t, 0, &[3]))),
        ("target", 3)
    );
    assert_eq!(
        invalid_field(SetThreadsRequest::parse(&patched(
            t,
            6,
            &0u32.to_be_bytes()
        ))),
        ("threads", 0)
    );
    assert_eq!(
        invalid_field(SetThreadsRequest::parse(&patched(
            t,
            6,
            &1025u32.to_be_bytes()
        ))),
        ("threads", 1025)
    );
    assert_eq!(
        invalid_field(SetThreadsRequest::parse(&unhex("01 0000 00000004"))),
        ("name", 0)
    );
    assert_eq!(
        invalid_field(SetThreadsReply::parse(&patched(
            THREADS_REPLY_HEX,
            25,
            &[2]
        ))),
        ("warning", 2)
    );
    assert_eq!(
        invalid_field(StopReply::parse(&patched(STOP_REPLY_HEX, 24, &[2]))),
        ("checkpointed", 2)
    );
}

#[test]
fn oversized_counts_and_strings_are_refused() {
    let s = unhex(STATUS_REPLY_HEX);
    // A count past the cap.
    let mut v = s[..100].to_vec();
    v.extend_from_slice(&((MAX_ROWS + 1) as u16).to_be_bytes());
    match StatusReply::parse(&v) {
        Err(ControlError::TooMany {
            field: "workers",
            count,
            max,
            ..
        }) => assert_eq!((count, max), (MAX_ROWS + 1, MAX_ROWS)),
        other => panic!("{other:?}"),
    }
    // A count within the cap that the bytes left cannot hold: refused before reserving.
    let mut v = s[..100].to_vec();
    v.extend_from_slice(&(MAX_ROWS as u16).to_be_bytes());
    v.extend_from_slice(&[0; 100]);
    match StatusReply::parse(&v) {
        Err(ControlError::Truncated {
            field: "workers", ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // A string longer than the cap, with its bytes present.
    let mut v = s[..106].to_vec();
    v.extend_from_slice(&((MAX_STR_LEN + 1) as u16).to_be_bytes());
    v.extend(std::iter::repeat_n(b'a', MAX_STR_LEN + 1));
    match StatusReply::parse(&v) {
        Err(ControlError::StringTooLong {
            field: "name", len, ..
        }) => assert_eq!(len, MAX_STR_LEN + 1),
        other => panic!("{other:?}"),
    }
    // Not UTF-8.
    let v = patched(STATUS_REPLY_HEX, 108, &[0xff]);
    assert!(matches!(
        StatusReply::parse(&v),
        Err(ControlError::BadUtf8 { field: "name", .. })
    ));
    // Warnings past the cap in a set-threads reply.
    let v = unhex("00000008 0000 ffff");
    assert!(matches!(
        SetThreadsReply::parse(&v),
        Err(ControlError::TooMany {
            field: "warnings",
            ..
        })
    ));
}

#[test]
fn emit_caps_long_strings_at_a_character_boundary() {
    let mut r = sample_status();
    r.workers[0].name = "é".repeat(200); // 400 bytes
    let back = StatusReply::parse(&emit_with(|o| r.emit(o))).unwrap();
    assert_eq!(back.workers[0].name, "é".repeat(128));
}

#[test]
fn many_rows_round_trip() {
    let mut r = sample_status();
    let row = r.workers[0].clone();
    r.workers = (0..MAX_ROWS as u32)
        .map(|i| WorkerRow {
            id: i,
            name: "x".repeat(MAX_STR_LEN),
            state: [
                WorkerState::Active,
                WorkerState::Quarantined,
                WorkerState::Lost,
            ][i as usize % 3],
            ..row.clone()
        })
        .collect();
    let bytes = emit_with(|o| r.emit(o));
    assert!(bytes.len() < primecluster::control::MAX_CONTROL_FRAME_LEN as usize);
    assert_eq!(StatusReply::parse(&bytes).unwrap(), r);
}

#[test]
fn random_bytes_never_panic_and_accepted_input_re_emits() {
    let mut rng = Rng::splitmix(0xc0_47_01);
    let mut accepted = 0;
    for (name, parse, good) in parsers() {
        for round in 0..20_000 {
            let buf: Vec<u8> = if round % 2 == 0 {
                let n = rng.index(good.len() + 40);
                (0..n).map(|_| rng.byte()).collect()
            } else {
                // Small edits of a valid payload reach the deeper fields.
                let mut b = good.clone();
                for _ in 0..1 + rng.index(3) {
                    if b.is_empty() {
                        break;
                    }
                    let i = rng.index(b.len());
                    b[i] = rng.byte();
                }
                if rng.chance(20) {
                    b.truncate(rng.index(b.len() + 1));
                }
                b
            };
            match parse(&buf) {
                Ok(again) => {
                    accepted += 1;
                    assert_eq!(again, buf, "{name}: {}", hex(&buf));
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
    assert!(accepted > 1000, "only {accepted} random payloads parsed");
}

/// Cost of the largest status reply (4096 rows of 256-byte names): emit, parse, and the
/// JSON and table renderings. `cargo test --test control_payloads -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn largest_status_reply_cost() {
    use std::time::Instant;
    let mut r = sample_status();
    let row = r.workers[0].clone();
    r.workers = (0..MAX_ROWS as u32)
        .map(|i| WorkerRow {
            id: i,
            name: "n".repeat(MAX_STR_LEN),
            ..row.clone()
        })
        .collect();
    let rounds = 20;
    let t = Instant::now();
    let mut bytes = Vec::new();
    for _ in 0..rounds {
        bytes.clear();
        r.emit(&mut bytes);
    }
    let emit = t.elapsed() / rounds;
    let t = Instant::now();
    for _ in 0..rounds {
        assert_eq!(StatusReply::parse(&bytes).unwrap().workers.len(), MAX_ROWS);
    }
    let parse = t.elapsed() / rounds;
    let t = Instant::now();
    let json = primecluster::control::render::json(&r);
    let json_t = t.elapsed();
    let t = Instant::now();
    let table = primecluster::control::render::table(&r);
    let table_t = t.elapsed();
    println!(
        "status reply of {MAX_ROWS} rows: {} bytes; emit {emit:?}, parse {parse:?}; JSON {} bytes \
         in {json_t:?}; table {} bytes in {table_t:?}",
        bytes.len(),
        json.len(),
        table.len()
    );
}
