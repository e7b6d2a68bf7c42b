//! `WebSocket<S>`: a [`Stream`] of received messages and a [`Sink`] of
//! messages to send, driving a [`tether_proto::Connection`] over any
//! `AsyncRead + AsyncWrite` transport.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Wake, Waker};

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;
use tether_proto::{CloseCode, CloseFrame, Connection, DeflateParams, Event, Message, Role, State};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;

use crate::error::abnormal_eof;
use crate::timers::{Due, IdleTimer, Keepalive, Shutdown, ShutdownWatch};
use crate::{Backpressure, Config, Error};

/// Least the read buffer grows by when a frame continues past what was read.
const READ_CHUNK: usize = 8 * 1024;
/// Most bytes one read between frames takes: room for a 16 KiB message and
/// its header in one read.
const READ_BETWEEN_FRAMES: usize = 32 * 1024;
/// Reads between frames of at most this many bytes are copied out of the
/// thread's read buffer; larger ones are handed out as slices of it.
const COPY_OUT: usize = 4 * 1024;
/// Each thread's read buffer is renewed in allocations of this size.
const POOL_CHUNK: usize = 128 * 1024;
/// Less free space than this in the read buffer, and it is grown before a read.
const MIN_READ: usize = 512;
/// Frames from this size up get a buffer that is kept for the next one.
const LARGE_FRAME: usize = 64 * 1024;
/// Most slices handed to one vectored write.
const MAX_IOV: usize = 32;

/// A WebSocket connection over the transport `S`, after the handshake.
///
/// - As a [`Stream`], it yields each received [`Message`]: text frames as
///   [`Message::Text`], binary frames as [`Message::Binary`]. Pings are
///   answered and the peer's close is echoed while you read. After a clean
///   close the stream ends (`None`) and [`close_frame`](Self::close_frame)
///   tells the code and reason; a broken connection ends it with an `Err`.
/// - As a [`Sink`], it sends messages; [`send`](Self::send) does it without
///   importing `SinkExt`. `feed` only queues: the stream writes what was
///   fed once it has decoded everything already received, so an echo loop
///   of `next` and `feed` answers a burst of messages with one write.
/// - [`split`](Self::split) gives a [`Receiver`] and a cloneable [`Sender`]
///   for use from different tasks.
///
/// Keep polling the stream: that is what answers pings and completes the
/// closing handshake.
///
/// What one read of over 4 KiB brings is not copied: its messages are
/// slices of a 128 KiB buffer that the connections of a thread share, so
/// keeping one for long keeps that buffer too (copy it with
/// `Bytes::copy_from_slice` to keep only its own bytes). Smaller reads are
/// copied into an allocation of their own.
///
/// # Cancel safety
///
/// `next()` (and `poll_next`) is cancel-safe: all state lives in the
/// `WebSocket`, so dropping the future inside `select!` loses nothing.
/// `send()` first waits for buffer space, then queues the message, then
/// waits for the flush. Dropped while waiting for space, the message was not
/// queued; dropped while flushing, it is queued and still goes out with the
/// next write. So do not re-create a `send` future in each turn of a
/// `select!` loop (a cancelled one may already have queued its message):
/// pin it outside the loop, or use `SinkExt::feed` and `flush`.
/// [`close`](Self::close) can be called again after a cancel.
#[derive(Debug)]
pub struct WebSocket<S> {
    /// Boxed: a connection is moved through layers of futures (the
    /// handshake, the handler, the application's own async functions), and
    /// each layer would otherwise hold a copy of the whole state.
    s: Box<Inner<S>>,
}

/// The state of a [`WebSocket`].
#[derive(Debug)]
struct Inner<S> {
    io: S,
    conn: Connection,
    read_buf: BytesMut,
    /// `read_buf` was sized for a large frame.
    large: bool,
    /// The buffer of the last large frame, reused for the next one once the
    /// message read into it is dropped: its pages are already mapped, a
    /// fresh allocation of that size costs a page fault every 4 KiB.
    /// Released at the next keepalive ping, so a quiet connection lets go.
    spare: Option<Box<BytesMut>>,
    /// How many times `spare` was reused (for the tests).
    #[cfg(test)]
    reused: u32,
    /// From the [`Config`], what is still needed after the start.
    close_timeout: std::time::Duration,
    write_buffer_size: usize,
    backpressure: Backpressure,
    protocol: Option<Box<str>>,
    /// An error to report once the close frame that goes with it is out
    /// (boxed: rare, and every idle connection would carry its size).
    pending_error: Option<Box<Error>>,
    /// Set once the stream has ended: nothing more will be read.
    done: bool,
    /// Set once our side of TCP is shut down.
    shut_down: bool,
    /// Bounds the closing handshake.
    deadline: Option<Pin<Box<Sleep>>>,
    // The rarely used parts are boxed: every idle connection carries this struct.
    last_pong: Option<Box<Bytes>>,
    keepalive: Option<Keepalive>,
    idle: Option<Box<IdleTimer>>,
    /// Resolves when the [`Server`](crate::Server) that accepted this
    /// connection shuts down: we then close with 1001.
    shutdown: Option<ShutdownWatch>,
    /// The waker the timers above were last polled with.
    timer_waker: Option<Waker>,
    /// The path the client asked for, on the server side.
    request_path: Option<Box<str>>,
    /// Present once split: every task waiting to write is woken, since the
    /// transport keeps only one write waker.
    writers: Option<Arc<WakerSet>>,
}

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps a transport on which the handshake is already done. `leftover`
    /// holds bytes read past the handshake head: they are frames. `deflate`
    /// holds the permessage-deflate parameters agreed in the handshake.
    pub fn from_parts(
        io: S,
        role: Role,
        leftover: BytesMut,
        config: Config,
        protocol: Option<String>,
        deflate: Option<DeflateParams>,
    ) -> Self {
        let mut conn = Connection::new(role, config.protocol);
        if let (Some(params), Some(settings)) = (deflate, config.deflate.as_ref()) {
            conn = conn.with_deflate(params, settings);
        }
        let s = Box::new(Inner {
            io,
            conn,
            // An empty handshake buffer is dropped: reads allocate as bytes come.
            read_buf: if leftover.is_empty() { BytesMut::new() } else { leftover },
            large: false,
            spare: None,
            #[cfg(test)]
            reused: 0,
            close_timeout: config.close_timeout,
            write_buffer_size: config.write_buffer_size,
            backpressure: config.backpressure,
            protocol: protocol.map(String::into_boxed_str),
            pending_error: None,
            done: false,
            shut_down: false,
            deadline: None,
            last_pong: None,
            keepalive: config.ping_interval.map(|every| Keepalive::new(every, config.ping_timeout)),
            idle: config.idle_timeout.map(|t| Box::new(IdleTimer::new(t))),
            shutdown: None,
            timer_waker: None,
            request_path: None,
            writers: None,
        });
        WebSocket { s }
    }

    /// Records the upgrade request's path (server side).
    pub(crate) fn set_request_path(&mut self, path: &str) {
        self.s.request_path = Some(path.into());
    }

    /// Closes with 1001 when `token` is cancelled (graceful server shutdown).
    pub(crate) fn close_on(&mut self, shutdown: &Shutdown) {
        self.s.shutdown = Some(shutdown.watch());
    }

    /// On the server side, the path of the upgrade request (`/chat`), for routing.
    pub fn request_path(&self) -> Option<&str> {
        self.s.request_path.as_deref()
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.s.protocol.as_deref()
    }

    /// The permessage-deflate parameters agreed in the handshake, if any.
    pub fn compression(&self) -> Option<&DeflateParams> {
        self.s.conn.deflate_params()
    }

    /// The close frame the peer sent, once the closing handshake happened
    /// (`None` before, or if the peer's close frame carried no code).
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.s.conn.peer_close()
    }

    /// The peer's close code: [`CloseCode::NO_STATUS`] (1005) for a close
    /// frame without one, `None` while the connection is open, and
    /// [`CloseCode::ABNORMAL`] (1006) if it broke without a close frame.
    pub fn close_code(&self) -> Option<CloseCode> {
        match (self.s.conn.peer_close(), self.s.conn.state()) {
            (Some(frame), _) => Some(frame.code),
            (None, State::Closed) => Some(CloseCode::NO_STATUS),
            (None, _) if self.s.done => Some(CloseCode::ABNORMAL),
            _ => None,
        }
    }

    /// The peer's close reason (empty if none was given).
    pub fn close_reason(&self) -> Option<&str> {
        self.s.conn.peer_close().map(|f| f.reason.as_str())
    }

    /// The payload of the last pong received.
    pub fn last_pong(&self) -> Option<&Bytes> {
        self.s.last_pong.as_deref()
    }

    /// Bytes queued for sending and not yet taken by the transport (like a
    /// browser WebSocket's `bufferedAmount`).
    pub fn buffered_amount(&mut self) -> usize {
        self.s.conn.output().len()
    }

    /// The round-trip time of the last keepalive ping that was answered.
    pub fn rtt(&self) -> Option<std::time::Duration> {
        self.s.keepalive.as_ref().and_then(Keepalive::rtt)
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.s.conn.state()
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.s.io
    }

    /// The transport, mutably: writing to it directly corrupts the stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.s.io
    }

    /// The next message; the same as `StreamExt::next`, without the import.
    /// Cancel-safe.
    pub async fn next_message(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_next_inner(cx)).await
    }

    /// Sends a message and flushes it. The same as `SinkExt::send`.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        poll_fn(|cx| self.poll_ready_inner(cx)).await?;
        self.s.conn.send(message)?;
        poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// Sends a message uncompressed even when permessage-deflate is on
    /// (for data that is already compressed, like images).
    pub async fn send_uncompressed(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        poll_fn(|cx| self.poll_ready_inner(cx)).await?;
        self.s.conn.send_with(message, false)?;
        poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// Sends a ping (at most 125 bytes); its pong shows in [`last_pong`](Self::last_pong).
    pub async fn ping(&mut self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        self.s.conn.send_ping(payload.as_ref())?;
        poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// Closes with `code` and `reason` and waits for the closing handshake
    /// to complete (bounded by [`Config::close_timeout`]). Messages that
    /// arrive in the meantime are discarded; to read them, use
    /// [`begin_close`](Self::begin_close) and keep reading the stream until
    /// it ends.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.s.conn.send_close(Some(&CloseFrame::new(code, reason)))?;
        loop {
            match poll_fn(|cx| self.poll_next_inner(cx)).await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    }

    /// Sends a close frame with `code` and `reason` and flushes it; the
    /// stream goes on yielding what the peer sent before its answer, then
    /// ends. Nothing more can be sent.
    pub async fn begin_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.s.conn.send_close(Some(&CloseFrame::new(code, reason)))?;
        poll_fn(|cx| self.poll_flush_inner(cx)).await
    }

    /// Splits into a receiving half and a cloneable sending half that can be
    /// used from different tasks. They share the connection behind a mutex
    /// that is held only inside a poll, never across an `.await`.
    pub fn split(mut self) -> (Sender<S>, Receiver<S>) {
        self.s.writers = Some(Arc::new(WakerSet::default()));
        let shared = Arc::new(Mutex::new(self));
        (Sender { shared: shared.clone() }, Receiver { shared })
    }

    fn poll_next_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        if self.s.conn.state() == State::Open && !self.s.done {
            if let Some(end) = self.poll_timers(cx) {
                return end;
            }
        }
        loop {
            if self.s.done {
                return Poll::Ready(None);
            }
            match self.s.conn.state() {
                State::Closed | State::Failed => return self.poll_finish(cx),
                State::Closing => {
                    if self.poll_deadline(cx) {
                        let error = self.take_pending().unwrap_or(Error::CloseTimeout(self.s.close_timeout));
                        return self.end(Some(error));
                    }
                }
                State::Open => {}
            }
            match self.s.conn.read_event(&mut self.s.read_buf) {
                Ok(Some(Event::Message(m))) => return Poll::Ready(Some(Ok(m))),
                Ok(Some(Event::Pong(p))) => {
                    if let Some(k) = &mut self.s.keepalive {
                        k.on_pong(&p);
                    }
                    self.s.last_pong = Some(Box::new(p));
                }
                Ok(Some(Event::Ping(_))) => {
                    // Pongs are rare and the peer may be timing them: out now.
                    if let Poll::Ready(Err(e)) = self.poll_flush_inner(cx) {
                        return self.end(Some(e));
                    }
                }
                Ok(Some(Event::Close(_))) => {} // the echo goes out as the stream finishes
                Ok(None) => {
                    // Everything buffered is decoded: now the pongs, the close
                    // echo and the messages fed meanwhile go out, in one write
                    // however many there are. A transport that is not writable
                    // right now does not stop reading.
                    if !self.s.conn.output().is_empty() {
                        if let Poll::Ready(Err(e)) = self.poll_flush_inner(cx) {
                            return self.end(Some(e));
                        }
                    }
                    match ready!(self.poll_fill(cx)) {
                        Ok(0) => return self.end(Some(Error::Io(abnormal_eof()))),
                        Ok(_) => {}
                        Err(e) => return self.end(Some(Error::Io(e))),
                    }
                }
                Err(e) => self.s.pending_error = Some(Box::new(Error::Protocol(e))),
            }
        }
    }

    /// Both close frames are exchanged, or the peer failed the protocol:
    /// flush our close frame, then close TCP, the server first (RFC 6455
    /// 7.1.1): the client waits for the server's FIN before closing. After a
    /// failure the peer may still be sending, so we read until it closes:
    /// closing with unread bytes would send a reset that can destroy our
    /// close frame in flight.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        if self.poll_deadline(cx) {
            // The handshake itself is over: a peer slow to close TCP is not an error.
            let error = self.take_pending();
            return self.end(error);
        }
        if ready!(self.poll_write_out(cx)).is_err() {
            let error = self.take_pending();
            return self.end(error);
        }
        let role = self.s.conn.role();
        let failed = self.s.conn.state() == State::Failed;
        if role == Role::Server || failed {
            ready!(self.poll_shutdown(cx));
        }
        if role == Role::Client || failed {
            loop {
                self.s.read_buf.clear();
                match ready!(self.poll_fill(cx)) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        ready!(self.poll_shutdown(cx));
        let error = self.take_pending();
        self.end(error)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.s.shut_down {
            let _ = ready!(Pin::new(&mut self.s.io).poll_shutdown(cx));
            self.s.shut_down = true;
        }
        Poll::Ready(())
    }

    /// Keepalive, idle timeout and server shutdown; `Some` ends the stream.
    /// Each is polled only if it may have fired or the waker changed: when
    /// messages flow, this costs a few loads per message.
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> Option<Poll<Option<Result<Message, Error>>>> {
        let rearm = !self.s.timer_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if rearm && (self.s.keepalive.is_some() || self.s.idle.is_some() || self.s.shutdown.is_some()) {
            self.s.timer_waker = Some(cx.waker().clone());
        }
        if let Some(keepalive) = self.s.keepalive.as_mut().filter(|k| rearm || k.may_be_due()) {
            match keepalive.poll(cx) {
                Poll::Ready(Due::Ping(payload)) => {
                    let _ = self.s.conn.send_ping(&payload);
                    self.s.spare = None;
                }
                Poll::Ready(_) => {
                    // The peer is unreachable: no close handshake can complete.
                    let (interval, timeout) = keepalive.interval_and_timeout();
                    self.s.conn.output().clear();
                    return Some(self.end(Some(Error::KeepaliveTimeout { interval, timeout })));
                }
                Poll::Pending => {}
            }
        }
        if let Some(idle) = self.s.idle.as_mut().filter(|i| rearm || i.may_be_due()) {
            if idle.poll(cx).is_ready() {
                let timeout = idle.timeout();
                self.s.idle = None;
                let _ = self.s.conn.send_close(Some(&CloseFrame::new(CloseCode::GOING_AWAY, "idle timeout")));
                self.s.pending_error = Some(Box::new(Error::IdleTimeout(timeout)));
            }
        }
        if let Some(shutdown) = self.s.shutdown.as_mut().filter(|s| rearm || s.may_be_due()) {
            if shutdown.poll(cx).is_ready() {
                self.s.shutdown = None;
                let _ = self.s.conn.send_close(Some(&CloseFrame::new(CloseCode::GOING_AWAY, "server shutting down")));
            }
        }
        None
    }

    fn take_pending(&mut self) -> Option<Error> {
        self.s.pending_error.take().map(|e| *e)
    }

    fn end(&mut self, error: Option<Error>) -> Poll<Option<Result<Message, Error>>> {
        self.s.done = true;
        self.s.deadline = None;
        self.s.keepalive = None;
        self.s.idle = None;
        self.s.shutdown = None;
        self.s.timer_waker = None;
        self.s.read_buf = BytesMut::new();
        self.s.spare = None;
        Poll::Ready(error.map(Err))
    }

    /// Starts the closing timer on first call; true once it has run out.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        let timeout = self.s.close_timeout;
        let deadline = self.s.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        deadline.as_mut().poll(cx).is_ready()
    }

    /// Reads more bytes into the read buffer, sized for the frame in progress.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let wanted = self.s.conn.wanted(self.s.read_buf.len());
        let read = if self.s.read_buf.is_empty() && wanted == 0 {
            ready!(self.poll_read_between_frames(cx))
        } else {
            // Room for the whole frame in progress (one allocation for a
            // large frame, not growth in steps), and never a read into a sliver.
            let spare = self.s.read_buf.capacity() - self.s.read_buf.len();
            if spare < wanted || spare < MIN_READ {
                self.reserve(wanted.max(READ_CHUNK));
            }
            ready!(tokio_util::io::poll_read_buf(Pin::new(&mut self.s.io), cx, &mut self.s.read_buf))
        };
        if let (Ok(1..), Some(idle)) = (&read, &mut self.s.idle) {
            idle.touch();
        }
        Poll::Ready(read)
    }

    /// Grows the read buffer by `additional` bytes, into the spare large
    /// buffer when there is one and it is free again.
    fn reserve(&mut self, additional: usize) {
        let s = &mut *self.s;
        if additional < LARGE_FRAME {
            s.read_buf.reserve(additional);
            return;
        }
        if let Some(mut old) = s.spare.take() {
            if old.try_reclaim(s.read_buf.len() + additional) {
                old.extend_from_slice(&s.read_buf);
                s.read_buf = *old;
                s.large = true;
                #[cfg(test)]
                {
                    s.reused += 1;
                }
                return;
            }
        }
        s.read_buf.reserve(additional);
        // Kept only where the keepalive tick will release it.
        s.large = s.keepalive.is_some();
    }

    /// Between frames, reads into the thread's read buffer, so a connection
    /// waiting for its next message holds no read buffer at all. A small
    /// read is copied into an allocation of its own, so that a message the
    /// application keeps pins only itself; a larger one is split off the
    /// thread's buffer without a copy. Messages are slices of that memory.
    fn poll_read_between_frames(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // The empty buffer may still pin the last message's allocation:
        // set it aside if it is a large one, else let it go.
        let last = std::mem::take(&mut self.s.read_buf);
        if std::mem::take(&mut self.s.large) {
            self.s.spare = Some(Box::new(last));
        }
        let io = &mut self.s.io;
        let read = READ_POOL.try_with(|pool| read_from_pool(&mut pool.borrow_mut(), io, cx));
        // Only while the thread is exiting is its buffer gone.
        let read = read.unwrap_or_else(|_| read_from_pool(&mut BytesMut::new(), io, cx));
        let fresh = ready!(read)?;
        let n = fresh.len();
        self.s.read_buf = fresh;
        Poll::Ready(Ok(n))
    }

    /// Writes the output queue until it is empty, with vectored writes.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.s.writers {
            Some(set) => {
                let fan_out = set.register(cx.waker());
                self.write_queue(&mut Context::from_waker(&fan_out))
            }
            None => self.write_queue(cx),
        }
    }

    fn write_queue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let vectored = self.s.io.is_write_vectored();
        while !self.s.conn.output().is_empty() {
            let out = self.s.conn.output();
            let written = if vectored && !out.is_contiguous() {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let n = out.io_slices(&mut slices);
                ready!(Pin::new(&mut self.s.io).poll_write_vectored(cx, &slices[..n]))?
            } else {
                ready!(Pin::new(&mut self.s.io).poll_write(cx, out.first_chunk()))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.s.conn.output().advance(written);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_ready_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.s.done || self.s.conn.state() != State::Open {
            return Poll::Ready(Err(Error::Closed));
        }
        let limit = match self.s.backpressure {
            Backpressure::Wait => {
                if self.s.conn.output().len() >= self.s.write_buffer_size {
                    ready!(self.poll_write_out(cx))?;
                }
                return Poll::Ready(Ok(()));
            }
            Backpressure::Close { limit, .. } | Backpressure::Drop { limit } => limit,
        };
        // Never wait: write what the transport takes now, then judge the rest.
        if let Poll::Ready(Err(e)) = self.poll_write_out(cx) {
            return Poll::Ready(Err(Error::Io(e)));
        }
        if self.s.conn.output().len() > limit {
            return Poll::Ready(Err(self.slow_consumer(limit)));
        }
        Poll::Ready(Ok(()))
    }

    /// The peer stopped reading and the queue passed the policy's limit.
    fn slow_consumer(&mut self, limit: usize) -> Error {
        match self.s.backpressure {
            Backpressure::Close { code, .. } => {
                let _ = self.s.conn.send_close(Some(&CloseFrame::new(code, "slow consumer")));
            }
            _ => {
                self.s.conn.output().clear();
                let _ = self.end(None);
            }
        }
        Error::SlowConsumer { limit }
    }

    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_write_out(cx))?;
        Poll::Ready(ready!(Pin::new(&mut self.s.io).poll_flush(cx)).map_err(Error::Io))
    }

    fn poll_close_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.s.done {
            self.s.conn.send_close(Some(&CloseFrame::new(CloseCode::NORMAL, "")))?;
        }
        self.poll_flush_inner(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_inner(cx)
    }
}

/// `poll_ready` waits while more than [`Config::write_buffer_size`] bytes are
/// queued; `poll_close` sends close 1000 and flushes it (keep reading the
/// stream to see the peer's answer).
impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_ready_inner(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        Ok(self.get_mut().s.conn.send(item)?)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_flush_inner(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_close_inner(cx)
    }
}

/// Wakers of every task waiting to write on a split connection.
#[derive(Default, Debug)]
struct WakerSet(Mutex<Vec<Waker>>);

impl WakerSet {
    /// Adds `waker` and returns the waker that wakes them all.
    fn register(self: &Arc<Self>, waker: &Waker) -> Waker {
        let mut wakers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
        Waker::from(self.clone())
    }
}

impl Wake for WakerSet {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in wakers {
            waker.wake();
        }
    }
}

type Shared<S> = Arc<Mutex<WebSocket<S>>>;

fn lock<S>(shared: &Shared<S>) -> std::sync::MutexGuard<'_, WebSocket<S>> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sending half of a split [`WebSocket`]: a [`Sink`] of messages, and a
/// cheap, cloneable handle whose [`send`](Self::send) takes `&self`, for use
/// from any task or callback.
///
/// Bytes go out as the sender flushes them; the [`Receiver`] also flushes
/// whatever is queued each time it is polled, so [`try_send`](Self::try_send)
/// from a non-async callback needs no further call.
#[derive(Debug)]
pub struct Sender<S> {
    shared: Shared<S>,
}

impl<S> Clone for Sender<S> {
    fn clone(&self) -> Self {
        Sender { shared: self.shared.clone() }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sender<S> {
    /// Sends a message and waits until it is written. Cancel-safe as
    /// [`WebSocket::send`].
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        poll_fn(|cx| lock(&self.shared).poll_ready_inner(cx)).await?;
        lock(&self.shared).s.conn.send(message)?;
        poll_fn(|cx| lock(&self.shared).poll_flush_inner(cx)).await
    }

    /// Sends a message uncompressed even when permessage-deflate is on.
    pub async fn send_uncompressed(&self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        poll_fn(|cx| lock(&self.shared).poll_ready_inner(cx)).await?;
        lock(&self.shared).s.conn.send_with(message, false)?;
        poll_fn(|cx| lock(&self.shared).poll_flush_inner(cx)).await
    }

    /// Queues a message without waiting: [`Error::Full`] when the send
    /// buffer is over its bound, [`Error::Closed`] once closing. The bytes are
    /// written now if the transport takes them, else by the next poll of
    /// either half.
    pub fn try_send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let mut ws = lock(&self.shared);
        if ws.s.done || ws.s.conn.state() != State::Open {
            return Err(Error::Closed);
        }
        if ws.s.conn.output().len() >= ws.s.write_buffer_size {
            return Err(Error::Full);
        }
        ws.s.conn.send(message.into())?;
        let waker = futures_util::task::noop_waker();
        let _ = ws.poll_write_out(&mut Context::from_waker(&waker));
        Ok(())
    }

    /// Sends a ping.
    pub async fn ping(&self, payload: impl AsRef<[u8]>) -> Result<(), Error> {
        lock(&self.shared).s.conn.send_ping(payload.as_ref())?;
        poll_fn(|cx| lock(&self.shared).poll_flush_inner(cx)).await
    }

    /// Starts the closing handshake with `code` and `reason` and flushes it.
    /// The [`Receiver`] ends once the peer answers.
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        lock(&self.shared).s.conn.send_close(Some(&CloseFrame::new(code, reason)))?;
        poll_fn(|cx| lock(&self.shared).poll_flush_inner(cx)).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for Sender<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_ready_inner(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        Ok(lock(&self.shared).s.conn.send(item)?)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_flush_inner(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_close_inner(cx)
    }
}

/// The receiving half of a split [`WebSocket`]: a [`Stream`] of messages.
/// Keep polling it: it answers pings and completes the closing handshake.
#[derive(Debug)]
pub struct Receiver<S> {
    shared: Shared<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Receiver<S> {
    /// The close frame the peer sent, once it arrived.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        lock(&self.shared).close_frame().cloned()
    }

    /// The peer's close code; see [`WebSocket::close_code`].
    pub fn close_code(&self) -> Option<CloseCode> {
        lock(&self.shared).close_code()
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<String> {
        lock(&self.shared).s.protocol.as_deref().map(str::to_owned)
    }

    /// The payload of the last pong received.
    pub fn last_pong(&self) -> Option<Bytes> {
        lock(&self.shared).s.last_pong.as_deref().cloned()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for Receiver<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut ws = lock(&self.shared);
        // Wake the reader when the transport becomes writable, so bytes
        // queued by `try_send` go out even if no sender task is waiting.
        if let Some(set) = &ws.s.writers {
            set.register(cx.waker());
        }
        ws.poll_next_inner(cx)
    }
}

thread_local! {
    /// Where reads between frames land: one buffer per thread rather than
    /// one per connection. It is renewed when slices handed out still use
    /// it and too little room is left.
    static READ_POOL: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

/// One read of up to [`READ_BETWEEN_FRAMES`] bytes into `pool`; returns what came as
/// a buffer of its own (copied if small, split off if not).
fn read_from_pool<S: AsyncRead + Unpin>(
    pool: &mut BytesMut,
    io: &mut S,
    cx: &mut Context<'_>,
) -> Poll<io::Result<BytesMut>> {
    if pool.capacity() < READ_BETWEEN_FRAMES {
        pool.reserve(POOL_CHUNK);
    }
    let n = ready!(tokio_util::io::poll_read_buf(Pin::new(io), cx, &mut pool.limit(READ_BETWEEN_FRAMES)))?;
    let got = if n <= COPY_OUT {
        let copy = BytesMut::from(&pool[..n]);
        pool.clear();
        copy
    } else {
        pool.split_to(n)
    };
    Poll::Ready(Ok(got))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{FutureExt, StreamExt};
    use tokio::io::AsyncWriteExt;

    /// What an idle server connection keeps is part of the design: no read
    /// buffer, and a state small enough to move through futures for free.
    #[tokio::test]
    async fn an_idle_connection_holds_no_read_buffer() {
        assert_eq!(std::mem::size_of::<WebSocket<tokio::net::TcpStream>>(), std::mem::size_of::<usize>());
        let (mut client, server) = tokio::io::duplex(4096);
        let mut ws = WebSocket::from_parts(server, Role::Server, BytesMut::new(), Config::default(), None, None);
        assert_eq!(ws.s.read_buf.capacity(), 0, "the handshake buffer is not kept");
        // A masked binary frame "hi" (key 0: the payload is unchanged).
        client.write_all(&[0x82, 0x82, 0, 0, 0, 0, b'h', b'i']).await.unwrap();
        let message = ws.next().await.unwrap().unwrap();
        assert_eq!(message, Message::binary(&b"hi"[..]));
        drop(message);
        assert!(ws.next().now_or_never().is_none(), "nothing more to read");
        assert_eq!(ws.s.read_buf.capacity(), 0, "waiting for the next frame costs no buffer");
    }

    /// A masked binary frame with key 0 (the payload goes out unchanged).
    fn frame(len: usize, fill: u8) -> Vec<u8> {
        let mut f = vec![0x82, 0x80 | 127];
        f.extend_from_slice(&(len as u64).to_be_bytes());
        f.extend_from_slice(&[0; 4]);
        f.resize(f.len() + len, fill);
        f
    }

    #[tokio::test]
    async fn back_to_back_large_messages_reuse_one_buffer() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut ws = WebSocket::from_parts(server, Role::Server, BytesMut::new(), Config::default(), None, None);
        let len = 200_000;
        tokio::spawn(async move {
            for fill in 1..=3 {
                client.write_all(&frame(len, fill)).await.unwrap();
            }
            std::future::pending::<()>().await;
        });
        let first = ws.next().await.unwrap().unwrap();
        let at = first.as_bytes().as_ptr() as usize;
        drop(first);
        let second = ws.next().await.unwrap().unwrap();
        assert_eq!(second.as_bytes(), &vec![2u8; len][..]);
        assert_eq!(ws.s.reused, 1, "the first message's buffer was reused");
        // The same allocation (the offset may differ by a frame header).
        assert!((second.as_bytes().as_ptr() as usize).abs_diff(at) < 64);
        // Still held by the application: the next one needs its own.
        let third = ws.next().await.unwrap().unwrap();
        assert_eq!(third.as_bytes(), &vec![3u8; len][..]);
        assert_eq!(ws.s.reused, 1);
        drop(second);
    }

    /// Larger reads between frames are slices of the thread's read buffer,
    /// not allocations of their own: two 8 KiB messages read one after the
    /// other lie side by side, the second frame's header between them.
    #[tokio::test]
    async fn reads_between_frames_share_the_threads_buffer() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut ws = WebSocket::from_parts(server, Role::Server, BytesMut::new(), Config::default(), None, None);
        let len = 8 * 1024;
        client.write_all(&frame(len, 1)).await.unwrap();
        let first = ws.next().await.unwrap().unwrap();
        assert!(ws.next().now_or_never().is_none(), "one read per message");
        client.write_all(&frame(len, 2)).await.unwrap();
        let second = ws.next().await.unwrap().unwrap();
        assert_eq!((first.as_bytes(), second.as_bytes()), (&vec![1u8; len][..], &vec![2u8; len][..]));
        let header = frame(0, 0).len();
        assert_eq!(second.as_bytes().as_ptr() as usize, first.as_bytes().as_ptr() as usize + len + header);
        // A small read is copied out, so a message kept pins only itself.
        client.write_all(&frame(100, 3)).await.unwrap();
        let small = ws.next().await.unwrap().unwrap();
        assert_ne!(small.as_bytes().as_ptr() as usize, second.as_bytes().as_ptr() as usize + len + header);
    }
}
