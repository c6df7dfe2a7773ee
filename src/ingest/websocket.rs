//! The WebSocket transport of a publish (`/ws/publish/{stream}`): waits for the `start` message (or
//! `resume`, which continues a dropped recording: [`publish::resume`]), then feeds binary messages to
//! [`publish::run`] as media bytes, `stop` as the end of the input, and a
//! closed or broken socket as a vanished publisher. Server events go back as text messages; the last
//! word is `ended` and a normal close, or `error` and a close frame whose code says the class.

use std::sync::Arc;
use std::time::Duration;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use tokio::time::Instant;

use super::IngestError;
use super::resume::ResumeToken;
use super::publish::{self, Gone, Incoming, IngestContext, Outcome, PublishRequest, Transport};
use crate::auth::Admission;
use crate::error_code::ErrorCode;
use crate::media::{DashSettings, RecorderFormat};
use crate::metrics::Metrics;
use crate::protocol::{ClientMessage, ServerMessage};
use crate::stream_id::StreamId;
use crate::streams::status::Source;

/// How long a publisher may take to send `start` after connecting.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of `startedMsAgo` believed: a page starts a replacement recorder at most a reconnect
/// before its `start`; anything older is taken as this (which only places the recording right after
/// the one before it, see [`crate::media`]'s continuation).
const MOST_RECORDED_BEFORE: Duration = Duration::from_secs(10);

fn recorded_before(started_ms_ago: Option<u64>) -> Duration {
    Duration::from_millis(started_ms_ago.unwrap_or(0)).min(MOST_RECORDED_BEFORE)
}

/// Runs a publisher's WebSocket session to its end. `settings` has everything but the presentation tag.
pub async fn run(
    context: Arc<IngestContext>,
    stream: StreamId,
    settings: DashSettings,
    admission: Admission,
    session: Session,
    messages: AggregatedMessageStream,
) {
    let max_message_bytes = context.max_message_bytes;
    let mut socket = Socket { stream: stream.clone(), session, messages, max_message_bytes, closed_by_publisher: false };
    let outcome = match socket.await_start().await {
        Ok(Opening::Start { format, mime_type, recorded_before }) => {
            let source = Source::Browser;
            let request = PublishRequest { stream, format, mime_type, source, settings, admission, recorded_before };
            publish::run(context, request, &mut socket).await
        }
        Ok(Opening::Resume(token)) => publish::resume(context, stream, token, admission, &mut socket).await,
        Err(None) => Outcome::Gone,
        Err(Some(error)) => {
            Metrics::add(&context.metrics.publishes_refused, 1);
            log::info!("{error}");
            Outcome::Error { code: error.code(), message: error.to_string() }
        }
    };
    match outcome {
        Outcome::Ended { .. } => {
            let _ = socket.session.close(Some(CloseCode::Normal.into())).await;
        }
        Outcome::Error { code, message } => socket.close_with_error(code, message).await,
        // Answering a publisher's close frame ends its closing handshake now, so a page that closes
        // one connection to open the next (a change of bitrate) is not kept waiting.
        Outcome::Gone if socket.closed_by_publisher => {
            let _ = socket.session.close(None).await;
        }
        Outcome::Gone => {}
    }
}

/// How a publisher opened its session.
enum Opening {
    /// A new recording, whose recorder had been running for `recorded_before` when `start` was sent.
    Start { format: RecorderFormat, mime_type: String, recorded_before: Duration },
    /// The continuation of a recording whose connection dropped.
    Resume(ResumeToken),
}

/// A publisher's socket.
struct Socket {
    /// For error messages.
    stream: StreamId,
    session: Session,
    messages: AggregatedMessageStream,
    /// The limit the message stream enforces, for the `too_large` sentence.
    max_message_bytes: usize,
    /// The publisher sent a close frame (rather than its connection breaking).
    closed_by_publisher: bool,
}

impl Socket {
    /// Waits for `start` (and checks its mimeType) or `resume`. `Err(None)`: the socket is gone.
    async fn await_start(&mut self) -> Result<Opening, Option<IngestError>> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.messages.recv()).await {
                Ok(message) => message,
                Err(_) => return Err(Some(self.expected_start("nothing within 10 seconds"))),
            };
            match message {
                Some(Ok(AggregatedMessage::Text(text))) => {
                    return match ClientMessage::parse(&text) {
                        Ok(ClientMessage::Start { mime_type, started_ms_ago }) => RecorderFormat::parse(&mime_type)
                            .map(|format| Opening::Start { format, mime_type, recorded_before: recorded_before(started_ms_ago) })
                            .map_err(|source| Some(IngestError::UnsupportedFormat { stream: self.stream.clone(), source })),
                        Ok(ClientMessage::Resume { resume_token }) => Ok(Opening::Resume(resume_token)),
                        Ok(other) => Err(Some(self.expected_start(other.describe()))),
                        Err(detail) => Err(Some(IngestError::BadMessage { stream: self.stream.clone(), detail })),
                    };
                }
                Some(Ok(AggregatedMessage::Binary(bytes))) => {
                    return Err(Some(self.expected_start(&format!("{} bytes of binary data", bytes.len()))));
                }
                Some(Ok(AggregatedMessage::Ping(bytes))) => self.session.pong(&bytes).await.map_err(|_| None)?,
                Some(Ok(AggregatedMessage::Pong(_))) => {}
                Some(Ok(AggregatedMessage::Close(_))) | None => return Err(None),
                Some(Err(e)) => return Err(Some(self.protocol_error(e))),
            }
        }
    }

    fn expected_start(&self, got: &str) -> IngestError {
        IngestError::ExpectedStart { stream: self.stream.clone(), got: got.to_string() }
    }

    fn protocol_error(&self, error: actix_ws::ProtocolError) -> IngestError {
        match error {
            actix_ws::ProtocolError::Overflow => {
                IngestError::MessageTooLarge { stream: self.stream.clone(), limit: self.max_message_bytes }
            }
            other => IngestError::BadMessage { stream: self.stream.clone(), detail: format!("WebSocket error: {other}") },
        }
    }

    /// Sends `{"type":"error",...}` then a close frame.
    async fn close_with_error(&mut self, code: ErrorCode, message: String) {
        let _ = self.session.text(ServerMessage::Error { code, message }.to_json()).await;
        let close_code = match code {
            ErrorCode::TooLarge => CloseCode::Size,
            ErrorCode::Internal => CloseCode::Error,
            ErrorCode::UnsupportedMedia => CloseCode::Unsupported,
            _ => CloseCode::Policy,
        };
        let reason = CloseReason { code: close_code, description: Some(code.as_str().to_string()) };
        let _ = self.session.clone().close(Some(reason)).await;
    }
}

impl Transport for Socket {
    async fn next(&mut self) -> Incoming {
        loop {
            // `recv` is cancel-safe; a pong is queued at once, without waiting on the network.
            match self.messages.recv().await {
                Some(Ok(AggregatedMessage::Binary(bytes))) => return Incoming::Bytes(bytes),
                Some(Ok(AggregatedMessage::Text(text))) => match ClientMessage::parse(&text) {
                    Ok(ClientMessage::Stop) => return Incoming::Stop,
                    Ok(ClientMessage::Start { .. } | ClientMessage::Resume { .. }) => {
                        log::warn!("stream {}: ignoring a start or resume message after the first", self.stream)
                    }
                    Ok(ClientMessage::Thumbnail { data }) => return Incoming::Thumbnail(data),
                    Err(detail) => log::warn!("stream {}: ignoring a bad message: {detail}", self.stream),
                },
                Some(Ok(AggregatedMessage::Ping(bytes))) => {
                    if self.session.pong(&bytes).await.is_err() {
                        return Incoming::Gone;
                    }
                }
                Some(Ok(AggregatedMessage::Pong(_))) => {}
                Some(Ok(AggregatedMessage::Close(_))) => {
                    self.closed_by_publisher = true;
                    return Incoming::Gone;
                }
                None => return Incoming::Gone,
                // The connection broke (reset, EOF mid-frame): the publisher vanished.
                Some(Err(actix_ws::ProtocolError::Io(_))) => return Incoming::Gone,
                Some(Err(e)) => return Incoming::Refused(self.protocol_error(e)),
            }
        }
    }

    async fn send(&mut self, message: &ServerMessage) -> Result<(), Gone> {
        self.session.text(message.to_json()).await.map_err(|_| Gone)
    }

    fn resumable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_ms_ago_is_believed_up_to_a_bound() {
        assert_eq!(recorded_before(None), Duration::ZERO);
        assert_eq!(recorded_before(Some(420)), Duration::from_millis(420));
        assert_eq!(recorded_before(Some(u64::MAX)), MOST_RECORDED_BEFORE, "no overflow, no recording from long ago");
    }
}
