//! The chat's connections, each on its own task, talking to the UI through
//! channels: commands in, events out.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tether::{CloseCode, CloseFrame, Message};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long the image request may take, connect to first message.
const IMAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection reports to the UI.
#[derive(Debug)]
pub enum LinkEvent {
    /// The handshake completed; `compressed` when permessage-deflate was agreed.
    Open {
        /// Whether permessage-deflate is in use.
        compressed: bool,
    },
    /// A message arrived.
    Received(Message),
    /// The closing handshake completed, with the peer's close frame.
    Closed(Option<CloseFrame>),
    /// Connecting failed or the connection broke; the cause, for people.
    Failed(String),
    /// The answer of the image endpoint (see [`request_image`]).
    Image(Result<Message, String>),
}

/// Events tagged with the generation of the connection that sent them, so
/// the UI can ignore a replaced connection's last words.
pub type Events = mpsc::UnboundedSender<(u64, LinkEvent)>;

enum Command {
    Send(Message),
    Close,
}

/// The UI's handle on one connection; dropping it ends the connection's task.
pub struct Link {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl Link {
    /// Starts connecting to `url`; everything that happens arrives on `events`.
    pub fn open(url: String, config: tether::Config, generation: u64, events: Events) -> Link {
        let (commands, inbox) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(url, config, inbox, move |event| {
            let _ = events.send((generation, event));
        }));
        Link { commands, task }
    }

    /// Queues a message to send.
    pub fn send(&self, message: Message) {
        let _ = self.commands.send(Command::Send(message));
    }

    /// Starts the closing handshake with 1000; `Closed` follows.
    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    url: String,
    config: tether::Config,
    mut commands: mpsc::UnboundedReceiver<Command>,
    report: impl Fn(LinkEvent),
) {
    let ws = match tether::connect_with(&url).config(config).connect().await {
        Ok(ws) => ws,
        Err(e) => return report(LinkEvent::Failed(e.to_string())),
    };
    report(LinkEvent::Open { compressed: ws.compression().is_some() });
    let (sender, mut receiver) = ws.split();
    let mut closing = false;
    loop {
        tokio::select! {
            command = commands.recv(), if !closing => {
                let sent = match command {
                    Some(Command::Send(message)) => sender.send(message).await,
                    // The UI is gone or asked to close: close, then read until the peer answers.
                    Some(Command::Close) | None => {
                        closing = true;
                        sender.close(CloseCode::NORMAL, "").await
                    }
                };
                // A failed send means the connection broke: the receiver says how.
                if sent.is_err() {
                    closing = true;
                }
            }
            received = receiver.next() => match received {
                Some(Ok(message)) => report(LinkEvent::Received(message)),
                Some(Err(e)) => return report(LinkEvent::Failed(e.to_string())),
                None => return report(LinkEvent::Closed(receiver.close_frame())),
            },
        }
    }
}

/// Asks the echo server's image endpoint (the same host, path `/image`) for
/// its picture on a connection of its own, which is closed with 1000 once
/// the first message is in.
pub fn request_image(url: &str, config: tether::Config, generation: u64, events: Events) {
    let image_url = image_url(url);
    tokio::spawn(async move {
        let answer = tokio::time::timeout(IMAGE_TIMEOUT, first_message(&image_url, config))
            .await
            .unwrap_or_else(|_| Err(format!("no answer from {image_url} in {IMAGE_TIMEOUT:?}")));
        let _ = events.send((generation, LinkEvent::Image(answer)));
    });
}

/// `url` with its path replaced by the image endpoint's.
pub fn image_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => parsed.join(crate::echo_server::IMAGE_PATH).map_or_else(|_| url.to_owned(), String::from),
        Err(_) => url.to_owned(),
    }
}

async fn first_message(url: &str, config: tether::Config) -> Result<Message, String> {
    let mut ws = tether::connect_with(url).config(config).connect().await.map_err(|e| e.to_string())?;
    let first = match ws.next().await {
        Some(Ok(message)) => Ok(message),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(format!("{url} closed without sending anything")),
    };
    let _ = ws.close(CloseCode::NORMAL, "").await;
    first
}

/// Reads a file to send as one binary message.
pub async fn read_file(path: &str) -> Result<Bytes, String> {
    tokio::fs::read(path).await.map(Bytes::from).map_err(|e| format!("cannot read {path}: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_url_keeps_the_authority() {
        assert_eq!(super::image_url("ws://127.0.0.1:9001/"), "ws://127.0.0.1:9001/image");
        assert_eq!(super::image_url("ws://127.0.0.1:9001/chat?room=1"), "ws://127.0.0.1:9001/image");
        assert_eq!(super::image_url("ws://localhost"), "ws://localhost/image");
    }
}
