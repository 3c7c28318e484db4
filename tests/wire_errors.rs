//! Every way a frame can be wrong gives the matching `WireError`, with a message that
//! names the bad value, and never a panic.

use primecluster::auth::{HelloAuth, Method, Role};
use primecluster::wire::*;

/// A frame with a correct length and CRC around any type and payload.
fn frame(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = ((1 + payload.len() + 4) as u32).to_be_bytes().to_vec();
    f.push(ty);
    f.extend_from_slice(payload);
    let crc = crc32fast::hash(&f[4..]);
    f.extend_from_slice(&crc.to_be_bytes());
    f
}

/// The payload `encode` gives for `msg`.
fn payload(msg: &Message) -> Vec<u8> {
    let mut f = Vec::new();
    encode(msg, &mut f);
    f[5..f.len() - 4].to_vec()
}

fn err(bytes: &[u8]) -> WireError {
    match decode(bytes) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn hello() -> Hello {
    Hello {
        version: VERSION,
        name: "box".into(),
        cores: 2,
        threads: 2,
        arch: "x86_64".into(),
        kernels: 7,
        auth: HelloAuth {
            auth: Method::HmacSha256,
            role: Role::Worker,
            client_nonce: [0xa5; 32],
        },
    }
}

fn welcome() -> Welcome {
    Welcome {
        version: VERSION,
        worker_id: 3,
        mode: Mode::Primes,
        kernel: 0,
        heartbeat_ms: 1000,
        threads: 0,
    }
}

fn result() -> ChunkResult {
    ChunkResult {
        chunk: 5,
        start: 100,
        stop: 130,
        count: 6,
        digest: 1,
        compute_us: 250,
        gaps: vec![1, 1, 2, 1, 2, 7],
    }
}

/// One message of each type.
fn one_of_each() -> Vec<Message> {
    vec![
        Message::Hello(hello()),
        Message::Welcome(welcome()),
        Message::Assign(Assign {
            chunk: 1,
            start: 2,
            stop: 3,
            kernel: 0,
        }),
        Message::Result(result()),
        Message::Heartbeat {
            threads: 4,
            busy: 2,
        },
        Message::SetThreads { threads: 2 },
        Message::Cancel { chunk: 9 },
        Message::Shutdown {
            reason: ShutdownReason::Done,
            message: "bye".into(),
        },
        Message::Error {
            code: ErrorCode::Malformed,
            message: "bad".into(),
        },
    ]
}

#[test]
fn oversize_length_is_refused_from_the_first_four_bytes() {
    let e = err(&[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(e, WireError::TooLong { len: u32::MAX });
    assert!(
        e.to_string()
            .starts_with("frame length 4294967295 exceeds maximum 67108864"),
        "{e}"
    );
    assert_eq!(
        err(&(MAX_FRAME_LEN + 1).to_be_bytes()),
        WireError::TooLong {
            len: MAX_FRAME_LEN + 1
        }
    );
    // An HTTP client: "GET " read as a length.
    assert_eq!(
        err(b"GET / HTTP/1.1\r\n"),
        WireError::TooLong { len: 0x4745_5420 }
    );
    // The largest length allowed just waits for its body.
    assert_eq!(decode(&MAX_FRAME_LEN.to_be_bytes()), Ok(None));
}

#[test]
fn length_below_minimum_is_refused() {
    for len in 0..MIN_FRAME_LEN {
        let mut bytes = len.to_be_bytes().to_vec();
        assert_eq!(err(&bytes), WireError::TooShort { len });
        bytes.extend_from_slice(&[0; 8]);
        assert_eq!(err(&bytes), WireError::TooShort { len });
    }
    assert_eq!(
        WireError::TooShort { len: 3 }.to_string(),
        "frame length 3 is below the minimum 5 (type byte + CRC)"
    );
}

#[test]
fn fewer_than_four_bytes_need_more() {
    for n in 0..4 {
        assert_eq!(decode(&[0xff; 3][..n]), Ok(None));
    }
}

#[test]
fn any_flipped_bit_is_a_crc_mismatch() {
    let mut good = Vec::new();
    encode(
        &Message::Heartbeat {
            threads: 8,
            busy: 3,
        },
        &mut good,
    );
    for i in 4..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[i] ^= 1 << bit;
            match err(&bad) {
                WireError::BadCrc { stated, computed } => assert_ne!(stated, computed),
                e => panic!("byte {i} bit {bit}: {e}"),
            }
        }
    }
    let e = WireError::BadCrc {
        stated: 0xcd46_6422,
        computed: 0x0000_00ff,
    };
    assert!(e
        .to_string()
        .starts_with("CRC mismatch: frame says 0xcd466422, computed 0x000000ff"));
}

#[test]
fn unknown_types_are_refused() {
    let known = [
        0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x12, 0x20, 0x21, 0x22, 0x30, 0x31, 0x32, 0x33, 0x34,
        0x35, 0x7e,
    ];
    for ty in 0..=255u8 {
        if !known.contains(&ty) {
            assert_eq!(err(&frame(ty, &[])), WireError::UnknownType { code: ty });
        }
    }
    assert_eq!(
        WireError::UnknownType { code: 0x7f }.to_string(),
        "unknown message type 0x7f"
    );
}

#[test]
fn trailing_payload_bytes_are_refused() {
    for msg in one_of_each() {
        let mut p = payload(&msg);
        p.push(0);
        let e = err(&frame(msg.type_code(), &p));
        assert_eq!(
            e,
            WireError::TrailingBytes {
                msg: msg.name(),
                extra: 1
            }
        );
        assert_eq!(e.code(), ErrorCode::Malformed);
    }
    assert_eq!(
        WireError::TrailingBytes {
            msg: "cancel",
            extra: 3
        }
        .to_string(),
        "cancel frame has 3 unexpected bytes after its last field"
    );
}

#[test]
fn truncated_payloads_are_refused() {
    for msg in one_of_each() {
        let p = payload(&msg);
        for keep in 0..p.len() {
            match err(&frame(msg.type_code(), &p[..keep])) {
                WireError::Truncated {
                    msg: name,
                    payload_len,
                    ..
                } => {
                    assert_eq!(name, msg.name());
                    assert_eq!(payload_len, keep);
                }
                e => panic!("{} cut to {keep}: {e}", msg.name()),
            }
        }
    }
    let e = err(&frame(0x10, &[0; 39]));
    assert_eq!(
        e,
        WireError::Truncated {
            msg: "assign",
            field: "stop",
            payload_len: 39
        }
    );
    assert_eq!(
        e.to_string(),
        "assign frame too short: its 39-byte payload ends inside field `stop`"
    );
}

#[test]
fn gap_length_past_the_payload_is_refused() {
    let mut p = payload(&Message::Result(result()));
    let at = p.len() - 6 - 4;
    p[at..at + 4].copy_from_slice(&7u32.to_be_bytes());
    assert_eq!(
        err(&frame(0x11, &p)),
        WireError::Truncated {
            msg: "result",
            field: "gaps",
            payload_len: p.len()
        }
    );
    p[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        err(&frame(0x11, &p)),
        WireError::Truncated { field: "gaps", .. }
    ));
}

#[test]
fn bad_enum_values_are_refused() {
    // welcome: mode at payload offset 10, kernel at 11.
    let good = payload(&Message::Welcome(welcome()));
    let mut p = good.clone();
    p[10] = 2;
    let e = err(&frame(0x02, &p));
    assert_eq!(
        e.to_string(),
        "welcome field `mode` has invalid value 2 (expected 0 primes or 1 count)"
    );
    let mut p = good.clone();
    p[11] = 4;
    assert!(matches!(
        err(&frame(0x02, &p)),
        WireError::InvalidValue {
            msg: "welcome",
            field: "kernel",
            value: 4,
            ..
        }
    ));

    assert!(matches!(
        err(&frame(0x22, &[2, 0, 0])),
        WireError::InvalidValue {
            msg: "shutdown",
            field: "reason",
            value: 2,
            ..
        }
    ));
    for code in [0u8, 8, 0xff] {
        assert!(matches!(
            err(&frame(0x7e, &[code, 0, 0])),
            WireError::InvalidValue {
                msg: "error",
                field: "code",
                ..
            }
        ));
    }
    assert!(matches!(
        err(&frame(0x20, &[0, 0, 0, 0])),
        WireError::InvalidValue {
            msg: "set-threads",
            field: "threads",
            value: 0,
            ..
        }
    ));
}

#[test]
fn enum_values_roundtrip_through_from_u8() {
    for m in [Mode::Primes, Mode::Count] {
        assert_eq!(Mode::from_u8(m as u8), Some(m));
    }
    for r in [ShutdownReason::Done, ShutdownReason::Stopped] {
        assert_eq!(ShutdownReason::from_u8(r as u8), Some(r));
    }
    for c in 1..=7u8 {
        assert_eq!(ErrorCode::from_u8(c).map(|c| c as u8), Some(c));
    }
    assert_eq!(Mode::from_u8(2), None);
    assert_eq!(ShutdownReason::from_u8(2), None);
    assert_eq!(ErrorCode::from_u8(0), None);
    assert_eq!(ErrorCode::from_u8(8), None);
}

#[test]
fn bad_magic_is_refused() {
    let mut p = payload(&Message::Hello(hello()));
    p[..4].copy_from_slice(b"PCLX");
    let e = err(&frame(0x01, &p));
    assert_eq!(
        e,
        WireError::BadMagic {
            msg: "hello",
            found: *b"PCLX"
        }
    );
    assert_eq!(e.code(), ErrorCode::BadMagic);
    assert!(
        e.to_string()
            .starts_with("bad magic 0x50434c58 (PCLX) in hello"),
        "{e}"
    );

    let mut p = payload(&Message::Welcome(welcome()));
    p[..4].copy_from_slice(&[0, 0xff, b'\n', b'A']);
    let e = err(&frame(0x02, &p));
    assert_eq!(
        e,
        WireError::BadMagic {
            msg: "welcome",
            found: [0, 0xff, b'\n', b'A']
        }
    );
    assert!(e.to_string().contains("(\\x00\\xff\\nA)"), "{e}");

    // Too short to hold the magic at all.
    assert!(matches!(
        err(&frame(0x01, b"PC")),
        WireError::Truncated {
            msg: "hello",
            field: "magic",
            ..
        }
    ));
}

#[test]
fn other_versions_still_decode() {
    for version in [0, 1, 3, u16::MAX] {
        let msg = Message::Hello(Hello { version, ..hello() });
        let mut f = Vec::new();
        encode(&msg, &mut f);
        assert_eq!(decode(&f), Ok(Some((msg, f.len()))));
        let msg = Message::Welcome(Welcome {
            version,
            ..welcome()
        });
        let mut f = Vec::new();
        encode(&msg, &mut f);
        assert_eq!(decode(&f), Ok(Some((msg, f.len()))));
    }
}

#[test]
fn other_versions_with_another_layout_are_a_version_error() {
    // Version 3 with a field more: no parse error, a version error.
    let mut p = payload(&Message::Hello(Hello {
        version: 3,
        ..hello()
    }));
    p.extend_from_slice(&[0, 0, 0, 1]);
    let e = err(&frame(0x01, &p));
    assert_eq!(
        e,
        WireError::UnsupportedVersion {
            msg: "hello",
            version: 3
        }
    );
    assert_eq!(e.code(), ErrorCode::BadVersion);
    assert_eq!(
        e.to_string(),
        "hello of protocol version 3 not supported, this side speaks 2"
    );

    // Just magic and version.
    let mut p = MAGIC.to_vec();
    p.extend_from_slice(&9u16.to_be_bytes());
    assert_eq!(
        err(&frame(0x02, &p)),
        WireError::UnsupportedVersion {
            msg: "welcome",
            version: 9
        }
    );

    // Our own version with the same defect stays a plain parse error.
    let mut p = payload(&Message::Hello(hello()));
    p.extend_from_slice(&[0, 0, 0, 1]);
    assert_eq!(
        err(&frame(0x01, &p)),
        WireError::TrailingBytes {
            msg: "hello",
            extra: 4
        }
    );
}

#[test]
fn non_utf8_strings_are_refused() {
    let mut p = MAGIC.to_vec();
    p.extend_from_slice(&[0, 2, 0, 2, 0xff, 0xfe]); // version 2, name of 2 bad bytes
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(&[0; primecluster::auth::HELLO_AUTH_LEN]);
    let e = err(&frame(0x01, &p));
    assert_eq!(
        e,
        WireError::BadUtf8 {
            msg: "hello",
            field: "name"
        }
    );
    assert_eq!(e.to_string(), "hello field `name` is not valid UTF-8");
    // A lone continuation byte in an error message.
    assert_eq!(
        err(&frame(0x7e, &[3, 0, 1, 0x80])),
        WireError::BadUtf8 {
            msg: "error",
            field: "message"
        }
    );
}

#[test]
fn overlong_strings_are_refused() {
    let mut p = vec![1, 0x01, 0x01]; // shutdown stopped, message of 257 bytes
    p.extend_from_slice(&[b'a'; 257]);
    let e = err(&frame(0x22, &p));
    assert_eq!(
        e,
        WireError::StringTooLong {
            msg: "shutdown",
            field: "message",
            len: 257
        }
    );
    assert_eq!(
        e.to_string(),
        "shutdown field `message` is 257 bytes long, maximum 256"
    );
    // Refused from the length alone, even if the bytes are not there.
    assert!(matches!(
        err(&frame(0x7e, &[3, 0xff, 0xff])),
        WireError::StringTooLong { .. }
    ));
    // 256 bytes is fine.
    let mut p = vec![1, 0x01, 0x00];
    p.extend_from_slice(&[b'a'; 256]);
    assert!(decode(&frame(0x22, &p)).unwrap().is_some());
}

#[test]
fn start_after_stop_is_refused() {
    let bad = Message::Assign(Assign {
        chunk: 1,
        start: 11,
        stop: 10,
        kernel: 0,
    });
    let mut f = Vec::new();
    encode(&bad, &mut f);
    let e = err(&f);
    assert_eq!(
        e,
        WireError::StartAfterStop {
            msg: "assign",
            start: 11,
            stop: 10
        }
    );
    assert_eq!(e.to_string(), "assign range start 11 exceeds stop 10");

    let bad = Message::Result(ChunkResult {
        start: u128::MAX,
        stop: 0,
        ..result()
    });
    let mut f = Vec::new();
    encode(&bad, &mut f);
    assert_eq!(
        err(&f),
        WireError::StartAfterStop {
            msg: "result",
            start: u128::MAX,
            stop: 0
        }
    );
}

#[test]
fn every_error_has_a_readable_message() {
    let errors = [
        WireError::TooLong { len: 1 << 30 },
        WireError::TooShort { len: 0 },
        WireError::BadCrc {
            stated: 1,
            computed: 2,
        },
        WireError::UnknownType { code: 0 },
        WireError::Truncated {
            msg: "result",
            field: "gaps",
            payload_len: 70,
        },
        WireError::TrailingBytes {
            msg: "hello",
            extra: 1,
        },
        WireError::InvalidValue {
            msg: "welcome",
            field: "mode",
            value: 9,
            expected: "0 or 1",
        },
        WireError::BadUtf8 {
            msg: "hello",
            field: "arch",
        },
        WireError::StringTooLong {
            msg: "hello",
            field: "arch",
            len: 300,
        },
        WireError::StartAfterStop {
            msg: "assign",
            start: 2,
            stop: 1,
        },
        WireError::BadMagic {
            msg: "hello",
            found: *b"HTTP",
        },
        WireError::UnsupportedVersion {
            msg: "welcome",
            version: 3,
        },
    ];
    for e in errors {
        let text = e.to_string();
        assert!(!text.contains("{") && !text.is_empty(), "{text}");
        assert!(
            !text.starts_with(char::is_uppercase) || text.starts_with("CRC"),
            "{text}"
        );
    }
}

#[test]
fn oversize_result_is_refused_by_the_receiver() {
    // A sender that ignores MAX_GAPS_LEN gets a length error, not a panic.
    let big = Message::Result(ChunkResult {
        gaps: vec![1; MAX_GAPS_LEN + 1],
        ..result()
    });
    assert_eq!(big.encoded_len(), LEN_PREFIX + MAX_FRAME_LEN as usize + 1);
    let mut f = Vec::new();
    encode(&big, &mut f);
    assert_eq!(
        err(&f[..4]),
        WireError::TooLong {
            len: MAX_FRAME_LEN + 1
        }
    );
    // One byte less fits exactly.
    let fits = Message::Result(ChunkResult {
        gaps: vec![1; MAX_GAPS_LEN],
        ..result()
    });
    assert_eq!(fits.encoded_len(), LEN_PREFIX + MAX_FRAME_LEN as usize);
}

#[test]
fn an_error_becomes_the_error_frame_that_answers_it() {
    let e = WireError::UnsupportedVersion {
        msg: "hello",
        version: 1,
    };
    assert_eq!(
        e.to_message(),
        Message::Error {
            code: ErrorCode::BadVersion,
            message: "hello of protocol version 1 not supported, this side speaks 2".into(),
        }
    );
    // Every error's text fits an error frame unchanged.
    let e = WireError::BadMagic {
        msg: "welcome",
        found: [0xff; 4],
    };
    let reply = e.to_message();
    let mut f = Vec::new();
    encode(&reply, &mut f);
    assert_eq!(decode(&f), Ok(Some((reply, f.len()))));
}

#[test]
fn a_capped_decode_refuses_a_frame_past_its_cap_from_the_prefix_alone() {
    // The largest hello this version emits fits the early cap, with 256-byte strings.
    let big = Hello {
        name: "n".repeat(MAX_STR_LEN),
        arch: "a".repeat(MAX_STR_LEN),
        ..hello()
    };
    let mut f = Vec::new();
    encode(&Message::Hello(big.clone()), &mut f);
    assert!(
        f.len() - LEN_PREFIX <= MAX_EARLY_FRAME_LEN as usize,
        "{}",
        f.len()
    );
    let (msg, used) = decode_within(&f, MAX_EARLY_FRAME_LEN, "before the hello")
        .unwrap()
        .unwrap();
    assert_eq!((msg, used), (Message::Hello(big), f.len()));
    // One byte over the cap: refused with the state named, before any body arrives.
    let len = MAX_EARLY_FRAME_LEN + 1;
    let e = decode_within(&len.to_be_bytes(), MAX_EARLY_FRAME_LEN, "before the hello").unwrap_err();
    assert_eq!(
        e,
        WireError::OverCap {
            len,
            cap: MAX_EARLY_FRAME_LEN,
            now: "before the hello"
        }
    );
    assert_eq!(
        e.to_string(),
        "frame length 1025 exceeds 1024, the most accepted before the hello"
    );
    // The protocol maximum still wins over a larger cap.
    let e = decode_within(&u32::MAX.to_be_bytes(), u32::MAX, "").unwrap_err();
    assert_eq!(e, WireError::TooLong { len: u32::MAX });
}

#[test]
fn result_bounds_hold_for_a_dense_range() {
    // 0..=2^16-1 is the densest chunk there is: its real gap list fits the bound.
    let width = 1u128 << 16;
    let mut primes = Vec::new();
    let mut sieve = vec![true; width as usize];
    for i in 2..width as usize {
        if sieve[i] {
            primes.push(i as u128);
            for j in (i * i..width as usize).step_by(i) {
                sieve[j] = false;
            }
        }
    }
    let mut e = primecluster::gaps::GapEncoder::new(0);
    for p in primes {
        e.push(p);
    }
    assert!(e.bytes().len() <= max_gaps_len(width));
    assert_eq!(max_gaps_len(u128::MAX), MAX_GAPS_LEN);
    assert_eq!(result_frame_len(0), 1 + 68 + 4);
}

#[test]
fn a_version_1_hello_without_the_auth_block_is_a_version_error() {
    // Version 1's layout: the version-2 hello without its last 34 bytes.
    let mut p = payload(&Message::Hello(Hello {
        version: 1,
        ..hello()
    }));
    p.truncate(p.len() - primecluster::auth::HELLO_AUTH_LEN);
    let e = err(&frame(0x01, &p));
    assert_eq!(
        e,
        WireError::UnsupportedVersion {
            msg: "hello",
            version: 1
        }
    );
    assert_eq!(e.code(), ErrorCode::BadVersion);
}

#[test]
fn a_bad_auth_block_or_handshake_frame_names_the_field() {
    // Version 2 hello cut inside the nonce.
    let mut p = payload(&Message::Hello(hello()));
    p.truncate(p.len() - 1);
    let e = err(&frame(0x01, &p));
    assert!(
        matches!(
            e,
            WireError::Truncated {
                msg: "hello",
                field: "client_nonce",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.code(), ErrorCode::Malformed);
    // A role that does not exist.
    let mut p = payload(&Message::Hello(hello()));
    let at = p.len() - 33;
    p[at] = 7;
    let e = err(&frame(0x01, &p));
    assert!(e.to_string().contains("`role` has invalid value 7"), "{e}");
    // A challenge with method 1 but no nonce, a proof one byte long past its end.
    let e = err(&frame(code::CHALLENGE, &[1, 2, 3]));
    assert!(e.to_string().contains("server_nonce"), "{e}");
    let e = err(&frame(code::PROOF, &[0, 0]));
    assert!(
        matches!(
            e,
            WireError::TrailingBytes {
                msg: "proof",
                extra: 1
            }
        ),
        "{e}"
    );
    let e = err(&frame(code::PROOF, &[9]));
    assert!(e.to_string().contains("`auth` has invalid value 9"), "{e}");
    // An empty challenge.
    let e = err(&frame(code::CHALLENGE, &[]));
    assert!(e.to_string().contains("`auth`"), "{e}");
}

#[test]
fn a_type_past_the_control_frames_is_unknown() {
    assert_eq!(
        err(&frame(0x36, &[])),
        WireError::UnknownType { code: 0x36 }
    );
}
