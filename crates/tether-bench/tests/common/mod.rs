//! What the workload tests share: short run options against a server of
//! this process (its own memory is what the idle workload reads).

use std::time::Duration;

use tether_bench::RunOptions;

/// 300 ms after 50 ms of warm-up, quiet, this process as the server.
pub fn options(url: &str) -> RunOptions {
    RunOptions {
        url: url.to_owned(),
        duration: Duration::from_millis(300),
        warmup: Duration::from_millis(50),
        server_pid: Some(std::process::id()),
        source: None,
        quiet: true,
    }
}
