//! One chat session: the app state, its current connection, and the loop
//! that feeds it keys and connection events and redraws.

use std::io;
use std::time::Duration;

use crossterm::event::{Event, KeyEvent};
use futures_util::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::Terminal;
use tether::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::app::{Action, App, Status};
use super::link::{self, Events, Link, LinkEvent};
use super::view;

/// How long Esc waits for the server to answer our close before leaving anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// The chat: state, connection, and what ties them together.
pub struct Session {
    /// What the screen shows.
    pub app: App,
    config: tether::Config,
    link: Option<Link>,
    /// Counts connections; events of a replaced one are ignored.
    generation: u64,
    events_tx: Events,
    events: mpsc::UnboundedReceiver<(u64, LinkEvent)>,
    /// Set by Esc: leave once the close completes or this instant passes.
    leaving: Option<Instant>,
}

impl Session {
    /// Starts connecting to `url`.
    pub fn start(url: String, config: tether::Config) -> Session {
        let (events_tx, events) = mpsc::unbounded_channel();
        let mut session =
            Session { app: App::new(url), config, link: None, generation: 0, events_tx, events, leaving: None };
        session.connect();
        session
    }

    fn connect(&mut self) {
        self.generation += 1;
        self.link = Some(Link::open(self.app.url.clone(), self.config, self.generation, self.events_tx.clone()));
    }

    /// Whether the user asked to leave and the connection is done closing.
    pub fn finished(&self) -> bool {
        self.leaving.is_some_and(|deadline| self.app.status != Status::Closing || Instant::now() >= deadline)
    }

    /// Applies a key and does what it asks.
    pub async fn on_key(&mut self, key: KeyEvent) {
        match self.app.on_key(key) {
            Action::None => {}
            Action::Send(text) => self.send(Message::text(text)),
            Action::SendFile(path) => match link::read_file(&path).await {
                Ok(bytes) => {
                    self.app.sent_file(path, bytes.len());
                    self.send(Message::Binary(bytes));
                }
                Err(e) => self.app.error(e),
            },
            Action::RequestImage => {
                self.app.info(format!("asking {} for a picture", link::image_url(&self.app.url)));
                link::request_image(&self.app.url, self.config, self.generation, self.events_tx.clone());
            }
            Action::Reconnect => self.connect(),
            Action::Quit => self.leave(),
        }
    }

    fn send(&self, message: Message) {
        if let Some(link) = &self.link {
            link.send(message);
        }
    }

    /// Closes with 1000 if open; otherwise leaves at once.
    fn leave(&mut self) {
        if self.leaving.is_some() {
            return;
        }
        match (&self.link, self.app.is_open()) {
            (Some(link), true) => {
                link.close();
                self.app.closing();
            }
            _ => self.link = None, // stops a connect in progress
        }
        self.leaving = Some(Instant::now() + CLOSE_WAIT);
    }

    /// Applies a connection event, unless it comes from a replaced connection.
    pub fn on_link(&mut self, generation: u64, event: LinkEvent) {
        let is_image = matches!(event, LinkEvent::Image(_));
        if generation == self.generation || is_image {
            self.app.on_event(event);
        }
    }

    /// Waits for the next connection event and applies it.
    pub async fn next_link_event(&mut self) {
        // The session holds a sender, so the channel never ends.
        if let Some((generation, event)) = self.events.recv().await {
            self.on_link(generation, event);
        }
    }

    /// Draws, then waits for a key or a connection event, until the user
    /// leaves (Esc, Ctrl-C) or `input` ends (which leaves the same way).
    pub async fn run<B: Backend>(
        &mut self,
        terminal: &mut Terminal<B>,
        mut input: impl Stream<Item = io::Result<Event>> + Unpin,
    ) -> io::Result<()> {
        let mut input_open = true;
        loop {
            terminal.draw(|frame| view::render(frame, &self.app))?;
            if self.finished() {
                return Ok(());
            }
            let deadline = self.leaving.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                event = input.next(), if input_open => match event {
                    Some(Ok(Event::Key(key))) => self.on_key(key).await,
                    Some(Ok(Event::Paste(text))) => self.app.on_paste(&text),
                    Some(Ok(_)) => {} // resize and the like: redraw
                    Some(Err(e)) => return Err(e),
                    None => {
                        input_open = false;
                        self.leave();
                    }
                },
                () = self.next_link_event() => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}
