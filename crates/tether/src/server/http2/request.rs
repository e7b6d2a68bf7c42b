//! One request on a server's HTTP/2 connection: an extended CONNECT goes
//! through the same checks, origin test, `on_request` and negotiation as an
//! HTTP/1.1 upgrade and becomes a WebSocket over its stream (200); a plain
//! GET or HEAD goes to the application's pages; the rest gets the 4xx the
//! checks give.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::RecvStream;
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING, UPGRADE};
use http::{Method, StatusCode};
use tether_proto::handshake::server::Request;

use super::super::decision::Reject;
use super::super::shared::Shared;
use crate::http2::H2Stream;
use crate::{Error, MaybeTlsStream, WebSocket};

/// Answers `request` on its stream; for a WebSocket, runs the handler on
/// it until it returns. `tls`: whether the connection is encrypted.
pub(super) async fn serve<F, Fut>(
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    peer: SocketAddr,
    shared: Arc<Shared<F>>,
    tls: bool,
) where
    F: Fn(WebSocket<MaybeTlsStream>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (parts, body) = request.into_parts();
    let head = http::Request::from_parts(parts, ());
    let protocol = head.extensions().get::<h2::ext::Protocol>().map(h2::ext::Protocol::as_str);
    let plain = protocol.is_none() && (head.method() == Method::GET || head.method() == Method::HEAD);
    if let (true, Some(pages)) = (plain, &shared.http) {
        let _ = send_whole(&mut respond, pages(&head), head.method() == Method::HEAD);
        return;
    }
    let agreed = Request::from_request(&head, protocol).and_then(|checked| {
        let accept = shared.decide(&checked).map_err(Reject::into_error)?;
        accept.agree(&checked, &shared.config)
    });
    let (response, agreed) = match agreed {
        Ok(agreed) => agreed,
        Err(refused) => {
            let _ = send_whole(&mut respond, refused.to_http(), false);
            return shared.report(peer, &refused.into());
        }
    };
    let send = match respond.send_response(response, false) {
        Ok(send) => send,
        Err(e) => return shared.report(peer, &h2_error(e)),
    };
    let stream = Box::new(H2Stream::new(send, body));
    let mut ws = agreed.open(MaybeTlsStream::H2 { stream, tls }, BytesMut::new(), shared.config);
    ws.close_on(&shared.shutdown);
    (shared.handler)(ws, peer).await;
}

/// Sends a whole response: the headers HTTP/2 forbids (RFC 9113 section
/// 8.2.2) left out, the body's length, and no body for HEAD.
fn send_whole(respond: &mut SendResponse<Bytes>, response: http::Response<Bytes>, head: bool) -> Result<(), h2::Error> {
    let (mut parts, body) = response.into_parts();
    for name in [CONNECTION, TRANSFER_ENCODING, UPGRADE] {
        parts.headers.remove(name);
    }
    for name in ["keep-alive", "proxy-connection"] {
        parts.headers.remove(name);
    }
    let status = parts.status;
    let bodiless = status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    if !bodiless {
        parts.headers.insert(CONTENT_LENGTH, body.len().into());
    }
    let data = !(bodiless || head || body.is_empty());
    let mut send = respond.send_response(http::Response::from_parts(parts, ()), !data)?;
    if data {
        // Queued within h2, which sends it as the client's window allows.
        send.send_data(body, true)?;
    }
    Ok(())
}

/// An h2 failure as tether reports it (with its HTTP/2 code, see
/// [`Error::http2`]).
pub(super) fn h2_error(e: h2::Error) -> Error {
    Error::Io(crate::http2::stream::to_io(e))
}
