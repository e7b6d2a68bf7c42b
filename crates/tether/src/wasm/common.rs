//! What the two connection paths share: how a connection ends (the
//! stream's end, `close`'s result, the close code and state), what the peer
//! told (close frame, subprotocol), URL and close-code checks, and how a
//! received value becomes a [`Message`].

use std::cell::OnceCell;
use std::io;
use std::task::{Context, Poll, Waker};

use js_sys::{ArrayBuffer, Uint8Array};
use tether_proto::{CloseCode, CloseFrame, Message, ProtocolError, SendError, State};
use wasm_bindgen::{JsCast, JsValue};

use crate::error::abnormal_eof;
use crate::Error;

/// How the connection ends, as both paths record it.
#[derive(Default)]
pub(super) struct End {
    /// The connection is gone: its close code and whether it closed cleanly.
    pub(super) ended: Option<(u16, bool)>,
    /// Why we closed the connection ourselves, reported after what was read.
    pub(super) failure: Option<Failure>,
    /// The stream has reported its end.
    pub(super) reported: bool,
    /// `close` was called (or a limit closed it): nothing more may be sent.
    pub(super) closing: bool,
}

impl End {
    /// The end of the stream once no message is left: `None` (wait for the
    /// close) or `Some` of what `poll_next` returns. The error of a limit we
    /// enforced comes at once; the end after it waits for the close, so that
    /// `close_code` then says how it closed.
    pub(super) fn next(&mut self) -> Option<Option<Result<Message, Error>>> {
        if self.reported && self.ended.is_some() {
            return Some(None);
        }
        if self.ended.is_none() && (self.failure.is_none() || self.reported) {
            return None;
        }
        self.reported = true;
        let clean = matches!(self.ended, Some((_, true)));
        Some(self.result(clean).err().map(Err))
    }

    /// What `close` reports once the connection is gone (`None` before);
    /// with `discard`, the stream then ends without reporting more.
    pub(super) fn closed(&mut self, discard: bool) -> Option<Result<(), Error>> {
        let (_, clean) = self.ended?;
        if discard {
            self.reported = true;
        }
        Some(self.result(clean))
    }

    /// [`closed`](Self::closed) as a poll: pending (the task registered
    /// in `waiters`) until the connection is gone.
    pub(super) fn poll_closed(
        &mut self,
        discard: bool,
        waiters: &mut Vec<Waker>,
        cx: &Context<'_>,
    ) -> Poll<Result<(), Error>> {
        match self.closed(discard) {
            Some(result) => Poll::Ready(result),
            None => {
                register(waiters, cx.waker());
                Poll::Pending
            }
        }
    }

    fn result(&self, clean: bool) -> Result<(), Error> {
        match self.failure {
            Some(failure) => Err(failure.error()),
            None if clean => Ok(()),
            None => Err(Error::Io(abnormal_eof())),
        }
    }

    /// The peer's close code: 1005 for a close without one, 1006 if the
    /// connection broke, `None` while it is open.
    pub(super) fn close_code(&self) -> Option<CloseCode> {
        self.ended.map(|(code, _)| CloseCode(code))
    }

    /// Where the closing handshake stands, in the tokio backend's terms;
    /// `closing` says the browser is closing (beyond our own `close`).
    pub(super) fn state(&self, closing: bool) -> State {
        match self.ended {
            Some((_, true)) => State::Closed,
            Some((_, false)) => State::Failed,
            None if self.closing || closing => State::Closing,
            None => State::Open,
        }
    }
}

/// What the peer told: its close frame and the agreed subprotocol.
#[derive(Default)]
pub(super) struct Peer {
    close_frame: OnceCell<CloseFrame>,
    protocol: OnceCell<Option<Box<str>>>,
}

impl Peer {
    /// The peer's close frame, once a clean close brought one with a code.
    pub(super) fn close_frame(&self) -> Option<&CloseFrame> {
        self.close_frame.get()
    }

    /// The subprotocol agreed in the handshake.
    pub(super) fn protocol(&self) -> Option<&str> {
        self.protocol.get()?.as_deref()
    }

    /// Records the subprotocol (the browser says "" for none).
    pub(super) fn opened(&self, protocol: String) {
        let _ = self.protocol.set((!protocol.is_empty()).then(|| protocol.into()));
    }

    /// Records the close; only a clean one with a code has a close frame.
    pub(super) fn closed(&self, code: u16, reason: String, clean: bool) {
        if clean && code != CloseCode::NO_STATUS.0 && code != CloseCode::ABNORMAL.0 {
            let _ = self.close_frame.set(CloseFrame::new(CloseCode(code), reason));
        }
    }
}

/// A limit of the receiving side that was passed.
#[derive(Clone, Copy)]
pub(super) enum Failure {
    Unread { limit: usize },
    TooLarge { size: usize, max: usize },
}

impl Failure {
    /// The error the stream reports for it.
    fn error(self) -> Error {
        match self {
            Failure::Unread { limit } => Error::ReceiveBufferFull { limit },
            Failure::TooLarge { size, max } => {
                Error::Protocol(ProtocolError::MessageTooLarge { size: size as u64, max })
            }
        }
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

/// Wakes every task in `wakers`.
pub(super) fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

/// Adds a task to wake, once.
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
