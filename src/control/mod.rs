//! Control from any node (issue 8 item 2): the messages of `status`, `threads` and `stop`,
//! their rendering, and the blocking client that speaks them. No sockets here: the client
//! talks through a [`client::Link`] that the caller has already connected and
//! authenticated (the version 2 hello with role "control", see `docs/PROTOCOL.md` section 12).
//!
//! `docs/PROTOCOL.md` (section 12, "Control messages") gives every payload byte by byte,
//! with the frame type codes of [`code`]. The frames themselves are the protocol's (`u32 length | u8 type | payload |
//! u32 CRC-32`, `docs/PROTOCOL.md`).
//!
//! # Layout
//! - [`msg`]: the payload structs, each with `emit` and `parse`, in the style of
//!   `wire.rs`: length checks first, a reader that cannot index past the end, caps on
//!   counts and strings checked before anything is allocated, errors naming the field and
//!   the bad value. Parsing never panics, whatever the bytes.
//! - [`render`]: the human `status` table and the `--json` object (hand-written JSON with
//!   full string escaping: names come from remote peers).
//! - [`client`]: `status`, `set_threads`, `stop` over a [`client::Link`], and
//!   [`client::StreamLink`], a `Link` over any blocking `Read + Write` stream.

pub mod client;
pub mod msg;
pub mod render;

use std::fmt;

/// Frame type codes of the control messages: the protocol's own ([`crate::wire::code`]),
/// named here for the client's convenience.
pub mod code {
    pub use crate::wire::code::{
        ERROR, SET_THREADS_REPLY, SET_THREADS_REQUEST, STATUS_REPLY, STATUS_REQUEST, STOP_REPLY,
        STOP_REQUEST,
    };
}

/// Most threads a worker may be told to run (the protocol's cap).
pub use crate::wire::MAX_THREADS;
/// Longest string (name, address, arch, warning text) in bytes of UTF-8, as in `wire`.
pub const MAX_STR_LEN: usize = 256;
/// Most worker rows a status or set-threads reply may carry. A master keeps far fewer
/// connections; the cap bounds what a hostile master can make a client allocate.
pub const MAX_ROWS: usize = 4096;
/// Most warnings a set-threads reply may carry (one per changed worker at most, in practice).
pub const MAX_WARNINGS: usize = 4096;
/// Largest control frame a client accepts (type + payload + CRC): a full status reply of
/// [`MAX_ROWS`] rows with maximal strings fits (about 3.4 MB).
pub const MAX_CONTROL_FRAME_LEN: u32 = 4 << 20;
/// Most redundancy a job may have (issue 8: `--redundancy K`, 1..=5).
pub const MAX_REDUNDANCY: u8 = 5;

/// Why control bytes were refused or a control exchange failed. Each message names the
/// bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    /// The payload of a `msg` ends inside field `field`.
    Truncated {
        msg: &'static str,
        field: &'static str,
        payload_len: usize,
    },
    /// The payload of a `msg` goes on `extra` bytes past its last field.
    TrailingBytes { msg: &'static str, extra: usize },
    /// A field holds a value outside its range; `expected` says what is allowed.
    InvalidValue {
        msg: &'static str,
        field: &'static str,
        value: u128,
        expected: &'static str,
    },
    /// A string field is not UTF-8.
    BadUtf8 {
        msg: &'static str,
        field: &'static str,
    },
    /// A string field is longer than [`MAX_STR_LEN`].
    StringTooLong {
        msg: &'static str,
        field: &'static str,
        len: usize,
    },
    /// A list longer than its cap.
    TooMany {
        msg: &'static str,
        field: &'static str,
        count: usize,
        max: usize,
    },
    /// A job range with `start > stop`.
    StartAfterStop { start: u128, stop: u128 },
    /// A frame length outside `5..=MAX_CONTROL_FRAME_LEN`.
    FrameLength { len: u32 },
    /// A frame whose CRC differs from the one computed over type + payload.
    BadCrc { stated: u32, computed: u32 },
    /// Reading or writing the connection failed.
    Io { op: &'static str, reason: String },
    /// The master answered a `request` with a frame of another type.
    UnexpectedReply { request: &'static str, got: u8 },
    /// The master answered with an error frame.
    Remote { code: u8, message: String },
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::Truncated {
                msg,
                field,
                payload_len,
            } => write!(
                f,
                "{msg} too short: its {payload_len}-byte payload ends inside field `{field}`"
            ),
            ControlError::TrailingBytes { msg, extra } => {
                write!(f, "{msg} has {extra} unexpected bytes after its last field")
            }
            ControlError::InvalidValue {
                msg,
                field,
                value,
                expected,
            } => write!(
                f,
                "{msg} field `{field}` has invalid value {value} (expected {expected})"
            ),
            ControlError::BadUtf8 { msg, field } => {
                write!(f, "{msg} field `{field}` is not valid UTF-8")
            }
            ControlError::StringTooLong { msg, field, len } => write!(
                f,
                "{msg} field `{field}` is {len} bytes long, maximum {MAX_STR_LEN}"
            ),
            ControlError::TooMany {
                msg,
                field,
                count,
                max,
            } => write!(
                f,
                "{msg} field `{field}` lists {count} entries, maximum {max}"
            ),
            ControlError::StartAfterStop { start, stop } => {
                write!(f, "status reply range start {start} exceeds stop {stop}")
            }
            ControlError::FrameLength { len } => write!(
                f,
                "control frame length {len} outside 5..={MAX_CONTROL_FRAME_LEN} (is the peer a \
                 primecluster master?)"
            ),
            ControlError::BadCrc { stated, computed } => write!(
                f,
                "control frame CRC 0x{stated:08x} differs from the computed 0x{computed:08x}"
            ),
            ControlError::Io { op, reason } => write!(f, "{op} the master's connection: {reason}"),
            ControlError::UnexpectedReply { request, got } => write!(
                f,
                "the master answered the {request} with a frame of type 0x{got:02x}: is it a \
                 master of the same version?"
            ),
            ControlError::Remote { code, message } => {
                // The message comes from the peer: shown escaped, so it cannot
                // rewrite the terminal.
                write!(
                    f,
                    "the master refused (error {code}): {}",
                    message.escape_debug()
                )
            }
        }
    }
}

impl std::error::Error for ControlError {}
