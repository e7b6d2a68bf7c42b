//! `tether connect --reconnect`: a session that survives server restarts;
//! in a room of `tether hub`, one that resumes where it left off.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tether::{CloseCode, ConnectionEvent, Message};
use tether_hub::client::{Received, Tracker, MAX_RESENDS};
use tether_hub::protocol;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::flags::BinaryMode;
use crate::output::print;

/// Whether `url` names a room of a hub (`/rooms/NAME`).
pub fn is_room(url: &str) -> bool {
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    path.split_once('/').is_some_and(|(_, path)| path.starts_with(tether_hub::ROOMS_PATH.trim_start_matches('/')))
}

/// `--reconnect`: the session survives server restarts (and goes to the
/// `also` URLs in turn); lines typed while disconnected wait in the outbox.
/// `room`: the server is a hub that speaks tether.hub.v1 (lines wait in the
/// tracker instead, until the hub confirms them): each reconnect
/// resumes after the last message seen, and lines are published with ids,
/// so that neither side sees anything twice; lines not acknowledged when
/// the link failed, or typed while it was down, are published on the next.
pub async fn run(
    builder: tether::ClientBuilder,
    also: &[String],
    room: bool,
    mode: BinaryMode,
) -> Result<ExitCode, String> {
    // In a room, lines wait in the tracker until the hub acknowledges them
    // (and go again after a reconnect): an outbox would send them twice.
    let outbox = if room { 0 } else { 1024 };
    let policy =
        tether::ReconnectPolicy::default().delays(Duration::from_millis(200), Duration::from_secs(10)).outbox(outbox);
    let tracker = Arc::new(Mutex::new(Tracker::new()));
    let mut reconnect = builder.reconnect(policy).urls(also.iter().cloned());
    if room {
        let (resume, resend) = (tracker.clone(), tracker.clone());
        // Lines the hub never answered (in flight when the link failed, or
        // typed while away) go first thing on each connection, in order.
        reconnect = reconnect.rewrite_url(move |url| lock(&resume).resume_url(url)).on_connect(move || {
            let mut tracker = lock(&resend);
            let again = tracker.unacknowledged();
            for id in tracker.take_abandoned() {
                eprintln!("unconfirmed, given up: {id} (no answer over {MAX_RESENDS} connections)");
            }
            again
        });
    }
    let mut client = reconnect.start();
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
    let publishes = tracker.clone();
    let input = tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        // Ids unique to this client: a line resent after a reconnect is
        // published once.
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let prefix = format!("{:x}-{:x}", std::process::id(), started.as_nanos());
        let mut n = 0u64;
        while let Ok(Some(line)) = lines.next_line().await {
            let message = Message::text(line);
            let message = if room {
                n += 1;
                lock(&publishes).publish(&format!("{prefix}-{n}"), &message)
            } else {
                message
            };
            match sender.send(message).await {
                Ok(()) => {}
                // Kept by the tracker: sent when the next connection opens.
                Err(tether::Error::Disconnected) if room => {}
                Err(_) => return false,
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
                    let message = if room {
                        match lock(&tracker).receive(message) {
                            Ok(Received::Message(payload, _)) => payload,
                            Ok(Received::Gap(reason)) => {
                                eprintln!("gap: what was published while away cannot be given ({reason})");
                                continue;
                            }
                            Ok(Received::Refused { reason, .. }) => {
                                eprintln!("refused by the hub: {reason}");
                                continue;
                            }
                            Ok(_) => continue,
                            Err(e) => {
                                eprintln!("not a {} message: {e}", protocol::PROTOCOL);
                                continue;
                            }
                        }
                    } else {
                        message
                    };
                    if let Err(e) = print(&mut stdout, &message, mode) {
                        if e.kind() == std::io::ErrorKind::BrokenPipe {
                            return Ok(ExitCode::SUCCESS);
                        }
                        return Err(e.to_string());
                    }
                }
                None => {
                    let unanswered = lock(&tracker).unanswered();
                    if unanswered > 0 {
                        eprintln!("{unanswered} line(s) sent to the room were not confirmed by the hub");
                    }
                    return Ok(ExitCode::SUCCESS);
                }
            },
            // End of input: close cleanly; the stream then ends.
            _ = stdin_done => {
                input = None;
                client.close(CloseCode::NORMAL, "").await;
            }
        }
    }
}

fn lock(tracker: &Mutex<Tracker>) -> std::sync::MutexGuard<'_, Tracker> {
    tracker.lock().unwrap_or_else(|e| e.into_inner())
}
