//! The handshake state machines of `auth`, driven with fixed nonces: both sides with the
//! same token succeed; a missing or wrong token on either side, a replayed proof, a
//! swapped role or name, and steps out of order are refused with a readable reason.
//! Also (ignored by default) the CPU cost of a handshake on each side.

use primecluster::auth::{
    client_proof, fresh_nonce, AuthError, Challenge, ClientHandshake, ClientProof, HelloAuth,
    Method, Role, ServerHandshake, Token,
};
use std::time::Instant;

const SECRET: &[u8] = b"correct horse battery staple, 32+";
const OTHER: &[u8] = b"a different secret of some length";

fn token(secret: &[u8]) -> Token {
    Token::from_secret(secret, "test token").unwrap()
}

fn nonce(fill: u8) -> [u8; 32] {
    let mut n = [0; 32];
    for (i, b) in n.iter_mut().enumerate() {
        *b = fill.wrapping_add(i as u8);
    }
    n
}

/// Runs a whole handshake; the client's and the master's outcome.
fn handshake(
    client_token: Option<&Token>,
    master_token: Option<&Token>,
    role: Role,
    name: &str,
) -> Result<Role, (&'static str, AuthError)> {
    let mut client = ClientHandshake::new(client_token, nonce(1), role, name);
    let mut master = ServerHandshake::new(master_token, nonce(100));
    let challenge = master
        .on_hello(&client.hello_auth(), client.name())
        .map_err(|e| ("master", e))?;
    let proof = client.on_challenge(&challenge).map_err(|e| ("client", e))?;
    master.on_proof(&proof).map_err(|e| ("master", e))
}

#[test]
fn same_token_both_sides_succeeds_for_each_role() {
    let t = token(SECRET);
    assert_eq!(
        handshake(Some(&t), Some(&t), Role::Worker, "pi3"),
        Ok(Role::Worker)
    );
    assert_eq!(
        handshake(Some(&t), Some(&t), Role::Control, "ops"),
        Ok(Role::Control)
    );
    // Two Token values from the same secret are the same key.
    assert_eq!(
        handshake(Some(&t), Some(&token(SECRET)), Role::Worker, ""),
        Ok(Role::Worker)
    );
}

#[test]
fn no_token_on_either_side_is_the_no_auth_conversation() {
    let mut client = ClientHandshake::new(None, nonce(1), Role::Worker, "w");
    assert_eq!(client.hello_auth().auth, Method::None);
    let mut master = ServerHandshake::new(None, nonce(2));
    assert_eq!(master.method(), Method::None);
    let challenge = master.on_hello(&client.hello_auth(), "w").unwrap();
    assert_eq!(challenge, Challenge::NoAuth);
    let proof = client.on_challenge(&challenge).unwrap();
    assert_eq!(proof, ClientProof::NoAuth);
    assert_eq!(master.on_proof(&proof), Ok(Role::Worker));
}

#[test]
fn wrong_token_is_caught_by_the_client_first() {
    // The client checks the master's proof before proving anything itself.
    let r = handshake(Some(&token(OTHER)), Some(&token(SECRET)), Role::Worker, "w");
    let (side, err) = r.unwrap_err();
    assert_eq!((side, &err), ("client", &AuthError::BadMasterProof));
    let msg = err.to_string();
    assert!(msg.contains("master's proof does not match"), "{msg}");
    assert!(msg.contains("--token-file"), "{msg}");
}

#[test]
fn wrong_client_proof_is_refused_by_the_master() {
    // A client that skips verifying the master and proves with another token.
    let master_token = token(SECRET);
    let mut master = ServerHandshake::new(Some(&master_token), nonce(100));
    let hello = HelloAuth {
        auth: Method::HmacSha256,
        role: Role::Worker,
        client_nonce: nonce(1),
    };
    let Challenge::Hmac { server_nonce, .. } = master.on_hello(&hello, "liar").unwrap() else {
        panic!("a master with a token must send an HMAC challenge");
    };
    let forged = client_proof(
        &token(OTHER),
        &nonce(1),
        &server_nonce,
        Role::Worker,
        "liar",
    );
    let err = master
        .on_proof(&ClientProof::Hmac {
            client_proof: forged,
        })
        .unwrap_err();
    assert_eq!(
        err,
        AuthError::BadClientProof {
            role: Role::Worker,
            name: "liar".into()
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("\"liar\"") && msg.contains("--token-file"),
        "{msg}"
    );
    // And the same with the right token passes, so the refusal was the token's doing.
    let mut master = ServerHandshake::new(Some(&master_token), nonce(100));
    master.on_hello(&hello, "liar").unwrap();
    let good = client_proof(
        &master_token,
        &nonce(1),
        &server_nonce,
        Role::Worker,
        "liar",
    );
    assert_eq!(
        master.on_proof(&ClientProof::Hmac { client_proof: good }),
        Ok(Role::Worker)
    );
}

#[test]
fn master_with_token_refuses_client_without() {
    let (side, err) = handshake(None, Some(&token(SECRET)), Role::Worker, "pi1").unwrap_err();
    assert_eq!(side, "master");
    assert_eq!(
        err,
        AuthError::ClientHasNoToken {
            role: Role::Worker,
            name: "pi1".into()
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("\"pi1\"") && msg.contains("--token-file"),
        "{msg}"
    );
}

#[test]
fn client_with_token_refuses_master_without() {
    // Else anyone could pose as the master by simply not offering authentication.
    let (side, err) = handshake(Some(&token(SECRET)), None, Role::Worker, "w").unwrap_err();
    assert_eq!((side, &err), ("client", &AuthError::MasterOffersNoAuth));
    assert!(err.to_string().contains("--token-file"), "{err}");
}

#[test]
fn client_without_token_refuses_an_hmac_challenge() {
    // A master that sends a challenge anyway (a conforming one refuses at the hello).
    let mut client = ClientHandshake::new(None, nonce(1), Role::Worker, "w");
    let challenge = Challenge::Hmac {
        server_nonce: nonce(2),
        server_proof: [7; 32],
    };
    let err = client.on_challenge(&challenge).unwrap_err();
    assert_eq!(err, AuthError::MasterRequiresToken);
    assert!(err.to_string().contains("--token-file"), "{err}");
}

#[test]
fn proofs_of_the_wrong_method_are_refused() {
    let t = token(SECRET);
    let hello = HelloAuth {
        auth: Method::HmacSha256,
        role: Role::Worker,
        client_nonce: nonce(1),
    };
    // Master with a token, client answers "no auth" after all.
    let mut master = ServerHandshake::new(Some(&t), nonce(3));
    master.on_hello(&hello, "w").unwrap();
    let err = master.on_proof(&ClientProof::NoAuth).unwrap_err();
    assert!(matches!(err, AuthError::MethodMismatch { .. }), "{err:?}");
    // Master without a token, client sends an HMAC proof anyway.
    let mut master = ServerHandshake::new(None, nonce(3));
    master.on_hello(&hello, "w").unwrap();
    let err = master
        .on_proof(&ClientProof::Hmac {
            client_proof: [0; 32],
        })
        .unwrap_err();
    assert!(matches!(err, AuthError::MethodMismatch { .. }), "{err:?}");
}

#[test]
fn replayed_client_proof_fails_against_a_new_server_nonce() {
    let t = token(SECRET);
    // A recorded, successful conversation.
    let mut client = ClientHandshake::new(Some(&t), nonce(1), Role::Worker, "w");
    let mut master = ServerHandshake::new(Some(&t), nonce(100));
    let challenge = master.on_hello(&client.hello_auth(), "w").unwrap();
    let recorded_proof = client.on_challenge(&challenge).unwrap();
    assert_eq!(master.on_proof(&recorded_proof), Ok(Role::Worker));
    // The eavesdropper replays hello and proof to the master, which draws a new nonce.
    let mut master = ServerHandshake::new(Some(&t), nonce(101));
    master.on_hello(&client.hello_auth(), "w").unwrap();
    assert_eq!(
        master.on_proof(&recorded_proof),
        Err(AuthError::BadClientProof {
            role: Role::Worker,
            name: "w".into()
        })
    );
}

#[test]
fn replayed_challenge_fails_against_a_new_client_nonce() {
    // A fake master replays a recorded challenge to a worker on its next connection.
    let t = token(SECRET);
    let client = ClientHandshake::new(Some(&t), nonce(1), Role::Worker, "w");
    let mut master = ServerHandshake::new(Some(&t), nonce(100));
    let recorded = master.on_hello(&client.hello_auth(), "w").unwrap();
    let mut next = ClientHandshake::new(Some(&t), nonce(2), Role::Worker, "w");
    assert_eq!(next.on_challenge(&recorded), Err(AuthError::BadMasterProof));
}

#[test]
fn swapped_role_or_name_breaks_the_proofs() {
    let t = token(SECRET);
    // An on-path attacker changes the role (control -> worker) or the name in the hello
    // the master sees: the master's proof no longer matches what the client sent.
    for (role, name) in [(Role::Worker, "ops"), (Role::Control, "other")] {
        let mut client = ClientHandshake::new(Some(&t), nonce(1), Role::Control, "ops");
        let mut master = ServerHandshake::new(Some(&t), nonce(100));
        let mut hello = client.hello_auth();
        hello.role = role;
        let challenge = master.on_hello(&hello, name).unwrap();
        assert_eq!(
            client.on_challenge(&challenge),
            Err(AuthError::BadMasterProof),
            "{role} {name}"
        );
        // And a client proof made for the true role and name fails at a master that was
        // told otherwise.
        let Challenge::Hmac { server_nonce, .. } = challenge else {
            panic!("HMAC challenge expected");
        };
        let proof = client_proof(&t, &nonce(1), &server_nonce, Role::Control, "ops");
        assert!(matches!(
            master.on_proof(&ClientProof::Hmac {
                client_proof: proof
            }),
            Err(AuthError::BadClientProof { .. })
        ));
    }
}

#[test]
fn a_name_longer_than_the_wire_allows_is_bound_as_sent() {
    // The wire cuts names at 256 bytes (at a character boundary); both sides MAC the cut.
    let t = token(SECRET);
    let long = "é".repeat(200); // 400 bytes
    let client = ClientHandshake::new(Some(&t), nonce(1), Role::Worker, &long);
    assert_eq!(client.name().len(), 256);
    assert_eq!(
        handshake(Some(&t), Some(&t), Role::Worker, &long),
        Ok(Role::Worker)
    );
}

#[test]
fn steps_out_of_order_or_twice_are_refused() {
    let t = token(SECRET);
    let mut master = ServerHandshake::new(Some(&t), nonce(100));
    let early = master.on_proof(&ClientProof::Hmac {
        client_proof: [0; 32],
    });
    assert!(
        matches!(early, Err(AuthError::OutOfOrder { .. })),
        "{early:?}"
    );
    // A proof before the hello does not spoil the handshake itself.
    let mut client = ClientHandshake::new(Some(&t), nonce(1), Role::Worker, "w");
    let challenge = master.on_hello(&client.hello_auth(), "w").unwrap();
    assert!(matches!(
        master.on_hello(&client.hello_auth(), "w"),
        Err(AuthError::OutOfOrder { .. })
    ));
    let proof = client.on_challenge(&challenge).unwrap();
    assert!(matches!(
        client.on_challenge(&challenge),
        Err(AuthError::OutOfOrder { .. })
    ));
    assert_eq!(master.on_proof(&proof), Ok(Role::Worker));
    let again = master.on_proof(&proof).unwrap_err();
    assert!(matches!(again, AuthError::OutOfOrder { .. }), "{again:?}");
    assert!(again.to_string().contains("already done"), "{again}");
}

#[test]
fn a_failed_handshake_stays_failed() {
    // One wrong proof ends the handshake: no second guess on the same server nonce.
    let t = token(SECRET);
    let mut client = ClientHandshake::new(Some(&t), nonce(1), Role::Worker, "w");
    let mut master = ServerHandshake::new(Some(&t), nonce(100));
    let challenge = master.on_hello(&client.hello_auth(), "w").unwrap();
    let good = client.on_challenge(&challenge).unwrap();
    assert!(master
        .on_proof(&ClientProof::Hmac {
            client_proof: [0; 32]
        })
        .is_err());
    let err = master.on_proof(&good).unwrap_err();
    assert!(err.to_string().contains("already failed"), "{err}");
    // Same on the client: a bad challenge, then the good one, is still refused.
    let mut client = ClientHandshake::new(Some(&t), nonce(1), Role::Worker, "w");
    let bad = Challenge::Hmac {
        server_nonce: nonce(100),
        server_proof: [0; 32],
    };
    assert_eq!(client.on_challenge(&bad), Err(AuthError::BadMasterProof));
    assert!(matches!(
        client.on_challenge(&challenge),
        Err(AuthError::OutOfOrder { .. })
    ));
}

/// CPU cost of the handshake, each side apart. Run with
/// `cargo test --test auth_handshake -- --ignored --nocapture`.
#[test]
#[ignore]
fn handshake_cpu_cost() {
    const N: u32 = 10_000;
    let t = token(b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    let (mut client_ns, mut master_ns) = (0u128, 0u128);
    for i in 0..N {
        let mut client_nonce = nonce(1);
        client_nonce[..4].copy_from_slice(&i.to_be_bytes());
        let t0 = Instant::now();
        let mut master = ServerHandshake::new(Some(&t), nonce(9));
        let mut client = ClientHandshake::new(Some(&t), client_nonce, Role::Worker, "bench");
        let hello = client.hello_auth();
        let t1 = Instant::now();
        let challenge = master.on_hello(&hello, "bench").unwrap();
        let t2 = Instant::now();
        let proof = client.on_challenge(&challenge).unwrap();
        let t3 = Instant::now();
        master.on_proof(&proof).unwrap();
        let t4 = Instant::now();
        master_ns += (t2 - t1).as_nanos() + (t4 - t3).as_nanos();
        client_ns += (t1 - t0).as_nanos() + (t3 - t2).as_nanos();
    }
    let t0 = Instant::now();
    for _ in 0..N {
        std::hint::black_box(fresh_nonce().unwrap());
    }
    let nonce_ns = t0.elapsed().as_nanos();
    let per = |ns: u128| ns as f64 / f64::from(N) / 1000.0;
    println!(
        "handshake CPU over {N} runs: master {:.2} us, client {:.2} us per handshake, \
         plus {:.2} us per side to draw its nonce from the OS",
        per(master_ns),
        per(client_ns),
        per(nonce_ns)
    );
}
