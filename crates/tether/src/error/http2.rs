//! [`Http2Error`]: why a WebSocket over HTTP/2 (RFC 8441) could not be opened
//! or was cut off by the HTTP/2 layer.

use std::fmt;
use std::io;

/// Why HTTP/2 failed; inside [`Error::Http2`](crate::Error::Http2).
///
/// A non-200 answer to the extended CONNECT is not here: it is
/// [`Error::HttpStatus`](crate::Error::HttpStatus), as a refused HTTP/1.1
/// upgrade is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Http2Error {
    /// The server's SETTINGS did not announce
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441): it speaks HTTP/2 but
    /// takes no WebSocket over it. Use HTTP/1.1 (`Http2Policy::Never`).
    #[error("the HTTP/2 server at {authority} does not accept WebSockets (no SETTINGS_ENABLE_CONNECT_PROTOCOL)")]
    ExtendedConnectDisabled {
        /// The server's host and port.
        authority: Box<str>,
    },
    /// HTTP/2 was required but the TLS server chose another protocol in
    /// ALPN (or none): it does not offer HTTP/2 on this port.
    #[error("the server at {authority} did not offer HTTP/2 in ALPN")]
    NotOffered {
        /// The server's host and port.
        authority: Box<str>,
    },
    /// The server refused the stream before processing it
    /// (`RST_STREAM REFUSED_STREAM`, often: too many streams at once). It
    /// did nothing with the request, so trying again is safe.
    #[error("the server refused the HTTP/2 stream (REFUSED_STREAM): nothing was processed, retry later")]
    RefusedStream,
    /// The stream was reset (`RST_STREAM`) with this error code.
    #[error("HTTP/2 stream reset by {}: {}", by(.remote), Code(*.code))]
    Reset {
        /// The HTTP/2 error code (RFC 9113 section 7).
        code: u32,
        /// The peer sent it (not our side).
        remote: bool,
    },
    /// The connection is going away or gone (`GOAWAY`) with this error code:
    /// `NO_ERROR` is a graceful shutdown of the server.
    #[error("HTTP/2 connection closed (GOAWAY) by {}: {}", by(.remote), Code(*.code))]
    GoAway {
        /// The HTTP/2 error code (RFC 9113 section 7).
        code: u32,
        /// The peer sent it (not our side).
        remote: bool,
    },
    /// The shared HTTP/2 connection has ended: open a new one.
    #[error("the HTTP/2 connection is closed")]
    ConnectionClosed,
    /// The shared HTTP/2 connection broke (a socket error: reset, or closed
    /// without a GOAWAY).
    #[error("the HTTP/2 connection was lost: {0}")]
    ConnectionLost(Box<str>),
    /// The peer broke HTTP/2 (a bad preface or frame, or it does not speak
    /// HTTP/2 at all, as an HTTP/1.1 server given prior knowledge).
    #[error("HTTP/2 failed: {0}")]
    Protocol(Box<str>),
}

impl Http2Error {
    /// The HTTP/2 reason behind an `io::Error` from an
    /// [`H2Stream`](crate::http2::H2Stream) (a reset stream, a `GOAWAY`),
    /// as [`Error::Io`](crate::Error::Io) carries it; `None` for a plain
    /// socket error.
    pub fn from_io(e: &io::Error) -> Option<Http2Error> {
        e.get_ref()?.downcast_ref::<Http2Error>().cloned()
    }

    /// As an `io::Error` whose kind tells a reset stream
    /// (`ConnectionReset`) from a connection that went away
    /// (`ConnectionAborted`), for [`from_io`](Self::from_io) to give back.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match self {
            Http2Error::GoAway { .. } | Http2Error::ConnectionClosed | Http2Error::ConnectionLost(_) => {
                io::ErrorKind::ConnectionAborted
            }
            Http2Error::Reset { .. } | Http2Error::RefusedStream => io::ErrorKind::ConnectionReset,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }

    /// A reset with `code` (the stream's own end; REFUSED_STREAM has its own variant).
    pub(crate) fn reset(code: u32, remote: bool) -> Http2Error {
        match code {
            0x7 => Http2Error::RefusedStream,
            code => Http2Error::Reset { code, remote },
        }
    }

    /// Sorts an h2 error: a reset, a GOAWAY, or a protocol failure.
    pub(crate) fn from_h2(e: &h2::Error) -> Http2Error {
        let remote = e.is_remote();
        match e.reason() {
            Some(reason) if e.is_go_away() => Http2Error::GoAway { code: reason.into(), remote },
            Some(reason) if e.is_reset() => Http2Error::reset(reason.into(), remote),
            _ => Http2Error::Protocol(e.to_string().into()),
        }
    }

    /// The HTTP/2 error code of a reset or GOAWAY.
    pub fn code(&self) -> Option<u32> {
        match self {
            Http2Error::Reset { code, .. } | Http2Error::GoAway { code, .. } => Some(*code),
            Http2Error::RefusedStream => Some(0x7),
            _ => None,
        }
    }
}

/// Who sent a reset or GOAWAY, in words.
fn by(remote: &bool) -> &'static str {
    if *remote {
        "the peer"
    } else {
        "this side"
    }
}

/// An HTTP/2 error code with its name (RFC 9113 section 7).
struct Code(u32);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        match NAMES.get(self.0 as usize) {
            Some(name) => write!(f, "{name} ({:#x})", self.0),
            None => write!(f, "unknown code {:#x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_by_name() {
        let e = Http2Error::GoAway { code: 0xb, remote: true };
        assert_eq!(e.to_string(), "HTTP/2 connection closed (GOAWAY) by the peer: ENHANCE_YOUR_CALM (0xb)");
        assert_eq!(e.code(), Some(0xb));
        let e = Http2Error::Reset { code: 0x42, remote: false };
        assert_eq!(e.to_string(), "HTTP/2 stream reset by this side: unknown code 0x42");
    }

    #[test]
    fn h2_errors_are_sorted() {
        let refused = h2::Error::from(h2::Reason::REFUSED_STREAM);
        // A bare reason (not from a frame) is a protocol failure, not a reset.
        assert!(matches!(Http2Error::from_h2(&refused), Http2Error::Protocol(_)));
        let io = Http2Error::reset(0x7, true).into_io();
        assert_eq!(io.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(Http2Error::from_io(&io), Some(Http2Error::RefusedStream));
        let io = Http2Error::GoAway { code: 0, remote: true }.into_io();
        assert_eq!(io.kind(), io::ErrorKind::ConnectionAborted);
        let plain = io::Error::from(io::ErrorKind::BrokenPipe);
        assert_eq!(Http2Error::from_io(&plain), None);
    }
}
