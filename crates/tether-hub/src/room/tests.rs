//! The room's tests: one shared frame per message, members' slots,
//! publish ids and where drains run.

use super::*;
use futures_util::FutureExt;

fn member() -> Arc<Member> {
    Arc::new(Member { queue: MemberQueue::new(1 << 20) })
}

fn room(history: usize) -> Room {
    Room::new(history, 1 << 20)
}

/// Every member at rest holds its `Arc<Member>`: with the `Arc`'s two
/// counts, at most 80 bytes, a size class of jemalloc (the `tether`
/// binary's allocator; 160 before the queue was packed, 128 before the
/// member's id, user, framing and room name went to its session).
#[test]
fn a_member_fits_its_size_class() {
    let size = std::mem::size_of::<Member>() + 2 * std::mem::size_of::<usize>();
    assert!(size <= 80, "{size} bytes");
}

async fn received(member: &Member) -> Vec<Vec<u8>> {
    let batch = member.queue.next_batch().await.unwrap();
    batch.iter().map(|f| f.frame.frame()[2..].to_vec()).collect()
}

#[tokio::test]
async fn every_member_gets_one_shared_frame_per_message() {
    let mut room = room(10);
    let (a, b) = (member(), member());
    room.join(a.clone(), Framing::Raw, None);
    room.join(b.clone(), Framing::Raw, None);
    let (at, fan) = room.publish(Message::text("hi"), None);
    assert_eq!((at.offset, fan.delivered), (1, 2));
    let batch_a = a.queue.next_batch().await.unwrap();
    let batch_b = b.queue.next_batch().await.unwrap();
    assert_eq!(batch_a[0].frame.frame().as_ptr(), batch_b[0].frame.frame().as_ptr(), "the same bytes, not a copy");
}

#[tokio::test]
async fn a_resuming_member_gets_exactly_what_it_missed() {
    let mut room = room(3);
    for text in ["1", "2", "3", "4", "5"] {
        room.publish(Message::text(text), None);
    }
    let epoch = room.position().epoch;
    let back = member();
    room.join(back.clone(), Framing::Raw, Some(Position { epoch, offset: 3 }));
    room.publish(Message::text("6"), None);
    assert_eq!(received(&back).await, [b"4".to_vec(), b"5".to_vec(), b"6".to_vec()]);

    let late = member();
    room.join(late.clone(), Framing::V1, Some(Position { epoch, offset: 1 }));
    let gap = received(&late).await;
    assert!(String::from_utf8_lossy(&gap[0]).contains("\"history trimmed\""), "{gap:?}");

    let other = member();
    room.join(other.clone(), Framing::V1, Some(Position { epoch: epoch ^ 1, offset: 6 }));
    assert!(String::from_utf8_lossy(&received(&other).await[0]).contains("\"epoch changed\""));

    let current = member();
    room.join(current.clone(), Framing::Raw, Some(room.position()));
    room.publish(Message::text("7"), None);
    assert_eq!(received(&current).await, [b"7".to_vec()], "nothing missed, nothing repeated");
}

/// Leaving swaps the last member of its list into the leaver's place:
/// every member's slot stays its place in its list (so the hint is
/// always right and leaving never searches), and the members left, of
/// either framing, get every message.
#[test]
fn members_leave_in_any_order_and_keep_their_slots() {
    let mut room = room(0);
    let framing = |id: usize| if id.is_multiple_of(3) { Framing::V1 } else { Framing::Raw };
    let members: Vec<_> = (0..8).map(|_| member()).collect();
    for (id, m) in members.iter().enumerate() {
        room.join(m.clone(), framing(id), None);
    }
    let in_place = |room: &Room| {
        let list = |l: &Vec<Arc<Member>>| l.iter().enumerate().all(|(i, m)| m.queue.slot() as usize == i);
        room.members.iter().all(list)
    };
    // Joining afresh, a `tether.hub.v1` member is told the position.
    for (id, m) in members.iter().enumerate().filter(|(id, _)| framing(*id) == Framing::V1) {
        assert!(m.queue.next_batch().now_or_never().is_some(), "member {id}");
    }
    for gone in [0, 7, 3, 4] {
        assert!(!room.leave(&members[gone], framing(gone)));
        assert!(in_place(&room));
    }
    assert!(!room.leave(&members[3], framing(3)), "a second leave changes nothing");
    assert_eq!(room.member_count(), 4);
    let (_, fan) = room.publish(Message::text("x"), None);
    assert_eq!(fan.delivered, 4);
    for (id, m) in members.iter().enumerate() {
        let got = m.queue.next_batch().now_or_never().is_some();
        assert_eq!(got, [1, 2, 5, 6].contains(&id), "member {id}");
    }
    for gone in [2, 6, 1] {
        assert!(!room.leave(&members[gone], framing(gone)));
        assert!(in_place(&room));
    }
    assert!(room.leave(&members[5], framing(5)), "the last one out");
}

/// A room's drains run on its first parking member's runtime until the
/// room empties: members served later on another runtime (the first
/// one shut down) may park again.
#[test]
fn an_emptied_room_lets_its_next_members_choose_the_drain_runtime() {
    let runtime = || tokio::runtime::Builder::new_current_thread().build().unwrap();
    let (first, second) = (runtime(), runtime());
    let mut room = room(0);
    let m = member();
    assert!(room.drain_on(first.handle().clone()));
    room.join(m.clone(), Framing::Raw, None);
    assert!(!room.drain_on(second.handle().clone()), "another runtime while the first member stays");
    assert!(room.leave(&m, Framing::Raw));
    assert!(room.drain_on(second.handle().clone()));
    assert!(!room.drain_on(first.handle().clone()));
}

#[test]
fn publish_ids_are_remembered() {
    let mut room = room(10);
    let (at, _) = room.publish(Message::text("x"), Some("c1-1"));
    assert_eq!(room.seen("c1-1"), Some(at.offset));
    assert_eq!(room.seen("c1-2"), None);
}
