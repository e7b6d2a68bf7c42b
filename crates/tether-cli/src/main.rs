//! `tether`: a WebSocket echo server and terminal client.
//!
//! - `flags`: the command line (clap types), parsed here;
//! - `commands`: one module per command (`echo`, `hub`, `connect`, `chat`,
//!   `demo`, `bench`) and the dispatch to them;
//! - `echo_server`: the echo server `echo`, `chat` and `demo` share;
//! - `serving`: what the server commands (`echo`, `hub`) share: binding,
//!   TLS, limits, the graceful shutdown on signals;
//! - `pages`: the browser pages of `echo` and `hub`;
//! - `static_files`: the files of `echo --static DIR`;
//! - `output`: how received messages are printed.
//!
//! The load generator behind `tether bench` is the crate `tether-bench`.

mod commands;
mod echo_server;
mod flags;
mod output;
mod pages;
mod serving;
mod static_files;

use std::process::ExitCode;

// jemalloc: less memory per idle connection than the system allocator (see
// the feature in Cargo.toml). The library never picks an allocator; the binary does.
#[cfg(all(feature = "jemalloc", not(any(target_env = "msvc", target_family = "wasm"))))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = <flags::Cli as clap::Parser>::parse();
    let mut builder = match args.threads() {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tether: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(commands::run(args.command));
    // A blocking read of stdin may still be pending: do not wait for it.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tether: {e}");
            ExitCode::FAILURE
        }
    }
}
