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

impl MaybeTlsStream {
    /// Writes bytes after which our side of the transport is shut down at
    /// once (a server's last write, its close frame): the shape of
    /// [`WriteLast`](crate::websocket::WriteLast). Over plain TCP on Linux
    /// they are written with `MSG_MORE`, which holds a segment's tail back
    /// until the shutdown: the close frame and the FIN then leave in one
    /// segment instead of two, which saves the server a packet's send, and
    /// the peer its receipt, on every connection it closes. Over TLS they
    /// are only encrypted into the session's buffer: the shutdown's
    /// close_notify then goes out with them in one write instead of two.
    /// Elsewhere, a plain vectored write.
    pub(crate) fn poll_write_last(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut *self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            MaybeTlsStream::Plain(tcp) => return poll_send_more(tcp, cx, bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(tls) => {
                // The session takes what fits under its buffer limit; with
                // nothing taken, write out what it holds as usual.
                if let Ok(taken @ 1..) = buffer_in_session(tls, bufs) {
                    return Poll::Ready(Ok(taken));
                }
            }
            #[allow(unreachable_patterns)] // the other variants, where they exist
            _ => {}
        }
        self.poll_write_vectored(cx, bufs)
    }
}

/// Encrypts `bufs` into the TLS session's send buffer without writing it
/// out; returns how many bytes it took.
#[cfg(feature = "rustls")]
fn buffer_in_session(tls: &mut tokio_rustls::TlsStream<TcpStream>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    use std::io::Write;
    match tls {
        tokio_rustls::TlsStream::Client(s) => s.get_mut().1.writer().write_vectored(bufs),
        tokio_rustls::TlsStream::Server(s) => s.get_mut().1.writer().write_vectored(bufs),
    }
}

/// One `sendmsg` with `MSG_MORE` (and `MSG_NOSIGNAL`, as std's own writes
/// have it), once the socket is writable.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn poll_send_more(tcp: &TcpStream, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
    use tokio::io::Interest;
    loop {
        std::task::ready!(tcp.poll_write_ready(cx))?;
        let send = || socket2::SockRef::from(tcp).send_vectored_with_flags(bufs, libc::MSG_MORE | libc::MSG_NOSIGNAL);
        match tcp.try_io(Interest::WRITABLE, send) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            sent => return Poll::Ready(sent),
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

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use std::future::poll_fn;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// The last write waits in the socket for the shutdown, and the FIN
    /// carries it: nothing reaches the peer before, everything after.
    #[tokio::test]
    async fn the_last_write_leaves_with_the_fin() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(listener.local_addr().unwrap()), listener.accept());
        let mut client = client.unwrap();
        let tcp = accepted.unwrap().0;
        tcp.set_nodelay(true).unwrap();
        let mut server = MaybeTlsStream::Plain(tcp);
        let close = [0x88, 0x02, 0x03, 0xe8];
        let sent = poll_fn(|cx| {
            Pin::new(&mut server).poll_write_last(cx, &[IoSlice::new(&close[..1]), IoSlice::new(&close[1..])])
        });
        assert_eq!(sent.await.unwrap(), close.len());
        let mut early = [0; 8];
        let read = tokio::time::timeout(Duration::from_millis(100), client.read(&mut early)).await;
        assert!(read.is_err(), "held back for the FIN, even with TCP_NODELAY: {read:?}");
        server.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, close);
    }

    /// Over TLS the last write waits in the session, and the shutdown's
    /// close_notify takes it out: nothing reaches the peer before, then
    /// the bytes and a clean end of the TLS stream.
    #[cfg(feature = "rustls")]
    #[tokio::test]
    async fn over_tls_the_last_write_leaves_with_close_notify() {
        use crate::tls::{connect, Alpn, ClientTls, Roots, ServerTls};
        use tether_testkit::pki::{Leaf, TestPki};

        let pki = TestPki::new();
        let id = pki.identity(Leaf::Good);
        let server_tls = ServerTls::from_pem_files(&id.cert, &id.key).unwrap();
        let client_tls = ClientTls::new().roots(Roots::Empty).add_ca_pem_file(&pki.ca).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(listener.local_addr().unwrap()), listener.accept());
        let (client, server) = tokio::join!(
            connect(&client_tls, "localhost", client.unwrap(), Alpn::Http11),
            server_tls.accept(accepted.unwrap().0)
        );
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        let close = [0x88, 0x02, 0x03, 0xe8];
        let sent = poll_fn(|cx| {
            Pin::new(&mut server).poll_write_last(cx, &[IoSlice::new(&close[..1]), IoSlice::new(&close[1..])])
        });
        assert_eq!(sent.await.unwrap(), close.len());
        let mut early = [0; 8];
        let read = tokio::time::timeout(Duration::from_millis(100), client.read(&mut early)).await;
        assert!(read.is_err(), "held in the TLS session until the shutdown: {read:?}");
        server.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.expect("a clean end: close_notify came");
        assert_eq!(got, close);
    }
}
