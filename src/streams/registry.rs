//! The registry: every stream this server has seen since it started, its state
//! (starting → live → ended, or failed), and who is publishing it.
//!
//! One publisher per stream at a time: [`Registry::claim`] refuses a second one while a publisher is
//! connected; while a presentation's publisher is gone but its packager waits for a reconnect, a claim
//! resumes that presentation instead of starting a new one. Every change is announced on a broadcast
//! channel carrying only the stream id; subscribers read the current [`StreamStatus`] and work out
//! what to tell their client ([`super::events::EventCursor`]), so a missed announcement is never a lost
//! event. [`Registry::begin_shutdown`] refuses new publishers and has every presentation finalised.
//!
//! A stream id stays taken until its packager thread has exited, not merely until its state says
//! ended or failed: a presentation given up on (a finalise that took too long) may still be writing
//! into the folder, and a new presentation would empty that folder under it. The thread holds a
//! [`PackagerLease`] until it ends; running packagers count toward `--max-streams`, and
//! [`Registry::finish`] waits for them (and for publisher sessions) at shutdown. How a presentation's
//! state changes as its publisher and packager report is in [`transitions`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::SystemTime;

use crossbeam_channel::Sender;
use tokio::sync::{broadcast, watch};

use crate::error_code::ErrorCode;
use crate::media::Connection;
use crate::stream_id::StreamId;

pub use super::status::{StreamState, StreamStatus};
use super::status::Source;
use super::tasks::{TaskGuard, Tasks};
use super::thumbnails::Thumbnails;
use super::watcher::{FolderWatch, MediaWatcher};
use crate::delivery::cache::FileCache;
use crate::delivery::folder::Folder;

mod transitions;

/// How many change announcements a slow subscriber may fall behind before it re-reads the status.
const CHANGE_BACKLOG: usize = 256;

/// The publisher's hold on a stream: which presentation it is and where it is written.
#[derive(Debug, Clone)]
pub struct Presentation {
    pub stream: StreamId,
    pub id: u64,
    pub dir: PathBuf,
    pub tag: String,
    /// Recorder bytes received so far, over all connections (for the per-stream limit).
    pub bytes_received: Arc<AtomicU64>,
}

/// What a publisher's claim on a stream got.
#[derive(Debug)]
pub enum Claim {
    /// A new presentation: start its packager, and give the packager thread the lease.
    New(Presentation, PackagerLease),
    /// The stream's publisher had vanished and its packager is waiting: continue that presentation by
    /// sending a [`Connection`] here. `mime_type` is what the presentation was started with.
    Resume { presentation: Presentation, connections: Sender<Connection>, mime_type: String },
}

/// Why a publisher could not have the stream. Each variant has its contract code.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("stream {0} is already being published; stop the other publisher or pick another stream id")]
    Busy(StreamId),
    /// `finishing` of the slots are held by packagers whose recording is complete (`ended` was sent):
    /// they exit and free theirs within moments, so a publisher may wait for one. A failed
    /// presentation's packager may run on for long (a slow finalise), so it is not counted here.
    #[error("this server is at its limit of {limit} live streams; try again later")]
    TooMany { limit: usize, finishing: usize },
    #[error("the server is shutting down; try again in a moment")]
    ShuttingDown,
    #[error("stream {0} is still finishing its previous presentation; try again in a moment")]
    Finalising(StreamId),
}

impl ClaimError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ClaimError::Busy(_) | ClaimError::Finalising(_) => ErrorCode::StreamBusy,
            ClaimError::TooMany { .. } => ErrorCode::TooLarge,
            ClaimError::ShuttingDown => ErrorCode::Internal,
        }
    }
}

struct Entry {
    status: StreamStatus,
    /// Watches the stream folder while its packager runs.
    watcher: Option<FolderWatch>,
    /// Hands a (re)connecting publisher's input to the running packager; dropped to make it finish.
    connections: Option<Sender<Connection>>,
    bytes_received: Arc<AtomicU64>,
    /// The presentation's packager thread has not exited yet (from the claim until its lease drops).
    packager_running: bool,
}

/// Held by a presentation's packager thread while it runs (and by its publisher until it is started).
/// Dropping it frees the stream id and its `--max-streams` slot.
pub struct PackagerLease {
    registry: Arc<Registry>,
    stream: StreamId,
    presentation: u64,
    _task: TaskGuard,
}

impl std::fmt::Debug for PackagerLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackagerLease(stream {}, presentation {})", self.stream, self.presentation)
    }
}

impl Drop for PackagerLease {
    fn drop(&mut self) {
        let mut streams = self.registry.lock();
        if let Some(entry) = streams.get_mut(&self.stream)
            && entry.status.presentation == self.presentation
        {
            entry.packager_running = false;
        }
        drop(streams);
        self.registry.announce(&self.stream);
    }
}

/// All streams, shared by the ingest sessions, packager threads, watchers and HTTP handlers.
pub struct Registry {
    media_dir: PathBuf,
    /// Most presentations starting or live at once (`--max-streams`).
    max_streams: usize,
    streams: Mutex<HashMap<StreamId, Entry>>,
    changes: broadcast::Sender<StreamId>,
    next_presentation: Mutex<u64>,
    shutting_down: AtomicBool,
    /// Tells publisher sessions to end their input when the server stops.
    shutdown: watch::Sender<bool>,
    /// The one watcher of the media folder, and the in-memory copy of finished files it fills.
    media_watcher: Arc<MediaWatcher>,
    /// Packager threads and publisher sessions still running.
    tasks: Tasks,
    /// Manifests read to decide whether a presentation is playable yet
    /// (`livedash_readiness_checks_total`): a stream that does nothing must not keep this growing.
    readiness_checks: AtomicU64,
    /// The latest thumbnail of each stream, from its publisher.
    thumbnails: Thumbnails,
}

impl Registry {
    pub fn new(media_dir: PathBuf, max_streams: usize) -> Arc<Registry> {
        Arc::new(Registry {
            media_dir,
            max_streams,
            streams: Mutex::new(HashMap::new()),
            changes: broadcast::channel(CHANGE_BACKLOG).0,
            next_presentation: Mutex::new(1),
            shutting_down: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
            media_watcher: MediaWatcher::new(Arc::new(FileCache::default())),
            tasks: Tasks::default(),
            readiness_checks: AtomicU64::new(0),
            thumbnails: Thumbnails::default(),
        })
    }

    /// The streams' thumbnails ([`super::thumbnails`]).
    pub fn thumbnails(&self) -> &Thumbnails {
        &self.thumbnails
    }

    /// The folder of a stream's files.
    pub fn stream_dir(&self, stream: &StreamId) -> PathBuf {
        self.media_dir.join(stream.as_str())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<StreamId, Entry>> {
        // A panic while holding the lock leaves plain data behind; keep serving rather than cascade.
        self.streams.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes `stream` for a publisher: resumes its presentation if its publisher vanished and the
    /// packager still waits, else starts a new one, unless another publisher holds it or a limit says no.
    pub fn claim(self: &Arc<Self>, stream: &StreamId, mime_type: &str, source: Source, tag: String) -> Result<Claim, ClaimError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(ClaimError::ShuttingDown);
        }
        let mut streams = self.lock();
        if let Some(entry) = streams.get_mut(stream)
            && entry.status.state.is_active()
        {
            return match (&entry.connections, entry.status.publisher_connected) {
                (Some(connections), false) => {
                    entry.status.publisher_connected = true;
                    let resumed = Claim::Resume {
                        presentation: Presentation {
                            stream: stream.clone(),
                            id: entry.status.presentation,
                            dir: self.stream_dir(stream),
                            tag: entry.status.tag.clone(),
                            bytes_received: Arc::clone(&entry.bytes_received),
                        },
                        connections: connections.clone(),
                        mime_type: entry.status.mime_type.clone(),
                    };
                    drop(streams);
                    self.announce(stream);
                    Ok(resumed)
                }
                // Nobody publishes and no reconnect can be taken: the presentation is being finished.
                (None, false) => Err(ClaimError::Finalising(stream.clone())),
                _ => Err(ClaimError::Busy(stream.clone())),
            };
        }
        if streams.get(stream).is_some_and(|e| e.packager_running) {
            return Err(ClaimError::Finalising(stream.clone()));
        }
        let active = streams.values().filter(|e| e.holds_a_slot()).count();
        if active >= self.max_streams {
            let finishing =
                streams.values().filter(|e| e.packager_running && matches!(e.status.state, StreamState::Ended { .. })).count();
            return Err(ClaimError::TooMany { limit: self.max_streams, finishing });
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
            source,
            started_at: SystemTime::now(),
            tracks: Vec::new(),
            segment_type: None,
            low_latency: false,
            publisher_connected: true,
            bytes_received: 0,
            keyframe_interval_seconds: None,
            keyframe_warning: None,
            tag: tag.clone(),
        };
        let bytes_received = Arc::new(AtomicU64::new(0));
        let entry = Entry {
            status,
            watcher: None,
            connections: None,
            bytes_received: Arc::clone(&bytes_received),
            packager_running: true,
        };
        streams.insert(stream.clone(), entry);
        drop(streams);
        self.announce(stream);
        let lease = PackagerLease {
            registry: Arc::clone(self),
            stream: stream.clone(),
            presentation: id,
            _task: self.tasks.track(format!("the packager of stream {stream}")),
        };
        Ok(Claim::New(Presentation { stream: stream.clone(), id, dir: self.stream_dir(stream), tag, bytes_received }, lease))
    }

    /// Keeps a packager thread to join it; joins those that have already ended.
    pub fn keep_packager_thread(&self, thread: JoinHandle<()>) {
        self.tasks.keep_thread(thread);
    }

    /// Records a running publisher session until the guard is dropped, for shutdown to wait for.
    pub fn track_session(&self, stream: &StreamId) -> TaskGuard {
        self.tasks.track(format!("the publisher session of stream {stream}"))
    }

    /// After [`Registry::begin_shutdown`]: waits until every packager thread and publisher session has
    /// ended, or until `deadline`, then joins the ended threads. Logs what did not end in time.
    pub async fn finish(&self, deadline: tokio::time::Instant) {
        self.tasks.finish(deadline).await;
    }

    /// Keeps the folder watcher and the packager's connection channel for as long as the presentation
    /// is active.
    pub fn attach_packager(&self, presentation: &Presentation, watcher: FolderWatch, connections: Sender<Connection>) {
        let mut streams = self.lock();
        let mut unused = Some(watcher);
        if let Some(entry) = current(&mut streams, presentation)
            && entry.status.state.is_active()
        {
            entry.watcher = unused.take();
            if !self.shutting_down.load(Ordering::SeqCst) {
                entry.connections = Some(connections);
            }
        }
        drop(streams);
        // Dropped outside the lock: stopping a watch waits for the watcher's thread.
        drop(unused);
    }

    /// The media folder's watcher, which every packager's folder is added to.
    pub fn media_watcher(&self) -> &Arc<MediaWatcher> {
        &self.media_watcher
    }

    /// Counts one readiness check that read the manifest.
    pub fn count_readiness_check(&self) {
        self.readiness_checks.fetch_add(1, Ordering::Relaxed);
    }

    /// Readiness checks that read a manifest, server-wide.
    pub fn readiness_checks(&self) -> u64 {
        self.readiness_checks.load(Ordering::Relaxed)
    }

    /// Refuses new publishers from now on, tells every publisher session to end its input, and has
    /// packagers waiting for a reconnect finalise at once.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
        let mut streams = self.lock();
        for entry in streams.values_mut() {
            entry.connections = None;
        }
    }

    /// Changes to `true` when the server begins shutting down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// The current status of `stream`, if it was ever published.
    pub fn status(&self, stream: &StreamId) -> Option<StreamStatus> {
        self.lock().get(stream).map(Entry::snapshot)
    }

    /// Every stream with its status, sorted by id.
    pub fn list(&self) -> Vec<(StreamId, StreamStatus)> {
        let mut all: Vec<_> = self.lock().iter().map(|(id, e)| (id.clone(), e.snapshot())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// How many presentations are starting or live, or still have their packager running.
    pub fn active_count(&self) -> usize {
        self.lock().values().filter(|e| e.holds_a_slot()).count()
    }

    /// Whether the stream is active or its packager thread is still running (its folder is in use).
    pub fn in_use(&self, stream: &StreamId) -> bool {
        self.lock().get(stream).is_some_and(Entry::holds_a_slot)
    }

    /// Subscribes to "stream X changed" announcements.
    pub fn subscribe(&self) -> broadcast::Receiver<StreamId> {
        self.changes.subscribe()
    }

    /// The folder watcher's file-change signal for an active stream (for serving in-progress files).
    pub fn file_changes(&self, stream: &StreamId) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.live_folder(stream).and_then(|folder| folder.changes())
    }

    /// The live state of an active stream's folder: in-progress segments and per-file wake-ups.
    pub fn live_folder(&self, stream: &StreamId) -> Option<Arc<Folder>> {
        self.lock().get(stream).and_then(|e| e.watcher.as_ref()).map(|w| Arc::clone(w.folder()))
    }

    /// Forgets an ended or failed stream and moves its folder to `trash` (for deleting outside the
    /// lock), in one step under the lock so no publisher can claim the id in between. False, and
    /// nothing done, while the stream is active or its packager still runs: a presentation given up
    /// on may still be writing, and forgetting it would let a new one claim the id under that writer.
    pub fn retire(&self, stream: &StreamId, trash: &std::path::Path) -> std::io::Result<bool> {
        let mut streams = self.lock();
        if streams.get(stream).is_some_and(Entry::holds_a_slot) {
            return Ok(false);
        }
        match std::fs::rename(self.stream_dir(stream), trash) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let retired = streams.remove(stream);
        drop(streams);
        self.media_watcher.cache().forget_dir(&self.stream_dir(stream));
        if retired.is_some() {
            self.announce(stream);
        }
        Ok(true)
    }

    fn announce(&self, stream: &StreamId) {
        // No subscribers is fine: nobody is waiting.
        let _ = self.changes.send(stream.clone());
    }
}

impl Entry {
    fn snapshot(&self) -> StreamStatus {
        StreamStatus { bytes_received: self.bytes_received.load(Ordering::Relaxed), ..self.status.clone() }
    }

    /// Counts toward `--max-streams`: a packager finishing a failed presentation still costs a thread.
    fn holds_a_slot(&self) -> bool {
        self.status.state.is_active() || self.packager_running
    }
}

/// The entry for `presentation`, if it is still the stream's current one.
fn current<'a>(streams: &'a mut HashMap<StreamId, Entry>, presentation: &Presentation) -> Option<&'a mut Entry> {
    streams.get_mut(&presentation.stream).filter(|e| e.status.presentation == presentation.id)
}

#[cfg(test)]
mod tests;
