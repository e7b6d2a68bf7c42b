//! What a [`Server`](super::Server) sets on its listening socket, once,
//! for every connection it accepts.
//!
//! - **Deferred accept** (Linux's `TCP_DEFER_ACCEPT`): the kernel hands a
//!   connection over only once its first bytes have come (the HTTP
//!   request, TLS ClientHello or HTTP/2 preface: a WebSocket client always
//!   speaks first), or once it has waited about a second for them. The
//!   server then hears of a new connection once instead of twice (the TCP
//!   handshake's last ACK, then the request), reads the request at its
//!   first attempt, and a connection that never says anything takes no
//!   handshake slot for that second. nginx (`listen … deferred`) and
//!   HAProxy (`defer-accept`) offer the same.
//! - **`TCP_NODELAY`**: Linux copies it from the listening socket to each
//!   socket accepted from it, so it is set once here, not once per
//!   connection. The first accepted connection is checked (a kernel that
//!   does not copy it, such as a sandbox emulating Linux, gets it set on
//!   each connection), and elsewhere it is set on each.
//!
//! Together, on the setup row of `bench/compare.sh` (16 clients that
//! connect, upgrade and close, on loopback): 10.7 system calls per setup
//! and close instead of 13.7 (the `setsockopt`, a read that found nothing
//! yet, most of an `epoll_wait`), and 1.13× the setups per server
//! CPU-second (1.07–1.17 over 5 interleaved rounds).

use std::io;

use tokio::net::{TcpListener, TcpStream};

/// How long the kernel holds a silent connection back, at most: it rounds
/// this up to its first retransmitted SYN-ACK, one second after the SYN.
#[cfg(any(target_os = "linux", target_os = "android"))]
const DEFER_SECONDS: libc::c_int = 1;

/// Whether each accepted connection still needs `TCP_NODELAY` set.
#[derive(Debug)]
pub(super) struct NoDelay {
    /// `None` until the first connection shows whether it was copied.
    inherited: Option<bool>,
}

/// Sets up `listener` for the connections it accepts: deferred accept if
/// `defer`, and `TCP_NODELAY` where the system copies it to them.
pub(super) fn prepare(listener: &TcpListener, defer: bool) -> NoDelay {
    if defer {
        // Best effort: without it, connections are accepted as they come.
        let _ = defer_accept(listener);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let inherited = match socket2::SockRef::from(listener).set_tcp_nodelay(true) {
        Ok(()) => None,
        Err(_) => Some(false),
    };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let inherited = Some(false);
    NoDelay { inherited }
}

impl NoDelay {
    /// Makes sure `tcp` has `TCP_NODELAY`: a system call only where the
    /// listener's is not copied (and one to find out, at the first).
    pub(super) fn apply(&mut self, tcp: &TcpStream) {
        let inherited = *self.inherited.get_or_insert_with(|| tcp.nodelay().unwrap_or(false));
        if !inherited {
            let _ = tcp.set_nodelay(true);
        }
    }
}

/// `TCP_DEFER_ACCEPT` on `listener`. Neither `socket2` nor tokio offers
/// it, hence the one `setsockopt` call of this crate: it pays, as the
/// module's documentation says.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
fn defer_accept(listener: &TcpListener) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let seconds: libc::c_int = DEFER_SECONDS;
    // SAFETY: `listener` owns an open socket for the whole call, and the
    // option's value is read through a pointer to a live `c_int`, of the
    // length given.
    let done = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::from_ref(&seconds).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match done {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn defer_accept(_: &TcpListener) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::time::timeout;

    use super::*;

    async fn accepted(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        client.write_all(b"G").await.unwrap();
        (listener.accept().await.unwrap().0, client)
    }

    #[tokio::test]
    async fn every_accepted_connection_has_nodelay() {
        for defer in [false, true] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut nodelay = prepare(&listener, defer);
            for _ in 0..3 {
                let (tcp, _client) = accepted(&listener).await;
                nodelay.apply(&tcp);
                assert!(tcp.nodelay().unwrap());
            }
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn linux_copies_nodelay_from_the_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut nodelay = prepare(&listener, true);
        let (tcp, _client) = accepted(&listener).await;
        assert!(tcp.nodelay().unwrap(), "copied before any call on the accepted socket");
        nodelay.apply(&tcp);
        assert_eq!(nodelay.inherited, Some(true));
    }

    #[tokio::test]
    async fn nodelay_is_set_per_connection_where_it_is_not_copied() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut nodelay = NoDelay { inherited: None };
        let (tcp, _client) = accepted(&listener).await;
        assert!(!tcp.nodelay().unwrap(), "the listener was left without it");
        nodelay.apply(&tcp);
        assert!(tcp.nodelay().unwrap());
        assert_eq!(nodelay.inherited, Some(false));
    }

    /// A silent connection is held back, then handed over once it speaks;
    /// without deferral it is accepted at once.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn a_deferred_listener_waits_for_the_first_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        prepare(&listener, true);
        let mut silent = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let early = timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(early.is_err(), "accepted before it said anything");
        silent.write_all(b"GET").await.unwrap();
        let (mut tcp, _) = timeout(Duration::from_secs(5), listener.accept()).await.unwrap().unwrap();
        let mut first = [0u8; 3];
        tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut first).await.unwrap();
        assert_eq!(&first, b"GET");

        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        prepare(&plain, false);
        let _silent = TcpStream::connect(plain.local_addr().unwrap()).await.unwrap();
        timeout(Duration::from_secs(5), plain.accept()).await.expect("accepted at once").unwrap();
    }

    /// One that never speaks is still handed over, after about a second
    /// (the first retransmitted SYN-ACK): the handshake timeout then
    /// applies to it as to any other.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn a_silent_connection_is_handed_over_after_the_deferral() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        prepare(&listener, true);
        let _silent = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let started = std::time::Instant::now();
        timeout(Duration::from_secs(10), listener.accept()).await.expect("handed over").unwrap();
        assert!(started.elapsed() >= Duration::from_millis(500), "not deferred: {:?}", started.elapsed());
    }
}
