//! `WebSocket<S>`: a [`Stream`] of received messages and a [`Sink`] of
//! messages to send, driving a [`tether_proto::Connection`] over any
//! `AsyncRead + AsyncWrite` transport.
//!
//! The state and the public methods are here; the read path (buffers,
//! decoding, timers, the end of the stream) is in `read`, the write path
//! (the queue, flushing, backpressure) in `write`, and the split halves in
//! `split`.

mod read;
mod settings;
pub(crate) mod split;
#[cfg(test)]
mod tests;
mod wakers;
mod write;

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;
use tether_proto::{CloseCode, CloseFrame, Connection, DeflateParams, Message, PreparedMessage, Role, State};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::timers::{self, Alarm, Shutdown, ShutdownWatch};
use crate::{Config, Error};
use wakers::WakerSet;
pub(crate) use write::WriteLast;

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
/// - [`split`](Self::split) gives a [`Receiver`](crate::Receiver) and a cloneable [`Sender`](crate::Sender)
///   for use from different tasks.
///
/// Keep polling the stream: that is what answers pings and completes the
/// closing handshake.
///
/// The transport defaults to [`MaybeTlsStream`](crate::MaybeTlsStream),
/// what [`connect`](crate::connect) returns, so `tether::WebSocket` names a
/// client connection in code that also builds for the browser, where
/// `WebSocket` has no type parameter.
///
/// What one read of over 4 KiB brings is not copied: its messages are
/// slices of a 128 KiB buffer that the connections of a thread share, so
/// keeping one for long keeps that buffer too (copy it with
/// `Bytes::copy_from_slice` to keep only its own bytes). Smaller reads are
/// copied into an allocation of their own.
///
/// # Cancel safety
///
/// Every future of a `WebSocket` keeps its state in the `WebSocket`, not in
/// the future, so dropping one (a `select!` branch that lost) loses no byte
/// that was read. Method by method:
///
/// - `next()`, [`next_message`](Self::next_message) (and `poll_next`):
///   cancel-safe. A frame cut short, or a fragmented message half received,
///   stays buffered and the next call goes on from there (tested with a
///   timer that fires mid-frame while the peer writes slowly).
/// - [`send`](Self::send), [`send_uncompressed`](Self::send_uncompressed):
///   first wait for buffer space, then queue the message, then wait for the
///   flush. Dropped while waiting for space, the message was not queued;
///   dropped while flushing, it is queued and still goes out with the next
///   write. So do not re-create a `send` future in each turn of a `select!`
///   loop (a cancelled one may already have queued its message): pin it
///   outside the loop, or use `SinkExt::feed` and `flush`.
/// - `SinkExt::flush` (and [`ping`](Self::ping), [`begin_close`](Self::begin_close)
///   once their frame is queued at the first poll): cancel-safe; what is
///   queued stays queued and goes out with the next write or read.
/// - [`close`](Self::close): can be called again after a cancel; the close
///   frame is sent once.
///
/// The split halves behave the same: [`Receiver`](crate::Receiver) as `next()`,
/// [`Sender`](crate::Sender)'s `send` and `flush` as above.
#[derive(Debug)]
pub struct WebSocket<S = crate::MaybeTlsStream> {
    /// Boxed: a connection is moved through layers of futures (the
    /// handshake, the handler, the application's own async functions), and
    /// each layer would otherwise hold a copy of the whole state.
    s: Box<Inner<S>>,
}

/// The parts of a [`WebSocket`]'s state that most connections never fill.
#[derive(Debug, Default)]
struct Rare {
    /// The subprotocol agreed in the handshake.
    protocol: Option<Box<str>>,
    /// An error to report once the close frame that goes with it is out.
    pending_error: Option<Error>,
    last_pong: Option<Bytes>,
    /// The path and query the client asked for, on the server side,
    /// unless it is `/` (see `at_root`).
    request_target: Option<Box<str>>,
    /// The buffer of the last large frame, reused for the next one once the
    /// message read into it is dropped: its pages are already mapped, a
    /// fresh allocation of that size costs a page fault every 4 KiB.
    /// Released at the next keepalive ping, so a quiet connection lets go.
    spare: Option<Box<BytesMut>>,
    /// How many times `spare` was reused (for the tests; here, so that the
    /// state of tests is the size of the real one).
    #[cfg(test)]
    reused: u32,
}

impl Rare {
    /// Nothing in it: the connection can do without it.
    fn is_empty(&self) -> bool {
        // Every field named: a new one must be weighed here.
        let Rare {
            protocol,
            pending_error,
            last_pong,
            request_target,
            spare,
            #[cfg(test)]
            reused,
        } = self;
        #[cfg(test)]
        if *reused > 0 {
            return false;
        }
        protocol.is_none()
            && pending_error.is_none()
            && last_pong.is_none()
            && request_target.is_none()
            && spare.is_none()
    }
}

/// The state of a [`WebSocket`].
#[derive(Debug)]
struct Inner<S> {
    io: S,
    conn: Connection,
    read_buf: BytesMut,
    /// `read_buf` was sized for a large frame (kept in `rare` for the next one).
    large: bool,
    /// From the [`Config`], what is still needed after the start, shared
    /// with the connections set up alike (the protocol's part is in `conn`).
    settings: Arc<settings::Local>,
    /// What few connections have, in one allocation made when the first
    /// of it comes: every idle connection carries this struct.
    rare: Option<Box<Rare>>,
    /// The request's target was `/`, the most common, kept without `rare`.
    at_root: bool,
    /// Set once the stream has ended: nothing more will be read.
    done: bool,
    /// Set once our side of TCP is shut down.
    shut_down: bool,
    /// After the close, read until the peer ends its side too, whatever
    /// the role: over an HTTP/2 stream, a server that let go first would
    /// reset the stream (h2 sends `RST_STREAM` for a stream dropped before
    /// both sides ended), and the client's `END_STREAM` would then arrive
    /// on a reset stream: peers such as hyper count those and end the
    /// connection with GOAWAY `ENHANCE_YOUR_CALM`.
    await_peer_end: bool,
    /// Wakes the task at the next deadline of the connection's timers
    /// (keepalive, idle timeout, closing handshake), which `conn` keeps.
    alarm: Alarm,
    /// Resolves when the [`Server`](crate::Server) that accepted this
    /// connection shuts down: we then close with 1001.
    shutdown: Option<ShutdownWatch>,
    /// The waker `alarm` and `shutdown` were last polled with.
    timer_waker: Option<Waker>,
    /// Present once split: every task waiting to write is woken, since the
    /// transport keeps only one write waker.
    writers: Option<Arc<WakerSet>>,
    /// How the last bytes before our FIN are written, if the transport has
    /// a way of its own (see [`WriteLast`]).
    write_last: Option<WriteLast<S>>,
}

impl<S> Inner<S> {
    /// The rare parts, allocated on first use.
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Lets go of the spare large-frame buffer (see [`Rare::spare`]), and
    /// of `rare` if nothing else is in it.
    fn drop_spare(&mut self) {
        if let Some(rare) = self.rare.as_mut().filter(|r| r.spare.is_some()) {
            rare.spare = None;
            if rare.is_empty() {
                self.rare = None;
            }
        }
    }

    /// Keepalive pings are on (they release the spare buffer).
    fn pings(&self) -> bool {
        self.conn.settings().timers.ping_interval.is_some()
    }
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
        let (shared, local) = settings::shared(&config);
        let mut conn = Connection::with_settings(role, shared, timers::now());
        if let (Some(params), Some(settings)) = (deflate, config.deflate.as_ref()) {
            conn = conn.with_deflate(params, settings);
        }
        let s = Box::new(Inner {
            io,
            conn,
            // An empty handshake buffer is dropped: reads allocate as bytes come.
            read_buf: if leftover.is_empty() { BytesMut::new() } else { leftover },
            large: false,
            settings: local,
            rare: protocol.map(|p| Box::new(Rare { protocol: Some(p.into_boxed_str()), ..Rare::default() })),
            at_root: false,
            done: false,
            shut_down: false,
            await_peer_end: false,
            alarm: Alarm::default(),
            shutdown: None,
            timer_waker: None,
            writers: None,
            write_last: None,
        });
        WebSocket { s }
    }

    /// Records the upgrade request's path and query (server side).
    pub(crate) fn set_request_target(&mut self, path_and_query: &str) {
        match path_and_query {
            "/" => self.s.at_root = true,
            other => self.s.rare().request_target = Some(other.into()),
        }
    }

    /// The path and query of the upgrade request (server side).
    fn request_target(&self) -> Option<&str> {
        match self.s.at_root {
            true => Some("/"),
            false => self.s.rare.as_ref()?.request_target.as_deref(),
        }
    }

    /// After the closing handshake, waits for the peer to end its side of
    /// the transport before ending the stream, on the server too (for
    /// HTTP/2 streams; within the closing deadline).
    pub(crate) fn await_peer_end(&mut self) {
        self.s.await_peer_end = true;
    }

    /// Writes the last bytes before our FIN with `write_last` (a server
    /// that knows its transport's type).
    pub(crate) fn write_last_with(&mut self, write_last: WriteLast<S>) {
        self.s.write_last = Some(write_last);
    }

    /// Closes with 1001 when `token` is cancelled (graceful server shutdown).
    pub(crate) fn close_on(&mut self, shutdown: &Shutdown) {
        self.s.shutdown = Some(shutdown.watch());
    }

    /// Lets go of the upgrade request's path and query (server side) once
    /// the application has read what it needs of them: a connection keeps
    /// them otherwise, about 130 bytes for one at `/rooms/lobby`, which
    /// counts in a server that holds many idle connections.
    /// [`request_path`](Self::request_path) and
    /// [`request_query`](Self::request_query) return `None` afterwards.
    pub fn release_request_target(&mut self) {
        self.s.at_root = false;
        if let Some(rare) = &mut self.s.rare {
            rare.request_target = None;
            if rare.is_empty() {
                self.s.rare = None;
            }
        }
    }

    /// On the server side, the path of the upgrade request (`/chat`), for routing.
    pub fn request_path(&self) -> Option<&str> {
        let target = self.request_target()?;
        Some(target.split_once('?').map_or(target, |(path, _)| path))
    }

    /// On the server side, the query of the upgrade request (`room=1` for
    /// `/chat?room=1`), if it had one.
    pub fn request_query(&self) -> Option<&str> {
        self.request_target()?.split_once('?').map(|(_, query)| query)
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.s.rare.as_ref()?.protocol.as_deref()
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

    /// The payload of the last pong received, other than the answers to
    /// the keepalive pings (their round trip is [`rtt`](Self::rtt)).
    pub fn last_pong(&self) -> Option<&Bytes> {
        self.s.rare.as_ref()?.last_pong.as_ref()
    }

    /// Bytes queued for sending and not yet taken by the transport (like a
    /// browser WebSocket's `bufferedAmount`).
    pub fn buffered_amount(&mut self) -> usize {
        self.s.conn.buffered()
    }

    /// The round-trip time of the last keepalive ping that was answered.
    pub fn rtt(&self) -> Option<std::time::Duration> {
        self.s.conn.rtt()
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

    /// Queues a message framed once for many connections (fan-out), without
    /// copying it; [`flush`](futures_util::SinkExt::flush) or the stream
    /// writes it. Server side only ([`Error::Send`] on a client).
    pub fn feed_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        Ok(self.s.conn.send_prepared(message)?)
    }

    /// Queues what is left of `message`'s frame after its first `written`
    /// bytes, which another writer sent straight to this connection's
    /// socket while nothing was queued here (see
    /// [`Connection::send_prepared_rest`](tether_proto::Connection::send_prepared_rest)):
    /// a hub's drain that found the socket full partway through.
    pub fn feed_prepared_rest(&mut self, message: &PreparedMessage, written: usize) -> Result<(), Error> {
        Ok(self.s.conn.send_prepared_rest(message, written)?)
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
