//! What a stream's presentation looks like from outside: its state and what it holds, as the event
//! cursors and `/api/streams` see it.

use std::time::SystemTime;

use serde::Serialize;

use crate::error_code::ErrorCode;
use crate::media::{SegmentType, TrackInfo};

/// Where a stream is in its life.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StreamState {
    /// A publisher is connected; no playable manifest yet.
    Starting,
    /// The manifest is playable and the publisher is sending.
    Live,
    /// The presentation was finalised: a static, complete recording.
    Ended {
        #[serde(rename = "durationSeconds")]
        duration_seconds: f64,
    },
    /// Packaging failed; never served as live.
    Failed { code: ErrorCode, message: String },
}

impl StreamState {
    /// A packager is running for it (so nobody else may publish).
    pub fn is_active(&self) -> bool {
        matches!(self, StreamState::Starting | StreamState::Live)
    }
}

/// Where a stream's publisher sends from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A web page's MediaRecorder over the publisher WebSocket.
    Browser,
    /// An encoder (OBS, ffmpeg, hardware) over RTMP.
    Rtmp,
    /// A plain HTTP upload (`PUT`/`POST /ingest/{stream}`).
    Http,
}

impl Source {
    /// Every source, in the order `/metrics` lists them.
    pub const ALL: [Source; 3] = [Source::Browser, Source::Rtmp, Source::Http];

    /// The name in `/api/streams` and the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Browser => "browser",
            Source::Rtmp => "rtmp",
            Source::Http => "http",
        }
    }
}

/// A stream's current presentation, as clients and `/api/streams` see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamStatus {
    /// Counts presentations on this server; a new publish on the same id gets a new number.
    pub presentation: u64,
    #[serde(flatten)]
    pub state: StreamState,
    /// `manifest_ready` has been reached for this presentation.
    pub manifest_ready: bool,
    pub mime_type: String,
    /// Where the publisher sends from.
    pub source: Source,
    #[serde(serialize_with = "serialize_time")]
    pub started_at: SystemTime,
    pub tracks: Vec<TrackInfo>,
    pub segment_type: Option<SegmentType>,
    pub low_latency: bool,
    /// A publisher is sending right now (false while waiting for a vanished one to come back).
    pub publisher_connected: bool,
    /// Recorder bytes received for this presentation, over all its connections.
    pub bytes_received: u64,
    /// The encoder's keyframe interval, when the transport sees keyframes (RTMP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframe_interval_seconds: Option<f64>,
    /// Set when that interval does not match the segment duration: what to change, in a sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframe_warning: Option<String>,
    /// The tag in this presentation's segment names.
    #[serde(skip)]
    pub tag: String,
}

fn serialize_time<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_millis(*time).to_string())
}

#[cfg(test)]
impl StreamStatus {
    /// A status for unit tests: presentation `presentation` in `state`, nothing received yet.
    pub(crate) fn for_test(presentation: u64, state: StreamState, manifest_ready: bool) -> StreamStatus {
        StreamStatus {
            presentation,
            state,
            manifest_ready,
            mime_type: String::new(),
            source: Source::Browser,
            started_at: SystemTime::now(),
            tracks: vec![],
            segment_type: None,
            low_latency: false,
            publisher_connected: true,
            bytes_received: 0,
            keyframe_interval_seconds: None,
            keyframe_warning: None,
            tag: String::new(),
        }
    }
}
