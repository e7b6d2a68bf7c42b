//! A WebSocket client over HTTP/2 extended CONNECT (RFC 8441) for the tests,
//! on the h2 crate: tether's engine runs over one h2 stream.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// One cleartext HTTP/2 connection (prior knowledge).
pub struct H2Client {
    send: SendRequest<Bytes>,
    authority: String,
}

impl H2Client {
    pub async fn connect(addr: &str) -> H2Client {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(async move {
            let _ = connection.await;
        });
        H2Client { send, authority: addr.to_owned() }
    }

    /// Whether the server announced extended CONNECT, once its SETTINGS came.
    pub async fn extended_connect_enabled(&mut self) -> bool {
        self.send = self.send.clone().ready().await.unwrap();
        // The server's SETTINGS may come after the connection is ready.
        for _ in 0..100 {
            if self.send.is_extended_connect_protocol_enabled() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
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
        (status, H2Stream { send, recv: response.into_body(), buf: Bytes::new() })
    }
}

/// One h2 stream as a byte stream.
pub struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// What the last DATA frame brought and was not read yet.
    buf: Bytes,
}

impl AsyncRead for H2Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        while self.buf.is_empty() {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    self.buf = data;
                }
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.buf.len().min(out.remaining());
        out.put_slice(&self.buf[..n]);
        self.buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        // Unbounded: h2 queues what the window does not allow yet (fine for tests).
        self.send.send_data(Bytes::copy_from_slice(data), false).map_err(io::Error::other)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = self.send.send_data(Bytes::new(), true);
        Poll::Ready(Ok(()))
    }
}
