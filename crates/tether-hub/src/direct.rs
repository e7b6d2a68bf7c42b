//! Writing members' frames from the hub, straight to their sockets.
//!
//! On one thread, waking a member's task only for it to write what it was
//! fanned out costs more user time than the write's own system call: the
//! task is scheduled and polled, its queue locked twice, the frames queued
//! on its connection and written from there. So while a member's session
//! is *parked* — its connection open, nothing of it unwritten, nothing
//! waiting in its queue — a fan-out queues the member's frame without
//! waking it, and the room's *drain*, a task spawned by the first fan-out
//! that holds frames while none is pending, sends each parked member what it holds in one
//! vectored write, as uWebSockets drains its topics at the end of its event
//! loop's turn. Messages published before the drain runs (a publisher's
//! read that brought several) go out together, as they would from the
//! members' own tasks. Whatever a socket does not take goes back to the
//! member's session: a frame it took in part is finished first (see
//! [`WebSocket::feed_prepared_rest`]), before any byte of the session's own.
//!
//! Only where it pays and is exact: a plain TCP connection (no TLS, no
//! HTTP/2 stream: their bytes are not the frame's), without
//! permessage-deflate (its frame may be another), served on a
//! current-thread runtime (on several threads, waking members spreads the
//! writes over every thread; the drain would put them all on one), on
//! Linux.

use std::io::{self, IoSlice};

use tether::WebSocket;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::{Handle, RuntimeFlavor};

/// A socket's descriptor (`RawFd` on Unix).
pub(crate) type Fd = i32;

/// Whether a room's drain may write `ws`'s frames while its session is
/// parked (see the module docs), checked once, when the member joins: the
/// current-thread runtime the member is served on (where its room's drains
/// are to run), if so.
pub(crate) fn runtime_for<S: AsyncRead + AsyncWrite + Unpin + 'static>(ws: &WebSocket<S>) -> Option<Handle> {
    let runtime = Handle::try_current().ok()?;
    let allowed = cfg!(target_os = "linux")
        && ws.compression().is_none()
        && socket_of(ws).is_some()
        && runtime.runtime_flavor() == RuntimeFlavor::CurrentThread;
    allowed.then_some(runtime)
}

/// The TCP socket under `ws`, if its transport is plain TCP.
#[cfg(unix)]
pub(crate) fn socket_of<S: AsyncRead + AsyncWrite + Unpin + 'static>(ws: &WebSocket<S>) -> Option<Fd> {
    use std::any::Any;
    use std::os::fd::AsRawFd;
    let io: &dyn Any = ws.get_ref();
    if let Some(tcp) = io.downcast_ref::<tokio::net::TcpStream>() {
        return Some(tcp.as_raw_fd());
    }
    match io.downcast_ref::<tether::MaybeTlsStream>() {
        Some(tether::MaybeTlsStream::Plain(tcp)) => Some(tcp.as_raw_fd()),
        _ => None,
    }
}

/// The TCP socket under `ws`: none off Unix.
#[cfg(not(unix))]
pub(crate) fn socket_of<S: AsyncRead + AsyncWrite + Unpin + 'static>(_ws: &WebSocket<S>) -> Option<Fd> {
    None
}

/// Most frames in one vectored send.
pub(crate) const MAX_SLICES: usize = 64;

/// Sends what of `slices` socket `fd` takes now, in order, without waiting
/// and without `SIGPIPE`.
///
/// The caller holds the member's queue lock, and `fd` was parked there by
/// the member's session, which takes it back under the same lock before it
/// touches its connection again and before the connection (and so the
/// socket) can be dropped (`MemberQueue::unpark`, `MemberQueue::stop`).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn send_vectored(fd: Fd, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: `msghdr` is plain data, for which all zeroes is a valid value.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec` on Unix (its documented
    // guarantee); `sendmsg` only reads through the pointer.
    message.msg_iov = slices.as_ptr().cast_mut().cast();
    message.msg_iovlen = slices.len() as _;
    // SAFETY: `message` points at `msg_iovlen` live `iovec`s, each valid
    // for reads of its length, for the whole call; `fd` is an open socket
    // for the whole call: it is parked only while its connection lives,
    // and the caller holds the lock under which it is taken back (above).
    let sent = unsafe { libc::sendmsg(fd, &message, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

/// Never called off Linux ([`runtime_for`] gives no runtime there).
#[cfg(not(target_os = "linux"))]
pub(crate) fn send_vectored(_fd: Fd, _slices: &[IoSlice<'_>]) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}
