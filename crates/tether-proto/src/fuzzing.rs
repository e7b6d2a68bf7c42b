//! Entry points for the fuzz targets in `fuzz/` and their regression tests.
//! Each takes arbitrary bytes, drives one part of the engine, and checks the
//! invariants that must hold whatever the input: no panic, no unbounded
//! growth, consistent state. Not part of the public API.

use bytes::BytesMut;

use crate::deflate::{Deflate, DeflateConfig};
use crate::handshake::client::{ClientHandshake, ClientRequest};
use crate::handshake::extensions::DeflateParams;
use crate::handshake::server::read_request;
use crate::{Config, Connection, Event, FrameHeader, Role, State};

/// Frame header parsing: whatever parses must encode back to the same header.
pub fn frame_header(data: &[u8]) {
    if let Ok(Some((header, len))) = FrameHeader::parse(data) {
        assert!((2..=14).contains(&len));
        let mut buf = [0u8; crate::frame::MAX_HEADER_LEN];
        let n = header.encode(&mut buf);
        let (again, m) = FrameHeader::parse(&buf[..n]).unwrap().unwrap();
        assert_eq!((again, m), (header, n));
    }
}

/// A whole connection fed arbitrary bytes in arbitrary chunks. The first
/// byte picks the role, whether permessage-deflate is on, and the chunking.
pub fn connection(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else { return };
    let role = if control & 1 == 0 { Role::Client } else { Role::Server };
    let config = Config::default().max_frame_size(1 << 16).max_message_size(1 << 17);
    let mut conn = Connection::new(role, config);
    if control & 2 != 0 {
        conn = conn.with_deflate(DeflateParams::default(), &DeflateConfig::default());
    }
    let chunk = usize::from(control >> 2) + 1;
    let mut input = BytesMut::new();
    for piece in rest.chunks(chunk) {
        input.extend_from_slice(piece);
        loop {
            match conn.read_event(&mut input) {
                Ok(Some(Event::Message(m))) => assert!(m.len() <= 1 << 17),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    assert_eq!(conn.state(), State::Failed);
                    return;
                }
            }
        }
        // Answers (pongs, close echoes) stay small: nothing is amplified.
        assert!(conn.output().len() <= 4 * 1024 + input.len().max(rest.len()));
    }
}

/// The client's check of a server's handshake response.
pub fn client_handshake_response(data: &[u8]) {
    let request = ClientRequest {
        host: "example.com".into(),
        path: "/".into(),
        protocols: vec!["chat".into()],
        deflate: Some(DeflateConfig::default()),
        ..Default::default()
    };
    let (handshake, _) = ClientHandshake::with_key(&request, *b"the sample nonce").unwrap();
    if let Ok(Some((_, used))) = handshake.read_response(data) {
        assert!(used <= data.len());
    }
}

/// The server's parse of a client's handshake request, and its answers.
pub fn server_handshake_request(data: &[u8]) {
    match read_request(data, 8 * 1024) {
        Ok(Some((request, used))) => {
            assert!(used <= data.len());
            let deflate = request.negotiate_deflate(&DeflateConfig::default());
            let protocol = request.protocols().first().map(String::as_str);
            let _ = request.accept_response(protocol, deflate.as_ref(), &Default::default());
        }
        Ok(None) => assert!(data.len() <= 8 * 1024),
        Err(e) => {
            let _ = e.response();
        }
    }
}

/// The permessage-deflate inflater with its size limit: arbitrary input
/// never yields more than the limit.
pub fn inflate(data: &[u8]) {
    const LIMIT: usize = 1 << 16;
    let mut deflate = Deflate::new(Role::Server, &DeflateParams::default(), &DeflateConfig::default());
    let mut out = BytesMut::new();
    let half = data.len() / 2;
    let first = deflate.decompress(&data[..half], false, &mut out, LIMIT);
    if first.is_ok() {
        let _ = deflate.decompress(&data[half..], true, &mut out, LIMIT);
    }
    assert!(out.len() <= LIMIT + 1);
}
