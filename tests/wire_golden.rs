//! Golden frames, one per message type (smoltcp's `test_parse` / `test_emit`): the bytes
//! are written out by hand from `docs/PROTOCOL.md`, and each CRC was computed with an
//! independent implementation (Python's `zlib.crc32`), so these tests pin the layout.

use primecluster::auth::{Challenge, ClientProof, HelloAuth, Method, Role};
use primecluster::gaps;
use primecluster::wire::*;

/// `length | type | payload | crc`, the length computed from the parts.
fn frame(ty: u8, payload: &[u8], crc: u32) -> Vec<u8> {
    let mut f = ((1 + payload.len() + 4) as u32).to_be_bytes().to_vec();
    f.push(ty);
    f.extend_from_slice(payload);
    f.extend_from_slice(&crc.to_be_bytes());
    f
}

fn check_golden(bytes: &[u8], msg: &Message) {
    let mut out = Vec::new();
    encode(msg, &mut out);
    assert_eq!(out, bytes, "emit {}", msg.name());
    assert_eq!(
        decode(bytes),
        Ok(Some((msg.clone(), bytes.len()))),
        "parse {}",
        msg.name()
    );
}

/// The worked example of docs/PROTOCOL.md, byte for byte.
const HEARTBEAT_FRAME: [u8; 17] = [
    0x00, 0x00, 0x00, 0x0d, // length 13 = type + 8 payload bytes + CRC
    0x12, // type: heartbeat
    0x00, 0x00, 0x00, 0x08, // threads 8
    0x00, 0x00, 0x00, 0x03, // busy 3
    0xcd, 0x46, 0x64, 0x22, // CRC-32 of the 9 bytes from the type on
];

#[test]
fn crc_is_the_ieee_crc32() {
    // The standard check value of CRC-32 (zlib, Ethernet, PNG).
    assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
}

#[test]
fn heartbeat_golden() {
    check_golden(
        &HEARTBEAT_FRAME,
        &Message::Heartbeat {
            threads: 8,
            busy: 3,
        },
    );
}

#[test]
fn hello_golden() {
    #[rustfmt::skip]
    let payload = [
        b'P', b'C', b'L', b'U', // magic
        0x00, 0x02, // version 2
        0x00, 0x02, b'p', b'i', // name "pi"
        0x00, 0x00, 0x00, 0x04, // cores 4
        0x00, 0x00, 0x00, 0x03, // threads 3
        0x00, 0x05, b'a', b'r', b'm', b'v', b'7', // arch "armv7"
        0x00, 0x00, 0x00, 0x07, // kernels: auto, sieve, trial
        0x01, // auth: HMAC-SHA256
        0x00, // role: worker
        0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, // client_nonce
        0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
        0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
        0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
    ];
    let bytes = frame(0x01, &payload, 0x397b_d5f1);
    assert_eq!(&bytes[..4], &[0, 0, 0, 68]);
    let msg = Message::Hello(Hello {
        version: 2,
        name: "pi".into(),
        cores: 4,
        threads: 3,
        arch: "armv7".into(),
        kernels: 7,
        auth: HelloAuth {
            auth: Method::HmacSha256,
            role: Role::Worker,
            client_nonce: std::array::from_fn(|i| 0xa0 + i as u8),
        },
    });
    check_golden(&bytes, &msg);
}

#[test]
fn challenge_and_proof_golden() {
    // With a token: auth 1, the master's nonce, its proof (arbitrary bytes here: the
    // MACs themselves are pinned by tests/auth_vectors.rs).
    let mut payload = vec![0x01];
    payload.extend(0xc0..=0xdfu8);
    payload.extend([0x11; 32]);
    let msg = Message::Challenge(Challenge::Hmac {
        server_nonce: std::array::from_fn(|i| 0xc0 + i as u8),
        server_proof: [0x11; 32],
    });
    check_golden(&frame(0x03, &payload, 0x3c31_e621), &msg);
    // Without a token: the single byte 0.
    check_golden(
        &frame(0x03, &[0x00], 0x6af4_413c),
        &Message::Challenge(Challenge::NoAuth),
    );
    let mut payload = vec![0x01];
    payload.extend([0x22; 32]);
    let msg = Message::Proof(ClientProof::Hmac {
        client_proof: [0x22; 32],
    });
    check_golden(&frame(0x04, &payload, 0x747d_54aa), &msg);
    check_golden(
        &frame(0x04, &[0x00], 0x25b5_d7fb),
        &Message::Proof(ClientProof::NoAuth),
    );
}

#[test]
fn welcome_golden() {
    #[rustfmt::skip]
    let payload = [
        b'P', b'C', b'L', b'U', // magic
        0x00, 0x02, // version 2
        0x00, 0x00, 0x00, 0x2a, // worker_id 42
        0x00, // mode primes
        0x01, // kernel sieve
        0x00, 0x00, 0x03, 0xe8, // heartbeat_ms 1000
        0x00, 0x00, 0x00, 0x00, // threads 0: keep yours
    ];
    let msg = Message::Welcome(Welcome {
        version: 2,
        worker_id: 42,
        mode: Mode::Primes,
        kernel: 1,
        heartbeat_ms: 1000,
        threads: 0,
    });
    check_golden(&frame(0x02, &payload, 0xc393_301a), &msg);
}

#[test]
fn assign_golden() {
    #[rustfmt::skip]
    let payload = [
        0, 0, 0, 0, 0, 0, 0, 5, // chunk 5
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3b, 0x9a, 0xca, 0x00, // start 1e9
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3b, 0x9a, 0xcd, 0xe7, // stop 1e9+999
        0, // kernel 0: the welcome's
    ];
    let msg = Message::Assign(Assign {
        chunk: 5,
        start: 1_000_000_000,
        stop: 1_000_000_999,
        kernel: 0,
    });
    check_golden(&frame(0x10, &payload, 0x3978_648e), &msg);
}

#[test]
fn assign_with_a_kernel_golden() {
    // A copy for a vote asks for the sieve (kernel code 1) whatever the job's kernel.
    #[rustfmt::skip]
    let payload = [
        0, 0, 0, 0, 0, 0, 0, 5, // chunk 5
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3b, 0x9a, 0xca, 0x00, // start 1e9
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x3b, 0x9a, 0xcd, 0xe7, // stop 1e9+999
        1, // kernel 1: sieve
    ];
    let msg = Message::Assign(Assign {
        chunk: 5,
        start: 1_000_000_000,
        stop: 1_000_000_999,
        kernel: 1,
    });
    check_golden(&frame(0x10, &payload, 0x4e7f_5418), &msg);
}

#[test]
fn assign_with_an_unknown_kernel_is_refused() {
    let mut payload = vec![0u8; 40];
    payload.push(4);
    let mut body = vec![0x10];
    body.extend_from_slice(&payload);
    let crc = crc32fast::hash(&body);
    let e = decode(&frame(0x10, &payload, crc)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "assign field `kernel` has invalid value 4 (expected 0 auto, 1 sieve, 2 trial or 3 presieve)"
    );
}

#[test]
fn result_golden() {
    // The primes of 100..=130: 101 103 107 109 113 127.
    let gap_bytes = [1, 1, 2, 1, 2, 7];
    #[rustfmt::skip]
    let payload = [
        0, 0, 0, 0, 0, 0, 0, 5, // chunk 5
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, // start 100
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 130, // stop 130
        0, 0, 0, 0, 0, 0, 0, 6, // count 6
        0xbf, 0x57, 0xe3, 0xe1, 0x07, 0xa1, 0xe3, 0x2d, // digest: FNV-1a 64 of the gaps
        0, 0, 0, 0, 0, 0, 0, 250, // compute_us 250
        0, 0, 0, 6, // gaps length 6
        1, 1, 2, 1, 2, 7, // gaps
    ];
    let msg = Message::Result(ChunkResult {
        chunk: 5,
        start: 100,
        stop: 130,
        count: 6,
        digest: 0xbf57_e3e1_07a1_e32d,
        compute_us: 250,
        gaps: gap_bytes.to_vec(),
    });
    check_golden(&frame(0x11, &payload, 0xd7fd_835f), &msg);

    // The example agrees with the gap codec and the digest of src/gaps.rs.
    let mut enc = gaps::GapEncoder::new(100);
    for p in [101, 103, 107, 109, 113, 127] {
        enc.push(p);
    }
    assert_eq!(enc.bytes(), gap_bytes);
    assert_eq!(gaps::digest(&gap_bytes), 0xbf57_e3e1_07a1_e32d);
    assert!(gaps::check(gap_bytes.to_vec(), 100, 130, 6).is_ok());
}

#[test]
fn gap_example_with_two() {
    // docs/PROTOCOL.md: the primes of 0..=10 are 2 3 5 7 -> 02 00 01 01.
    let mut enc = gaps::GapEncoder::new(0);
    for p in [2, 3, 5, 7] {
        enc.push(p);
    }
    assert_eq!(enc.bytes(), [2, 0, 1, 1]);
    assert_eq!(gaps::digest(&[2, 0, 1, 1]), 0x8d17_6990_4a36_aba1);
    // Count mode sends no gaps: the digest field is 0, not the FNV of nothing.
    assert_eq!(gaps::digest(&[]), 0xcbf2_9ce4_8422_2325);
    // The primes of 436273000..=436273300: 436273009, then a gap of 282 (the first gap
    // above 250), halved to 141, which takes two varint bytes.
    let mut enc = gaps::GapEncoder::new(436_273_000);
    enc.push(436_273_009);
    enc.push(436_273_291);
    assert_eq!(enc.bytes(), [0x09, 0x8d, 0x01]);
    assert!(gaps::check(vec![0x09, 0x8d, 0x01], 436_273_000, 436_273_300, 2).is_ok());
}

#[test]
fn set_threads_golden() {
    check_golden(
        &frame(0x20, &[0, 0, 0, 2], 0xe9ed_b935),
        &Message::SetThreads { threads: 2 },
    );
}

#[test]
fn cancel_golden() {
    let payload = [0, 0, 0, 0, 0, 0, 0, 5];
    check_golden(
        &frame(0x21, &payload, 0x03e9_76c1),
        &Message::Cancel { chunk: 5 },
    );
}

#[test]
fn shutdown_golden() {
    let mut payload = vec![0x00, 0x00, 12]; // reason done, message length 12
    payload.extend_from_slice(b"job complete");
    let msg = Message::Shutdown {
        reason: ShutdownReason::Done,
        message: "job complete".into(),
    };
    check_golden(&frame(0x22, &payload, 0x9771_1383), &msg);
}

#[test]
fn error_golden() {
    let text = "version 2 not supported, this master speaks 1";
    let mut payload = vec![0x02, 0x00, text.len() as u8]; // code bad-version, length 45
    payload.extend_from_slice(text.as_bytes());
    let msg = Message::Error {
        code: ErrorCode::BadVersion,
        message: text.into(),
    };
    check_golden(&frame(0x7e, &payload, 0x1321_ff5f), &msg);
}

#[test]
fn names_and_codes() {
    let cases: [(Message, &str, u8); 11] = [
        (Message::Hello(hello()), "hello", 0x01),
        (Message::Welcome(welcome()), "welcome", 0x02),
        (Message::Challenge(Challenge::NoAuth), "challenge", 0x03),
        (Message::Proof(ClientProof::NoAuth), "proof", 0x04),
        (
            Message::Assign(Assign {
                chunk: 0,
                start: 0,
                stop: 0,
                kernel: 0,
            }),
            "assign",
            0x10,
        ),
        (
            Message::Result(ChunkResult {
                chunk: 0,
                start: 0,
                stop: 0,
                count: 0,
                digest: 0,
                compute_us: 0,
                gaps: vec![],
            }),
            "result",
            0x11,
        ),
        (
            Message::Heartbeat {
                threads: 1,
                busy: 0,
            },
            "heartbeat",
            0x12,
        ),
        (Message::SetThreads { threads: 1 }, "set-threads", 0x20),
        (Message::Cancel { chunk: 0 }, "cancel", 0x21),
        (
            Message::Shutdown {
                reason: ShutdownReason::Stopped,
                message: String::new(),
            },
            "shutdown",
            0x22,
        ),
        (
            Message::Error {
                code: ErrorCode::Internal,
                message: String::new(),
            },
            "error",
            0x7e,
        ),
    ];
    for (msg, name, code) in cases {
        assert_eq!(msg.name(), name);
        assert_eq!(msg.type_code(), code);
        let mut out = Vec::new();
        encode(&msg, &mut out);
        assert_eq!(out[4], code, "{name}");
        assert!(msg.to_string().starts_with(name), "{msg}");
    }
}

pub fn hello() -> Hello {
    Hello {
        version: VERSION,
        name: "n".into(),
        cores: 1,
        threads: 1,
        arch: "x86_64".into(),
        kernels: 1,
        auth: HelloAuth {
            auth: Method::None,
            role: Role::Worker,
            client_nonce: [0; 32],
        },
    }
}

pub fn welcome() -> Welcome {
    Welcome {
        version: VERSION,
        worker_id: 1,
        mode: Mode::Count,
        kernel: 0,
        heartbeat_ms: 500,
        threads: 0,
    }
}
