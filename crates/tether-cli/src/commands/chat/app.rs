//! The chat's state: connection status, the log, the input line, and what
//! keys and connection events do to them. No IO here.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tether::{CloseFrame, Message};

use super::link::LinkEvent;
use super::picture::Picture;

/// Where the connection stands, as the title bar shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// The TCP connection or the handshake is under way.
    Connecting,
    /// Open; `compressed` when permessage-deflate was agreed.
    Open {
        /// Whether permessage-deflate is in use.
        compressed: bool,
    },
    /// We sent close 1000 and wait for the peer's answer.
    Closing,
    /// The closing handshake completed, with the peer's close frame.
    Closed(Option<CloseFrame>),
    /// Connecting failed or the connection broke, with the cause.
    Failed(String),
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Text we sent.
    Sent(String),
    /// A file we sent as a binary message.
    SentFile {
        /// The path as typed.
        path: String,
        /// Its size.
        len: usize,
    },
    /// Text that came in (`from` names where: [`App::peer`]).
    Text {
        /// `"echo"` or `"room"`.
        from: &'static str,
        /// The message.
        text: String,
    },
    /// A binary message that came in (`from` names where), with its picture
    /// if it is a PNG.
    Binary {
        /// `"echo"`, `"room"` or `"image"`.
        from: &'static str,
        /// The message's size.
        len: usize,
        /// The decoded picture.
        picture: Option<Picture>,
    },
    /// Something that happened (connected, closed...).
    Info(String),
    /// Something that went wrong.
    Error(String),
}

/// What the caller must do after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond redrawing.
    None,
    /// Send this text message.
    Send(String),
    /// Read this file and send it as a binary message.
    SendFile(String),
    /// Ask the server's image endpoint for its picture.
    RequestImage,
    /// Open a new connection.
    Reconnect,
    /// Close with 1000 (if open) and exit.
    Quit,
}

/// The whole state the screen is drawn from.
#[derive(Debug)]
pub struct App {
    /// The server's URL.
    pub url: String,
    /// What the server is: `"echo"`, or `"room"` for a room of `tether
    /// hub` (`/rooms/NAME`), where every member's messages come in.
    pub peer: &'static str,
    /// The connection's status.
    pub status: Status,
    /// Everything sent and received, oldest first.
    pub log: Vec<Entry>,
    /// The text being typed.
    pub input: String,
    /// How many lines the log is scrolled up from the bottom (0 follows new lines).
    pub scroll: usize,
}

/// Lines that PageUp and PageDown move.
const PAGE: usize = 10;

impl App {
    /// A new chat with `url`, connecting.
    pub fn new(url: String) -> App {
        let peer = if crate::commands::connect::is_room(&url) { "room" } else { "echo" };
        App { url, peer, status: Status::Connecting, log: Vec::new(), input: String::new(), scroll: 0 }
    }

    /// Whether messages can be sent now.
    pub fn is_open(&self) -> bool {
        matches!(self.status, Status::Open { .. })
    }

    /// Applies a key: edits the input, scrolls, or returns what to do.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => Action::Quit,
            KeyCode::Char('c') | KeyCode::Char('d') if ctrl => Action::Quit,
            KeyCode::Char('r') if ctrl => self.reconnect(),
            KeyCode::Char('u') if ctrl => {
                self.input.clear();
                Action::None
            }
            KeyCode::Char(c) if !ctrl => {
                self.input.push(c);
                Action::None
            }
            KeyCode::Backspace => {
                self.input.pop();
                Action::None
            }
            KeyCode::Enter => self.submit(),
            KeyCode::PageUp | KeyCode::Up => {
                self.scroll += if key.code == KeyCode::Up { 1 } else { PAGE };
                Action::None
            }
            KeyCode::PageDown | KeyCode::Down => {
                self.scroll = self.scroll.saturating_sub(if key.code == KeyCode::Down { 1 } else { PAGE });
                Action::None
            }
            KeyCode::End => {
                self.scroll = 0;
                Action::None
            }
            _ => Action::None,
        }
    }

    /// Pasted text goes into the input line (newlines become spaces).
    pub fn on_paste(&mut self, text: &str) {
        self.input.extend(text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }));
    }

    fn reconnect(&mut self) -> Action {
        match self.status {
            Status::Failed(_) | Status::Closed(_) => {
                self.status = Status::Connecting;
                self.push(Entry::Info(format!("reconnecting to {}", self.url)));
                Action::Reconnect
            }
            _ => Action::None,
        }
    }

    /// Enter: a command (`/send-file PATH`, `/image`), or text to send
    /// (`//text` sends `/text`).
    fn submit(&mut self) -> Action {
        let line = self.input.trim_end().to_owned();
        if line.is_empty() {
            return Action::None;
        }
        let action = match line.strip_prefix('/') {
            None => Action::Send(line),
            Some(escaped) if escaped.starts_with('/') => Action::Send(escaped.to_owned()),
            Some(command) => match command.split_once(' ').unwrap_or((command, "")) {
                ("image", "") => Action::RequestImage,
                ("send-file", path) if !path.trim().is_empty() => Action::SendFile(path.trim().to_owned()),
                ("send-file", _) => return self.complain("usage: /send-file PATH"),
                (name, _) => {
                    return self.complain(&format!(
                        "unknown command /{name}: try /send-file PATH or /image (//text sends /text)"
                    ))
                }
            },
        };
        if !self.is_open() && action != Action::RequestImage {
            return self.complain("not connected: Ctrl-R reconnects");
        }
        if let Action::Send(text) = &action {
            self.push(Entry::Sent(text.clone()));
        }
        self.input.clear();
        action
    }

    fn complain(&mut self, text: &str) -> Action {
        self.push(Entry::Error(text.to_owned()));
        Action::None
    }

    /// Applies what a connection reported.
    pub fn on_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Open { compressed } => {
                self.status = Status::Open { compressed };
                self.push(Entry::Info(format!("connected to {}", self.url)));
            }
            LinkEvent::Received(message) => self.received(self.peer, message),
            LinkEvent::Image(Ok(message)) => self.received("image", message),
            LinkEvent::Image(Err(cause)) => self.push(Entry::Error(format!("no image: {cause}"))),
            LinkEvent::Closed(frame) => {
                let how = match &frame {
                    Some(f) if f.reason.is_empty() => format!("closed: {}", f.code),
                    Some(f) => format!("closed: {} {}", f.code, f.reason),
                    None => "closed: no status code".to_owned(),
                };
                self.status = Status::Closed(frame);
                self.push(Entry::Info(how));
            }
            LinkEvent::Failed(cause) => {
                self.push(Entry::Error(format!("Network error: {cause}")));
                self.status = Status::Failed(cause);
            }
        }
    }

    /// The file was read and handed to the connection.
    pub fn sent_file(&mut self, path: String, len: usize) {
        self.push(Entry::SentFile { path, len });
    }

    /// Something that happened, for the log.
    pub fn info(&mut self, text: String) {
        self.push(Entry::Info(text));
    }

    /// Something the caller could not do, for the log.
    pub fn error(&mut self, text: String) {
        self.push(Entry::Error(text));
    }

    /// We started the closing handshake.
    pub fn closing(&mut self) {
        self.status = Status::Closing;
    }

    fn received(&mut self, from: &'static str, message: Message) {
        match message {
            Message::Text(text) => self.push(Entry::Text { from, text: text.to_string() }),
            Message::Binary(bytes) => {
                self.push(Entry::Binary { from, len: bytes.len(), picture: Picture::from_png(&bytes) })
            }
        }
    }

    fn push(&mut self, entry: Entry) {
        self.log.push(entry);
        self.scroll = 0; // show what just happened
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn open_app() -> App {
        let mut app = App::new("ws://127.0.0.1:1/".into());
        app.on_event(LinkEvent::Open { compressed: true });
        app
    }

    fn type_line(app: &mut App, text: &str) -> Action {
        for c in text.chars() {
            assert_eq!(app.on_key(key(KeyCode::Char(c))), Action::None);
        }
        app.on_key(key(KeyCode::Enter))
    }

    #[test]
    fn enter_sends_the_line_and_logs_it() {
        let mut app = open_app();
        assert_eq!(type_line(&mut app, "Hello!"), Action::Send("Hello!".into()));
        assert_eq!(app.input, "");
        assert_eq!(app.log.last(), Some(&Entry::Sent("Hello!".into())));
        assert_eq!(app.on_key(key(KeyCode::Enter)), Action::None, "an empty line sends nothing");
    }

    #[test]
    fn commands_and_escaped_slashes() {
        let mut app = open_app();
        assert_eq!(type_line(&mut app, "/image"), Action::RequestImage);
        assert_eq!(type_line(&mut app, "/send-file /tmp/a b.png"), Action::SendFile("/tmp/a b.png".into()));
        assert_eq!(type_line(&mut app, "//image"), Action::Send("/image".into()));
        assert_eq!(type_line(&mut app, "/send-file"), Action::None);
        assert_eq!(app.log.last(), Some(&Entry::Error("usage: /send-file PATH".into())));
        assert_eq!(app.input, "/send-file", "kept, to be completed");
        app.on_key(ctrl('u'));
        assert_eq!(type_line(&mut app, "/send-filex"), Action::None);
        assert!(matches!(app.log.last(), Some(Entry::Error(e)) if e.starts_with("unknown command /send-filex:")));
        app.on_key(ctrl('u'));
        assert_eq!(type_line(&mut app, "/nope x"), Action::None);
        assert!(matches!(app.log.last(), Some(Entry::Error(e)) if e.starts_with("unknown command /nope")));
    }

    #[test]
    fn failure_shows_network_error_and_ctrl_r_reconnects() {
        let mut app = open_app();
        assert_eq!(app.on_key(ctrl('r')), Action::None, "no reconnect while open");
        app.on_event(LinkEvent::Failed("connection lost: reset".into()));
        assert_eq!(app.status, Status::Failed("connection lost: reset".into()));
        assert_eq!(app.log.last(), Some(&Entry::Error("Network error: connection lost: reset".into())));
        assert_eq!(type_line(&mut app, "still there?"), Action::None);
        assert_eq!(app.input, "still there?", "kept for after the reconnect");
        assert_eq!(app.on_key(ctrl('r')), Action::Reconnect);
        assert_eq!(app.status, Status::Connecting);
    }

    #[test]
    fn escape_and_ctrl_c_quit() {
        let mut app = open_app();
        assert_eq!(app.on_key(key(KeyCode::Esc)), Action::Quit);
        assert_eq!(app.on_key(ctrl('c')), Action::Quit);
    }

    #[test]
    fn text_and_binary_keep_their_type() {
        let mut app = open_app();
        app.on_event(LinkEvent::Received(Message::text("Hello!")));
        app.on_event(LinkEvent::Received(Message::binary(vec![1, 2, 3])));
        app.on_event(LinkEvent::Image(Ok(Message::binary(crate::echo_server::demo_image::png()))));
        assert_eq!(app.log[1], Entry::Text { from: "echo", text: "Hello!".into() });
        assert_eq!(app.log[2], Entry::Binary { from: "echo", len: 3, picture: None });
        assert!(matches!(&app.log[3], Entry::Binary { from: "image", picture: Some(_), .. }));
    }

    #[test]
    fn scrolling_stops_at_the_bottom_and_new_lines_return_there() {
        let mut app = open_app();
        app.on_key(key(KeyCode::PageUp));
        app.on_key(key(KeyCode::Down));
        assert_eq!(app.scroll, PAGE - 1);
        app.on_key(key(KeyCode::PageDown));
        assert_eq!(app.scroll, 0);
        app.on_key(key(KeyCode::Up));
        app.on_event(LinkEvent::Received(Message::text("new")));
        assert_eq!(app.scroll, 0);
    }
}
