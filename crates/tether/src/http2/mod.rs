//! WebSockets over HTTP/2 (RFC 8441): the client's [`Http2Policy`], the
//! shared connection [`Client`], and [`H2Stream`], one HTTP/2 stream as the
//! transport of a [`WebSocket`](crate::WebSocket).
//!
//! Over HTTP/2 a WebSocket is one stream of a connection, opened with an
//! extended CONNECT (`:method CONNECT`, `:protocol websocket`) and answered
//! with 200; its DATA frames carry the same WebSocket frames as TCP does
//! (masked from the client, as RFC 8441 keeps it), so the same engine runs
//! over an [`H2Stream`], with the same limits, compression and keepalive.
//! Both protocols give a `WebSocket<MaybeTlsStream>`
//! ([`MaybeTlsStream::is_http2`](crate::MaybeTlsStream::is_http2) tells which).
//!
//! # The client's policy
//!
//! [`ClientBuilder::http2`](crate::ClientBuilder::http2) chooses:
//!
//! | policy | `wss://` | `ws://` |
//! |---|---|---|
//! | [`Never`](Http2Policy::Never) (default) | ALPN `http/1.1`, HTTP/1.1 upgrade | HTTP/1.1 upgrade |
//! | [`IfOffered`](Http2Policy::IfOffered) | ALPN `h2` and `http/1.1`: HTTP/2 if the server picks `h2` | HTTP/1.1 upgrade |
//! | [`Only`](Http2Policy::Only) | ALPN `h2` only, else [`Http2Error::NotOffered`](crate::Http2Error::NotOffered) | HTTP/2 with prior knowledge (h2c) |
//!
//! `IfOffered` stays on HTTP/1.1 for `ws://`: cleartext HTTP/2 can only be
//! known in advance (the HTTP/1.1 `Upgrade: h2c` is deprecated by RFC 9113
//! and does not carry an extended CONNECT). Over HTTP/2 the client waits for
//! the server's SETTINGS (a PING round trip when they have not come yet) and
//! fails with [`Http2Error::ExtendedConnectDisabled`](crate::Http2Error::ExtendedConnectDisabled)
//! when they lack `SETTINGS_ENABLE_CONNECT_PROTOCOL`, before sending the
//! request; `IfOffered` does not then fall back to HTTP/1.1, since the
//! server chose HTTP/2 for the connection.
//!
//! Through a proxy, the tunnel (HTTP `CONNECT` or SOCKS5) comes first, then
//! TLS and HTTP/2 inside it, as for HTTP/1.1. Headers HTTP/2 forbids
//! (`Connection`, `Upgrade`, `Host`, ...) are left out of the request.
//!
//! # Sharing a connection
//!
//! A WebSocket opened by [`connect`](crate::connect) over HTTP/2 has its
//! connection to itself. [`Client`] keeps one connection to an origin and
//! opens many WebSockets on it (one stream each): no TCP or TLS handshake
//! after the first, one round trip per WebSocket.
//!
//! # Flow control
//!
//! Each stream has its own window and all streams share the connection's.
//! An [`H2Stream`] gives window back only for what its WebSocket read, so a
//! WebSocket nobody reads holds at most one stream window of the
//! connection's: the connection window must be several stream windows
//! large, or one stalled WebSocket stalls the others (h2's and hyper's
//! defaults make both 64 KiB). The client announces [`STREAM_WINDOW`]
//! (256 KiB) per stream and [`CONNECTION_WINDOW`] (100 of those) for the
//! connection ([`ClientBuilder::http2_stream_window`](crate::ClientBuilder::http2_stream_window)
//! changes the first; the second follows); the server side does the same
//! (see `docs/http2.md`). In the
//! other direction, writes wait for the server's windows: a WebSocket whose
//! peer does not read sees `send` wait, as over TCP, and queues nothing more.

mod client;
pub(crate) mod stream;
#[cfg(test)]
mod stream_tests;

pub use client::{Client, CONNECTION_WINDOW, STREAM_WINDOW};
pub use stream::H2Stream;

/// The largest DATA frame a tether client or server takes
/// (`SETTINGS_MAX_FRAME_SIZE`): 64 KiB, not HTTP/2's 16 KiB default, so that
/// a WebSocket message of 16 KiB (with its few header bytes) travels in one
/// frame, not two: less framing for the sender, no copy to put it back
/// together for the receiver (`docs/http2.md` has what each side's setting
/// measured).
pub(crate) const MAX_FRAME_SIZE: u32 = 64 * 1024;

/// Whether a client speaks HTTP/2 (see [the module docs](self) for what
/// each choice does over `wss://` and `ws://`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Http2Policy {
    /// HTTP/1.1 only (the default).
    #[default]
    Never,
    /// HTTP/2 only: ALPN `h2` alone over TLS, prior knowledge in cleartext.
    Only,
    /// HTTP/2 when the TLS server picks `h2` in ALPN, else HTTP/1.1;
    /// HTTP/1.1 for `ws://`.
    IfOffered,
}

impl Http2Policy {
    /// The ALPN protocols offered over TLS.
    #[cfg(feature = "rustls")]
    pub(crate) fn alpn(self) -> crate::tls::Alpn {
        match self {
            Http2Policy::Never => crate::tls::Alpn::Http11,
            Http2Policy::Only => crate::tls::Alpn::H2,
            Http2Policy::IfOffered => crate::tls::Alpn::H2OrHttp11,
        }
    }

    /// Whether the connection, once set up, speaks HTTP/2; an error for
    /// `Only` over TLS when the server did not pick `h2`.
    pub(crate) fn speaks_h2(self, io: &crate::MaybeTlsStream, authority: &str) -> Result<bool, crate::Error> {
        let h2 = io.alpn_protocol() == Some(b"h2");
        match (self, io.is_tls()) {
            (Http2Policy::Never, _) => Ok(false),
            (Http2Policy::Only, false) => Ok(true),
            (Http2Policy::Only, true) if !h2 => {
                Err(crate::Http2Error::NotOffered { authority: authority.into() }.into())
            }
            (_, tls) => Ok(tls && h2),
        }
    }
}
