//! HTTP/2 connections of a [`Server`](crate::Server): WebSockets as
//! extended CONNECT streams (RFC 8441) next to plain GET/HEAD requests, on
//! the h2 crate.
//!
//! # Windows and limits
//!
//! Each stream gets a receive window of [`Server::DEFAULT_STREAM_WINDOW`]
//! (256 KiB) and the connection one of `max_streams` times that (25 MiB
//! with the default 100 streams). A WebSocket whose handler stops reading
//! keeps at most its stream's window unread, so even when every stream of a
//! connection stalls, the connection window is not used up and the streams
//! that are read keep moving. That is also what one connection can make
//! the server hold in unread data at most.
//!
//! [`Server::DEFAULT_STREAM_WINDOW`]: crate::Server::DEFAULT_STREAM_WINDOW

mod request;
mod rewind;
pub(super) mod settings;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, Instant};

pub(crate) use rewind::Rewind;

use super::shared::Shared;
use crate::{Error, MaybeTlsStream, WebSocket};

/// The ALPN protocol of HTTP/2 over TLS.
pub(super) const ALPN: &[u8] = b"h2";

/// The client's connection preface (RFC 9113 section 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads until `buf` proves the client sent HTTP/2's preface (`true`) or
/// something else (`false`, usually after the first byte).
pub(super) async fn read_preface<S: AsyncRead + Unpin>(io: &mut S, buf: &mut BytesMut) -> Result<bool, Error> {
    loop {
        let n = buf.len().min(PREFACE.len());
        if buf[..n] != PREFACE[..n] {
            return Ok(false);
        }
        if n == PREFACE.len() {
            return Ok(true);
        }
        if io.read_buf(buf).await? == 0 {
            let left = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "client left during the handshake");
            return Err(Error::Io(left));
        }
    }
}

/// Serves one HTTP/2 connection until it closes: each extended CONNECT
/// stream becomes a WebSocket for the handler, each GET or HEAD goes to the
/// application's pages. The connection counts as a handshake in progress
/// (`permit`) until the preface and settings are exchanged. A shutdown
/// sends GOAWAY (the WebSockets get their 1001 from the shutdown signal);
/// a connection without streams for the handshake timeout gets one too.
pub(super) async fn serve<F, Fut>(
    io: Rewind<MaybeTlsStream>,
    peer: SocketAddr,
    shared: Arc<Shared<F>>,
    permit: OwnedSemaphorePermit,
) where
    F: Fn(WebSocket<MaybeTlsStream>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let tls = io.get_ref().is_tls();
    let Some(settings) = shared.http2 else { return };
    let limit = shared.config.handshake_timeout;
    let mut connection = match timeout(limit, settings.builder(&shared.config).handshake::<_, Bytes>(io)).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => return shared.report(peer, &request::h2_error(e)),
        Err(_) => return shared.report(peer, &Error::HandshakeTimeout(limit)),
    };
    drop(permit);
    let mut streams = JoinSet::new();
    let mut closing = false;
    let idle = sleep(limit);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            _ = shared.shutdown.fired(), if !closing => {
                closing = true;
                connection.graceful_shutdown();
            }
            () = &mut idle, if streams.is_empty() && !closing => {
                closing = true;
                connection.graceful_shutdown();
            }
            accepted = connection.accept() => match accepted {
                Some(Ok((request, respond))) => {
                    streams.spawn(request::serve(request, respond, peer, shared.clone(), tls));
                }
                // The client reset or broke the connection: its streams
                // see the error too.
                Some(Err(_)) | None => break,
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {
                idle.as_mut().reset(Instant::now() + limit);
            }
        }
    }
    // Dropping the connection failed every stream still open; their
    // handlers end as they see it.
    drop(connection);
    while streams.join_next().await.is_some() {}
}
