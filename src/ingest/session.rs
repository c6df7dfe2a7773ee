//! One publisher's WebSocket session, from the `start` message to the end of its input.
//!
//! How the input ends decides what happens to the presentation: `stop`, a limit, the idle timeout or a
//! server shutdown finalise it (`Stop`); a lost connection leaves it waiting for the publisher to come
//! back within the grace period (`Vanished`).
//!
//! The publisher is told `accepted` only once the packager has taken its connection ([`Connection::new`]'s
//! signal), and its input waits for the packager asynchronously ([`super::input`]); the session holds a
//! registry task guard, so shutdown waits until it has told its publisher how the stream ended.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use bytes::Bytes;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::input::{Input, Pushed};
use super::pipeline::{self, PackagerTiming};
use super::IngestError;
use crate::auth::Admission;
use crate::error_code::ErrorCode;
use crate::media::{self, Connection, DashSettings, InputEnd, RecorderFormat, files};
use crate::metrics::Metrics;
use crate::protocol::{ClientMessage, ServerMessage};
use crate::stream_id::StreamId;
use crate::streams::registry::{Claim, ClaimError};
use crate::streams::{EventCursor, Presentation, Registry};

/// How long a publisher may take to send `start` after connecting.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a new publisher waits for the stream's previous presentation to finish (normally a few
/// milliseconds after its `ended`: the packager thread's exit) before it is told the stream is busy.
const PREVIOUS_PRESENTATION_WAIT: Duration = Duration::from_secs(10);

/// What a publish session needs from the server.
pub struct IngestContext {
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    /// Largest accepted WebSocket message.
    pub max_message_bytes: usize,
    /// Most recorder bytes one presentation may receive (0: no limit).
    pub max_stream_bytes: u64,
    /// A publisher that sends no media bytes this long has its presentation finalised.
    pub idle_timeout: Duration,
    /// How long a vanished publisher may take to come back and continue.
    pub reconnect_grace: Duration,
    /// How long finalising may take after the input ended before the publisher is told it failed
    /// (`--finalise-timeout`).
    pub finalise_timeout: Duration,
    /// Test only: the packager's pause before each piece of input (`--test-packager-delay`).
    pub packager_read_delay: Duration,
}

/// Runs a publisher's session to its end. `settings` has everything but the presentation tag.
pub async fn run(
    context: Arc<IngestContext>,
    stream: StreamId,
    settings: DashSettings,
    admission: Admission,
    session: Session,
    messages: AggregatedMessageStream,
) {
    // Shutdown waits for this session to tell its publisher how the stream ended.
    let _running = context.registry.track_session(&stream);
    let mut publisher = Publisher { context, stream, session, messages };
    if let Err(Some(error)) = publisher.publish(settings, admission).await {
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

/// Why the relay loop stopped taking input.
enum Ending {
    /// The input is over and the presentation is being finalised: wait for `ended` and pass it on.
    Finalising,
    /// The input ended because of a limit: tell the publisher, and finalise.
    Refused(IngestError),
    /// The socket is gone.
    Gone,
}

impl Publisher {
    async fn publish(&mut self, settings: DashSettings, admission: Admission) -> SessionResult<()> {
        let (format, mime_type) = self.await_start().await?;
        // Before anything is claimed or written: a refused publisher changes nothing.
        admission.admit(&self.stream, &mime_type).await.map_err(|refused| {
            Some(IngestError::Refused { stream: self.stream.clone(), code: ErrorCode::Unauthorized, reason: refused.to_string() })
        })?;
        let recording_started = SystemTime::now();
        let registry = Arc::clone(&self.context.registry);
        let (presentation, mut input) = self.join(format, &mime_type, settings, recording_started).await?;
        Metrics::add(&self.context.metrics.publishes_accepted, 1);
        log::info!("stream {}: publishing {mime_type} (presentation {})", self.stream, presentation.id);
        if let Err(gone) = self.send(&ServerMessage::accepted(&self.stream)).await {
            // Dropping the input closes its channel: the packager takes that as a vanished publisher.
            drop(input);
            registry.publisher_left(&presentation);
            return Err(gone);
        }
        let mut cursor = EventCursor::publisher(presentation.id);
        match self.relay(&presentation, &mut input, &mut cursor).await {
            Ending::Gone => {
                log::info!("stream {}: publisher disconnected", self.stream);
                input.finish(InputEnd::Vanished).await;
                registry.publisher_left(&presentation);
                Err(None)
            }
            Ending::Refused(error) => {
                input.finish(InputEnd::Stop).await;
                Err(Some(error))
            }
            Ending::Finalising => {
                input.finish(InputEnd::Stop).await;
                self.await_end(&presentation, &mut cursor).await
            }
        }
    }

    /// Claims the stream and hands this connection to its packager: a new presentation's, or the one
    /// whose publisher vanished. Returns once the packager has taken the connection, so `accepted` is
    /// never said for bytes nobody will read; a packager that finished first (its grace period ran
    /// out) is waited for, and a new presentation started. A stream still finishing its previous
    /// presentation is waited for, up to [`PREVIOUS_PRESENTATION_WAIT`].
    async fn join(
        &mut self,
        format: RecorderFormat,
        mime_type: &str,
        settings: DashSettings,
        recording_started: SystemTime,
    ) -> SessionResult<(Presentation, Input)> {
        let registry = Arc::clone(&self.context.registry);
        // Subscribed before claiming, so the previous packager's exit can't be missed.
        let mut changes = registry.subscribe();
        let deadline = Instant::now() + PREVIOUS_PRESENTATION_WAIT;
        loop {
            let tag = files::new_presentation_tag();
            let claim = match registry.claim(&self.stream, mime_type, tag.clone()) {
                Ok(claim) => claim,
                Err(ClaimError::Finalising(_)) if Instant::now() < deadline => {
                    if let Ok(Err(RecvError::Closed)) = tokio::time::timeout_at(deadline, changes.recv()).await {
                        return Err(None);
                    }
                    continue;
                }
                Err(ClaimError::Busy(_)) => return Err(Some(IngestError::Busy { stream: self.stream.clone() })),
                Err(e) => {
                    let (code, reason) = (e.code(), e.to_string());
                    return Err(Some(IngestError::Refused { stream: self.stream.clone(), code, reason }));
                }
            };
            let (presentation, connections) = match claim {
                Claim::New(presentation, lease) => {
                    let settings = DashSettings { presentation_tag: tag, ..settings.clone() };
                    let timing = PackagerTiming {
                        reconnect_grace: self.context.reconnect_grace,
                        read_delay: self.context.packager_read_delay,
                    };
                    let started = {
                        let (registry, presentation, format) = (Arc::clone(&registry), presentation.clone(), format.clone());
                        actix_web::web::block(move || pipeline::start(&registry, &presentation, format, settings, timing, lease))
                            .await
                    };
                    match started {
                        Ok(Ok(connections)) => (presentation, connections),
                        Ok(Err(e)) if e.code() == ErrorCode::TooLarge => {
                            let error = IngestError::Refused { stream: self.stream.clone(), code: e.code(), reason: e.to_string() };
                            registry.fail(&presentation, error.code(), error.to_string());
                            return Err(Some(error));
                        }
                        Ok(Err(e)) => return Err(Some(self.internal(&presentation, e.to_string()))),
                        Err(e) => return Err(Some(self.internal(&presentation, e.to_string()))),
                    }
                }
                Claim::Resume { presentation, connections, mime_type: started_as } => {
                    if RecorderFormat::parse(&started_as).ok().as_ref() != Some(&format) {
                        registry.publisher_left(&presentation);
                        return Err(Some(IngestError::ResumeFormat {
                            stream: self.stream.clone(),
                            was: started_as,
                            now: mime_type.to_string(),
                        }));
                    }
                    log::info!("stream {}: publisher reconnected (presentation {})", self.stream, presentation.id);
                    (presentation, connections)
                }
            };
            let (feed, chunks) = media::feed_channel(pipeline::CHANNEL_PIECES);
            let (connection, was_taken) = Connection::new(chunks, recording_started);
            let handed_over = connections.send(connection).is_ok();
            drop(connections);
            if handed_over && was_taken.await.is_ok() {
                return Ok((presentation, Input::new(feed)));
            }
            log::info!(
                "stream {}: presentation {} finished before it could continue with this publisher; starting a new one",
                self.stream,
                presentation.id
            );
            registry.resume_missed(&presentation);
        }
    }

    fn internal(&self, presentation: &Presentation, reason: String) -> IngestError {
        let error = IngestError::Internal { stream: self.stream.clone(), reason };
        self.context.registry.fail(presentation, error.code(), error.to_string());
        error
    }

    /// Waits for `start` and checks its mimeType.
    async fn await_start(&mut self) -> SessionResult<(RecorderFormat, String)> {
        let deadline = Instant::now() + START_TIMEOUT;
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
                IngestError::MessageTooLarge { stream: self.stream.clone(), limit: self.context.max_message_bytes }
            }
            other => IngestError::BadMessage { stream: self.stream.clone(), detail: format!("WebSocket error: {other}") },
        }
    }

    /// Forwards recorder bytes to the packager, and its events to the publisher, until the input ends.
    async fn relay(&mut self, presentation: &Presentation, input: &mut Input, cursor: &mut EventCursor) -> Ending {
        let registry = Arc::clone(&self.context.registry);
        let mut changes = registry.subscribe();
        let mut shutdown = registry.shutdown_signal();
        let idle = self.context.idle_timeout;
        let mut idle_deadline = Instant::now() + idle;
        loop {
            if input.is_pushed_back() && input.push() == Pushed::All {
                // Waiting for the packager was not the publisher being idle.
                idle_deadline = Instant::now() + idle;
            }
            tokio::select! {
                // Not read while pushed back: TCP pushes back on the publisher.
                message = self.messages.recv(), if !input.is_pushed_back() => {
                    match message {
                        Some(Ok(AggregatedMessage::Binary(bytes))) => {
                            // Only media bytes count: pings and text would hold a stream slot for free.
                            idle_deadline = Instant::now() + idle;
                            if let Some(ending) = self.take_bytes(presentation, input, bytes) {
                                return ending;
                            }
                        }
                        Some(Ok(AggregatedMessage::Text(text))) => match ClientMessage::parse(&text) {
                            Ok(ClientMessage::Stop) => {
                                log::info!("stream {}: publisher sent stop", self.stream);
                                return Ending::Finalising;
                            }
                            Ok(ClientMessage::Start { .. }) => log::warn!("stream {}: ignoring a second start message", self.stream),
                            Ok(ClientMessage::Thumbnail { data }) => crate::streams::thumbnails::receive(&registry, presentation, &data),
                            Err(detail) => log::warn!("stream {}: ignoring a bad message: {detail}", self.stream),
                        },
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if self.session.pong(&bytes).await.is_err() {
                                return Ending::Gone;
                            }
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Close(_))) | None => return Ending::Gone,
                        // The connection broke (reset, EOF mid-frame): the publisher vanished.
                        Some(Err(actix_ws::ProtocolError::Io(_))) => return Ending::Gone,
                        Some(Err(e)) => return Ending::Refused(self.protocol_error(e)),
                    }
                }
                () = input.room(), if input.is_pushed_back() => {}
                change = changes.recv() => match change {
                    Ok(id) if id != self.stream => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        // The packager failed (bad data, most likely): tell the publisher and close.
                        let status = registry.status(&self.stream);
                        for message in status.map(|s| cursor.due(&self.stream, &s)).unwrap_or_default() {
                            if let ServerMessage::Error { code, message } = message {
                                self.close_with_error(code, message).await;
                                return Ending::Gone;
                            }
                            if self.send(&message).await.is_err() {
                                return Ending::Gone;
                            }
                        }
                    }
                    Err(RecvError::Closed) => return Ending::Gone,
                },
                _ = tokio::time::sleep_until(idle_deadline), if !input.is_pushed_back() => {
                    log::info!("stream {}: no media bytes from the publisher for {idle:?}; finalising", self.stream);
                    return Ending::Finalising;
                }
                _ = shutdown.wait_for(|stopping| *stopping) => {
                    log::info!("stream {}: server shutting down; finalising", self.stream);
                    return Ending::Finalising;
                }
            }
        }
    }

    /// Counts a recorder message and queues it for the packager; says how the input ends if it must.
    fn take_bytes(&mut self, presentation: &Presentation, input: &mut Input, bytes: Bytes) -> Option<Ending> {
        let metrics = &self.context.metrics;
        Metrics::add(&metrics.ingest_messages, 1);
        Metrics::add(&metrics.ingest_bytes, bytes.len() as u64);
        let total = presentation.bytes_received.fetch_add(bytes.len() as u64, Ordering::Relaxed) + bytes.len() as u64;
        // The message that crosses the limit is still packaged: nothing received is dropped. If the
        // packager stopped reading (bad data, most likely), its status will say why.
        input.take(bytes);
        let limit = self.context.max_stream_bytes;
        (limit > 0 && total > limit).then(|| {
            Ending::Refused(IngestError::StreamTooLarge { stream: self.stream.clone(), limit })
        })
    }

    /// After the input stopped: waits (bounded) for the presentation to end, passes on its messages,
    /// then closes the socket.
    async fn await_end(&mut self, presentation: &Presentation, cursor: &mut EventCursor) -> SessionResult<()> {
        let registry = Arc::clone(&self.context.registry);
        let mut changes = registry.subscribe();
        let deadline = Instant::now() + self.context.finalise_timeout;
        loop {
            if let Some(status) = registry.status(&self.stream) {
                for message in cursor.due(&self.stream, &status) {
                    if let ServerMessage::Error { code, message } = message {
                        self.close_with_error(code, message).await;
                        return Ok(());
                    }
                    self.send(&message).await?;
                }
            }
            if cursor.finished() {
                let _ = self.session.clone().close(Some(CloseCode::Normal.into())).await;
                return Ok(());
            }
            tokio::select! {
                change = changes.recv() => if let Err(RecvError::Closed) = change { return Err(None) },
                message = self.messages.recv() => match message {
                    Some(Ok(AggregatedMessage::Close(_))) | None => return Err(None),
                    Some(Ok(AggregatedMessage::Ping(bytes))) => self.session.pong(&bytes).await.map_err(|_| None)?,
                    Some(Ok(AggregatedMessage::Binary(bytes))) => {
                        log::warn!("stream {}: ignoring {} bytes sent after the input ended", self.stream, bytes.len());
                    }
                    _ => {}
                },
                _ = tokio::time::sleep_until(deadline) => {
                    let reason = "finalising the presentation took too long".to_string();
                    return Err(Some(self.internal(presentation, reason)));
                }
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
