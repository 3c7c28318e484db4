//! Fuzz target: the frame decoder (`wire::decode`) and the master's result check
//! (`master::check_result`), which between them see every byte a peer sends.
//!
//! Input: the first byte picks how the rest is used.
//! - even: a raw byte stream, decoded frame after frame as a connection would;
//! - odd: byte 1 is a type and the rest a payload, framed here with the right length
//!   and CRC, so mutations reach the payload parsers instead of dying at the CRC.
//!
//! Properties, beyond "never panics": a decoded frame re-encodes to exactly the bytes
//! it was decoded from (the decoder accepts only canonical frames), and a result the
//! check accepts in primes mode decodes to `count` primes inside its range.

#![no_main]

use libfuzzer_sys::fuzz_target;
use primecluster::gaps::GapDecoder;
use primecluster::master;
use primecluster::wire::{self, Message, Mode};

/// The result check under test; one line, so a move of the function is a one-line change.
fn check_result(r: &wire::ChunkResult, mode: Mode) -> bool {
    master::check_result(&mut r.clone(), mode).is_ok()
}

fn check_message(msg: &Message, bytes: &[u8]) {
    let mut again = Vec::new();
    wire::encode(msg, &mut again);
    assert_eq!(again, bytes, "{msg} does not re-encode to its bytes");
    if let Message::Result(r) = msg {
        if check_result(r, Mode::Primes) {
            let mut n = 0u64;
            let found = GapDecoder::new(&r.gaps, r.start, r.stop).for_each(|p| {
                assert!(
                    r.start <= p && p <= r.stop,
                    "{p} outside {}..={}",
                    r.start,
                    r.stop
                );
                n += 1;
            });
            assert_eq!(found, Ok(r.count), "an accepted result miscounts");
            assert_eq!(n, r.count);
        }
        if check_result(r, Mode::Count) {
            assert!(r.gaps.is_empty(), "count mode accepted gap bytes");
        }
    }
}

fn decode_stream(mut buf: &[u8]) {
    while let Ok(Some((msg, used))) = wire::decode(buf) {
        let Some((frame, rest)) = buf.split_at_checked(used) else {
            panic!("decode used {used} of {} bytes", buf.len());
        };
        check_message(&msg, frame);
        buf = rest;
    }
}

fn framed(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![ty];
    body.extend_from_slice(payload);
    let len = (body.len() + 4) as u32;
    let mut f = len.to_be_bytes().to_vec();
    f.extend_from_slice(&body);
    f.extend_from_slice(&crc32fast_hash(&body).to_be_bytes());
    f
}

/// CRC-32 (IEEE), bitwise: an independent twin of the one `wire` uses.
fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

fuzz_target!(|data: &[u8]| {
    match data {
        [sel, ty, payload @ ..] if sel & 1 == 1 => decode_stream(&framed(*ty, payload)),
        [_, rest @ ..] => decode_stream(rest),
        [] => {}
    }
});
