//! Extension negotiation: parsing `Sec-WebSocket-Extensions` and agreeing
//! on permessage-deflate parameters in both roles (RFC 7692 section 7.1).

use std::fmt::Write as _;

use super::HandshakeError;
use crate::deflate::DeflateConfig;

/// The permessage-deflate extension's registered name.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// One element of a `Sec-WebSocket-Extensions` header: a name and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension's name, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order; quoted values are unquoted.
    pub params: Vec<(String, Option<String>)>,
}

/// Parses the comma-separated elements of every `Sec-WebSocket-Extensions`
/// line (RFC 6455 section 9.1 grammar, with quoted-string values).
pub fn parse_extensions<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Vec<ExtensionOffer>, String> {
    let mut out = Vec::new();
    for line in lines {
        for element in split_outside_quotes(line, ',') {
            let element = element.trim();
            if element.is_empty() {
                continue;
            }
            let mut parts = split_outside_quotes(element, ';').into_iter();
            let name = parts.next().unwrap_or_default().trim();
            if !is_token(name) {
                return Err(format!("bad extension name {name:?}"));
            }
            let mut params = Vec::new();
            for param in parts {
                let (key, value) = match param.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(unquote(v.trim())?)),
                    None => (param.trim(), None),
                };
                if !is_token(key) {
                    return Err(format!("bad parameter {key:?} of {name}"));
                }
                params.push((key.to_ascii_lowercase(), value));
            }
            out.push(ExtensionOffer { name: name.to_ascii_lowercase(), params });
        }
    }
    Ok(out)
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn unquote(v: &str) -> Result<String, String> {
    let inner = match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').ok_or_else(|| format!("unterminated quote in {v:?}"))?.replace('\\', ""),
        None => v.to_owned(),
    };
    // RFC 6455 9.1: a quoted value must still be a token once unquoted.
    if is_token(&inner) {
        Ok(inner)
    } else {
        Err(format!("bad parameter value {v:?}"))
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The permessage-deflate parameters both ends agreed on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most this window (8–15; `None`: 15).
    pub server_max_window_bits: Option<u8>,
    /// The client compresses with at most this window (8–15; `None`: 15).
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value that states these parameters.
    pub fn header_value(&self) -> String {
        element([
            ("server_no_context_takeover", self.server_no_context_takeover.then_some(None)),
            ("client_no_context_takeover", self.client_no_context_takeover.then_some(None)),
            ("server_max_window_bits", self.server_max_window_bits.map(Some)),
            ("client_max_window_bits", self.client_max_window_bits.map(Some)),
        ])
    }

    /// Server side: picks the first acceptable permessage-deflate offer.
    /// Offers with unknown, duplicate or invalid parameters are declined
    /// (RFC 7692 7.1), as is everything when `offers` is empty.
    pub fn accept(offers: &[ExtensionOffer], config: &DeflateConfig) -> Option<DeflateParams> {
        offers.iter().filter(|o| o.name == EXTENSION_NAME).find_map(|o| accept_offer(o, config).ok())
    }

    /// Client side: the offer to send.
    pub fn offer(config: &DeflateConfig) -> String {
        let bits = config.max_window_bits;
        element([
            ("client_no_context_takeover", config.no_context_takeover.then_some(None)),
            ("server_no_context_takeover", config.request_peer_no_context_takeover.then_some(None)),
            ("server_max_window_bits", config.request_peer_max_window_bits.map(Some)),
            // Without a value: the server may ask us for a smaller window.
            ("client_max_window_bits", Some((bits < 15).then_some(bits))),
        ])
    }

    /// Client side: checks the server's answer to our offer. `Ok(None)`: the
    /// server declined compression.
    pub fn check_response(
        answer: &[ExtensionOffer],
        config: &DeflateConfig,
    ) -> Result<Option<DeflateParams>, HandshakeError> {
        let bad = |why: String| HandshakeError::BadExtension(why);
        let mut agreed = None;
        for ext in answer {
            if ext.name != EXTENSION_NAME {
                return Err(HandshakeError::UnofferedExtension(ext.name.clone()));
            }
            if agreed.is_some() {
                return Err(bad("permessage-deflate answered twice".into()));
            }
            let p = parse_params(ext).map_err(bad)?;
            if let (Some(got), Some(asked)) = (p.server_max_window_bits, config.request_peer_max_window_bits) {
                if got > asked {
                    return Err(bad(format!("server_max_window_bits={got} exceeds the {asked} offered")));
                }
            }
            if matches!(p.client_max_window_bits_value, Some(None)) {
                return Err(bad("client_max_window_bits needs a value in a response".into()));
            }
            let client_bits = p.client_max_window_bits_value.flatten();
            if let Some(bits) = client_bits {
                if config.max_window_bits < 15 && bits > config.max_window_bits {
                    return Err(bad(format!(
                        "client_max_window_bits={bits} exceeds the {} offered",
                        config.max_window_bits
                    )));
                }
            }
            agreed = Some(DeflateParams {
                server_no_context_takeover: p.server_no_context_takeover,
                client_no_context_takeover: p.client_no_context_takeover,
                server_max_window_bits: p.server_max_window_bits,
                client_max_window_bits: client_bits,
            });
        }
        Ok(agreed)
    }
}

/// `permessage-deflate` followed by the parameters that are present, in
/// order: `Some(None)` is a parameter without a value.
fn element(params: [(&str, Option<Option<u8>>); 4]) -> String {
    let mut out = EXTENSION_NAME.to_owned();
    for (name, value) in params {
        let _ = match value {
            None => Ok(()),
            Some(None) => write!(out, "; {name}"),
            Some(Some(bits)) => write!(out, "; {name}={bits}"),
        };
    }
    out
}

/// Parameters as they appear in one offer or answer.
#[derive(Default)]
struct RawParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value.
    client_max_window_bits_value: Option<Option<u8>>,
}

fn parse_params(ext: &ExtensionOffer) -> Result<RawParams, String> {
    let mut p = RawParams::default();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &ext.params {
        if seen.contains(&name.as_str()) {
            return Err(format!("duplicate parameter {name}"));
        }
        seen.push(name);
        let bits = |v: &Option<String>| -> Result<Option<u8>, String> {
            match v {
                None => Ok(None),
                Some(v) => match v.parse::<u8>() {
                    Ok(b @ 8..=15) if !v.starts_with('0') => Ok(Some(b)),
                    _ => Err(format!("{name}={v} is not a window size from 8 to 15")),
                },
            }
        };
        match name.as_str() {
            "server_no_context_takeover" | "client_no_context_takeover" if value.is_some() => {
                return Err(format!("{name} takes no value"));
            }
            "server_no_context_takeover" => p.server_no_context_takeover = true,
            "client_no_context_takeover" => p.client_no_context_takeover = true,
            "server_max_window_bits" => {
                p.server_max_window_bits = Some(bits(value)?.ok_or("server_max_window_bits needs a value")?);
            }
            "client_max_window_bits" => p.client_max_window_bits_value = Some(bits(value)?),
            other => return Err(format!("unknown parameter {other}")),
        }
    }
    Ok(p)
}

fn accept_offer(offer: &ExtensionOffer, config: &DeflateConfig) -> Result<DeflateParams, String> {
    let p = parse_params(offer)?;
    // Our window: the client's cap if it set one, and never above our own setting.
    let ours = p.server_max_window_bits.unwrap_or(15).min(config.max_window_bits);
    let server_max_window_bits = (p.server_max_window_bits.is_some() || ours < 15).then_some(ours);
    // The client's window: we may only constrain it if it said it can be constrained.
    let client_max_window_bits = match (p.client_max_window_bits_value, config.request_peer_max_window_bits) {
        (None, _) => None,
        (Some(offered), Some(want)) => Some(offered.map_or(want, |o| o.min(want))),
        (Some(offered), None) => offered,
    };
    Ok(DeflateParams {
        server_no_context_takeover: p.server_no_context_takeover || config.no_context_takeover,
        client_no_context_takeover: p.client_no_context_takeover || config.request_peer_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<ExtensionOffer> {
        parse_extensions([s]).unwrap()
    }

    #[test]
    fn parses_several_offers_and_quoted_values() {
        let offers = parse(
            "permessage-deflate; client_max_window_bits; server_max_window_bits=\"10\", \
             permessage-deflate;client_no_context_takeover, x-other",
        );
        assert_eq!(offers.len(), 3);
        assert_eq!(offers[0].params[1], ("server_max_window_bits".into(), Some("10".into())));
        assert_eq!(offers[1].params, vec![("client_no_context_takeover".into(), None)]);
        assert_eq!(offers[2].name, "x-other");
        assert!(parse_extensions(["permessage-deflate; a=\"b c\""]).is_err());
        assert!(parse_extensions(["bad name"]).is_err());
    }

    #[test]
    fn server_takes_the_first_acceptable_offer() {
        let config = DeflateConfig::default();
        let offers = parse(
            "permessage-deflate; server_max_window_bits=7, permessage-deflate; foo, \
             permessage-deflate; client_no_context_takeover; server_max_window_bits=10, permessage-deflate",
        );
        let p = DeflateParams::accept(&offers, &config).unwrap();
        assert_eq!(p.server_max_window_bits, Some(10));
        assert!(p.client_no_context_takeover);
        assert_eq!(p.header_value(), "permessage-deflate; client_no_context_takeover; server_max_window_bits=10");
    }

    #[test]
    fn server_declines_malformed_and_duplicate_offers() {
        let config = DeflateConfig::default();
        for offer in [
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=08",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; unknown",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(DeflateParams::accept(&parse(offer), &config), None, "{offer}");
        }
    }

    #[test]
    fn server_honours_each_parameter() {
        let config = DeflateConfig::default();
        let p = DeflateParams::accept(&parse("permessage-deflate; server_no_context_takeover"), &config).unwrap();
        assert!(p.server_no_context_takeover);
        let p = DeflateParams::accept(&parse("permessage-deflate; client_max_window_bits=9"), &config).unwrap();
        assert_eq!(p.client_max_window_bits, Some(9));
        let want = config.request_peer_max_window_bits(10).max_window_bits(12).no_context_takeover(true);
        let p = DeflateParams::accept(&parse("permessage-deflate; client_max_window_bits"), &want).unwrap();
        assert_eq!(p.client_max_window_bits, Some(10));
        assert_eq!(p.server_max_window_bits, Some(12));
        assert!(p.server_no_context_takeover);
        // The client did not say it accepts a window limit: we may not impose one.
        let p = DeflateParams::accept(&parse("permessage-deflate"), &want).unwrap();
        assert_eq!(p.client_max_window_bits, None);
    }

    #[test]
    fn client_offer_and_checks() {
        let config = DeflateConfig::default();
        assert_eq!(DeflateParams::offer(&config), "permessage-deflate; client_max_window_bits");
        let strict = config.request_peer_max_window_bits(10).request_peer_no_context_takeover(true).max_window_bits(12);
        assert_eq!(
            DeflateParams::offer(&strict),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"
        );
        let ok = DeflateParams::check_response(
            &parse("permessage-deflate; server_no_context_takeover; client_max_window_bits=9"),
            &config,
        )
        .unwrap()
        .unwrap();
        assert!(ok.server_no_context_takeover);
        assert_eq!(ok.client_max_window_bits, Some(9));
        assert_eq!(DeflateParams::check_response(&[], &config).unwrap(), None);
        for bad in [
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=5",
            "permessage-deflate; mystery",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        ] {
            assert!(
                matches!(DeflateParams::check_response(&parse(bad), &config), Err(HandshakeError::BadExtension(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            DeflateParams::check_response(&parse("permessage-deflate; server_max_window_bits=11"), &strict),
            Err(HandshakeError::BadExtension(_))
        ));
        assert!(matches!(
            DeflateParams::check_response(&parse("x-other"), &config),
            Err(HandshakeError::UnofferedExtension(_))
        ));
    }
}
