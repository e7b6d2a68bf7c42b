//! The connection the handles share, over one of the browser's two APIs
//! ([`SocketConn`] for the plain `WebSocket`, [`StreamConn`] for
//! `WebSocketStream`), and what both paths agree on: URL and close-code
//! checks, how a received value becomes a [`Message`], and how the stream ends.

use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use js_sys::{ArrayBuffer, Uint8Array};
use tether_proto::{CloseCode, CloseFrame, Message, ProtocolError, SendError, State};
use wasm_bindgen::{JsCast, JsValue};

use super::socket_conn::SocketConn;
use super::stream_conn::StreamConn;
use super::Config;
use crate::error::abnormal_eof;
use crate::Error;

/// A browser connection, through `WebSocketStream` where the browser has
/// it and [`Config::websocket_stream`] allows it, else a plain `WebSocket`.
#[derive(Clone, Debug)]
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
        on_path!(self, c => c.close_frame())
    }

    pub(super) fn close_code(&self) -> Option<CloseCode> {
        on_path!(self, c => c.close_code())
    }

    pub(super) fn protocol(&self) -> Option<&str> {
        on_path!(self, c => c.protocol())
    }

    pub(super) fn state(&self) -> State {
        on_path!(self, c => c.state())
    }
}

/// A limit of the receiving side that was passed.
#[derive(Clone, Copy)]
pub(super) enum Failure {
    Unread { limit: usize },
    TooLarge { size: usize, max: usize },
}

impl Failure {
    fn error(self) -> Error {
        match self {
            Failure::Unread { limit } => Error::ReceiveBufferFull { limit },
            Failure::TooLarge { size, max } => {
                Error::Protocol(ProtocolError::MessageTooLarge { size: size as u64, max })
            }
        }
    }
}

/// The end of the stream once no message is left: `None` (wait for the
/// close) or `Some` of what `poll_next` returns. The error of a limit we
/// enforced comes at once; the end after it waits for the close, so that
/// `close_code` then says how it closed.
pub(super) fn end_of_stream(
    ended: Option<(u16, bool)>,
    failure: Option<Failure>,
    reported: &mut bool,
) -> Option<Option<Result<Message, Error>>> {
    if *reported && ended.is_some() {
        return Some(None);
    }
    if ended.is_none() && (failure.is_none() || *reported) {
        return None;
    }
    *reported = true;
    let clean = matches!(ended, Some((_, true)));
    Some(match failure {
        Some(failure) => Some(Err(failure.error())),
        None if clean => None,
        None => Some(Err(Error::Io(abnormal_eof()))),
    })
}

/// What `close` reports once the connection is gone.
pub(super) fn ended_result(failure: Option<Failure>, clean: bool) -> Result<(), Error> {
    match failure {
        Some(failure) => Err(failure.error()),
        None if clean => Ok(()),
        None => Err(Error::Io(abnormal_eof())),
    }
}

/// Browsers send only 1000 and 3000–4999 and reasons of at most 123
/// bytes: other values are a typed error rather than the exception the
/// browser would throw.
pub(super) fn check_close(code: CloseCode, reason: &str) -> Result<(), Error> {
    if !(code.0 == 1000 || (3000..=4999).contains(&code.0)) {
        return Err(Error::Send(SendError::InvalidCloseCode(code.0)));
    }
    if reason.len() > 123 {
        return Err(Error::Send(SendError::CloseReasonTooLong(reason.len())));
    }
    Ok(())
}

/// A received value as a message: a string is text, an `ArrayBuffer` binary.
pub(super) fn message_of(data: &JsValue) -> Option<Message> {
    if let Some(text) = data.as_string() {
        Some(Message::text(text))
    } else {
        data.dyn_ref::<ArrayBuffer>().map(|buffer| Message::binary(Uint8Array::new(buffer).to_vec()))
    }
}

/// The failure of a connection that never opened.
pub(super) fn connect_failed(url: &str) -> Error {
    Error::Connect {
        addr: url.into(),
        source: io::Error::other(
            "the browser does not say why: a refused connection, an HTTP status such as 403, \
             a DNS or TLS failure and a bad handshake all end in close code 1006",
        ),
    }
}

/// A URL or subprotocol list the browser's constructor threw on.
pub(super) fn refused_url(url: &str, exception: &JsValue) -> Error {
    Error::Url { url: url.into(), reason: format!("the browser refused it: {}", js_message(exception)).into() }
}

/// The browser threw on `close`.
pub(super) fn close_failed(exception: &JsValue) -> Error {
    Error::Io(io::Error::new(io::ErrorKind::InvalidInput, js_message(exception)))
}

pub(super) fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

pub(super) fn register(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

/// The text of a JavaScript exception.
pub(super) fn js_message(value: &JsValue) -> String {
    match value.dyn_ref::<js_sys::Error>() {
        Some(e) => String::from(e.message()),
        None => format!("{value:?}"),
    }
}
