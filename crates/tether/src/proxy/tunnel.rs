//! The proxy protocols: an HTTP `CONNECT` request (RFC 9110 section 9.3.6)
//! and a SOCKS5 `CONNECT` (RFC 1928, with RFC 1929 user/password).

use std::io;
use std::net::IpAddr;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{host_port, Proxy, ProxyKind};
use crate::{Error, ProxyError};

/// The largest `CONNECT` response head read.
const MAX_HEAD: usize = 16 * 1024;

/// Asks the proxy, over `tcp` (connected to it), for a tunnel to
/// `host:port`; on success `tcp` carries the bytes to and from the server.
pub(crate) async fn tunnel(proxy: &Proxy, tcp: &mut TcpStream, host: &str, port: u16) -> Result<(), Error> {
    match proxy.kind() {
        ProxyKind::Http => http_connect(proxy, tcp, host, port).await,
        ProxyKind::Socks5 | ProxyKind::Socks5h => socks5_connect(proxy, tcp, host, port).await,
    }
}

/// An IO failure while talking to the proxy: it hung up or reset.
fn lost(proxy: &Proxy, protocol: &'static str, e: io::Error) -> Error {
    let reason = if e.kind() == io::ErrorKind::UnexpectedEof {
        "closed the connection before answering".to_owned()
    } else {
        e.to_string()
    };
    ProxyError::Protocol { proxy: proxy.addr(), protocol, reason }.into()
}

const HTTP: &str = "HTTP CONNECT";

async fn http_connect(proxy: &Proxy, tcp: &mut TcpStream, host: &str, port: u16) -> Result<(), Error> {
    let target = host_port(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((user, password)) = proxy.credentials() {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.map_err(|e| lost(proxy, HTTP, e))?;

    // Read the head a byte at a time: whatever follows it belongs to the
    // server, and a head is a few hundred bytes, once per connection.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            let reason = format!("response head longer than {MAX_HEAD} bytes");
            return Err(ProxyError::Protocol { proxy: proxy.addr(), protocol: HTTP, reason }.into());
        }
        head.push(tcp.read_u8().await.map_err(|e| lost(proxy, HTTP, e))?);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let code = match response.parse(&head) {
        Ok(httparse::Status::Complete(_)) => response.code.unwrap_or_default(),
        Ok(httparse::Status::Partial) | Err(_) => {
            let start = String::from_utf8_lossy(&head[..head.len().min(60)]).trim().to_owned();
            let reason = format!("answer is not HTTP: {start:?}");
            return Err(ProxyError::Protocol { proxy: proxy.addr(), protocol: HTTP, reason }.into());
        }
    };
    let status = format!("{code} {}", response.reason.unwrap_or_default());
    match code {
        200..=299 => Ok(()),
        // 407 is the proxy's own "who are you"; some proxies (tinyproxy)
        // answer refused credentials with 401, which to a CONNECT can only
        // be about the proxy too: the server has not been reached.
        401 | 407 => {
            let reason = match proxy.username() {
                Some(user) => format!("{status}: the credentials of {user:?} were refused"),
                None => format!("{status}: no credentials were given"),
            };
            Err(ProxyError::Auth { proxy: proxy.addr(), reason }.into())
        }
        _ => Err(ProxyError::Refused {
            proxy: proxy.addr(),
            target,
            reason: status,
            status: http::StatusCode::from_u16(code).ok(),
        }
        .into()),
    }
}

const SOCKS: &str = "SOCKS5";

async fn socks5_connect(proxy: &Proxy, tcp: &mut TcpStream, host: &str, port: u16) -> Result<(), Error> {
    let io = |e: io::Error| lost(proxy, SOCKS, e);
    let broken = |reason: String| ProxyError::Protocol { proxy: proxy.addr(), protocol: SOCKS, reason }.into();

    // The destination first: with socks5:// a name that does not resolve
    // fails here, as a DNS error, before the proxy is bothered.
    let mut address = Vec::with_capacity(262);
    let literal = host.parse::<IpAddr>().ok();
    let ip = match (literal, proxy.kind()) {
        (Some(ip), _) => Some(ip),
        (None, ProxyKind::Socks5h) => None,
        (None, _) => {
            let mut found = tokio::net::lookup_host((host, port))
                .await
                .map_err(|source| Error::Dns { host: host.into(), source })?;
            let first = found.next().ok_or_else(|| Error::Dns {
                host: host.into(),
                source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
            })?;
            Some(first.ip())
        }
    };
    match ip {
        Some(IpAddr::V4(v4)) => {
            address.push(1);
            address.extend_from_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            address.push(4);
            address.extend_from_slice(&v6.octets());
        }
        None => {
            let len = u8::try_from(host.len()).map_err(|_| Error::Url {
                url: host.into(),
                reason: "a host name sent to a SOCKS5 proxy is at most 255 bytes".into(),
            })?;
            address.push(3);
            address.push(len);
            address.extend_from_slice(host.as_bytes());
        }
    }
    address.extend_from_slice(&port.to_be_bytes());

    // Greeting: offer "no authentication", and user/password when we have some.
    let greeting: &[u8] = if proxy.credentials().is_some() { &[5, 2, 0x00, 0x02] } else { &[5, 1, 0x00] };
    tcp.write_all(greeting).await.map_err(io)?;
    let mut choice = [0u8; 2];
    tcp.read_exact(&mut choice).await.map_err(io)?;
    if choice[0] != 5 {
        return Err(broken(format!("answered version {} to a SOCKS5 greeting", choice[0])));
    }
    match (choice[1], proxy.credentials()) {
        (0x00, _) => {}
        (0x02, Some((user, password))) => {
            // Lengths were checked when the proxy URL was parsed.
            let mut auth = vec![1, user.len() as u8];
            auth.extend_from_slice(user.as_bytes());
            auth.push(password.len() as u8);
            auth.extend_from_slice(password.as_bytes());
            tcp.write_all(&auth).await.map_err(io)?;
            let mut verdict = [0u8; 2];
            tcp.read_exact(&mut verdict).await.map_err(io)?;
            if verdict[1] != 0 {
                let reason = format!("the credentials of {user:?} were refused (status {})", verdict[1]);
                return Err(ProxyError::Auth { proxy: proxy.addr(), reason }.into());
            }
        }
        (0xFF, None) => {
            let reason = "it accepts no unauthenticated clients: put user:password@ in the proxy URL".to_owned();
            return Err(ProxyError::Auth { proxy: proxy.addr(), reason }.into());
        }
        (0xFF, Some(_)) => {
            let reason = "it accepts neither user/password nor no authentication".to_owned();
            return Err(ProxyError::Auth { proxy: proxy.addr(), reason }.into());
        }
        (other, _) => return Err(broken(format!("chose authentication method {other}, which was not offered"))),
    }

    // CONNECT.
    let mut request = vec![5, 1, 0];
    request.extend_from_slice(&address);
    tcp.write_all(&request).await.map_err(io)?;
    let mut reply = [0u8; 4];
    tcp.read_exact(&mut reply).await.map_err(io)?;
    if reply[0] != 5 {
        return Err(broken(format!("answered version {} to a SOCKS5 request", reply[0])));
    }
    if reply[1] != 0 {
        return Err(ProxyError::Refused {
            proxy: proxy.addr(),
            target: host_port(host, port),
            reason: socks_reply(reply[1]),
            status: None,
        }
        .into());
    }
    // The address the proxy bound: read and dropped.
    let bound = match reply[3] {
        1 => 4,
        4 => 16,
        3 => usize::from(tcp.read_u8().await.map_err(io)?),
        other => return Err(broken(format!("unknown address type {other} in its reply"))),
    };
    let mut rest = vec![0u8; bound + 2];
    tcp.read_exact(&mut rest).await.map_err(io)?;
    Ok(())
}

/// RFC 1928 section 6, in words.
fn socks_reply(code: u8) -> String {
    let text = match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused by the destination",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown failure",
    };
    format!("{text} (SOCKS5 reply {code})")
}
