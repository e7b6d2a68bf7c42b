//! `tether hub`: a room server over ws:// or wss://. A WebSocket to
//! `/rooms/NAME` joins room NAME ([`tether_hub::Hub`]); plain HTTP serves
//! the room chat page, the metrics and each room's member count ([`http`]).

mod http;
mod metrics;

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use futures_util::future::Either;
use futures_util::FutureExt;
use tether::WebSocket;
use tether_hub::{Hub, RedisOptions};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::Instrument;

use self::metrics::Connections;
use crate::flags::hub::{Backplane, HubArgs};
use crate::serving::{self, Handler};

/// Binds, prints the URL as the first stdout line, and serves rooms until
/// SIGINT or SIGTERM, which close every member with 1001.
pub async fn run(opts: HubArgs) -> Result<ExitCode, String> {
    let hub = match opts.backplane() {
        Backplane::Local => Hub::new(opts.hub_config()),
        Backplane::Redis(url) => {
            let mut options = RedisOptions::new(&url).history(opts.history);
            if let Some(file) = &opts.redis_ca {
                let pem = std::fs::read(file).map_err(|e| format!("--redis-ca {}: {e}", file.display()))?;
                options = options.root_cert(pem);
            }
            Hub::with_redis(opts.hub_config(), options).map_err(|e| format!("--redis {url}: {e}"))?
        }
    };
    if !opts.serve.quiet {
        log_to_stderr();
    }
    let bound = serving::bind("hub", &opts.listen).await?;
    let connections = Arc::new(Connections::default());
    let member = Member { hub: hub.clone(), connections: connections.clone(), quiet: opts.serve.quiet };
    let setup = move |server: tether::Server| {
        let decide = hub.clone();
        server
            .on_request(move |request| decide.decide(request))
            .respond_http(move |request| http::respond(&hub, &connections, request))
    };
    bound.serve(&opts.serve, setup, member).await
}

/// The library's events (joins, leaves, members closed) as lines on stderr.
fn log_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::DEBUG)
        .with_target(false)
        .try_init();
}

/// Runs each connection as a member of the room its path names.
#[derive(Clone)]
struct Member {
    hub: Hub,
    connections: Arc<Connections>,
    quiet: bool,
}

impl Handler for Member {
    // Not an `async fn`: what the task holds is chosen here, and every
    // member at rest holds it.
    fn handle<S>(self, ws: WebSocket<S>, peer: SocketAddr) -> impl Future<Output = ()> + Send
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Member { hub, connections, quiet } = self;
        let open = connections.open();
        if quiet {
            // The member's session itself, and the guard that counts it:
            // it fits in the connection's task cell (see `a_quiet_member_
            // fits_in_the_connections_task`), so it takes no allocation of
            // its own.
            return Either::Left(hub.serve(ws).map(move |_| drop(open)));
        }
        // The span puts the peer's address on the library's join/leave
        // lines. Boxed: with it, the member would not fit in its task cell.
        let span = tracing::info_span!("member", %peer);
        Either::Right(Box::pin(async move {
            if let Err(e) = hub.serve(ws).instrument(span).await {
                eprintln!("{peer}: error: {e}");
            }
            drop(open);
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn returned_size<F, Fut>(_: &F) -> usize
    where
        F: Fn(WebSocket<tether::MaybeTlsStream>, SocketAddr) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// A connection's task cell holds up to 152 bytes of future before it
    /// grows by 128, and the server adds at most 56 to the handler's (see
    /// tether's `the_server_adds_little_to_the_handlers_future`): a quiet
    /// hub's member, session included, stays within.
    #[test]
    fn a_quiet_member_fits_in_the_connections_task() {
        let member = Member { hub: Hub::default(), connections: Default::default(), quiet: true };
        let handler = move |ws, peer| member.clone().handle(ws, peer);
        let size = returned_size(&handler);
        assert!(size <= 152 - 56, "{size} bytes");
    }
}
