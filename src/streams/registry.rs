//! The registry: every stream this server has seen since it started, its state
//! (starting → live → ended, or failed), and who is publishing it.
//!
//! One publisher per stream at a time: [`Registry::claim`] refuses a second one while a presentation
//! is starting or live (its packager still running). Every change is announced on a broadcast channel
//! carrying only the stream id; subscribers read the current [`StreamStatus`] and work out what to
//! tell their client ([`super::events::EventCursor`]), so a missed announcement is never a lost event.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::error_code::ErrorCode;
use crate::media::{PackagerEvent, SegmentType, TrackInfo};
use crate::stream_id::StreamId;

use super::watcher::StreamWatcher;

/// How many change announcements a slow subscriber may fall behind before it re-reads the status.
const CHANGE_BACKLOG: usize = 256;

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
    #[serde(serialize_with = "serialize_time")]
    pub started_at: SystemTime,
    pub tracks: Vec<TrackInfo>,
    pub segment_type: Option<SegmentType>,
    pub low_latency: bool,
    /// The tag in this presentation's segment names.
    #[serde(skip)]
    pub tag: String,
}

fn serialize_time<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_millis(*time).to_string())
}

/// The publisher's hold on a stream: which presentation it is and where it is written.
#[derive(Debug, Clone)]
pub struct Presentation {
    pub stream: StreamId,
    pub id: u64,
    pub dir: PathBuf,
    pub tag: String,
}

/// Why a publisher could not have the stream.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("stream {0} is already being published; stop the other publisher or pick another stream id")]
    Busy(StreamId),
}

struct Entry {
    status: StreamStatus,
    /// Watches the stream folder while its packager runs.
    watcher: Option<StreamWatcher>,
}

/// All streams, shared by the ingest sessions, packager threads, watchers and HTTP handlers.
pub struct Registry {
    media_dir: PathBuf,
    streams: Mutex<HashMap<StreamId, Entry>>,
    changes: broadcast::Sender<StreamId>,
    next_presentation: Mutex<u64>,
}

impl Registry {
    pub fn new(media_dir: PathBuf) -> Arc<Registry> {
        Arc::new(Registry {
            media_dir,
            streams: Mutex::new(HashMap::new()),
            changes: broadcast::channel(CHANGE_BACKLOG).0,
            next_presentation: Mutex::new(1),
        })
    }

    /// The folder of a stream's files.
    pub fn stream_dir(&self, stream: &StreamId) -> PathBuf {
        self.media_dir.join(stream.as_str())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<StreamId, Entry>> {
        // A panic while holding the lock leaves plain data behind; keep serving rather than cascade.
        self.streams.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes `stream` for a new presentation, unless another publisher holds it.
    pub fn claim(&self, stream: &StreamId, mime_type: &str, tag: String) -> Result<Presentation, ClaimError> {
        let mut streams = self.lock();
        if streams.get(stream).is_some_and(|e| e.status.state.is_active()) {
            return Err(ClaimError::Busy(stream.clone()));
        }
        let id = {
            let mut next = self.next_presentation.lock().unwrap_or_else(|p| p.into_inner());
            let id = *next;
            *next += 1;
            id
        };
        let status = StreamStatus {
            presentation: id,
            state: StreamState::Starting,
            manifest_ready: false,
            mime_type: mime_type.to_string(),
            started_at: SystemTime::now(),
            tracks: Vec::new(),
            segment_type: None,
            low_latency: false,
            tag: tag.clone(),
        };
        streams.insert(stream.clone(), Entry { status, watcher: None });
        drop(streams);
        self.announce(stream);
        Ok(Presentation { stream: stream.clone(), id, dir: self.stream_dir(stream), tag })
    }

    /// Keeps the folder watcher alive for as long as the presentation is active.
    pub fn attach_watcher(&self, presentation: &Presentation, watcher: StreamWatcher) {
        let mut streams = self.lock();
        if let Some(entry) = current(&mut streams, presentation)
            && entry.status.state.is_active()
        {
            entry.watcher = Some(watcher);
        }
    }

    /// The current status of `stream`, if it was ever published.
    pub fn status(&self, stream: &StreamId) -> Option<StreamStatus> {
        self.lock().get(stream).map(|e| e.status.clone())
    }

    /// Every stream with its status, sorted by id.
    pub fn list(&self) -> Vec<(StreamId, StreamStatus)> {
        let mut all: Vec<_> = self.lock().iter().map(|(id, e)| (id.clone(), e.status.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// How many presentations are starting or live.
    pub fn active_count(&self) -> usize {
        self.lock().values().filter(|e| e.status.state.is_active()).count()
    }

    /// Subscribes to "stream X changed" announcements.
    pub fn subscribe(&self) -> broadcast::Receiver<StreamId> {
        self.changes.subscribe()
    }

    /// The folder watcher's file-change signal for an active stream (for serving in-progress files).
    pub fn file_changes(&self, stream: &StreamId) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.lock().get(stream).and_then(|e| e.watcher.as_ref()).map(StreamWatcher::changes)
    }

    /// Records that the presentation's manifest became playable.
    pub fn mark_ready(&self, presentation: &Presentation) {
        let mut streams = self.lock();
        let Some(entry) = current(&mut streams, presentation) else { return };
        if entry.status.manifest_ready {
            return;
        }
        entry.status.manifest_ready = true;
        if entry.status.state == StreamState::Starting {
            entry.status.state = StreamState::Live;
        }
        drop(streams);
        log::info!("stream {}: manifest ready (presentation {})", presentation.stream, presentation.id);
        self.announce(&presentation.stream);
    }

    /// Whether the presentation has reached `manifest_ready`.
    pub fn is_ready(&self, presentation: &Presentation) -> bool {
        self.lock()
            .get(&presentation.stream)
            .is_some_and(|e| e.status.presentation == presentation.id && e.status.manifest_ready)
    }

    /// Applies what the packager reported.
    pub fn on_packager_event(&self, presentation: &Presentation, event: PackagerEvent) {
        let mut streams = self.lock();
        let Some(entry) = current(&mut streams, presentation) else { return };
        let stream = &presentation.stream;
        let retired_watcher = match event {
            PackagerEvent::Started(info) => {
                log::info!(
                    "stream {stream}: packaging {:?} into {:?} segments{}",
                    info.tracks.iter().map(|t| t.codec.as_str()).collect::<Vec<_>>(),
                    info.segment_type,
                    if info.low_latency { " (low latency)" } else { "" }
                );
                entry.status.tracks = info.tracks;
                entry.status.segment_type = Some(info.segment_type);
                entry.status.low_latency = info.low_latency;
                None
            }
            PackagerEvent::Finished(summary) => {
                log::info!(
                    "stream {stream}: ended, {:.1} s, {} packets from {} bytes",
                    summary.duration_seconds,
                    summary.packets,
                    summary.bytes_in
                );
                entry.status.state = StreamState::Ended { duration_seconds: summary.duration_seconds };
                entry.watcher.take()
            }
            PackagerEvent::Failed { error, salvaged } => {
                match salvaged {
                    Some(summary) => log::warn!("{error} (kept {:.1} s as a recording)", summary.duration_seconds),
                    None => log::warn!("{error}"),
                }
                entry.status.state = StreamState::Failed { code: error.code(), message: error.to_string() };
                entry.watcher.take()
            }
        };
        drop(streams);
        // Dropped outside the lock: the watcher's thread may be waiting for it to mark readiness.
        drop(retired_watcher);
        self.announce(stream);
    }

    /// Marks a presentation failed for a reason outside the packager (e.g. its folder can't be made).
    pub fn fail(&self, presentation: &Presentation, code: ErrorCode, message: String) {
        let mut streams = self.lock();
        let Some(entry) = current(&mut streams, presentation) else { return };
        log::warn!("{message}");
        entry.status.state = StreamState::Failed { code, message };
        let retired_watcher = entry.watcher.take();
        drop(streams);
        drop(retired_watcher);
        self.announce(&presentation.stream);
    }

    fn announce(&self, stream: &StreamId) {
        // No subscribers is fine: nobody is waiting.
        let _ = self.changes.send(stream.clone());
    }
}

/// The entry for `presentation`, if it is still the stream's current one.
fn current<'a>(streams: &'a mut HashMap<StreamId, Entry>, presentation: &Presentation) -> Option<&'a mut Entry> {
    streams.get_mut(&presentation.stream).filter(|e| e.status.presentation == presentation.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{MediaError, Summary};

    fn id(s: &str) -> StreamId {
        StreamId::parse(s).unwrap()
    }

    #[test]
    fn one_publisher_per_stream_until_its_presentation_ends() {
        let registry = Registry::new(PathBuf::from("/tmp/x"));
        let first = registry.claim(&id("a"), "video/webm", "t1".into()).unwrap();
        assert!(matches!(registry.claim(&id("a"), "video/webm", "t2".into()), Err(ClaimError::Busy(_))));
        assert!(registry.claim(&id("b"), "video/webm", "t3".into()).is_ok(), "other streams are independent");
        registry.on_packager_event(
            &first,
            PackagerEvent::Finished(Summary { duration_seconds: 1.0, packets: 10, bytes_in: 100 }),
        );
        let second = registry.claim(&id("a"), "video/webm", "t4".into()).unwrap();
        assert!(second.id > first.id);
        assert_eq!(registry.status(&id("a")).unwrap().state, StreamState::Starting);
    }

    #[test]
    fn states_follow_readiness_and_the_packager() {
        let registry = Registry::new(PathBuf::from("/tmp/x"));
        let mut changes = registry.subscribe();
        let p = registry.claim(&id("s"), "video/webm", "t".into()).unwrap();
        registry.mark_ready(&p);
        assert_eq!(registry.status(&id("s")).unwrap().state, StreamState::Live);
        registry.on_packager_event(
            &p,
            PackagerEvent::Failed { error: MediaError::NoTracks { stream: id("s") }, salvaged: None },
        );
        let status = registry.status(&id("s")).unwrap();
        assert!(matches!(status.state, StreamState::Failed { code: ErrorCode::UnsupportedMedia, .. }));
        assert_eq!(registry.active_count(), 0);
        let mut announced = 0;
        while changes.try_recv().is_ok() {
            announced += 1;
        }
        assert_eq!(announced, 3, "claim, ready, failed");
    }

    #[test]
    fn events_for_an_old_presentation_are_ignored() {
        let registry = Registry::new(PathBuf::from("/tmp/x"));
        let old = registry.claim(&id("s"), "video/webm", "t".into()).unwrap();
        registry.fail(&old, ErrorCode::Internal, "gone".into());
        let new = registry.claim(&id("s"), "video/webm", "t2".into()).unwrap();
        registry.mark_ready(&old);
        let status = registry.status(&id("s")).unwrap();
        assert_eq!(status.presentation, new.id);
        assert!(!status.manifest_ready);
    }
}
