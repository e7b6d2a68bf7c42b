//! The browser backend (`wasm32`): the tokio backend's public names over
//! the page's own `WebSocket` object, so code written against
//! `tether::connect`, `WebSocket`, `split`, `close` and `close_frame`
//! compiles and behaves the same in a web page.
//!
//! The browser does the TCP connection, TLS, the handshake, framing,
//! masking, pings and permessage-deflate; this module adds what the plain
//! browser API lacks: a `Stream` + `Sink` with send backpressure (the sink
//! is not ready while `bufferedAmount` is at the bound, re-checked by a
//! timer since no event says it fell), a bounded receive queue, a close
//! that waits for the peer, and typed errors. `docs/wasm.md` lists every
//! difference from the tokio backend.
//!
//! Receive side: Chrome's `WebSocketStream` would let the reader pace the
//! socket, but it exists in Chromium only, and a second code path for one
//! engine costs more than it gives here. A plain `WebSocket` pushes every
//! message as it arrives, so unread messages wait in a queue bounded by
//! [`Config::receive_buffer_size`]; past it the connection is closed (code
//! 4008, since scripts may not send 1008) and the stream ends with
//! [`Error::ReceiveBufferFull`](crate::Error::ReceiveBufferFull).

mod config;
mod conn;
mod connect;
mod socket;
mod split;
mod timer;
mod traits;

pub use config::Config;
pub use connect::{connect, connect_with, ClientBuilder};
pub use socket::WebSocket;
pub use split::{Receiver, Sender};
pub(crate) use timer::sleep;
