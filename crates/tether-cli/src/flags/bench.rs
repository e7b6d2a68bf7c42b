//! The flags of `tether bench`: one subcommand per workload of the load
//! generator (crate `tether-bench`), and their translation into its plans.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use tether_bench::echo_load::EchoPlan;
use tether_bench::h2_load::{self, Transport};
use tether_bench::tls::{ClientTls, DEFAULT_SUITE};
use tether_bench::{Kind, RunOptions, Target};

/// `tether bench WORKLOAD URL [options]`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The workload to run.
    #[command(subcommand)]
    pub workload: Workload,
}

/// The workloads, each with its flags.
#[derive(Subcommand, Debug)]
pub enum Workload {
    /// Echo throughput and latency: N connections, K in flight, S bytes.
    Echo {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        echo: EchoLoadArgs,
        #[command(flatten)]
        client: TetherClientArgs,
        /// Payload size (bytes; KiB and MiB suffixes allowed).
        #[arg(short, long, default_value = "20", value_parser = parse_size)]
        size: usize,
    },
    /// Large messages: the echo workload once per size (default 1, 4 and 16 MiB).
    Large {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        echo: EchoLoadArgs,
        /// Payload sizes, comma-separated.
        #[arg(long, default_value = "1MiB,4MiB,16MiB", value_delimiter = ',', value_parser = parse_size)]
        sizes: Vec<usize>,
    },
    /// Connection setup rate: connect, handshake, close; C at a time.
    Setup {
        #[command(flatten)]
        common: CommonArgs,
        /// Connections being set up at once.
        #[arg(short = 'c', long, default_value_t = 10)]
        concurrency: usize,
        #[command(flatten)]
        client: TetherClientArgs,
    },
    /// Fan-out through a hub: M members in rooms of URL (ws://HOST/rooms/NAME),
    /// P of them publishing R messages/s in all; deliveries/s, delivery
    /// latency, lost and duplicated messages.
    Fanout {
        #[command(flatten)]
        common: CommonArgs,
        /// More hubs sharing the rooms (through their backplane): members
        /// are spread over URL and these, in turn.
        #[arg(long = "hub", value_name = "URL")]
        hubs: Vec<String>,
        /// Members in all (publishers included).
        #[arg(short, long, default_value_t = 100)]
        members: usize,
        /// Members that also publish.
        #[arg(short, long, default_value_t = 1)]
        publishers: usize,
        /// Payload size (at least 20 bytes: publisher, sequence, time).
        #[arg(short, long, default_value = "64", value_parser = parse_size)]
        size: usize,
        /// Messages published per second, in all.
        #[arg(short, long, default_value_t = 100.0)]
        rate: f64,
        /// Rooms: NAME-0 .. NAME-(K-1) when more than one.
        #[arg(long, default_value_t = 1)]
        rooms: usize,
    },
    /// Idle connections: open C, echo one message on each, hold them; with
    /// --server-pid, report the server's memory per connection.
    Idle {
        #[command(flatten)]
        common: CommonArgs,
        /// Connections to open and hold.
        #[arg(short = 'c', long, default_value_t = 1000)]
        conns: usize,
        /// Payload of the one message echoed on each connection (0: none).
        #[arg(short, long, default_value = "20", value_parser = parse_size)]
        size: usize,
        /// Seconds to keep holding them after the memory reading.
        #[arg(long, default_value_t = 0.0, value_name = "SECS")]
        hold: f64,
        /// Before the memory reading, wait for each connection's keepalive
        /// ping (the server's interval, up to 90 s) and answer it, as a
        /// browser would: the memory of connections kept alive. With a
        /// count, answer that many pings (2 with --deflate: a compressor
        /// unused for a whole interval is given back at the next ping).
        #[arg(long, num_args = 0..=1, default_value_t = 0, default_missing_value = "1", value_name = "N")]
        answer_ping: u32,
        /// Offer permessage-deflate (the server must accept it) and send the
        /// one message compressed: the memory then includes each
        /// connection's decompressor, and its compressor if the server
        /// compresses the echo (most leave messages under 1 KiB plain: pair
        /// with --size 1KiB or more).
        #[arg(long)]
        deflate: bool,
    },
}

/// Flags every workload takes.
#[derive(Args, Debug)]
pub struct CommonArgs {
    /// The server: ws://HOST:PORT/PATH or wss://HOST:PORT/PATH, or
    /// tcp://HOST:PORT (tls://HOST:PORT) for a raw TCP (TLS) echo.
    url: String,
    /// wss:// and tls://: trust the CA certificate(s) of this PEM file for
    /// the server's certificate (nothing else is trusted).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// wss:// and tls://: the one cipher suite offered (with X25519, no
    /// session resumption), so every server negotiates the same.
    #[arg(long, value_name = "SUITE", default_value = DEFAULT_SUITE)]
    tls_suite: String,
    /// Seconds measured, after the warm-up.
    #[arg(short, long, default_value_t = 5.0, value_name = "SECS")]
    duration: f64,
    /// Seconds of load before measuring.
    #[arg(short, long, default_value_t = 1.0, value_name = "SECS")]
    warmup: f64,
    /// The server's process id: its CPU time (and, idle, its memory) is read from /proc.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Source addresses, taken in turn: "127.0.0.1,127.0.0.2" or a count N
    /// for 127.0.0.1..127.0.0.N (more ports for many connections).
    #[arg(long, value_name = "ADDRS")]
    source: Option<String>,
    /// One JSON object per run on stdout, instead of text.
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr.
    #[arg(short, long)]
    quiet: bool,
}

/// Flags of the echo workloads.
#[derive(Args, Debug)]
pub struct EchoLoadArgs {
    /// Connections.
    #[arg(short = 'c', long, default_value_t = 10)]
    conns: usize,
    /// Messages in flight per connection (1: closed loop, one at a time).
    #[arg(short = 'k', long, default_value_t = 1)]
    in_flight: usize,
    /// Message type.
    #[arg(long, value_enum, default_value_t = Kind::Binary)]
    kind: Kind,
    /// Compare every echoed byte with what was sent (and the order of messages).
    #[arg(long)]
    check: bool,
    /// Offer permessage-deflate (the server must accept it) and send JSON
    /// text from a built-in corpus, each message compressed on its own.
    #[arg(long)]
    pub deflate: bool,
    /// Send exactly M messages per connection, then stop (no warm-up; the
    /// duration still bounds the run).
    #[arg(short, long, value_name = "M")]
    messages: Option<u64>,
    /// Open loop: send this many messages per second in all, spread over
    /// the connections, at most --in-flight outstanding on each.
    #[arg(long, value_name = "MSG_PER_S")]
    rate: Option<f64>,
}

/// Flags that run the echo or setup workload on tether's own client
/// (`tether_bench::h2_load`) instead of raw pre-built frames.
#[derive(Args, Debug)]
pub struct TetherClientArgs {
    /// WebSockets over HTTP/2 (RFC 8441 extended CONNECT; prior knowledge
    /// for ws://), on tether's client; the echo checks every byte.
    #[arg(long)]
    http2: bool,
    /// WebSockets sharing one HTTP/2 connection (with --http2).
    #[arg(long, default_value_t = 100, value_name = "N")]
    streams_per_conn: usize,
    /// tether's client over HTTP/1.1: the same client code as --http2, for
    /// the row it is compared with.
    #[arg(long, conflicts_with = "http2")]
    tether_client: bool,
}

impl TetherClientArgs {
    /// The transport, when the workload runs on tether's client.
    pub fn transport(&self) -> Option<Transport> {
        if self.http2 {
            Some(Transport::Http2 { per_conn: self.streams_per_conn.max(1) })
        } else {
            self.tether_client.then_some(Transport::Http1)
        }
    }
}

impl CommonArgs {
    /// The target and the options every workload takes.
    pub fn resolve(&self) -> Result<(Target, RunOptions), String> {
        let secs = |name: &str, s: f64| {
            Duration::try_from_secs_f64(s).map_err(|_| format!("--{name} {s} is not a number of seconds"))
        };
        let common = RunOptions {
            url: self.url.clone(),
            duration: secs("duration", self.duration)?,
            warmup: secs("warmup", self.warmup)?,
            server_pid: self.server_pid,
            source: self.source.clone(),
            quiet: self.quiet,
        };
        let mut target = Target::parse(&self.url)?;
        if target.secure {
            let ca = self
                .ca
                .as_deref()
                .ok_or("a wss:// or tls:// URL needs --ca FILE (the CA that signed the server's certificate)")?;
            target = target.with_tls(&ClientTls::new(ca, &self.tls_suite)?);
        }
        Ok((target, common))
    }
}

impl EchoLoadArgs {
    /// The plan of the echo on tether's client, which keeps one binary
    /// message in flight per WebSocket and checks every byte.
    pub fn tether_client_plan(&self, size: usize, transport: Transport) -> Result<h2_load::EchoPlan, String> {
        if self.in_flight > 1 || self.rate.is_some() || self.deflate || self.kind != Kind::Binary {
            return Err("--http2 and --tether-client echo binary messages one at a time: \
                        no --in-flight, --rate, --deflate or --kind text"
                .into());
        }
        Ok(h2_load::EchoPlan { conns: self.conns.max(1), size, messages: self.messages, transport })
    }

    /// The echo workload's plan for messages of `size` bytes.
    pub fn plan(&self, size: usize) -> EchoPlan {
        EchoPlan {
            conns: self.conns.max(1),
            in_flight: self.in_flight.max(1),
            size,
            kind: self.kind,
            check: self.check,
            messages: self.messages,
            rate: self.rate,
        }
    }
}

/// `20`, `16KiB`, `1MiB`, `4M`, `2k`: a size in bytes.
fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: usize = digits.parse().map_err(|_| format!("{s:?} is not a size"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return Err(format!("{s:?}: unknown unit (use KiB or MiB)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_parse() {
        assert_eq!(super::parse_size("20"), Ok(20));
        assert_eq!(super::parse_size("16KiB"), Ok(16384));
        assert_eq!(super::parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(super::parse_size("4m"), Ok(4 << 20));
        assert!(super::parse_size("1GiB").is_err());
        assert!(super::parse_size("x").is_err());
    }
}
