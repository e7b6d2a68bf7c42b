//! The `Stream` of [`WebSocket`] and [`Receiver`] and the `Sink` of
//! [`WebSocket`] and [`Sender`]: each handle delegates to the shared
//! connection, so one macro writes each trait for both.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use tether_proto::{CloseCode, Message};

use super::{Receiver, Sender, WebSocket};
use crate::Error;

/// Yields each message; `None` after a clean close, one error after any other end.
macro_rules! message_stream {
    ($($handle:ty),*) => {$(
        impl Stream for $handle {
            type Item = Result<Message, Error>;

            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                self.conn.poll_next(cx)
            }
        }
    )*};
}

/// `poll_ready` waits while `bufferedAmount` is at the bound; `poll_flush`
/// is ready at once (the browser took the bytes and says no more);
/// `poll_close` sends close 1000.
macro_rules! message_sink {
    ($($handle:ty),*) => {$(
        impl Sink<Message> for $handle {
            type Error = Error;

            fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                self.conn.poll_ready(cx)
            }

            fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
                self.conn.send(item)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                Poll::Ready(self.conn.start_close(CloseCode::NORMAL, ""))
            }
        }
    )*};
}

message_stream!(WebSocket, Receiver);
message_sink!(WebSocket, Sender);
