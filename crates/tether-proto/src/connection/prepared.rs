//! Sending a [`PreparedMessage`], a frame built once for many connections,
//! whole or (after another writer sent its start) what is left of it.

use bytes::Bytes;

use super::{Connection, State};
use crate::prepared::PreparedMessage;
use crate::{Role, SendError};

impl Connection {
    /// Queues a message framed once for many connections, without a copy
    /// of a large one. Server side only: a client masks each frame with a
    /// key of its own, so its frames cannot be shared. Compressed when
    /// permessage-deflate is on with `server_no_context_takeover` and the
    /// message reaches the threshold: the compressed frame is built once per
    /// window size and shared too (see [`PreparedMessage`]); otherwise sent
    /// plain, and this connection never holds a compressor for it.
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), SendError> {
        let frame = self.prepared_frame(message)?;
        self.output().push_encoded(frame);
        Ok(())
    }

    /// Queues what is left of `message`'s frame after its first `written`
    /// bytes, which reached the transport another way: a writer that sends
    /// prepared frames straight to the socket while this connection has
    /// nothing queued (a hub's drain), and found the socket full
    /// partway through one. The frame is the one
    /// [`send_prepared`](Self::send_prepared) would queue here; `written`
    /// at or past its end queues nothing. The caller sees to the order:
    /// nothing may have been queued since that start.
    pub fn send_prepared_rest(&mut self, message: &PreparedMessage, written: usize) -> Result<(), SendError> {
        let frame = self.prepared_frame(message)?;
        if written < frame.len() {
            self.output().push_encoded(frame.slice(written..));
        }
        Ok(())
    }

    /// The frame [`send_prepared`](Self::send_prepared) queues for `message`.
    fn prepared_frame(&self, message: &PreparedMessage) -> Result<Bytes, SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if self.role == Role::Client {
            return Err(SendError::PreparedOnClient);
        }
        let settings = self.deflate.as_ref().and_then(|d| d.shared_settings(message.payload_len()));
        let frame = settings.and_then(|(bits, level)| message.deflated(bits, level));
        Ok(frame.unwrap_or_else(|| message.frame().clone()))
    }
}
