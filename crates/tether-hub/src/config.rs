//! [`HubConfig`] and [`MemberLimits`]: how much history a room keeps,
//! how members' connections compress, and what a member may queue, send
//! and publish before it is dropped.

use std::time::Duration;

use tether::{CloseCode, DeflateConfig};

use crate::access::{PublishAttempt, PublishHook, Refusal};

/// Settings of a [`Hub`](crate::Hub).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HubConfig {
    /// Messages kept per room for members that resume (default 1,000).
    pub history: usize,
    /// A room with no member and no publish for this long is forgotten,
    /// history included (default 10 minutes).
    pub room_ttl: Duration,
    /// The limits of each member.
    pub member: MemberLimits,
    /// permessage-deflate for members' connections, in place of the
    /// server's setting ([`Hub::decide`](crate::Hub::decide) applies it);
    /// `None` turns compression off. The default ([`HubConfig::default_deflate`])
    /// adds `server_no_context_takeover`, so that members with the same
    /// window share one compressed frame per message and none holds a
    /// compressor, and `client_no_context_takeover`, so that the hub drops
    /// a member's decompressor after each message it publishes.
    pub deflate: Option<DeflateConfig>,
    /// Asked about every message a member publishes, before it is ordered
    /// (default: none, every publish within the limits goes through).
    /// Application publishes ([`Hub::publish`](crate::Hub::publish)) are
    /// not asked: the application checks its own.
    pub publish_hook: Option<PublishHook>,
    /// Rooms made lossy when they are made (default none): a name, or a
    /// prefix ending in `*` (`prices:*`). Unlike
    /// [`Hub::set_lossy`](crate::Hub::set_lossy), this holds for a room
    /// forgotten after [`room_ttl`](Self::room_ttl) and made again.
    pub lossy_rooms: Vec<String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            history: 1000,
            room_ttl: Duration::from_secs(600),
            member: MemberLimits::default(),
            deflate: Some(Self::default_deflate()),
            publish_hook: None,
            lossy_rooms: Vec::new(),
        }
    }
}

impl HubConfig {
    /// The hub's permessage-deflate settings: tether's defaults (level 6,
    /// messages from 1 KiB) with no context takeover on either side.
    pub fn default_deflate() -> DeflateConfig {
        DeflateConfig::default().no_context_takeover(true).request_peer_no_context_takeover(true)
    }

    /// Sets (or turns off) members' permessage-deflate.
    pub fn deflate(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.deflate = deflate;
        self
    }

    /// Sets the publish hook: `decide` allows (`Ok`) or refuses each
    /// member's publish, knowing the room, the member and the message.
    ///
    /// ```
    /// use tether_hub::{HubConfig, Refusal};
    /// let config = HubConfig::default().on_publish(|attempt| {
    ///     if attempt.room.starts_with("announcements") && attempt.user != Some("admin") {
    ///         return Err(Refusal::new("only admins post announcements"));
    ///     }
    ///     Ok(())
    /// });
    /// ```
    pub fn on_publish(
        mut self,
        decide: impl Fn(&PublishAttempt<'_>) -> Result<(), Refusal> + Send + Sync + 'static,
    ) -> Self {
        self.publish_hook = Some(PublishHook::new(decide));
        self
    }

    /// Sets the history kept per room.
    pub fn history(mut self, messages: usize) -> Self {
        self.history = messages;
        self
    }

    /// Sets how long an abandoned room is kept.
    pub fn room_ttl(mut self, ttl: Duration) -> Self {
        self.room_ttl = ttl;
        self
    }

    /// Sets the member limits.
    pub fn member(mut self, limits: MemberLimits) -> Self {
        self.member = limits;
        self
    }

    /// Makes every room named `pattern` (or, ending in `*`, starting with
    /// what comes before it) lossy from the moment it is made.
    pub fn lossy_room(mut self, pattern: impl Into<String>) -> Self {
        self.lossy_rooms.push(pattern.into());
        self
    }

    /// Whether room `name` starts lossy.
    pub(crate) fn is_lossy(&self, name: &str) -> bool {
        self.lossy_rooms.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == pattern,
        })
    }
}

/// What one member may hold and do. A slow or flooding member never slows
/// its room nor grows memory without bound: over a limit it is closed (or,
/// in a lossy room, loses its oldest undelivered messages).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MemberLimits {
    /// Bytes of frames waiting for one member (default 1 MiB). The frames
    /// are shared with the other members, so this bounds what the member
    /// pins, not a copy of its own. At most `u32::MAX` (4 GiB less a
    /// byte): a larger bound is taken as that.
    pub queue_bytes: usize,
    /// The close code for a member whose queue overflows (default 1013,
    /// "try again later"; 1008 is the other common choice).
    pub overflow_code: CloseCode,
    /// The largest message a member may publish (default 64 KiB); larger:
    /// closed with [`too_big_code`](Self::too_big_code).
    pub max_message: usize,
    /// The close code for a message over `max_message` (default 1009).
    /// With 1009, a member accepted by [`Hub::decide`](crate::Hub::decide)
    /// has the message refused as its frame header arrives; with another
    /// code it is read whole, then refused.
    pub too_big_code: CloseCode,
    /// Messages per second a member may publish, with a burst of as many
    /// (default none); faster: closed with [`rate_code`](Self::rate_code).
    pub publish_rate: Option<u32>,
    /// The close code for a member over its publish rate (default 1008).
    pub rate_code: CloseCode,
}

impl Default for MemberLimits {
    fn default() -> Self {
        MemberLimits {
            queue_bytes: 1 << 20,
            overflow_code: CloseCode::TRY_AGAIN_LATER,
            max_message: 64 << 10,
            too_big_code: CloseCode::MESSAGE_TOO_BIG,
            publish_rate: None,
            rate_code: CloseCode::POLICY_VIOLATION,
        }
    }
}

impl MemberLimits {
    /// Sets the queue bound in bytes and the close code past it.
    pub fn queue(mut self, bytes: usize, overflow_code: CloseCode) -> Self {
        self.queue_bytes = bytes;
        self.overflow_code = overflow_code;
        self
    }

    /// Sets the largest message a member may publish.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// Sets the publish rate (messages per second, burst of as many).
    pub fn publish_rate(mut self, per_second: Option<u32>) -> Self {
        self.publish_rate = per_second;
        self
    }

    /// Sets the close codes for a message too big and for publishing too
    /// fast.
    pub fn refusal_codes(mut self, too_big: CloseCode, too_fast: CloseCode) -> Self {
        self.too_big_code = too_big;
        self.rate_code = too_fast;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_rooms_by_name_or_prefix() {
        let config = HubConfig::default().lossy_room("prices:*").lossy_room("ticker");
        assert!(config.is_lossy("prices:eur") && config.is_lossy("prices:") && config.is_lossy("ticker"));
        assert!(!config.is_lossy("ticker2") && !config.is_lossy("prices") && !config.is_lossy("chat"));
        assert!(!HubConfig::default().is_lossy("any"));
    }
}
