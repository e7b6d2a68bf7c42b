//! Where the load goes: the target URL (`ws://`, `wss://`, or a raw
//! `tcp://` or `tls://` echo) and the source addresses connections are
//! opened from.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::tls::ClientTls;

/// Where the load goes.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// The request target.
    pub path: String,
    /// `tcp://` or `tls://`: a raw echo, no handshake; frames come back masked.
    pub raw: bool,
    /// `wss://` or `tls://`: TLS over the TCP connection.
    pub secure: bool,
    /// The TLS settings for a secure target (set with [`Target::with_tls`]).
    pub tls: Option<ClientTls>,
    /// Offer permessage-deflate and send compressed text (the server must accept).
    pub deflate: bool,
}

impl Target {
    /// Parses `ws://HOST:PORT/PATH`, `wss://HOST:PORT/PATH`, or
    /// `tcp://HOST:PORT/` and `tls://HOST:PORT/` (raw echoes, no WebSocket).
    pub fn parse(url: &str) -> Result<Target, String> {
        let schemes =
            [("ws://", false, false), ("wss://", false, true), ("tcp://", true, false), ("tls://", true, true)];
        let Some((raw, secure, rest)) =
            schemes.iter().find_map(|(scheme, raw, secure)| Some((*raw, *secure, url.strip_prefix(scheme)?)))
        else {
            return Err(format!(
                "{url:?}: the URL must start with ws:// or wss:// (or tcp:// and tls:// for a raw echo)"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            authority.to_owned()
        } else {
            format!("{authority}:{}", if secure { 443 } else { 80 })
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{url:?}: cannot resolve {authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url:?}: {authority} has no address"))?;
        Ok(Target { addr, host: authority.to_owned(), path: path.to_owned(), raw, secure, tls: None, deflate: false })
    }

    /// Uses `tls` for a secure target (a WebSocket target offers ALPN `http/1.1`).
    pub fn with_tls(mut self, tls: &ClientTls) -> Target {
        self.tls = Some(if self.raw { tls.clone() } else { tls.with_http11_alpn() });
        self
    }

    /// The host without the port (and without an IPv6 literal's brackets):
    /// the name the server's certificate must hold.
    pub fn hostname(&self) -> &str {
        let host = match self.host.rsplit_once(':') {
            Some((h, port)) if port.parse::<u16>().is_ok() => h,
            _ => &self.host,
        };
        host.trim_start_matches('[').trim_end_matches(']')
    }
}

/// Source addresses taken in turn, so that many connections to one server
/// port do not run out of ephemeral ports.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    addrs: Vec<IpAddr>,
    next: usize,
}

impl Sources {
    /// `spec` is empty (let the OS choose), a list `127.0.0.1,127.0.0.2`, or
    /// a count `4` meaning 127.0.0.1 to 127.0.0.4.
    pub fn parse(spec: Option<&str>) -> Result<Sources, String> {
        let Some(spec) = spec else { return Ok(Sources::default()) };
        if let Ok(n @ 1..=254) = spec.parse::<u8>() {
            let addrs = (1..=n).map(|i| IpAddr::from([127, 0, 0, i])).collect();
            return Ok(Sources { addrs, next: 0 });
        }
        let addrs = spec
            .split(',')
            .map(|a| a.trim().parse::<IpAddr>().map_err(|_| format!("bad source address {a:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sources { addrs, next: 0 })
    }

    /// The next source address, if any were given.
    pub fn next(&mut self) -> Option<IpAddr> {
        let addr = self.addrs.get(self.next % self.addrs.len().max(1)).copied();
        self.next = self.next.wrapping_add(1);
        addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_sources_parse() {
        let t = Target::parse("ws://127.0.0.1:9001/chat?x=1").unwrap();
        assert_eq!((t.addr.port(), t.path.as_str(), t.raw), (9001, "/chat?x=1", false));
        assert!(Target::parse("tcp://127.0.0.1:5").unwrap().raw);
        let t = Target::parse("wss://localhost:9443/x").unwrap();
        assert_eq!((t.secure, t.raw, t.hostname()), (true, false, "localhost"));
        let t = Target::parse("tls://[::1]:7").unwrap();
        assert_eq!((t.secure, t.raw, t.hostname()), (true, true, "::1"));
        assert!(Target::parse("http://127.0.0.1:5/").is_err());
        let mut s = Sources::parse(Some("3")).unwrap();
        let got: Vec<_> = (0..4).map(|_| s.next().unwrap().to_string()).collect();
        assert_eq!(got, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"]);
        assert_eq!(Sources::parse(None).unwrap().next(), None);
        assert!(Sources::parse(Some("nope")).is_err());
    }
}
