//! What [`tether::Server`] sets on the sockets it accepts.

use tether::{Config, Server};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Every accepted connection has `TCP_NODELAY`: a WebSocket's small
/// messages go out at once, not after the peer's delayed ACK.
#[tokio::test]
async fn every_accepted_connection_has_nodelay() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let (seen, mut nodelay) = mpsc::unbounded_channel();
    let server = Server::from_listener(listener, Config::default());
    tokio::spawn(server.serve(move |ws, _| {
        let _ = seen.send(ws.get_ref().tcp().map(|tcp| tcp.nodelay().unwrap()));
        async move { drop(ws) }
    }));
    for _ in 0..3 {
        let _client = tether::connect(&url).await.unwrap();
        assert_eq!(nodelay.recv().await.unwrap(), Some(true));
    }
}
