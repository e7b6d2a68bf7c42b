//! `tether hub`: a room server over ws:// or wss://. A WebSocket to
//! `/rooms/NAME` joins room NAME ([`tether_hub::Hub`]); plain HTTP serves
//! the room chat page, the metrics and each room's member count ([`http`]).

mod http;
mod metrics;

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

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
    // Not an `async fn`: what the task holds is chosen here. The span
    // macro's temporaries (about 1 KiB) would otherwise stay in every
    // member's task, and a quiet server's members carry neither the span
    // nor the peer's address.
    #[allow(clippy::manual_async_fn)]
    fn handle<S>(self, ws: WebSocket<S>, peer: SocketAddr) -> impl Future<Output = ()> + Send
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Member { hub, connections, quiet } = self;
        // The span puts the peer's address on the library's join/leave lines.
        let span = (!quiet).then(|| Box::new(tracing::info_span!("member", %peer)));
        let peer = (!quiet).then(|| Box::new(peer));
        async move {
            let _open = connections.open();
            // Boxed, and made where it is awaited (held in a variable first,
            // it would take its room twice): the task's own future stays
            // small, and the member's takes its exact size, not a multiple
            // of the 128 bytes tokio's task cells grow by.
            let served = match span {
                None => Box::pin(hub.serve(ws)).await,
                Some(span) => Box::pin(hub.serve(ws).instrument(*span)).await,
            };
            if let (Err(e), Some(peer)) = (served, peer) {
                eprintln!("{peer}: error: {e}");
            }
        }
    }
}
