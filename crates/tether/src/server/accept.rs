//! Upgrading one accepted transport: read the request head, let the
//! application decide, answer 101 (or its refusal, or a plain HTTP
//! response) and hand over a [`WebSocket`].

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use tether_proto::handshake::server::{read_request, reject_response, Request};
use tether_proto::handshake::HandshakeError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::decision::{Accept, Agreed, Reject};
use super::plain_http;
use crate::{Config, Error, WebSocket};

/// Performs the server handshake on an accepted connection with the default
/// [`Config`], accepting any path and no subprotocol.
///
/// A request that is not a valid upgrade is answered with 400 (426 for a
/// WebSocket version other than 13) and a body that says why.
pub async fn accept<S>(stream: S) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(stream, Config::default(), |_| Ok(Accept::new())).await
}

/// Performs the server handshake, letting `decide` inspect the request (path,
/// headers, offered subprotocols) and accept it, choosing a subprotocol and
/// extra response headers, or reject it with a status.
///
/// ```no_run
/// # async fn demo(tcp: tokio::net::TcpStream) -> Result<(), tether::Error> {
/// use tether::{Accept, Reject};
/// let ws = tether::accept_with(tcp, tether::Config::default(), |req| {
///     if req.head().uri().path() != "/chat" {
///         return Err(Reject::new(http::StatusCode::NOT_FOUND, "no such endpoint"));
///     }
///     let chosen = req.protocols().iter().find(|p| *p == "chat.v1").cloned();
///     Ok(Accept::new().protocol(chosen))
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn accept_with<S, F>(stream: S, config: Config, decide: F) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let limit = config.handshake_timeout;
    let buf = BytesMut::with_capacity(1024);
    timeout(limit, handshake(stream, buf, &config, decide)).await.map_err(|_| Error::HandshakeTimeout(limit))?
}

/// Performs the server handshake like [`accept_with`], and also answers
/// plain HTTP on the same port: a `GET` or `HEAD` request that does not ask
/// for a WebSocket upgrade goes to `respond`, whose response is sent (with
/// its `Content-Length`, and no body for `HEAD`) before the connection is
/// closed. Any other request that is not a valid upgrade is answered with
/// 400, as `accept_with` does.
///
/// This serves a page and its WebSocket from one address, so the page can
/// connect back to `ws://` + its own host.
///
/// ```no_run
/// # async fn demo(tcp: tokio::net::TcpStream) -> Result<(), tether::Error> {
/// use tether::{Accept, Accepted, Bytes};
/// let page = |req: &http::Request<()>| match req.uri().path() {
///     "/" => http::Response::builder()
///         .header("content-type", "text/html; charset=utf-8")
///         .body(Bytes::from_static(b"<script>new WebSocket('ws://' + location.host)</script>"))
///         .unwrap(),
///     _ => http::Response::builder().status(404).body(Bytes::new()).unwrap(),
/// };
/// match tether::accept_or_respond(tcp, tether::Config::default(), |_| Ok(Accept::new()), page).await? {
///     Accepted::WebSocket(ws) => { /* talk */ }
///     Accepted::Http { request, status } => println!("{} {} {status}", request.method(), request.uri()),
/// }
/// # Ok(()) }
/// ```
pub async fn accept_or_respond<S, F, H>(stream: S, config: Config, decide: F, respond: H) -> Result<Accepted<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
    H: FnOnce(&http::Request<()>) -> http::Response<Bytes>,
{
    let limit = config.handshake_timeout;
    let buf = BytesMut::with_capacity(1024);
    timeout(limit, handshake_or_respond(stream, buf, &config, decide, respond))
        .await
        .map_err(|_| Error::HandshakeTimeout(limit))?
}

/// What [`accept_or_respond`] found on a connection.
#[derive(Debug)]
// `Http` is the large variant (an `http::Request`, ~200 bytes; a `WebSocket`
// is one pointer). The value is returned once per connection and matched at
// once: boxing the request would cost an allocation to save a short move.
#[allow(clippy::large_enum_variant)]
pub enum Accepted<S> {
    /// An upgrade request, accepted: the WebSocket is open.
    WebSocket(WebSocket<S>),
    /// A plain HTTP request, answered by the application; the connection
    /// is closed and no WebSocket was opened.
    Http {
        /// The request line and headers.
        request: http::Request<()>,
        /// The status the application answered with.
        status: StatusCode,
    },
}

/// The handshake of [`accept_with`], without its timeout; `buf` holds
/// what was read from `io` already (by a server telling HTTP/2 apart).
///
/// The answer is worked out between the awaits, in plain functions: a
/// nested `async fn` keeps its arguments beside its caller's, and a
/// server copies the whole state as it builds it, once per connection.
pub(super) async fn handshake<S, F>(
    mut io: S,
    mut buf: BytesMut,
    config: &Config,
    decide: F,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    // Bound first, not matched in place: a scrutinee's temporaries would
    // stay in the state while the reply is awaited.
    let head = read_head(&mut io, &mut buf, config.max_head_size).await?;
    let answer = match head {
        Ok(request) => answer_to(request, config, decide, &mut buf),
        Err(e) => return Err(refuse(io, e).await),
    };
    reply(io, buf, answer, config).await
}

/// The handshake of [`accept_or_respond`], without its timeout; `buf` as
/// in [`handshake`].
pub(super) async fn handshake_or_respond<S, F, H>(
    mut io: S,
    mut buf: BytesMut,
    config: &Config,
    decide: F,
    respond: H,
) -> Result<Accepted<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
    H: FnOnce(&http::Request<()>) -> http::Response<Bytes>,
{
    // Each path awaits one future, with nothing of the others kept
    // beside it (as in `handshake`).
    let head = read_head(&mut io, &mut buf, config.max_head_size).await?;
    let answer = match head {
        Ok(request) => answer_to(request, config, decide, &mut buf),
        // The upgrade checks failed; a well-formed request that never asked
        // for an upgrade is the application's to answer.
        Err(e) => return not_an_upgrade(io, &buf, e, respond).await,
    };
    Ok(Accepted::WebSocket(reply(io, buf, answer, config).await?))
}

/// Answers a request that failed the upgrade checks: a plain `GET` or
/// `HEAD` with `respond`'s response, anything else with the error.
async fn not_an_upgrade<S, H>(mut io: S, buf: &[u8], e: HandshakeError, respond: H) -> Result<Accepted<S>, Error>
where
    S: AsyncWrite + Unpin,
    H: FnOnce(&http::Request<()>) -> http::Response<Bytes>,
{
    let Some(request) = plain_http::parse(buf) else { return Err(refuse(io, e).await) };
    let response = respond(&request);
    io.write_all(&plain_http::encode(&request, &response)).await?;
    io.flush().await?;
    let _ = io.shutdown().await;
    Ok(Accepted::Http { request, status: response.status() })
}

/// Reads until `buf` holds a complete upgrade request, which is consumed
/// from it (what follows is WebSocket data), or until the head is proven
/// invalid (then `buf` holds the bytes read so far). What `buf` already
/// holds is looked at before reading more.
async fn read_head<S>(io: &mut S, buf: &mut BytesMut, max_head: usize) -> Result<Result<Request, HandshakeError>, Error>
where
    S: AsyncRead + Unpin,
{
    loop {
        if !buf.is_empty() {
            match read_request(buf, max_head) {
                Ok(Some((request, head_len))) => {
                    buf.advance(head_len);
                    return Ok(Ok(request));
                }
                Ok(None) => {}
                Err(e) => return Ok(Err(e)),
            }
        }
        if io.read_buf(buf).await? == 0 {
            return Err(Error::Io(io::Error::new(io::ErrorKind::UnexpectedEof, "client left during the handshake")));
        }
    }
}

/// Answers an invalid upgrade request with the error's status and reason.
async fn refuse<S>(mut io: S, e: HandshakeError) -> Error
where
    S: AsyncWrite + Unpin,
{
    let _ = io.write_all(&e.response()).await;
    let _ = io.shutdown().await;
    e.into()
}

/// What a valid upgrade request is answered with.
enum Answer {
    /// The 101 response in `out`, and what it agreed. `out` is the read
    /// buffer itself when the client sent nothing past its request (the
    /// usual case: it waits for the 101), so answering allocates nothing.
    Upgrade { out: BytesMut, agreed: Agreed },
    /// A refusal (the application's, or a 500 when the response could not
    /// be written), then the error the handshake ends with.
    Refuse { response: Vec<u8>, shut_down: bool, error: Error },
}

/// Lets the application decide on `request` and writes the answer; takes
/// `buf` as the answer's buffer when it holds nothing more.
fn answer_to<F>(request: Request, config: &Config, decide: F, buf: &mut BytesMut) -> Answer
where
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    match decide(&request) {
        Ok(accept) => {
            let mut out = if buf.is_empty() { std::mem::take(buf) } else { BytesMut::with_capacity(256) };
            match accept.agree_h1(&request, config, &mut out) {
                Ok(agreed) => Answer::Upgrade { out, agreed },
                Err(e) => Answer::Refuse {
                    response: reject_response(StatusCode::INTERNAL_SERVER_ERROR, &HeaderMap::new(), ""),
                    shut_down: false,
                    error: e.into(),
                },
            }
        }
        Err(reject) => {
            let refusal = &reject.0;
            let response = reject_response(refusal.status, &refusal.headers, &refusal.body);
            Answer::Refuse { response, shut_down: true, error: reject.into_error().into() }
        }
    }
}

/// Sends `answer`; opens the WebSocket it agreed on, with what `buf`
/// holds past the request.
async fn reply<S>(mut io: S, mut buf: BytesMut, answer: Answer, config: &Config) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match answer {
        Answer::Upgrade { mut out, agreed } => {
            io.write_all(&out).await?;
            io.flush().await?;
            if buf.capacity() == 0 {
                // `out` was the read buffer: it is again.
                out.clear();
                buf = out;
            }
            Ok(agreed.open(io, buf, *config))
        }
        Answer::Refuse { response, shut_down, error } => {
            let _ = io.write_all(&response).await;
            if shut_down {
                let _ = io.shutdown().await;
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::accept;
    use crate::Message;

    const REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
                           Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                           Sec-WebSocket-Version: 13\r\n\r\n";

    const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    /// The 101 goes out of the read buffer only when nothing followed the
    /// request there: a frame sent with it must survive the answer.
    #[tokio::test]
    async fn a_frame_sent_with_the_request_is_read_after_the_answer() {
        for with_frame in [false, true] {
            let (mut client, server) = tokio::io::duplex(4096);
            let mut sent = REQUEST.as_bytes().to_vec();
            // A masked text frame "hi" (key 0: the payload is unchanged).
            let frame = [0x81, 0x82, 0, 0, 0, 0, b'h', b'i'];
            if with_frame {
                sent.extend_from_slice(&frame);
            }
            client.write_all(&sent).await.unwrap();
            let mut ws = accept(server).await.unwrap();
            let mut response = vec![0; RESPONSE.len()];
            client.read_exact(&mut response).await.unwrap();
            assert_eq!(String::from_utf8_lossy(&response), String::from_utf8_lossy(RESPONSE));
            if !with_frame {
                client.write_all(&frame).await.unwrap();
            }
            // A bound, not a wait: a lost frame would leave the read pending for good.
            let read = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await;
            let message = read.expect("the frame was lost").unwrap().unwrap();
            assert_eq!(message, Message::text("hi"), "with the request: {with_frame}");
            assert_eq!(ws.request_path(), Some("/chat"));
        }
    }

    /// A server builds the handshake's future for every connection it
    /// accepts and copies it whole as it goes (into its task's box, into
    /// the timeout): nested `async fn`s each keeping their arguments had
    /// made it 2.4 KiB (3 KiB with plain HTTP), of which a request needs a
    /// fraction.
    #[test]
    fn the_handshake_future_stays_small() {
        let config = crate::Config::default();
        let decide = |_: &super::Request| Ok(super::Accept::new());
        let respond = |_: &http::Request<()>| http::Response::new(bytes::Bytes::new());
        let (_, io) = tokio::io::duplex(64);
        let plain = std::mem::size_of_val(&super::handshake(io, bytes::BytesMut::new(), &config, decide));
        let (_, io) = tokio::io::duplex(64);
        let either = super::handshake_or_respond(io, bytes::BytesMut::new(), &config, decide, respond);
        let either = std::mem::size_of_val(&either);
        assert!(plain <= 1200 && either <= 1400, "handshake {plain} bytes, with plain HTTP {either}");
    }
}
