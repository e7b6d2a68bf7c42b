//! `MaybeTlsStream`: the transport under a connection: plain TCP, TLS over
//! TCP, or one HTTP/2 stream of a shared connection.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The stream [`connect`](crate::connect) returns a [`WebSocket`](crate::WebSocket)
/// over: plain TCP for `ws://`, TLS over TCP for `wss://`. A server gets the
/// TLS variant from [`ServerTls::accept`](crate::tls::ServerTls::accept).
/// A WebSocket over HTTP/2 (RFC 8441) has the `H2` variant: one a client
/// opened as an extended CONNECT, or one [`Server`](crate::Server) accepted
/// as one.
///
/// Through a proxy, the TCP connection is the one to the proxy, which
/// tunnels it to the server.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// A plain TCP connection.
    Plain(TcpStream),
    /// TLS over TCP, client or server side (boxed: the TLS state is large).
    #[cfg(feature = "rustls")]
    Rustls(Box<tokio_rustls::TlsStream<TcpStream>>),
    /// One stream of an HTTP/2 connection that other WebSockets (and
    /// requests) share (boxed: the stream's handles are large).
    #[cfg(feature = "http2")]
    H2 {
        /// The stream.
        stream: Box<crate::http2::H2Stream>,
        /// Whether the HTTP/2 connection runs over TLS.
        tls: bool,
    },
}

impl MaybeTlsStream {
    /// The TCP connection underneath; `None` for an HTTP/2 stream, whose
    /// connection is shared (and driven by its own task).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            MaybeTlsStream::Plain(s) => Some(s),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Some(s.get_ref().0),
            #[cfg(feature = "http2")]
            MaybeTlsStream::H2 { .. } => None,
        }
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(_) => false,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(_) => true,
            #[cfg(feature = "http2")]
            MaybeTlsStream::H2 { tls, .. } => *tls,
        }
    }

    /// Whether the WebSocket runs over an HTTP/2 stream (it came as an
    /// extended CONNECT, RFC 8441).
    pub fn is_http2(&self) -> bool {
        #[cfg(feature = "http2")]
        if let MaybeTlsStream::H2 { .. } = self {
            return true;
        }
        false
    }

    /// The ALPN protocol the TLS handshake agreed on (`http/1.1`, or `h2`
    /// for an HTTP/2 stream over TLS), if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match self {
            MaybeTlsStream::Plain(_) => None,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.get_ref().1.alpn_protocol(),
            #[cfg(feature = "http2")]
            MaybeTlsStream::H2 { tls, .. } => tls.then_some(&b"h2"[..]),
        }
    }
}

/// Forwards an IO call to the stream inside whichever variant is there.
macro_rules! forward {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            MaybeTlsStream::Plain($s) => $call,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls($s) => {
                let $s = $s.as_mut();
                $call
            }
            #[cfg(feature = "http2")]
            MaybeTlsStream::H2 { stream: $s, .. } => {
                let $s = $s.as_mut();
                $call
            }
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        forward!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        forward!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        forward!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.is_write_vectored(),
            #[cfg(feature = "http2")]
            MaybeTlsStream::H2 { stream, .. } => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}
