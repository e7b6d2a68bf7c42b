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
//!
//! In the browser (`wasm32-unknown-unknown`, default features) the crate
//! drives the browser's `WebSocketStream` where it has one (Chromium), else
//! the page's own `WebSocket` object, with the same names:
//! [`connect`], [`connect_with`] (subprotocols and a [`Config`]),
//! [`WebSocket`] as `Stream` + `Sink`, `split` into [`Receiver`] and a
//! cloneable [`Sender`], `close`, `close_frame`, [`Message`], [`CloseCode`],
//! [`Error`] and the [`prelude`], so the five steps above compile for both.
//! There sends wait while the browser holds more than the configured bound;
//! through `WebSocketStream` a message is read only when the application
//! asks, so a page that does not read makes the peer wait, and elsewhere
//! unread messages are queued up to a bound. What a
//! page cannot do (headers, proxies, TLS settings, pings, close codes
//! outside 1000 and 3000–4999) is absent or a typed error. The
//! [`ReconnectingClient`] runs there too, on the page's tasks. The repository's
//! `docs/wasm.md` tables every difference between the two backends.
// One `unsafe` block, measured to pay: `server/listener.rs`.
#![deny(unsafe_code)]
// The docs link to the TLS, hyper and axum items, which only exist with
// their features, and to the server, which the browser build lacks.
#![cfg_attr(
    any(target_arch = "wasm32", not(all(feature = "rustls", feature = "hyper", feature = "axum"))),
    allow(rustdoc::broken_intra_doc_links)
)]

#[macro_use]
mod shared;
// The tokio backend: sockets, TLS, proxies, the server. None of it exists
// in the browser, whose WebSocket object does all of that itself.
#[cfg(not(target_arch = "wasm32"))]
mod client;
#[cfg(not(target_arch = "wasm32"))]
mod config;
mod error;
#[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
pub mod http2;
#[cfg(not(target_arch = "wasm32"))]
mod maybe_tls;
#[cfg(not(target_arch = "wasm32"))]
pub mod proxy;
mod reconnect;
mod runtime;
#[cfg(not(target_arch = "wasm32"))]
mod server;
#[cfg(not(target_arch = "wasm32"))]
mod slots;
#[cfg(not(target_arch = "wasm32"))]
mod target;
#[cfg(not(target_arch = "wasm32"))]
mod timers;
#[cfg(all(feature = "rustls", not(target_arch = "wasm32")))]
pub mod tls;
// The browser backend: the same names over the page's WebSocket object.
#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(not(target_arch = "wasm32"))]
mod websocket;

pub use bytes::Bytes;
#[cfg(not(target_arch = "wasm32"))]
pub use client::{connect, connect_with, ClientBuilder};
#[cfg(not(target_arch = "wasm32"))]
pub use config::{Backpressure, Config};
#[cfg(all(feature = "http2", not(target_arch = "wasm32")))]
pub use error::Http2Error;
pub use error::{Error, ProxyError, TlsError};
#[cfg(not(target_arch = "wasm32"))]
pub use native::*;
pub use reconnect::{ConnectionEvent, Events, ReconnectBuilder, ReconnectPolicy, ReconnectSender, ReconnectingClient};
pub use tether_proto::handshake::HandshakeError;
pub use tether_proto::{CloseCode, CloseFrame, Message, ProtocolError, SendError, State, Utf8Bytes};
#[cfg(target_arch = "wasm32")]
pub use wasm::{connect, connect_with, ClientBuilder, Config, Receiver, Sender, WebSocket};

/// What only the tokio backend has, re-exported at the crate root.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    pub use crate::maybe_tls::MaybeTlsStream;
    pub use crate::proxy::{Proxy, ProxyKind};
    #[cfg(feature = "axum")]
    pub use crate::server::axum;
    pub use crate::server::{
        accept, accept_or_respond, accept_with, allow_origins, Accept, Accepted, Reject, Server, ShutdownHandle,
    };
    #[cfg(feature = "hyper")]
    pub use crate::server::{upgrade, Upgraded, Upgrading};
    pub use crate::websocket::split::{Receiver, Sender};
    pub use crate::websocket::WebSocket;
    pub use tether_proto::handshake::client::Response;
    pub use tether_proto::handshake::server::Request;
    pub use tether_proto::{DeflateConfig, DeflateParams, PreparedMessage, Role};
}

/// The protocol engine, for those who drive it themselves.
pub use tether_proto as proto;

/// Everything the five steps need: `use tether::prelude::*;`.
pub mod prelude {
    pub use crate::{CloseCode, CloseFrame, Message};
    pub use futures_util::{SinkExt, StreamExt};
}
