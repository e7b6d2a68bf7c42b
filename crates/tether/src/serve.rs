//! A WebSocket server that owns its accept loop, so it can shut down
//! gracefully: stop accepting, close every connection with 1001, wait for the
//! closing handshakes up to a deadline, then drop the rest.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{Accept, Config, WebSocket};

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
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: Config,
    token: CancellationToken,
    grace: Duration,
}

/// Starts a graceful shutdown of a [`Server`] from anywhere; cheap to clone.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    token: CancellationToken,
}

impl ShutdownHandle {
    /// Stops accepting and sends close 1001 ("going away") to every connection.
    pub fn shutdown(&self) {
        self.token.cancel();
    }
}

impl Server {
    /// Binds a listener with the default [`Config`].
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        Ok(Server::from_listener(TcpListener::bind(addr).await?, Config::default()))
    }

    /// Serves on an existing listener.
    pub fn from_listener(listener: TcpListener, config: Config) -> Server {
        Server { listener, config, token: CancellationToken::new(), grace: Duration::from_secs(5) }
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
        ShutdownHandle { token: self.token.clone() }
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
        let handler = std::sync::Arc::new(handler);
        let mut tasks = JoinSet::new();
        loop {
            tokio::select! {
                _ = self.token.cancelled() => break,
                accepted = self.listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(pair) => pair,
                        // Out of descriptors and the like: keep serving the others.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    let (config, token, handler) = (self.config, self.token.clone(), handler.clone());
                    tasks.spawn(async move {
                        let _ = tcp.set_nodelay(true);
                        let Ok(mut ws) = crate::accept_with(tcp, config, |_| Ok(Accept::new())).await else { return };
                        ws.close_on(token);
                        handler(ws, peer).await;
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
