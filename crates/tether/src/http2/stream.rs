//! [`H2Stream`]: one HTTP/2 stream as a byte stream (`AsyncRead +
//! AsyncWrite`), with HTTP/2 flow control carried through in both directions.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use h2::client::SendRequest;
use h2::{Reason, RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Http2Error;

/// The most send capacity one write asks for. h2 also bounds what a stream
/// may buffer (400 KiB by default), and capacity assigned to a stream but not
/// used is connection window the other streams cannot have, so a write asks
/// for what it holds, up to this.
const MAX_RESERVE: usize = 256 * 1024;

/// One HTTP/2 stream (an extended CONNECT's request and response bodies) as
/// an [`AsyncRead`] + [`AsyncWrite`] transport for a
/// [`WebSocket`](crate::WebSocket).
///
/// - Reading hands out DATA frames and gives the flow-control window back
///   only for the bytes read, so a WebSocket that is not polled stops its
///   peer once the stream's window is full, without holding back the other
///   streams of the connection (as long as the connection's window is larger
///   than a stream's; see [the module docs](super)).
/// - Writing reserves send capacity and waits for it: a write returns
///   `Pending` while the peer's window is shut, so the WebSocket's send
///   buffer fills and `send` waits, as over TCP. Nothing is queued beyond
///   what the window allows.
/// - [`poll_shutdown`](AsyncWrite::poll_shutdown) ends the stream
///   (`END_STREAM`); dropping it before resets the stream with `CANCEL`.
/// - A `RST_STREAM` or `GOAWAY` from the peer fails reads and writes with an
///   `io::Error` of kind `ConnectionReset` or `ConnectionAborted` that
///   carries the HTTP/2 code: [`Http2Error::from_io`]
///   gives it back.
#[derive(Debug)]
pub struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// What the last DATA frame brought and was not read yet.
    buf: Bytes,
    /// `END_STREAM` was sent.
    shut: bool,
    /// On a client, a handle on the connection: when the connection ends
    /// under a stream, h2 tells the stream only "broken pipe", and the
    /// GOAWAY that came before is the connection's error.
    conn: Option<SendRequest<Bytes>>,
}

impl H2Stream {
    /// Joins the two halves of one stream: on a client, the request's
    /// `SendStream` and the response's body; on a server, the response's
    /// `SendStream` and the request's body.
    pub fn new(send: SendStream<Bytes>, recv: RecvStream) -> Self {
        H2Stream { send, recv, buf: Bytes::new(), shut: false, conn: None }
    }

    /// On a client, lets the stream report the connection's GOAWAY (with
    /// its code) when the connection ends under it, instead of the broken
    /// pipe h2 gives the stream; `conn` is the connection's `SendRequest`.
    pub fn watch_connection(mut self, conn: SendRequest<Bytes>) -> Self {
        self.conn = Some(conn);
        self
    }

    /// An h2 error of this stream as an `io::Error`; a broken pipe after a
    /// GOAWAY becomes the GOAWAY.
    fn error(&mut self, e: h2::Error) -> io::Error {
        match self.conn.as_mut() {
            Some(conn) => to_io(connection_error(conn, e)),
            None => to_io(e),
        }
    }

    /// Writes up to the send capacity the peer's windows allow now, taking
    /// the bytes from `bufs` in order; `Pending` while there is none.
    fn poll_write_slices(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.shut {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "HTTP/2 stream already ended")));
        }
        let want = total.min(MAX_RESERVE);
        // Sets (not adds to) what this stream asks of the connection.
        self.send.reserve_capacity(want);
        let mut capacity = self.send.capacity();
        while capacity == 0 {
            capacity = match ready!(self.send.poll_capacity(cx)) {
                Some(Ok(n)) => n,
                Some(Err(e)) => return Poll::Ready(Err(self.error(e))),
                // The stream can no longer send: say why.
                None => return Poll::Ready(Err(self.reset_error(cx))),
            };
        }
        let n = capacity.min(want);
        let mut chunk = BytesMut::with_capacity(n);
        for buf in bufs {
            let take = buf.len().min(n - chunk.len());
            chunk.extend_from_slice(&buf[..take]);
            if chunk.len() == n {
                break;
            }
        }
        if let Err(e) = self.send.send_data(chunk.freeze(), false) {
            return Poll::Ready(Err(self.error(e)));
        }
        Poll::Ready(Ok(n))
    }

    /// The error for a stream that cannot send any more: the peer's
    /// `RST_STREAM` code, or the connection's error. h2 has no reason for a
    /// stream that ended cleanly: that is a broken pipe.
    fn reset_error(&mut self, cx: &mut Context<'_>) -> io::Error {
        match self.send.poll_reset(cx) {
            Poll::Ready(Ok(reason)) => Http2Error::reset(reason.into(), true).into_io(),
            Poll::Ready(Err(e)) => self.error(e),
            Poll::Pending => io::Error::new(io::ErrorKind::BrokenPipe, "HTTP/2 stream closed"),
        }
    }
}

impl AsyncRead for H2Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        while this.buf.is_empty() {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => this.buf = data,
                Some(Err(e)) => return Poll::Ready(Err(this.error(e))),
                // END_STREAM: the end of the byte stream.
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = this.buf.len().min(out.remaining());
        out.put_slice(&this.buf[..n]);
        this.buf.advance(n);
        // The bytes are the reader's now: open the window by as much. h2
        // sends the WINDOW_UPDATE once enough is released, not every time.
        // It fails only if the stream is gone, which the next read reports.
        let _ = this.recv.flow_control().release_capacity(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_slices(cx, &[IoSlice::new(data)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_slices(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        // Several slices become one DATA payload (one copy either way).
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // What send_data took is within the window: the connection's task
        // writes it out without anything more from this stream.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shut {
            return Poll::Ready(Ok(()));
        }
        self.shut = true;
        if self.send.send_data(Bytes::new(), true).is_ok() {
            return Poll::Ready(Ok(()));
        }
        // The stream is gone already: an error only if the peer reset it
        // with a failure, not if it just ended things.
        let e = self.reset_error(cx);
        let clean = match Http2Error::from_io(&e).and_then(|h2| h2.code()) {
            Some(code) => code == u32::from(Reason::NO_ERROR) || code == u32::from(Reason::CANCEL),
            None => e.kind() == io::ErrorKind::BrokenPipe,
        };
        Poll::Ready(if clean { Ok(()) } else { Err(e) })
    }
}

/// The GOAWAY that came before the connection ended, in place of the
/// broken pipe h2 reports to each stream then (`conn` sees the connection's
/// error); any other error as it is.
pub(crate) fn connection_error(conn: &mut SendRequest<Bytes>, e: h2::Error) -> h2::Error {
    if e.get_io().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe) {
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(Err(goaway)) = conn.poll_ready(&mut cx) {
            if goaway.is_go_away() {
                return goaway;
            }
        }
    }
    e
}

/// An h2 error as an `io::Error` carrying an [`Http2Error`] (see
/// [`Http2Error::from_io`]); a socket error comes out as it was.
pub(crate) fn to_io(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e.into_io().unwrap_or_else(|| io::ErrorKind::Other.into());
    }
    Http2Error::from_h2(&e).into_io()
}
