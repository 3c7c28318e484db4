//! Writes the seed corpus of the `frame` fuzz target into the folder given: the golden
//! frames of `tests/wire_golden.rs` (the same messages, encoded by `wire::encode`,
//! which that test pins byte for byte), a few edge cases, and each in both input forms
//! of the target (raw stream, and type + payload framed by the target).

use primecluster::gaps::{self, GapEncoder};
use primecluster::wire::{self, *};
use std::path::PathBuf;

fn result(chunk: u64, start: u128, stop: u128, primes: &[u128], mode: Mode) -> Message {
    let mut enc = GapEncoder::new(start);
    for &p in primes {
        enc.push(p);
    }
    let count = enc.count();
    let gaps = match mode {
        Mode::Primes => enc.into_bytes(),
        Mode::Count => Vec::new(),
    };
    let digest = match mode {
        Mode::Primes => gaps::digest(&gaps),
        Mode::Count => 0,
    };
    Message::Result(ChunkResult {
        chunk,
        start,
        stop,
        count,
        digest,
        compute_us: 250,
        gaps,
    })
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: seeds DIR"));
    std::fs::create_dir_all(&dir).expect("create the corpus folder");
    let messages = [
        Message::Heartbeat {
            threads: 8,
            busy: 3,
        },
        Message::Hello(Hello {
            version: VERSION,
            name: "pi".into(),
            cores: 4,
            threads: 3,
            arch: "armv7".into(),
            kernels: 7,
            auth: primecluster::auth::HelloAuth {
                auth: primecluster::auth::Method::HmacSha256,
                role: primecluster::auth::Role::Worker,
                client_nonce: [0xa0; 32],
            },
        }),
        Message::Challenge(primecluster::auth::Challenge::Hmac {
            server_nonce: [0xc0; 32],
            server_proof: [0x11; 32],
        }),
        Message::Proof(primecluster::auth::ClientProof::Hmac {
            client_proof: [0x22; 32],
        }),
        Message::Welcome(Welcome {
            version: VERSION,
            worker_id: 42,
            mode: Mode::Primes,
            kernel: 1,
            heartbeat_ms: 1000,
            threads: 0,
        }),
        Message::Assign(Assign {
            chunk: 5,
            start: 1_000_000_000,
            stop: 1_000_000_999,
            kernel: 0,
        }),
        result(5, 100, 130, &[101, 103, 107, 109, 113, 127], Mode::Primes),
        result(0, 0, 10, &[2, 3, 5, 7], Mode::Primes),
        result(
            1,
            436_273_000,
            436_273_300,
            &[436_273_009, 436_273_291],
            Mode::Primes,
        ),
        result(2, 24, 28, &[], Mode::Primes),
        result(3, 100, 130, &[101, 103, 107, 109, 113, 127], Mode::Count),
        result(
            4,
            u128::MAX - 200,
            u128::MAX,
            &[u128::MAX - 158],
            Mode::Primes,
        ),
        Message::SetThreads { threads: 2 },
        Message::Cancel { chunk: 5 },
        Message::Shutdown {
            reason: ShutdownReason::Done,
            message: "job complete".into(),
        },
        Message::Error {
            code: ErrorCode::BadVersion,
            message: "version 2 not supported, this master speaks 1".into(),
        },
    ];
    let mut all = Vec::new();
    for (i, msg) in messages.iter().enumerate() {
        let mut frame = Vec::new();
        wire::encode(msg, &mut frame);
        all.extend_from_slice(&frame);
        let raw = [&[0u8][..], &frame].concat();
        // Framed form: selector, type, payload (the frame minus length, type and CRC).
        let payload = frame.get(5..frame.len() - 4).unwrap_or_default();
        let typed = [&[1u8, msg.type_code()][..], payload].concat();
        for (form, bytes) in [("raw", raw), ("typed", typed)] {
            let path = dir.join(format!("{i:02}-{}-{form}", msg.name()));
            std::fs::write(&path, bytes).expect("write a seed");
        }
    }
    // A whole conversation in one stream.
    std::fs::write(dir.join("99-stream"), [&[0u8][..], &all].concat()).expect("write a seed");
}
