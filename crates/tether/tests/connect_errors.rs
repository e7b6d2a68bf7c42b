//! Connection set-up over loopback: each timeout and each kind of refusal
//! is its own error, and the handshake options (headers, cookies, Origin,
//! subprotocols, response headers) reach the other side.

use std::time::{Duration, Instant};

use http::StatusCode;
use tether::{Error, HandshakeError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;

/// A server that reads the request and answers `response`, verbatim.
async fn answering(response: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp.write_all(response.as_bytes()).await;
        }
    });
    url
}

#[tokio::test]
async fn a_refusal_is_an_http_status_with_the_body() {
    let url = answering("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\n\r\ncome back l").await;
    let err = tether::connect(&url).await.unwrap_err();
    assert!(matches!(err, Error::HttpStatus { status: StatusCode::SERVICE_UNAVAILABLE, .. }), "{err:?}");
    assert!(err.to_string().contains("come back l"), "{err}");

    let url =
        answering("HTTP/1.1 301 Moved Permanently\r\nLocation: wss://example.invalid/\r\nContent-Length: 0\r\n\r\n")
            .await;
    let err = tether::connect(&url).await.unwrap_err();
    assert_eq!(err.http_status(), Some(StatusCode::MOVED_PERMANENTLY));
    assert!(err.to_string().contains("redirect to wss://example.invalid/"), "{err}");
}

#[tokio::test]
async fn a_bad_upgrade_response_is_a_handshake_error() {
    let url = answering(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n",
    )
    .await;
    let err = tether::connect(&url).await.unwrap_err();
    assert!(matches!(err.handshake(), Some(HandshakeError::BadAccept { .. })), "{err:?}");
    assert_eq!(err.http_status(), None);

    let url = answering("SSH-2.0-OpenSSH_9.2\r\n\r\n").await;
    let err = tether::connect(&url).await.unwrap_err();
    assert!(matches!(err.handshake(), Some(HandshakeError::Http(_))), "{err:?}");
}

#[tokio::test]
async fn a_silent_server_hits_the_handshake_timeout_on_both_sides() {
    // The client waits for an answer that never comes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let held = tokio::spawn(async move { listener.accept().await });
    let config = tether::Config::default().handshake_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = tether::connect_with(&url).config(config).connect().await.unwrap_err();
    assert!(matches!(err, Error::HandshakeTimeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held);

    // The server waits for a request that never comes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _client = TcpStream::connect(addr).await.unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let err = tether::accept_with(tcp, config, |_| Ok(tether::Accept::new())).await.unwrap_err();
    assert!(matches!(err, Error::HandshakeTimeout(_)), "{err:?}");
}

#[tokio::test]
async fn a_full_accept_queue_hits_the_connect_timeout() {
    // A listener that never accepts, with its queue filled: the kernel
    // drops further SYNs, so a new connect hangs until the timeout.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    let mut hung = false;
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => fillers.push(tcp),
            Ok(Err(e)) => panic!("connect failed instead of hanging: {e}"),
            Err(_) => {
                hung = true;
                break;
            }
        }
    }
    assert!(hung, "the accept queue never filled up");
    let config = tether::Config::default().connect_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = tether::connect_with(&format!("ws://{addr}/")).config(config).no_proxy().connect().await.unwrap_err();
    assert!(matches!(err, Error::ConnectTimeout { timeout, .. } if timeout == Duration::from_millis(300)), "{err:?}");
    assert!(err.is_timeout());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn dns_failure_is_named_for_wss_too() {
    let err = tether::connect("wss://no-such-host.invalid/").await.unwrap_err();
    assert!(matches!(err, Error::Dns { ref host, .. } if &**host == "no-such-host.invalid"), "{err:?}");
}

#[tokio::test]
async fn headers_cookies_origin_and_subprotocols_reach_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/room?id=7", listener.local_addr().unwrap());
    let (seen_tx, seen) = oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let _ws = tether::accept_with(tcp, tether::Config::default(), |req| {
            let header = |name: &str| req.head().headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            let _ = seen_tx.send((
                req.head().uri().to_string(),
                header("authorization"),
                header("cookie"),
                req.origin().map(str::to_owned),
                req.protocols().to_vec(),
            ));
            Ok(tether::Accept::new()
                .protocol(Some("v2".into()))
                .header("set-cookie", "session=abc")
                .header("x-server", "tether"))
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let (ws, response) = tether::connect_with(&url)
        .header("Authorization", "Bearer t0ken")
        .header("Cookie", "a=1; b=2")
        .origin("https://app.example")
        .protocol("v1")
        .protocol("v2")
        .connect_with_response()
        .await
        .unwrap();
    let (uri, auth, cookie, origin, protocols) = seen.await.unwrap();
    assert_eq!(uri, "/room?id=7");
    assert_eq!(auth.as_deref(), Some("Bearer t0ken"));
    assert_eq!(cookie.as_deref(), Some("a=1; b=2"));
    assert_eq!(origin.as_deref(), Some("https://app.example"));
    assert_eq!(protocols, ["v1", "v2"]);
    assert_eq!(ws.protocol(), Some("v2"));
    assert_eq!(response.headers.get("set-cookie").unwrap(), "session=abc");
    assert_eq!(response.headers.get("x-server").unwrap(), "tether");
}
