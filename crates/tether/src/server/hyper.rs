//! WebSockets in a hyper 1 server (feature `hyper`): [`upgrade`] checks a
//! request (an HTTP/1.1 upgrade or an HTTP/2 extended CONNECT), gives the
//! response to return, and a future that yields the [`WebSocket`] once hyper
//! hands over the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tether_proto::handshake::server::Request;
use tether_proto::handshake::HandshakeError;

use super::decision::{Accept, Agreed, Reject};
use crate::{Config, Error, WebSocket};

/// The transport of a WebSocket that came through hyper.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Checks `request` as a WebSocket handshake and lets `decide` accept it
/// (choosing a subprotocol and extra headers) or refuse it, as
/// [`accept_with`](crate::accept_with) does; takes hyper's upgrade handle out
/// of the request's extensions.
///
/// On success, return the response (101 on HTTP/1.1, 200 on HTTP/2) from
/// the service, and await (or spawn) the [`Upgrading`] future: it yields the
/// WebSocket once hyper has sent the response. On `Err`, answer with
/// [`HandshakeError::to_http`]: 400 or 426 saying why, or the status,
/// headers and body of `decide`'s refusal.
///
/// HTTP/2 needs a server with extended CONNECT enabled (hyper's
/// `http2().enable_connect_protocol()`, which `axum::serve` sets).
///
/// ```no_run
/// # use http_body_util::Full;
/// # async fn service(mut req: http::Request<hyper::body::Incoming>) -> http::Response<Full<tether::Bytes>> {
/// use tether::prelude::*;
/// match tether::upgrade(&mut req, tether::Config::default(), |_| Ok(tether::Accept::new())) {
///     Ok((response, upgrading)) => {
///         tokio::spawn(async move {
///             let mut ws = upgrading.await?;
///             while let Some(Ok(msg)) = ws.next().await {
///                 ws.send(msg).await?;
///             }
///             Ok::<_, tether::Error>(())
///         });
///         response
///     }
///     Err(e) => e.to_http().map(Full::new),
/// }
/// # }
/// ```
pub fn upgrade<B, R, F>(
    request: &mut http::Request<B>,
    config: Config,
    decide: F,
) -> Result<(http::Response<R>, Upgrading), HandshakeError>
where
    R: Default,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let checked = Request::from_request(request, connect_protocol(request.extensions()))?;
    let (response, agreed) = decide(&checked).map_err(Reject::into_error)?.agree(&checked, &config)?;
    let on_upgrade = request.extensions_mut().remove::<OnUpgrade>().ok_or_else(not_upgradable)?;
    let response = response.map(|()| R::default());
    Ok((response, Upgrading::new(on_upgrade, agreed, config)))
}

/// The HTTP/2 `:protocol` of a request hyper received (hyper keeps it as an extension).
pub(crate) fn connect_protocol(extensions: &http::Extensions) -> Option<&str> {
    extensions.get::<hyper::ext::Protocol>().map(hyper::ext::Protocol::as_str)
}

/// What a request without hyper's upgrade handle is refused with.
fn not_upgradable() -> HandshakeError {
    HandshakeError::Http("the connection cannot be upgraded (not served by hyper)".into())
}

/// Resolves to the server's [`WebSocket`] once hyper has sent the response
/// and handed over the connection. It fails if the response was not sent
/// (the client left, or the service answered something else).
#[derive(Debug)]
#[must_use = "the WebSocket exists only once this future is awaited"]
pub struct Upgrading {
    on_upgrade: OnUpgrade,
    /// Taken when the future completes.
    agreed: Option<(Agreed, Config)>,
}

impl Upgrading {
    pub(crate) fn new(on_upgrade: OnUpgrade, agreed: Agreed, config: Config) -> Self {
        Self { on_upgrade, agreed: Some((agreed, config)) }
    }
}

impl Future for Upgrading {
    type Output = Result<WebSocket<Upgraded>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded = ready!(Pin::new(&mut self.on_upgrade).poll(cx)).map_err(|e| Error::Io(io::Error::other(e)))?;
        let (agreed, config) = self.agreed.take().expect("Upgrading polled after completion");
        // hyper keeps bytes read past the head inside `Upgraded`: none are left over here.
        Poll::Ready(Ok(agreed.open(TokioIo::new(upgraded), BytesMut::new(), config)))
    }
}
