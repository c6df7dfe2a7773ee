//! The contract between [`super::publish`] and the transports that carry a publisher's bytes: what a
//! publish needs from the server ([`IngestContext`]), what it is for ([`PublishRequest`]), what a
//! transport delivers ([`Incoming`]) and must do ([`Transport`]), and how the publish ended
//! ([`Outcome`]), for the transport to say its last word. The WebSocket, HTTP and RTMP sources each
//! implement [`Transport`]; none of them knows the packager.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::IngestError;
use super::resume::Resumes;
use crate::auth::Admission;
use crate::error_code::ErrorCode;
use crate::media::{DashSettings, RecorderFormat};
use crate::metrics::Metrics;
use crate::protocol::ServerMessage;
use crate::stream_id::StreamId;
use crate::streams::Registry;
use crate::streams::status::Source;

/// What a publish needs from the server, whatever the transport.
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
    /// Recordings whose publisher dropped and may resume them within the reconnect grace.
    pub resumes: Arc<Resumes>,
}

/// What a publish is for: the stream, its format (already parsed from the transport's own handshake),
/// and the checks and settings the route made.
pub struct PublishRequest {
    pub stream: StreamId,
    pub format: RecorderFormat,
    /// The MIME type as the publisher gave it (the admission webhook and a resume compare it).
    pub mime_type: String,
    /// Which transport it comes from, for the status and the metrics.
    pub source: Source,
    /// The packager settings, all but the presentation tag.
    pub settings: DashSettings,
    pub admission: Admission,
    /// How long the recorder had been recording when the publisher asked to start (zero unless the
    /// transport says): the recording's first frame was captured that much before now.
    pub recorded_before: Duration,
}

/// The next thing a publisher's transport delivered.
#[derive(Debug)]
pub enum Incoming {
    /// Media bytes, in order; only these reset the idle timer.
    Bytes(Bytes),
    /// The publisher is done: finalise.
    Stop,
    /// The connection is gone without a stop: the publisher vanished.
    Gone,
    /// The transport broke its protocol or a limit: tell the publisher, and finalise.
    Refused(IngestError),
    /// A preview picture from the publisher (base64 JPEG), kept for the stream list; not media.
    Thumbnail(String),
}

/// The transport is gone: nobody is left to tell.
#[derive(Debug, Clone, Copy)]
pub struct Gone;

/// A publisher's connection, as [`super::publish::run`] sees it.
pub trait Transport {
    /// Waits for the publisher's next input, answering anything transport-level (pings) itself.
    /// Must be cancel-safe: it races the packager, the idle timer and shutdown. After the input has
    /// ended it may stay pending forever.
    fn next(&mut self) -> impl Future<Output = Incoming>;

    /// Passes a server event (`accepted`, `received`, `manifest_ready`, `ended`) to the publisher.
    fn send(&mut self, message: &ServerMessage) -> impl Future<Output = Result<(), Gone>>;

    /// Whether the publisher can resume its recording after a drop: it is given a `resumeToken` and
    /// `received` acknowledgements, and a lost connection parks its input ([`super::resume`]).
    fn resumable(&self) -> bool {
        false
    }
}

/// How a publish ended, for the transport to say its last word.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The presentation was finalised; `ended` was sent through [`Transport::send`].
    Ended { duration_seconds: f64 },
    /// Refused or failed: tell the publisher this code and sentence, then close.
    Error { code: ErrorCode, message: String },
    /// The publisher is gone (or left the stream for the reconnect grace): nobody to tell.
    Gone,
}
