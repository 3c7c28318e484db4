//! The handshake payloads of `auth`: golden bytes, emit/parse round trips, truncated and
//! oversized payloads and bad values refused with errors naming the field, and a fuzz
//! loop of random bytes into every parser (no panic, and whatever parses re-emits as
//! the same bytes).

use primecluster::auth::{
    AuthError, Challenge, ClientProof, HelloAuth, Method, Role, HELLO_AUTH_LEN,
};

fn emit_hello(h: &HelloAuth) -> Vec<u8> {
    let mut out = Vec::new();
    h.emit(&mut out);
    out
}

fn emit_challenge(c: &Challenge) -> Vec<u8> {
    let mut out = Vec::new();
    c.emit(&mut out);
    out
}

fn emit_proof(p: &ClientProof) -> Vec<u8> {
    let mut out = Vec::new();
    p.emit(&mut out);
    out
}

fn seq(from: u8) -> [u8; 32] {
    std::array::from_fn(|i| from.wrapping_add(i as u8))
}

#[test]
fn golden_bytes() {
    let hello = HelloAuth {
        auth: Method::HmacSha256,
        role: Role::Control,
        client_nonce: seq(0),
    };
    let mut want = vec![0x01, 0x01];
    want.extend(0..32u8);
    assert_eq!(emit_hello(&hello), want);
    assert_eq!(want.len(), HELLO_AUTH_LEN);

    let challenge = Challenge::Hmac {
        server_nonce: seq(0x40),
        server_proof: seq(0x80),
    };
    let mut want = vec![0x01];
    want.extend(0x40..0x60u8);
    want.extend(0x80..0xa0u8);
    assert_eq!(emit_challenge(&challenge), want);
    assert_eq!(emit_challenge(&Challenge::NoAuth), [0x00]);

    let proof = ClientProof::Hmac {
        client_proof: seq(0xc0),
    };
    let mut want = vec![0x01];
    want.extend(0xc0..0xe0u8);
    assert_eq!(emit_proof(&proof), want);
    assert_eq!(emit_proof(&ClientProof::NoAuth), [0x00]);
}

#[test]
fn round_trips() {
    for auth in [Method::None, Method::HmacSha256] {
        for role in [Role::Worker, Role::Control] {
            let h = HelloAuth {
                auth,
                role,
                client_nonce: seq(7),
            };
            assert_eq!(HelloAuth::parse(&emit_hello(&h)), Ok(h));
        }
    }
    for c in [
        Challenge::NoAuth,
        Challenge::Hmac {
            server_nonce: seq(1),
            server_proof: seq(2),
        },
    ] {
        assert_eq!(Challenge::parse(&emit_challenge(&c)), Ok(c));
    }
    for p in [
        ClientProof::NoAuth,
        ClientProof::Hmac {
            client_proof: seq(3),
        },
    ] {
        assert_eq!(ClientProof::parse(&emit_proof(&p)), Ok(p));
    }
}

#[test]
fn every_truncation_is_refused_naming_the_field() {
    let hello = emit_hello(&HelloAuth {
        auth: Method::HmacSha256,
        role: Role::Worker,
        client_nonce: seq(9),
    });
    for n in 0..hello.len() {
        let err = HelloAuth::parse(&hello[..n]).unwrap_err();
        let field = match n {
            0 => "auth",
            1 => "role",
            _ => "client_nonce",
        };
        assert_eq!(
            err,
            AuthError::Truncated {
                msg: "hello",
                field,
                payload_len: n
            }
        );
        assert!(err.to_string().contains(field), "{err}");
    }
    let challenge = emit_challenge(&Challenge::Hmac {
        server_nonce: seq(1),
        server_proof: seq(2),
    });
    for n in 0..challenge.len() {
        let field = match n {
            0 => "auth",
            1..=32 => "server_nonce",
            _ => "server_proof",
        };
        assert_eq!(
            Challenge::parse(&challenge[..n]),
            Err(AuthError::Truncated {
                msg: "challenge",
                field,
                payload_len: n
            })
        );
    }
    let proof = emit_proof(&ClientProof::Hmac {
        client_proof: seq(3),
    });
    for n in 0..proof.len() {
        let field = if n == 0 { "auth" } else { "client_proof" };
        assert_eq!(
            ClientProof::parse(&proof[..n]),
            Err(AuthError::Truncated {
                msg: "proof",
                field,
                payload_len: n
            })
        );
    }
}

#[test]
fn oversized_payloads_are_refused() {
    let mut hello = emit_hello(&HelloAuth {
        auth: Method::None,
        role: Role::Worker,
        client_nonce: seq(0),
    });
    hello.push(0);
    assert_eq!(
        HelloAuth::parse(&hello),
        Err(AuthError::TrailingBytes {
            msg: "hello",
            extra: 1
        })
    );
    // A "no auth" challenge or proof is exactly one byte: a nonce after it is refused.
    let mut no_auth = vec![0u8];
    no_auth.extend(seq(0));
    assert_eq!(
        Challenge::parse(&no_auth),
        Err(AuthError::TrailingBytes {
            msg: "challenge",
            extra: 32
        })
    );
    assert_eq!(
        ClientProof::parse(&no_auth),
        Err(AuthError::TrailingBytes {
            msg: "proof",
            extra: 32
        })
    );
    let big = vec![1u8; 1 << 20];
    assert!(matches!(
        Challenge::parse(&big),
        Err(AuthError::TrailingBytes { .. })
    ));
    assert!(matches!(
        ClientProof::parse(&big),
        Err(AuthError::TrailingBytes { .. })
    ));
    let err = HelloAuth::parse(&big).unwrap_err();
    assert!(
        err.to_string().contains(&(big.len() - 34).to_string()),
        "{err}"
    );
}

#[test]
fn bad_values_are_refused_naming_field_and_value() {
    let mut hello = emit_hello(&HelloAuth {
        auth: Method::HmacSha256,
        role: Role::Worker,
        client_nonce: seq(0),
    });
    hello[0] = 2;
    let err = HelloAuth::parse(&hello).unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::InvalidValue {
                field: "auth",
                value: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("`auth`") && err.to_string().contains(" 2 "));
    hello[0] = 1;
    hello[1] = 0xff;
    let err = HelloAuth::parse(&hello).unwrap_err();
    assert!(
        err.to_string().contains("`role`") && err.to_string().contains("255"),
        "{err}"
    );
    assert!(matches!(
        Challenge::parse(&[9]),
        Err(AuthError::InvalidValue {
            msg: "challenge",
            field: "auth",
            value: 9,
            ..
        })
    ));
    assert!(matches!(
        ClientProof::parse(&[0x80]),
        Err(AuthError::InvalidValue {
            msg: "proof",
            field: "auth",
            value: 0x80,
            ..
        })
    ));
}

/// xorshift64*: a fixed-seed generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = (self.next() % (max_len as u64 + 1)) as usize;
        let mut v: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
        // Keep the first byte (the method) often valid, so the loop reaches past it.
        if let Some(first) = v.first_mut() {
            if self.next() % 4 != 0 {
                *first %= 2;
            }
        }
        if v.len() > 1 && self.next() % 4 != 0 {
            v[1] %= 2;
        }
        v
    }
}

#[test]
fn fuzz_random_bytes_into_every_parser() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed = [0usize; 3];
    for _ in 0..200_000 {
        let bytes = rng.bytes(80);
        if let Ok(h) = HelloAuth::parse(&bytes) {
            assert_eq!(emit_hello(&h), bytes);
            parsed[0] += 1;
        }
        if let Ok(c) = Challenge::parse(&bytes) {
            assert_eq!(emit_challenge(&c), bytes);
            parsed[1] += 1;
        }
        if let Ok(p) = ClientProof::parse(&bytes) {
            assert_eq!(emit_proof(&p), bytes);
            parsed[2] += 1;
        }
        // Every error renders as a message (no panic in Display either).
        for e in [
            HelloAuth::parse(&bytes).err(),
            Challenge::parse(&bytes).err(),
            ClientProof::parse(&bytes).err(),
        ]
        .into_iter()
        .flatten()
        {
            assert!(!e.to_string().is_empty());
        }
    }
    // The loop reached the success paths too, not only the first-byte refusals.
    assert!(parsed.iter().all(|&n| n > 0), "parsed counts {parsed:?}");
}
