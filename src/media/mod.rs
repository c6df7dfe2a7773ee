//! media — the packager: recorder bytes in, a live DASH presentation on disk out.
//!
//! One dedicated thread per stream ([`spawn_packager`]). It reads chunks from a bounded channel through
//! a custom `AVIOContext` ([`chunks`], [`ffi`]), demuxes the recorder's WebM/Matroska or fragmented MP4,
//! and stream-copies every audio and video packet into libavformat's `dash` muxer, writing
//! `<dir>/manifest.mpd`, init and media segments (HLS playlists are rendered from those by [`crate::hls`]).
//!
//! A presentation is fed by one or more [`Connection`]s, one after another: when a publisher vanishes
//! the muxer stays open for the reconnect grace period, and a returning publisher's new recording is
//! demuxed and placed on the same timeline (aligned to the wall clock, so players keep their place).
//! When the input stops, or nobody came back in time, the muxer writes its trailer and the manifest
//! becomes a static, complete recording. The packager knows nothing about HTTP or WebSockets: it
//! reports what happened through [`PackagerEvent`]s. A finished recording's segments are remuxed into
//! one downloadable file by [`recording`].

pub mod chunks;
mod copier;
mod dash_files;
pub mod dash_options;
pub mod files;
mod feed;
mod ffi;
pub mod leftovers;
mod packager;
pub mod recorder_format;
pub mod recording;
pub mod timeline_log;
pub mod timestamps;

use std::path::PathBuf;
use std::time::SystemTime;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

use crate::error_code::ErrorCode;
use crate::stream_id::StreamId;
pub use feed::{Feed, FeedReceiver, FeedSender, InputEnd, Pushback, feed_channel};
pub use dash_options::{DashSettings, SegmentType};
pub use recorder_format::{Container, RecorderFormat};

/// Name of the manifest inside a stream's folder.
pub const MANIFEST: &str = "manifest.mpd";

/// Everything a packager thread needs to know about its stream.
#[derive(Debug, Clone)]
pub struct PackagerJob {
    pub stream: StreamId,
    /// The stream's folder; it must exist and be empty.
    pub dir: PathBuf,
    pub format: RecorderFormat,
    pub settings: DashSettings,
    /// How long a vanished publisher may take to come back and continue the presentation.
    pub reconnect_grace: std::time::Duration,
    /// Test only (`--test-packager-delay`, hidden): a pause before taking each piece of input, so tests
    /// can provoke backpressure and a slow finalise. Zero in service.
    pub read_delay: std::time::Duration,
}

/// One publisher connection's input.
#[derive(Debug)]
pub struct Connection {
    /// The recorder bytes, ended by [`Feed::End`].
    pub chunks: FeedReceiver,
    /// When the publisher said it started recording (its `start` message arrived): the best estimate
    /// of when this recording's first frame was captured.
    pub recording_started: SystemTime,
    /// Signalled when the packager takes this connection; dropped unsignalled if it never will (it
    /// finished first), so a publisher is told `accepted` only once its bytes have a reader.
    taken: tokio::sync::oneshot::Sender<()>,
}

/// Resolves `Ok` when the packager took the connection, `Err` if it never will.
pub type Taken = tokio::sync::oneshot::Receiver<()>;

impl Connection {
    /// A connection to hand to a packager, and how to learn that it was taken.
    pub fn new(chunks: FeedReceiver, recording_started: SystemTime) -> (Connection, Taken) {
        let (taken, was_taken) = tokio::sync::oneshot::channel();
        (Connection { chunks, recording_started, taken }, was_taken)
    }

    /// The packager takes the connection: tells its publisher, and returns its input.
    fn take(self) -> (FeedReceiver, SystemTime) {
        // The session may have gone meanwhile; its input then ends as vanished.
        let _ = self.taken.send(());
        (self.chunks, self.recording_started)
    }
}

/// Whether a track is sound or picture. Serialized (to `/api/streams`, in errors) as `video`/`audio`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackKind {
    Video,
    Audio,
}

impl TrackKind {
    /// `video` or `audio`, as the contract spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Video => "video",
            TrackKind::Audio => "audio",
        }
    }
}

impl std::fmt::Display for TrackKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A track being packaged.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrackInfo {
    pub kind: TrackKind,
    /// libavcodec's codec name (`h264`, `vp8`, `opus`...).
    pub codec: String,
}

/// Reported once the muxer has written its header.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StartInfo {
    pub tracks: Vec<TrackInfo>,
    pub segment_type: SegmentType,
    pub low_latency: bool,
}

/// What a finished presentation holds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Presentation length: the end of the last packet of the longest track.
    pub duration_seconds: f64,
    /// Packets written to segments.
    pub packets: u64,
    /// Recorder bytes consumed.
    pub bytes_in: u64,
}

/// What the packager thread reports, in this order: at most one `Started`, any number of `Resumed`,
/// then exactly one of `Finished` or `Failed`.
#[derive(Debug)]
pub enum PackagerEvent {
    Started(StartInfo),
    /// A reconnected publisher's recording continues the presentation after a gap of this many seconds.
    Resumed { gap_seconds: f64 },
    /// The input ended and the trailer was written: the manifest is static.
    Finished(Summary),
    /// Packaging failed. When some media had already been written it was finalised as a recording and
    /// `salvaged` says what it holds.
    Failed { error: MediaError, salvaged: Option<Summary> },
}

/// Why packaging a stream failed. Messages name the stream and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("stream {stream}: the input ended before the recording's first frame arrived")]
    NoMedia { stream: StreamId },
    #[error(
        "stream {stream}: the recording's {kind} track never carried a frame, so the presentation can't be finished; send the track's media or leave the track out"
    )]
    EmptyTrack { stream: StreamId, kind: TrackKind },
    #[error("stream {stream}: the data is not a readable {container} recording ({reason})")]
    InvalidData { stream: StreamId, container: Container, reason: String },
    #[error(
        "stream {stream}: the data became unreadable after {bytes} bytes ({reason}); the media before that point was kept"
    )]
    CorruptAfter { stream: StreamId, bytes: u64, reason: String },
    #[error("stream {stream}: the {kind} codec \"{codec}\" can't be packaged; use H.264, VP8, VP9 or AV1 video with Opus or AAC audio")]
    UnsupportedCodec { stream: StreamId, kind: TrackKind, codec: String },
    #[error("stream {stream}: the recording has no audio or video track")]
    NoTracks { stream: StreamId },
    #[error("stream {stream}: VP8 video can only be packaged with Opus audio (WebM segments), not {audio}")]
    Vp8NeedsOpus { stream: StreamId, audio: String },
    #[error("stream {stream}: the reconnected recording has tracks {now:?}, but the stream was started with {was:?}; continue with the same format")]
    ResumeMismatch { stream: StreamId, was: Vec<String>, now: Vec<String> },
    #[error("stream {stream}: writing the DASH presentation in {dir} failed: {reason}")]
    Output { stream: StreamId, dir: PathBuf, reason: String },
    #[error("stream {stream}: the packager stopped unexpectedly ({reason}); the recording may be incomplete")]
    Crashed { stream: StreamId, reason: String },
}

impl MediaError {
    /// The contract's error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            MediaError::NoMedia { .. }
            | MediaError::EmptyTrack { .. }
            | MediaError::InvalidData { .. }
            | MediaError::CorruptAfter { .. } => ErrorCode::InvalidData,
            MediaError::UnsupportedCodec { .. }
            | MediaError::NoTracks { .. }
            | MediaError::Vp8NeedsOpus { .. }
            | MediaError::ResumeMismatch { .. } => ErrorCode::UnsupportedMedia,
            MediaError::Output { .. } | MediaError::Crashed { .. } => ErrorCode::Internal,
        }
    }
}

/// Starts the packager thread for `job`. It packages the connections it receives, one after another,
/// until one stops, or one vanishes and no other arrives within the grace period (or `connections`'
/// sender is dropped), reporting through `on_event`. `lease` is dropped when the thread is done, after
/// its last event: whoever tracks running packagers learns it from that. Returns an error only if the
/// thread could not be started.
pub fn spawn_packager(
    job: PackagerJob,
    connections: Receiver<Connection>,
    mut on_event: impl FnMut(PackagerEvent) + Send + 'static,
    lease: impl Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(format!("pkg-{}", job.stream)).spawn(move || {
        // A bug must not leave the stream "starting" forever: report it like any other failure.
        let mut ended = false;
        let mut report = |event: PackagerEvent| {
            ended |= !matches!(event, PackagerEvent::Started(_) | PackagerEvent::Resumed { .. });
            on_event(event);
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| packager::run(&job, connections, &mut report)));
        if let Err(panic) = outcome
            && !ended
        {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("panic")
                .to_string();
            on_event(PackagerEvent::Failed { error: MediaError::Crashed { stream: job.stream.clone(), reason }, salvaged: None });
        }
        drop(on_event);
        drop(lease);
    })
}

/// Called once at startup: fills in FFmpeg's error descriptions (without this, ffmpeg-next's errors
/// display as empty strings), quiets libavformat's own logging to warnings (at its default level the
/// dash muxer logs every file it opens) and sends it through the logger. (The C allocator
/// libavformat allocates with is jemalloc: `src/main.rs`.)
pub fn init() {
    ffmpeg_next::util::error::register_all();
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Warning);
    ffi::route_logs();
}
