//! What every connection of one [`Server`](super::Server) shares: the
//! configuration, the application's callbacks and handler, the shutdown
//! signal and the HTTP/2 settings, built once when it starts.

use std::net::SocketAddr;
use std::sync::Arc;

use super::decision::{Accept, Reject};
#[cfg(feature = "http2")]
use super::http2::settings::Http2Settings;
use crate::timers::Shutdown;
use crate::{Config, Error, Request};

/// Answers plain HTTP requests on the WebSocket port.
pub(super) type HttpResponder = Arc<dyn Fn(&http::Request<()>) -> http::Response<bytes::Bytes> + Send + Sync>;

/// Accepts or refuses each handshake, as the `decide` of [`accept_with`](crate::accept_with).
pub(super) type Decide = Arc<dyn Fn(&Request) -> Result<Accept, Reject> + Send + Sync>;

/// Hears of each failed handshake.
pub(super) type OnError = Arc<dyn Fn(SocketAddr, &Error) + Send + Sync>;

/// What every connection of one server shares, built once when it starts.
pub(super) struct Shared<F> {
    pub(super) config: Config,
    /// The origin check and the application's `on_request`.
    pub(super) decide: Option<Decide>,
    pub(super) http: Option<HttpResponder>,
    pub(super) on_error: Option<OnError>,
    pub(super) shutdown: Shutdown,
    /// `None`: HTTP/1.1 only.
    #[cfg(feature = "http2")]
    pub(super) http2: Option<Http2Settings>,
    /// The application's handler of each WebSocket.
    pub(super) handler: F,
}

impl<F> Shared<F> {
    /// Tells the application about a failed handshake, if it asked.
    pub(super) fn report(&self, peer: SocketAddr, e: &Error) {
        if let Some(report) = &self.on_error {
            report(peer, e);
        }
    }

    /// The application's decision on a checked request (yes by default).
    pub(super) fn decide(&self, request: &Request) -> Result<Accept, Reject> {
        self.decide.as_ref().map_or(Ok(Accept::new()), |decide| decide(request))
    }
}
