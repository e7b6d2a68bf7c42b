//! Opening a connection from the browser: [`connect`], and
//! [`connect_with`]'s [`ClientBuilder`] for subprotocols and limits.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use super::conn::Conn;
use super::timer::Sleep;
use super::{Config, WebSocket};
use crate::Error;

/// Connects to a `ws://` or `wss://` URL with the default [`Config`].
///
/// The browser does the TCP connection, TLS (with its own trust store) and
/// the handshake, and tells nothing of why one failed: all such failures are
/// [`Error::Connect`].
pub async fn connect(url: &str) -> Result<WebSocket, Error> {
    connect_with(url).connect().await
}

/// Starts a [`ClientBuilder`] for subprotocols and limits.
pub fn connect_with(url: &str) -> ClientBuilder {
    ClientBuilder { url: url.to_owned(), config: Config::default(), protocols: Vec::new() }
}

/// Options for a browser connection; finish with [`connect`](Self::connect).
///
/// Headers, the `Origin`, proxies and TLS settings are the browser's to
/// choose: the builder has no such methods here.
#[derive(Clone, Debug)]
#[must_use = "a ClientBuilder does nothing until .connect() is awaited"]
pub struct ClientBuilder {
    url: String,
    config: Config,
    protocols: Vec<String>,
}

impl ClientBuilder {
    subprotocol_offers!();

    /// The URL it connects to.
    pub(crate) fn target_url(&self) -> &str {
        &self.url
    }

    /// The same settings for another URL.
    pub(crate) fn with_url(mut self, url: String) -> Self {
        self.url = url;
        self
    }

    /// Sets limits and timeouts.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Opens the connection and waits until the handshake is done, at most
    /// [`Config::connect_timeout`] ([`Error::ConnectTimeout`]).
    pub async fn connect(self) -> Result<WebSocket, Error> {
        let conn = Conn::open(&self.url, &self.protocols, self.config)?;
        let limit = self.config.connect_timeout;
        let mut timeout = Sleep::new(limit);
        poll_fn(|cx| match conn.poll_open(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => Pin::new(&mut timeout)
                .poll(cx)
                .map(|()| Err(Error::ConnectTimeout { addr: self.url.as_str().into(), timeout: limit })),
        })
        .await?;
        Ok(WebSocket { conn })
    }
}
