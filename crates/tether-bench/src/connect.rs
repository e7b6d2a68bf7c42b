//! Opening and closing the generator's connections, on raw TCP (TLS over
//! it for `wss://`) and `tether-proto` only: connecting from a chosen
//! source address, the TLS and opening handshakes, and the close frame a
//! client sends at the end.
//!
//! With permessage-deflate (`Target::deflate`) the generator offers it with
//! `client_no_context_takeover`, so each of its messages is compressed on
//! its own and the frames can still be built once; the server compresses
//! its echoes as it likes, and the reader inflates them as they arrive.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;
use tether_proto::handshake::client::{ClientHandshake, ClientRequest};
use tether_proto::{DeflateConfig, DeflateParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::frames::close_frame;
use crate::report::Errors;
use crate::target::{Sources, Target};
use crate::tls::Stream;

/// The longest a connect or an opening handshake may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a TCP connection (with `TCP_NODELAY`), from `source` if given.
pub async fn connect_tcp(target: &Target, source: Option<IpAddr>) -> Result<TcpStream, String> {
    let socket = if target.addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
    let socket = socket.map_err(|e| format!("socket: {e}"))?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0)).map_err(|e| format!("bind {ip}: {e}"))?;
    }
    let tcp = tokio::time::timeout(SETUP_TIMEOUT, socket.connect(target.addr))
        .await
        .map_err(|_| format!("connect to {}: timed out", target.addr))?
        .map_err(|e| format!("connect to {}: {e}", target.addr))?;
    tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    Ok(tcp)
}

/// Opens a TCP connection, then the TLS session of a secure target.
pub async fn connect(target: &Target, source: Option<IpAddr>) -> Result<Stream, String> {
    let tcp = connect_tcp(target, source).await?;
    if !target.secure {
        return Ok(Stream::Tcp(tcp));
    }
    let tls = target.tls.as_ref().ok_or("a wss:// or tls:// target needs a CA to trust (--ca FILE)")?;
    tokio::time::timeout(SETUP_TIMEOUT, tls.connect(target.hostname(), tcp))
        .await
        .map_err(|_| format!("TLS handshake with {}: timed out", target.addr))?
}

/// A connection after the opening handshake.
#[derive(Debug)]
pub struct Upgraded {
    /// The socket (TLS over it for a secure target).
    pub tcp: Stream,
    /// Bytes read past the response head (already frames).
    pub leftover: Vec<u8>,
    /// The permessage-deflate parameters the server accepted.
    pub deflate: Option<DeflateParams>,
}

/// Performs the client handshake; a raw target has none.
pub async fn handshake(mut tcp: Stream, target: &Target) -> Result<Upgraded, String> {
    if target.raw {
        return Ok(Upgraded { tcp, leftover: Vec::new(), deflate: None });
    }
    let deflate = target.deflate.then(|| DeflateConfig::default().no_context_takeover(true));
    let request = ClientRequest { host: target.host.clone(), path: target.path.clone(), deflate, ..Default::default() };
    let (hs, bytes) = ClientHandshake::new(&request).map_err(|e| e.to_string())?;
    let exchange = async {
        tcp.write_all(&bytes).await.map_err(|e| format!("handshake write: {e}"))?;
        tcp.flush().await.map_err(|e| format!("handshake write: {e}"))?;
        let mut buf = Vec::with_capacity(512);
        loop {
            if tcp.read_buf(&mut buf).await.map_err(|e| format!("handshake read: {e}"))? == 0 {
                return Err("server closed during the handshake".to_owned());
            }
            if let Some((response, n)) = hs.read_response(&buf).map_err(|e| format!("handshake: {e}"))? {
                return Ok((buf.split_off(n), response.deflate));
            }
        }
    };
    let (leftover, deflate) =
        tokio::time::timeout(SETUP_TIMEOUT, exchange).await.map_err(|_| "handshake timed out".to_owned())??;
    if target.deflate && deflate.is_none() {
        return Err("the server did not accept permessage-deflate".to_owned());
    }
    Ok(Upgraded { tcp, leftover, deflate })
}

/// Opens `n` connections, 64 handshakes at a time; failures are counted.
pub async fn open(target: &Target, n: usize, sources: &mut Sources, errors: &mut Errors) -> Vec<Upgraded> {
    let attempts: Vec<_> = (0..n).map(|_| sources.next()).collect();
    let results: Vec<_> = futures_util::stream::iter(attempts)
        .map(|source| async move {
            let tcp = connect(target, source).await?;
            handshake(tcp, target).await
        })
        .buffered(64)
        .collect()
        .await;
    let mut conns = Vec::with_capacity(n);
    for r in results {
        match r {
            Ok(c) => conns.push(c),
            Err(e) => errors.push(e),
        }
    }
    conns
}

/// Sends a close frame and waits (briefly) for the server to close; a raw
/// echo just gets our FIN (after a TLS `close_notify`).
pub async fn close(mut tcp: Stream, raw: bool) {
    if raw {
        let _ = tcp.shutdown().await;
        return;
    }
    let frame = close_frame(&mut fastrand::Rng::new());
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        tcp.write_all(&frame).await?;
        tcp.flush().await?;
        let mut sink = [0u8; 256];
        while tcp.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
