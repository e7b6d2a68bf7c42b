//! `tether chat`: a full-screen terminal client for an echo server, or a
//! room of `tether hub` (`ws://ADDR/rooms/NAME`).
//!
//! - `app`: the state and what keys and events do to it (no IO);
//! - `view`: drawing it with ratatui;
//! - `picture`: received PNGs as half-block pictures;
//! - `link`: the connections, on their own tasks;
//! - `session`: the loop tying them together;
//! - `terminal`: raw mode and the alternate screen, restored on exit and panic.

mod app;
mod link;
mod picture;
mod session;
mod terminal;
mod view;

#[cfg(test)]
mod tests;

use std::process::ExitCode;

use crossterm::event::EventStream;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use self::session::Session;
use self::view::status_text;
use crate::flags::ChatArgs;

/// Runs the chat against `url`, or against an echo server started on
/// loopback for the purpose when there is none.
pub async fn run(args: ChatArgs) -> Result<ExitCode, String> {
    let config = tether::Config::default();
    let config = if args.no_deflate { config.deflate(None) } else { config };
    let (url, _server) = match args.url {
        Some(url) => (url, None),
        None => {
            let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("cannot listen: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            let server = tokio::spawn(crate::echo_server::embedded(listener, config));
            (format!("ws://{addr}/"), Some(AbortOnDrop(server)))
        }
    };
    let mut session = Session::start(url, config);
    let mut screen = terminal::FullScreen::enter().map_err(|e| format!("cannot use the terminal: {e}"))?;
    let outcome = session.run(screen.terminal(), EventStream::new()).await;
    drop(screen);
    outcome.map_err(|e| format!("terminal input failed: {e}"))?;
    // Back on the normal screen: say how it ended.
    eprintln!("tether chat: {}", status_text(&session.app.status).0);
    Ok(ExitCode::SUCCESS)
}

/// The embedded server: stopped, with its connections, when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
