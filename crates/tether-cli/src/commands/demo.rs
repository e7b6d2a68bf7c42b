//! `tether demo`: the mission's five steps against an embedded echo server.

use std::process::ExitCode;

use tether::prelude::*;
use tokio::net::TcpListener;

use crate::echo_server;
use crate::flags::DemoArgs;
use crate::output::binary_preview;

/// Connects (to `args.url` or an embedded server), sends, prints the echoes, closes.
pub async fn run(args: DemoArgs) -> Result<ExitCode, String> {
    let url = match args.url {
        Some(url) => url,
        None => {
            let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            tokio::spawn(echo_server::embedded(listener, Default::default()));
            format!("ws://{addr}/")
        }
    };
    let fail = |e: tether::Error| e.to_string();
    // 1. connect
    let mut ws = tether::connect(&url).await.map_err(|e| format!("cannot connect to {url}: {e}"))?;
    eprintln!("connected to {url}");
    // 3. send, text then binary (the first bytes of a PNG)
    ws.send(Message::text("Hello!")).await.map_err(fail)?;
    ws.send(Message::binary(&b"\x89PNG\r\n\x1a\n"[..])).await.map_err(fail)?;
    // 2. listen: the opcode decides the type
    for _ in 0..2 {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => println!("echo: {text}"),
            Some(Ok(Message::Binary(bytes))) => println!("echo: {}", binary_preview(&bytes)),
            Some(Err(e)) => return Err(format!("Network error: {e}")),
            None => return Err("the server closed the connection".into()),
        }
    }
    // 4. close with a code and a reason; both sides can read them
    ws.close(CloseCode::NORMAL, "bye").await.map_err(fail)?;
    match ws.close_frame() {
        Some(frame) => println!("closed: {} {}", frame.code, frame.reason),
        None => println!("closed: no status code"),
    }
    Ok(ExitCode::SUCCESS)
}
