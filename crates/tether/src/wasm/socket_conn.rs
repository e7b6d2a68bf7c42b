//! The connection over the page's plain `WebSocket` object (the path for
//! browsers without `WebSocketStream`): the queue its `message` events
//! fill, how it ended, and the wakers of the tasks waiting on it.
//! Everything here runs on the page's one thread.

use std::cell::{OnceCell, Ref, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use js_sys::Array;
use tether_proto::{CloseCode, Message};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, MessageEvent};

use super::common::{
    check_close, close_failed, connect_failed, message_of, refused_url, register, wake_all, End, Failure, Peer,
};
use super::timer;
use super::Config;
use crate::Error;

/// How often a writer that waits for `bufferedAmount` to fall looks again:
/// the browser has no event for it (libp2p's websocket-websys polls too).
const BUFFER_POLL: Duration = Duration::from_millis(5);

/// One plain browser WebSocket and what its events left for the Rust side.
pub(super) struct SocketConn {
    ws: web_sys::WebSocket,
    pub(super) config: Config,
    pub(super) url: Box<str>,
    state: RefCell<Shared>,
    /// The peer's close frame and the agreed subprotocol.
    pub(super) peer: Peer,
    /// The event handlers; they hold only a `Weak` to this `Conn`.
    handlers: OnceCell<Handlers>,
}

/// The JavaScript callbacks, kept alive as long as the socket may call them.
struct Handlers {
    open: Closure<dyn FnMut()>,
    message: Closure<dyn FnMut(MessageEvent)>,
    close: Closure<dyn FnMut(CloseEvent)>,
    /// The timer callback that wakes writers waiting for buffer space.
    poll: Closure<dyn FnMut()>,
}

/// What the event handlers and the tasks share.
#[derive(Default)]
struct Shared {
    opened: bool,
    queue: VecDeque<Message>,
    /// Bytes in `queue`.
    queued: usize,
    /// How it ended (`ended`: the close event's code and `wasClean`).
    end: End,
    reader: Option<Waker>,
    /// Tasks waiting to open, to write or for the close.
    waiters: Vec<Waker>,
    /// The id of the armed buffer poll timer.
    poll_timer: Option<JsValue>,
}

impl SocketConn {
    /// Creates the browser's socket (which starts connecting) and attaches
    /// the handlers. A URL or subprotocol the browser rejects is [`Error::Url`].
    pub(super) fn open(url: &str, protocols: &[String], config: Config) -> Result<Rc<SocketConn>, Error> {
        let ws = if protocols.is_empty() {
            web_sys::WebSocket::new(url)
        } else {
            let list: Array = protocols.iter().map(|p| JsValue::from_str(p)).collect();
            web_sys::WebSocket::new_with_str_sequence(url, &list)
        }
        .map_err(|e| refused_url(url, &e))?;
        // The default, `blob`, would need another await per message.
        ws.set_binary_type(BinaryType::Arraybuffer);
        let conn = Rc::new(SocketConn {
            ws,
            config,
            url: url.into(),
            state: RefCell::default(),
            peer: Peer::default(),
            handlers: OnceCell::new(),
        });
        let handlers = Handlers::new(Rc::downgrade(&conn));
        conn.ws.set_onopen(Some(handlers.open.as_ref().unchecked_ref()));
        conn.ws.set_onmessage(Some(handlers.message.as_ref().unchecked_ref()));
        conn.ws.set_onclose(Some(handlers.close.as_ref().unchecked_ref()));
        let _ = conn.handlers.set(handlers);
        Ok(conn)
    }

    /// Ready once open; a close before that is a failure the browser does
    /// not explain.
    pub(super) fn poll_open(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut st = self.state.borrow_mut();
        if st.opened {
            self.peer.opened(self.ws.protocol());
            return Poll::Ready(Ok(()));
        }
        if st.end.ended.is_some() {
            return Poll::Ready(Err(connect_failed(&self.url)));
        }
        register(&mut st.waiters, cx.waker());
        Poll::Pending
    }

    /// The next message; then, once the connection is gone, `None` after a
    /// clean close or one error after any other end.
    pub(super) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let mut st = self.state.borrow_mut();
        if let Some(message) = st.queue.pop_front() {
            st.queued -= message.len();
            return Poll::Ready(Some(Ok(message)));
        }
        match st.end.next() {
            Some(end) => Poll::Ready(end),
            None => {
                st.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Whether `send` may be called: open, and neither side started closing.
    fn sendable(&self) -> bool {
        let st = self.state.borrow();
        self.ws.ready_state() == web_sys::WebSocket::OPEN && !st.end.closing && st.end.failure.is_none()
    }

    /// Bytes handed to the browser and not yet sent.
    pub(super) fn buffered_amount(&self) -> usize {
        self.ws.buffered_amount() as usize
    }

    /// Ready while `bufferedAmount` is under the bound; else a timer looks
    /// again every few milliseconds, since no event says it fell.
    pub(super) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.sendable() {
            return Poll::Ready(Err(Error::Closed));
        }
        if self.buffered_amount() < self.config.write_buffer_size {
            return Poll::Ready(Ok(()));
        }
        let mut st = self.state.borrow_mut();
        register(&mut st.waiters, cx.waker());
        if st.poll_timer.is_none() {
            if let Some(handlers) = self.handlers.get() {
                st.poll_timer = Some(timer::schedule(&handlers.poll, BUFFER_POLL));
            }
        }
        Poll::Pending
    }

    /// Hands a message to the browser, which buffers it.
    pub(super) fn send(&self, message: Message) -> Result<(), Error> {
        if !self.sendable() {
            return Err(Error::Closed);
        }
        let sent = match &message {
            Message::Text(text) => self.ws.send_with_str(text.as_str()),
            Message::Binary(bytes) => self.ws.send_with_u8_array(bytes),
        };
        sent.map_err(|_| Error::Closed)
    }

    /// [`send`](Self::send) unless `bufferedAmount` is at the bound.
    pub(super) fn try_send(&self, message: Message) -> Result<(), Error> {
        if !self.sendable() {
            return Err(Error::Closed);
        }
        if self.buffered_amount() >= self.config.write_buffer_size {
            return Err(Error::Full);
        }
        self.send(message)
    }

    /// Starts the closing handshake. Browsers send only 1000 and 3000–4999
    /// and reasons of at most 123 bytes: other values are a typed error
    /// here rather than the exception `close()` would throw.
    pub(super) fn start_close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        check_close(code, reason)?;
        let mut st = self.state.borrow_mut();
        if st.end.closing || st.end.ended.is_some() || self.ws.ready_state() != web_sys::WebSocket::OPEN {
            return Ok(());
        }
        st.end.closing = true;
        drop(st);
        self.ws.close_with_code_and_reason(code.0, reason).map_err(|e| close_failed(&e))
    }

    /// Ready once the close event came; with `discard`, drops the messages
    /// that arrive meanwhile (as the tokio backend's `close` does).
    pub(super) fn poll_closed(&self, cx: &mut Context<'_>, discard: bool) -> Poll<Result<(), Error>> {
        let mut st = self.state.borrow_mut();
        if discard {
            st.queue.clear();
            st.queued = 0;
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
        self.ws.ready_state() == web_sys::WebSocket::CLOSING
    }

    /// A message event: queue it, unless a limit says to close.
    fn on_message(&self, event: MessageEvent) {
        let Some(message) = message_of(&event.data()) else {
            return;
        };
        let mut st = self.state.borrow_mut();
        if st.end.failure.is_some() || st.end.ended.is_some() {
            return;
        }
        let len = message.len();
        let (max, limit) = (self.config.protocol.max_message_size, self.config.receive_buffer_size);
        // Browsers refuse 1008 and 1009 from scripts: 4008 and 4009 say
        // the same to a peer that looks.
        let failure = if len > max {
            Some((Failure::TooLarge { size: len, max }, 4009, "message too big"))
        } else if !st.queue.is_empty() && st.queued + len > limit {
            Some((Failure::Unread { limit }, 4008, "receive buffer full"))
        } else {
            None
        };
        let wake = match failure {
            None => {
                st.queued += len;
                st.queue.push_back(message);
                st.reader.take()
            }
            Some((failure, code, reason)) => {
                st.end.failure = Some(failure);
                st.end.closing = true;
                let _ = self.ws.close_with_code_and_reason(code, reason);
                st.reader.take()
            }
        };
        drop(st);
        if let Some(waker) = wake {
            waker.wake();
        }
    }

    /// The close event: record how it ended and wake everyone.
    fn on_close(&self, event: CloseEvent) {
        let (code, clean) = (event.code(), event.was_clean());
        self.peer.closed(code, event.reason(), clean);
        let mut st = self.state.borrow_mut();
        st.end.ended = Some((code, clean));
        let reader = st.reader.take();
        let waiters = std::mem::take(&mut st.waiters);
        drop(st);
        reader.into_iter().for_each(Waker::wake);
        wake_all(waiters);
    }

    /// Wakes whoever waits (opening, or writers polling the buffer).
    fn wake_waiters(&self) {
        let mut st = self.state.borrow_mut();
        st.opened |= self.ws.ready_state() == web_sys::WebSocket::OPEN;
        let waiters = std::mem::take(&mut st.waiters);
        drop(st);
        wake_all(waiters);
    }
}

impl Handlers {
    fn new(conn: Weak<SocketConn>) -> Handlers {
        let on = conn.clone();
        let open = Closure::<dyn FnMut()>::new(move || {
            if let Some(conn) = on.upgrade() {
                conn.wake_waiters();
            }
        });
        let on = conn.clone();
        let message = Closure::<dyn FnMut(MessageEvent)>::new(move |event| {
            if let Some(conn) = on.upgrade() {
                conn.on_message(event);
            }
        });
        let on = conn.clone();
        let close = Closure::<dyn FnMut(CloseEvent)>::new(move |event| {
            if let Some(conn) = on.upgrade() {
                conn.on_close(event);
            }
        });
        let poll = Closure::<dyn FnMut()>::new(move || {
            if let Some(conn) = conn.upgrade() {
                conn.state.borrow_mut().poll_timer = None;
                conn.wake_waiters();
            }
        });
        Handlers { open, message, close, poll }
    }
}

/// The last handle is gone: detach the handlers before they are freed,
/// and close a socket that is still open (the browser would keep it).
impl Drop for SocketConn {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        if let Some(id) = self.state.get_mut().poll_timer.take() {
            timer::cancel(&id);
        }
        let state = self.ws.ready_state();
        if state == web_sys::WebSocket::CONNECTING || state == web_sys::WebSocket::OPEN {
            let _ = self.ws.close();
        }
    }
}
