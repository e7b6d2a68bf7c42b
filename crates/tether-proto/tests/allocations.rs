//! What reading a message allocates: nothing beyond the buffer its bytes
//! arrived in. Counted by dhat, this test binary's global allocator.

#![cfg(not(miri))]

use bytes::BytesMut;
use tether_proto::{Config, Connection, Event, Message, Role};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// One masked text frame from a client, as it arrives on the server.
fn frame(text: &str) -> Vec<u8> {
    let mut client = Connection::new(Role::Client, Config::default());
    client.send(Message::text(text)).unwrap();
    let mut out = Vec::new();
    let q = client.output();
    while !q.is_empty() {
        let chunk = q.first_chunk().to_vec();
        q.advance(chunk.len());
        out.extend_from_slice(&chunk);
    }
    out
}

/// Blocks allocated while `f` runs.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = dhat::HeapStats::get().total_blocks;
    let out = f();
    (dhat::HeapStats::get().total_blocks - before, out)
}

// The one test of this binary. dhat counts every thread's allocations,
// the test harness's own too, so the bound leaves room for a stray one.
#[test]
fn a_message_is_read_without_an_allocation_of_its_own() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut server = Connection::new(Role::Server, Config::default());
    let text = "twenty bytes of text";
    let wire = frame(text);

    // A small read is copied out of the thread's buffer into one of its
    // own, just its size: the payload takes that buffer over.
    const READS: u64 = 1000;
    let mut blocks = 0;
    for _ in 0..READS {
        let mut input = BytesMut::from(&wire[..]);
        let (n, event) = allocations(|| server.read_event(&mut input));
        blocks += n;
        match event {
            Ok(Some(Event::Message(message))) => assert_eq!(message.as_bytes(), text.as_bytes()),
            other => panic!("expected the message, got {other:?}"),
        }
        assert!(input.is_empty());
    }
    assert!(blocks < READS / 10, "{blocks} allocations in {READS} reads of a frame that fills its buffer");

    // A buffer with room to spare keeps its room: the payload is split off.
    let mut input = BytesMut::with_capacity(4096);
    input.extend_from_slice(&wire);
    input.extend_from_slice(&wire);
    for _ in 0..2 {
        let event = server.read_event(&mut input);
        assert!(matches!(event, Ok(Some(Event::Message(_)))), "{event:?}");
    }
    assert_eq!(input.capacity(), 4096 - 2 * wire.len(), "the room left stays with the buffer");
}
