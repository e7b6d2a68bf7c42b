//! Plain HTTP on the hub's port: the room chat page at `/`, the metrics at
//! `/metrics`, and `/rooms/NAME/info`, a room's member count and position
//! as JSON (what the page polls).

use bytes::Bytes;
use tether_hub::protocol::epoch_text;
use tether_hub::{Hub, Join, ROOMS_PATH};

use super::metrics::{self, Connections};
use crate::pages::{self, response};

/// Answers one plain HTTP request.
pub fn respond(hub: &Hub, connections: &Connections, request: &http::Request<()>) -> http::Response<Bytes> {
    let path = request.uri().path();
    match path {
        "/" | "/index.html" => pages::html(&pages::HUB),
        "/metrics" => {
            let text = metrics::render(&hub.stats(), connections);
            response(200, "text/plain; version=0.0.4; charset=utf-8", text.into())
        }
        _ => match path.strip_suffix("/info").map(|room| Join::parse(room, None, None)) {
            Some(Ok(join)) => response(200, "application/json", room_info(hub, &join.room).into()),
            Some(Err(reason)) => response(400, "text/plain; charset=utf-8", format!("{reason}\n").into()),
            None if path.starts_with(ROOMS_PATH) => response(
                426,
                "text/plain; charset=utf-8",
                Bytes::from_static(b"a room is joined with a WebSocket upgrade\n"),
            ),
            None => pages::not_found(),
        },
    }
}

/// `{"room":"lobby","members":3,"here":2,"epoch":"...","offset":7}`:
/// `members` on every hub sharing the backplane (as last counted, this
/// hub's as now), `here` on this hub; no epoch and offset for a room the
/// hub does not hold. Room names need no escaping ([`Join::parse`] allows
/// `A-Z a-z 0-9 - _ . :` only).
fn room_info(hub: &Hub, room: &str) -> String {
    let members = hub.members_everywhere(room);
    let here = hub.member_count(room);
    let counts = format!("{{\"room\":\"{room}\",\"members\":{members},\"here\":{here}");
    match hub.position(room) {
        Some(at) => format!("{counts},\"epoch\":\"{}\",\"offset\":{}}}\n", epoch_text(at.epoch), at.offset),
        None => format!("{counts}}}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(hub: &Hub, path: &str) -> http::Response<Bytes> {
        respond(hub, &Connections::default(), &http::Request::get(path).body(()).unwrap())
    }

    #[tokio::test]
    async fn page_metrics_and_room_info() {
        let hub = Hub::default();
        let page = get(&hub, "/");
        assert_eq!(page.status(), 200);
        assert!(std::str::from_utf8(page.body()).unwrap().contains("<title>WebSocket (Rooms)</title>"));
        hub.publish("lobby", "hello").await;
        let metrics = get(&hub, "/metrics");
        assert!(std::str::from_utf8(metrics.body()).unwrap().contains("tether_hub_messages_published_total 1\n"));
        let info = get(&hub, "/rooms/lobby/info");
        let info = std::str::from_utf8(info.body()).unwrap();
        assert!(
            info.starts_with("{\"room\":\"lobby\",\"members\":0,\"here\":0,\"epoch\":\"")
                && info.ends_with(",\"offset\":1}\n")
        );
        assert_eq!(get(&hub, "/rooms/empty/info").body(), &b"{\"room\":\"empty\",\"members\":0,\"here\":0}\n"[..]);
        assert_eq!(get(&hub, "/rooms/a%20b/info").status(), 400);
        assert_eq!(get(&hub, "/rooms/lobby").status(), 426);
        assert_eq!(get(&hub, "/favicon.ico").status(), 404);
    }
}
