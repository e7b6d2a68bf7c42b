//! Command-line flags and dispatch.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

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
  tether connect --reconnect ws://127.0.0.1:9001/    keep the session across server restarts";

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
        /// Do not accept permessage-deflate compression.
        #[arg(long)]
        no_deflate: bool,
        #[command(flatten)]
        keepalive: Keepalive,
        /// On SIGINT/SIGTERM, how long to wait for clients to finish the
        /// closing handshake (close 1001) before dropping them.
        #[arg(long, value_name = "SECS", default_value_t = 5.0)]
        grace: f64,
        /// Accept browser pages only from this origin (repeatable), e.g.
        /// https://app.example.com; others get 403. Clients that send no
        /// Origin (not browsers) are always accepted.
        #[arg(long = "allow-origin", value_name = "ORIGIN")]
        allow_origins: Vec<String>,
        /// Drop new connections from an address that already has this many.
        #[arg(long, value_name = "N")]
        max_per_ip: Option<usize>,
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
        #[command(flatten)]
        keepalive: Keepalive,
        /// Reconnect when the connection drops (backoff with jitter); lines
        /// typed meanwhile are sent after reconnecting. State changes go to stderr.
        #[arg(long)]
        reconnect: bool,
    },
    /// Start an embedded echo server on loopback (or use URL), send "Hello!"
    /// and a binary message, print the echoes, close: the five steps in one go.
    Demo {
        /// Talk to this server instead of an embedded one.
        url: Option<String>,
    },
}

/// Keepalive flags shared by `echo` and `connect`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Keepalive {
    /// Send a ping this often (0 turns keepalive off).
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    ping_interval: f64,
    /// Drop the connection if a ping is not answered within this time.
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    ping_timeout: f64,
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
        Command::Echo { listen, no_deflate, keepalive, grace, allow_origins, max_per_ip } => {
            let options = crate::echo::Options {
                listen,
                config: config(no_deflate, keepalive)?,
                grace: seconds(grace, "--grace")?,
                allow_origins,
                max_per_ip,
            };
            crate::echo::run(options).await
        }
        Command::Connect { url, protocols, headers, origin, binary, no_deflate, keepalive, reconnect } => {
            let config = config(no_deflate, keepalive)?;
            let options = crate::connect::Options { url, protocols, headers, origin, binary, config, reconnect };
            crate::connect::run(options).await
        }
        Command::Demo { url } => crate::demo::run(url).await,
    }
}

/// The library's defaults, with the command line's deflate and keepalive choices.
fn config(no_deflate: bool, keepalive: Keepalive) -> Result<tether::Config, String> {
    let mut config = tether::Config::default();
    if no_deflate {
        config = config.deflate(None);
    }
    let interval = seconds(keepalive.ping_interval, "--ping-interval")?;
    let timeout = seconds(keepalive.ping_timeout, "--ping-timeout")?;
    Ok(config.keepalive((!interval.is_zero()).then_some(interval), timeout))
}

fn seconds(value: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|_| format!("{flag} {value}: not a number of seconds"))
}
