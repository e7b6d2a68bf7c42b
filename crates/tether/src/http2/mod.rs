//! WebSockets over HTTP/2 (RFC 8441): [`H2Stream`], one HTTP/2 stream as the
//! transport of a [`WebSocket`](crate::WebSocket).
//!
//! Over HTTP/2 a WebSocket is one stream of a connection, opened with an
//! extended CONNECT (`:method CONNECT`, `:protocol websocket`) and answered
//! with 200; its DATA frames carry the same WebSocket frames as TCP does
//! (masked from the client, as RFC 8441 keeps it), so the same engine runs
//! over an [`H2Stream`].
//!
//! # Flow control
//!
//! Each stream has its own window and all streams share the connection's.
//! An [`H2Stream`] gives window back only for what its WebSocket read, so a
//! WebSocket nobody reads holds at most one stream window of the
//! connection's: the connection window must be several stream windows
//! large, or one stalled WebSocket stalls the others (hyper's and h2's
//! defaults make both 64 KiB).

pub(crate) mod stream;
#[cfg(test)]
mod stream_tests;

pub use stream::H2Stream;
