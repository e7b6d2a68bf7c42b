//! Where the load goes: the target URL (`ws://` or a raw `tcp://` echo)
//! and the source addresses connections are opened from.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Where the load goes.
#[derive(Clone, Debug)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// The request target.
    pub path: String,
    /// `tcp://`: a raw TCP echo, no handshake; frames come back masked.
    pub raw: bool,
    /// Offer permessage-deflate and send compressed text (the server must accept).
    pub deflate: bool,
}

impl Target {
    /// Parses `ws://HOST:PORT/PATH` or `tcp://HOST:PORT/` (a raw TCP echo).
    pub fn parse(url: &str) -> Result<Target, String> {
        let (raw, rest) = if let Some(rest) = url.strip_prefix("ws://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("tcp://") {
            (true, rest)
        } else {
            return Err(format!("{url:?}: the URL must start with ws:// (or tcp:// for a raw TCP echo)"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{url:?}: cannot resolve {authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url:?}: {authority} has no address"))?;
        Ok(Target { addr, host: authority.to_owned(), path: path.to_owned(), raw, deflate: false })
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
        assert!(Target::parse("http://127.0.0.1:5/").is_err());
        let mut s = Sources::parse(Some("3")).unwrap();
        let got: Vec<_> = (0..4).map(|_| s.next().unwrap().to_string()).collect();
        assert_eq!(got, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"]);
        assert_eq!(Sources::parse(None).unwrap().next(), None);
        assert!(Sources::parse(Some("nope")).is_err());
    }
}
