//! ingest — publishers' ways in. [`publish`] knows no transport: it admits a publisher, claims the
//! stream, starts the pipeline and forwards media bytes into the stream's bounded channel until the
//! input ends, then waits for the presentation's `ended` or `error`. Each transport feeds it:
//! [`websocket`] (`/ws/publish/{stream}`: the `start` or `resume` handshake, binary messages, `stop`),
//! [`http`] (`PUT`/`POST /ingest/{stream}`: the request body is the recording) and [`rtmp`]
//! (`rtmp://HOST:1935/live/{stream}`: an encoder's messages as an FLV stream). A resumable transport's
//! dropped recording waits in [`resume`] for its publisher to continue it.

pub mod http;
pub mod input;
pub mod pipeline;
pub mod publish;
pub mod resume;
pub mod transport;
pub mod rtmp;
pub mod websocket;

use std::net::SocketAddr;

use crate::error_code::ErrorCode;
use crate::media::recorder_format::FormatError;
use crate::stream_id::StreamId;

/// Why a publish session was refused or ended early. Each variant carries its contract code.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("stream {stream}: the first message must be {{\"type\":\"start\",\"mimeType\":\"...\"}}, not {got}")]
    ExpectedStart { stream: StreamId, got: String },
    #[error("stream {stream}: {detail}")]
    BadMessage { stream: StreamId, detail: String },
    #[error("stream {stream}: {source}")]
    UnsupportedFormat { stream: StreamId, source: FormatError },
    #[error("stream {stream} is already being published; stop the other publisher or pick another stream id")]
    Busy { stream: StreamId },
    #[error("stream {stream}: a message was larger than the {limit} byte limit; send smaller recorder chunks (a shorter timeslice)")]
    MessageTooLarge { stream: StreamId, limit: usize },
    #[error("stream {stream} has received more than its limit of {limit} bytes; it was finalised with everything received")]
    StreamTooLarge { stream: StreamId, limit: u64 },
    #[error("stream {stream}: {reason}")]
    Refused { stream: StreamId, code: ErrorCode, reason: String },
    #[error("stream {stream} is waiting for its publisher to continue with {was:?}, but this recording is {now:?}; use the same format or another stream id")]
    ResumeFormat { stream: StreamId, was: String, now: String },
    #[error("stream {stream}: the server could not start packaging: {reason}")]
    Internal { stream: StreamId, reason: String },
    #[error("stream {stream} (RTMP from {peer}): {source}")]
    RtmpCodec { stream: StreamId, peer: SocketAddr, source: rtmp::flv::TagError },
    #[error("stream {stream} (RTMP from {peer}): {source}")]
    RtmpProtocol { stream: StreamId, peer: SocketAddr, source: rtmp::session::ProtocolError },
}

impl IngestError {
    /// The contract's error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            IngestError::ExpectedStart { .. } | IngestError::BadMessage { .. } => ErrorCode::BadRequest,
            IngestError::UnsupportedFormat { .. } => ErrorCode::UnsupportedMedia,
            IngestError::Busy { .. } => ErrorCode::StreamBusy,
            IngestError::MessageTooLarge { .. } | IngestError::StreamTooLarge { .. } => ErrorCode::TooLarge,
            IngestError::Refused { code, .. } => *code,
            IngestError::ResumeFormat { .. } => ErrorCode::UnsupportedMedia,
            IngestError::Internal { .. } => ErrorCode::Internal,
            IngestError::RtmpCodec { .. } => ErrorCode::UnsupportedMedia,
            IngestError::RtmpProtocol { .. } => ErrorCode::BadRequest,
        }
    }
}
