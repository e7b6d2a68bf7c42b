//! What a `ws://` or `wss://` URL says about where to connect: host, port,
//! the `Host` header, the request path and whether TLS is needed.

use crate::Error;

/// What a URL says about where to connect.
pub(crate) struct Target {
    /// The host name or IP address (IPv6 without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) host_header: String,
    pub(crate) path: String,
    /// `wss://`.
    pub(crate) tls: bool,
}

impl Target {
    pub(crate) fn parse(raw: &str) -> Result<Target, Error> {
        let bad = |reason: &str| Error::Url { url: raw.into(), reason: reason.into() };
        let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        let tls = match url.scheme() {
            "ws" => false,
            "wss" if cfg!(feature = "rustls") => true,
            "wss" => return Err(bad("wss:// needs TLS: build tether with its `rustls` feature")),
            other => return Err(bad(&format!("scheme {other}:// is not ws:// or wss://"))),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(bad("no host")),
        };
        let port = url.port_or_known_default().unwrap_or(if tls { 443 } else { 80 });
        let host_str = url.host_str().unwrap_or_default();
        let host_header = match url.port() {
            Some(p) => format!("{host_str}:{p}"),
            None => host_str.to_owned(),
        };
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        Ok(Target { host, port, host_header, path, tls })
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn urls_give_host_header_and_path() {
        let t = Target::parse("ws://example.com/chat?room=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.host_header.as_str(), t.path.as_str()),
            ("example.com", 80, "example.com", "/chat?room=1")
        );
        let t = Target::parse("ws://[::1]:9001").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.host_header.as_str(), t.path.as_str()),
            ("::1", 9001, "[::1]:9001", "/")
        );
        assert!(Target::parse("http://x").is_err());
        let wss = Target::parse("wss://example.com/");
        #[cfg(feature = "rustls")]
        {
            let t = wss.unwrap();
            assert_eq!((t.port, t.tls, t.host_header.as_str()), (443, true, "example.com"));
        }
        #[cfg(not(feature = "rustls"))]
        assert!(wss.is_err());
        assert!(Target::parse("not a url").is_err());
    }
}
