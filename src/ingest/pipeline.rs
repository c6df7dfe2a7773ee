//! Starting a presentation's data path: an empty stream folder, a watcher on it, and the packager
//! thread, which takes publisher connections from a channel kept in the registry. Blocking (file
//! system, thread spawn): call it off the async executor.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::media::{self, Connection, DashSettings, PackagerEvent, PackagerJob, RecorderFormat};
use crate::streams::registry::PackagerLease;
use crate::streams::{self, Presentation, Registry, watcher::StreamWatcher};

/// Recorder messages are cut into pieces of at most this size before they enter the channel, so the
/// channel's memory is bounded by [`CHANNEL_PIECES`] × this, whatever the message sizes.
pub const PIECE_BYTES: usize = 64 * 1024;

/// How many pieces may wait for the packager: 1 MiB. When it is full the publisher's socket stops
/// being read, and TCP pushes back on the browser; the session waits for room without a thread
/// ([`media::FeedSender`]).
pub const CHANNEL_PIECES: usize = 16;

/// How a presentation's packager runs.
#[derive(Debug, Clone, Copy)]
pub struct PackagerTiming {
    /// How long a vanished publisher may take to come back.
    pub reconnect_grace: Duration,
    /// Test only: the packager's pause before each piece of input (`--test-packager-delay`).
    pub read_delay: Duration,
}

/// Prepares the folder, starts the watcher and the packager; returns where to send connections. The
/// packager thread holds `lease` until it exits, and the registry keeps the thread to join it.
pub fn start(
    registry: &Arc<Registry>,
    presentation: &Presentation,
    format: RecorderFormat,
    settings: DashSettings,
    timing: PackagerTiming,
    lease: PackagerLease,
) -> io::Result<Sender<Connection>> {
    empty_stream_dir(&presentation.dir)?;

    let weak = Arc::downgrade(registry);
    let watched = presentation.clone();
    let watcher = StreamWatcher::start(&presentation.dir, move || {
        if let Some(registry) = weak.upgrade() {
            streams::check_ready(&registry, &watched);
        }
    })
    .map_err(|e| io::Error::other(format!("watching {}: {e}", presentation.dir.display())))?;

    // Unbounded, but a connection is only ever sent by a publisher the registry let in.
    let (connections, receiver) = crossbeam_channel::unbounded();
    let job = PackagerJob {
        stream: presentation.stream.clone(),
        dir: presentation.dir.clone(),
        format,
        settings,
        reconnect_grace: timing.reconnect_grace,
        read_delay: timing.read_delay,
    };
    let reporter = Arc::clone(registry);
    let reported = presentation.clone();
    let thread = media::spawn_packager(
        job,
        receiver,
        move |event| {
            // The final manifest may be the first playable one (a stream shorter than a segment).
            if matches!(event, PackagerEvent::Finished(_) | PackagerEvent::Failed { salvaged: Some(_), .. }) {
                streams::check_ready(&reporter, &reported);
            }
            reporter.on_packager_event(&reported, event);
        },
        lease,
    )?;
    registry.keep_packager_thread(thread);
    registry.attach_packager(presentation, watcher, connections.clone());
    Ok(connections)
}

/// Creates the stream folder, or empties it of an earlier presentation's files. Refuses a folder that
/// is a symbolic link: emptying it would delete files outside the media folder.
fn empty_stream_dir(dir: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(io::Error::other(format!("{} exists and is not a plain folder", dir.display())));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(dir)?,
        Err(e) => return Err(e),
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // `file_type` does not follow links: a link is removed, never what it points at.
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
