//! The least a WebSocket server can do per connection setup, as the limit
//! of the setup row (the way `raw_tcp` is the limit of the echo rows): read
//! the request head, find the key, write a fixed 101 with its accept key
//! (`tether_proto::handshake::accept_value`, on the stack), read the
//! client's close frame, write a close back and drop the socket. No
//! timers, no limits, no shutdown, and none of the request checks RFC 6455
//! asks of a server (method, version, `Upgrade`, the key's form, the close
//! code): less than a conforming server does, so the limit it shows is, if
//! anything, too high. On the same current-thread tokio runtime as the
//! peers. It echoes nothing else, so it runs the setup row only.
//!
//! With `--fin-with-close` (`raw-setup-fin` in bench/compare.sh) the close
//! goes out with `MSG_MORE` and a `shutdown(SHUT_WR)` follows, so the close
//! frame and the FIN share one segment (as tether's server sends them on
//! Linux): one system call more, one packet fewer. With `--defer-accept`
//! as well (`raw-setup-defer`) its listener is set up as `tether::Server`
//! sets up its own (deferred accept, `TCP_NODELAY` copied from the
//! listener; see `accept_loop`): the limit for tether's server since it does.

use socket2::SockRef;
use tether_proto::handshake::{accept_value, ACCEPT_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

fn main() {
    let fin_with_close = tether_bench_peers::has_flag("--fin-with-close");
    tether_bench_peers::serve("ws", |listener| {
        tether_bench_peers::accept_loop(listener, move |tcp| async move {
            let _ = setup(tcp, fin_with_close).await;
        })
    })
}

async fn setup(mut tcp: TcpStream, fin_with_close: bool) -> std::io::Result<()> {
    let mut buf = [0u8; 2048];
    let mut len = 0;
    let end = loop {
        let n = tcp.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(());
        }
        len += n;
        if let Some(i) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if len == buf.len() {
            return Ok(());
        }
    };
    let Some(key) = find_key(&buf[..end]) else { return Ok(()) };
    let mut response = [0u8; 129];
    let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    response[..head.len()].copy_from_slice(head);
    let at = head.len() + ACCEPT_LEN;
    response[head.len()..at].copy_from_slice(&accept_value(key));
    response[at..at + 4].copy_from_slice(b"\r\n\r\n");
    tcp.write_all(&response[..at + 4]).await?;
    // The client's close: a masked frame of at most 125 bytes, so one read
    // of its 6-byte head and payload (after any bytes already read).
    let mut have = len - end;
    buf.copy_within(end..len, 0);
    while have < 6 || have < 6 + usize::from(buf[1] & 0x7f) {
        let n = tcp.read(&mut buf[have..256]).await?;
        if n == 0 {
            return Ok(());
        }
        have += n;
    }
    if buf[0] & 0x0f != 0x8 {
        return Ok(());
    }
    // Echo its status code (unmasked), or none if it sent none.
    let close = [0x88, 0x02, buf[6] ^ buf[2], buf[7] ^ buf[3]];
    let close = if buf[1] & 0x7f < 2 { &[0x88, 0x00][..] } else { &close[..] };
    if !fin_with_close {
        return tcp.write_all(close).await;
    }
    // The close frame held back (MSG_MORE), then the FIN: one segment carries both.
    let sent = tcp.async_io(Interest::WRITABLE, || SockRef::from(&tcp).send_with_flags(close, libc::MSG_MORE)).await?;
    if sent < close.len() {
        tcp.write_all(&close[sent..]).await?;
    }
    tcp.shutdown().await
}

/// The value of the `Sec-WebSocket-Key` header in a request head.
fn find_key(head: &[u8]) -> Option<&[u8]> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = line.split_at(colon);
        name.eq_ignore_ascii_case(b"sec-websocket-key").then(|| value[1..].trim_ascii())
    })
}
