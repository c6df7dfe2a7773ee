//! One publisher's WebSocket session, from the `start` message to the end of its presentation.

use std::sync::Arc;
use std::time::Duration;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use bytes::Bytes;
use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::broadcast::error::RecvError;

use super::{IngestError, pipeline};
use crate::error_code::ErrorCode;
use crate::media::{DashSettings, RecorderFormat, files};
use crate::metrics::Metrics;
use crate::protocol::{ClientMessage, ServerMessage};
use crate::stream_id::StreamId;
use crate::streams::{EventCursor, Presentation, Registry};

/// How long a publisher may take to send `start` after connecting.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long finalising may take after the input ended before the publisher is told it failed.
const FINALISE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a publish session needs from the server.
pub struct IngestContext {
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    /// Largest accepted WebSocket message.
    pub max_message_bytes: usize,
}

/// Runs a publisher's session to its end. `settings` has everything but the presentation tag.
pub async fn run(
    context: Arc<IngestContext>,
    stream: StreamId,
    settings: DashSettings,
    session: Session,
    messages: AggregatedMessageStream,
) {
    let mut publisher = Publisher { context, stream, session, messages };
    if let Err(Some(error)) = publisher.publish(settings).await {
        Metrics::add(&publisher.context.metrics.publishes_refused, 1);
        log::info!("{error}");
        publisher.close_with_error(error.code(), error.to_string()).await;
    }
}

struct Publisher {
    context: Arc<IngestContext>,
    stream: StreamId,
    session: Session,
    messages: AggregatedMessageStream,
}

/// `Err(None)`: the socket is gone, nobody to tell.
type SessionResult<T> = Result<T, Option<IngestError>>;

impl Publisher {
    async fn publish(&mut self, mut settings: DashSettings) -> SessionResult<()> {
        let (format, mime_type) = self.await_start().await?;
        let recording_started = std::time::SystemTime::now();
        settings.presentation_tag = files::new_presentation_tag();
        let registry = Arc::clone(&self.context.registry);
        let presentation = registry
            .claim(&self.stream, &mime_type, settings.presentation_tag.clone())
            .map_err(|_| Some(IngestError::Busy { stream: self.stream.clone() }))?;
        let started = {
            let (registry, presentation) = (Arc::clone(&registry), presentation.clone());
            actix_web::web::block(move || {
                pipeline::start(&registry, &presentation, format, settings, recording_started)
            })
            .await
        };
        let sender = match started {
            Ok(Ok(sender)) => sender,
            Ok(Err(e)) => return Err(Some(self.internal(&presentation, e.to_string()))),
            Err(e) => return Err(Some(self.internal(&presentation, e.to_string()))),
        };
        Metrics::add(&self.context.metrics.publishes_accepted, 1);
        log::info!("stream {}: publishing {mime_type} (presentation {})", self.stream, presentation.id);
        self.send(&ServerMessage::accepted(&self.stream)).await?;
        self.relay(&presentation, sender).await
    }

    fn internal(&self, presentation: &Presentation, reason: String) -> IngestError {
        let error = IngestError::Internal { stream: self.stream.clone(), reason };
        self.context.registry.fail(presentation, error.code(), error.to_string());
        error
    }

    /// Waits for `start` and checks its mimeType.
    async fn await_start(&mut self) -> SessionResult<(RecorderFormat, String)> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.messages.recv()).await {
                Ok(message) => message,
                Err(_) => return Err(Some(self.expected_start("nothing within 10 seconds"))),
            };
            match message {
                Some(Ok(AggregatedMessage::Text(text))) => {
                    return match ClientMessage::parse(&text) {
                        Ok(ClientMessage::Start { mime_type }) => RecorderFormat::parse(&mime_type)
                            .map(|format| (format, mime_type))
                            .map_err(|source| Some(IngestError::UnsupportedFormat { stream: self.stream.clone(), source })),
                        Ok(ClientMessage::Stop) => Err(Some(self.expected_start("a stop message"))),
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
                IngestError::MessageTooLarge { stream: self.stream.clone(), limit: self.context.max_message_bytes }
            }
            other => IngestError::BadMessage { stream: self.stream.clone(), detail: format!("WebSocket error: {other}") },
        }
    }

    /// Forwards recorder bytes to the packager and its events to the publisher until the presentation
    /// ends or the publisher leaves.
    async fn relay(&mut self, presentation: &Presentation, sender: Sender<Bytes>) -> SessionResult<()> {
        let registry = Arc::clone(&self.context.registry);
        let mut changes = registry.subscribe();
        let mut cursor = EventCursor::publisher(presentation.id);
        let mut sender = Some(sender);
        // Set once the input is over (stop, or the packager stopped reading): bounds the wait for the end.
        let mut finalise_deadline: Option<tokio::time::Instant> = None;
        loop {
            if sender.is_none() && finalise_deadline.is_none() {
                finalise_deadline = Some(tokio::time::Instant::now() + FINALISE_TIMEOUT);
            }
            let deadline = finalise_deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86400));
            tokio::select! {
                message = self.messages.recv() => match message {
                    Some(Ok(AggregatedMessage::Binary(bytes))) => match &sender {
                        Some(to_packager) => {
                            Metrics::add(&self.context.metrics.ingest_messages, 1);
                            Metrics::add(&self.context.metrics.ingest_bytes, bytes.len() as u64);
                            if !forward(to_packager, bytes).await {
                                // The packager stopped (bad data, most likely): its status says why.
                                sender = None;
                            }
                        }
                        None => log::warn!("stream {}: ignoring {} bytes sent after the input ended", self.stream, bytes.len()),
                    },
                    Some(Ok(AggregatedMessage::Text(text))) => match ClientMessage::parse(&text) {
                        Ok(ClientMessage::Stop) => {
                            log::info!("stream {}: publisher sent stop", self.stream);
                            sender = None;
                        }
                        Ok(ClientMessage::Start { .. }) => {
                            log::warn!("stream {}: ignoring a second start message", self.stream);
                        }
                        Err(detail) => log::warn!("stream {}: ignoring a bad message: {detail}", self.stream),
                    },
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if self.session.pong(&bytes).await.is_err() {
                            return Err(None);
                        }
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(_))) | None => {
                        // Dropping the sender ends the input: the packager drains and finalises by itself.
                        log::info!("stream {}: publisher disconnected", self.stream);
                        return Err(None);
                    }
                    Some(Err(e)) => {
                        let error = self.protocol_error(e);
                        drop(sender.take());
                        return Err(Some(error));
                    }
                },
                change = changes.recv() => match change {
                    Ok(id) if id != self.stream => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return Err(None),
                },
                _ = tokio::time::sleep_until(deadline) => {
                    let reason = "finalising the presentation took too long".to_string();
                    return Err(Some(self.internal(presentation, reason)));
                }
            }
            let Some(status) = registry.status(&self.stream) else { continue };
            for message in cursor.due(&self.stream, &status) {
                if let ServerMessage::Error { code, message } = message {
                    self.close_with_error(code, message).await;
                    return Ok(());
                }
                self.send(&message).await?;
            }
            if cursor.finished() {
                let _ = self.session.clone().close(Some(CloseCode::Normal.into())).await;
                return Ok(());
            }
        }
    }

    async fn send(&mut self, message: &ServerMessage) -> SessionResult<()> {
        self.session.text(message.to_json()).await.map_err(|_| None)
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

/// Sends `bytes` to the packager in pieces of at most [`pipeline::PIECE_BYTES`]. A full channel is
/// waited on in the blocking pool, never on the async executor; meanwhile the socket isn't read, so
/// TCP pushes back on the publisher. Returns false once the packager has stopped reading.
async fn forward(sender: &Sender<Bytes>, mut bytes: Bytes) -> bool {
    while !bytes.is_empty() {
        let piece = bytes.split_to(bytes.len().min(pipeline::PIECE_BYTES));
        match sender.try_send(piece) {
            Ok(()) => {}
            Err(TrySendError::Full(piece)) => {
                let sender = sender.clone();
                match actix_web::web::block(move || sender.send(piece)).await {
                    Ok(Ok(())) => {}
                    _ => return false,
                }
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
    }
    true
}
