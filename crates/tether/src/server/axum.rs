//! An axum 0.8 extractor (feature `axum`): [`WebSocketUpgrade`] takes an
//! upgrade request, HTTP/1.1 or HTTP/2 extended CONNECT, and hands a tether
//! [`WebSocket`] to the handler's callback.
//!
//! ```no_run
//! use axum::{routing::any, Router};
//! use tether::axum::WebSocketUpgrade;
//! use tether::prelude::*;
//!
//! async fn echo(ws: WebSocketUpgrade) -> axum::response::Response {
//!     ws.on_upgrade(|mut ws| async move {
//!         while let Some(Ok(msg)) = ws.next().await {
//!             if ws.send(msg).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//! // `any`: HTTP/2 WebSockets arrive as CONNECT, HTTP/1.1 ones as GET.
//! let app: Router = Router::new().route("/ws", any(echo));
//! ```

use std::future::Future;

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{header, HeaderValue, StatusCode};
use hyper::upgrade::OnUpgrade;
use tether_proto::handshake::server::Request;
use tether_proto::handshake::HandshakeError;

use super::decision::Accept;
use super::hyper::{connect_protocol, Upgraded, Upgrading};
use crate::{Config, Error, WebSocket};

/// The extractor of a WebSocket upgrade request: checked as
/// [`accept`](crate::accept) checks one (on HTTP/1.1 or HTTP/2), refused with
/// a [`WebSocketUpgradeRejection`] otherwise. Route it with `any()`, since
/// HTTP/2 WebSockets arrive as CONNECT.
#[derive(Debug)]
pub struct WebSocketUpgrade<F = DefaultOnFailedUpgrade> {
    request: Request,
    on_upgrade: OnUpgrade,
    config: Config,
    /// The subprotocols the server speaks, in its order of preference.
    protocols: Vec<String>,
    on_failed_upgrade: F,
}

impl<F> WebSocketUpgrade<F> {
    /// The upgrade request (its head, offered subprotocols and extensions).
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The connection's limits, timeouts, compression and keepalive
    /// (default: [`Config::default`]).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The subprotocols the server speaks, in its order of preference: the
    /// first one the client offered is chosen. None is chosen if the client
    /// offered none of them (the client then decides whether to go on).
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The subprotocol that [`on_upgrade`](Self::on_upgrade) will answer with.
    pub fn selected_protocol(&self) -> Option<&str> {
        let offered = self.request.protocols();
        self.protocols.iter().find(|p| offered.contains(p)).map(String::as_str)
    }

    /// Calls `callback` with the error if the connection cannot be taken
    /// over once the response is sent (by default the error is dropped).
    pub fn on_failed_upgrade<C: OnFailedUpgrade>(self, callback: C) -> WebSocketUpgrade<C> {
        WebSocketUpgrade {
            request: self.request,
            on_upgrade: self.on_upgrade,
            config: self.config,
            protocols: self.protocols,
            on_failed_upgrade: callback,
        }
    }

    /// The response to return from the handler (101, or 200 on HTTP/2);
    /// once it is sent, `callback` runs in a task of its own with the WebSocket.
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        F: OnFailedUpgrade,
        C: FnOnce(WebSocket<Upgraded>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let chosen = self.selected_protocol().map(str::to_owned);
        let (response, agreed) = match Accept::new().protocol(chosen).agree(&self.request, &self.config) {
            Ok(agreed) => agreed,
            Err(e) => return WebSocketUpgradeRejection::Handshake(e).into_response(),
        };
        let response = response.map(|()| axum_core::body::Body::empty());
        let upgrading = Upgrading::new(self.on_upgrade, agreed, self.config);
        let on_failed_upgrade = self.on_failed_upgrade;
        tokio::spawn(async move {
            match upgrading.await {
                Ok(ws) => callback(ws).await,
                Err(e) => on_failed_upgrade.call(e),
            }
        });
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request = Request::from_parts(parts, connect_protocol(&parts.extensions))
            .map_err(WebSocketUpgradeRejection::Handshake)?;
        let on_upgrade =
            parts.extensions.remove::<OnUpgrade>().ok_or(WebSocketUpgradeRejection::ConnectionNotUpgradable)?;
        Ok(Self {
            request,
            on_upgrade,
            config: Config::default(),
            protocols: Vec::new(),
            on_failed_upgrade: DefaultOnFailedUpgrade,
        })
    }
}

/// What to do when the connection cannot be taken over after the response.
pub trait OnFailedUpgrade: Send + 'static {
    /// Called with the error.
    fn call(self, error: Error);
}

impl<T: FnOnce(Error) + Send + 'static> OnFailedUpgrade for T {
    fn call(self, error: Error) {
        self(error)
    }
}

/// The default [`OnFailedUpgrade`]: the error is logged at debug level and dropped.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct DefaultOnFailedUpgrade;

impl OnFailedUpgrade for DefaultOnFailedUpgrade {
    fn call(self, error: Error) {
        tracing::debug!(%error, "WebSocket upgrade failed after the response");
    }
}

/// Why [`WebSocketUpgrade`] refused a request. As a response: 405 for a
/// wrong method (with `Allow`), 426 with `Sec-WebSocket-Version: 13` for
/// another WebSocket version, 400 for the rest; the body says why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebSocketUpgradeRejection {
    /// The request is not a valid WebSocket handshake.
    #[error(transparent)]
    Handshake(HandshakeError),
    /// The request did not come through a hyper connection that can be
    /// taken over (answered 426, as axum's own extractor does).
    #[error("the connection cannot be upgraded")]
    ConnectionNotUpgradable,
}

impl WebSocketUpgradeRejection {
    /// The status the rejection is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Handshake(HandshakeError::Method(_) | HandshakeError::MethodNotConnect(_)) => {
                StatusCode::METHOD_NOT_ALLOWED
            }
            Self::Handshake(e) => e.status(),
            Self::ConnectionNotUpgradable => StatusCode::UPGRADE_REQUIRED,
        }
    }
}

impl IntoResponse for WebSocketUpgradeRejection {
    fn into_response(self) -> Response {
        let (status, allow) = match &self {
            Self::Handshake(HandshakeError::Method(_)) => (StatusCode::METHOD_NOT_ALLOWED, Some("GET")),
            Self::Handshake(HandshakeError::MethodNotConnect(_)) => (StatusCode::METHOD_NOT_ALLOWED, Some("CONNECT")),
            _ => (self.status(), None),
        };
        let mut response = match self {
            Self::Handshake(e) => e.to_http().map(axum_core::body::Body::from),
            Self::ConnectionNotUpgradable => (status, format!("{self}\n")).into_response(),
        };
        *response.status_mut() = status;
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}
