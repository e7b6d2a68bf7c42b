//! Reaching a server through an HTTP `CONNECT` or SOCKS5 proxy.
//!
//! A client uses the proxy the environment names, the way curl reads it,
//! unless told otherwise ([`ClientBuilder::proxy`](crate::ClientBuilder::proxy),
//! [`ClientBuilder::no_proxy`](crate::ClientBuilder::no_proxy)):
//!
//! | URL | variables tried, first set and non-empty wins |
//! |---|---|
//! | `ws://`  | `ws_proxy`, `WS_PROXY`, `http_proxy`, `all_proxy`, `ALL_PROXY` |
//! | `wss://` | `wss_proxy`, `WSS_PROXY`, `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY` |
//!
//! Like curl, the upper-case `HTTP_PROXY` is **not** read: in a CGI
//! program any client can set it through a `Proxy:` request header
//! ("httpoxy"). Use `http_proxy`, `ws_proxy` or `all_proxy` instead.
//!
//! `no_proxy` (or `NO_PROXY`) is a comma-separated list of hosts reached
//! directly: `*` for all; `example.com` or `.example.com` for that domain
//! and its subdomains; IP addresses, or networks as `10.0.0.0/8` and
//! `fd00::/8`. Names are compared as written (no DNS lookup), ignoring case.
//! Nothing is exempt by default, not even `localhost`, as with curl.
//!
//! Proxy URLs, as curl takes them:
//! - `http://[user:password@]host[:port]`, or no scheme: HTTP `CONNECT`
//!   tunnel, with basic authentication when credentials are given;
//! - `socks5://[user:password@]host[:port]`: SOCKS5, the server's name is
//!   resolved locally and the proxy gets its address;
//! - `socks5h://...`: SOCKS5, the proxy resolves the name.
//!
//! The port defaults to 1080 (curl's default). User name and password are
//! percent-decoded (`%40` for `@`). Both `ws://` and `wss://` go through a
//! tunnel, so the proxy never sees the WebSocket traffic, and for `wss://`
//! TLS runs end to end with the server, not with the proxy.

mod tunnel;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use percent_encoding::percent_decode_str;

use crate::Error;

pub(crate) use tunnel::tunnel;

/// The kind of proxy, from its URL's scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyKind {
    /// An HTTP proxy, asked for a `CONNECT` tunnel (`http://` or no scheme).
    Http,
    /// SOCKS5, with the server's name resolved locally (`socks5://`).
    Socks5,
    /// SOCKS5, with the server's name resolved by the proxy (`socks5h://`).
    Socks5h,
}

/// A proxy to tunnel the connection through: an HTTP `CONNECT` or SOCKS5
/// proxy, with optional credentials. `Debug` and `Display` hide the password.
///
/// ```
/// let proxy: tether::Proxy = "socks5h://me:s%40cret@127.0.0.1:1080".parse()?;
/// assert_eq!(proxy.kind(), tether::ProxyKind::Socks5h);
/// assert_eq!(proxy.to_string(), "socks5h://me:***@127.0.0.1:1080");
/// # Ok::<(), tether::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl Proxy {
    /// Parses a proxy URL (see the [module docs](crate::proxy) for the forms).
    pub fn parse(url: &str) -> Result<Proxy, Error> {
        let bad = |reason: &str| Error::Url { url: url.into(), reason: format!("not a usable proxy: {reason}").into() };
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("http".to_owned(), url),
        };
        let kind = match scheme.as_str() {
            "http" => ProxyKind::Http,
            "socks5" => ProxyKind::Socks5,
            "socks5h" => ProxyKind::Socks5h,
            "https" => return Err(bad("https:// proxies (TLS to the proxy) are not supported; use http://")),
            other => return Err(bad(&format!("scheme {other}:// is not http://, socks5:// or socks5h://"))),
        };
        // A scheme the url crate has no defaults for keeps an explicit port
        // as written (with `http`, `:80` would read as "no port").
        let parsed = url::Url::parse(&format!("proxy://{rest}")).map_err(|e| bad(&e.to_string()))?;
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad("no host")),
        };
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err(bad("a proxy URL has no path"));
        }
        let decode = |s: &str| percent_decode_str(s).decode_utf8().map(|s| s.into_owned());
        let credentials = match (parsed.username(), parsed.password()) {
            ("", None) => None,
            (user, password) => {
                let user = decode(user).map_err(|_| bad("user name is not UTF-8"))?;
                let password = decode(password.unwrap_or("")).map_err(|_| bad("password is not UTF-8"))?;
                if kind != ProxyKind::Http && (user.len() > 255 || password.len() > 255) {
                    return Err(bad("SOCKS5 user names and passwords are at most 255 bytes"));
                }
                Some((user, password))
            }
        };
        Ok(Proxy { kind, host, port: parsed.port().unwrap_or(1080), credentials })
    }

    /// The proxy the environment names for a `ws://` or `wss://` URL, or
    /// `None` when no variable is set or `no_proxy` exempts the URL's host.
    pub fn from_env(url: &str) -> Result<Option<Proxy>, Error> {
        let target = crate::target::Target::parse(url)?;
        from_env_with(target.tls, &target.host, |name| std::env::var(name).ok())
    }

    /// HTTP `CONNECT` or SOCKS5.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name, when the URL gave credentials.
    pub fn username(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(user, _)| user.as_str())
    }

    pub(crate) fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub(crate) fn addr(&self) -> String {
        host_port(&self.host, self.port)
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl FromStr for Proxy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Proxy::parse(s)
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        };
        write!(f, "{scheme}://")?;
        if let Some((user, _)) = &self.credentials {
            write!(f, "{user}:***@")?;
        }
        f.write_str(&self.addr())
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({self})")
    }
}

/// The environment lookup, with the variables read through `get`.
pub(crate) fn from_env_with(
    tls: bool,
    host: &str,
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, Error> {
    let get = |name: &'static str| get(name).filter(|v| !v.is_empty()).map(|v| (name, v));
    if let Some((_, list)) = get("no_proxy").or_else(|| get("NO_PROXY")) {
        if no_proxy_matches(&list, host) {
            tracing::debug!(host, "no_proxy exempts the host: connecting directly");
            return Ok(None);
        }
    }
    let names: &[&'static str] = if tls {
        &["wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["ws_proxy", "WS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY"]
    };
    let Some((name, value)) = names.iter().find_map(|name| get(name)) else { return Ok(None) };
    let proxy = Proxy::parse(&value).map_err(|e| match e {
        Error::Url { url, reason } => Error::Url { url, reason: format!("{reason} (from ${name})").into() },
        other => other,
    })?;
    tracing::debug!(%proxy, variable = name, "proxy from the environment");
    Ok(Some(proxy))
}

/// Whether a `no_proxy` list exempts `host` (a name, or an IP address
/// without brackets).
pub(crate) fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip = host.parse::<IpAddr>().ok();
    list.split(|c: char| c == ',' || c.is_whitespace()).filter(|t| !t.is_empty()).any(|token| {
        if token == "*" {
            return true;
        }
        let token = token.trim_start_matches('[').trim_end_matches(']');
        if let Some(ip) = host_ip {
            return match token.split_once('/') {
                Some((net, bits)) => match (net.parse::<IpAddr>(), bits.parse::<u8>()) {
                    (Ok(net), Ok(bits)) => in_network(ip, net, bits),
                    _ => false,
                },
                None => token.parse::<IpAddr>().is_ok_and(|t| t == ip),
            };
        }
        let token = token.trim_start_matches('.').trim_end_matches('.').to_ascii_lowercase();
        !token.is_empty()
            && (host == token
                || (host.len() > token.len() && host.ends_with(&token) && {
                    let cut = host.len() - token.len() - 1;
                    host.as_bytes()[cut] == b'.'
                }))
    })
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn proxy_urls_parse_like_curl() {
        let p = Proxy::parse("proxy.example").unwrap();
        assert_eq!((p.kind(), p.host(), p.port(), p.username()), (ProxyKind::Http, "proxy.example", 1080, None));
        let p = Proxy::parse("HTTP://u%40x:p%3Aw@Proxy.Example:80/").unwrap();
        assert_eq!((p.kind(), p.host(), p.port()), (ProxyKind::Http, "proxy.example", 80));
        assert_eq!(p.credentials(), Some(("u@x", "p:w")));
        assert_eq!(p.to_string(), "http://u@x:***@proxy.example:80");
        assert!(!format!("{p:?}").contains("p:w"));
        let p = Proxy::parse("socks5://[::1]:9050").unwrap();
        assert_eq!((p.kind(), p.host(), p.port(), p.addr()), (ProxyKind::Socks5, "::1", 9050, "[::1]:9050".into()));
        assert_eq!(Proxy::parse("socks5h://127.0.0.1").unwrap().kind(), ProxyKind::Socks5h);
        for bad in ["https://p:443", "socks4://p", "http://", "http://p/path", "socks5://p:99999"] {
            assert!(matches!(Proxy::parse(bad), Err(Error::Url { .. })), "{bad}");
        }
        let long = format!("socks5://{}:x@p", "u".repeat(256));
        assert!(Proxy::parse(&long).is_err());
    }

    #[test]
    fn no_proxy_lists_match_like_curl() {
        assert!(no_proxy_matches("*", "anything"));
        assert!(no_proxy_matches("example.com", "example.com"));
        assert!(no_proxy_matches("example.com", "WS.Example.com."));
        assert!(no_proxy_matches(".example.com", "ws.example.com"));
        assert!(no_proxy_matches(".example.com", "example.com"));
        assert!(!no_proxy_matches("example.com", "badexample.com"));
        assert!(!no_proxy_matches("ws.example.com", "example.com"));
        assert!(no_proxy_matches("foo, localhost ,bar", "localhost"));
        assert!(no_proxy_matches("10.0.0.0/8", "10.1.2.3"));
        assert!(!no_proxy_matches("10.0.0.0/8", "11.1.2.3"));
        assert!(no_proxy_matches("127.0.0.1", "127.0.0.1"));
        assert!(!no_proxy_matches("127.0.0.1", "127.0.0.2"));
        assert!(no_proxy_matches("[::1]", "::1"));
        assert!(no_proxy_matches("fd00::/8", "fd12::1"));
        assert!(!no_proxy_matches("fd00::/8", "fe80::1"));
        assert!(!no_proxy_matches("localhost", "127.0.0.1"), "names are not resolved");
        assert!(!no_proxy_matches("", "localhost"));
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    fn pick(tls: bool, host: &str, vars: &[(&str, &str)]) -> Option<String> {
        from_env_with(tls, host, env(vars)).unwrap().map(|p| p.to_string())
    }

    #[test]
    fn environment_is_read_in_curls_order() {
        let all = [
            ("ws_proxy", "http://ws:1"),
            ("http_proxy", "http://h:1"),
            ("HTTP_PROXY", "http://hu:1"),
            ("wss_proxy", "http://wss:1"),
            ("https_proxy", "http://s:1"),
            ("HTTPS_PROXY", "http://su:1"),
            ("all_proxy", "socks5h://a:1"),
            ("ALL_PROXY", "socks5h://au:1"),
        ];
        assert_eq!(pick(false, "x", &all).as_deref(), Some("http://ws:1"));
        assert_eq!(pick(true, "x", &all).as_deref(), Some("http://wss:1"));
        assert_eq!(pick(false, "x", &all[1..]).as_deref(), Some("http://h:1"));
        assert_eq!(pick(true, "x", &all[4..]).as_deref(), Some("http://s:1"));
        assert_eq!(pick(true, "x", &all[5..]).as_deref(), Some("http://su:1"), "upper-case HTTPS_PROXY is read");
        // Upper-case HTTP_PROXY is never read (httpoxy): all_proxy comes next.
        assert_eq!(pick(false, "x", &all[2..3]), None);
        assert_eq!(pick(false, "x", &all[2..]).as_deref(), Some("socks5h://a:1"));
        assert_eq!(pick(false, "x", &all[7..]).as_deref(), Some("socks5h://au:1"));
        // Empty counts as unset; no_proxy wins over all of them.
        assert_eq!(pick(false, "x", &[("ws_proxy", ""), ("http_proxy", "h:2")]).as_deref(), Some("http://h:2"));
        assert_eq!(pick(false, "x.test", &[("http_proxy", "h:2"), ("NO_PROXY", "test")]), None);
        assert_eq!(
            pick(false, "x.test", &[("http_proxy", "h:2"), ("no_proxy", "other"), ("NO_PROXY", "test")]),
            Some("http://h:2".into())
        );
        assert_eq!(pick(false, "x", &[]), None);
        let err = from_env_with(true, "x", env(&[("HTTPS_PROXY", "ftp://p")])).unwrap_err();
        assert!(err.to_string().contains("$HTTPS_PROXY"), "{err}");
    }
}
