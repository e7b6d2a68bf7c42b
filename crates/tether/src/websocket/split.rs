//! The split halves of a [`WebSocket`]: a [`Receiver`] (Stream) and a
//! cloneable [`Sender`] (Sink, and `send(&self)` for any task), sharing the
//! connection behind a mutex held only inside a poll.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use tether_proto::{CloseCode, CloseFrame, Message, PreparedMessage, State};
use tokio::io::{AsyncRead, AsyncWrite};

use super::wakers::WakerSet;
use super::WebSocket;
use crate::Error;

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Splits into a receiving half and a cloneable sending half that can be
    /// used from different tasks. They share the connection behind a mutex
    /// that is held only inside a poll, never across an `.await`.
    pub fn split(mut self) -> (Sender<S>, Receiver<S>) {
        self.s.writers = Some(Arc::new(WakerSet::default()));
        let shared = Arc::new(Mutex::new(self));
        (Sender { shared: shared.clone() }, Receiver { shared })
    }
}

type Shared<S> = Arc<Mutex<WebSocket<S>>>;

fn lock<S>(shared: &Shared<S>) -> std::sync::MutexGuard<'_, WebSocket<S>> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sending half of a split [`WebSocket`]: a [`Sink`] of messages, and a
/// cheap, cloneable handle whose [`send`](Self::send) takes `&self`, for use
/// from any task or callback.
///
/// Bytes go out as the sender flushes them; the [`Receiver`] also flushes
/// whatever is queued each time it is polled, so [`try_send`](Self::try_send)
/// from a non-async callback needs no further call.
///
/// # Cancel safety
///
/// As the [`WebSocket`]'s: [`send`](Self::send) may have queued its message
/// when it is dropped while flushing (it then still goes out);
/// [`flush`](Self::flush) is cancel-safe; [`try_send`](Self::try_send) does
/// not wait.
#[derive(Debug)]
pub struct Sender<S = crate::MaybeTlsStream> {
    shared: Shared<S>,
}

impl<S> Clone for Sender<S> {
    fn clone(&self) -> Self {
        Sender { shared: self.shared.clone() }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sender<S> {
    /// Sends a message and waits until it is written. Cancel-safe as
    /// [`WebSocket::send`].
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        poll_fn(|cx| lock(&self.shared).poll_ready_inner(cx)).await?;
        lock(&self.shared).s.conn.send(message)?;
        poll_fn(|cx| lock(&self.shared).poll_flush_inner(cx)).await
    }

    /// Sends a message uncompressed even when permessage-deflate is on.
    pub async fn send_uncompressed(&self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        poll_fn(|cx| lock(&self.shared).poll_ready_inner(cx)).await?;
        lock(&self.shared).s.conn.send_with(message, false)?;
        poll_fn(|cx| lock(&self.shared).poll_flush_inner(cx)).await
    }

    /// Queues a message without waiting: [`Error::Full`] when the send
    /// buffer is over its bound, [`Error::Closed`] once closing. The bytes are
    /// written now if the transport takes them, else by the next poll of
    /// either half.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let mut ws = lock(&self.shared);
        if ws.s.done || ws.s.conn.state() != State::Open {
            return Err(Error::Closed);
        }
        if ws.s.conn.buffered() >= ws.s.settings.write_buffer_size {
            return Err(Error::Full);
        }
        ws.s.conn.send(message.into())?;
        let waker = futures_util::task::noop_waker();
        let _ = ws.poll_write_out(&mut Context::from_waker(&waker));
        Ok(())
    }

    /// Queues a message framed once for many connections (fan-out) without
    /// waiting and without a copy; [`flush`](Self::flush) or the
    /// [`Receiver`] writes it. Server side only. Unlike
    /// [`try_send`](Self::try_send) it does not check the send buffer's
    /// bound: a fan-out keeps its own bound per member.
    pub fn feed_prepared(&self, message: &PreparedMessage) -> Result<(), Error> {
        let mut ws = lock(&self.shared);
        if ws.s.done {
            return Err(Error::Closed);
        }
        ws.feed_prepared(message)
    }

    /// Writes everything queued, waiting while the transport is full.
    pub async fn flush(&self) -> Result<(), Error> {
        poll_fn(|cx| lock(&self.shared).poll_flush_inner(cx)).await
    }

    /// Bytes queued and not yet taken by the transport.
    pub fn buffered_amount(&self) -> usize {
        lock(&self.shared).buffered_amount()
    }

    /// Sends a ping.
    pub async fn ping(&self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        lock(&self.shared).s.conn.send_ping(payload.as_ref())?;
        poll_fn(|cx| lock(&self.shared).poll_flush_inner(cx)).await
    }

    /// Starts the closing handshake with `code` and `reason` and flushes it.
    /// The [`Receiver`] ends once the peer answers.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        lock(&self.shared).start_close(&CloseFrame::new(code, reason))?;
        poll_fn(|cx| lock(&self.shared).poll_flush_inner(cx)).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for Sender<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_ready_inner(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        Ok(lock(&self.shared).s.conn.send(item)?)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_flush_inner(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_close_inner(cx)
    }
}

/// The receiving half of a split [`WebSocket`]: a [`Stream`] of messages.
/// Keep polling it: it answers pings and completes the closing handshake.
///
/// # Cancel safety
///
/// `next()` is cancel-safe, as the [`WebSocket`]'s: a frame or message
/// received in part stays buffered in the shared connection, so a
/// `select!` loop that drops the future mid-frame loses nothing.
#[derive(Debug)]
pub struct Receiver<S = crate::MaybeTlsStream> {
    shared: Shared<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Receiver<S> {
    /// The close frame the peer sent, once it arrived.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        lock(&self.shared).close_frame().cloned()
    }

    /// The peer's close code; see [`WebSocket::close_code`].
    pub fn close_code(&self) -> Option<CloseCode> {
        lock(&self.shared).close_code()
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<String> {
        lock(&self.shared).protocol().map(str::to_owned)
    }

    /// The payload of the last pong received, other than the answers to
    /// the keepalive pings.
    pub fn last_pong(&self) -> Option<Bytes> {
        lock(&self.shared).last_pong().cloned()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for Receiver<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut ws = lock(&self.shared);
        // Wake the reader when the transport becomes writable, so bytes
        // queued by `try_send` go out even if no sender task is waiting.
        if let Some(set) = &ws.s.writers {
            set.register(cx.waker());
        }
        ws.poll_next_inner(cx)
    }
}
