//! The connection the handles share, over one of the browser's two APIs:
//! [`SocketConn`] for the plain `WebSocket`, [`StreamConn`] for
//! `WebSocketStream`, chosen at connect.

use std::rc::Rc;
use std::task::{Context, Poll};

use tether_proto::{CloseCode, CloseFrame, Message, State};

use super::socket_conn::SocketConn;
use super::stream_conn::StreamConn;
use super::Config;
use crate::Error;

/// A browser connection, through `WebSocketStream` where the browser has
/// it and [`Config::websocket_stream`] allows it, else a plain `WebSocket`.
#[derive(Clone)]
pub(super) enum Conn {
    Socket(Rc<SocketConn>),
    Stream(Rc<StreamConn>),
}

/// Calls the same method on whichever path the connection took.
macro_rules! on_path {
    ($conn:expr, $c:ident => $call:expr) => {
        match $conn {
            Conn::Socket($c) => $call,
            Conn::Stream($c) => $call,
        }
    };
}

impl Conn {
    /// Starts connecting. Only the scheme is checked here; the browser
    /// parses the rest (its constructor throws a SyntaxError). Not with the
    /// `url` crate: its IDNA tables would more than double a page's .wasm.
    pub(super) fn open(url: &str, protocols: &[String], config: Config) -> Result<Conn, Error> {
        let scheme = url.trim().split_once("://").map_or("", |(scheme, _)| scheme);
        if !scheme.eq_ignore_ascii_case("ws") && !scheme.eq_ignore_ascii_case("wss") {
            let reason = format!("scheme {scheme}:// is not ws:// or wss://");
            return Err(Error::Url { url: url.into(), reason: reason.into() });
        }
        if config.websocket_stream && StreamConn::available() {
            StreamConn::open(url, protocols, config).map(Conn::Stream)
        } else {
            SocketConn::open(url, protocols, config).map(Conn::Socket)
        }
    }

    /// The connection's settings.
    pub(super) fn config(&self) -> &Config {
        on_path!(self, c => &c.config)
    }

    /// Whether it goes through `WebSocketStream`.
    pub(super) fn is_stream(&self) -> bool {
        matches!(self, Conn::Stream(_))
    }

    pub(super) fn poll_open(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        on_path!(self, c => c.poll_open(cx))
    }

    pub(super) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        on_path!(self, c => c.poll_next(cx))
    }

    pub(super) fn buffered_amount(&self) -> usize {
        on_path!(self, c => c.buffered_amount())
    }

    pub(super) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        on_path!(self, c => c.poll_ready(cx))
    }

    pub(super) fn send(&self, message: Message) -> Result<(), Error> {
        on_path!(self, c => c.send(message))
    }

    pub(super) fn try_send(&self, message: Message) -> Result<(), Error> {
        on_path!(self, c => c.try_send(message))
    }

    pub(super) fn start_close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        on_path!(self, c => c.start_close(code, reason))
    }

    pub(super) fn poll_closed(&self, cx: &mut Context<'_>, discard: bool) -> Poll<Result<(), Error>> {
        on_path!(self, c => c.poll_closed(cx, discard))
    }

    pub(super) fn close_frame(&self) -> Option<&CloseFrame> {
        on_path!(self, c => c.peer.close_frame())
    }

    pub(super) fn close_code(&self) -> Option<CloseCode> {
        on_path!(self, c => c.end().close_code())
    }

    pub(super) fn protocol(&self) -> Option<&str> {
        on_path!(self, c => c.peer.protocol())
    }

    pub(super) fn state(&self) -> State {
        on_path!(self, c => c.end().state(c.closing()))
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let api = if self.is_stream() { "WebSocketStream" } else { "WebSocket" };
        let url: &str = on_path!(self, c => &c.url);
        f.debug_struct("Conn").field("api", &api).field("url", &url).field("state", &self.state()).finish()
    }
}
