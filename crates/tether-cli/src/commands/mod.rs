//! The commands, one module each, and the dispatch from the parsed command
//! line to the one chosen.

mod bench;
mod chat;
mod connect;
mod demo;
mod echo;
mod hub;

use std::process::ExitCode;

use crate::flags::Command;

/// Runs the chosen command; the exit code says how it ended.
pub async fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Echo(args) => echo::run(args).await,
        Command::Hub(args) => hub::run(args).await,
        Command::Connect(args) => connect::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Chat(args) => chat::run(args).await,
        Command::Demo(args) => demo::run(args).await,
    }
}
