//! The read path of a [`WebSocket`]: filling the read buffer (one buffer
//! per thread between frames, one sized for the frame inside a large one),
//! decoding events, the timers that end or close a connection, and the end
//! of the stream.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use tether_proto::{CloseCode, CloseFrame, Event, Message, Role, State, TimerEvent};
use tokio::io::{AsyncRead, AsyncWrite};

use super::WebSocket;
use crate::error::abnormal_eof;
use crate::timers::{self, Alarm};
use crate::Error;

/// Least the read buffer grows by when a frame continues past what was read.
const READ_CHUNK: usize = 8 * 1024;
/// Most bytes one read between frames takes: room for a 16 KiB message and
/// its header in one read.
const READ_BETWEEN_FRAMES: usize = 32 * 1024;
/// Reads between frames of at most this many bytes are copied out of the
/// thread's read buffer; larger ones are handed out as slices of it.
/// tether-proto hands a payload up to the same size out as its whole
/// buffer, with no split (`take_payload`): keep the two together.
const COPY_OUT: usize = 4 * 1024;
/// Each thread's read buffer is renewed in allocations of this size.
const POOL_CHUNK: usize = 128 * 1024;
/// Less free space than this in the read buffer, and it is grown before a read.
const MIN_READ: usize = 512;
/// Frames from this size up get a buffer that is kept for the next one.
const LARGE_FRAME: usize = 64 * 1024;

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pub(super) fn poll_next_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        if self.s.conn.state() == State::Open && !self.s.done {
            if let Some(end) = self.poll_timers(cx, false) {
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
                    if let Some(end) = self.poll_timers(cx, false) {
                        return end;
                    }
                }
                State::Open => {}
            }
            match self.s.conn.read_event(&mut self.s.read_buf) {
                Ok(Some(Event::Message(m))) => return Poll::Ready(Some(Ok(m))),
                Ok(Some(Event::Pong(p))) => {
                    // The answer to our keepalive ping is not kept: every
                    // idle connection would carry `rare` and the read that
                    // brought it. Other pongs are kept as a copy of their
                    // own, for the same reason.
                    if self.s.pings() && self.s.conn.handle_pong(&p, timers::now()) {
                        // The next deadline moved, to the next ping, which
                        // may be sooner than the end of the wait for this
                        // pong: the alarm is set to it now.
                        if let Some(end) = self.poll_timers(cx, true) {
                            return end;
                        }
                    } else {
                        self.s.rare().last_pong = Some(Bytes::copy_from_slice(&p));
                    }
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
                    if self.s.conn.buffered() > 0 {
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
                Err(e) => self.s.rare().pending_error = Some(Error::Protocol(e)),
            }
        }
    }

    /// Both close frames are exchanged, or the peer failed the protocol:
    /// flush our close frame, then close TCP, the server first (RFC 6455
    /// 7.1.1): the client waits for the server's FIN before closing. After a
    /// failure the peer may still be sending, so we read until it closes:
    /// closing with unread bytes would send a reset that can destroy our
    /// close frame in flight. Over HTTP/2 the server reads until the
    /// client's END_STREAM too (see `await_peer_end`).
    ///
    /// The closing deadline is set only once something has to wait: a
    /// close that completes at once (the usual case on a server) sets no
    /// timer at all.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        match self.poll_finish_io(cx) {
            Poll::Pending => self.poll_timers(cx, false).unwrap_or(Poll::Pending),
            done => done,
        }
    }

    fn poll_finish_io(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let role = self.s.conn.role();
        let failed = self.s.conn.state() == State::Failed;
        let fin_follows = role == Role::Server || failed;
        if ready!(self.poll_write_out_then(cx, fin_follows)).is_err() {
            let error = self.take_pending();
            return self.end(error);
        }
        if fin_follows {
            ready!(self.poll_shutdown(cx));
        }
        if role == Role::Client || failed || self.s.await_peer_end {
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

    /// The connection's timers and, while open, the server's shutdown;
    /// `Some` ends the stream; `moved`: a keepalive pong was just answered.
    /// The alarm is polled only if it may have fired, the next deadline
    /// moved or the waker changed: when messages flow, this costs a few
    /// loads per message and no clock read.
    fn poll_timers(&mut self, cx: &mut Context<'_>, moved: bool) -> Option<Poll<Option<Result<Message, Error>>>> {
        let rearm = !self.s.timer_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        // While open, the deadlines move only here and when a keepalive
        // pong is answered (`moved`): otherwise a set alarm that has not
        // fired needs no look at them (reading them costs about a hundred
        // instructions a poll, two polls a message).
        if rearm || moved || self.s.conn.state() != State::Open || self.s.alarm.unset_or_fired() {
            let due = self.s.conn.poll_timeout();
            if rearm && (due.is_some() || self.s.shutdown.is_some()) {
                self.s.timer_waker = Some(cx.waker().clone());
            }
            if (rearm || self.s.alarm.may_be_due(due)) && self.s.alarm.poll(due, cx).is_ready() {
                let now = timers::now();
                while let Some(event) = self.s.conn.handle_timeout(now) {
                    if let Some(end) = self.on_timer(event) {
                        return Some(end);
                    }
                }
                // Register the next deadline; one already past is run at the next poll.
                if self.s.alarm.poll(self.s.conn.poll_timeout(), cx).is_ready() {
                    cx.waker().wake_by_ref();
                }
            }
        } else {
            debug_assert!(!self.s.alarm.may_be_due(self.s.conn.poll_timeout()), "a deadline moved unseen");
        }
        // Read after the timers, which may have closed the connection.
        let open = self.s.conn.state() == State::Open;
        if let Some(shutdown) = self.s.shutdown.as_mut().filter(|s| open && (rearm || s.may_be_due())) {
            if shutdown.poll(cx).is_ready() {
                self.s.shutdown = None;
                let _ = self.s.conn.send_close(Some(&CloseFrame::new(CloseCode::GOING_AWAY, "server shutting down")));
            }
        }
        None
    }

    /// Carries out what a timer asks; `Some` ends the stream.
    fn on_timer(&mut self, event: TimerEvent) -> Option<Poll<Option<Result<Message, Error>>>> {
        match event {
            TimerEvent::Ping(_) => self.s.drop_spare(),
            TimerEvent::Idle(timeout) => self.s.rare().pending_error = Some(Error::IdleTimeout(timeout)),
            TimerEvent::KeepaliveTimeout { interval, timeout } => {
                return Some(self.end(Some(Error::KeepaliveTimeout { interval, timeout })));
            }
            TimerEvent::CloseTimeout(timeout) => {
                let error = self.take_pending();
                // Once both close frames are exchanged the handshake itself
                // is over: a peer slow to close TCP is not an error.
                let error = match self.s.conn.state() {
                    State::Closing => Some(error.unwrap_or(Error::CloseTimeout(timeout))),
                    _ => error,
                };
                return Some(self.end(error));
            }
        }
        None
    }

    fn take_pending(&mut self) -> Option<Error> {
        self.s.rare.as_mut()?.pending_error.take()
    }

    pub(super) fn end(&mut self, error: Option<Error>) -> Poll<Option<Result<Message, Error>>> {
        self.s.done = true;
        self.s.conn.stop_timers();
        self.s.alarm = Alarm::default();
        self.s.shutdown = None;
        self.s.timer_waker = None;
        self.s.read_buf = BytesMut::new();
        self.s.drop_spare();
        Poll::Ready(error.map(Err))
    }

    /// Reads more bytes into the read buffer, sized for the frame in progress.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
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
        if matches!(read, Ok(1..)) && self.s.conn.tracks_idle() {
            self.s.conn.on_bytes_received(timers::now());
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
        if let Some(mut old) = s.rare.as_mut().and_then(|r| r.spare.take()) {
            if old.try_reclaim(s.read_buf.len() + additional) {
                old.extend_from_slice(&s.read_buf);
                s.read_buf = *old;
                s.large = true;
                #[cfg(test)]
                {
                    s.rare().reused += 1;
                }
                return;
            }
        }
        s.read_buf.reserve(additional);
        // Kept only where the keepalive tick will release it.
        s.large = s.pings();
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
            self.s.rare().spare = Some(Box::new(last));
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
