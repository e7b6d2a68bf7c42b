//! The server `tests/backends.rs` talks to, on both backends: in-process
//! for the native run, and as `examples/backend_server.rs` (started by
//! `scripts/wasm-test.sh`) for the browser run.
//!
//! Paths: `/403` answers HTTP 403; `/close4001` closes at once with 4001
//! and a reason; `/stall` reads nothing until some client opens `/resume`
//! (each `/resume` releases the stalls opened before it, so runs can repeat);
//! `/drop-after-one` echoes one message, then drops the connection;
//! any other path echoes, and picks the subprotocol `chat.v1` when offered.

use std::sync::Arc;

use futures_util::StreamExt;
use http::StatusCode;
use tether::{Accept, CloseCode, Config, Reject};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The reason `/close4001` gives.
pub const CLOSE_4001_REASON: &str = "the test server says goodbye";

/// Where the server listens, and an address where nothing does.
pub struct Urls {
    /// `ws://127.0.0.1:PORT`, without a path.
    pub base: String,
    /// A `ws://` URL whose port was free a moment ago: connecting is refused.
    pub refused: String,
}

/// Starts the server on a free loopback port, in the current runtime.
pub async fn start() -> Urls {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("local address");
    // How many times `/resume` was opened.
    let (release, _) = watch::channel(0_u64);
    let release = Arc::new(release);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(tcp, release.clone()));
        }
    });
    Urls { base: format!("ws://{addr}"), refused: format!("ws://{closed}/") }
}

async fn serve(tcp: TcpStream, release: Arc<watch::Sender<u64>>) {
    let mut path = String::new();
    let accepted = tether::accept_with(tcp, Config::default(), |req| {
        path = req.head().uri().path().to_owned();
        if path == "/403" {
            return Err(Reject::new(StatusCode::FORBIDDEN, "forbidden by the test server"));
        }
        let chosen = req.protocols().iter().find(|p| *p == "chat.v1").cloned();
        Ok(Accept::new().protocol(chosen))
    })
    .await;
    let Ok(mut ws) = accepted else { return };
    match path.as_str() {
        "/close4001" => {
            let _ = ws.close(CloseCode(4001), CLOSE_4001_REASON).await;
        }
        "/stall" => {
            // Not polling the connection leaves its bytes in the socket:
            // the client's buffers fill up.
            let mut resumes = release.subscribe();
            let before = *resumes.borrow_and_update();
            let _ = resumes.wait_for(|count| *count > before).await;
            while let Some(Ok(_)) = ws.next().await {}
        }
        "/drop-after-one" => {
            if let Some(Ok(message)) = ws.next().await {
                let _ = ws.send(message).await;
            }
            // Dropped without a close frame: the client sees the connection break.
        }
        "/resume" => {
            release.send_modify(|count| *count += 1);
            let _ = ws.close(CloseCode::NORMAL, "resumed").await;
        }
        _ => {
            while let Some(Ok(message)) = ws.next().await {
                if ws.send(message).await.is_err() {
                    break;
                }
            }
        }
    }
}
