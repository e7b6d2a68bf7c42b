//! The flags every server command shares (`tether echo`, `tether hub`):
//! where to listen and with which certificate, and how the server treats
//! its clients (compression, keepalive, origins, per-address caps,
//! shutdown grace, logging).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::Keepalive;

/// Where a server listens, over ws:// or wss://.
#[derive(Args, Debug, Clone)]
pub struct Listen {
    /// Address to listen on; port 0 picks a free port.
    #[arg(short, long, value_name = "ADDR", default_value = "127.0.0.1:9001")]
    pub listen: SocketAddr,
    /// Serve wss://: the certificate chain, PEM (the server's certificate first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// How a server treats its clients and ends.
#[derive(Args, Debug, Clone)]
pub struct ServeOptions {
    /// Do not accept permessage-deflate compression.
    #[arg(long)]
    pub no_deflate: bool,
    #[command(flatten)]
    pub keepalive: Keepalive,
    /// On SIGINT/SIGTERM, how long to wait for clients to finish the
    /// closing handshake (close 1001) before dropping them.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub grace: f64,
    /// Accept browser pages only from this origin (repeatable), e.g.
    /// https://app.example.com; others get 403. Clients that send no
    /// Origin (not browsers) are always accepted.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Drop new connections from an address that already has this many.
    #[arg(long, value_name = "N")]
    pub max_per_ip: Option<usize>,
    /// Runtime threads: 1 runs everything on one thread (a current-thread
    /// runtime); the default is one worker per core.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Do not log a line per connection on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}
