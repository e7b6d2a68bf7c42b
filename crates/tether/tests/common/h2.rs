//! A raw HTTP/2 extended CONNECT (RFC 8441) client for the tests, on the h2
//! crate, to send requests tether's own client would not (a wrong
//! `:protocol`, a missing version); tether's engine runs over the stream
//! ([`tether::http2::H2Stream`]).

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use tether::http2::H2Stream;
use tokio::net::TcpStream;

/// One cleartext HTTP/2 connection (prior knowledge).
pub struct H2Client {
    send: SendRequest<Bytes>,
    authority: String,
    /// Taken by the first settings check.
    ping_pong: Option<h2::PingPong>,
}

impl H2Client {
    pub async fn connect(addr: &str) -> H2Client {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (send, mut connection) = h2::client::handshake(tcp).await.unwrap();
        let ping_pong = connection.ping_pong();
        tokio::spawn(async move {
            let _ = connection.await;
        });
        H2Client { send, authority: addr.to_owned(), ping_pong }
    }

    /// Whether the server announced extended CONNECT, once its SETTINGS came.
    pub async fn extended_connect_enabled(&mut self) -> bool {
        // The server's SETTINGS come before its answer to our PING.
        if let Some(mut ping_pong) = self.ping_pong.take() {
            ping_pong.ping(h2::Ping::opaque()).await.unwrap();
        }
        self.send.is_extended_connect_protocol_enabled()
    }

    /// Opens a WebSocket at `path` (with `headers` replacing the defaults);
    /// returns the status and the client's WebSocket over the stream.
    pub async fn websocket(&mut self, path: &str, headers: &[(&str, &str)]) -> (u16, tether::WebSocket<H2Stream>) {
        let (status, io) = self.extended_connect(path, "websocket", headers).await;
        let config = tether::Config::default();
        (status, tether::WebSocket::from_parts(io, tether::Role::Client, BytesMut::new(), config, None, None))
    }

    /// Sends an extended CONNECT for `path` with `:protocol` = `protocol`
    /// and `Sec-WebSocket-Version: 13`, then `headers` (an empty value
    /// removes the header); returns the status and the stream.
    pub async fn extended_connect(
        &mut self,
        path: &str,
        protocol: &'static str,
        headers: &[(&str, &str)],
    ) -> (u16, H2Stream) {
        let mut request = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("http://{}{path}", self.authority))
            .extension(h2::ext::Protocol::from_static(protocol))
            .body(())
            .unwrap();
        request.headers_mut().insert("sec-websocket-version", "13".parse().unwrap());
        for (name, value) in headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            match *value {
                "" => request.headers_mut().remove(name),
                value => request.headers_mut().insert(name, value.parse().unwrap()),
            };
        }
        self.send = self.send.clone().ready().await.unwrap();
        let (response, send) = self.send.send_request(request, false).unwrap();
        let response = response.await.unwrap();
        let status = response.status().as_u16();
        (status, H2Stream::new(send, response.into_body()))
    }
}
