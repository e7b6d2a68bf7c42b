//! The web chat's sessions on the tokio backend: the same code the page
//! runs in the browser, against servers on loopback.
#![cfg(not(target_arch = "wasm32"))]

use std::future::Future;

use tether::{CloseCode, Message};
use tether_web_chat::session::{self, Failure, PNG_MAGIC};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// A picture-shaped payload: what the echo server's `/image` sends first.
const PICTURE: &[u8] = b"\x89PNG\r\n\x1a\n not really a picture";

/// A server on a free port that runs `handle` on each connection; its ws:// URL.
async fn server<F, Fut>(handle: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(handle(tcp));
        }
    });
    url
}

/// Echoes; a client of `/image` first gets [`PICTURE`].
async fn echo(tcp: tokio::net::TcpStream) {
    let Ok(mut ws) = tether::accept(tcp).await else { return };
    use futures_util::StreamExt;
    if ws.request_path() == Some("/image") && ws.send(Message::binary(PICTURE)).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = ws.next().await {
        if ws.send(message).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn what_is_sent_comes_back_and_a_clean_close_is_no_failure() {
    let url = format!("{}/", server(echo).await);
    let (opened, sender) = oneshot::channel();
    let (shown, mut received) = mpsc::unbounded_channel();
    let chat = session::chat(
        &url,
        |sender: tether::Sender| {
            // What a click on Send does.
            sender.try_send(Message::text("Hello!")).unwrap();
            opened.send(sender).unwrap();
        },
        move |message| shown.send(message).unwrap(),
    );
    let user = async {
        let sender = sender.await.unwrap();
        assert_eq!(received.recv().await, Some(Message::text("Hello!")));
        sender.send(Message::binary(PICTURE)).await.unwrap();
        assert_eq!(received.recv().await, Some(Message::binary(PICTURE)));
        sender.close(CloseCode::NORMAL, "bye").await.unwrap();
    };
    let (outcome, ()) = tokio::join!(chat, user);
    let frame = outcome.unwrap().expect("the server's close frame");
    assert_eq!((frame.code, &*frame.reason), (CloseCode::NORMAL, "bye"));
}

#[tokio::test]
async fn a_dropped_connection_is_lost_and_a_refused_one_never_opened() {
    // The server completes the handshake, then goes away without a close frame.
    let url = server(|tcp| async move { drop(tether::accept(tcp).await) }).await;
    let outcome = session::chat(&url, drop, drop).await;
    assert!(matches!(outcome, Err(Failure::Lost(_))), "{outcome:?}");

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    drop(listener);
    let outcome = session::chat(&url, |_| panic!("never opened"), drop).await;
    assert!(matches!(outcome, Err(Failure::Connect(tether::Error::Refused { .. }))), "{outcome:?}");
    assert!(outcome.unwrap_err().to_string().starts_with("cannot connect ("));
}

#[tokio::test]
async fn the_image_endpoint_gives_its_picture_and_is_closed() {
    let url = server(echo).await;
    let picture = session::first_message(&format!("{url}/image")).await.unwrap();
    assert!(matches!(&picture, Some(Message::Binary(bytes)) if bytes.starts_with(PNG_MAGIC)), "{picture:?}");
    // Elsewhere the echo server sends nothing first: the test would wait, so
    // a server that closes at once stands in for "nothing to show".
    let closing = server(|tcp| async move {
        if let Ok(mut ws) = tether::accept(tcp).await {
            let _ = ws.close(CloseCode::NORMAL, "").await;
        }
    })
    .await;
    assert_eq!(session::first_message(&closing).await.unwrap(), None);
}
