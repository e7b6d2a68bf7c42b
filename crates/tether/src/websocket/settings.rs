//! The settings a [`WebSocket`](super::WebSocket) keeps after its start,
//! shared behind one pointer by the connections set up alike.

use std::cell::RefCell;
use std::sync::Arc;

use tether_proto::{Settings, TimerConfig};

use crate::{Backpressure, Config};

/// What the IO layer reads from the [`Config`] after the start (the
/// protocol's part is in [`Settings`]).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Local {
    /// [`Config::write_buffer_size`].
    pub(super) write_buffer_size: usize,
    /// [`Config::backpressure`].
    pub(super) backpressure: Backpressure,
}

thread_local! {
    /// The settings this thread last handed out: a server's connections
    /// share one config, so each takes two pointers to the same settings
    /// instead of its own copy of them (an idle connection is mostly state).
    static LAST: RefCell<Option<(Arc<Settings>, Arc<Local>)>> = const { RefCell::new(None) };
}

/// The settings of `config`, shared with the connections of this thread
/// that were set up with the same ones.
pub(super) fn shared(config: &Config) -> (Arc<Settings>, Arc<Local>) {
    let timers = TimerConfig::default()
        .keepalive(config.ping_interval, config.ping_timeout)
        .idle_timeout(config.idle_timeout)
        .close_timeout(Some(config.close_timeout));
    let settings = Settings::new(config.protocol, timers);
    let local = Local { write_buffer_size: config.write_buffer_size, backpressure: config.backpressure };
    LAST.with_borrow_mut(|last| match last {
        Some((s, l)) if **s == settings && **l == local => (s.clone(), l.clone()),
        _ => {
            let made = (Arc::new(settings), Arc::new(local));
            *last = Some(made.clone());
            made
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn connections_set_up_alike_share_their_settings() {
        let (a, la) = shared(&Config::default());
        let (b, lb) = shared(&Config::default());
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&la, &lb), "one copy for both");
        let other = Config::default().keepalive(Some(Duration::from_secs(7)), Duration::from_secs(3));
        let (c, _) = shared(&other);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.timers.ping_interval, Some(Duration::from_secs(7)));
        assert_eq!(c.timers.close_timeout, Some(Config::default().close_timeout));
        let (d, ld) = shared(&Config::default().write_buffer_size(1));
        assert!(!Arc::ptr_eq(&c, &d), "a change in either part makes new settings");
        assert_eq!(ld.write_buffer_size, 1);
    }
}
