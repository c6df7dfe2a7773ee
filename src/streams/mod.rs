//! streams — what exists, in which state, and who is told: the [`registry`] of streams, the one
//! [`watcher`] of the media folder (a watch per live stream's folder), the [`readiness`] rule for
//! `manifest_ready`, and the [`events`] each publisher or viewer is owed; [`retention`]
//! removes old recordings; [`thumbnails`] keeps each stream's latest picture from its publisher.

pub mod events;
pub mod readiness;
pub mod registry;
pub mod retention;
pub mod status;
pub mod tasks;
pub mod thumbnails;
pub mod watcher;

use std::path::Path;

pub use events::EventCursor;
pub use registry::{Presentation, Registry, StreamState, StreamStatus};

use crate::media::MANIFEST;

/// Marks the presentation ready if its manifest is now playable. Called from the folder watcher on
/// every file change that matters (never on opens: this reads the manifest) until ready, and once more
/// when the packager finishes.
pub fn check_ready(registry: &Registry, presentation: &Presentation) {
    if registry.is_ready(presentation) {
        return;
    }
    registry.count_readiness_check();
    let Ok(mpd) = std::fs::read_to_string(presentation.dir.join(MANIFEST)) else { return };
    if readiness::presentation_ready(&mpd, |name| file_has_data(&presentation.dir, name)) {
        registry.mark_ready(presentation);
    }
}

/// The file, or its in-progress `.tmp`, exists and is not empty.
fn file_has_data(dir: &Path, name: &str) -> bool {
    let non_empty = |path: &Path| std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
    non_empty(&dir.join(name)) || non_empty(&dir.join(format!("{name}.tmp")))
}
