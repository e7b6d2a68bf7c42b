//! The split halves of a browser [`WebSocket`](super::WebSocket): a
//! [`Receiver`] (Stream) and a cloneable [`Sender`] (Sink, and
//! `send(&self)` for any task of the page).

use std::future::poll_fn;

use tether_proto::{CloseCode, CloseFrame, Message};

use super::conn::Conn;
use crate::Error;

/// The sending half of a split [`WebSocket`](super::WebSocket): a [`Sink`]
/// of messages and a cheap, cloneable handle whose [`send`](Self::send)
/// takes `&self`, for use from any task or callback of the page.
#[derive(Debug, Clone)]
pub struct Sender {
    pub(super) conn: Conn,
}

impl Sender {
    /// Waits for room under the send buffer bound, then hands the message
    /// to the browser.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        poll_fn(|cx| self.conn.poll_ready(cx)).await?;
        self.conn.send(message)
    }

    /// Sends without waiting: [`Error::Full`] while `bufferedAmount` is at
    /// the bound, [`Error::Closed`] once closing.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), Error> {
        self.conn.try_send(message.into())
    }

    /// Ready at once: the browser took every message `send` handed it and
    /// does not say when they leave (watch [`buffered_amount`](Self::buffered_amount)).
    pub async fn flush(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Bytes handed to the browser and not yet sent: the socket's `bufferedAmount`.
    pub fn buffered_amount(&self) -> usize {
        self.conn.buffered_amount()
    }

    /// Starts the closing handshake with `code` and `reason` (1000 or
    /// 3000–4999, else a typed error). The [`Receiver`] ends once the peer answers.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.conn.start_close(code, reason)
    }
}

/// The receiving half of a split [`WebSocket`](super::WebSocket): a
/// [`Stream`] of messages.
#[derive(Debug)]
pub struct Receiver {
    pub(super) conn: Conn,
}

impl Receiver {
    /// The close frame the peer sent, once it arrived.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        self.conn.close_frame().cloned()
    }

    /// The peer's close code; see [`WebSocket::close_code`](super::WebSocket::close_code).
    pub fn close_code(&self) -> Option<CloseCode> {
        self.conn.close_code()
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<String> {
        self.conn.protocol().map(str::to_owned)
    }
}
