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

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

pub use events::EventCursor;
pub use registry::{Presentation, Registry, StreamState, StreamStatus};

use crate::media::MANIFEST;

/// One presentation's readiness checks: what its current manifest needs, parsed once per version of
/// the manifest. Before `manifest_ready` every file event runs a check (each fragment the muxer writes,
/// hundreds of them per stream at 500 streams' start); only the manifest's own change re-reads it.
#[derive(Default)]
pub struct ReadinessCheck {
    /// The manifest version last parsed and the files it needs (`None`: it can't be ready as written).
    parsed: Mutex<Option<(ManifestVersion, Option<Vec<String>>)>>,
}

/// Which manifest file was parsed: the muxer replaces it by a rename, so a new version is a new
/// inode (and its change time and length tell a rewrite in place too).
#[derive(Clone, Copy, PartialEq, Eq)]
struct ManifestVersion {
    inode: u64,
    len: u64,
    changed_nanos: i128,
}

impl ManifestVersion {
    fn of(metadata: &std::fs::Metadata) -> ManifestVersion {
        let changed_nanos = i128::from(metadata.ctime()) * 1_000_000_000 + i128::from(metadata.ctime_nsec());
        ManifestVersion { inode: metadata.ino(), len: metadata.len(), changed_nanos }
    }
}

/// Marks the presentation ready if its manifest is now playable. Called from the folder watcher on
/// every file change that matters (never on opens: a new manifest is read) until ready, and once more
/// when the packager finishes.
pub fn check_ready(registry: &Registry, presentation: &Presentation, check: &ReadinessCheck) {
    if registry.is_ready(presentation) {
        return;
    }
    let manifest = presentation.dir.join(MANIFEST);
    // A stat, not an open: opening would be one more file event per check.
    let Ok(version) = std::fs::metadata(&manifest).map(|m| ManifestVersion::of(&m)) else { return };
    let mut parsed = check.parsed.lock().unwrap_or_else(|p| p.into_inner());
    if parsed.as_ref().is_none_or(|(seen, _)| *seen != version) {
        // A newer manifest may be read than the version noted; the next check then sees a version it
        // has not parsed and reads again, so what is kept is never older than the file.
        registry.count_readiness_check();
        let Ok(mpd) = std::fs::read_to_string(&manifest) else { return };
        *parsed = Some((version, readiness::required_files(&mpd)));
    }
    let ready = parsed
        .as_ref()
        .and_then(|(_, required)| required.as_ref())
        .is_some_and(|files| files.iter().all(|name| file_has_data(&presentation.dir, name)));
    drop(parsed);
    if ready {
        registry.mark_ready(presentation);
    }
}

/// The file, or its in-progress `.tmp`, exists and is not empty.
fn file_has_data(dir: &Path, name: &str) -> bool {
    let non_empty = |path: &Path| std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
    non_empty(&dir.join(name)) || non_empty(&dir.join(format!("{name}.tmp")))
}
