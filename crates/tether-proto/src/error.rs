//! Errors: protocol violations by the peer, and misuse by the local application.

use crate::CloseCode;

/// The peer broke RFC 6455 or a configured limit. Each variant maps to the
/// close code sent to the peer before the connection is failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An RSV bit was set that no negotiated extension claims.
    #[error("reserved bits {0:#05b} set without a negotiated extension")]
    ReservedBits(u8),
    /// The opcode is reserved (0x3–0x7, 0xB–0xF).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A 64-bit payload length had its most significant bit set.
    #[error("invalid 64-bit payload length")]
    InvalidPayloadLength,
    /// A control frame carried more than 125 bytes.
    #[error("control frame of {0} bytes (at most 125 allowed)")]
    ControlFrameTooLong(u64),
    /// A control frame had FIN clear.
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A client sent an unmasked frame.
    #[error("unmasked frame from a client")]
    UnmaskedFrame,
    /// A server sent a masked frame.
    #[error("masked frame from a server")]
    MaskedFrame,
    /// A continuation frame arrived with no fragmented message in progress.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new data message began before the fragmented one ended.
    #[error("new data frame while a fragmented message is incomplete")]
    ExpectedContinuation,
    /// A text message or a close reason was not valid UTF-8.
    #[error("invalid UTF-8 in text")]
    InvalidUtf8,
    /// A compressed message could not be inflated.
    #[error("invalid permessage-deflate data")]
    InvalidCompressedData,
    /// A close frame had a one-byte payload.
    #[error("close frame with a 1-byte payload")]
    InvalidCloseFrame,
    /// A close frame carried a code that may not be sent.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A frame was larger than the configured limit.
    #[error("frame of {size} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The frame's payload length.
        size: u64,
        /// The configured maximum.
        max: usize,
    },
    /// A message was larger than the configured limit.
    #[error("message of at least {size} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// How large the message had grown.
        size: u64,
        /// The configured maximum.
        max: usize,
    },
}

impl ProtocolError {
    /// The close code sent to the peer for this violation.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// The local application asked for something the protocol does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The closing handshake has begun: no more data or pings may be sent.
    #[error("the connection is closing or closed")]
    Closed,
    /// `send_frame` was given a control opcode; control frames have their own methods.
    #[error("opcode {0:#x} is a control opcode: use send_ping, send_pong or send_close")]
    ControlOpcode(u8),
    /// A ping or pong payload exceeded 125 bytes.
    #[error("control frame payload of {0} bytes (at most 125 allowed)")]
    ControlFrameTooLong(usize),
    /// The close code may not be sent on the wire.
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// The close reason exceeded 123 bytes.
    #[error("close reason of {0} bytes (at most 123 allowed)")]
    CloseReasonTooLong(usize),
    /// A prepared (shared, unmasked) frame was sent on a client connection,
    /// whose frames must each be masked with a key of their own.
    #[error("prepared messages are for the server side: a client masks every frame")]
    PreparedOnClient,
}
