//! `tether connect --reconnect`: a session that survives server restarts.

use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use tether::{CloseCode, ConnectionEvent, Message};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::flags::BinaryMode;
use crate::output::print;

/// `--reconnect`: the session survives server restarts; lines typed while
/// disconnected wait in the outbox.
pub async fn run(builder: tether::ClientBuilder, mode: BinaryMode) -> Result<ExitCode, String> {
    let policy =
        tether::ReconnectPolicy::default().delays(Duration::from_millis(200), Duration::from_secs(10)).outbox(1024);
    let mut client = builder.reconnect(policy).start();
    if let Some(mut events) = client.events() {
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    ConnectionEvent::Connecting { attempt: 0 } => eprintln!("connecting"),
                    ConnectionEvent::Connecting { .. } => {}
                    ConnectionEvent::Open => eprintln!("open"),
                    ConnectionEvent::Reconnecting { attempt, delay, reason } => {
                        eprintln!("reconnecting (attempt {attempt} in {delay:.1?}): {reason}")
                    }
                    ConnectionEvent::Closed { reason: None } => eprintln!("closed"),
                    ConnectionEvent::Closed { reason: Some(why) } => eprintln!("closed: {why}"),
                    _ => {}
                }
            }
        });
    }
    let sender = client.sender();
    let input = tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if sender.send(Message::text(line)).await.is_err() {
                return false;
            }
        }
        true
    });
    let mut stdout = std::io::stdout().lock();
    let mut input = Some(input);
    loop {
        let stdin_done = async {
            match input.as_mut() {
                Some(task) => task.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = client.next() => match message {
                Some(message) => {
                    if let Err(e) = print(&mut stdout, &message, mode) {
                        if e.kind() == std::io::ErrorKind::BrokenPipe {
                            return Ok(ExitCode::SUCCESS);
                        }
                        return Err(e.to_string());
                    }
                }
                None => return Ok(ExitCode::SUCCESS),
            },
            // End of input: close cleanly; the stream then ends.
            _ = stdin_done => {
                input = None;
                client.close(CloseCode::NORMAL, "").await;
            }
        }
    }
}
