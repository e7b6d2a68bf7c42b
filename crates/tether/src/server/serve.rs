//! A WebSocket server that owns its accept loop, so it can shut down
//! gracefully: stop accepting, close every connection with 1001, wait for the
//! closing handshakes up to a deadline, then drop the rest.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::decision::{Accept, Reject};
use super::limits::{take_slot, PerIp};
use crate::timers::Shutdown;
use crate::{Config, Request, WebSocket};

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
    http: Option<HttpResponder>,
    decide: Option<Decide>,
    on_error: Option<OnError>,
}

/// Answers plain HTTP requests on the WebSocket port.
type HttpResponder = Arc<dyn Fn(&http::Request<()>) -> http::Response<bytes::Bytes> + Send + Sync>;

/// Accepts or refuses each handshake, as the `decide` of [`accept_with`](crate::accept_with).
type Decide = Arc<dyn Fn(&Request) -> Result<Accept, Reject> + Send + Sync>;

/// Hears of each failed handshake.
type OnError = Arc<dyn Fn(SocketAddr, &crate::Error) + Send + Sync>;

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("origins", &self.origins)
            .field("per_ip", &self.per_ip)
            .field("max_handshakes", &self.max_handshakes)
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
            http: None,
            decide: None,
            on_error: None,
        }
    }

    /// Calls `report` with the client's address and the error for each
    /// connection whose TLS or WebSocket handshake failed (by default they
    /// are dropped without a word): for a log line.
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
    /// (default: no limit).
    pub fn max_connections_per_ip(mut self, max: usize) -> Self {
        self.per_ip = Some(max);
        self
    }

    /// Drops new connections while `max` handshakes are in progress
    /// (default [`Self::DEFAULT_MAX_HANDSHAKES`]). With the handshake timeout
    /// this bounds what slow or idle handshakes (slowloris) can hold.
    pub fn max_pending_handshakes(mut self, max: usize) -> Self {
        self.max_handshakes = max;
        self
    }

    /// How long a shutdown waits for the closing handshakes (default 5 s).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
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
    /// connection that completes the handshake (failed handshakes are
    /// answered and dropped). Returns once a shutdown has finished: every
    /// handler returned, or the grace period ran out and the rest were dropped.
    ///
    /// Handlers should keep reading their stream: that is where the 1001
    /// close goes out and the peer's answer comes in.
    pub async fn serve<F, Fut>(self, handler: F) -> io::Result<()>
    where
        F: Fn(WebSocket<TcpStream>, SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.run(|tcp| async move { Ok(tcp) }, handler).await
    }

    /// [`serve`](Self::serve) over TLS (`wss://`): each connection makes its
    /// TLS handshake with `tls` first, within the same bound on handshakes
    /// in progress ([`max_pending_handshakes`](Self::max_pending_handshakes)).
    #[cfg(feature = "rustls")]
    pub async fn serve_tls<F, Fut>(self, tls: crate::tls::ServerTls, handler: F) -> io::Result<()>
    where
        F: Fn(WebSocket<crate::MaybeTlsStream>, SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
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
    /// the transport the WebSocket runs on (itself, or TLS over it).
    async fn run<S, U, UF, F, Fut>(self, secure: U, handler: F) -> io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        U: Fn(TcpStream) -> UF,
        UF: Future<Output = Result<S, crate::Error>> + Send + 'static,
        F: Fn(WebSocket<S>, SocketAddr) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let decide = self.decide_with_origins();
        let handshakes = Arc::new(Semaphore::new(self.max_handshakes));
        let per_ip: PerIp = Arc::default();
        let mut tasks = JoinSet::new();
        loop {
            tokio::select! {
                _ = self.shutdown.fired() => break,
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
                    // Boxed: rarely set, and the task holds it to the end.
                    let slot = match self.per_ip {
                        Some(max) => match take_slot(&per_ip, peer.ip(), max) {
                            Some(slot) => Some(Box::new(slot)),
                            None => continue,
                        },
                        None => None,
                    };
                    let _ = tcp.set_nodelay(true);
                    let secured = secure(tcp);
                    let (config, http) = (self.config, self.http.clone());
                    let (decide, on_error) = (decide.clone(), self.on_error.clone());
                    let shutdown = self.shutdown.clone();
                    // Built here and boxed, so the task keeps neither the
                    // handshake's state nor what it consumed (the socket, the
                    // config, the permit, the shutdown signal, the peer's
                    // address) for the whole life of the connection: what
                    // the task's future holds, every idle connection holds.
                    let handshake = Box::pin(async move {
                        let upgraded = async {
                            let stream = secured.await?;
                            let decide = |req: &Request| decide.as_ref().map_or(Ok(Accept::new()), |d| d(req));
                            match http {
                                Some(respond) => {
                                    match crate::accept_or_respond(stream, config, decide, |r| respond(r)).await? {
                                        crate::Accepted::WebSocket(ws) => Ok(Some(ws)),
                                        // A plain HTTP request, answered.
                                        crate::Accepted::Http { .. } => Ok(None),
                                    }
                                }
                                None => crate::accept_with(stream, config, decide).await.map(Some),
                            }
                        };
                        let accepted = upgraded.await.unwrap_or_else(|e: crate::Error| {
                            if let Some(report) = on_error {
                                report(peer, &e);
                            }
                            None
                        });
                        drop(permit);
                        let mut ws = accepted?;
                        ws.close_on(&shutdown);
                        Some((ws, peer))
                    });
                    let handler = handler.clone();
                    tasks.spawn(async move {
                        let Some((ws, peer)) = handshake.await else { return };
                        handler(ws, peer).await;
                        drop(slot);
                    });
                }
                // Reap finished connections so the set does not grow.
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        drop(self.listener);
        let drained = tokio::time::timeout(self.grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        Ok(())
    }
}
