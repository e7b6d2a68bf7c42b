//! The echo server every command shares: the connection handler of
//! `tether echo`, the server embedded by `tether chat` and `tether demo`
//! (with the chat page of [`crate::pages`]) and the picture on `/image`.

pub mod demo_image;

use std::future::poll_fn;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;

/// An echo server for `tether demo` and `tether chat` without a URL: the
/// page, `/image` and the echo, without logging.
pub async fn embedded(listener: TcpListener, config: tether::Config) {
    let server = tether::Server::from_listener(listener, config).respond_http(crate::pages::respond_echo);
    let _ = server
        .serve(|ws, _| async move {
            let _ = serve(ws, false).await;
        })
        .await;
}

/// The demo endpoint: a client of `/image` first gets a PNG, then the echo.
pub const IMAGE_PATH: &str = "/image";

/// What one connection did, printed as a one-line summary; made into text
/// only when it is logged (a quiet server would format it for nothing).
#[derive(Debug)]
pub struct Summary {
    /// Messages echoed.
    pub count: u64,
    /// The client's close frame, if it sent one.
    pub close: Option<tether::CloseFrame>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.close {
            Some(close) => write!(f, "{} messages echoed, closed ({close})", self.count),
            None => write!(f, "{} messages echoed, closed (no code)", self.count),
        }
    }
}

/// Serves one upgraded connection: a client of [`IMAGE_PATH`] first gets
/// the demo picture, then everyone gets the echo; returns what it did.
/// `flush_each` writes every echo on its own instead of a burst at once.
pub async fn serve<S>(mut ws: tether::WebSocket<S>, flush_each: bool) -> Result<Summary, tether::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if ws.request_path() == Some(IMAGE_PATH) {
        // Already compressed: deflating it again would only cost time.
        // Boxed: this future lives only while the picture goes out, and
        // held inline it would enlarge every connection's task for good.
        Box::pin(ws.send_uncompressed(tether::Message::binary(demo_image::png()))).await?;
    }
    echo_messages(&mut ws, flush_each).await
}

/// Echoes one upgraded connection until it closes; returns what it did.
/// Takes the connection by reference: the caller's future already holds
/// it, and a second copy would double every idle connection's task.
async fn echo_messages<S>(ws: &mut tether::WebSocket<S>, flush_each: bool) -> Result<Summary, tether::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut count = 0u64;
    // Room in the send queue is awaited before the next message is read, so
    // no message is held across an await: the future stays small, and it is
    // what every idle connection's task holds. `start_send` only queues: the
    // stream writes the queue out once it has decoded everything already
    // received, so a burst of messages is echoed with one write.
    loop {
        poll_fn(|cx| ws.poll_ready_unpin(cx)).await?;
        let Some(message) = ws.next().await else { break };
        ws.start_send_unpin(message?)?;
        if flush_each {
            ws.flush().await?;
        }
        count += 1;
    }
    Ok(Summary { count, close: ws.close_frame().cloned() })
}
