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
  tether demo                              run the five steps against an embedded echo server
  tether echo --listen 127.0.0.1:0         serve an echo server on a free port (URL on stdout)
  tether connect ws://127.0.0.1:9001/      type lines, see the echoes; Ctrl-D closes cleanly
  echo hello | tether connect ws://127.0.0.1:9001/   send one message, print the answer, close
  tether bench echo ws://127.0.0.1:9001/ -c 100 -s 20   load an echo server: msg/s and latency";

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a WebSocket echo server: text comes back as text, binary as binary.
    ///
    /// The first line on stdout is the server's URL; one line per connection
    /// is logged on stderr when it ends.
    Echo {
        /// Address to listen on; port 0 picks a free port.
        #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1:9001")]
        listen: SocketAddr,
        /// Runtime threads: 1 runs everything on one thread (a current-thread
        /// runtime); the default is one worker per core.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
        /// Do not log a line per connection on stderr.
        #[arg(short, long)]
        quiet: bool,
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
    },
    /// Start an embedded echo server on loopback (or use URL), send "Hello!"
    /// and a binary message, print the echoes, close: the five steps in one go.
    Demo {
        /// Talk to this server instead of an embedded one.
        url: Option<String>,
    },
    /// Load-test a WebSocket echo server: echo throughput and latency, large
    /// messages, connection setup rate, memory per idle connection.
    Bench(crate::bench::BenchArgs),
}

/// How `tether connect` prints a binary message.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryMode {
    /// `<binary N bytes: 89 50 4e 47 ...>`
    Hex,
    /// The raw bytes, as received, with no newline added.
    Raw,
}

impl Cli {
    /// The runtime threads the command wants: `Some(1)` for a current-thread
    /// runtime, `None` for one worker per core.
    pub fn threads(&self) -> Option<usize> {
        match &self.command {
            Command::Echo { threads, .. } => threads.map(usize::from),
            // The load generator runs on one thread, so it takes one core.
            Command::Bench(_) => Some(1),
            Command::Connect { .. } | Command::Demo { .. } => None,
        }
    }
}

/// Runs the chosen command; the exit code says how it ended.
pub async fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Echo { listen, threads: _, quiet } => crate::echo::run(listen, !quiet).await,
        Command::Bench(args) => crate::bench::run(args).await,
        Command::Connect { url, protocols, headers, origin, binary } => {
            crate::connect::run(crate::connect::Options { url, protocols, headers, origin, binary }).await
        }
        Command::Demo { url } => crate::demo::run(url).await,
    }
}
