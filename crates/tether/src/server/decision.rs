//! The application's answer to an upgrade request: [`Accept`] (with a
//! subprotocol and extra headers) or [`Reject`] (a status, headers, a body).

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The application's yes to an upgrade request.
#[derive(Clone, Debug, Default)]
pub struct Accept {
    pub(super) protocol: Option<String>,
    pub(super) headers: HeaderMap,
}

impl Accept {
    /// Accept with no subprotocol and no extra headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses a subprotocol; it must be one the client offered.
    pub fn protocol(mut self, protocol: Option<String>) -> Self {
        self.protocol = protocol;
        self
    }

    /// Adds a response header (ignored if the name or value is not valid HTTP).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.append(n, v);
        }
        self
    }
}

/// The application's no: an HTTP status, headers and a plain-text body.
#[derive(Clone, Debug)]
pub struct Reject(pub(super) Box<Rejection>);

#[derive(Clone, Debug)]
pub(super) struct Rejection {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

impl Reject {
    /// A rejection with `status` and a body that says why.
    pub fn new(status: StatusCode, body: impl Into<String>) -> Self {
        Reject(Box::new(Rejection { status, headers: HeaderMap::new(), body: body.into() }))
    }

    /// Adds a response header (ignored if the name or value is not valid HTTP).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.0.headers.append(n, v);
        }
        self
    }
}
