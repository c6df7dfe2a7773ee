//! One RTMP connection on a socket: the handshake and `connect`, then the `publish` request, checked
//! like a WebSocket publisher's `?token=` ([`PublishRights`]); then the connection is the
//! [`Transport`] of a [`publish::run`]: media messages become FLV bytes, `deleteStream` is the stop,
//! a closed socket a vanished publisher. The encoder hears `NetStream.Publish.Start` only once the
//! packager has taken the connection (`accepted`), or the refusal's sentence in
//! `NetStream.Publish.Rejected`. The socket is read only when the packager wants more, so TCP pushes
//! back on the encoder; what the protocol answers (acknowledgements) is written before reading on.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;

use super::flv::{self, FlvWriter, TagKind};
use super::keyframes::KeyframeInterval;
use super::session::{Event, Session};
use super::{RtmpContext, stream_key};
use crate::auth::{Admission, PublishRights, TokenRefusal, unix_now};
use crate::ingest::IngestError;
use crate::ingest::publish::{self, Gone, Incoming, Outcome, PublishRequest, Transport};
use crate::media::RecorderFormat;
use crate::media::recorder_format::FLV_MIME;
use crate::metrics::Metrics;
use crate::protocol::ServerMessage;
use crate::stream_id::StreamId;
use crate::streams::Registry;
use crate::streams::status::Source;

/// How long an encoder may take from connecting to asking to publish.
const PUBLISH_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a finished encoder may take to send its last commands and close, before it is closed.
const LINGER: Duration = Duration::from_secs(2);

/// Bytes read from the socket at a time.
const READ_BYTES: usize = 64 * 1024;

/// Runs a connection to its end; logs what went wrong.
pub async fn run(context: Arc<RtmpContext>, socket: TcpStream, peer: SocketAddr) {
    let Ok(local) = socket.local_addr() else { return };
    let _ = socket.set_nodelay(true);
    let (reader, writer) = socket.into_split();
    let mut link = Link { peer, reader, writer, session: Session::new(), buffer: vec![0; READ_BYTES] };
    let (request, key) = match link.await_publish().await {
        Ok(Some(asked)) => asked,
        Ok(None) => return,
        Err(why) => return log::info!("RTMP from {peer}: {why}"),
    };
    let key = match stream_key::parse(&key) {
        Ok(key) => key,
        Err(e) => {
            log::info!("RTMP from {peer}: refused stream key {key:?}: {e}");
            return link.refuse(request, &e.to_string()).await;
        }
    };
    let stream = key.stream;
    let rights = PublishRights {
        token: context.publish_token.as_deref(),
        secret: context.publish_secret.as_deref().map(str::as_bytes),
    };
    if let Err(refusal) = rights.check(&stream, key.token.as_deref(), unix_now()) {
        Metrics::add(&context.ingest.metrics.publishes_refused, 1);
        // The log says only what was wrong; the encoder hears how to pass a token.
        let why = refusal.log_reason();
        log::info!("stream {stream}: RTMP publish from {peer} refused: {why}");
        let sentence = match refusal {
            TokenRefusal::Missing => "this server requires a publish token: use the stream key STREAM?token=...".to_string(),
            other => other.to_string(),
        };
        return link.refuse(request, &sentence).await;
    }
    let request_for = PublishRequest {
        stream: stream.clone(),
        format: RecorderFormat::flv(),
        mime_type: FLV_MIME.to_string(),
        source: Source::Rtmp,
        settings: context.settings_for(local),
        admission: Admission { webhook: context.auth_webhook.clone(), remote_addr: Some(peer.ip()), token: key.token },
        recorded_before: Duration::ZERO,
    };
    let registry = Arc::clone(&context.ingest.registry);
    let keyframes = KeyframeInterval::new(context.settings.segment_duration);
    let mut publisher = Publisher::new(link, request, stream.clone(), registry, keyframes);
    let outcome = publish::run(Arc::clone(&context.ingest), request_for, &mut publisher).await;
    match outcome {
        Outcome::Ended { duration_seconds } => {
            log::info!("stream {stream}: RTMP publisher {peer} done ({duration_seconds:.1} s)");
            publisher.link.linger().await;
        }
        Outcome::Error { message, .. } if !publisher.accepted => publisher.link.refuse(request, &message).await,
        Outcome::Error { message, .. } => log::info!("stream {stream}: closing RTMP publisher {peer}: {message}"),
        Outcome::Gone => {}
    }
}

/// The socket and the protocol on it.
struct Link {
    peer: SocketAddr,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    session: Session,
    buffer: Vec<u8>,
}

impl Link {
    /// Handshake and `connect`, up to the `publish` request: `(request, stream key)`. `Ok(None)`: the
    /// encoder left or asked for another application (logged).
    async fn await_publish(&mut self) -> Result<Option<(u32, String)>, String> {
        let deadline = Instant::now() + PUBLISH_REQUEST_TIMEOUT;
        loop {
            let read = tokio::time::timeout_at(deadline, self.reader.read(&mut self.buffer)).await;
            let n = match read {
                Err(_) => return Err(format!("no publish request within {PUBLISH_REQUEST_TIMEOUT:?}; closing")),
                Ok(Ok(0)) | Ok(Err(_)) => return Ok(None),
                Ok(Ok(n)) => n,
            };
            let fed = self.session.feed(&self.buffer[..n]).map_err(|e| e.to_string())?;
            self.writer.write_all(&fed.send).await.map_err(|e| format!("writing to the encoder: {e}"))?;
            for event in fed.events {
                match event {
                    Event::Publish { request, stream_key } => return Ok(Some((request, stream_key))),
                    Event::WrongApp { app } => {
                        log::info!("RTMP from {}: refused application {app:?} (only \"{}\")", self.peer, super::session::APP);
                        return Ok(None);
                    }
                    _ => {}
                }
            }
        }
    }

    /// After the end: lets the encoder finish its goodbye (`deleteStream` after `FCUnpublish`) and
    /// close first, up to [`LINGER`], so it does not report a connection closed under it.
    async fn linger(&mut self) {
        let deadline = Instant::now() + LINGER;
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, self.reader.read(&mut self.buffer)).await {
            if n == 0 {
                break;
            }
        }
    }

    /// Refuses the publish request with `why`, then closes.
    async fn refuse(mut self, request: u32, why: &str) {
        if let Ok(bytes) = self.session.reject(request, why) {
            let _ = self.writer.write_all(&bytes).await;
        }
        let _ = self.writer.shutdown().await;
    }
}

/// A publishing connection, as [`publish::run`]'s transport.
struct Publisher {
    link: Link,
    /// The `publish` request, answered on `accepted`.
    request: u32,
    accepted: bool,
    stream: StreamId,
    /// What the protocol must still send back; written before reading on.
    outgoing: Vec<u8>,
    /// What was read but not yet handed out.
    ready: VecDeque<Incoming>,
    /// The input has ended (stop, lost, refused): nothing more is read.
    ended: bool,
    flv: FlvWriter,
    /// Which tracks the encoder's metadata announced: (audio, video); both until it says.
    tracks: (bool, bool),
    keyframes: KeyframeInterval,
    registry: Arc<Registry>,
}

impl Publisher {
    fn new(link: Link, request: u32, stream: StreamId, registry: Arc<Registry>, keyframes: KeyframeInterval) -> Publisher {
        Publisher {
            link,
            request,
            accepted: false,
            stream,
            outgoing: Vec::new(),
            ready: VecDeque::new(),
            ended: false,
            flv: FlvWriter::default(),
            tracks: (true, true),
            keyframes,
            registry,
        }
    }

    /// Turns one read's events into input, in order.
    fn take(&mut self, events: Vec<Event>) {
        let mut media = BytesMut::new();
        for event in events {
            match event {
                Event::Media { kind, timestamp_ms, body } => match flv::inspect(kind, &body) {
                    Ok(None) => {}
                    Ok(Some(info)) => {
                        if kind == TagKind::Video && info.keyframe {
                            self.note_keyframe(timestamp_ms);
                        }
                        self.flv.write(&mut media, kind, timestamp_ms, &body, self.tracks);
                    }
                    Err(source) => {
                        log::warn!("stream {}: refusing RTMP publisher {}: {source}", self.stream, self.link.peer);
                        let error = IngestError::RtmpCodec { stream: self.stream.clone(), peer: self.link.peer, source };
                        return self.end_with(Some(media), Incoming::Refused(error));
                    }
                },
                Event::Tracks { has_audio, has_video } => self.tracks = (has_audio, has_video),
                Event::Finished => return self.end_with(Some(media), Incoming::Stop),
                Event::Publish { .. } => log::warn!("stream {}: ignoring a second publish request", self.stream),
                Event::WrongApp { .. } => {}
            }
        }
        if !media.is_empty() {
            self.ready.push_back(Incoming::Bytes(media.freeze()));
        }
    }

    /// Hands out what was read before the end, then the end; reads no more.
    fn end_with(&mut self, media: Option<BytesMut>, end: Incoming) {
        if let Some(media) = media.filter(|m| !m.is_empty()) {
            self.ready.push_back(Incoming::Bytes(media.freeze()));
        }
        self.ready.push_back(end);
        self.ended = true;
    }

    fn note_keyframe(&mut self, timestamp_ms: u32) {
        if let Some(report) = self.keyframes.keyframe(timestamp_ms) {
            if let Some(warning) = &report.warning {
                log::warn!("stream {}: {warning}", self.stream);
            }
            self.registry.note_keyframe_interval(&self.stream, report.seconds, report.warning);
        }
    }
}

impl Transport for Publisher {
    async fn next(&mut self) -> Incoming {
        loop {
            if let Some(incoming) = self.ready.pop_front() {
                return incoming;
            }
            if self.ended {
                return std::future::pending().await;
            }
            // `write` and `read` are cancel-safe: what they did is accounted for when they return.
            if !self.outgoing.is_empty() {
                match self.link.writer.write(&self.outgoing).await {
                    Ok(n) if n > 0 => drop(self.outgoing.drain(..n)),
                    _ => self.end_with(None, Incoming::Gone),
                }
                continue;
            }
            let n = match self.link.reader.read(&mut self.link.buffer).await {
                Ok(0) | Err(_) => {
                    self.end_with(None, Incoming::Gone);
                    continue;
                }
                Ok(n) => n,
            };
            match self.link.session.feed(&self.link.buffer[..n]) {
                Ok(fed) => {
                    self.outgoing.extend(fed.send);
                    self.take(fed.events);
                }
                Err(source) => {
                    let error = IngestError::RtmpProtocol { stream: self.stream.clone(), peer: self.link.peer, source };
                    self.end_with(None, Incoming::Refused(error));
                }
            }
        }
    }

    async fn send(&mut self, message: &ServerMessage) -> Result<(), Gone> {
        if let ServerMessage::Accepted { .. } = message {
            let start = self.link.session.accept(self.request).map_err(|_| Gone)?;
            self.accepted = true;
            self.link.writer.write_all(&start).await.map_err(|_| Gone)?;
        }
        Ok(())
    }
}
