//! Rooms in an axum app: a WebSocket to `/rooms/NAME` joins room NAME of a
//! [`tether_hub::Hub`] (raw clients, or `tether.hub.v1` with offsets and
//! resume), and application code publishes with `POST /rooms/NAME` (the
//! body, as text) without being a member. Routed with `any()` so that
//! HTTP/2 extended CONNECT reaches the extractor too.
//!
//!     cargo run -p tether-hub --example axum_rooms -- 127.0.0.1:0
//!
//! The first stdout line is the rooms' base URL (`ws://ADDR/rooms/`).

use axum::extract::{Path, State};
use axum::routing::any;
use axum::Router;
use tether::axum::WebSocketUpgrade;
use tether::Message;
use tether_hub::{Hub, HubConfig};

/// The app: joins on any method the extractor accepts, publishes on POST.
pub fn app(hub: Hub) -> Router {
    Router::new().route("/rooms/{name}", any(join).post(publish)).with_state(hub)
}

async fn join(State(hub): State<Hub>, upgrade: WebSocketUpgrade) -> axum::response::Response {
    upgrade.protocols([tether_hub::protocol::PROTOCOL]).on_upgrade(move |ws| async move {
        // The hub reads the room from the request's path, as `tether hub` does.
        if let Err(e) = hub.serve(ws).await {
            eprintln!("member left: {e}");
        }
    })
}

async fn publish(State(hub): State<Hub>, Path(name): Path<String>, body: String) -> String {
    let published = hub.publish(&name, Message::text(body)).await;
    format!("offset {}\n", published.position.offset)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("ws://{}/rooms/", listener.local_addr()?);
    axum::serve(listener, app(Hub::new(HubConfig::default()))).await
}
