//! Token authentication of protocol version 2: a shared secret (the token) and a mutual
//! HMAC-SHA256 challenge–response on fresh nonces, as pure state machines.
//!
//! `docs/PROTOCOL.md` section 11 specifies the handshake byte by byte, with test vectors that
//! `tests/auth_vectors.rs` checks against this module.
//!
//! # The conversation
//! ```text
//! client (worker or control)                       master
//!   Hello + HelloAuth {auth, role, client_nonce} ->
//!                <- Challenge {auth, server_nonce, server_proof}
//!   (verifies server_proof: never works for a stranger)
//!   Proof {auth, client_proof}                   ->
//!                                                   (verifies client_proof)
//!                <- Welcome (or an Error frame with the AuthError's message)
//! ```
//! `server_proof = HMAC(token, "primecluster-v2 master" | client_nonce | server_nonce |
//! role | name)`, `client_proof = HMAC(token, "primecluster-v2 client" | server_nonce |
//! client_nonce | role | name)`. The token never crosses the wire. Each side's nonce is
//! fresh per connection, so a recorded proof fails against the next connection's nonce
//! (no replay); the two labels differ, so neither side's proof can be reflected as the
//! other's; the role and name are inside both MACs, so they cannot be swapped on the way.
//! Proofs are compared in constant time (`hmac`'s `verify_slice`).
//!
//! Without a token a side offers no authentication (`auth = 0`): a master with a token
//! refuses a client without one, and a client with a token refuses a master without one
//! (else anyone could pose as the master by simply not offering authentication).
//!
//! # Contract
//! - No I/O here except at two clearly separated edges: [`Token::load`] reads the token
//!   file, [`fresh_nonce`] and [`new_token_hex`] draw OS randomness. The handshakes take
//!   their nonces as arguments, so tests drive them with fixed ones.
//! - The payload parsers ([`HelloAuth::parse`], [`Challenge::parse`], [`ClientProof::parse`])
//!   never panic: every read goes through a reader that checks the length first, and
//!   each error names the message, the field and the bad value.
//! - A [`Token`] never prints its secret (`Debug` and `Display` are redacted).
//! - Every refusal is an [`AuthError`] whose message says what to do.
//! - [`check_listen`] is the policy of issue 8: no token means loopback only, unless
//!   `--insecure`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of each nonce and each proof (the HMAC-SHA256 output).
pub const NONCE_LEN: usize = 32;
/// Bytes of a proof: the output of HMAC-SHA256.
pub const PROOF_LEN: usize = 32;
/// Shortest token accepted, in bytes: shorter secrets fall to an offline guess from one
/// observed handshake. `primecluster token` makes 64.
pub const MIN_TOKEN_LEN: usize = 16;
/// Longest token file read, in bytes: a token is a line, not a file to stream (this also
/// keeps `--token-file /dev/zero` from eating memory).
pub const MAX_TOKEN_LEN: usize = 4096;
/// Bytes of the random secret that [`new_token_hex`] prints as hex.
pub const NEW_TOKEN_BYTES: usize = 32;
/// Longest name bound into the MACs, in bytes of UTF-8: the wire's string limit.
pub const MAX_NAME_LEN: usize = 256;
/// Bytes of a [`HelloAuth`] block.
pub const HELLO_AUTH_LEN: usize = 1 + 1 + NONCE_LEN;

/// MAC label of the master's proof.
const MASTER_LABEL: &[u8] = b"primecluster-v2 master";
/// MAC label of the client's proof.
const CLIENT_LABEL: &[u8] = b"primecluster-v2 client";

/// The shared secret, ready to key HMAC-SHA256. Holds the keyed HMAC state rather than
/// the raw bytes, so each proof costs two SHA-256 passes over the message only.
#[derive(Clone)]
pub struct Token {
    mac: HmacSha256,
}

/// A token read from its file, with a warning for the caller to log when the file's
/// permissions let other users read it.
#[derive(Debug, Clone)]
pub struct LoadedToken {
    pub token: Token,
    /// E.g. "token file /etc/pc.token is readable by group or others (mode 644): run
    /// `chmod 600 /etc/pc.token`". `None` when the file is private (or on non-Unix).
    pub warning: Option<String>,
}

impl Token {
    /// A token from its secret bytes; `origin` names where they came from, for errors.
    /// Refuses an empty secret or one shorter than [`MIN_TOKEN_LEN`].
    pub fn from_secret(secret: &[u8], origin: &str) -> Result<Token, AuthError> {
        if secret.is_empty() {
            return Err(AuthError::TokenEmpty {
                origin: origin.to_owned(),
            });
        }
        if secret.len() < MIN_TOKEN_LEN {
            return Err(AuthError::TokenTooShort {
                origin: origin.to_owned(),
                len: secret.len(),
            });
        }
        // HMAC takes keys of any length (RFC 2104 hashes long ones); `InvalidLength`
        // exists only for MACs with fixed key sizes, so this arm is a formality.
        let mac = HmacSha256::new_from_slice(secret).map_err(|_| AuthError::TokenTooShort {
            origin: origin.to_owned(),
            len: secret.len(),
        })?;
        Ok(Token { mac })
    }

    /// Reads the token from `path` (the `--token-file` edge): the file's bytes without
    /// one trailing newline (`\n` or `\r\n`), at least [`MIN_TOKEN_LEN`] and at most
    /// [`MAX_TOKEN_LEN`] of them. A file readable by group or others still loads, with a
    /// warning in [`LoadedToken::warning`].
    pub fn load(path: &Path) -> Result<LoadedToken, AuthError> {
        let origin = format!("token file {}", path.display());
        let io_err = |e: std::io::Error| AuthError::TokenRead {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let file = std::fs::File::open(path).map_err(io_err)?;
        // The permissions of the file actually opened, not of whatever the path names later.
        let warning = permission_warning(path, &file.metadata().map_err(io_err)?);
        let mut secret = Vec::new();
        // Two bytes more for the newline, one more to notice a file that is too long.
        file.take(MAX_TOKEN_LEN as u64 + 3)
            .read_to_end(&mut secret)
            .map_err(io_err)?;
        strip_one_newline(&mut secret);
        if secret.len() > MAX_TOKEN_LEN {
            return Err(AuthError::TokenTooLong { origin });
        }
        let token = Token::from_secret(&secret, &origin)?;
        Ok(LoadedToken { token, warning })
    }

    /// HMAC-SHA256 of the concatenated `parts` under this token.
    fn proof(&self, parts: &[&[u8]]) -> [u8; PROOF_LEN] {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `proof` is the HMAC of `parts`, compared in constant time.
    fn verify(&self, parts: &[&[u8]], proof: &[u8; PROOF_LEN]) -> bool {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(proof).is_ok()
    }
}

/// Redacted: the secret must not reach a log.
impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<secret>)")
    }
}

/// Redacted: the secret must not reach a log.
impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret token>")
    }
}

/// Drops one trailing `\n` (and a `\r` before it): what an editor or `echo` adds.
fn strip_one_newline(secret: &mut Vec<u8>) {
    if secret.last() == Some(&b'\n') {
        secret.pop();
        if secret.last() == Some(&b'\r') {
            secret.pop();
        }
    }
}

#[cfg(unix)]
fn permission_warning(path: &Path, meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then(|| {
        format!(
            "token file {} is readable by group or others (mode {mode:03o}): run `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_path: &Path, _meta: &std::fs::Metadata) -> Option<String> {
    None
}

/// A fresh nonce from the OS's random source (the randomness edge of the handshakes).
pub fn fresh_nonce() -> Result<[u8; NONCE_LEN], AuthError> {
    let mut nonce = [0; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| AuthError::Randomness {
        reason: e.to_string(),
    })?;
    Ok(nonce)
}

/// A new token for `primecluster token`: [`NEW_TOKEN_BYTES`] random bytes from the OS as
/// lower-case hex. The hex text itself is the secret (the file's bytes are the key).
pub fn new_token_hex() -> Result<String, AuthError> {
    let mut secret = [0; NEW_TOKEN_BYTES];
    getrandom::fill(&mut secret).map_err(|e| AuthError::Randomness {
        reason: e.to_string(),
    })?;
    Ok(hex(&secret))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// `name` cut to at most [`MAX_NAME_LEN`] bytes at a character boundary, the same cut
/// the wire's string encoder makes, so both sides MAC the name as it was sent.
pub fn wire_name(name: &str) -> &str {
    let mut end = name.len().min(MAX_NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.get(..end).unwrap_or_default()
}

/// Whether a master may listen on `addr`: without a token only on a loopback address,
/// unless the operator passed `--insecure` (a trusted LAN). Anything else would let
/// whoever reaches the port join the job and write into the output.
pub fn check_listen(addr: &SocketAddr, has_token: bool, insecure: bool) -> Result<(), AuthError> {
    let loopback = match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        // ::1, and ::ffff:127.x.y.z, which reaches the same IPv4 loopback.
        IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    if has_token || insecure || loopback {
        Ok(())
    } else {
        Err(AuthError::InsecureListen { addr: *addr })
    }
}

// ---------------------------------------------------------------------------------------
// Payloads

/// What a client connects as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Computes chunks.
    Worker = 0,
    /// `status`, `threads`, `stop`: never gets work.
    Control = 1,
}

impl Role {
    /// The role with wire value `v`.
    pub fn from_u8(v: u8) -> Option<Role> {
        match v {
            0 => Some(Role::Worker),
            1 => Some(Role::Control),
            _ => None,
        }
    }

    /// Lower-case name for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Control => "control client",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Authentication method a side offers or uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// No token on this side.
    None = 0,
    /// HMAC-SHA256 challenge–response with the token.
    HmacSha256 = 1,
}

impl Method {
    /// The method with wire value `v`.
    pub fn from_u8(v: u8) -> Option<Method> {
        match v {
            0 => Some(Method::None),
            1 => Some(Method::HmacSha256),
            _ => None,
        }
    }

    fn of(token: Option<&Token>) -> Method {
        match token {
            Some(_) => Method::HmacSha256,
            None => Method::None,
        }
    }
}

/// The authentication block that ends a version-2 hello (client -> master), 34 bytes:
/// `auth u8 | role u8 | client_nonce [32]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloAuth {
    /// What the client offers: [`Method::HmacSha256`] when it has a token.
    pub auth: Method,
    pub role: Role,
    /// Fresh per connection (sent even without a token; then unused).
    pub client_nonce: [u8; NONCE_LEN],
}

/// The master's answer to a hello (master -> client): `auth u8`, then with
/// [`Method::HmacSha256`] `server_nonce [32] | server_proof [32]` (65 bytes), with
/// [`Method::None`] nothing more (1 byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// The master has no token.
    NoAuth,
    Hmac {
        server_nonce: [u8; NONCE_LEN],
        server_proof: [u8; PROOF_LEN],
    },
}

/// The client's answer to a challenge (client -> master): `auth u8`, then with
/// [`Method::HmacSha256`] `client_proof [32]` (33 bytes), with [`Method::None`] nothing
/// more (1 byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientProof {
    /// Both sides have no token.
    NoAuth,
    Hmac {
        client_proof: [u8; PROOF_LEN],
    },
}

impl HelloAuth {
    /// Appends the 34-byte block to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.auth as u8);
        out.push(self.role as u8);
        out.extend_from_slice(&self.client_nonce);
    }

    /// Parses exactly one block: `payload` is what follows the hello's last version-1
    /// field, and must end where the block ends.
    pub fn parse(payload: &[u8]) -> Result<HelloAuth, AuthError> {
        let mut r = Reader::new("hello", payload);
        let auth = r.method()?;
        let v = r.u8("role")?;
        let role =
            Role::from_u8(v).ok_or_else(|| r.invalid("role", v, "0 worker or 1 control client"))?;
        let client_nonce = r.array("client_nonce")?;
        r.finish()?;
        Ok(HelloAuth {
            auth,
            role,
            client_nonce,
        })
    }
}

impl Challenge {
    /// Appends the payload (1 or 65 bytes) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Challenge::NoAuth => out.push(Method::None as u8),
            Challenge::Hmac {
                server_nonce,
                server_proof,
            } => {
                out.push(Method::HmacSha256 as u8);
                out.extend_from_slice(server_nonce);
                out.extend_from_slice(server_proof);
            }
        }
    }

    /// Parses a whole challenge payload.
    pub fn parse(payload: &[u8]) -> Result<Challenge, AuthError> {
        let mut r = Reader::new("challenge", payload);
        let challenge = match r.method()? {
            Method::None => Challenge::NoAuth,
            Method::HmacSha256 => Challenge::Hmac {
                server_nonce: r.array("server_nonce")?,
                server_proof: r.array("server_proof")?,
            },
        };
        r.finish()?;
        Ok(challenge)
    }

    /// Which method this challenge uses.
    pub fn method(&self) -> Method {
        match self {
            Challenge::NoAuth => Method::None,
            Challenge::Hmac { .. } => Method::HmacSha256,
        }
    }
}

impl ClientProof {
    /// Appends the payload (1 or 33 bytes) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            ClientProof::NoAuth => out.push(Method::None as u8),
            ClientProof::Hmac { client_proof } => {
                out.push(Method::HmacSha256 as u8);
                out.extend_from_slice(client_proof);
            }
        }
    }

    /// Parses a whole proof payload.
    pub fn parse(payload: &[u8]) -> Result<ClientProof, AuthError> {
        let mut r = Reader::new("proof", payload);
        let proof = match r.method()? {
            Method::None => ClientProof::NoAuth,
            Method::HmacSha256 => ClientProof::Hmac {
                client_proof: r.array("client_proof")?,
            },
        };
        r.finish()?;
        Ok(proof)
    }
}

/// A cursor over one payload whose accessors check the length before reading, so the
/// parsers cannot panic (the reader of `wire.rs`, for these fields).
struct Reader<'a> {
    msg: &'static str,
    rest: &'a [u8],
    payload_len: usize,
}

impl<'a> Reader<'a> {
    fn new(msg: &'static str, payload: &'a [u8]) -> Self {
        Reader {
            msg,
            rest: payload,
            payload_len: payload.len(),
        }
    }

    fn truncated(&self, field: &'static str) -> AuthError {
        AuthError::Truncated {
            msg: self.msg,
            field,
            payload_len: self.payload_len,
        }
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, AuthError> {
        let Some((&v, tail)) = self.rest.split_first() else {
            return Err(self.truncated(field));
        };
        self.rest = tail;
        Ok(v)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], AuthError> {
        let Some((head, tail)) = self.rest.split_first_chunk::<N>() else {
            return Err(self.truncated(field));
        };
        self.rest = tail;
        Ok(*head)
    }

    fn method(&mut self) -> Result<Method, AuthError> {
        let v = self.u8("auth")?;
        Method::from_u8(v).ok_or_else(|| self.invalid("auth", v, "0 none or 1 HMAC-SHA256"))
    }

    fn invalid(&self, field: &'static str, value: u8, expected: &'static str) -> AuthError {
        AuthError::InvalidValue {
            msg: self.msg,
            field,
            value,
            expected,
        }
    }

    fn finish(&self) -> Result<(), AuthError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(AuthError::TrailingBytes {
                msg: self.msg,
                extra: self.rest.len(),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// MAC inputs

/// What both proofs cover after their label: the nonces, the role and the name (as a
/// `str`: `u16` big-endian length, then the bytes, cut like the wire cuts it).
struct Transcript<'a> {
    client_nonce: &'a [u8; NONCE_LEN],
    server_nonce: &'a [u8; NONCE_LEN],
    role: [u8; 1],
    name_len: [u8; 2],
    name: &'a [u8],
}

impl<'a> Transcript<'a> {
    fn new(
        client_nonce: &'a [u8; NONCE_LEN],
        server_nonce: &'a [u8; NONCE_LEN],
        role: Role,
        name: &'a str,
    ) -> Self {
        let name = wire_name(name);
        Transcript {
            client_nonce,
            server_nonce,
            role: [role as u8],
            // wire_name caps the length at 256, so it fits a u16.
            name_len: u16::try_from(name.len()).unwrap_or(u16::MAX).to_be_bytes(),
            name: name.as_bytes(),
        }
    }

    /// `"primecluster-v2 master" | client_nonce | server_nonce | role | name`.
    fn master(&self) -> [&[u8]; 6] {
        [
            MASTER_LABEL,
            self.client_nonce,
            self.server_nonce,
            &self.role,
            &self.name_len,
            self.name,
        ]
    }

    /// `"primecluster-v2 client" | server_nonce | client_nonce | role | name`: the other
    /// label and nonce order, so neither side's proof can pass for the other's.
    fn client(&self) -> [&[u8]; 6] {
        [
            CLIENT_LABEL,
            self.server_nonce,
            self.client_nonce,
            &self.role,
            &self.name_len,
            self.name,
        ]
    }
}

/// `HMAC(token, "primecluster-v2 master" | client_nonce | server_nonce | role | name)`.
pub fn server_proof(
    token: &Token,
    client_nonce: &[u8; NONCE_LEN],
    server_nonce: &[u8; NONCE_LEN],
    role: Role,
    name: &str,
) -> [u8; PROOF_LEN] {
    token.proof(&Transcript::new(client_nonce, server_nonce, role, name).master())
}

/// `HMAC(token, "primecluster-v2 client" | server_nonce | client_nonce | role | name)`.
pub fn client_proof(
    token: &Token,
    client_nonce: &[u8; NONCE_LEN],
    server_nonce: &[u8; NONCE_LEN],
    role: Role,
    name: &str,
) -> [u8; PROOF_LEN] {
    token.proof(&Transcript::new(client_nonce, server_nonce, role, name).client())
}

// ---------------------------------------------------------------------------------------
// State machines

/// The client side (worker or control client) of one connection's handshake.
///
/// Send [`hello_auth`](Self::hello_auth) in the hello, feed the master's challenge to
/// [`on_challenge`](Self::on_challenge) and send the proof it returns; the master's
/// welcome then ends the handshake. Any error: send an Error frame with its message
/// and close. Create a new one, with a fresh nonce, for every connection.
#[derive(Debug)]
pub struct ClientHandshake {
    token: Option<Token>,
    nonce: [u8; NONCE_LEN],
    role: Role,
    name: String,
    state: ClientState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    AwaitingChallenge,
    /// The proof went out; the master's verdict is a welcome or an error frame.
    Proved,
    Failed,
}

impl ClientHandshake {
    /// `nonce` must be fresh ([`fresh_nonce`]); `name` is the hello's name (cut to
    /// [`MAX_NAME_LEN`] bytes like the wire does).
    pub fn new(token: Option<&Token>, nonce: [u8; NONCE_LEN], role: Role, name: &str) -> Self {
        ClientHandshake {
            token: token.cloned(),
            nonce,
            role,
            name: wire_name(name).to_owned(),
            state: ClientState::AwaitingChallenge,
        }
    }

    /// The block to append to the hello.
    pub fn hello_auth(&self) -> HelloAuth {
        HelloAuth {
            auth: Method::of(self.token.as_ref()),
            role: self.role,
            client_nonce: self.nonce,
        }
    }

    /// The name as bound into the MACs (and to be sent in the hello).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the master's challenge and returns the proof to send. Refuses a master
    /// whose proof does not match, a master without a token when this side has one, and
    /// a master that wants a token when this side has none.
    pub fn on_challenge(&mut self, challenge: &Challenge) -> Result<ClientProof, AuthError> {
        if self.state != ClientState::AwaitingChallenge {
            return Err(AuthError::OutOfOrder {
                side: "client",
                got: "challenge",
                state: self.state.name(),
            });
        }
        self.state = ClientState::Failed;
        let proof = match (&self.token, challenge) {
            (None, Challenge::NoAuth) => ClientProof::NoAuth,
            (Some(_), Challenge::NoAuth) => return Err(AuthError::MasterOffersNoAuth),
            (None, Challenge::Hmac { .. }) => return Err(AuthError::MasterRequiresToken),
            (
                Some(token),
                Challenge::Hmac {
                    server_nonce,
                    server_proof,
                },
            ) => {
                // Verify the master first: a stranger gets no proof of ours to study.
                let transcript = Transcript::new(&self.nonce, server_nonce, self.role, &self.name);
                if !token.verify(&transcript.master(), server_proof) {
                    return Err(AuthError::BadMasterProof);
                }
                ClientProof::Hmac {
                    client_proof: token.proof(&transcript.client()),
                }
            }
        };
        self.state = ClientState::Proved;
        Ok(proof)
    }
}

impl ClientState {
    fn name(self) -> &'static str {
        match self {
            ClientState::AwaitingChallenge => "awaiting the challenge",
            ClientState::Proved => "already answered a challenge",
            ClientState::Failed => "already failed",
        }
    }
}

/// The master side of one connection's handshake.
///
/// Feed the hello's auth block and name to [`on_hello`](Self::on_hello) and send the
/// challenge it returns; feed the client's proof to [`on_proof`](Self::on_proof) and
/// welcome the client only when it returns `Ok`. Any error: send an Error frame with its
/// message and close. Create a new one, with a fresh nonce, for every connection: the
/// fresh server nonce is what makes a replayed proof fail.
#[derive(Debug)]
pub struct ServerHandshake {
    token: Option<Token>,
    nonce: [u8; NONCE_LEN],
    state: ServerState,
}

#[derive(Debug)]
enum ServerState {
    AwaitingHello,
    AwaitingProof {
        role: Role,
        name: String,
        client_nonce: [u8; NONCE_LEN],
    },
    Done,
    Failed,
}

impl ServerHandshake {
    /// `nonce` must be fresh ([`fresh_nonce`]).
    pub fn new(token: Option<&Token>, nonce: [u8; NONCE_LEN]) -> Self {
        ServerHandshake {
            token: token.cloned(),
            nonce,
            state: ServerState::AwaitingHello,
        }
    }

    /// The challenge answering a hello whose auth block is `hello` and whose name is
    /// `name`. Refuses a client without a token when this master has one.
    pub fn on_hello(&mut self, hello: &HelloAuth, name: &str) -> Result<Challenge, AuthError> {
        if !matches!(self.state, ServerState::AwaitingHello) {
            return Err(self.out_of_order("hello"));
        }
        let name = wire_name(name);
        let challenge = match (&self.token, hello.auth) {
            (None, _) => Challenge::NoAuth,
            (Some(_), Method::None) => {
                self.state = ServerState::Failed;
                return Err(AuthError::ClientHasNoToken {
                    role: hello.role,
                    name: name.to_owned(),
                });
            }
            (Some(token), Method::HmacSha256) => Challenge::Hmac {
                server_nonce: self.nonce,
                server_proof: server_proof(
                    token,
                    &hello.client_nonce,
                    &self.nonce,
                    hello.role,
                    name,
                ),
            },
        };
        self.state = ServerState::AwaitingProof {
            role: hello.role,
            name: name.to_owned(),
            client_nonce: hello.client_nonce,
        };
        Ok(challenge)
    }

    /// Checks the client's proof; `Ok` with the role the client authenticated as, after
    /// which the master may welcome it. One proof per handshake: a second call fails.
    pub fn on_proof(&mut self, proof: &ClientProof) -> Result<Role, AuthError> {
        let state = std::mem::replace(&mut self.state, ServerState::Failed);
        let ServerState::AwaitingProof {
            role,
            name,
            client_nonce,
        } = state
        else {
            self.state = state;
            return Err(self.out_of_order("proof"));
        };
        match (&self.token, proof) {
            (None, ClientProof::NoAuth) => {}
            (None, ClientProof::Hmac { .. }) => {
                return Err(AuthError::MethodMismatch {
                    msg: "proof",
                    offered: Method::None,
                    got: Method::HmacSha256,
                })
            }
            (Some(_), ClientProof::NoAuth) => {
                return Err(AuthError::MethodMismatch {
                    msg: "proof",
                    offered: Method::HmacSha256,
                    got: Method::None,
                })
            }
            (Some(token), ClientProof::Hmac { client_proof }) => {
                let transcript = Transcript::new(&client_nonce, &self.nonce, role, &name);
                if !token.verify(&transcript.client(), client_proof) {
                    return Err(AuthError::BadClientProof { role, name });
                }
            }
        }
        self.state = ServerState::Done;
        Ok(role)
    }

    /// What the master offers to clients ([`Method::None`] without a token).
    pub fn method(&self) -> Method {
        Method::of(self.token.as_ref())
    }

    fn out_of_order(&self, got: &'static str) -> AuthError {
        AuthError::OutOfOrder {
            side: "master",
            got,
            state: match self.state {
                ServerState::AwaitingHello => "awaiting the hello",
                ServerState::AwaitingProof { .. } => "awaiting the proof",
                ServerState::Done => "already done",
                ServerState::Failed => "already failed",
            },
        }
    }
}

// ---------------------------------------------------------------------------------------
// Errors

/// Why a token could not be used or a handshake was refused. Each message names the bad
/// value and says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The token file could not be opened or read.
    TokenRead { path: String, reason: String },
    /// The token (file) holds nothing but a newline.
    TokenEmpty { origin: String },
    /// The token is shorter than [`MIN_TOKEN_LEN`].
    TokenTooShort { origin: String, len: usize },
    /// The token file is longer than [`MAX_TOKEN_LEN`].
    TokenTooLong { origin: String },
    /// The OS random source failed.
    Randomness { reason: String },
    /// A master without a token asked to listen on a non-loopback address.
    InsecureListen { addr: SocketAddr },
    /// Client side: this side has a token but the master offers no authentication.
    MasterOffersNoAuth,
    /// Client side: the master wants a token and this side has none.
    MasterRequiresToken,
    /// Client side: the master's proof does not match this side's token.
    BadMasterProof,
    /// Master side: a client without a token, and this master has one.
    ClientHasNoToken { role: Role, name: String },
    /// Master side: the client's proof does not match this master's token.
    BadClientProof { role: Role, name: String },
    /// A `msg` payload uses method `got` where `offered` was agreed on.
    MethodMismatch {
        msg: &'static str,
        offered: Method,
        got: Method,
    },
    /// A message arrived in the wrong step of the handshake.
    OutOfOrder {
        side: &'static str,
        got: &'static str,
        state: &'static str,
    },
    /// The payload of a `msg` ends inside field `field`.
    Truncated {
        msg: &'static str,
        field: &'static str,
        payload_len: usize,
    },
    /// The payload of a `msg` goes on `extra` bytes past its last field.
    TrailingBytes { msg: &'static str, extra: usize },
    /// A field holds a value outside its range.
    InvalidValue {
        msg: &'static str,
        field: &'static str,
        value: u8,
        expected: &'static str,
    },
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::None => "no authentication",
            Method::HmacSha256 => "HMAC-SHA256",
        })
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::TokenRead { path, reason } => {
                write!(f, "cannot read token file {path}: {reason}")
            }
            AuthError::TokenEmpty { origin } => write!(
                f,
                "{origin} is empty: put a token in it (make one with `primecluster token`)"
            ),
            AuthError::TokenTooShort { origin, len } => write!(
                f,
                "{origin} holds a {len}-byte token, at least {MIN_TOKEN_LEN} bytes are needed \
                 (make one with `primecluster token`)"
            ),
            AuthError::TokenTooLong { origin } => write!(
                f,
                "{origin} is longer than {MAX_TOKEN_LEN} bytes: a token is one line (make one \
                 with `primecluster token`)"
            ),
            AuthError::Randomness { reason } => {
                write!(f, "the OS random source failed: {reason}")
            }
            AuthError::InsecureListen { addr } => write!(
                f,
                "refusing to listen on {addr} without a token: anyone who reaches it could \
                 join the job; give --token-file FILE (make one with `primecluster token`), or \
                 --insecure to allow it on a trusted LAN"
            ),
            AuthError::MasterOffersNoAuth => f.write_str(
                "the master offers no authentication but this side has --token-file: refusing \
                 an unauthenticated master (start the master with the same --token-file)",
            ),
            AuthError::MasterRequiresToken => f.write_str(
                "the master requires a token: give this side --token-file with the master's token",
            ),
            AuthError::BadMasterProof => f.write_str(
                "master's proof does not match: wrong token? check --token-file on both sides \
                 (or this is not the real master)",
            ),
            AuthError::ClientHasNoToken { role, name } => write!(
                f,
                "{role} {name:?} has no token but this master requires one: give it \
                 --token-file with the master's token"
            ),
            AuthError::BadClientProof { role, name } => write!(
                f,
                "{role} {name:?}: proof does not match: wrong token? check --token-file on both \
                 sides"
            ),
            AuthError::MethodMismatch { msg, offered, got } => write!(
                f,
                "{msg} uses {got} but the handshake agreed on {offered}: the peer does not \
                 follow the protocol"
            ),
            AuthError::OutOfOrder { side, got, state } => write!(
                f,
                "unexpected {got} in the {side}'s handshake, which is {state}"
            ),
            AuthError::Truncated {
                msg,
                field,
                payload_len,
            } => write!(
                f,
                "{msg} too short: its {payload_len}-byte authentication part ends inside \
                 field `{field}`"
            ),
            AuthError::TrailingBytes { msg, extra } => write!(
                f,
                "{msg} has {extra} unexpected bytes after its last authentication field"
            ),
            AuthError::InvalidValue {
                msg,
                field,
                value,
                expected,
            } => write!(
                f,
                "{msg} field `{field}` has invalid value {value} (expected {expected})"
            ),
        }
    }
}

impl std::error::Error for AuthError {}
