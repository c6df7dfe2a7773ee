//! The WebSocket messages of the interface contract, exactly as they appear on the wire.
//!
//! Client → server (publishers only): `start` (first) or `resume` (first, after a drop), then binary
//! chunks, then `stop`; `thumbnail` at any time after `start`.
//! Server → client: `accepted` and `received` (publishers), `manifest_ready`, `ended`, `error` (then a
//! close frame). A viewer's `manifest_ready` also says where the stream comes from (`source`) and its
//! tracks' codecs (`tracks`), as `/api/streams` does; a publisher's keeps the contract's two fields.

use serde::{Deserialize, Serialize};

use crate::error_code::ErrorCode;
use crate::ingest::resume::ResumeToken;
use crate::media::TrackInfo;
use crate::stream_id::StreamId;
use crate::streams::status::Source;

/// A text message from a publisher.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Must come first: what the recorder produces.
    Start {
        #[serde(rename = "mimeType")]
        mime_type: String,
        /// Optional: how long the recorder had been recording when this message was sent. A page
        /// that replaces its recording (a new bitrate) starts the new recorder before its new
        /// connection is open, so the server can place the first frame when it was captured, right
        /// after the previous recording's last, rather than when `start` arrived (a hole of the
        /// reconnect's length, which players stall in).
        #[serde(rename = "startedMsAgo", default)]
        started_ms_ago: Option<u64>,
    },
    /// Instead of `start`, after a drop: continue the recording this token was given for.
    Resume {
        #[serde(rename = "resumeToken")]
        resume_token: ResumeToken,
    },
    /// The publisher is done: finalise the presentation.
    Stop,
    /// A picture of the stream for lists: base64 of a JPEG (see [`crate::streams::thumbnails`]).
    Thumbnail { data: String },
}

impl ClientMessage {
    /// What the message is, for a sentence about one that came at the wrong time.
    pub fn describe(&self) -> &'static str {
        match self {
            ClientMessage::Start { .. } => "a start message",
            ClientMessage::Stop => "a stop message",
            ClientMessage::Resume { .. } => "a resume message",
            ClientMessage::Thumbnail { .. } => "a thumbnail message",
        }
    }

    /// Parses a text message, with an error a person can act on.
    pub fn parse(text: &str) -> Result<ClientMessage, String> {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "could not read the message {:?} ({e}); send {{\"type\":\"start\",\"mimeType\":\"...\"}}, {{\"type\":\"resume\",\"resumeToken\":\"...\"}}, {{\"type\":\"stop\"}} or {{\"type\":\"thumbnail\",\"data\":\"<base64 JPEG>\"}}",
                truncate(text, 80)
            )
        })
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// A text message to a publisher or viewer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Accepted {
        stream: StreamId,
        #[serde(rename = "manifestUrl")]
        manifest_url: String,
        #[serde(rename = "watchUrl")]
        watch_url: String,
        /// For transports that can resume: the secret that continues this recording after a drop.
        #[serde(rename = "resumeToken", skip_serializing_if = "Option::is_none")]
        resume_token: Option<ResumeToken>,
        /// Present (true) when this connection continues a recording.
        #[serde(skip_serializing_if = "Option::is_none")]
        resumed: Option<bool>,
        /// With `resumed`: the bytes of the recording the server holds; send from this byte on.
        #[serde(skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
    },
    /// The bytes of this recording the server holds (counted from the first byte after `start`).
    Received {
        bytes: u64,
    },
    ManifestReady {
        #[serde(rename = "manifestUrl")]
        manifest_url: String,
        /// For viewers: where the publisher sends from (`browser`, `rtmp`, `http`).
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<Source>,
        /// For viewers: what is packaged, e.g. `[{"kind":"video","codec":"h264"},{"kind":"audio","codec":"aac"}]`.
        #[serde(skip_serializing_if = "Option::is_none")]
        tracks: Option<Vec<TrackInfo>>,
    },
    Ended {
        #[serde(rename = "durationSeconds")]
        duration_seconds: f64,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

impl ServerMessage {
    pub fn accepted(stream: &StreamId) -> ServerMessage {
        ServerMessage::Accepted {
            stream: stream.clone(),
            manifest_url: manifest_url(stream),
            watch_url: format!("/watch/{stream}"),
            resume_token: None,
            resumed: None,
            bytes: None,
        }
    }

    /// `accepted` for a connection that can resume: a new recording (`resumed_at` None) or one
    /// continued from byte `resumed_at`.
    pub fn accepted_resumable(stream: &StreamId, token: ResumeToken, resumed_at: Option<u64>) -> ServerMessage {
        ServerMessage::Accepted {
            stream: stream.clone(),
            manifest_url: manifest_url(stream),
            watch_url: format!("/watch/{stream}"),
            resume_token: Some(token),
            resumed: resumed_at.map(|_| true),
            bytes: resumed_at,
        }
    }

    /// `manifest_ready` as the contract gives it to the publisher.
    pub fn manifest_ready(stream: &StreamId) -> ServerMessage {
        ServerMessage::ManifestReady { manifest_url: manifest_url(stream), source: None, tracks: None }
    }

    /// `manifest_ready` for a viewer, who also learns where the stream comes from and its codecs.
    pub fn manifest_ready_described(stream: &StreamId, source: Source, tracks: &[TrackInfo]) -> ServerMessage {
        ServerMessage::ManifestReady { manifest_url: manifest_url(stream), source: Some(source), tracks: Some(tracks.to_vec()) }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialise")
    }
}

/// Where a stream's manifest is served.
pub fn manifest_url(stream: &StreamId) -> String {
    format!("/dash/{stream}/manifest.mpd")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_as_in_the_contract() {
        assert_eq!(
            ClientMessage::parse(r#"{"type":"start","mimeType":"video/webm;codecs=vp8,opus"}"#),
            Ok(ClientMessage::Start { mime_type: "video/webm;codecs=vp8,opus".into(), started_ms_ago: None })
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"start","mimeType":"video/webm","startedMsAgo":420}"#),
            Ok(ClientMessage::Start { mime_type: "video/webm".into(), started_ms_ago: Some(420) })
        );
        let err = ClientMessage::parse(r#"{"type":"start","mimeType":"video/webm","startedMsAgo":-1}"#).unwrap_err();
        assert!(err.contains("startedMsAgo") || err.contains("-1"), "{err}");
        assert_eq!(ClientMessage::parse(r#"{"type":"stop"}"#), Ok(ClientMessage::Stop));
        assert_eq!(
            ClientMessage::parse(r#"{"type":"thumbnail","data":"/9j/"}"#),
            Ok(ClientMessage::Thumbnail { data: "/9j/".into() })
        );
        let resume = ClientMessage::parse(r#"{"type":"resume","resumeToken":"abc"}"#).unwrap();
        assert!(matches!(resume, ClientMessage::Resume { .. }));
        assert!(!format!("{resume:?}").contains("abc"), "tokens are never logged");
        let err = ClientMessage::parse(r#"{"type":"begin"}"#).unwrap_err();
        assert!(err.contains("begin") && err.contains("\"start\""), "{err}");
        assert!(ClientMessage::parse("not json").is_err());
        assert!(ClientMessage::parse(r#"{"type":"start"}"#).is_err(), "mimeType is required");
    }

    #[test]
    fn server_messages_serialise_exactly_as_in_the_contract() {
        let id = StreamId::parse("cam1").unwrap();
        assert_eq!(
            ServerMessage::accepted(&id).to_json(),
            r#"{"type":"accepted","stream":"cam1","manifestUrl":"/dash/cam1/manifest.mpd","watchUrl":"/watch/cam1"}"#
        );
        assert_eq!(
            ServerMessage::manifest_ready(&id).to_json(),
            r#"{"type":"manifest_ready","manifestUrl":"/dash/cam1/manifest.mpd"}"#
        );
        assert_eq!(ServerMessage::Received { bytes: 1234 }.to_json(), r#"{"type":"received","bytes":1234}"#);
        let token: ResumeToken = serde_json::from_str(r#""tok""#).unwrap();
        assert_eq!(
            ServerMessage::accepted_resumable(&id, token.clone(), None).to_json(),
            r#"{"type":"accepted","stream":"cam1","manifestUrl":"/dash/cam1/manifest.mpd","watchUrl":"/watch/cam1","resumeToken":"tok"}"#
        );
        assert_eq!(
            ServerMessage::accepted_resumable(&id, token, Some(77)).to_json(),
            r#"{"type":"accepted","stream":"cam1","manifestUrl":"/dash/cam1/manifest.mpd","watchUrl":"/watch/cam1","resumeToken":"tok","resumed":true,"bytes":77}"#
        );
        assert_eq!(ServerMessage::Ended { duration_seconds: 4.5 }.to_json(), r#"{"type":"ended","durationSeconds":4.5}"#);
        assert_eq!(
            ServerMessage::Error { code: ErrorCode::StreamBusy, message: "busy".into() }.to_json(),
            r#"{"type":"error","code":"stream_busy","message":"busy"}"#
        );
    }
}
