//! Serving a segment while the muxer is still writing it (low-latency DASH).
//!
//! The muxer writes `name.tmp` and renames it to `name` when the segment is complete. A player that
//! asks for `name` early gets the `.tmp` streamed with chunked transfer: every byte already written at
//! once, then each new fragment as the folder watcher reports a write (no polling), until the rename.
//! The open handle follows the file across the rename, so the body is exactly the finished segment.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::time::Instant;

/// Read size while streaming: a few fragments of a typical webcam stream.
const READ_BYTES: usize = 64 * 1024;

/// If the watcher missed an event (it never should), look again after this long.
const SAFETY_RECHECK: Duration = Duration::from_millis(500);

/// What a request for a not-yet-finished segment found after waiting.
pub enum Found {
    /// The finished file exists: serve it normally.
    Finished,
    /// The segment is being written: stream this `.tmp`.
    InProgress(tokio::fs::File),
    /// Neither appeared in time (or the stream stopped).
    Missing,
}

/// `path` with `.tmp` appended, the muxer's in-progress name.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Waits (until `deadline`, woken by folder events) for `path` or its `.tmp` to exist.
pub async fn wait_for_segment(path: &Path, mut changes: watch::Receiver<u64>, deadline: Instant) -> Found {
    let temp = temp_path(path);
    loop {
        // Mark events seen before looking, so one that lands in between still wakes us.
        changes.borrow_and_update();
        if tokio::fs::try_exists(path).await.unwrap_or(false) {
            return Found::Finished;
        }
        let opened = {
            let temp = temp.clone();
            tokio::task::spawn_blocking(move || super::dash::open_no_follow(&temp)).await
        };
        match opened.unwrap_or_else(|e| Err(io::Error::other(e))) {
            Ok(file) => return Found::InProgress(tokio::fs::File::from_std(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => return Found::Missing,
        }
        let wake = tokio::time::timeout_at(deadline.min(Instant::now() + SAFETY_RECHECK), changes.changed()).await;
        match wake {
            Ok(Ok(())) => {}
            // The watcher stopped: the presentation ended; whatever exists now is final.
            Ok(Err(_)) => return if tokio::fs::try_exists(path).await.unwrap_or(false) { Found::Finished } else { Found::Missing },
            Err(_) if Instant::now() >= deadline => return Found::Missing,
            Err(_) => {}
        }
    }
}

/// Streams the growing `.tmp` opened as `file` until the muxer renames it to `path` (or the watcher
/// stops, or `deadline` passes). Every byte the file holds at the end is sent.
pub fn stream_growing(
    file: tokio::fs::File,
    path: PathBuf,
    changes: watch::Receiver<u64>,
    deadline: Instant,
) -> impl Stream<Item = io::Result<Bytes>> {
    struct State {
        file: tokio::fs::File,
        path: PathBuf,
        changes: watch::Receiver<u64>,
        deadline: Instant,
        /// Set once the segment is complete: read to the end, then stop.
        draining: bool,
        done: bool,
    }
    let state = State { file, path, changes, deadline, draining: false, done: false };
    futures_util::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        loop {
            state.changes.borrow_and_update();
            let mut buffer = vec![0u8; READ_BYTES];
            match state.file.read(&mut buffer).await {
                Ok(0) => {}
                Ok(n) => {
                    buffer.truncate(n);
                    return Some((Ok(Bytes::from(buffer)), state));
                }
                Err(e) => {
                    state.done = true;
                    return Some((Err(e), state));
                }
            }
            // At the end of what is written so far.
            if state.draining {
                return None;
            }
            if tokio::fs::try_exists(&state.path).await.unwrap_or(false) {
                // Renamed: complete. Anything written before the rename is still to be read.
                state.draining = true;
                continue;
            }
            if Instant::now() >= state.deadline {
                log::warn!("{}: still not finished at the deadline; ending the response", state.path.display());
                return None;
            }
            let wait = state.deadline.min(Instant::now() + SAFETY_RECHECK);
            if let Ok(Err(_)) = tokio::time::timeout_at(wait, state.changes.changed()).await {
                // Watcher gone: the presentation is over and the file will not grow any more.
                state.draining = true;
            }
        }
    })
}
