//! Command-line flags and dispatch.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// A WebSocket (RFC 6455) echo server and terminal client.
#[derive(Parser, Debug)]
#[command(name = "tether", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = "\
Examples:
  tether chat                              full-screen chat with an embedded echo server
  tether demo                              run the five steps against an embedded echo server
  tether echo --listen 127.0.0.1:0         serve an echo server on a free port (URL on stdout);
                                           open http://ADDR/ in a browser for the chat page
  tether connect ws://127.0.0.1:9001/      type lines, see the echoes; Ctrl-D closes cleanly
  echo hello | tether connect ws://127.0.0.1:9001/   send one message, print the answer, close";

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a WebSocket echo server: text comes back as text, binary as binary.
    ///
    /// Plain HTTP `GET /` serves a chat page for browsers; a WebSocket on
    /// `/image` first receives a generated PNG as a binary message.
    ///
    /// The first line on stdout is the server's URL; one line per connection
    /// is logged on stderr when it ends.
    Echo {
        /// Address to listen on; port 0 picks a free port.
        #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1:9001")]
        listen: SocketAddr,
        /// Do not accept permessage-deflate compression.
        #[arg(long)]
        no_deflate: bool,
    },
    /// Connect to a WebSocket server: each stdin line is sent as a text
    /// message, each message received is printed on its own line.
    ///
    /// End of input closes the connection with code 1000 after the answers
    /// in flight have arrived; the close code and reason go to stderr.
    Connect {
        /// The server's URL, as ws://HOST:PORT/PATH (the port defaults to 80).
        url: String,
        /// Offer a subprotocol (repeat for several, in order of preference).
        #[arg(short, long = "protocol", value_name = "NAME")]
        protocols: Vec<String>,
        /// Add a request header, as "Name: value" (repeatable).
        #[arg(short = 'H', long = "header", value_name = "HEADER")]
        headers: Vec<String>,
        /// Set the Origin header.
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
        /// How binary messages are printed.
        #[arg(long, value_enum, default_value_t = BinaryMode::Hex)]
        binary: BinaryMode,
        /// Do not offer permessage-deflate compression.
        #[arg(long)]
        no_deflate: bool,
    },
    /// A full-screen chat: type a message, Enter sends it, the echo appears
    /// below; received PNGs are drawn. `/send-file PATH` sends a file as a
    /// binary message, `/image` asks the server's /image endpoint for a
    /// picture, Ctrl-R reconnects, Esc or Ctrl-C closes with 1000 and exits.
    ///
    /// Without URL, an echo server is started on loopback for the chat.
    Chat {
        /// The server's URL, as ws://HOST:PORT/PATH.
        url: Option<String>,
        /// Do not offer permessage-deflate compression.
        #[arg(long)]
        no_deflate: bool,
    },
    /// Start an embedded echo server on loopback (or use URL), send "Hello!"
    /// and a binary message, print the echoes, close: the five steps in one go.
    Demo {
        /// Talk to this server instead of an embedded one.
        url: Option<String>,
    },
}

/// How `tether connect` prints a binary message.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryMode {
    /// `<binary N bytes: 89 50 4e 47 ...>`
    Hex,
    /// The raw bytes, as received, with no newline added.
    Raw,
}

/// Runs the chosen command; the exit code says how it ended.
pub async fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Echo { listen, no_deflate } => crate::echo::run(listen, config(no_deflate)).await,
        Command::Connect { url, protocols, headers, origin, binary, no_deflate } => {
            let config = config(no_deflate);
            crate::connect::run(crate::connect::Options { url, protocols, headers, origin, binary, config }).await
        }
        Command::Chat { url, no_deflate } => crate::chat::run(url, config(no_deflate)).await,
        Command::Demo { url } => crate::demo::run(url).await,
    }
}

/// The library's defaults, with permessage-deflate on unless turned off.
fn config(no_deflate: bool) -> tether::Config {
    let config = tether::Config::default();
    if no_deflate {
        config.deflate(None)
    } else {
        config
    }
}
