//! A client that reconnects by itself: exponential backoff with jitter,
//! limits, a hook that runs on every (re)connect, an optional outbox for
//! messages sent while disconnected, and a stream of state changes.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_util::SinkExt;
use tether_proto::{CloseCode, Message};
use tokio::sync::mpsc;

use crate::runtime::{self, Instant};

use crate::{ClientBuilder, Error, WebSocket};

/// When and how often to reconnect.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// The delay before the first retry (default 100 ms).
    pub initial_delay: Duration,
    /// The longest delay between attempts (default 30 s).
    pub max_delay: Duration,
    /// How much the delay grows per failed attempt (default 2).
    pub multiplier: f64,
    /// Each delay is shortened by a random fraction up to this (default
    /// 0.3), so that clients cut off together do not return together.
    pub jitter: f64,
    /// Give up after this many consecutive failed attempts (default: never).
    pub max_attempts: Option<u32>,
    /// Give up once reconnecting has taken this long (default: never).
    pub max_elapsed: Option<Duration>,
    /// Hold up to this many messages sent while disconnected and deliver
    /// them, in order, after reconnecting (default 0: sending while
    /// disconnected fails with [`Error::Disconnected`]). When the outbox is
    /// full, `send` waits.
    pub outbox: usize,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.3,
            max_attempts: None,
            max_elapsed: None,
            outbox: 0,
        }
    }
}

impl ReconnectPolicy {
    /// Sets the first and the longest delay.
    pub fn delays(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_delay = initial;
        self.max_delay = max;
        self
    }

    /// Gives up after `attempts` consecutive failures.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Gives up after reconnecting for `elapsed`.
    pub fn max_elapsed(mut self, elapsed: Duration) -> Self {
        self.max_elapsed = Some(elapsed);
        self
    }

    /// Keeps up to `messages` messages sent while disconnected.
    pub fn outbox(mut self, messages: usize) -> Self {
        self.outbox = messages;
        self
    }

    /// The delay before retry number `attempt` (1-based), jittered by `random` in [0, 1).
    fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exp = self.multiplier.max(1.0).powi(attempt.saturating_sub(1).min(64) as i32);
        let base = self.initial_delay.as_secs_f64() * exp;
        let capped = base.min(self.max_delay.as_secs_f64());
        Duration::from_secs_f64(capped * (1.0 - self.jitter.clamp(0.0, 1.0) * random))
    }
}

/// A change in a [`ReconnectingClient`]'s connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// Connecting (attempt 0 is the first connection).
    Connecting {
        /// Consecutive failures so far.
        attempt: u32,
    },
    /// Connected and upgraded; the hook and the outbox have been sent.
    Open,
    /// The connection failed or was lost; retrying after `delay`.
    Reconnecting {
        /// The number of the coming retry.
        attempt: u32,
        /// How long until it starts.
        delay: Duration,
        /// What went wrong.
        reason: String,
    },
    /// Closed for good: `reason` is `None` after a deliberate close, or says
    /// why retrying stopped (limits reached, or a failure retrying cannot
    /// fix, such as a 4xx handshake answer).
    Closed {
        /// Why, if not deliberate.
        reason: Option<String>,
    },
}

/// Wraps a [`ClientBuilder`] with a policy; [`start`](Self::start) it.
#[must_use = "call .start() to connect"]
pub struct ReconnectBuilder {
    builder: ClientBuilder,
    policy: ReconnectPolicy,
    hook: Option<Hook>,
    urls: Vec<String>,
    rewrite: Option<Rewrite>,
}

type Hook = Box<dyn FnMut() -> Vec<Message> + Send>;
type Rewrite = Box<dyn FnMut(&str) -> String + Send>;

impl std::fmt::Debug for ReconnectBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectBuilder").field("builder", &self.builder).field("policy", &self.policy).finish()
    }
}

impl ClientBuilder {
    /// Turns this builder into a client that reconnects under `policy`.
    pub fn reconnect(self, policy: ReconnectPolicy) -> ReconnectBuilder {
        let urls = vec![self.target_url().to_owned()];
        ReconnectBuilder { builder: self, policy, hook: None, urls, rewrite: None }
    }
}

impl ReconnectBuilder {
    /// Messages to send first on every (re)connect, before the outbox: to
    /// authenticate or resubscribe. Headers set on the builder (tokens,
    /// cookies) are sent with every handshake anyway.
    pub fn on_connect(mut self, hook: impl FnMut() -> Vec<Message> + Send + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// More URLs to connect to, in turn after the first, when a connection
    /// fails or is lost (other servers of the same service: after one dies,
    /// the next attempt goes to the next one).
    pub fn urls<I, S>(mut self, more: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.urls.extend(more.into_iter().map(Into::into));
        self
    }

    /// Rewrites the URL before each connect, from the one its turn gives:
    /// to carry where the application left off (a resume position in the
    /// query, as `tether.hub.v1` takes it), so a reconnect resumes.
    pub fn rewrite_url(mut self, rewrite: impl FnMut(&str) -> String + Send + 'static) -> Self {
        self.rewrite = Some(Box::new(rewrite));
        self
    }

    /// Starts connecting on a background task: a tokio task (needs a tokio
    /// runtime), or in the browser one of the page's (`spawn_local`).
    pub fn start(self) -> ReconnectingClient {
        let (commands_tx, commands) = mpsc::channel(self.policy.outbox.max(1));
        let (messages_tx, messages) = mpsc::channel(64);
        let (events_tx, events) = mpsc::unbounded_channel();
        let connected = Arc::new(AtomicBool::new(false));
        let driver = Driver {
            builder: self.builder,
            policy: self.policy,
            hook: self.hook,
            urls: self.urls,
            rewrite: self.rewrite,
            commands,
            messages: messages_tx,
            events: events_tx,
            connected: connected.clone(),
            outbox: VecDeque::new(),
        };
        runtime::spawn(driver.run());
        ReconnectingClient {
            sender: ReconnectSender { commands: commands_tx, connected, outbox: self.policy.outbox > 0 },
            messages,
            events: Some(events),
        }
    }
}

/// A client that survives disconnections. It is a [`Stream`] of received
/// messages, which ends once the client is closed for good; sending goes
/// through [`sender`](Self::sender).
#[derive(Debug)]
pub struct ReconnectingClient {
    sender: ReconnectSender,
    messages: mpsc::Receiver<Message>,
    events: Option<mpsc::UnboundedReceiver<ConnectionEvent>>,
}

impl ReconnectingClient {
    /// A cloneable handle to send through whatever connection is current.
    pub fn sender(&self) -> ReconnectSender {
        self.sender.clone()
    }

    /// The stream of connection state changes (can be taken once).
    pub fn events(&mut self) -> Option<Events> {
        self.events.take().map(|rx| Events { rx })
    }

    /// Closes for good with `code` and `reason`; no reconnect follows.
    pub async fn close(&self, code: CloseCode, reason: &str) {
        let _ = self.sender.commands.send(Command::Close(code, reason.to_owned())).await;
    }
}

impl Stream for ReconnectingClient {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.messages.poll_recv(cx)
    }
}

/// The [`ConnectionEvent`]s of a [`ReconnectingClient`].
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<ConnectionEvent>,
}

impl Stream for Events {
    type Item = ConnectionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConnectionEvent>> {
        self.rx.poll_recv(cx)
    }
}

/// Sends through a [`ReconnectingClient`]'s current connection.
#[derive(Clone, Debug)]
pub struct ReconnectSender {
    commands: mpsc::Sender<Command>,
    connected: Arc<AtomicBool>,
    outbox: bool,
}

impl ReconnectSender {
    /// Sends a message: now if connected, else after reconnecting if the
    /// outbox is on ([`Error::Disconnected`] if it is off). Waits while the
    /// outbox is full.
    pub async fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        if !self.outbox && !self.connected.load(Ordering::Acquire) {
            return Err(Error::Disconnected);
        }
        self.commands.send(Command::Send(message.into())).await.map_err(|_| Error::Closed)
    }
}

#[derive(Debug)]
enum Command {
    Send(Message),
    Close(CloseCode, String),
}

/// How one connection ended.
enum SessionEnd {
    /// Closed on purpose (by the application, or all handles dropped).
    Deliberate,
    /// Lost; reconnect.
    Lost(String),
}

struct Driver {
    builder: ClientBuilder,
    policy: ReconnectPolicy,
    hook: Option<Hook>,
    urls: Vec<String>,
    rewrite: Option<Rewrite>,
    commands: mpsc::Receiver<Command>,
    messages: mpsc::Sender<Message>,
    events: mpsc::UnboundedSender<ConnectionEvent>,
    connected: Arc<AtomicBool>,
    outbox: VecDeque<Message>,
}

impl Driver {
    async fn run(mut self) {
        let mut attempt = 0u32;
        let mut since = Instant::now();
        let closed = |reason| ConnectionEvent::Closed { reason };
        // Every connect after the first goes to the next URL in turn.
        let mut turn = 0usize;
        loop {
            let _ = self.events.send(ConnectionEvent::Connecting { attempt });
            let url = &self.urls[turn % self.urls.len()];
            turn += 1;
            let url = match self.rewrite.as_mut() {
                Some(rewrite) => rewrite(url),
                None => url.clone(),
            };
            let reason = match self.builder.clone().with_url(url).connect().await {
                Ok(ws) => {
                    attempt = 0;
                    self.connected.store(true, Ordering::Release);
                    let _ = self.events.send(ConnectionEvent::Open);
                    let end = self.session(ws).await;
                    self.connected.store(false, Ordering::Release);
                    match end {
                        SessionEnd::Deliberate => {
                            let _ = self.events.send(closed(None));
                            return;
                        }
                        SessionEnd::Lost(reason) => {
                            since = Instant::now();
                            reason
                        }
                    }
                }
                Err(e) if !retryable(&e) => {
                    let _ = self.events.send(closed(Some(e.to_string())));
                    return;
                }
                Err(e) => e.to_string(),
            };
            attempt += 1;
            let out_of_attempts = self.policy.max_attempts.is_some_and(|max| attempt > max);
            let out_of_time = self.policy.max_elapsed.is_some_and(|max| since.elapsed() >= max);
            if out_of_attempts || out_of_time {
                let why = format!("gave up after {} attempts: {reason}", attempt - 1);
                let _ = self.events.send(closed(Some(why)));
                return;
            }
            let delay = self.policy.delay(attempt, runtime::random());
            let _ = self.events.send(ConnectionEvent::Reconnecting { attempt, delay, reason });
            if !self.wait(delay).await {
                let _ = self.events.send(closed(None));
                return;
            }
        }
    }

    /// Sleeps out a backoff delay while taking messages into the outbox.
    /// False when the application closed meanwhile. Without an outbox it
    /// still listens, so that a close while away ends the client now.
    async fn wait(&mut self, delay: Duration) -> bool {
        let sleep = runtime::sleep(delay);
        tokio::pin!(sleep);
        let no_outbox = self.policy.outbox == 0;
        loop {
            let room = no_outbox || self.outbox.len() < self.policy.outbox;
            tokio::select! {
                _ = &mut sleep => return true,
                command = self.commands.recv(), if room => match command {
                    // Without an outbox, a message sent as the connection
                    // went is lost with it, as one in flight would be.
                    Some(Command::Send(_)) if no_outbox => {}
                    Some(Command::Send(m)) => self.outbox.push_back(m),
                    Some(Command::Close(..)) | None => return false,
                },
            }
        }
    }

    async fn session(&mut self, mut ws: WebSocket) -> SessionEnd {
        // The hook's messages first, then what waited in the outbox, in order.
        let greeting = self.hook.as_mut().map(|hook| hook()).unwrap_or_default();
        for message in greeting {
            if let Err(e) = ws.feed(message).await {
                return SessionEnd::Lost(e.to_string());
            }
        }
        while let Some(message) = self.outbox.pop_front() {
            if let Err(e) = ws.feed(message.clone()).await {
                self.outbox.push_front(message);
                return SessionEnd::Lost(e.to_string());
            }
        }
        if let Err(e) = ws.flush().await {
            return SessionEnd::Lost(e.to_string());
        }
        loop {
            tokio::select! {
                incoming = ws.next_message() => match incoming {
                    Some(Ok(message)) => {
                        if self.messages.send(message).await.is_err() {
                            // Nobody listens any more.
                            let _ = ws.close(CloseCode::NORMAL, "").await;
                            return SessionEnd::Deliberate;
                        }
                    }
                    Some(Err(e)) => return SessionEnd::Lost(e.to_string()),
                    None => {
                        let code = ws.close_frame().map_or_else(|| "no code".to_owned(), ToString::to_string);
                        return SessionEnd::Lost(format!("server closed the connection ({code})"));
                    }
                },
                command = self.commands.recv() => match command {
                    Some(Command::Send(message)) => {
                        if let Err(e) = ws.send(message.clone()).await {
                            if self.policy.outbox > 0 {
                                self.outbox.push_back(message);
                            }
                            return SessionEnd::Lost(e.to_string());
                        }
                    }
                    Some(Command::Close(code, reason)) => {
                        // Deliver what the server sent before its answer.
                        if ws.begin_close(code, &reason).await.is_ok() {
                            while let Some(Ok(message)) = ws.next_message().await {
                                if self.messages.send(message).await.is_err() {
                                    break;
                                }
                            }
                        }
                        return SessionEnd::Deliberate;
                    }
                    None => {
                        let _ = ws.close(CloseCode::NORMAL, "").await;
                        return SessionEnd::Deliberate;
                    }
                },
            }
        }
    }
}

/// Retrying cannot fix a bad URL, a refusal the server means (4xx), or misuse.
fn retryable(e: &Error) -> bool {
    match e {
        Error::Url { .. } | Error::Send(_) => false,
        _ if e.http_status().is_some_and(|s| s.is_client_error()) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let p = ReconnectPolicy::default().delays(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(100));
        assert_eq!(p.delay(2, 0.0), Duration::from_millis(200));
        assert_eq!(p.delay(4, 0.0), Duration::from_millis(800));
        assert_eq!(p.delay(5, 0.0), Duration::from_secs(1));
        assert_eq!(p.delay(50, 0.0), Duration::from_secs(1));
        let jittered = p.delay(2, 0.99);
        assert!(jittered < Duration::from_millis(200) && jittered >= Duration::from_millis(140));
    }

    #[test]
    fn only_fixable_failures_are_retried() {
        // What the client reports when the server answers with a status.
        let rejected = |code: u16| Error::HttpStatus {
            status: http::StatusCode::from_u16(code).unwrap(),
            headers: Box::default(),
            body: Box::default(),
        };
        assert!(!retryable(&rejected(403)));
        assert!(retryable(&rejected(503)));
        assert!(retryable(&Error::Io(std::io::ErrorKind::ConnectionReset.into())));
        assert!(!retryable(&Error::Url { url: "".into(), reason: "".into() }));
    }
}
