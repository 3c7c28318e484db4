//! The control client against fakes: a scripted `Link` that records what was sent and
//! answers with canned frames, and `StreamLink` over an in-memory byte stream (frames,
//! CRCs, length caps, short reads).

use primecluster::control::client::{self, frame, Link, StreamLink};
use primecluster::control::msg::*;
use primecluster::control::{code, ControlError, MAX_CONTROL_FRAME_LEN};
use std::collections::VecDeque;
use std::io::{self, Cursor, Read, Write};

/// Records sent frames; answers each `recv` with the next canned reply.
struct FakeLink {
    sent: Vec<(u8, Vec<u8>)>,
    replies: VecDeque<Result<(u8, Vec<u8>), ControlError>>,
}

impl FakeLink {
    fn answering(ty: u8, payload: Vec<u8>) -> Self {
        FakeLink {
            sent: Vec::new(),
            replies: VecDeque::from([Ok((ty, payload))]),
        }
    }
}

impl Link for FakeLink {
    fn send(&mut self, type_code: u8, payload: &[u8]) -> Result<(), ControlError> {
        self.sent.push((type_code, payload.to_vec()));
        Ok(())
    }

    fn recv(&mut self) -> Result<(u8, Vec<u8>), ControlError> {
        self.replies.pop_front().unwrap_or(Err(ControlError::Io {
            op: "reading from",
            reason: "end of script".into(),
        }))
    }
}

fn status_reply() -> StatusReply {
    StatusReply {
        job: JobStatus {
            start: 10,
            stop: 1_000_000,
            format: OutputFormat::Count,
            done: 999_991,
            primes: 78_494,
            rate: 5_000_000,
            eta_secs: Some(0),
            bytes_written: 0,
            buffer_used: 0,
            buffer_cap: 1 << 20,
            redundancy: 1,
            checkpoint_age_ms: None,
        },
        workers: vec![],
    }
}

fn payload_of(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    f(&mut v);
    v
}

#[test]
fn status_sends_the_request_and_parses_the_reply() {
    let want = status_reply();
    let mut link = FakeLink::answering(code::STATUS_REPLY, payload_of(|o| want.emit(o)));
    assert_eq!(client::status(&mut link).unwrap(), want);
    assert_eq!(link.sent, vec![(code::STATUS_REQUEST, vec![])]);
}

#[test]
fn set_threads_sends_target_and_count() {
    let req = SetThreadsRequest {
        target: Target::Id(4),
        threads: 16,
    };
    let want = SetThreadsReply::new(
        16,
        vec![Changed {
            id: 4,
            name: "box".into(),
            cores: 8,
            before: 8,
        }],
    );
    assert_eq!(
        want.warnings,
        vec![ThreadsWarning::AboveCores {
            id: 4,
            name: "box".into(),
            cores: 8
        }]
    );
    let mut link = FakeLink::answering(code::SET_THREADS_REPLY, payload_of(|o| want.emit(o)));
    assert_eq!(client::set_threads(&mut link, &req).unwrap(), want);
    assert_eq!(
        link.sent,
        vec![(code::SET_THREADS_REQUEST, payload_of(|o| req.emit(o)))]
    );
    assert_eq!(
        SetThreadsRequest::parse(&link.sent[0].1).unwrap(),
        req,
        "the master reads back what was sent"
    );
}

#[test]
fn stop_sends_the_request_and_parses_the_reply() {
    let want = StopReply {
        done: 12345,
        primes: 1000,
        checkpointed: true,
        workers: 3,
    };
    let mut link = FakeLink::answering(code::STOP_REPLY, payload_of(|o| want.emit(o)));
    assert_eq!(client::stop(&mut link).unwrap(), want);
    assert_eq!(link.sent, vec![(code::STOP_REQUEST, vec![])]);
}

#[test]
fn an_error_frame_becomes_the_masters_reason() {
    let e = ErrorReply {
        code: 6,
        message: "worker \"ops\": proof does not match\u{1b}[2J".into(),
    };
    let mut link = FakeLink::answering(code::ERROR, payload_of(|o| e.emit(o)));
    let err = client::status(&mut link).unwrap_err();
    assert_eq!(
        err,
        ControlError::Remote {
            code: 6,
            message: e.message.clone()
        }
    );
    let text = err.to_string();
    assert!(text.contains("proof does not match"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "the peer's text is escaped: {text:?}"
    );
}

#[test]
fn a_reply_of_the_wrong_type_or_shape_is_refused() {
    let mut link = FakeLink::answering(code::STOP_REPLY, vec![]);
    assert_eq!(
        client::status(&mut link).unwrap_err(),
        ControlError::UnexpectedReply {
            request: "status request",
            got: code::STOP_REPLY
        }
    );
    let mut link = FakeLink::answering(code::STATUS_REPLY, vec![0; 10]);
    assert!(matches!(
        client::status(&mut link),
        Err(ControlError::Truncated {
            msg: "status reply",
            ..
        })
    ));
    let mut link = FakeLink::answering(code::ERROR, vec![5]);
    assert!(matches!(
        client::stop(&mut link),
        Err(ControlError::Truncated { msg: "error", .. })
    ));
    // A link that fails passes its error through.
    let mut link = FakeLink {
        sent: vec![],
        replies: VecDeque::new(),
    };
    assert!(matches!(
        client::stop(&mut link),
        Err(ControlError::Io { .. })
    ));
}

/// An in-memory connection: reads come from `input` a few bytes at a time (as TCP
/// may deliver them), writes go to `output`.
struct Pipe {
    input: Cursor<Vec<u8>>,
    output: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(3);
        self.input.read(&mut buf[..n])
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn pipe(input: Vec<u8>) -> StreamLink<Pipe> {
    StreamLink::new(Pipe {
        input: Cursor::new(input),
        output: Vec::new(),
    })
}

#[test]
fn stream_link_frames_requests_and_reads_replies() {
    let want = status_reply();
    let mut wire = Vec::new();
    frame(code::STATUS_REPLY, &payload_of(|o| want.emit(o)), &mut wire);
    let mut link = pipe(wire);
    assert_eq!(client::status(&mut link).unwrap(), want);
    let sent = link.into_inner().output;
    // length 5 (type + CRC), type 0x30, CRC-32 of the type byte.
    assert_eq!(sent[..5], [0, 0, 0, 5, 0x30]);
    assert_eq!(sent[5..], crc32fast::hash(&[0x30]).to_be_bytes());
}

#[test]
fn stream_link_refuses_bad_frames() {
    // A bad CRC.
    let mut wire = Vec::new();
    frame(code::STOP_REPLY, &[1, 2, 3], &mut wire);
    let last = wire.len() - 1;
    wire[last] ^= 1;
    assert!(matches!(
        pipe(wire).recv(),
        Err(ControlError::BadCrc { .. })
    ));
    // Lengths out of range are refused from the prefix alone (nothing else is sent).
    for len in [0u32, 4, MAX_CONTROL_FRAME_LEN + 1, u32::MAX] {
        match pipe(len.to_be_bytes().to_vec()).recv() {
            Err(e @ ControlError::FrameLength { .. }) => {
                assert!(e.to_string().contains(&len.to_string()))
            }
            other => panic!("length {len}: {other:?}"),
        }
    }
    // The connection ends inside the prefix, or inside the body.
    assert!(matches!(
        pipe(vec![0, 0]).recv(),
        Err(ControlError::Io { .. })
    ));
    assert!(matches!(
        pipe(vec![0, 0, 0, 9, 0x31, 1]).recv(),
        Err(ControlError::Io { .. })
    ));
    // The smallest frame: a type and a CRC, empty payload.
    let mut wire = Vec::new();
    frame(0x7f, &[], &mut wire);
    assert_eq!(pipe(wire).recv().unwrap(), (0x7f, vec![]));
}
