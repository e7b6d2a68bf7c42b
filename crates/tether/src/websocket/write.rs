//! The write path of a [`WebSocket`]: the output queue goes out in
//! vectored writes; the send buffer's bound and the backpressure policy
//! decide when a sender waits, fails or drops the connection.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll, Wake};

use tether_proto::{CloseCode, CloseFrame, State};
use tokio::io::{AsyncRead, AsyncWrite};

use super::WebSocket;
use crate::{Backpressure, Error};

/// Most slices handed to one vectored write.
const MAX_IOV: usize = 32;

/// How a transport writes the bytes after which our side of it is shut
/// down at once: [`MaybeTlsStream`](crate::MaybeTlsStream)'s lets the FIN
/// share their last segment. Given by the server that accepted the
/// connection, which knows the transport's type.
pub(crate) type WriteLast<S> = fn(Pin<&mut S>, &mut Context<'_>, &[IoSlice<'_>]) -> Poll<io::Result<usize>>;

impl<S> WebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Writes the output queue until it is empty, with vectored writes.
    pub(super) fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_out_then(cx, false)
    }

    /// As [`poll_write_out`](Self::poll_write_out); `fin_follows`: our side
    /// of the transport is shut down as soon as the queue is out.
    pub(super) fn poll_write_out_then(&mut self, cx: &mut Context<'_>, fin_follows: bool) -> Poll<io::Result<()>> {
        let last = self.s.write_last.filter(|_| fin_follows);
        match &self.s.writers {
            Some(set) => {
                let fan_out = set.register(cx.waker());
                self.write_queue(&mut Context::from_waker(&fan_out), last)
            }
            None => self.write_queue(cx, last),
        }
    }

    fn write_queue(&mut self, cx: &mut Context<'_>, last: Option<WriteLast<S>>) -> Poll<io::Result<()>> {
        let vectored = self.s.io.is_write_vectored();
        while self.s.conn.buffered() > 0 {
            let out = self.s.conn.output();
            let written = if last.is_some() || (vectored && !out.is_contiguous()) {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let n = out.io_slices(&mut slices);
                let io = Pin::new(&mut self.s.io);
                ready!(match last {
                    Some(write_last) => write_last(io, cx, &slices[..n]),
                    None => io.poll_write_vectored(cx, &slices[..n]),
                })?
            } else {
                ready!(Pin::new(&mut self.s.io).poll_write(cx, out.first_chunk()))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.s.conn.advance_output(written);
        }
        Poll::Ready(Ok(()))
    }

    pub(super) fn poll_ready_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.s.done || self.s.conn.state() != State::Open {
            return Poll::Ready(Err(Error::Closed));
        }
        let limit = match self.s.settings.backpressure {
            Backpressure::Wait => {
                if self.s.conn.buffered() >= self.s.settings.write_buffer_size {
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
        if self.s.conn.buffered() > limit {
            return Poll::Ready(Err(self.slow_consumer(limit)));
        }
        Poll::Ready(Ok(()))
    }

    /// The peer stopped reading and the queue passed the policy's limit.
    fn slow_consumer(&mut self, limit: usize) -> Error {
        match self.s.settings.backpressure {
            Backpressure::Close { code, .. } => {
                let _ = self.start_close(&CloseFrame::new(code, "slow consumer"));
            }
            _ => {
                self.s.conn.clear_output();
                let _ = self.end(None);
            }
        }
        Error::SlowConsumer { limit }
    }

    pub(super) fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_write_out(cx))?;
        Poll::Ready(ready!(Pin::new(&mut self.s.io).poll_flush(cx)).map_err(Error::Io))
    }

    pub(super) fn poll_close_inner(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.s.done {
            self.start_close(&CloseFrame::new(CloseCode::NORMAL, ""))?;
        }
        self.poll_flush_inner(cx)
    }

    /// Queues our close frame. On a split connection the reader may be
    /// parked on a read the peer never answers: it is woken, so that the
    /// closing deadline starts now and not at its next wake (never, with
    /// keepalive off and a silent peer). Only when the close is new: a
    /// `poll_close` polled again while the frame waits to be written would
    /// otherwise wake itself, and its reader, for ever.
    pub(super) fn start_close(&mut self, frame: &CloseFrame) -> Result<(), tether_proto::SendError> {
        let was_open = self.s.conn.state() == State::Open;
        self.s.conn.send_close(Some(frame))?;
        if let Some(set) = self.s.writers.as_ref().filter(|_| was_open) {
            set.wake_by_ref();
        }
        Ok(())
    }
}
