//! Seeded pseudo-random garbage for `decode`: random bytes, random edits of valid frames
//! (with the CRC sometimes repaired, so the edits reach the payload parser), random
//! lengths. `decode` must never panic, must only claim bytes it was given, and whatever
//! it accepts must encode back to the same bytes (the encoding is canonical).

use primecluster::wire::*;

mod reference;
use reference::Rng;

/// Decodes `buf` and checks what any answer must satisfy.
fn check(buf: &[u8]) {
    match decode(buf) {
        Ok(None) => {
            // Only a short buffer or a frame whose body has not all arrived.
            if let Some(prefix) = buf.get(..4) {
                let len = u32::from_be_bytes(prefix.try_into().unwrap());
                assert!((MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&len));
                assert!(buf.len() < 4 + len as usize);
            }
        }
        Ok(Some((msg, used))) => {
            assert!(used <= buf.len());
            let mut again = Vec::new();
            encode(&msg, &mut again);
            assert_eq!(again, &buf[..used], "{msg}");
            assert!(!msg.to_string().is_empty());
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            let _ = e.code();
        }
    }
}

fn valid_frames() -> Vec<Vec<u8>> {
    let msgs = [
        Message::Hello(Hello {
            version: VERSION,
            name: "fuzz".into(),
            cores: 8,
            threads: 8,
            arch: "x86_64".into(),
            kernels: 7,
            auth: primecluster::auth::HelloAuth {
                auth: primecluster::auth::Method::HmacSha256,
                role: primecluster::auth::Role::Worker,
                client_nonce: [3; 32],
            },
        }),
        Message::Challenge(primecluster::auth::Challenge::Hmac {
            server_nonce: [4; 32],
            server_proof: [5; 32],
        }),
        Message::Proof(primecluster::auth::ClientProof::Hmac {
            client_proof: [6; 32],
        }),
        Message::Welcome(Welcome {
            version: VERSION,
            worker_id: 1,
            mode: Mode::Count,
            kernel: 2,
            heartbeat_ms: 250,
            threads: 3,
        }),
        Message::Assign(Assign {
            chunk: 4,
            start: 1 << 70,
            stop: (1 << 70) + 99,
            kernel: 0,
        }),
        Message::Result(ChunkResult {
            chunk: 4,
            start: 0,
            stop: 30,
            count: 10,
            digest: 0xdead_beef,
            compute_us: 3,
            gaps: vec![2, 0, 1, 1, 2, 1, 2, 1, 2, 3],
        }),
        Message::Heartbeat {
            threads: 2,
            busy: 2,
        },
        Message::SetThreads { threads: 6 },
        Message::Cancel { chunk: 12 },
        Message::Shutdown {
            reason: ShutdownReason::Stopped,
            message: "stop".into(),
        },
        Message::Error {
            code: ErrorCode::BadResult,
            message: "count".into(),
        },
    ];
    msgs.iter()
        .map(|m| {
            let mut f = Vec::new();
            encode(m, &mut f);
            f
        })
        .collect()
}

/// Rewrites the length and CRC of a (possibly edited) frame so that it gets past both.
fn repair(f: &mut [u8]) {
    if f.len() < 9 {
        return;
    }
    let len = (f.len() - 4) as u32;
    f[..4].copy_from_slice(&len.to_be_bytes());
    let end = f.len() - 4;
    let crc = crc32fast::hash(&f[4..end]);
    f[end..].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::xorshift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let n = rng.index(80);
        let mut buf: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
        // Half the time, a plausible small length so the body is reached.
        if n >= 4 && rng.index(2) == 0 {
            let len = 5 + rng.index(n - 3) as u32;
            buf[..4].copy_from_slice(&len.to_be_bytes());
        }
        check(&buf);
        // And with length and CRC made right: straight to the payload parser.
        if n >= 9 {
            repair(&mut buf);
            check(&buf);
        }
    }
}

#[test]
fn mutated_frames_never_panic() {
    let frames = valid_frames();
    let mut rng = Rng::xorshift(0x0123_4567_89ab_cdef);
    for _ in 0..30_000 {
        let mut f = frames[rng.index(frames.len())].clone();
        for _ in 0..1 + rng.index(4) {
            match rng.index(5) {
                0 => {
                    let i = rng.index(f.len());
                    f[i] = rng.byte();
                }
                1 => {
                    let i = rng.index(f.len());
                    f[i] ^= 1 << rng.index(8);
                }
                2 => {
                    let i = rng.index(f.len() + 1);
                    f.insert(i, rng.byte());
                }
                3 if f.len() > 1 => {
                    let i = rng.index(f.len());
                    f.remove(i);
                }
                _ => f.truncate(rng.index(f.len() + 1)),
            }
            if f.is_empty() {
                break;
            }
        }
        check(&f);
        if rng.index(4) != 0 {
            repair(&mut f);
            check(&f);
        }
    }
}

#[test]
fn random_cuts_of_a_stream_never_misparse() {
    // A stream of valid frames fed in random pieces decodes to the same messages.
    let frames = valid_frames();
    let mut rng = Rng::xorshift(42);
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..500 {
        let f = &frames[rng.index(frames.len())];
        stream.extend_from_slice(f);
        expected.push(decode(f).unwrap().unwrap().0);
    }
    let mut buf = Vec::new();
    let mut got = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let n = (1 + rng.index(64)).min(stream.len() - pos);
        buf.extend_from_slice(&stream[pos..pos + n]);
        pos += n;
        while let Some((msg, used)) = decode(&buf).unwrap() {
            got.push(msg);
            buf.drain(..used);
        }
    }
    assert!(buf.is_empty());
    assert_eq!(got, expected);
}
