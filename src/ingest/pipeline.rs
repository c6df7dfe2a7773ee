//! Starting a presentation's data path: an empty stream folder, a watcher on it, and the packager
//! thread, which takes publisher connections from a channel kept in the registry. Blocking (file
//! system, thread spawn): call it off the async executor. Running out of something the machine has a
//! limit of (open files, threads, file watches, memory) is [`StartError::Limit`], which the publisher
//! is told as `too_large`: the server is full, not broken.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::error_code::ErrorCode;
use crate::media::{self, Connection, DashSettings, PackagerEvent, PackagerJob, RecorderFormat};
use crate::streams::registry::PackagerLease;
use crate::streams::{self, Presentation, ReadinessCheck, Registry};

/// Recorder messages are cut into pieces of at most this size before they enter the channel, so the
/// channel's memory is bounded by [`CHANNEL_PIECES`] × this, whatever the message sizes.
pub const PIECE_BYTES: usize = 64 * 1024;

/// How many pieces may wait for the packager: 1 MiB. When it is full the publisher's socket stops
/// being read, and TCP pushes back on the browser; the session waits for room without a thread
/// ([`media::FeedSender`]).
pub const CHANNEL_PIECES: usize = 16;

/// Which step of starting a presentation failed: decides which limit an error can mean (only watching
/// runs out of file watches) and names the step in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Emptying (or creating) the stream folder.
    Preparing,
    /// Adding the folder to the media-folder watcher.
    Watching,
    /// Spawning the packager thread.
    StartingPackager,
}

impl Stage {
    /// What the step was doing, for the error message.
    fn doing(self, dir: &Path) -> String {
        let dir = dir.display();
        match self {
            Stage::Preparing => format!("preparing {dir}"),
            Stage::Watching => format!("watching {dir}"),
            Stage::StartingPackager => format!("starting the packager of {dir}"),
        }
    }
}

/// Why a presentation could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The machine is at one of its limits; another stream may fit later.
    #[error("this server has no room for another stream: it ran out of {what} ({source}); try again later")]
    Limit { what: &'static str, source: io::Error },
    /// Anything else: the server could not prepare the stream's folder or watch it.
    #[error("{doing}: {source}")]
    Failed { doing: String, source: io::Error },
}

impl StartError {
    /// The contract's code: `too_large` for a limit, else `internal`.
    pub fn code(&self) -> ErrorCode {
        match self {
            StartError::Limit { .. } => ErrorCode::TooLarge,
            StartError::Failed { .. } => ErrorCode::Internal,
        }
    }

    /// Sorts an I/O error of `stage` (on folder `dir`) into a limit or a failure.
    fn from_io(stage: Stage, dir: &Path, source: io::Error) -> StartError {
        let what = match source.raw_os_error() {
            Some(libc::EMFILE) | Some(libc::ENFILE) => "open files",
            Some(libc::EAGAIN) => "threads",
            Some(libc::ENOSPC) if stage == Stage::Watching => "file watches",
            Some(libc::ENOMEM) => "memory",
            _ => return StartError::Failed { doing: stage.doing(dir), source },
        };
        StartError::Limit { what, source }
    }

    fn from_notify(dir: &Path, error: notify::Error) -> StartError {
        match error.kind {
            notify::ErrorKind::Io(source) => StartError::from_io(Stage::Watching, dir, source),
            notify::ErrorKind::MaxFilesWatch => {
                StartError::Limit { what: "file watches", source: io::Error::other("inotify's max_user_watches") }
            }
            other => {
                StartError::Failed { doing: Stage::Watching.doing(dir), source: io::Error::other(format!("{other:?}")) }
            }
        }
    }
}

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
) -> Result<Sender<Connection>, StartError> {
    let dir = presentation.dir.as_path();
    empty_stream_dir(dir).map_err(|e| StartError::from_io(Stage::Preparing, dir, e))?;

    let weak = Arc::downgrade(registry);
    let watched = presentation.clone();
    let readiness = Arc::new(ReadinessCheck::default());
    let watched_readiness = Arc::clone(&readiness);
    let watcher = registry.media_watcher().watch(&presentation.dir, &presentation.tag, move || {
        if let Some(registry) = weak.upgrade() {
            streams::check_ready(&registry, &watched, &watched_readiness);
        }
    })
    .map_err(|e| StartError::from_notify(dir, e))?;

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
            if matches!(event, PackagerEvent::Finished(_) | PackagerEvent::Failed { .. }) {
                // The muxer's last files are on disk: the in-memory copies match them before anyone
                // is told the stream ended (their watcher events may not have been handled yet).
                reporter.media_watcher().cache().revalidate_dir(&reported.dir);
            }
            // The final manifest may be the first playable one (a stream shorter than a segment).
            if matches!(event, PackagerEvent::Finished(_) | PackagerEvent::Failed { salvaged: Some(_), .. }) {
                streams::check_ready(&reporter, &reported, &readiness);
            }
            reporter.on_packager_event(&reported, event);
        },
        lease,
    )
    .map_err(|e| StartError::from_io(Stage::StartingPackager, dir, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_space_is_out_of_file_watches_only_while_watching() {
        let dir = Path::new("/media/s");
        let enospc = || io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(matches!(
            StartError::from_io(Stage::Watching, dir, enospc()),
            StartError::Limit { what: "file watches", .. }
        ));
        let preparing = StartError::from_io(Stage::Preparing, dir, enospc());
        assert!(matches!(&preparing, StartError::Failed { doing, .. } if doing == "preparing /media/s"), "{preparing}");
        assert_eq!(preparing.code(), ErrorCode::Internal);
    }
}
