//! The command line's flags: the clap types of every command, and the
//! helpers that turn flag values into the library's settings.

pub mod bench;
pub mod hub;
pub mod serve;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use self::bench::BenchArgs;
use self::hub::HubArgs;
use self::serve::{Listen, ServeOptions};

/// A WebSocket (RFC 6455) echo server and terminal client.
#[derive(Parser, Debug)]
#[command(name = "tether", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  tether chat                              full-screen chat with an embedded echo server
  tether demo                              run the five steps against an embedded echo server
  tether echo --listen 127.0.0.1:0         serve an echo server on a free port (URL on stdout)
  tether echo --tls-cert cert.pem --tls-key key.pem   serve wss:// instead
                                           open http://ADDR/ in a browser for the chat page
  tether echo --static target/web-chat     serve the web chat's files (scripts/build-web-chat.sh)
  tether hub --listen 127.0.0.1:0          serve rooms: ws://ADDR/rooms/NAME joins NAME
  tether chat ws://127.0.0.1:9001/rooms/lobby        chat in a room of a hub
  tether connect ws://127.0.0.1:9001/      type lines, see the echoes; Ctrl-D closes cleanly
  echo hello | tether connect ws://127.0.0.1:9001/   send one message, print the answer, close
  tether connect --ca ca.pem wss://localhost:9001/    trust a private CA
  tether connect --proxy socks5h://127.0.0.1:1080 wss://example.com/   go through a proxy
  tether connect --reconnect ws://127.0.0.1:9001/    keep the session across server restarts

  tether bench echo ws://127.0.0.1:9001/ -c 100 -s 20   load an echo server: msg/s and latency";

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a WebSocket echo server: text comes back as text, binary as binary.
    ///
    /// Plain HTTP `GET /` serves a chat page for browsers (or, with
    /// --static DIR, the files of DIR); a WebSocket on `/image` first
    /// receives a generated PNG as a binary message.
    ///
    /// The first line on stdout is the server's URL; one line per connection
    /// is logged on stderr when it ends.
    Echo(EchoArgs),
    /// Run a room server: a WebSocket to /rooms/NAME joins room NAME, and
    /// every message a member sends goes to every member of NAME, the
    /// sender included, text as text and binary as binary.
    ///
    /// Clients offering the subprotocol tether.hub.v1 get each message's
    /// offset, acknowledgements, and resume with ?since=EPOCH:OFFSET
    /// (docs/hub-protocol.md). Plain HTTP: GET / serves a room chat page,
    /// GET /metrics the counters in the Prometheus text format, GET
    /// /rooms/NAME/info the room's member count as JSON.
    ///
    /// The first line on stdout is the server's URL; joins, leaves and
    /// members closed are logged on stderr.
    Hub(HubArgs),
    /// Connect to a WebSocket server: each stdin line is sent as a text
    /// message, each message received is printed on its own line.
    ///
    /// End of input closes the connection with code 1000 after the answers
    /// in flight have arrived; the close code and reason go to stderr, and
    /// so does the subprotocol the server chose.
    ///
    /// Proxies: without --proxy, the environment is read the way curl reads
    /// it: ws_proxy, http_proxy (lower case only), all_proxy for ws://;
    /// wss_proxy, https_proxy, HTTPS_PROXY, all_proxy for wss://; NO_PROXY
    /// lists hosts reached directly.
    Connect(ConnectArgs),
    /// A full-screen chat: type a message, Enter sends it, the echo appears
    /// below; received PNGs are drawn. `/send-file PATH` sends a file as a
    /// binary message, `/image` asks the server's /image endpoint for a
    /// picture, Ctrl-R reconnects, Esc or Ctrl-C closes with 1000 and exits.
    ///
    /// Without URL, an echo server is started on loopback for the chat.
    Chat(ChatArgs),
    /// Start an embedded echo server on loopback (or use URL), send "Hello!"
    /// and a binary message, print the echoes, close: the five steps in one go.
    Demo(DemoArgs),
    /// Load-test a WebSocket echo server: echo throughput and latency, large
    /// messages, connection setup rate, memory per idle connection.
    Bench(BenchArgs),
}

/// Keepalive flags shared by the servers and `connect`.
#[derive(Args, Debug, Clone, Copy)]
pub struct Keepalive {
    /// Send a ping this often (0 turns keepalive off).
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    pub ping_interval: f64,
    /// Drop the connection if a ping is not answered within this time.
    #[arg(long, value_name = "SECS", default_value_t = 20.0)]
    pub ping_timeout: f64,
}

// The flags of `tether echo` (a `///` comment here would replace the
// subcommand's help text).
#[derive(Args, Debug)]
pub struct EchoArgs {
    #[command(flatten)]
    pub listen: Listen,
    /// A subprotocol to accept when a client offers it (repeatable; the
    /// client's first offer that is listed wins).
    #[arg(short, long = "protocol", value_name = "NAME")]
    pub protocols: Vec<String>,
    /// Add a header to every upgrade response, as "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Flush every echoed message on its own, as most libraries' echo
    /// loops do (by default a burst read at once is echoed with one write):
    /// for benchmarks that compare the loops.
    #[arg(long)]
    pub flush_each: bool,
    /// Serve the files of DIR over plain HTTP on the WebSocket port, in
    /// place of the built-in chat page (DIR/index.html at /), e.g. the web
    /// chat built by scripts/build-web-chat.sh.
    #[arg(long = "static", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
    #[command(flatten)]
    pub serve: ServeOptions,
}

// The flags of `tether connect`.
#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// The server's URL, as ws://HOST:PORT/PATH or wss://HOST:PORT/PATH
    /// (the port defaults to 80 and 443).
    pub url: String,
    /// Offer a subprotocol (repeat for several, in order of preference).
    #[arg(short, long = "protocol", value_name = "NAME")]
    pub protocols: Vec<String>,
    /// Add a request header, as "Name: value" (repeatable): Authorization, Cookie...
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Set the Origin header.
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// How binary messages are printed.
    #[arg(long, value_enum, default_value_t = BinaryMode::Hex)]
    pub binary: BinaryMode,
    /// Trust the CA certificates in this PEM file instead of the built-in
    /// Mozilla roots (repeatable; like curl's --cacert).
    #[arg(long = "ca", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
    /// Trust the operating system's certificate store instead of the
    /// built-in Mozilla roots (combines with --ca).
    #[arg(long)]
    pub os_roots: bool,
    /// Do not verify the server's certificate. Anyone on the path can then
    /// read and change the traffic; a warning is printed.
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Go through this proxy: http://[USER:PASS@]HOST[:PORT] (CONNECT),
    /// socks5://... or socks5h://... (the port defaults to 1080). An empty
    /// value connects directly, whatever the environment says.
    #[arg(short = 'x', long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Seconds allowed for name resolution, TCP connect and the proxy's answer.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = seconds)]
    pub connect_timeout: f64,
    /// Seconds allowed for the TLS handshake and the WebSocket upgrade.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = seconds)]
    pub handshake_timeout: f64,
    /// Do not offer permessage-deflate compression.
    #[arg(long)]
    pub no_deflate: bool,
    /// Open the WebSocket over HTTP/2 (RFC 8441 extended CONNECT): for
    /// wss:// ALPN h2 (an error if the server does not pick it), for ws://
    /// cleartext HTTP/2 with prior knowledge. The protocol used goes to stderr.
    #[arg(long)]
    pub http2: bool,
    #[command(flatten)]
    pub keepalive: Keepalive,
    /// Reconnect when the connection drops (backoff with jitter); lines
    /// typed meanwhile are sent after reconnecting. State changes go to stderr.
    /// To a room of `tether hub` (a /rooms/NAME URL) it offers tether.hub.v1
    /// and resumes: what was published while away is printed, in order, once.
    #[arg(long)]
    pub reconnect: bool,
    /// With --reconnect: more URLs (other hubs sharing the rooms), tried in
    /// turn after the first when a connection fails or is lost.
    #[arg(long, value_name = "URL", requires = "reconnect")]
    pub also: Vec<String>,
}

// The flags of `tether chat`.
#[derive(Args, Debug)]
pub struct ChatArgs {
    /// The server's URL, as ws://HOST:PORT/PATH.
    pub url: Option<String>,
    /// Do not offer permessage-deflate compression.
    #[arg(long)]
    pub no_deflate: bool,
}

// The flags of `tether demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Talk to this server instead of an embedded one.
    pub url: Option<String>,
}

/// How `tether connect` prints a binary message.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryMode {
    /// `<binary N bytes: 89 50 4e 47 ...>`
    Hex,
    /// The raw bytes, as received, with no newline added.
    Raw,
}

/// A positive number of seconds.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() && v < 1e9 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

/// Splits "Name: value".
pub fn header(h: &str) -> Result<(&str, &str), String> {
    let (name, value) = h.split_once(':').ok_or_else(|| format!("header {h:?} is not \"Name: value\""))?;
    Ok((name.trim(), value.trim()))
}

impl Cli {
    /// The runtime threads the command wants: `Some(1)` for a current-thread
    /// runtime, `None` for one worker per core.
    pub fn threads(&self) -> Option<usize> {
        match &self.command {
            Command::Echo(args) => args.serve.threads.map(usize::from),
            Command::Hub(args) => args.serve.threads.map(usize::from),
            // The load generator runs on one thread, so it takes one core.
            Command::Bench(_) => Some(1),
            _ => None,
        }
    }
}

impl Keepalive {
    /// The library's defaults, with these keepalive choices and `--no-deflate`.
    pub fn config(self, no_deflate: bool) -> Result<tether::Config, String> {
        let mut config = tether::Config::default();
        if no_deflate {
            config = config.deflate(None);
        }
        let interval = duration(self.ping_interval, "--ping-interval")?;
        let timeout = duration(self.ping_timeout, "--ping-timeout")?;
        Ok(config.keepalive((!interval.is_zero()).then_some(interval), timeout))
    }
}

/// `value` seconds as a duration; `flag` names it in the error.
pub fn duration(value: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|_| format!("{flag} {value}: not a number of seconds"))
}
