//! The error codes of the WebSocket contract (`{"type":"error","code":...}`). Each error type in
//! livedash maps its variants to one of these, so a code never comes from matching message text.

use serde::Serialize;

/// A machine-readable error class, as sent to publishers and viewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The client broke the protocol (e.g. the first message was not `start`).
    BadRequest,
    /// The container or a codec can't be packaged.
    UnsupportedMedia,
    /// The bytes are not a readable recording.
    InvalidData,
    /// A publish token is required and was missing or wrong.
    Unauthorized,
    /// Someone is already publishing this stream.
    StreamBusy,
    /// A configured limit (message size, bytes per stream, number of streams) was exceeded.
    TooLarge,
    /// A fault on the server's side (disk, thread, bug).
    Internal,
    /// A `resume` whose token is wrong, expired or another stream's: start a new recording instead.
    NotResumable,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnsupportedMedia => "unsupported_media",
            ErrorCode::InvalidData => "invalid_data",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::StreamBusy => "stream_busy",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Internal => "internal",
            ErrorCode::NotResumable => "not_resumable",
        }
    }
}
