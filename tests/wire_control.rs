//! The control messages as `wire` frames: the example frames of `docs/PROTOCOL.md`
//! section 12.6 (read from the document) are what `wire::encode` writes and what
//! `wire::decode` reads back; a refused control payload is a `WireError::Control`
//! answered with `Malformed`; a control client's cap refuses an oversized frame from
//! its length prefix alone; and seeded random edits of control frames never panic the
//! decoder, whose accepted frames re-encode identically.

use primecluster::control::msg::*;
use primecluster::control::ControlError;
use primecluster::wire::{self, ErrorCode, Message, WireError};

mod reference;
use reference::Rng;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The `name = hex` line of the document's examples.
fn example(name: &str) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md"))
        .expect("docs/PROTOCOL.md");
    let prefix = format!("{name} = ");
    let line = doc
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("docs/PROTOCOL.md has no line `{name} = ...`"));
    line[prefix.len()..].trim().to_string()
}

fn status() -> StatusReply {
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

fn messages() -> Vec<(&'static str, Message)> {
    vec![
        ("status_request_frame", Message::StatusRequest),
        (
            "status_reply_frame",
            Message::StatusReply(Box::new(status())),
        ),
        (
            "set_threads_request_frame",
            Message::SetThreadsRequest(SetThreadsRequest {
                target: Target::Name("pi3".into()),
                threads: 8,
            }),
        ),
        ("stop_request_frame", Message::StopRequest),
        (
            "stop_reply_frame",
            Message::StopReply(StopReply {
                done: 500,
                primes: 73,
                checkpointed: true,
                workers: 1,
            }),
        ),
    ]
}

#[test]
fn document_frames_encode_and_decode() {
    for (name, msg) in messages() {
        let mut f = Vec::new();
        wire::encode(&msg, &mut f);
        assert_eq!(hex(&f), example(name), "{name}");
        assert_eq!(f.len(), msg.encoded_len(), "{name}");
        let (back, used) = wire::decode(&f).unwrap().unwrap();
        assert_eq!((back, used), (msg.clone(), f.len()), "{name}");
        assert!(!msg.to_string().is_empty());
    }
    // The reply the master sends to a set-threads request, too.
    let reply = Message::SetThreadsReply(SetThreadsReply::new(
        8,
        vec![Changed {
            id: 3,
            name: "pi3".into(),
            cores: 4,
            before: 4,
        }],
    ));
    let mut f = Vec::new();
    wire::encode(&reply, &mut f);
    assert_eq!(hex(&f[5..f.len() - 4]), example("set_threads_reply"));
    assert_eq!(wire::decode(&f).unwrap().unwrap().0, reply);
}

#[test]
fn a_refused_control_payload_names_the_field() {
    // A stop request with a byte in it, a set-threads request for 0 threads.
    let mut f = Vec::new();
    primecluster::control::client::frame(wire::code::STOP_REQUEST, &[7], &mut f);
    let e = wire::decode(&f).unwrap_err();
    assert_eq!(
        e,
        WireError::Control(ControlError::TrailingBytes {
            msg: "stop request",
            extra: 1
        })
    );
    assert_eq!(e.code(), ErrorCode::Malformed);
    let mut f = Vec::new();
    primecluster::control::client::frame(wire::code::SET_THREADS_REQUEST, &[0, 0, 0, 0, 0], &mut f);
    let e = wire::decode(&f).unwrap_err();
    assert!(
        e.to_string().contains("`threads` has invalid value 0"),
        "{e}"
    );
    assert!(matches!(
        e.to_message(),
        Message::Error {
            code: ErrorCode::Malformed,
            ..
        }
    ));
}

#[test]
fn a_control_clients_cap_refuses_from_the_length_alone() {
    // The largest request (a set-threads by a 256-byte name) fits the cap...
    let big = Message::SetThreadsRequest(SetThreadsRequest {
        target: Target::Name("n".repeat(256)),
        threads: 1024,
    });
    assert_eq!(big.encoded_len(), 4 + 268);
    let mut f = Vec::new();
    wire::encode(&big, &mut f);
    let cap = wire::MAX_CONTROL_FRAME_LEN;
    let got = wire::decode_within(&f, cap, "from a control client").unwrap();
    assert_eq!(got.map(|(m, _)| m), Some(big));
    // ...and a status reply's length prefix is refused before its body arrives.
    let mut f = Vec::new();
    let mut s = status();
    s.workers = vec![s.workers[0].clone(); 20];
    wire::encode(&Message::StatusReply(Box::new(s)), &mut f);
    let e = wire::decode_within(&f[..4], cap, "from a control client").unwrap_err();
    assert!(matches!(e, WireError::OverCap { .. }), "{e}");
}

#[test]
fn edited_control_frames_never_panic_and_reencode_canonically() {
    let mut rng = Rng::xorshift(0x00c0_ffee);
    let frames: Vec<Vec<u8>> = messages()
        .into_iter()
        .map(|(_, m)| {
            let mut f = Vec::new();
            wire::encode(&m, &mut f);
            f
        })
        .collect();
    for _ in 0..20_000 {
        let mut f = frames[rng.index(frames.len())].clone();
        for _ in 0..=rng.below(3) {
            let at = 4 + rng.index(f.len() - 4);
            f[at] = rng.byte();
        }
        if rng.chance(30) {
            // Keep the length prefix, a type byte and room for the CRC.
            let cut = 9 + rng.index(f.len() - 8);
            f.truncate(cut);
        }
        // Repair the length and CRC so the edits reach the payload parsers.
        let len = (f.len() - 4) as u32;
        f[..4].copy_from_slice(&len.to_be_bytes());
        let n = f.len();
        let crc = crc32fast::hash(&f[4..n - 4]);
        f[n - 4..].copy_from_slice(&crc.to_be_bytes());
        match wire::decode(&f) {
            Ok(Some((msg, used))) => {
                let mut again = Vec::new();
                wire::encode(&msg, &mut again);
                assert_eq!(again, &f[..used], "{msg}");
            }
            Ok(None) => panic!("a whole frame is there"),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}
