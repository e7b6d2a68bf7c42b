//! The seed: the mission's five steps (connect, listen, send, close, see
//! failures) against a local echo server:
//!
//! ```sh
//! cargo run -p tether-ws-cli -- echo &          # serves ws://127.0.0.1:9001/
//! cargo run -p tether-ws --example seed         # or: ... --example seed -- ws://HOST:PORT/
//! ```

use tether::prelude::*;

#[tokio::main]
async fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    if let Err(e) = run(&url).await {
        // 5. failures are typed errors that say what went wrong
        eprintln!("Network error: {e}");
        std::process::exit(1);
    }
}

async fn run(url: &str) -> Result<(), tether::Error> {
    // 1. connect
    let mut ws = tether::connect(url).await?;
    // 3. send: text, then binary
    ws.send(Message::text("Hello!")).await?;
    ws.send(Message::binary(vec![0x89, b'P', b'N', b'G'])).await?;
    // 2. listen: the frame's opcode decides the type
    for _ in 0..2 {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => println!("echo: {text}"),
            Some(Ok(Message::Binary(bytes))) => println!("echo: {} bytes of binary", bytes.len()),
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    // 4. close with a code and a reason; the server's answer is readable after
    ws.close(CloseCode::NORMAL, "bye").await?;
    if let Some(frame) = ws.close_frame() {
        println!("closed: {} {}", frame.code, frame.reason);
    }
    Ok(())
}
