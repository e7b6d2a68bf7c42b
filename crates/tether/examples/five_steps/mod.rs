//! The seed's five steps as one async function, shared by the native
//! example (`examples/seed.rs`), its browser build and `tests/backends.rs`:
//! only the entry point and where `show` puts the lines differ.

use tether::prelude::*;

/// Connects to `url`, sends "Hello!" and four bytes, shows the echoes,
/// closes with 1000 "bye" and shows the server's close frame.
pub async fn five_steps(url: &str, show: impl Fn(String)) -> Result<(), tether::Error> {
    // 1. connect
    let mut ws = tether::connect(url).await?;
    // 3. send: text, then binary
    ws.send(Message::text("Hello!")).await?;
    ws.send(Message::binary(vec![0x89, b'P', b'N', b'G'])).await?;
    // 2. listen: the frame's opcode decides the type
    for _ in 0..2 {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => show(format!("echo: {text}")),
            Some(Ok(Message::Binary(bytes))) => show(format!("echo: {} bytes of binary", bytes.len())),
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    // 4. close with a code and a reason; the server's answer is readable after
    ws.close(CloseCode::NORMAL, "bye").await?;
    if let Some(frame) = ws.close_frame() {
        show(format!("closed: {} {}", frame.code, frame.reason));
    }
    // 5. failures are typed errors, returned from any step above
    Ok(())
}
