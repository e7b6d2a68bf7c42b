//! A WebSocket server that owns its accept loop, so it can shut down
//! gracefully: stop accepting, close every connection with 1001 (and send
//! GOAWAY on HTTP/2 connections), wait for the closing handshakes up to a
//! deadline, then drop the rest.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::Semaphore;

use super::connection;
use super::decision::{Accept, Reject};
#[cfg(feature = "http2")]
use super::http2::settings::Http2Settings;
use super::limits::{take_slot, PerIp};
use super::listener;
use super::shared::{Decide, HttpResponder, OnError, Shared};
use super::tasks::Tasks;
use crate::timers::Shutdown;
use crate::{Config, MaybeTlsStream, Request, WebSocket};

/// Accepts connections and runs a handler for each upgraded one.
///
/// ```no_run
/// use tether::prelude::*;
///
/// # async fn demo() -> std::io::Result<()> {
/// let server = tether::Server::bind("127.0.0.1:9001").await?;
/// let shutdown = server.shutdown_handle();
/// tokio::spawn(async move {
///     let _ = tokio::signal::ctrl_c().await;
///     shutdown.shutdown(); // every client gets close 1001
/// });
/// server
///     .serve(|mut ws, _peer| async move {
///         while let Some(Ok(msg)) = ws.next().await {
///             if ws.send(msg).await.is_err() {
///                 break;
///             }
///         }
///     })
///     .await
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    grace: Duration,
    origins: Option<Vec<String>>,
    per_ip: Option<usize>,
    max_handshakes: usize,
    defer_accept: bool,
    http: Option<HttpResponder>,
    decide: Option<Decide>,
    on_error: Option<OnError>,
    #[cfg(feature = "http2")]
    http2: Option<Http2Settings>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("origins", &self.origins)
            .field("per_ip", &self.per_ip)
            .field("max_handshakes", &self.max_handshakes)
            .field("defer_accept", &self.defer_accept)
            .finish_non_exhaustive()
    }
}

/// Starts a graceful shutdown of a [`Server`] from anywhere; cheap to clone.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    shutdown: Shutdown,
}

impl ShutdownHandle {
    /// Stops accepting and sends close 1001 ("going away") to every connection.
    pub fn shutdown(&self) {
        self.shutdown.fire();
    }
}

impl Server {
    /// Binds a listener with the default [`Config`].
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Ok(Server::from_listener(TcpListener::bind(addr).await?, Config::default()))
    }

    /// Serves on an existing listener.
    pub fn from_listener(listener: TcpListener, config: Config) -> Server {
        Server {
            listener,
            config,
            shutdown: Shutdown::default(),
            grace: Duration::from_secs(5),
            origins: None,
            per_ip: None,
            max_handshakes: Self::DEFAULT_MAX_HANDSHAKES,
            defer_accept: true,
            http: None,
            decide: None,
            on_error: None,
            #[cfg(feature = "http2")]
            http2: Some(Http2Settings {
                max_streams: Self::DEFAULT_MAX_STREAMS,
                stream_window: Self::DEFAULT_STREAM_WINDOW,
            }),
        }
    }

    /// Calls `report` with the client's address and the error for each
    /// connection whose TLS or WebSocket handshake failed (by default they
    /// are dropped without a word): for a log line. On HTTP/2 that is each
    /// extended CONNECT refused, and a connection whose preface and
    /// settings did not come in time.
    pub fn on_handshake_error(mut self, report: impl Fn(SocketAddr, &crate::Error) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(report));
        self
    }

    /// Decides each handshake that passed the origin check, as the `decide`
    /// of [`accept_with`](crate::accept_with) does: chooses the subprotocol,
    /// adds response headers, or refuses with a status.
    pub fn on_request(mut self, decide: impl Fn(&Request) -> Result<Accept, Reject> + Send + Sync + 'static) -> Self {
        self.decide = Some(Arc::new(decide));
        self
    }

    /// Answers plain HTTP `GET`/`HEAD` requests (a page, a health check)
    /// with `respond`, as [`accept_or_respond`](crate::accept_or_respond) does.
    pub fn respond_http(
        mut self,
        respond: impl Fn(&http::Request<()>) -> http::Response<bytes::Bytes> + Send + Sync + 'static,
    ) -> Self {
        self.http = Some(Arc::new(respond));
        self
    }

    /// Default bound on handshakes in progress at once.
    pub const DEFAULT_MAX_HANDSHAKES: usize = 1024;

    /// Refuses (403) browser pages from other origins; see [`crate::allow_origins`].
    pub fn allow_origins<I: IntoIterator<Item = T>, T: Into<String>>(mut self, origins: I) -> Self {
        self.origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Drops new connections from an address that already has `max` open
    /// (default: no limit). It counts TCP connections: an HTTP/2 connection
    /// is one, whatever number of WebSockets it carries (those are bounded
    /// by [`max_streams_per_connection`](Self::max_streams_per_connection)).
    pub fn max_connections_per_ip(mut self, max: usize) -> Self {
        self.per_ip = Some(max);
        self
    }

    /// Drops new connections while `max` handshakes are in progress
    /// (default [`Self::DEFAULT_MAX_HANDSHAKES`]). With the handshake timeout
    /// this bounds what slow or idle handshakes (slowloris) can hold.
    ///
    /// A handshake is one per TCP connection: the TLS handshake, then the
    /// HTTP/1.1 upgrade, or HTTP/2's preface and settings (an HTTP/2
    /// connection stops counting then: its extended CONNECTs are answered
    /// as they come, each in one HEADERS frame, and one without any stream
    /// for the handshake timeout is sent GOAWAY).
    pub fn max_pending_handshakes(mut self, max: usize) -> Self {
        self.max_handshakes = max;
        self
    }

    /// Hands a new connection to the server only once its first bytes have
    /// come (on by default, on Linux; elsewhere it does nothing): the kernel
    /// holds a connection that has said nothing for up to about a second
    /// (`TCP_DEFER_ACCEPT`), then hands it over anyway, and the handshake
    /// timeout runs from there. A WebSocket client always speaks first, so
    /// the server hears of a connection once instead of twice and reads
    /// its request at the first attempt (1.13× the setups per server
    /// CPU-second on loopback), and silent connections take no
    /// handshake slot while held. Turn it off for a client that waits for
    /// the server to speak first (none in these protocols).
    pub fn defer_accept(mut self, enabled: bool) -> Self {
        self.defer_accept = enabled;
        self
    }

    /// How long a shutdown waits for the closing handshakes (default 5 s).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Default bound on the WebSockets (and requests) at once on one
    /// HTTP/2 connection (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    #[cfg(feature = "http2")]
    pub const DEFAULT_MAX_STREAMS: u32 = 100;

    /// Default receive window of one HTTP/2 stream, in bytes; the
    /// connection's is this times the streams allowed (see
    /// [`max_streams_per_connection`](Self::max_streams_per_connection)).
    #[cfg(feature = "http2")]
    pub const DEFAULT_STREAM_WINDOW: u32 = 256 * 1024;

    /// Speaks HTTP/2 next to HTTP/1.1 (the default) or not: ALPN `h2` over
    /// TLS, the preface in cleartext, extended CONNECT for WebSockets.
    #[cfg(feature = "http2")]
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled.then_some(self.http2.unwrap_or(Http2Settings {
            max_streams: Self::DEFAULT_MAX_STREAMS,
            stream_window: Self::DEFAULT_STREAM_WINDOW,
        }));
        self
    }

    /// Bounds the streams open at once on one HTTP/2 connection (default
    /// [`Self::DEFAULT_MAX_STREAMS`]); the client is told so and further
    /// streams are refused. [`max_connections_per_ip`](Self::max_connections_per_ip)
    /// counts TCP connections, so an address can hold up to both limits
    /// multiplied in WebSockets.
    #[cfg(feature = "http2")]
    pub fn max_streams_per_connection(mut self, max: u32) -> Self {
        if let Some(settings) = &mut self.http2 {
            settings.max_streams = max.max(1);
        }
        self
    }

    /// Sets each HTTP/2 stream's receive window (default
    /// [`Self::DEFAULT_STREAM_WINDOW`], at least 64 KiB - 1, as HTTP/2's
    /// own default). The connection's window is this times the streams
    /// allowed, up to 2 GiB - 1, so one stalled WebSocket does not stall
    /// the others; it is also the most unread data a connection can leave
    /// in the server.
    #[cfg(feature = "http2")]
    pub fn http2_stream_window(mut self, bytes: u32) -> Self {
        if let Some(settings) = &mut self.http2 {
            settings.stream_window = bytes.clamp(65_535, (1 << 31) - 1);
        }
        self
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that shuts this server down.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { shutdown: self.shutdown.clone() }
    }

    /// Accepts until shut down, running `handler` on its own task for each
    /// WebSocket that completes the handshake (failed handshakes are
    /// answered and dropped). Returns once a shutdown has finished: every
    /// handler returned, or the grace period ran out and the rest were dropped.
    ///
    /// With the `http2` feature (on by default) a connection that opens
    /// with HTTP/2's preface (prior knowledge, "h2c") speaks HTTP/2: each of
    /// its extended CONNECT streams is a WebSocket (as [`MaybeTlsStream::H2`]),
    /// each GET a request for [`respond_http`](Self::respond_http). Others
    /// are HTTP/1.1 ([`MaybeTlsStream::Plain`]). Browsers never use h2c;
    /// [`http2(false)`](Self::http2) keeps to HTTP/1.1.
    ///
    /// Handlers should keep reading their stream: that is where the 1001
    /// close goes out and the peer's answer comes in.
    pub async fn serve<F, Fut>(self, handler: F) -> io::Result<()>
    where
        F: Fn(WebSocket<MaybeTlsStream>, SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.run(|tcp| async move { Ok(MaybeTlsStream::Plain(tcp)) }, handler).await
    }

    /// [`serve`](Self::serve) over TLS (`wss://`): each connection makes its
    /// TLS handshake with `tls` first, within the same bound on handshakes
    /// in progress ([`max_pending_handshakes`](Self::max_pending_handshakes)).
    ///
    /// With the `http2` feature the TLS handshake offers ALPN `h2` before
    /// `http/1.1` (unless `tls` came from a rustls config of your own that
    /// does not offer `http/1.1`); a client that picks `h2` gets HTTP/2, as
    /// browsers do for an `https://` page and then for its same-origin
    /// `wss://` WebSockets (RFC 8441).
    #[cfg(feature = "rustls")]
    pub async fn serve_tls<F, Fut>(self, tls: crate::tls::ServerTls, handler: F) -> io::Result<()>
    where
        F: Fn(WebSocket<MaybeTlsStream>, SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        #[cfg(feature = "http2")]
        let tls = if self.http2.is_some() { tls.with_h2() } else { tls };
        self.run(
            move |tcp| {
                let tls = tls.clone();
                async move { tls.accept(tcp).await }
            },
            handler,
        )
        .await
    }

    /// The origin check, then the caller's `on_request`: one function for
    /// every handshake, built once.
    fn decide_with_origins(&self) -> Option<Decide> {
        let origins = self.origins.clone().map(crate::allow_origins);
        match (origins, self.decide.clone()) {
            (None, decide) => decide,
            (Some(check), None) => Some(Arc::new(check)),
            (Some(check), Some(decide)) => Some(Arc::new(move |req: &Request| {
                check(req)?;
                decide(req)
            })),
        }
    }

    /// The accept loop; `secure` turns each accepted TCP connection into
    /// the transport the connection runs on (itself, or TLS over it).
    async fn run<U, UF, F, Fut>(self, secure: U, handler: F) -> io::Result<()>
    where
        U: Fn(TcpStream) -> UF,
        UF: Future<Output = Result<MaybeTlsStream, crate::Error>> + Send + 'static,
        F: Fn(WebSocket<MaybeTlsStream>, SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            config: self.config,
            decide: self.decide_with_origins(),
            http: self.http.clone(),
            on_error: self.on_error.clone(),
            shutdown: self.shutdown.clone(),
            #[cfg(feature = "http2")]
            http2: self.http2,
            handler,
        });
        let handshakes = Arc::new(Semaphore::new(self.max_handshakes));
        let per_ip: PerIp = Arc::default();
        let tasks = Tasks::default();
        let mut nodelay = listener::prepare(&self.listener, self.defer_accept);
        // Made once, and polled only when no connection is waiting: a new
        // one per accept, registered with the token and dropped again, cost
        // about 600 instructions per connection (tokio's cooperative budget
        // makes `accept` pending within 128 connections, so a shutdown is
        // still seen under a flood).
        let fired = self.shutdown.fired();
        tokio::pin!(fired);
        loop {
            tokio::select! {
                biased;
                accepted = self.listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(pair) => pair,
                        // Out of descriptors and the like: keep serving the others.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = handshakes.clone().try_acquire_owned() else { continue };
                    // Per TCP connection: an HTTP/2 connection holds one
                    // slot for all its streams. Boxed: rarely set, and the
                    // task holds it to the end.
                    let slot = match self.per_ip {
                        Some(max) => match take_slot(&per_ip, peer.ip(), max) {
                            Some(slot) => Some(Box::new(slot)),
                            None => continue,
                        },
                        None => None,
                    };
                    nodelay.apply(&tcp);
                    let secured = secure(tcp);
                    tasks.spawn(|finished| connection::serve(secured, peer, shared.clone(), permit, (finished, slot)));
                }
                _ = &mut fired => break,
            }
        }
        drop(self.listener);
        if tokio::time::timeout(self.grace, tasks.wait()).await.is_err() {
            tasks.abort_all();
            tasks.wait().await;
        }
        Ok(())
    }
}
