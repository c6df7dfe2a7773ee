//! How a presentation's state changes as its publisher and its packager report: the publisher leaves
//! or comes back (resume, reclaim), the manifest becomes playable, the packager starts, finishes or
//! fails. Each change applies only to the stream's current presentation (a late report from an
//! older one is ignored) and is announced to the stream's subscribers.

use super::{Registry, StreamState, current};
use crate::error_code::ErrorCode;
use crate::media::PackagerEvent;
use crate::stream_id::StreamId;
use crate::streams::Presentation;

impl Registry {
    /// A handed-over connection was not taken: the packager finished first. The stream can't be resumed
    /// any more; a publisher waits for the packager to exit and starts a new presentation.
    pub fn resume_missed(&self, presentation: &Presentation) {
        let mut streams = self.lock();
        let Some(entry) = current(&mut streams, presentation) else { return };
        entry.connections = None;
        entry.status.publisher_connected = false;
        drop(streams);
        self.announce(&presentation.stream);
    }

    /// The publisher's connection ended without `stop`: a claim may now resume the presentation.
    pub fn publisher_left(&self, presentation: &Presentation) {
        let mut streams = self.lock();
        let Some(entry) = current(&mut streams, presentation) else { return };
        entry.status.publisher_connected = false;
        drop(streams);
        self.announce(&presentation.stream);
    }

    /// Records the publisher's keyframe interval for the live presentation of `stream`, and the
    /// sentence saying what to change when it does not fit the segments (`None`: it fits).
    pub fn note_keyframe_interval(&self, stream: &StreamId, seconds: f64, warning: Option<String>) {
        let mut streams = self.lock();
        let Some(entry) = streams.get_mut(stream).filter(|e| e.status.state.is_active()) else { return };
        entry.status.keyframe_interval_seconds = Some(seconds);
        entry.status.keyframe_warning = warning;
    }

    /// Nobody will continue the presentation (a parked recording's grace ran out): its packager stops
    /// waiting for a reconnect and finalises at once; a publisher arriving now starts a new presentation.
    pub fn close_reconnects(&self, presentation: &Presentation) {
        let mut streams = self.lock();
        let Some(entry) = current(&mut streams, presentation) else { return };
        entry.connections = None;
        drop(streams);
        self.announce(&presentation.stream);
    }

    /// A publisher resumes the recording of `presentation` after a drop ([`crate::ingest::resume`]):
    /// takes the stream back for it if the presentation is still active, waiting for its publisher, and
    /// can still be continued. False: it can't (it ended, is being finalised, or another publisher has it).
    pub fn reclaim(&self, presentation: &Presentation) -> bool {
        let mut streams = self.lock();
        let Some(entry) = current(&mut streams, presentation) else { return false };
        if !entry.status.state.is_active() || entry.status.publisher_connected || entry.connections.is_none() {
            return false;
        }
        entry.status.publisher_connected = true;
        drop(streams);
        self.announce(&presentation.stream);
        true
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
            PackagerEvent::Resumed { gap_seconds } => {
                log::info!("stream {stream}: publisher back; continuing after a {gap_seconds:.1} s gap");
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
                entry.connections = None;
                entry.watcher.take()
            }
            PackagerEvent::Failed { error, salvaged } => {
                match salvaged {
                    Some(summary) => log::warn!("{error} (kept {:.1} s as a recording)", summary.duration_seconds),
                    None => log::warn!("{error}"),
                }
                entry.status.state = StreamState::Failed { code: error.code(), message: error.to_string() };
                entry.connections = None;
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
        entry.connections = None;
        let retired_watcher = entry.watcher.take();
        drop(streams);
        drop(retired_watcher);
        self.announce(&presentation.stream);
    }
}
