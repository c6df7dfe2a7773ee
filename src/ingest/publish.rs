//! One publisher's way from "its format is known" to "its presentation ended", whatever carries its
//! bytes: the WebSocket ([`super::websocket`]) or any other transport implementing [`Transport`]
//! (its contract is in [`super::transport`]).
//!
//! [`run`] admits the publisher ([`Admission::admit`]; token rights are the caller's, checked before
//! it), claims the stream (a new presentation, or the one whose publisher vanished), starts its
//! pipeline, hands the connection to the packager, forwards media bytes within the limits, and waits
//! for the presentation to end. How the input ends decides what happens to the presentation: `Stop`, a
//! limit, the idle timeout (no media bytes) or a server shutdown finalise it; a lost publisher
//! (`Gone`) leaves it waiting for the publisher to come back within the grace period.
//!
//! A resumable transport ([`Transport::resumable`]) gets a resume token in `accepted` and a `received`
//! count every [`RECEIVED_INTERVAL`] while bytes arrive; when it is lost its input is parked
//! ([`super::resume`]), and [`resume`] continues the same recording on a new connection.
//!
//! The publisher is told `accepted` only once the packager has taken its connection ([`Connection::new`]'s
//! signal), and its input waits for the packager asynchronously ([`super::input`]), so a transport is
//! not read while the packager is behind; [`run`] holds a registry task guard, so shutdown waits until
//! the publisher has been told how the stream ended.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::IngestError;
use super::input::{Input, Pushed};
use super::pipeline::{self, PackagerTiming};
use super::resume::{NotResumable, Recording, ResumeToken};
pub use super::transport::{Gone, Incoming, IngestContext, Outcome, PublishRequest, Transport};
use crate::auth::Admission;
use crate::error_code::ErrorCode;
use crate::media::{self, Connection, DashSettings, InputEnd, RecorderFormat, files};
use crate::metrics::Metrics;
use crate::protocol::ServerMessage;
use crate::stream_id::StreamId;
use crate::streams::registry::{Claim, ClaimError};
use crate::streams::status::Source;
use crate::streams::{EventCursor, Presentation};

/// How often a resumable publisher is told how many bytes the server holds, while bytes arrive (the
/// contract says at least every 500 ms).
const RECEIVED_INTERVAL: Duration = Duration::from_millis(250);

/// How long a new publisher waits for the stream's previous presentation to finish (normally a few
/// milliseconds after its `ended`: the packager thread's exit) before it is told the stream is busy;
/// at the stream limit, likewise for another stream's presentation that has ended.
const PREVIOUS_PRESENTATION_WAIT: Duration = Duration::from_secs(10);

/// Runs a publish to its end (see the module comment). Refusals are counted and logged here.
pub async fn run(context: Arc<IngestContext>, request: PublishRequest, transport: &mut impl Transport) -> Outcome {
    // Shutdown waits for this publish to tell its publisher how the stream ended.
    let _running = context.registry.track_session(&request.stream);
    let stream = request.stream.clone();
    let mut publisher = Publisher { context, stream, transport };
    let published = publisher.publish(request).await;
    publisher.outcome(published)
}

/// Continues a recording parked after its publisher dropped ([`super::resume`]), from the byte the
/// server holds, then runs it to its end like [`run`]. A wrong or expired token is `not_resumable`.
pub async fn resume(
    context: Arc<IngestContext>,
    stream: StreamId,
    token: ResumeToken,
    admission: Admission,
    transport: &mut impl Transport,
) -> Outcome {
    let _running = context.registry.track_session(&stream);
    let mut publisher = Publisher { context, stream, transport };
    let resumed = publisher.resume(token, admission).await;
    publisher.outcome(resumed)
}

impl<T: Transport> Publisher<'_, T> {
    fn outcome(&self, result: PublishResult<Outcome>) -> Outcome {
        match result {
            Ok(outcome) => outcome,
        Err(None) => Outcome::Gone,
            Err(Some(error)) => {
                Metrics::add(&self.context.metrics.publishes_refused, 1);
                log::info!("{error}");
                Outcome::Error { code: error.code(), message: error.to_string() }
            }
        }
    }
}

struct Publisher<'t, T> {
    context: Arc<IngestContext>,
    stream: StreamId,
    transport: &'t mut T,
}

/// `Err(None)`: the transport is gone, nobody to tell.
type PublishResult<T> = Result<T, Option<IngestError>>;

/// Why the relay loop stopped taking input.
enum Ending {
    /// The input is over and the presentation is being finalised: wait for `ended` and pass it on.
    Finalising,
    /// The input ended because of a limit: tell the publisher, and finalise.
    Refused(IngestError),
    /// The packager failed: tell the publisher this.
    Failed { code: ErrorCode, message: String },
    /// The transport is gone.
    Gone,
}

impl<T: Transport> Publisher<'_, T> {
    async fn publish(&mut self, request: PublishRequest) -> PublishResult<Outcome> {
        let PublishRequest { format, mime_type, source, settings, admission, recorded_before, .. } = request;
        // Before anything is claimed or written: a refused publisher changes nothing.
        self.admit(&admission, &mime_type).await?;
        let now = SystemTime::now();
        let recording_started = now.checked_sub(recorded_before).unwrap_or(now);
        let (presentation, input) = self.join(format, &mime_type, source, settings, recording_started).await?;
        self.context.metrics.accepted_from(source);
        log::info!("stream {}: publishing {mime_type} (presentation {})", self.stream, presentation.id);
        let token = match self.transport.resumable() {
            // Without a token the publisher can still reconnect the older way (a new recording).
            true => ResumeToken::generate()
                .inspect_err(|e| log::warn!("stream {}: no resume token (random source: {e})", self.stream))
                .ok(),
            false => None,
        };
        let accepted = match &token {
            Some(token) => ServerMessage::accepted_resumable(&self.stream, token.clone(), None),
            None => ServerMessage::accepted(&self.stream),
        };
        self.carry(Recording { presentation, input, bytes: 0, mime_type, token }, accepted).await
    }

    /// Takes back the recording parked under `token` and continues it from the byte the server holds.
    async fn resume(&mut self, token: ResumeToken, admission: Admission) -> PublishResult<Outcome> {
        let not_resumable = |e: NotResumable| {
            Some(IngestError::Refused { stream: self.stream.clone(), code: ErrorCode::NotResumable, reason: e.to_string() })
        };
        let recording = self.context.resumes.take_or_take_over(&self.stream, &token).await.map_err(not_resumable)?;
        let registry = Arc::clone(&self.context.registry);
        let refused = match self.admit(&admission, &recording.mime_type).await {
            Ok(()) if registry.reclaim(&recording.presentation) => None,
            Ok(()) => Some(not_resumable(NotResumable::Gone(self.stream.clone()))),
            Err(refused) => Some(refused),
        };
        if let Some(refused) = refused {
            // Nobody will continue this recording: the packager waits for a new one, the older way.
            recording.input.finish(InputEnd::Vanished).await;
            return Err(refused);
        }
        log::info!(
            "stream {}: publisher resumed its recording at byte {} (presentation {})",
            self.stream,
            recording.bytes,
            recording.presentation.id
        );
        let accepted = ServerMessage::accepted_resumable(&self.stream, token, Some(recording.bytes));
        self.carry(recording, accepted).await
    }

    /// Asks the admission checks whether this publisher may publish `mime_type` on the stream.
    async fn admit(&self, admission: &Admission, mime_type: &str) -> PublishResult<()> {
        admission.admit(&self.stream, mime_type).await.map_err(|refused| {
            Some(IngestError::Refused { stream: self.stream.clone(), code: ErrorCode::Unauthorized, reason: refused.to_string() })
        })
    }

    /// Tells the publisher `accepted`, forwards its bytes until the input ends, and ends the recording
    /// as the ending says: a resumable recording whose publisher is gone is parked for it to resume.
    async fn carry(&mut self, mut recording: Recording, accepted: ServerMessage) -> PublishResult<Outcome> {
        let registry = Arc::clone(&self.context.registry);
        let presentation = recording.presentation.clone();
        let mut cursor = EventCursor::publisher(presentation.id);
        // While this session carries the recording, a `resume` with its token may take it over.
        let carrying = recording.token.clone().map(|token| self.context.resumes.carrying(&self.stream, token));
        let let_go = carrying.as_ref().map(|carrying| Arc::clone(&carrying.let_go));
        let ending = match self.transport.send(&accepted).await {
            Ok(()) => self.relay(&mut recording, &mut cursor, let_go).await,
            Err(Gone) => Ending::Gone,
        };
        // `carrying` lives until the recording is parked or ended: a resume never finds neither.
        match ending {
            Ending::Gone => {
                log::info!("stream {}: publisher disconnected", self.stream);
                registry.publisher_left(&presentation);
                if recording.token.is_some() {
                    self.context.resumes.park(&registry, recording, self.context.reconnect_grace);
                } else {
                    recording.input.finish(InputEnd::Vanished).await;
                }
                Err(None)
            }
            Ending::Failed { code, message } => {
                // Whatever is pending goes nowhere: the packager stopped reading.
                recording.input.finish(InputEnd::Vanished).await;
                registry.publisher_left(&presentation);
                Ok(Outcome::Error { code, message })
            }
            Ending::Refused(error) => {
                recording.input.finish(InputEnd::Stop).await;
                Err(Some(error))
            }
            Ending::Finalising => {
                recording.input.finish(InputEnd::Stop).await;
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
        source: Source,
        settings: DashSettings,
        recording_started: SystemTime,
    ) -> PublishResult<(Presentation, Input)> {
        let registry = Arc::clone(&self.context.registry);
        // Subscribed before claiming, so the previous packager's exit can't be missed.
        let mut changes = registry.subscribe();
        let deadline = Instant::now() + PREVIOUS_PRESENTATION_WAIT;
        loop {
            let tag = files::new_presentation_tag();
            let claim = match registry.claim(&self.stream, mime_type, source, tag.clone()) {
                Ok(claim) => claim,
                // The stream's previous presentation, or (at the stream limit) another that already
                // ended, is finishing: its packager frees the slot within moments.
                Err(ClaimError::Finalising(_) | ClaimError::TooMany { finishing: 1.., .. }) if Instant::now() < deadline => {
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
                    if RecorderFormat::of_presentation(&started_as).as_ref() != Some(&format) {
                        registry.publisher_left(&presentation);
                        return Err(Some(IngestError::ResumeFormat {
                            stream: self.stream.clone(),
                            was: started_as,
                            now: mime_type.to_string(),
                        }));
                    }
                    // A recording parked for resuming is given up: the packager continues with this one.
                    self.context.resumes.abandon(&self.stream).await;
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

    /// Forwards media bytes to the packager, and its events to the publisher, until the input ends.
    async fn relay(&mut self, recording: &mut Recording, cursor: &mut EventCursor, let_go: Option<Arc<Notify>>) -> Ending {
        let registry = Arc::clone(&self.context.registry);
        let mut changes = registry.subscribe();
        let mut shutdown = registry.shutdown_signal();
        let idle = self.context.idle_timeout;
        let mut idle_deadline = Instant::now() + idle;
        let acknowledges = self.transport.resumable();
        let mut acknowledged = recording.bytes;
        let mut acknowledge = tokio::time::interval(RECEIVED_INTERVAL);
        acknowledge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (presentation, input) = (&recording.presentation, &mut recording.input);
        loop {
            if input.is_pushed_back() && input.push() == Pushed::All {
                // Waiting for the packager was not the publisher being idle.
                idle_deadline = Instant::now() + idle;
            }
            tokio::select! {
                // Not read while pushed back: the transport pushes back on the publisher.
                incoming = self.transport.next(), if !input.is_pushed_back() => match incoming {
                    Incoming::Bytes(bytes) => {
                        // Only media bytes count: pings and control messages would hold a stream slot for free.
                        idle_deadline = Instant::now() + idle;
                        recording.bytes += bytes.len() as u64;
                        if let Some(ending) = self.take_bytes(presentation, input, bytes) {
                            return ending;
                        }
                    }
                    Incoming::Stop => {
                        log::info!("stream {}: publisher sent stop", self.stream);
                        return Ending::Finalising;
                    }
                    Incoming::Gone => return Ending::Gone,
                    Incoming::Refused(error) => return Ending::Refused(error),
                    Incoming::Thumbnail(data) => crate::streams::thumbnails::receive(&registry, presentation, &data),
                },
                () = input.room(), if input.is_pushed_back() => {}
                _ = acknowledge.tick(), if acknowledges && acknowledged != recording.bytes => {
                    acknowledged = recording.bytes;
                    if self.transport.send(&ServerMessage::Received { bytes: acknowledged }).await.is_err() {
                        return Ending::Gone;
                    }
                }
                change = changes.recv() => match change {
                    Ok(id) if id != self.stream => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        // The packager failed (bad data, most likely): tell the publisher and close.
                        let status = registry.status(&self.stream);
                        for message in status.map(|s| cursor.due(&self.stream, &s)).unwrap_or_default() {
                            if let ServerMessage::Error { code, message } = message {
                                return Ending::Failed { code, message };
                            }
                            if self.transport.send(&message).await.is_err() {
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
                () = notified_or_never(let_go.as_deref()) => {
                    log::info!("stream {}: the publisher resumed on a new connection; leaving this one", self.stream);
                    return Ending::Gone;
                }
                _ = shutdown.wait_for(|stopping| *stopping) => {
                    log::info!("stream {}: server shutting down; finalising", self.stream);
                    return Ending::Finalising;
                }
            }
        }
    }

    /// Counts media bytes and queues them for the packager; says how the input ends if it must.
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

    /// After the input stopped: waits (bounded) for the presentation to end and passes on its messages.
    async fn await_end(&mut self, presentation: &Presentation, cursor: &mut EventCursor) -> PublishResult<Outcome> {
        let registry = Arc::clone(&self.context.registry);
        let mut changes = registry.subscribe();
        let deadline = Instant::now() + self.context.finalise_timeout;
        loop {
            if let Some(status) = registry.status(&self.stream) {
                for message in cursor.due(&self.stream, &status) {
                    match message {
                        ServerMessage::Error { code, message } => return Ok(Outcome::Error { code, message }),
                        ServerMessage::Ended { duration_seconds } => {
                            self.transport.send(&message).await.map_err(|Gone| None)?;
                            return Ok(Outcome::Ended { duration_seconds });
                        }
                        message => self.transport.send(&message).await.map_err(|Gone| None)?,
                    }
                }
            }
            tokio::select! {
                change = changes.recv() => if let Err(RecvError::Closed) = change { return Err(None) },
                incoming = self.transport.next() => match incoming {
                    Incoming::Gone => return Err(None),
                    Incoming::Bytes(bytes) => {
                        log::warn!("stream {}: ignoring {} bytes sent after the input ended", self.stream, bytes.len());
                    }
                    Incoming::Stop | Incoming::Refused(_) | Incoming::Thumbnail(_) => {}
                },
                _ = tokio::time::sleep_until(deadline) => {
                    let reason = "finalising the presentation took too long".to_string();
                    return Err(Some(self.internal(presentation, reason)));
                }
            }
        }
    }
}

/// Resolves when `signal` is notified; never without one.
async fn notified_or_never(signal: Option<&Notify>) {
    match signal {
        Some(signal) => signal.notified().await,
        None => std::future::pending().await,
    }
}
