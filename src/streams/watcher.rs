//! A `notify` (inotify) watcher on one stream's folder while its packager runs.
//!
//! Every file event bumps a generation counter that HTTP handlers streaming an in-progress segment
//! wait on (woken by the muxer's writes, no polling), and runs a callback — used to spot the moment
//! the manifest becomes playable. The muxer writes every file as `name.tmp` and renames it, so the
//! rename (not the creation) is when a manifest appears; the callback simply re-checks on any event.

use std::path::Path;
use std::sync::Arc;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::watch;

/// Watches a stream folder; stops when dropped (and then wakes every waiter one last time).
pub struct StreamWatcher {
    _watcher: RecommendedWatcher,
    changes: Arc<watch::Sender<u64>>,
}

impl StreamWatcher {
    /// Starts watching `dir` (which must exist); `on_change` runs on the watcher's thread after each
    /// file event.
    pub fn start(dir: &Path, on_change: impl Fn() + Send + 'static) -> notify::Result<StreamWatcher> {
        let changes = Arc::new(watch::channel(0u64).0);
        let signal = Arc::clone(&changes);
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                signal.send_modify(|generation| *generation += 1);
                on_change();
            }
        })?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(StreamWatcher { _watcher: watcher, changes })
    }

    /// A receiver that wakes on every file event in the folder, and errors once watching stopped.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
