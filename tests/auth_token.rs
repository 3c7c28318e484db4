//! Tokens: loading `--token-file` (one trailing newline trimmed, empty / short / long /
//! missing files refused naming the path, a group- or world-readable file warned about),
//! redaction in `Debug` and `Display`, and new tokens from `primecluster token`.

use primecluster::auth::{
    fresh_nonce, new_token_hex, AuthError, ClientHandshake, Role, ServerHandshake, Token,
    MAX_TOKEN_LEN,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_primecluster");
const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// A fresh folder for this test under the target dir.
fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `bytes` to `dir/name` with permissions `mode`.
fn token_file(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Whether `a` and `b` authenticate each other: the same key.
fn same_key(a: &Token, b: &Token) -> bool {
    let mut client = ClientHandshake::new(Some(a), [1; 32], Role::Worker, "w");
    let mut master = ServerHandshake::new(Some(b), [2; 32]);
    let challenge = master.on_hello(&client.hello_auth(), "w").unwrap();
    match client.on_challenge(&challenge) {
        Ok(proof) => master.on_proof(&proof).is_ok(),
        Err(_) => false,
    }
}

fn secret_token() -> Token {
    Token::from_secret(SECRET.as_bytes(), "test").unwrap()
}

#[test]
fn one_trailing_newline_is_trimmed() {
    let dir = scratch("newline");
    for (name, content) in [
        ("plain", SECRET.to_string()),
        ("lf", format!("{SECRET}\n")),
        ("crlf", format!("{SECRET}\r\n")),
    ] {
        let path = token_file(&dir, name, content.as_bytes(), 0o600);
        let loaded = Token::load(&path).unwrap();
        assert_eq!(loaded.warning, None, "{name}");
        assert!(same_key(&loaded.token, &secret_token()), "{name}");
    }
    // Only one: a second newline is part of the secret.
    let path = token_file(&dir, "two", format!("{SECRET}\n\n").as_bytes(), 0o600);
    assert!(!same_key(
        &Token::load(&path).unwrap().token,
        &secret_token()
    ));
    // And the key really depends on the content.
    let path = token_file(&dir, "other", b"0123456789abcdef0123456789abcdeX", 0o600);
    assert!(!same_key(
        &Token::load(&path).unwrap().token,
        &secret_token()
    ));
}

#[test]
fn empty_short_long_and_missing_files_are_refused_naming_the_path() {
    let dir = scratch("refused");
    let empty = token_file(&dir, "empty", b"\n", 0o600);
    let err = Token::load(&empty).unwrap_err();
    assert!(matches!(err, AuthError::TokenEmpty { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&empty.display().to_string()),
        "{err}"
    );

    let short = token_file(&dir, "short", b"fifteen bytes!!\n", 0o600);
    let err = Token::load(&short).unwrap_err();
    assert!(
        matches!(err, AuthError::TokenTooShort { len: 15, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&short.display().to_string()) && msg.contains("16"),
        "{msg}"
    );
    // Exactly 16 bytes is enough.
    let sixteen = token_file(&dir, "sixteen", b"sixteen bytes!!!\n", 0o600);
    assert!(Token::load(&sixteen).is_ok());

    let long = token_file(&dir, "long", &vec![b'a'; MAX_TOKEN_LEN + 1], 0o600);
    let err = Token::load(&long).unwrap_err();
    assert!(matches!(err, AuthError::TokenTooLong { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&long.display().to_string()),
        "{err}"
    );
    let mut at_max = vec![b'a'; MAX_TOKEN_LEN];
    at_max.extend_from_slice(b"\r\n");
    let at_max = token_file(&dir, "at-max", &at_max, 0o600);
    assert!(Token::load(&at_max).is_ok());

    let missing = dir.join("missing");
    let err = Token::load(&missing).unwrap_err();
    assert!(matches!(err, AuthError::TokenRead { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_file_others_can_read_gets_a_warning_naming_chmod_600() {
    let dir = scratch("perm");
    for mode in [0o644, 0o640, 0o604, 0o666] {
        let path = token_file(&dir, &format!("m{mode:o}"), SECRET.as_bytes(), mode);
        let loaded = Token::load(&path).unwrap();
        let warning = loaded
            .warning
            .unwrap_or_else(|| panic!("mode {mode:o}: no warning"));
        assert!(warning.contains(&path.display().to_string()), "{warning}");
        assert!(warning.contains("chmod 600"), "{warning}");
        assert!(warning.contains(&format!("{mode:o}")), "{warning}");
    }
    for mode in [0o600, 0o400, 0o700] {
        let path = token_file(&dir, &format!("p{mode:o}"), SECRET.as_bytes(), mode);
        assert_eq!(Token::load(&path).unwrap().warning, None, "mode {mode:o}");
    }
}

#[test]
fn debug_and_display_never_show_the_secret() {
    let dir = scratch("redact");
    let path = token_file(&dir, "t", SECRET.as_bytes(), 0o644);
    let loaded = Token::load(&path).unwrap();
    for shown in [
        format!("{:?}", loaded.token),
        format!("{}", loaded.token),
        format!("{loaded:?}"),
        format!(
            "{:?}",
            ClientHandshake::new(Some(&loaded.token), [0; 32], Role::Worker, "w")
        ),
        format!("{:?}", ServerHandshake::new(Some(&loaded.token), [0; 32])),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("0123456789"), "{shown}");
    }
}

#[test]
fn short_secrets_are_refused_in_memory_too() {
    assert!(matches!(
        Token::from_secret(b"", "x"),
        Err(AuthError::TokenEmpty { .. })
    ));
    assert!(matches!(
        Token::from_secret(b"123456789012345", "x"),
        Err(AuthError::TokenTooShort { len: 15, .. })
    ));
}

fn is_token_text(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn new_tokens_and_nonces_are_random() {
    let (a, b) = (new_token_hex().unwrap(), new_token_hex().unwrap());
    assert!(is_token_text(&a) && is_token_text(&b), "{a} {b}");
    assert_ne!(a, b);
    assert!(Token::from_secret(a.as_bytes(), "new").is_ok());
    assert_ne!(fresh_nonce().unwrap(), fresh_nonce().unwrap());
}

#[test]
fn token_subcommand_prints_a_new_token() {
    let run = || {
        let o = Command::new(BIN)
            .arg("token")
            .stdin(Stdio::null())
            .output()
            .expect("run primecluster token");
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    let (a, b) = (run(), run());
    let a = a.strip_suffix('\n').expect("one line");
    let b = b.strip_suffix('\n').expect("one line");
    assert!(is_token_text(a) && is_token_text(b), "{a:?} {b:?}");
    assert_ne!(a, b);
    // What it prints, saved to a file, loads as a token.
    let dir = scratch("cli");
    let path = token_file(&dir, "cluster.token", format!("{a}\n").as_bytes(), 0o600);
    assert!(Token::load(&path).is_ok());

    let help = Command::new(BIN)
        .args(["token", "--help"])
        .output()
        .expect("run primecluster token --help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--token-file") && help.contains("chmod 600"),
        "{help}"
    );
}
