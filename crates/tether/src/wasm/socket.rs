//! [`WebSocket`] in the browser: a [`Stream`] of received messages and a
//! [`Sink`] of messages to send, with the tokio backend's method names.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use tether_proto::{CloseCode, CloseFrame, Message, State};

use super::conn::Conn;
use super::split::{Receiver, Sender};
use super::timer::Sleep;
use crate::Error;

/// A browser WebSocket connection, after it opened.
///
/// - As a [`Stream`], it yields each received [`Message`]: text frames as
///   [`Message::Text`], binary frames as [`Message::Binary`]. After a clean
///   close the stream ends (`None`) and [`close_frame`](Self::close_frame)
///   tells the code and reason; a broken connection (close code 1006) ends
///   it with an `Err`.
/// - As a [`Sink`], it sends messages; [`send`](Self::send) does it without
///   importing `SinkExt`. Sending waits while the socket's `bufferedAmount`
///   is at [`Config::write_buffer_size`](crate::Config::write_buffer_size).
/// - [`split`](Self::split) gives a [`Receiver`] and a cloneable [`Sender`].
///
/// Unlike the tokio backend's, it is not `Send`: the browser's socket
/// belongs to the page's thread (spawn with `wasm_bindgen_futures::spawn_local`).
/// Dropping it (and its halves) closes the socket.
#[derive(Debug)]
pub struct WebSocket {
    pub(super) conn: Conn,
}

/// Waits for the close event, at most `config.close_timeout`.
pub(super) async fn wait_closed(conn: &Conn, discard: bool) -> Result<(), Error> {
    let limit = conn.config().close_timeout;
    let mut timeout = Sleep::new(limit);
    poll_fn(|cx| match conn.poll_closed(cx, discard) {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => Pin::new(&mut timeout).poll(cx).map(|()| Err(Error::CloseTimeout(limit))),
    })
    .await
}

impl WebSocket {
    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.conn.protocol()
    }

    /// The close frame the peer sent, once the closing handshake happened
    /// (`None` before, or if the peer's close frame carried no code).
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.conn.close_frame()
    }

    /// The peer's close code: [`CloseCode::NO_STATUS`] (1005) for a close
    /// frame without one, `None` while the connection is open, and
    /// [`CloseCode::ABNORMAL`] (1006) if it broke without a close frame.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.conn.close_code()
    }

    /// The peer's close reason (empty if none was given).
    pub fn close_reason(&self) -> Option<&str> {
        self.conn.close_frame().map(|f| f.reason.as_str())
    }

    /// Bytes handed to the browser and not yet sent: the socket's `bufferedAmount`.
    pub fn buffered_amount(&mut self) -> usize {
        self.conn.buffered_amount()
    }

    /// Whether the connection goes through the browser's `WebSocketStream`
    /// (receive backpressure: the browser reads the socket only as fast as
    /// this side reads messages) rather than a plain `WebSocket` (a bounded
    /// receive queue); see [`Config::websocket_stream`](crate::Config::websocket_stream).
    pub fn uses_websocket_stream(&self) -> bool {
        self.conn.is_stream()
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.conn.state()
    }

    /// The next message; the same as `StreamExt::next`, without the import.
    pub async fn next_message(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.conn.poll_next(cx)).await
    }

    /// Waits for room under the send buffer bound, then hands the message
    /// to the browser. The same as `SinkExt::send`.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        poll_fn(|cx| self.conn.poll_ready(cx)).await?;
        self.conn.send(message)
    }

    /// Closes with `code` and `reason` and waits for the closing handshake
    /// to complete (bounded by [`Config::close_timeout`](crate::Config::close_timeout)).
    /// Messages that arrive in the meantime are discarded. Browsers accept
    /// only 1000 and 3000–4999: another code is
    /// [`Error::Send`]`(`[`SendError::InvalidCloseCode`](crate::SendError::InvalidCloseCode)`)`.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.start_close(code, reason)?;
        wait_closed(&self.conn, true).await
    }

    /// Starts the closing handshake; the stream goes on yielding what the
    /// peer sent before its answer, then ends.
    pub async fn begin_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.start_close(code, reason)
    }

    /// Splits into a receiving half and a cloneable sending half.
    pub fn split(self) -> (Sender, Receiver) {
        (Sender { conn: self.conn.clone() }, Receiver { conn: self.conn })
    }
}
