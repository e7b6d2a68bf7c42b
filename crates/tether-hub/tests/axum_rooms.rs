//! The axum rooms example (`examples/axum_rooms.rs`): two members of one
//! room through tether's axum extractor, each message to both (the sender
//! included), and a publish from application code over `POST`.

#[allow(dead_code)] // its `main` is the example's, not the test's
#[path = "../examples/axum_rooms.rs"]
mod example;

use tether::prelude::*;
use tether_hub::{Hub, HubConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn members_in_an_axum_app_share_a_room_and_the_app_publishes() {
    let hub = Hub::new(HubConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = example::app(hub.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let url = format!("ws://{addr}/rooms/lobby");
    let mut alice = tether::connect(&url).await.unwrap();
    let mut bob = tether::connect(&url).await.unwrap();
    // Both are members once the hub counts them.
    while hub.member_count("lobby") < 2 {
        tokio::task::yield_now().await;
    }
    alice.send(Message::text("hi from alice")).await.unwrap();
    for ws in [&mut alice, &mut bob] {
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hi from alice"));
    }

    let body = "from the app";
    let mut http = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /rooms/lobby HTTP/1.1\r\nhost: {addr}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    http.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    http.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("offset 2\n"), "{response}");
    for ws in [&mut alice, &mut bob] {
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(body));
    }
    alice.close(CloseCode::NORMAL, "bye").await.unwrap();
    bob.close(CloseCode::NORMAL, "bye").await.unwrap();
}
