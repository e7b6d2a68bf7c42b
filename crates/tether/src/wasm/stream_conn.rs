//! The connection over Chromium's `WebSocketStream`: received messages are
//! read from its readable stream one at a time, only when the application
//! polls, so the browser stops reading the socket while the application
//! does not (receive backpressure, which a plain `WebSocket` cannot give);
//! messages go out through its writable stream.

use std::cell::{Ref, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use js_sys::{Array, Uint8Array};
use tether_proto::{CloseCode, Message};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};

use super::common::{
    check_close, close_failed, connect_failed, message_of, refused_url, register, wake_all, End, Failure, Peer,
};
use super::stream_js::{self, StreamReader, StreamWriter, WebSocketStream};
use super::Config;
use crate::Error;

/// One `WebSocketStream` and what its promises left for the Rust side.
pub(super) struct StreamConn {
    pub(super) config: Config,
    pub(super) url: Box<str>,
    ws: WebSocketStream,
    /// This connection, for the tasks that wait on its promises.
    me: Weak<StreamConn>,
    state: RefCell<Shared>,
    /// The peer's close frame and the agreed subprotocol.
    pub(super) peer: Peer,
}

/// What the promise tasks and the application's tasks share.
#[derive(Default)]
struct Shared {
    /// `opened` settled: whether it resolved.
    opened: Option<bool>,
    reader: Option<StreamReader>,
    writer: Option<StreamWriter>,
    /// The one `read()` in flight: started by a poll, never ahead of one.
    read: Option<JsFuture>,
    /// The readable stream is done (closed or errored).
    read_done: bool,
    /// How it ended (`ended`: when `closed` settled).
    end: End,
    /// Bytes written whose `write()` promise has not resolved yet: what
    /// `bufferedAmount` is on the other path.
    in_flight: usize,
    /// The task reading messages.
    reader_waker: Option<Waker>,
    /// Tasks waiting to open, to write or for the close.
    waiters: Vec<Waker>,
}

/// One step of reading.
enum Read {
    Message(Message),
    /// The readable stream ended (cleanly or not: `closed` tells).
    Done,
    Pending,
}

impl StreamConn {
    /// Whether the browser has `WebSocketStream`.
    pub(super) fn available() -> bool {
        stream_js::available()
    }

    /// Creates the stream (which starts connecting) and the tasks that
    /// wait for its `opened` and `closed` promises.
    pub(super) fn open(url: &str, protocols: &[String], config: Config) -> Result<Rc<StreamConn>, Error> {
        let list: Array = protocols.iter().map(|p| JsValue::from_str(p)).collect();
        let options = stream_js::object(&[("protocols", list.into())]);
        let ws = WebSocketStream::new(url, &options).map_err(|e| refused_url(url, &e))?;
        let conn = Rc::new_cyclic(|me| StreamConn {
            config,
            url: url.into(),
            ws,
            me: me.clone(),
            state: RefCell::default(),
            peer: Peer::default(),
        });
        let (opened, me) = (JsFuture::from(conn.ws.opened()), conn.me.clone());
        spawn_local(async move {
            let result = opened.await;
            if let Some(conn) = me.upgrade() {
                conn.on_opened(result);
            }
        });
        let (closed, me) = (JsFuture::from(conn.ws.closed()), conn.me.clone());
        spawn_local(async move {
            let result = closed.await;
            if let Some(conn) = me.upgrade() {
                conn.on_closed(result);
            }
        });
        Ok(conn)
    }

    /// Ready once open; a failure before that the browser does not explain.
    pub(super) fn poll_open(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut st = self.state.borrow_mut();
        match st.opened {
            Some(true) => Poll::Ready(Ok(())),
            Some(false) => Poll::Ready(Err(connect_failed(&self.url))),
            None => {
                register(&mut st.waiters, cx.waker());
                Poll::Pending
            }
        }
    }

    /// Reads one message if one is there, starting a `read()` if none is
    /// in flight: the browser reads the socket only as far as its stream's
    /// queue has room, so an application that does not poll stalls the peer.
    fn read(st: &mut Shared, cx: &mut Context<'_>) -> Read {
        loop {
            let Some(reader) = st.reader.clone().filter(|_| !st.read_done) else {
                return Read::Done;
            };
            let read = st.read.get_or_insert_with(|| JsFuture::from(reader.read()));
            let result = match Pin::new(read).poll(cx) {
                Poll::Pending => return Read::Pending,
                Poll::Ready(result) => result,
            };
            st.read = None;
            let Ok(chunk) = result else {
                st.read_done = true;
                return Read::Done;
            };
            if stream_js::field(&chunk, "done").as_bool().unwrap_or(false) {
                st.read_done = true;
                return Read::Done;
            }
            // Anything but a string or an ArrayBuffer is not a message.
            if let Some(message) = message_of(&stream_js::field(&chunk, "value")) {
                return Read::Message(message);
            }
        }
    }

    /// Reads and drops messages until none is there: a close frame queued
    /// behind unread messages reaches the browser only once they are read.
    fn drain(st: &mut Shared, cx: &mut Context<'_>) {
        while let Read::Message(_) = Self::read(st, cx) {}
    }

    /// The next message; then, once the connection is gone, `None` after a
    /// clean close or one error after any other end.
    pub(super) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let mut st = self.state.borrow_mut();
        if st.end.failure.is_none() {
            match Self::read(&mut st, cx) {
                Read::Message(message) if message.len() > self.config.protocol.max_message_size => {
                    let (size, max) = (message.len(), self.config.protocol.max_message_size);
                    st.end.failure = Some(Failure::TooLarge { size, max });
                    // Browsers refuse 1009 from scripts: 4009 says the same.
                    self.close_now(&mut st, 4009, "message too big");
                }
                Read::Message(message) => return Poll::Ready(Some(Ok(message))),
                Read::Pending => return Poll::Pending,
                Read::Done => {}
            }
        } else {
            Self::drain(&mut st, cx);
        }
        match st.end.next() {
            Some(end) => Poll::Ready(end),
            None => {
                st.reader_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Whether `send` may be called: open, and neither side started closing.
    fn sendable(st: &Shared) -> bool {
        st.opened == Some(true) && !st.end.closing && st.end.failure.is_none() && st.end.ended.is_none()
    }

    /// Bytes handed to the writable stream whose `write()` has not resolved.
    pub(super) fn buffered_amount(&self) -> usize {
        self.state.borrow().in_flight
    }

    /// Ready while the bytes in flight are under the bound; woken when a
    /// `write()` promise resolves, so no timer polls. (The writer's
    /// `desiredSize` counts chunks, not bytes, by the Streams API's default
    /// strategy: the write promises tell the bytes.)
    pub(super) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut st = self.state.borrow_mut();
        if !Self::sendable(&st) {
            return Poll::Ready(Err(Error::Closed));
        }
        if st.in_flight < self.config.write_buffer_size {
            return Poll::Ready(Ok(()));
        }
        register(&mut st.waiters, cx.waker());
        Poll::Pending
    }

    /// Hands a message to the writable stream; a task waits for its
    /// `write()` promise to count the bytes out again.
    pub(super) fn send(&self, message: Message) -> Result<(), Error> {
        let mut st = self.state.borrow_mut();
        let writer = st.writer.clone().filter(|_| Self::sendable(&st)).ok_or(Error::Closed)?;
        let chunk: JsValue = match &message {
            Message::Text(text) => JsValue::from_str(text.as_str()),
            Message::Binary(bytes) => Uint8Array::from(&bytes[..]).into(),
        };
        let written = JsFuture::from(writer.write(&chunk).map_err(|_| Error::Closed)?);
        let len = message.len();
        st.in_flight += len;
        let me = self.me.clone();
        spawn_local(async move {
            // A failed write ends the connection: `closed` reports that.
            let _ = written.await;
            if let Some(conn) = me.upgrade() {
                conn.on_written(len);
            }
        });
        Ok(())
    }

    /// [`send`](Self::send) unless the bytes in flight are at the bound.
    pub(super) fn try_send(&self, message: Message) -> Result<(), Error> {
        {
            let st = self.state.borrow();
            if !Self::sendable(&st) {
                return Err(Error::Closed);
            }
            if st.in_flight >= self.config.write_buffer_size {
                return Err(Error::Full);
            }
        }
        self.send(message)
    }

    /// Starts the closing handshake (1000 or 3000–4999 only).
    pub(super) fn start_close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        check_close(code, reason)?;
        let mut st = self.state.borrow_mut();
        if st.end.closing || st.end.ended.is_some() || st.opened != Some(true) {
            return Ok(());
        }
        st.end.closing = true;
        drop(st);
        let info = stream_js::object(&[("closeCode", code.0.into()), ("reason", reason.into())]);
        self.ws.close(&info).map_err(|e| close_failed(&e))
    }

    /// Closes because of a limit we enforce.
    fn close_now(&self, st: &mut Shared, code: u16, reason: &str) {
        st.end.closing = true;
        let info = stream_js::object(&[("closeCode", code.into()), ("reason", reason.into())]);
        let _ = self.ws.close(&info);
    }

    /// Ready once `closed` settled; with `discard`, reads and drops the
    /// messages before the peer's close frame (as the tokio backend's `close` does).
    pub(super) fn poll_closed(&self, cx: &mut Context<'_>, discard: bool) -> Poll<Result<(), Error>> {
        let mut st = self.state.borrow_mut();
        if discard {
            Self::drain(&mut st, cx);
        }
        let st = &mut *st;
        st.end.poll_closed(discard, &mut st.waiters, cx)
    }

    /// How the connection ends.
    pub(super) fn end(&self) -> Ref<'_, End> {
        Ref::map(self.state.borrow(), |st| &st.end)
    }

    /// Whether the browser is closing (beyond our own `close`).
    pub(super) fn closing(&self) -> bool {
        false
    }

    /// `opened` settled: take the reader, the writer and the subprotocol.
    fn on_opened(&self, result: Result<JsValue, JsValue>) {
        let streams = result.and_then(|info| {
            let reader = stream_js::call0(&stream_js::field(&info, "readable"), "getReader")?;
            let writer = stream_js::call0(&stream_js::field(&info, "writable"), "getWriter")?;
            let protocol = stream_js::field(&info, "protocol").as_string().unwrap_or_default();
            Ok((reader.unchecked_into::<StreamReader>(), writer.unchecked_into::<StreamWriter>(), protocol))
        });
        let mut st = self.state.borrow_mut();
        st.opened = Some(streams.is_ok());
        if let Ok((reader, writer, protocol)) = streams {
            self.peer.opened(protocol);
            st.reader = Some(reader);
            st.writer = Some(writer);
        }
        let waiters = std::mem::take(&mut st.waiters);
        drop(st);
        wake_all(waiters);
    }

    /// `closed` settled: record how it ended and wake everyone. It
    /// resolves with `{ closeCode, reason }` after a clean close and
    /// rejects (with a `WebSocketError`, code 1006) after any other end.
    fn on_closed(&self, result: Result<JsValue, JsValue>) {
        let clean = result.is_ok();
        let info = result.unwrap_or_else(|error| error);
        let code = stream_js::field(&info, "closeCode")
            .as_f64()
            .map_or(if clean { CloseCode::NO_STATUS.0 } else { CloseCode::ABNORMAL.0 }, |code| code as u16);
        self.peer.closed(code, stream_js::field(&info, "reason").as_string().unwrap_or_default(), clean);
        let mut st = self.state.borrow_mut();
        st.end.ended = Some((code, clean));
        st.opened.get_or_insert(false);
        let reader = st.reader_waker.take();
        let waiters = std::mem::take(&mut st.waiters);
        drop(st);
        reader.into_iter().for_each(Waker::wake);
        wake_all(waiters);
    }

    /// A `write()` promise settled: its bytes are no longer in flight.
    fn on_written(&self, len: usize) {
        let mut st = self.state.borrow_mut();
        st.in_flight = st.in_flight.saturating_sub(len);
        let waiters = std::mem::take(&mut st.waiters);
        drop(st);
        wake_all(waiters);
    }
}

/// The last handle is gone: close a stream that is still open or opening
/// (the browser would keep it).
impl Drop for StreamConn {
    fn drop(&mut self) {
        if self.state.get_mut().end.ended.is_none() {
            let _ = self.ws.close(&JsValue::UNDEFINED);
        }
    }
}
