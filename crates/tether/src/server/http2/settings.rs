//! [`Http2Settings`]: how a server speaks HTTP/2 (streams at once and
//! windows), and the h2 server builder they make.

use crate::Config;

/// How a server speaks HTTP/2.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Http2Settings {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub(crate) max_streams: u32,
    /// `SETTINGS_INITIAL_WINDOW_SIZE`: each stream's receive window.
    pub(crate) stream_window: u32,
}

impl Http2Settings {
    /// The connection's receive window: room for every stream's window, so
    /// that stalled streams cannot stall the others (within the largest
    /// window HTTP/2 allows).
    pub(crate) fn connection_window(&self) -> u32 {
        const MAX_WINDOW: u64 = (1 << 31) - 1;
        (u64::from(self.max_streams) * u64::from(self.stream_window)).clamp(u64::from(self.stream_window), MAX_WINDOW)
            as u32
    }

    /// The h2 server builder with these settings, extended CONNECT on.
    pub(super) fn builder(&self, config: &Config) -> h2::server::Builder {
        let mut builder = h2::server::Builder::new();
        builder
            .initial_window_size(self.stream_window)
            .initial_connection_window_size(self.connection_window())
            .max_concurrent_streams(self.max_streams)
            .max_frame_size(crate::http2::MAX_FRAME_SIZE)
            // A request's head has the same bound as over HTTP/1.1.
            .max_header_list_size(u32::try_from(config.max_head_size).unwrap_or(u32::MAX))
            .enable_connect_protocol();
        builder
    }
}

#[cfg(test)]
mod tests {
    use crate::server::http2::settings::Http2Settings;

    #[test]
    fn the_connection_window_holds_every_stream_window_within_http2s_bound() {
        let window = |max_streams, stream_window| Http2Settings { max_streams, stream_window }.connection_window();
        assert_eq!(window(100, 256 * 1024), 100 * 256 * 1024);
        assert_eq!(window(1, 65_535), 65_535);
        assert_eq!(window(10_000, 1 << 20), (1 << 31) - 1);
    }
}
