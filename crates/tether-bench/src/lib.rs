//! A load generator for any WebSocket echo server, in the manner of
//! uWebSockets' `load_test` but better instrumented: the library behind
//! `tether bench`.
//!
//! It speaks the protocol itself, on raw tokio TCP and `tether-proto` (the
//! handshake, pre-built masked frames, an incremental frame reader), so it
//! costs little and owes nothing to the server under test. `wss://` (and a
//! raw `tls://` echo) runs over rustls with one pinned cipher suite
//! ([`tls`]), for the echo, setup and idle workloads. Each run is one
//! workload, and returns a [`Report`]:
//!
//! - [`echo_load`]: N connections x K messages in flight x S bytes, text or
//!   binary, for a duration after a warm-up (or exactly M messages per
//!   connection); optionally open loop at a fixed rate; optionally checking
//!   every byte. Run once per size, it is also the large-message workload.
//! - [`setup_load`]: connect + handshake + close per second, C at a time.
//! - [`fanout_load`]: M members in rooms of a hub, P publishing at a rate;
//!   deliveries per second, delivery latency, lost and duplicated messages.
//! - [`idle_load`]: open and hold C connections; with a server pid, the
//!   server's resident memory per connection.
//! - `h2_load` (feature `http2`): echo and setup on tether's own client,
//!   over HTTP/2 (many WebSockets per connection) or HTTP/1.1 alike.
//!
//! A server pid also lets a run read the server's CPU time over the measured
//! window, for the headline figure: messages per server CPU-second.
//!
//! Every workload runs on the current thread (it spawns local tasks), so
//! call it from a current-thread tokio runtime: the generator then takes one
//! core and leaves the others to the server.

mod connect;
mod corpus;
mod echo_reader;
mod frames;
mod proc_stat;
mod report;
mod target;
pub mod tls;

pub mod echo_load;
pub mod fanout_load;
#[cfg(feature = "http2")]
pub mod h2_load;
pub mod idle_load;
pub mod setup_load;

use std::time::Duration;

use tokio::time::Instant;

pub use crate::frames::Kind;
pub use crate::proc_stat::CpuTime;
pub use crate::report::Report;
pub use crate::target::Target;

/// What every workload takes besides its own plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The server's URL, as given (it is repeated in the report).
    pub url: String,
    /// How long the measured window lasts.
    pub duration: Duration,
    /// How long the load runs before the window opens.
    pub warmup: Duration,
    /// The server's process id: its CPU time (and, idle, its memory) is read from `/proc`.
    pub server_pid: Option<u32>,
    /// Source addresses, taken in turn: "127.0.0.1,127.0.0.2" or a count N
    /// for 127.0.0.1..127.0.0.N.
    pub source: Option<String>,
    /// No progress lines on stderr.
    pub quiet: bool,
}

impl RunOptions {
    /// The measured window of a run that starts now and warms up for `warmup`.
    fn window(&self, warmup: Duration) -> Window {
        let from = Instant::now() + warmup;
        Window { from, until: from + self.duration }
    }
}

/// The run's clock: the measured window is `from..until`.
#[derive(Clone, Copy, Debug)]
struct Window {
    from: Instant,
    until: Instant,
}
