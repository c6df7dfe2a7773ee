//! Starting a presentation's data path: an empty stream folder, a watcher on it, and the packager
//! thread fed by a bounded channel. Blocking (file system, thread spawn): call it off the async
//! executor.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use crossbeam_channel::Sender;

use crate::media::{self, DashSettings, PackagerEvent, PackagerJob, RecorderFormat};
use crate::streams::{self, Presentation, Registry, watcher::StreamWatcher};

/// Recorder messages are cut into pieces of at most this size before they enter the channel, so the
/// channel's memory is bounded by [`CHANNEL_PIECES`] × this, whatever the message sizes.
pub const PIECE_BYTES: usize = 64 * 1024;

/// How many pieces may wait for the packager: 1 MiB. When it is full the publisher's socket stops
/// being read, and TCP pushes back on the browser.
pub const CHANNEL_PIECES: usize = 16;

/// Prepares the folder, starts the watcher and the packager; returns the channel's sender.
pub fn start(
    registry: &Arc<Registry>,
    presentation: &Presentation,
    format: RecorderFormat,
    settings: DashSettings,
    recording_started: SystemTime,
) -> io::Result<Sender<Bytes>> {
    empty_stream_dir(&presentation.dir)?;

    let weak = Arc::downgrade(registry);
    let watched = presentation.clone();
    let watcher = StreamWatcher::start(&presentation.dir, move || {
        if let Some(registry) = weak.upgrade() {
            streams::check_ready(&registry, &watched);
        }
    })
    .map_err(|e| io::Error::other(format!("watching {}: {e}", presentation.dir.display())))?;
    registry.attach_watcher(presentation, watcher);

    let (sender, receiver) = crossbeam_channel::bounded(CHANNEL_PIECES);
    let job = PackagerJob {
        stream: presentation.stream.clone(),
        dir: presentation.dir.clone(),
        format,
        settings,
        recording_started,
    };
    let registry = Arc::clone(registry);
    let reported = presentation.clone();
    media::spawn_packager(job, receiver, move |event| {
        // The final manifest may be the first playable one (a stream shorter than a segment).
        if matches!(event, PackagerEvent::Finished(_) | PackagerEvent::Failed { salvaged: Some(_), .. }) {
            streams::check_ready(&registry, &reported);
        }
        registry.on_packager_event(&reported, event);
    })?;
    Ok(sender)
}

/// Creates the stream folder, or empties it of an earlier presentation's files.
fn empty_stream_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
