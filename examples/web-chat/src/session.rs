//! The chat's conversations with the server, written once against tether's
//! public API: the page runs them on the browser backend, the tests on the
//! tokio one. They are the seed's five steps; only what is shown differs.

use std::fmt;

use futures_util::StreamExt;
use tether::{CloseCode, CloseFrame, Message};

/// How a chat session failed.
#[derive(Debug)]
pub enum Failure {
    /// The connection was never made (refused, no such host, not a
    /// WebSocket server: a browser cannot tell these apart).
    Connect(tether::Error),
    /// The connection dropped without a closing handshake, or broke the protocol.
    Lost(tether::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "cannot connect ({e})"),
            Self::Lost(e) => write!(f, "connection lost ({e})"),
        }
    }
}

impl std::error::Error for Failure {}

/// One chat session: connects to `url`, hands the sending half to
/// `on_open` (the page keeps it and sends what is typed; it may also
/// close), and passes every message received to `on_message` until the
/// connection ends. Returns the close frame of a clean close.
pub async fn chat(
    url: &str,
    on_open: impl FnOnce(tether::Sender),
    mut on_message: impl FnMut(Message),
) -> Result<Option<CloseFrame>, Failure> {
    // 1. connect
    let ws = tether::connect(url).await.map_err(Failure::Connect)?;
    let (sender, mut receiver) = ws.split();
    // 3. send (and 4. close): the owner of the sending half does it
    on_open(sender);
    // 2. listen: text stays text, binary stays binary
    while let Some(message) = receiver.next().await {
        // 5. failures are typed errors
        on_message(message.map_err(Failure::Lost)?);
    }
    Ok(receiver.close_frame())
}

/// Asks a server's picture endpoint for its first message (the echo
/// server's `/image` sends a PNG as a binary message), then closes with
/// 1000. `None` when the server closed without sending anything.
pub async fn first_message(url: &str) -> Result<Option<Message>, tether::Error> {
    // 1. connect
    let mut ws = tether::connect(url).await?;
    // 2. listen, 5. failures
    let message = ws.next().await.transpose()?;
    // 4. close: the server's answer to the close is awaited
    ws.close(CloseCode::NORMAL, "").await?;
    Ok(message)
}

/// The PNG signature: a binary message that starts with it is shown as a picture.
pub const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The WebSocket base URL of a page at `protocol` (`http:` or `https:`)
/// and `host` (with the port): the page talks to the server that served it.
pub fn socket_base(protocol: &str, host: &str) -> String {
    let scheme = if protocol == "https:" { "wss://" } else { "ws://" };
    [scheme, host].concat()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_socket_follows_the_page() {
        assert_eq!(super::socket_base("http:", "127.0.0.1:8080"), "ws://127.0.0.1:8080");
        assert_eq!(super::socket_base("https:", "chat.example:443"), "wss://chat.example:443");
    }
}
