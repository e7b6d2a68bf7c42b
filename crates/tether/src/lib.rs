//! WebSocket (RFC 6455) for tokio: connect or accept, then read a
//! [`Stream`](futures_core::Stream) of messages and send through a
//! [`Sink`](futures_sink::Sink).
//!
//! The five steps (numbered as the mission lists them; the code sends before
//! it listens, so step 3 comes before step 2):
//!
//! ```no_run
//! use tether::prelude::*;
//!
//! # async fn demo() -> Result<(), tether::Error> {
//! // 1. connect
//! let mut ws = tether::connect("ws://127.0.0.1:9001").await?;
//! // 3. send
//! ws.send(Message::text("Hello!")).await?;
//! // 2. listen: the frame's opcode decides text or binary
//! if let Some(msg) = ws.next().await {
//!     match msg? {
//!         Message::Text(text) => println!("echo: {text}"),
//!         Message::Binary(bytes) => println!("{} bytes", bytes.len()),
//!     }
//! }
//! // 4. close, with a code and a reason both sides can read
//! ws.close(CloseCode::NORMAL, "bye").await?;
//! println!("closed: {:?}", ws.close_frame());
//! // 5. failures arrive as a typed `tether::Error` from any step above
//! # Ok(()) }
//! ```
//!
//! The protocol itself (handshake bytes, frames, masking, UTF-8, the
//! closing handshake) lives in the sans-IO crate [`tether_proto`]; this crate
//! only moves bytes between it and the socket: payloads are unmasked in place
//! as they arrive and handed out without a copy, and what is queued goes out
//! in vectored writes.
//!
//! On the server side, [`accept`] upgrades one connection you accepted
//! yourself; [`Server`] runs the accept loop over `ws://` or `wss://`
//! ([`Server::serve_tls`]), with origin checks, per-address limits, a bound
//! on handshakes in progress and a graceful shutdown that closes every
//! connection with 1001. With the `http2` feature (on by default) it also
//! speaks HTTP/2 on the same port, WebSockets arriving as extended CONNECT
//! streams (RFC 8441), as browsers open them next to a page served over
//! HTTP/2.
//!
//! Inside a hyper 1 or axum 0.8 server (the opt-in features `hyper` and
//! `axum`), [`upgrade`] and [`axum::WebSocketUpgrade`] take the upgrade
//! request, HTTP/1.1 or HTTP/2 extended CONNECT (RFC 8441), through the same
//! checks and negotiation as [`accept`], and give the same [`WebSocket`].
//!
//! `wss://` works in both roles with rustls (the default feature `rustls`;
//! see [`tls`] for the crypto provider and trust roots, and the
//! `native-roots` feature for the OS certificate store). Clients go through
//! HTTP `CONNECT` and SOCKS5 proxies, from the environment as curl reads it
//! or given explicitly (see [`proxy`]).
//!
//! Timers (connect, close and handshake timeouts) need a tokio runtime with
//! the time driver enabled, as `#[tokio::main]` provides.
#![forbid(unsafe_code)]
// The docs link to the TLS, hyper and axum items, which only exist with
// their features.
#![cfg_attr(not(all(feature = "rustls", feature = "hyper", feature = "axum")), allow(rustdoc::broken_intra_doc_links))]

mod client;
mod config;
mod error;
#[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
pub mod http2;
mod maybe_tls;
pub mod proxy;
mod reconnect;
mod server;
mod target;
mod timers;
#[cfg(feature = "rustls")]
pub mod tls;
mod websocket;

pub use bytes::Bytes;
pub use client::{connect, connect_with, ClientBuilder};
pub use config::{Backpressure, Config};
#[cfg(feature = "http2")]
pub use error::Http2Error;
pub use error::{Error, ProxyError, TlsError};
pub use maybe_tls::MaybeTlsStream;
pub use proxy::{Proxy, ProxyKind};
pub use reconnect::{ConnectionEvent, Events, ReconnectBuilder, ReconnectPolicy, ReconnectSender, ReconnectingClient};
#[cfg(feature = "axum")]
pub use server::axum;
pub use server::{
    accept, accept_or_respond, accept_with, allow_origins, Accept, Accepted, Reject, Server, ShutdownHandle,
};
#[cfg(feature = "hyper")]
pub use server::{upgrade, Upgraded, Upgrading};
pub use tether_proto::handshake::client::Response;
pub use tether_proto::handshake::server::Request;
pub use tether_proto::handshake::HandshakeError;
pub use tether_proto::{
    CloseCode, CloseFrame, DeflateConfig, DeflateParams, Message, PreparedMessage, ProtocolError, Role, SendError,
    State, Utf8Bytes,
};
pub use websocket::split::{Receiver, Sender};
pub use websocket::WebSocket;

/// The protocol engine, for those who drive it themselves.
pub use tether_proto as proto;

/// Everything the five steps need: `use tether::prelude::*;`.
pub mod prelude {
    pub use crate::{CloseCode, CloseFrame, Message};
    pub use futures_util::{SinkExt, StreamExt};
}
