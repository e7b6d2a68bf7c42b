//! The browser backend (`wasm32`): the tokio backend's public names over
//! the browser's `WebSocketStream` where it has one, else the page's plain
//! `WebSocket` object, so code written against `tether::connect`,
//! `WebSocket`, `split`, `close` and `close_frame` compiles and behaves the
//! same in a web page.
//!
//! The browser does the TCP connection, TLS, the handshake, framing,
//! masking, pings and permessage-deflate; this module adds what the
//! browser APIs lack: a `Stream` + `Sink` with send backpressure, a close
//! that waits for the peer, and typed errors. `docs/wasm.md` lists every
//! difference from the tokio backend.
//!
//! Receive side: where the browser has `WebSocketStream` (feature-detected
//! at connect; Chromium) and [`Config::websocket_stream`] allows it, a
//! message is read from its readable stream only when the application
//! polls, so the browser stops reading the socket while the application
//! does not, and the peer waits, as with the tokio backend. Elsewhere a
//! plain `WebSocket` pushes every message as it arrives, so unread messages
//! wait in a queue bounded by [`Config::receive_buffer_size`]; past it the
//! connection is closed (code 4008, since scripts may not send 1008) and
//! the stream ends with [`Error::ReceiveBufferFull`](crate::Error::ReceiveBufferFull).
//!
//! Send side: through `WebSocketStream` the sink is not ready while the
//! bytes of pending `write()`s are at [`Config::write_buffer_size`], woken
//! by those promises; on a plain `WebSocket`, while `bufferedAmount` is at
//! the bound, re-checked by a timer since no event says it fell.

mod common;
mod config;
mod conn;
mod connect;
mod socket;
mod socket_conn;
mod split;
mod stream_conn;
mod stream_js;
mod timer;
mod traits;

pub use config::Config;
pub use connect::{connect, connect_with, ClientBuilder};
pub use socket::WebSocket;
pub use split::{Receiver, Sender};
pub(crate) use timer::sleep;
