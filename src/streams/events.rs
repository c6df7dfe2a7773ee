//! What a publisher or viewer is owed: [`EventCursor`] compares a stream's current status with what
//! this client was already told and yields the messages still due, in contract order
//! (`manifest_ready` once per presentation, then `ended` or `error`). A viewer's `manifest_ready` says
//! the stream's source and codecs.

use crate::protocol::ServerMessage;
use crate::stream_id::StreamId;

use super::registry::{StreamState, StreamStatus};

/// What one client has been told so far.
#[derive(Debug, Clone, Default)]
pub struct EventCursor {
    /// The presentation the client follows; viewers follow whichever is current.
    presentation: Option<u64>,
    /// Publishers follow only their own presentation.
    pinned: bool,
    sent_ready: bool,
    sent_end: bool,
}

impl EventCursor {
    /// For a viewer: follows each new presentation of the stream.
    pub fn viewer() -> EventCursor {
        EventCursor::default()
    }

    /// For a publisher: follows its own presentation only.
    pub fn publisher(presentation: u64) -> EventCursor {
        EventCursor { presentation: Some(presentation), pinned: true, ..EventCursor::default() }
    }

    /// The messages now due for `status`.
    pub fn due(&mut self, stream: &StreamId, status: &StreamStatus) -> Vec<ServerMessage> {
        if self.presentation != Some(status.presentation) {
            if self.pinned {
                return Vec::new();
            }
            *self = EventCursor { presentation: Some(status.presentation), ..EventCursor::default() };
        }
        let mut due = Vec::new();
        if status.manifest_ready && !self.sent_ready {
            self.sent_ready = true;
            // A viewer is told what it is about to watch; the publisher knows what it sends.
            due.push(if self.pinned {
                ServerMessage::manifest_ready(stream)
            } else {
                ServerMessage::manifest_ready_described(stream, status.source, &status.tracks)
            });
        }
        if !self.sent_end {
            match &status.state {
                StreamState::Ended { duration_seconds } => {
                    self.sent_end = true;
                    due.push(ServerMessage::Ended { duration_seconds: *duration_seconds });
                }
                StreamState::Failed { code, message } => {
                    self.sent_end = true;
                    due.push(ServerMessage::Error { code: *code, message: message.clone() });
                }
                StreamState::Starting | StreamState::Live => {}
            }
        }
        due
    }

    /// Whether the followed presentation has ended (or failed) and the client was told.
    pub fn finished(&self) -> bool {
        self.sent_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_code::ErrorCode;
    use crate::media::{TrackInfo, TrackKind};
    use crate::streams::status::Source;

    fn status(presentation: u64, state: StreamState, ready: bool) -> StreamStatus {
        StreamStatus::for_test(presentation, state, ready)
    }

    fn types(messages: &[ServerMessage]) -> Vec<&'static str> {
        messages
            .iter()
            .map(|m| match m {
                ServerMessage::Accepted { .. } => "accepted",
                ServerMessage::Received { .. } => "received",
                ServerMessage::ManifestReady { .. } => "manifest_ready",
                ServerMessage::Ended { .. } => "ended",
                ServerMessage::Error { .. } => "error",
            })
            .collect()
    }

    #[test]
    fn manifest_ready_once_then_ended() {
        let id = StreamId::parse("s").unwrap();
        let mut cursor = EventCursor::viewer();
        assert!(cursor.due(&id, &status(1, StreamState::Starting, false)).is_empty());
        assert_eq!(types(&cursor.due(&id, &status(1, StreamState::Live, true))), ["manifest_ready"]);
        assert!(cursor.due(&id, &status(1, StreamState::Live, true)).is_empty(), "only once");
        let ended = StreamState::Ended { duration_seconds: 3.0 };
        assert_eq!(types(&cursor.due(&id, &status(1, ended.clone(), true))), ["ended"]);
        assert!(cursor.finished());
        assert!(cursor.due(&id, &status(1, ended, true)).is_empty());
    }

    #[test]
    fn a_late_viewer_gets_everything_in_order() {
        let id = StreamId::parse("s").unwrap();
        let ended = status(4, StreamState::Ended { duration_seconds: 3.0 }, true);
        assert_eq!(types(&EventCursor::viewer().due(&id, &ended)), ["manifest_ready", "ended"]);
    }

    #[test]
    fn viewers_follow_a_new_presentation_publishers_do_not() {
        let id = StreamId::parse("s").unwrap();
        let mut viewer = EventCursor::viewer();
        let mut publisher = EventCursor::publisher(1);
        let failed = status(1, StreamState::Failed { code: ErrorCode::InvalidData, message: "bad".into() }, false);
        assert_eq!(types(&viewer.due(&id, &failed)), ["error"]);
        assert_eq!(types(&publisher.due(&id, &failed)), ["error"]);
        let next = status(2, StreamState::Live, true);
        assert_eq!(types(&viewer.due(&id, &next)), ["manifest_ready"]);
        assert!(publisher.due(&id, &next).is_empty());
    }

    #[test]
    fn a_viewer_is_told_the_source_and_codecs_a_publisher_only_the_manifest() {
        let id = StreamId::parse("s").unwrap();
        let mut live = status(1, StreamState::Live, true);
        live.source = Source::Rtmp;
        live.tracks = vec![
            TrackInfo { kind: TrackKind::Video, codec: "h264".into() },
            TrackInfo { kind: TrackKind::Audio, codec: "aac".into() },
        ];
        let json = |messages: Vec<ServerMessage>| serde_json::from_str::<serde_json::Value>(&messages[0].to_json()).unwrap();
        assert_eq!(
            json(EventCursor::viewer().due(&id, &live)),
            serde_json::json!({
                "type": "manifest_ready", "manifestUrl": "/dash/s/manifest.mpd", "source": "rtmp",
                "tracks": [{"kind": "video", "codec": "h264"}, {"kind": "audio", "codec": "aac"}],
            })
        );
        assert_eq!(
            json(EventCursor::publisher(1).due(&id, &live)),
            serde_json::json!({"type": "manifest_ready", "manifestUrl": "/dash/s/manifest.mpd"})
        );
    }
}
