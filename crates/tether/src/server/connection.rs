//! One accepted TCP connection of a [`Server`](super::Server): its TLS
//! handshake, which HTTP it speaks (ALPN `h2`, or HTTP/2's preface in
//! cleartext, else HTTP/1.1), and the WebSocket handshake that follows.

use std::future::{Future, Ready};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use futures_util::future::Either;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::timeout;

use super::accept::{handshake, handshake_or_respond};
#[cfg(feature = "http2")]
use super::http2::{self, Rewind};
use super::shared::Shared;
use crate::{Accepted, Error, MaybeTlsStream, Request, WebSocket};

/// What the start of a connection turned out to carry.
enum Carried {
    /// An HTTP/1.1 upgrade, accepted.
    WebSocket(WebSocket<MaybeTlsStream>),
    /// A plain HTTP/1.1 request, answered; the connection is closed.
    Answered,
    /// HTTP/2: its connection preface (or ALPN `h2`) came.
    #[cfg(feature = "http2")]
    Http2(Rewind<MaybeTlsStream>),
}

/// Serves one connection: `secured` is its TCP connection (after TLS, if
/// any). `permit` counts the connection among the handshakes in progress
/// until its HTTP/1.1 upgrade, or HTTP/2's preface and settings, is done.
/// `held` is dropped when the connection ends (its entry in the server's
/// tasks, its per-address slot).
///
/// Not an `async fn`: its arguments would stay in the connection's task
/// for its whole life (twice: as arguments and as locals), and what that
/// future holds, every idle connection holds.
pub(super) fn serve<UF, F, Fut, H>(
    secured: UF,
    peer: SocketAddr,
    shared: Arc<Shared<F>>,
    permit: OwnedSemaphorePermit,
    held: H,
) -> impl Future<Output = ()> + Send
where
    H: Send + 'static,
    UF: Future<Output = Result<MaybeTlsStream, Error>> + Send + 'static,
    F: Fn(WebSocket<MaybeTlsStream>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Boxed, so the task keeps neither the handshake's state nor what it
    // consumed (the socket, the permit, the peer's address) for the whole
    // life of the connection.
    let opening = Box::pin(async move {
        let carried = async {
            let io = secured.await?;
            let limit = shared.config.handshake_timeout;
            timeout(limit, carried(io, &shared)).await.map_err(|_| Error::HandshakeTimeout(limit))?
        };
        match carried.await {
            Err(e) => {
                shared.report(peer, &e);
                Opened::Done
            }
            Ok(Carried::Answered) => Opened::Done,
            Ok(Carried::WebSocket(mut ws)) => {
                drop(permit);
                ws.close_on(&shared.shutdown);
                ws.write_last_with(MaybeTlsStream::poll_write_last);
                Opened::WebSocket(ws, peer, shared)
            }
            #[cfg(feature = "http2")]
            Ok(Carried::Http2(io)) => Opened::Http2(Box::pin(http2::serve(io, peer, shared, permit))),
        }
    });
    async move {
        // What runs next is chosen, then awaited outside the `match`: an
        // await inside an arm would keep the matched `Opened` (48 bytes)
        // in the task beside the handler's future for the connection's life.
        let running: Either<Ready<()>, Either<Fut, BoxedServe>> = match opening.await {
            Opened::Done => Either::Left(std::future::ready(())),
            Opened::WebSocket(ws, peer, shared) => Either::Right(Either::Left((shared.handler)(ws, peer))),
            #[cfg(feature = "http2")]
            Opened::Http2(served) => Either::Right(Either::Right(served)),
        };
        running.await;
        drop(held);
    }
}

/// An HTTP/2 connection's serving, boxed.
type BoxedServe = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// What is left to run once a connection is open.
enum Opened<F> {
    /// Nothing: the handshake failed or a plain request was answered.
    Done,
    /// A WebSocket, for the application's handler.
    WebSocket(WebSocket<MaybeTlsStream>, SocketAddr, Arc<Shared<F>>),
    /// An HTTP/2 connection (boxed: rare, and held inline it would enlarge
    /// every connection's task).
    #[cfg(feature = "http2")]
    Http2(BoxedServe),
}

/// Tells HTTP/2 from HTTP/1.1 and makes the latter's handshake.
async fn carried<F>(io: MaybeTlsStream, shared: &Shared<F>) -> Result<Carried, Error> {
    #[cfg_attr(not(feature = "http2"), allow(unused_mut))]
    let (mut io, mut buf) = (io, BytesMut::with_capacity(1024));
    #[cfg(feature = "http2")]
    if shared.http2.is_some()
        && (io.alpn_protocol() == Some(http2::ALPN) || http2::read_preface(&mut io, &mut buf).await?)
    {
        return Ok(Carried::Http2(Rewind::new(buf.freeze(), io)));
    }
    let decide = |request: &Request| shared.decide(request);
    match &shared.http {
        Some(respond) => match handshake_or_respond(io, buf, &shared.config, decide, |r| respond(r)).await? {
            Accepted::WebSocket(ws) => Ok(Carried::WebSocket(ws)),
            Accepted::Http { .. } => Ok(Carried::Answered),
        },
        None => handshake(io, buf, &shared.config, decide).await.map(Carried::WebSocket),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `handler` returns.
    fn returned_size<H, Fut>(_: &H) -> usize
    where
        H: Fn(WebSocket<MaybeTlsStream>, SocketAddr) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// A connection's task holds this future for the connection's life,
    /// in a tokio cell aligned to 128 bytes with about 104 of tokio's own:
    /// beyond 152 bytes of future, every connection costs 128 more. What
    /// the server adds to the handler's own future must stay small.
    #[test]
    fn the_server_adds_little_to_the_handlers_future() {
        let handler = |mut ws: WebSocket<MaybeTlsStream>, _: SocketAddr| async move {
            while let Some(Ok(_)) = ws.next_message().await {}
        };
        let handler_size = returned_size(&handler);
        let shared = Arc::new(Shared {
            config: crate::Config::default(),
            decide: None,
            http: None,
            on_error: None,
            shutdown: crate::timers::Shutdown::default(),
            #[cfg(feature = "http2")]
            http2: None,
            handler,
        });
        let Ok(permit) = Arc::new(tokio::sync::Semaphore::new(1)).try_acquire_owned() else { panic!("a permit") };
        let secured = std::future::pending::<Result<MaybeTlsStream, Error>>();
        // As large as what the accept loop hands over: a task entry's guard and a per-address slot.
        let held = (Arc::new(()), 0u32, None::<Box<u8>>);
        let served = serve(secured, SocketAddr::from(([127, 0, 0, 1], 1)), shared, permit, held);
        let added = std::mem::size_of_val(&served) - handler_size;
        assert!(added <= 56, "the server adds {added} bytes to a {handler_size}-byte handler future");
    }
}
