//! Raw TCP rooms: the physical limit of fan-out on this machine, as
//! `raw_tcp` is for echo. It answers the opening handshake (path
//! `/rooms/NAME`, `Sec-WebSocket-Key`, nothing else checked), then does no
//! WebSocket work beyond turning each message a member sends into one
//! server frame (header and unmasking, once per message) and writing the
//! frames of each read to every member of the room: one `write` per member
//! per read (several messages at once when the server is behind, as
//! `tether hub` writes what queued up at once), or, when a member's socket
//! does not take it all, appended to the member's pending bytes (written at
//! once when it drains). No queues of messages, no locks, no limits, no
//! control frames but the closing one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One member: its socket (the room writes to it) and what it did not take yet.
struct Member {
    tcp: TcpStream,
    pending: RefCell<Vec<u8>>,
    /// The member's task, waiting for `pending` to fill.
    waiting: RefCell<Option<Waker>>,
}

type Room = Rc<RefCell<Vec<Rc<Member>>>>;
type Rooms = Rc<RefCell<HashMap<String, Room>>>;

fn main() {
    tether_bench_peers::serve("ws", |listener| async move {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let rooms: Rooms = Rc::default();
                loop {
                    let Ok((tcp, _)) = listener.accept().await else { continue };
                    let _ = tcp.set_nodelay(true);
                    tokio::task::spawn_local(member(tcp, rooms.clone()));
                }
            })
            .await
    })
}

/// Runs one connection: handshake, join, then read frames and write out
/// what is pending for it, until it closes.
async fn member(mut tcp: TcpStream, rooms: Rooms) {
    let Ok((name, leftover)) = handshake(&mut tcp).await else { return };
    let room = rooms.borrow_mut().entry(name).or_default().clone();
    let me = Rc::new(Member { tcp, pending: RefCell::default(), waiting: RefCell::default() });
    room.borrow_mut().push(me.clone());
    let _ = run(&me, &room, leftover).await;
    room.borrow_mut().retain(|m| !Rc::ptr_eq(m, &me));
}

async fn run(me: &Member, room: &Room, mut buf: Vec<u8>) -> io::Result<()> {
    let mut out = Vec::new();
    loop {
        // Every whole message of this read goes out at once: one write per
        // member per read, however many messages the read held.
        out.clear();
        let mut closing = None;
        while let Some((frame, used)) = server_frame(&buf) {
            buf.drain(..used);
            match frame {
                Frame::Data(frame) => out.extend_from_slice(&frame),
                Frame::Close(frame) => {
                    closing = Some(frame);
                    break;
                }
            }
        }
        if !out.is_empty() {
            publish(room, &out);
        }
        if let Some(frame) = closing {
            write_to(me, &frame);
            return flush(me).await;
        }
        let writing = !me.pending.borrow().is_empty();
        tokio::select! {
            ready = me.tcp.readable() => {
                ready?;
                buf.reserve(64 * 1024);
                match me.tcp.try_read_buf(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            ready = me.tcp.writable(), if writing => {
                ready?;
                write_pending(me)?;
            }
            () = pending(me), if !writing => {}
        }
    }
}

/// The frame to every member of the room: written now where the socket
/// takes it, pending where it does not.
fn publish(room: &Room, frame: &[u8]) {
    for member in room.borrow().iter() {
        write_to(member, frame);
    }
}

fn write_to(member: &Member, frame: &[u8]) {
    let mut pending = member.pending.borrow_mut();
    if !pending.is_empty() {
        pending.extend_from_slice(frame);
        return;
    }
    let written = match member.tcp.try_write(frame) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        // The member's own task sees the error when it reads.
        Err(_) => return,
    };
    if written < frame.len() {
        pending.extend_from_slice(&frame[written..]);
        if let Some(waker) = member.waiting.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// Ready once the member has bytes pending.
async fn pending(me: &Member) {
    poll_fn(|cx| {
        if me.pending.borrow().is_empty() {
            *me.waiting.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await
}

fn write_pending(me: &Member) -> io::Result<()> {
    let mut pending = me.pending.borrow_mut();
    match me.tcp.try_write(&pending) {
        Ok(n) => {
            pending.drain(..n);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}

async fn flush(me: &Member) -> io::Result<()> {
    while !me.pending.borrow().is_empty() {
        me.tcp.writable().await?;
        write_pending(me)?;
    }
    Ok(())
}

enum Frame {
    /// A data frame as the server sends it (unmasked).
    Data(Vec<u8>),
    /// The closing frame to answer with.
    Close(Vec<u8>),
}

/// The first whole client frame of `buf` as a server frame, and its length
/// in `buf`. Fragmented messages pass frame by frame, as they came.
fn server_frame(buf: &[u8]) -> Option<(Frame, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, mut at) = match b1 & 0x7f {
        126 => (u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    let mask: [u8; 4] = if b1 & 0x80 != 0 {
        at += 4;
        buf.get(at - 4..at)?.try_into().ok()?
    } else {
        [0; 4]
    };
    let payload = buf.get(at..at.checked_add(len)?)?;
    let mut frame = Vec::with_capacity(10 + len);
    frame.push(b0);
    match len {
        0..=125 => frame.push(len as u8),
        126..=0xffff => {
            frame.push(126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            frame.push(127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    let frame = if b0 & 0x0f == 0x8 { Frame::Close(frame) } else { Frame::Data(frame) };
    Some((frame, at + len))
}

/// Reads the request head; answers 101. Returns the room's name and the
/// bytes read past the head.
async fn handshake(tcp: &mut TcpStream) -> io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 * 1024 || tcp.read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::InvalidData.into());
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let path = head.split(' ').nth(1).unwrap_or_default();
    let room = path.strip_prefix("/rooms/").unwrap_or_default().to_owned();
    let key = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key").then(|| value.trim())
        })
        .ok_or(io::ErrorKind::InvalidData)?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        tether_proto::handshake::accept_key(key.as_bytes())
    );
    tcp.write_all(response.as_bytes()).await?;
    Ok((room, buf.split_off(end)))
}
