//! `docs/PROTOCOL.md` section 11 cannot drift from the code: its test vectors (11.7) are parsed
//! out of the document and every line is recomputed with the reference implementation,
//! the MAC inputs rebuilt from the documented layout and hashed with HMAC-SHA256 directly,
//! and the frames rebuilt with CRC-32; the refusal messages of section 6 must be the
//! ones `AuthError` prints (11.6).

use hmac::{Hmac, Mac};
use primecluster::auth::{
    client_proof, server_proof, Challenge, ClientHandshake, ClientProof, HelloAuth, Role,
    ServerHandshake, Token,
};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::path::Path;

const CHALLENGE_TYPE: u8 = 0x03;
const PROOF_TYPE: u8 = 0x04;
const HELLO_TYPE: u8 = 0x01;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/PROTOCOL.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of the subsection whose heading starts with `heading`, up to the next
/// heading of level 2 or 3.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("PROTOCOL.md has no section {heading:?}"));
    let rest = &doc[start + heading.len()..];
    let end = [rest.find("\n## "), rest.find("\n### ")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {s:?}")))
        .collect()
}

/// The vectors: (header line, field -> bytes), from the first ```text block of section 7.
fn vectors() -> Vec<(String, BTreeMap<String, Vec<u8>>)> {
    let doc = doc();
    let text = section(&doc, "### 11.7. Test vectors");
    let block = text
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("section 11.7 has a ```text block");
    let mut out: Vec<(String, BTreeMap<String, Vec<u8>>)> = Vec::new();
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("vector ") {
            out.push((line.to_owned(), BTreeMap::new()));
            continue;
        }
        let (key, value) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("vector line is not `field = hex`: {line:?}"));
        let (_, fields) = out.last_mut().expect("a `vector N:` line comes first");
        let old = fields.insert(key.trim().to_owned(), unhex(value.trim()));
        assert!(old.is_none(), "field {key} given twice");
    }
    assert!(
        out.len() >= 3,
        "expected at least 3 vectors, found {}",
        out.len()
    );
    out
}

fn frame(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![ty];
    body.extend_from_slice(payload);
    let mut f = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&body);
    f.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    f
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn str_field(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

/// Reads the fields of one vector and records which were checked.
struct Vector<'a> {
    name: &'a str,
    fields: &'a BTreeMap<String, Vec<u8>>,
    checked: Vec<&'static str>,
}

impl Vector<'_> {
    fn get(&mut self, field: &'static str) -> Option<Vec<u8>> {
        let v = self.fields.get(field).cloned();
        if v.is_some() {
            self.checked.push(field);
        }
        v
    }

    fn need(&mut self, field: &'static str) -> Vec<u8> {
        let name = self.name.to_owned();
        self.get(field)
            .unwrap_or_else(|| panic!("{name}: field {field} missing"))
    }

    fn nonce(&mut self, field: &'static str) -> [u8; 32] {
        let v = self.need(field);
        v.try_into()
            .unwrap_or_else(|_| panic!("{}: {field} is not 32 bytes", self.name))
    }

    fn check(&mut self, field: &'static str, computed: &[u8]) {
        if let Some(stated) = self.get(field) {
            assert_eq!(
                hex(&stated),
                hex(computed),
                "{}: `{field}` in PROTOCOL.md 11.7 differs from the code",
                self.name
            );
        }
    }
}

fn hex(b: &[u8]) -> String {
    primecluster::auth::hex(b)
}

fn scratch() -> std::path::PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("auth-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn vectors_match_the_code() {
    for (header, fields) in &vectors() {
        let mut v = Vector {
            name: header,
            fields,
            checked: Vec::new(),
        };
        let role_byte = v.need("role");
        let role = Role::from_u8(role_byte[0]).expect("role 0 or 1");
        let name_bytes = v.need("name");
        let name = String::from_utf8(name_bytes.clone()).expect("UTF-8 name");
        let client_nonce = v.nonce("client_nonce");
        let server_nonce = v
            .get("server_nonce")
            .map_or([0; 32], |n| n.try_into().expect("server_nonce of 32 bytes"));

        // The token, through the real file loader.
        let token = v.get("token_file").map(|bytes| {
            use std::os::unix::fs::PermissionsExt;
            let path = scratch().join(format!("token-{}", role_byte[0]));
            std::fs::write(&path, &bytes).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            let loaded = Token::load(&path).unwrap();
            assert_eq!(loaded.warning, None);
            let key = bytes.strip_suffix(b"\n").unwrap_or(&bytes).to_vec();
            v.check("key", &key);
            (loaded.token, key)
        });

        if let Some((token, key)) = &token {
            // MAC inputs from the documented layout, hashed independently of src/auth.rs.
            let tail = [&role_byte[..], &str_field(&name_bytes)].concat();
            let server_input = [
                &b"primecluster-v2 master"[..],
                &client_nonce,
                &server_nonce,
                &tail,
            ]
            .concat();
            let client_input = [
                &b"primecluster-v2 client"[..],
                &server_nonce,
                &client_nonce,
                &tail,
            ]
            .concat();
            v.check("server_mac_input", &server_input);
            v.check("client_mac_input", &client_input);
            let sp = server_proof(token, &client_nonce, &server_nonce, role, &name);
            let cp = client_proof(token, &client_nonce, &server_nonce, role, &name);
            assert_eq!(hmac(key, &server_input), sp, "{header}: server proof");
            assert_eq!(hmac(key, &client_input), cp, "{header}: client proof");
            v.check("server_proof", &sp);
            v.check("client_proof", &cp);
        }

        // The whole conversation through the state machines.
        let token_ref = token.as_ref().map(|(t, _)| t);
        let mut client = ClientHandshake::new(token_ref, client_nonce, role, &name);
        let mut master = ServerHandshake::new(token_ref, server_nonce);
        let mut hello_auth = Vec::new();
        client.hello_auth().emit(&mut hello_auth);
        v.check("hello_auth", &hello_auth);
        let parsed_hello = HelloAuth::parse(&hello_auth).unwrap();
        let challenge = master.on_hello(&parsed_hello, &name).unwrap();
        let mut challenge_payload = Vec::new();
        challenge.emit(&mut challenge_payload);
        v.check("challenge_payload", &challenge_payload);
        assert_eq!(Challenge::parse(&challenge_payload).unwrap(), challenge);
        let proof = client.on_challenge(&challenge).unwrap();
        let mut proof_payload = Vec::new();
        proof.emit(&mut proof_payload);
        v.check("proof_payload", &proof_payload);
        assert_eq!(ClientProof::parse(&proof_payload).unwrap(), proof);
        assert_eq!(master.on_proof(&proof), Ok(role), "{header}");

        // The full hello payload: the version 1 fields with version 2, then the block.
        if let Some(hello) = v.get("hello_payload") {
            let mut at = 0;
            let mut take = |n: usize| {
                let s = hello[at..at + n].to_vec();
                at += n;
                s
            };
            assert_eq!(take(4), b"PCLU", "{header}: magic");
            assert_eq!(take(2), [0, 2], "{header}: version 2");
            let n = u16::from_be_bytes(take(2).try_into().unwrap()) as usize;
            assert_eq!(take(n), name_bytes, "{header}: hello name");
            take(8); // cores, threads
            let m = u16::from_be_bytes(take(2).try_into().unwrap()) as usize;
            take(m + 4); // arch, kernels
            assert_eq!(hex(&take(hello_auth.len())), hex(&hello_auth), "{header}");
            assert_eq!(at, hello.len(), "{header}: bytes after the auth block");
            v.check("hello_frame", &frame(HELLO_TYPE, &hello));
        }
        v.check(
            "challenge_frame",
            &frame(CHALLENGE_TYPE, &challenge_payload),
        );
        v.check("proof_frame", &frame(PROOF_TYPE, &proof_payload));

        let unchecked: Vec<_> = fields
            .keys()
            .filter(|k| !v.checked.contains(&k.as_str()))
            .collect();
        assert!(
            unchecked.is_empty(),
            "{header}: unknown fields {unchecked:?}"
        );
    }
}

#[test]
fn refusal_messages_are_the_codes() {
    let t = Token::from_secret(b"0123456789abcdef", "t").unwrap();
    let other = Token::from_secret(b"fedcba9876543210", "t").unwrap();
    let hmac_hello = HelloAuth {
        auth: primecluster::auth::Method::HmacSha256,
        role: Role::Worker,
        client_nonce: [1; 32],
    };
    let no_auth_hello = HelloAuth {
        auth: primecluster::auth::Method::None,
        ..hmac_hello.clone()
    };
    let mut produced = Vec::new();
    // master has a token, the client none
    let mut m = ServerHandshake::new(Some(&t), [2; 32]);
    produced.push(m.on_hello(&no_auth_hello, "pi1").unwrap_err());
    // client has a token, the master none
    let mut c = ClientHandshake::new(Some(&t), [1; 32], Role::Worker, "pi1");
    produced.push(c.on_challenge(&Challenge::NoAuth).unwrap_err());
    // client has none, the master wants one
    let mut m = ServerHandshake::new(Some(&t), [2; 32]);
    let challenge = m.on_hello(&hmac_hello, "pi1").unwrap();
    let mut c = ClientHandshake::new(None, [1; 32], Role::Worker, "pi1");
    produced.push(c.on_challenge(&challenge).unwrap_err());
    // wrong token: the client catches the master's proof
    let mut c = ClientHandshake::new(Some(&other), [1; 32], Role::Worker, "pi1");
    produced.push(c.on_challenge(&challenge).unwrap_err());
    // wrong client proof
    produced.push(
        m.on_proof(&ClientProof::Hmac {
            client_proof: [0; 32],
        })
        .unwrap_err(),
    );
    // method mismatch
    let mut m = ServerHandshake::new(Some(&t), [2; 32]);
    m.on_hello(&hmac_hello, "pi1").unwrap();
    produced.push(m.on_proof(&ClientProof::NoAuth).unwrap_err());
    // out of order
    let mut m = ServerHandshake::new(Some(&t), [2; 32]);
    produced.push(m.on_proof(&ClientProof::NoAuth).unwrap_err());
    // bad payloads
    produced.push(Challenge::parse(&[1; 20]).unwrap_err());
    let mut bad_role = vec![1, 7];
    bad_role.extend([0; 32]);
    produced.push(HelloAuth::parse(&bad_role).unwrap_err());
    let produced: Vec<String> = produced.iter().map(ToString::to_string).collect();

    let doc = doc();
    let table = section(&doc, "### 11.6. Refusals");
    let mut documented = 0;
    for row in table.lines().filter(|l| l.starts_with("| ")) {
        let Some(cell) = row.split('|').nth(3) else {
            continue;
        };
        // Messages are in backticks: `...` alone or ``...`` (when they contain a backtick).
        let mut rest = cell.trim();
        while let Some(open) = rest.find('`') {
            let ticks = if rest[open..].starts_with("``") { 2 } else { 1 };
            let delim = &rest[open..open + ticks];
            let body_start = open + ticks;
            let Some(len) = rest[body_start..].find(delim) else {
                break;
            };
            let message = rest[body_start..body_start + len].trim();
            assert!(
                produced.iter().any(|p| p == message),
                "PROTOCOL.md section 11.6 documents a message the code does not produce:\n  \
                 {message}\nproduced:\n  {}",
                produced.join("\n  ")
            );
            documented += 1;
            rest = &rest[body_start + len + ticks..];
        }
    }
    assert!(
        documented >= 9,
        "only {documented} messages found in section 6"
    );
}
