//! The control client's side of `status`, `threads` and `stop`: one request, one reply,
//! over a [`Link`] that is already connected and authenticated.
//!
//! The caller (the binary) opens the connection and runs the version 2 hello with role
//! "control"; everything after that is here. [`StreamLink`] frames messages over any
//! blocking `Read + Write` (a `TcpStream` in the binary, an in-memory pipe in tests),
//! with the protocol's frame layout `u32 length | u8 type | payload | u32 CRC-32`.
//!
//! # Contract
//! - Each function sends one request and reads one frame. The expected reply is parsed
//!   ([`super::msg`]); an error frame becomes [`ControlError::Remote`] with the master's
//!   reason; any other type is [`ControlError::UnexpectedReply`]. Nothing panics on what
//!   the master sends.
//! - [`StreamLink`] refuses a frame length outside `5..=MAX_CONTROL_FRAME_LEN` before
//!   reading (or allocating for) the body, and checks the CRC.

use super::msg::{
    ErrorReply, SetThreadsReply, SetThreadsRequest, StatusReply, StatusRequest, StopReply,
    StopRequest,
};
use super::{code, ControlError, MAX_CONTROL_FRAME_LEN};
use std::io::{Read, Write};

/// A connected, authenticated conversation with the master: send one frame, receive one.
pub trait Link {
    /// Sends one frame of type `type_code` with `payload`.
    fn send(&mut self, type_code: u8, payload: &[u8]) -> Result<(), ControlError>;
    /// Receives the next frame: its type and payload.
    fn recv(&mut self) -> Result<(u8, Vec<u8>), ControlError>;
}

/// Asks the master for the job's and workers' state.
pub fn status(link: &mut impl Link) -> Result<StatusReply, ControlError> {
    let mut payload = Vec::new();
    StatusRequest.emit(&mut payload);
    let reply = exchange(
        link,
        "status request",
        code::STATUS_REQUEST,
        &payload,
        code::STATUS_REPLY,
    )?;
    StatusReply::parse(&reply)
}

/// Asks the master to set the thread count of `req.target` to `req.threads`.
pub fn set_threads(
    link: &mut impl Link,
    req: &SetThreadsRequest,
) -> Result<SetThreadsReply, ControlError> {
    let mut payload = Vec::new();
    req.emit(&mut payload);
    let reply = exchange(
        link,
        "set-threads request",
        code::SET_THREADS_REQUEST,
        &payload,
        code::SET_THREADS_REPLY,
    )?;
    SetThreadsReply::parse(&reply)
}

/// Asks the master to stop resumably; the reply comes once it has checkpointed.
pub fn stop(link: &mut impl Link) -> Result<StopReply, ControlError> {
    let mut payload = Vec::new();
    StopRequest.emit(&mut payload);
    let reply = exchange(
        link,
        "stop request",
        code::STOP_REQUEST,
        &payload,
        code::STOP_REPLY,
    )?;
    StopReply::parse(&reply)
}

/// Sends a request and returns the payload of a reply of type `want`.
fn exchange(
    link: &mut impl Link,
    request: &'static str,
    send: u8,
    payload: &[u8],
    want: u8,
) -> Result<Vec<u8>, ControlError> {
    link.send(send, payload)?;
    let (ty, reply) = link.recv()?;
    match ty {
        t if t == want => Ok(reply),
        code::ERROR => {
            let e = ErrorReply::parse(&reply)?;
            Err(ControlError::Remote {
                code: e.code,
                message: e.message,
            })
        }
        got => Err(ControlError::UnexpectedReply { request, got }),
    }
}

/// A [`Link`] over a blocking byte stream, framing as the protocol does.
pub struct StreamLink<S> {
    stream: S,
}

impl<S: Read + Write> StreamLink<S> {
    /// Wraps a stream on which the hello exchange is complete.
    pub fn new(stream: S) -> Self {
        StreamLink { stream }
    }

    /// The stream back.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

/// Appends one frame (`u32 length | u8 type | payload | u32 CRC-32 of type + payload`).
pub fn frame(type_code: u8, payload: &[u8], out: &mut Vec<u8>) {
    let len = 1 + payload.len() + 4;
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    let body = out.len();
    out.push(type_code);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(out.get(body..).unwrap_or_default());
    out.extend_from_slice(&crc.to_be_bytes());
}

fn io_err(op: &'static str) -> impl Fn(std::io::Error) -> ControlError {
    move |e| ControlError::Io {
        op,
        reason: e.to_string(),
    }
}

impl<S: Read + Write> Link for StreamLink<S> {
    fn send(&mut self, type_code: u8, payload: &[u8]) -> Result<(), ControlError> {
        let mut buf = Vec::with_capacity(payload.len() + 9);
        frame(type_code, payload, &mut buf);
        self.stream.write_all(&buf).map_err(io_err("writing to"))?;
        self.stream.flush().map_err(io_err("writing to"))
    }

    fn recv(&mut self) -> Result<(u8, Vec<u8>), ControlError> {
        let mut prefix = [0u8; 4];
        self.stream
            .read_exact(&mut prefix)
            .map_err(io_err("reading from"))?;
        let len = u32::from_be_bytes(prefix);
        if !(5..=MAX_CONTROL_FRAME_LEN).contains(&len) {
            return Err(ControlError::FrameLength { len });
        }
        let mut body = vec![0u8; len as usize];
        self.stream
            .read_exact(&mut body)
            .map_err(io_err("reading from"))?;
        let Some((rest, crc)) = body.split_last_chunk::<4>() else {
            return Err(ControlError::FrameLength { len });
        };
        let stated = u32::from_be_bytes(*crc);
        let computed = crc32fast::hash(rest);
        if stated != computed {
            return Err(ControlError::BadCrc { stated, computed });
        }
        let Some((&ty, payload)) = rest.split_first() else {
            return Err(ControlError::FrameLength { len });
        };
        Ok((ty, payload.to_vec()))
    }
}
