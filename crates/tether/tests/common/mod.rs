//! Helpers shared by the TLS, proxy and HTTP/2 tests.
// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use std::net::SocketAddr;

use futures_util::StreamExt;
use tether::tls::{ClientTls, Roots, ServerTls};
use tether::{CloseFrame, Error};
use tether_testkit::pki::{Leaf, TestPki};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How one connection to an [`EchoServer`] ended: the close frame it
/// received, or the error.
pub type Outcome = Result<Option<CloseFrame>, Error>;

/// An echo server on 127.0.0.1, plain or TLS. It picks the subprotocol
/// `chat.v2` when offered and adds the response header `x-served-by`.
pub struct EchoServer {
    pub addr: SocketAddr,
    pub outcomes: mpsc::UnboundedReceiver<Outcome>,
}

impl EchoServer {
    pub async fn plain() -> EchoServer {
        Self::start(None).await
    }

    /// Presents `leaf` of the PKI.
    pub async fn tls(pki: &TestPki, leaf: Leaf) -> EchoServer {
        let id = pki.identity(leaf);
        Self::start(Some(ServerTls::from_pem_files(&id.cert, &id.key).unwrap())).await
    }

    async fn start(tls: Option<ServerTls>) -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (report, outcomes) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (tls, report) = (tls.clone(), report.clone());
                tokio::spawn(async move {
                    let outcome = async {
                        let stream = match &tls {
                            Some(tls) => tls.accept(tcp).await?,
                            None => tether::MaybeTlsStream::Plain(tcp),
                        };
                        let mut ws = tether::accept_with(stream, tether::Config::default(), |req| {
                            let chosen = req.protocols().iter().find(|p| *p == "chat.v2").cloned();
                            Ok(tether::Accept::new().protocol(chosen).header("x-served-by", "tether-test"))
                        })
                        .await?;
                        while let Some(message) = ws.next().await {
                            ws.send(message?).await?;
                        }
                        Ok(ws.close_frame().cloned())
                    }
                    .await;
                    let _ = report.send(outcome);
                });
            }
        });
        EchoServer { addr, outcomes }
    }

    /// `ws://` or `wss://` with `host` and this server's port.
    pub fn url(&self, scheme: &str, host: &str) -> String {
        format!("{scheme}://{host}:{}/", self.addr.port())
    }
}

/// A client TLS setup that trusts only the PKI's CA.
pub fn trusting(pki: &TestPki) -> ClientTls {
    ClientTls::new().roots(Roots::Empty).add_ca_pem_file(&pki.ca).unwrap()
}

/// The parameters of the first SETTINGS frame (not an acknowledgement) read
/// from `io`, after `skip` bytes (a client's connection preface): what an
/// HTTP/2 endpoint announces.
pub async fn first_http2_settings(io: &mut (impl tokio::io::AsyncRead + Unpin), skip: usize) -> Vec<(u16, u32)> {
    use tokio::io::AsyncReadExt;
    let mut preface = vec![0; skip];
    io.read_exact(&mut preface).await.unwrap();
    loop {
        let mut head = [0u8; 9];
        io.read_exact(&mut head).await.unwrap();
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0; len];
        io.read_exact(&mut payload).await.unwrap();
        let (kind, ack) = (head[3], head[4] & 1 == 1);
        if kind == 4 && !ack {
            return payload
                .chunks_exact(6)
                .map(|p| (u16::from_be_bytes([p[0], p[1]]), u32::from_be_bytes([p[2], p[3], p[4], p[5]])))
                .collect();
        }
    }
}
