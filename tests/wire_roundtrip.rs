//! Every message survives encode -> decode unchanged, alone and back to back.

use primecluster::auth::{Challenge, ClientProof, HelloAuth, Method, Role};
use primecluster::wire::*;

/// One of each message, with edge values: u128::MAX, empty strings, a large gap list.
pub fn samples() -> Vec<Message> {
    vec![
        Message::Hello(Hello {
            version: VERSION,
            name: "pi-kitchen".into(),
            cores: 4,
            threads: 4,
            arch: "armv7".into(),
            kernels: 0b111,
            auth: HelloAuth {
                auth: Method::HmacSha256,
                role: Role::Worker,
                client_nonce: [0x5a; 32],
            },
        }),
        Message::Hello(Hello {
            version: 0xffff,
            name: String::new(),
            cores: u32::MAX,
            threads: 0,
            arch: "ä".repeat(128),
            kernels: 0,
            auth: HelloAuth {
                auth: Method::None,
                role: Role::Control,
                client_nonce: [0; 32],
            },
        }),
        Message::Challenge(Challenge::NoAuth),
        Message::Challenge(Challenge::Hmac {
            server_nonce: [0xff; 32],
            server_proof: [1; 32],
        }),
        Message::Proof(ClientProof::NoAuth),
        Message::Proof(ClientProof::Hmac {
            client_proof: [0x80; 32],
        }),
        Message::StatusRequest,
        Message::StopRequest,
        Message::Welcome(Welcome {
            version: VERSION,
            worker_id: 7,
            mode: Mode::Primes,
            kernel: 1,
            heartbeat_ms: 1000,
            threads: 0,
        }),
        Message::Welcome(Welcome {
            version: 0,
            worker_id: u32::MAX,
            mode: Mode::Count,
            kernel: 2,
            heartbeat_ms: u32::MAX,
            threads: u32::MAX,
        }),
        Message::Assign(Assign {
            chunk: 0,
            start: 0,
            stop: 0,
            kernel: 0,
        }),
        Message::Assign(Assign {
            chunk: u64::MAX,
            start: u128::MAX,
            stop: u128::MAX,
            kernel: 1,
        }),
        Message::Assign(Assign {
            chunk: 3,
            start: 1 << 64,
            stop: (1 << 64) + 1_000_000,
            kernel: 2,
        }),
        Message::Assign(Assign {
            chunk: 4,
            start: 1_000_000_000,
            stop: 1_000_999_999,
            kernel: 3,
        }),
        Message::Welcome(Welcome {
            version: VERSION,
            worker_id: 8,
            mode: Mode::Count,
            kernel: 3,
            heartbeat_ms: 500,
            threads: 1,
        }),
        Message::Result(ChunkResult {
            chunk: 1,
            start: 0,
            stop: 100,
            count: 25,
            digest: 0x0123_4567_89ab_cdef,
            compute_us: 12,
            gaps: vec![2, 0, 1, 1, 2, 1, 2, 1, 2, 3],
        }),
        Message::Result(ChunkResult {
            chunk: u64::MAX,
            start: u128::MAX,
            stop: u128::MAX,
            count: 0,
            digest: 0,
            compute_us: u64::MAX,
            gaps: Vec::new(),
        }),
        Message::Result(ChunkResult {
            chunk: 9,
            start: 1,
            stop: u128::MAX,
            count: u64::MAX,
            digest: u64::MAX,
            compute_us: 0,
            gaps: (0..3_000_000u32).map(|i| (i % 251) as u8).collect(),
        }),
        Message::Heartbeat {
            threads: 8,
            busy: 3,
        },
        Message::Heartbeat {
            threads: 0,
            busy: u32::MAX,
        },
        Message::SetThreads { threads: 1 },
        Message::SetThreads { threads: u32::MAX },
        Message::Cancel { chunk: 0 },
        Message::Cancel { chunk: u64::MAX },
        Message::Shutdown {
            reason: ShutdownReason::Done,
            message: String::new(),
        },
        Message::Shutdown {
            reason: ShutdownReason::Stopped,
            message: "operator".into(),
        },
        Message::Error {
            code: ErrorCode::BadMagic,
            message: "x".repeat(MAX_STR_LEN),
        },
        Message::Error {
            code: ErrorCode::BadVersion,
            message: "version 9".into(),
        },
        Message::Error {
            code: ErrorCode::Malformed,
            message: String::new(),
        },
        Message::Error {
            code: ErrorCode::BadResult,
            message: "count 3, found 2".into(),
        },
        Message::Error {
            code: ErrorCode::Internal,
            message: "🦀".into(),
        },
        Message::Error {
            code: ErrorCode::Quarantined,
            message: "pi@192.0.2.7 is quarantined for this job".into(),
        },
    ]
}

#[test]
fn every_message_roundtrips() {
    for msg in samples() {
        let mut buf = Vec::new();
        encode(&msg, &mut buf);
        assert_eq!(buf.len(), msg.encoded_len(), "{}", msg.name());
        let (got, used) = decode(&buf).unwrap().unwrap();
        assert_eq!(used, buf.len(), "{}", msg.name());
        assert_eq!(got, msg);
    }
}

#[test]
fn frames_back_to_back_decode_in_order() {
    let msgs = samples();
    let mut buf = Vec::new();
    let mut ends = Vec::new();
    for m in &msgs {
        encode(m, &mut buf);
        ends.push(buf.len());
    }
    let mut pos = 0;
    for (m, end) in msgs.iter().zip(ends) {
        let (got, used) = decode(&buf[pos..]).unwrap().unwrap();
        assert_eq!(&got, m);
        pos += used;
        assert_eq!(pos, end, "consumed after {}", m.name());
    }
    assert_eq!(decode(&buf[pos..]), Ok(None));
}

#[test]
fn encode_appends_without_touching_earlier_bytes() {
    let mut buf = b"keep".to_vec();
    encode(&Message::Cancel { chunk: 5 }, &mut buf);
    assert_eq!(&buf[..4], b"keep");
    let (got, used) = decode(&buf[4..]).unwrap().unwrap();
    assert_eq!(got, Message::Cancel { chunk: 5 });
    assert_eq!(used, buf.len() - 4);
}

#[test]
fn long_strings_are_cut_at_a_char_boundary() {
    // 200 two-byte characters: 400 bytes, cut to 256 (128 characters).
    let msg = Message::Shutdown {
        reason: ShutdownReason::Stopped,
        message: "é".repeat(200),
    };
    let mut buf = Vec::new();
    encode(&msg, &mut buf);
    assert_eq!(buf.len(), msg.encoded_len());
    let (got, _) = decode(&buf).unwrap().unwrap();
    assert_eq!(
        got,
        Message::Shutdown {
            reason: ShutdownReason::Stopped,
            message: "é".repeat(128)
        }
    );
    // A 3-byte character straddling byte 256 is dropped whole.
    let s = format!("{}€", "a".repeat(255));
    let mut buf = Vec::new();
    encode(
        &Message::Error {
            code: ErrorCode::Internal,
            message: s,
        },
        &mut buf,
    );
    let (got, _) = decode(&buf).unwrap().unwrap();
    assert_eq!(
        got,
        Message::Error {
            code: ErrorCode::Internal,
            message: "a".repeat(255)
        }
    );
}

#[test]
fn every_prefix_of_a_frame_needs_more_bytes() {
    for msg in samples() {
        let mut buf = Vec::new();
        encode(&msg, &mut buf);
        for cut in 0..buf.len() {
            assert_eq!(decode(&buf[..cut]), Ok(None), "{} cut at {cut}", msg.name());
        }
    }
}

#[test]
fn every_prefix_after_a_whole_frame_gives_that_frame() {
    // A whole frame followed by part of the next decodes the first and stops there.
    let mut buf = Vec::new();
    encode(
        &Message::Heartbeat {
            threads: 2,
            busy: 1,
        },
        &mut buf,
    );
    let first = buf.len();
    encode(&Message::Cancel { chunk: 77 }, &mut buf);
    for cut in first..buf.len() {
        let (msg, used) = decode(&buf[..cut]).unwrap().unwrap();
        assert_eq!(
            msg,
            Message::Heartbeat {
                threads: 2,
                busy: 1
            }
        );
        assert_eq!(used, first);
        assert_eq!(decode(&buf[used..cut]), Ok(None));
    }
}
