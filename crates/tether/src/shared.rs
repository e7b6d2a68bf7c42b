//! Methods both backends define alike, as macros expanded in each: the
//! common `Config` setters and the subprotocol offers of `ClientBuilder`,
//! so their names, documentation and behaviour cannot drift apart.

/// The `Config` setters of both backends (each `Config` has the fields).
macro_rules! common_config_setters {
    () => {
        /// Sets the largest message accepted.
        pub fn max_message_size(mut self, bytes: usize) -> Self {
            self.protocol.max_message_size = bytes;
            self
        }

        /// Sets the send buffer bound.
        pub fn write_buffer_size(mut self, bytes: usize) -> Self {
            self.write_buffer_size = bytes;
            self
        }

        /// Sets the connect timeout.
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.connect_timeout = timeout;
            self
        }

        /// Sets the closing handshake timeout.
        pub fn close_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.close_timeout = timeout;
            self
        }
    };
}

/// `ClientBuilder::protocol` and `protocols` (each builder has `protocols: Vec<String>`).
macro_rules! subprotocol_offers {
    () => {
        /// Offers a subprotocol; call again to offer more, in order of preference.
        pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
            self.protocols.push(protocol.into());
            self
        }

        /// Offers these subprotocols, after any offered already.
        pub fn protocols<I>(mut self, protocols: I) -> Self
        where
            I: IntoIterator,
            I::Item: Into<String>,
        {
            self.protocols.extend(protocols.into_iter().map(Into::into));
            self
        }
    };
}
