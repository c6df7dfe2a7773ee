//! One `notify` (inotify) watcher for the whole media folder, however many streams are live.
//!
//! Each live stream's folder is added to the one inotify instance while its packager runs (a watch,
//! not an instance: the kernel allows 128 instances per user but many thousands of watches), and its
//! events are dispatched by folder to that stream's [`Folder`], by file name within it. Only events
//! that matter are acted on: writes and creations (of `.tmp` files), renames, removals. Opens are
//! ignored: reading the manifest to check readiness opens it, and reacting to that open would run the
//! check again, forever (issue 11, item 2).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use crate::delivery::cache::FileCache;
use crate::delivery::folder::{Change, Folder};

/// Runs on the watcher's thread after a change in a folder (used to spot `manifest_ready`).
type OnChange = Box<dyn Fn() + Send + Sync>;

struct Watched {
    folder: Arc<Folder>,
    on_change: OnChange,
}

type Folders = Arc<Mutex<HashMap<PathBuf, Arc<Watched>>>>;

/// The media folder's watcher: started on the first stream, shared by all.
pub struct MediaWatcher {
    /// Finished segments of every folder go here.
    cache: Arc<FileCache>,
    /// Bytes read from in-progress segments: once per segment, however many viewers it has.
    live_read_bytes: Arc<AtomicU64>,
    /// `None` until the first stream (tests and tools that never publish never start a thread).
    watcher: Mutex<Option<RecommendedWatcher>>,
    folders: Folders,
}

/// A stream folder being watched; stops watching it when dropped, which completes or aborts its
/// in-progress segments and wakes every waiter one last time. Drop it outside any lock the watcher's
/// callback takes (the registry's): removing a watch waits for the watcher thread.
pub struct FolderWatch {
    watcher: Arc<MediaWatcher>,
    folder: Arc<Folder>,
}

impl MediaWatcher {
    /// A watcher that keeps finished segments in `cache`.
    pub fn new(cache: Arc<FileCache>) -> Arc<MediaWatcher> {
        Arc::new(MediaWatcher { cache, live_read_bytes: Arc::default(), watcher: Mutex::new(None), folders: Arc::default() })
    }

    /// Bytes read from in-progress segments so far, server-wide.
    pub fn live_read_bytes(&self) -> u64 {
        self.live_read_bytes.load(Ordering::Relaxed)
    }

    /// The in-memory copy of finished files.
    pub fn cache(&self) -> &Arc<FileCache> {
        &self.cache
    }

    /// Starts watching `dir` (which must exist) for presentation `tag`; `on_change` runs on the
    /// watcher's thread after each change that matters.
    pub fn watch(
        self: &Arc<Self>,
        dir: &Path,
        tag: &str,
        on_change: impl Fn() + Send + Sync + 'static,
    ) -> notify::Result<FolderWatch> {
        self.cache.forget_dir(dir);
        let (cache, read_total) = (Arc::clone(&self.cache), Arc::clone(&self.live_read_bytes));
        let folder = Arc::new(Folder::new(dir.to_path_buf(), tag.to_string(), cache, read_total));
        let watched = Arc::new(Watched { folder: Arc::clone(&folder), on_change: Box::new(on_change) });
        lock(&self.folders).insert(dir.to_path_buf(), watched);
        let added = {
            let mut watcher = lock(&self.watcher);
            if watcher.is_none() {
                *watcher = Some(start(Arc::clone(&self.folders))?);
            }
            watcher.as_mut().map(|w| w.watch(dir, RecursiveMode::NonRecursive))
        };
        if let Some(Err(e)) = added {
            lock(&self.folders).remove(dir);
            return Err(e);
        }
        Ok(FolderWatch { watcher: Arc::clone(self), folder })
    }
}

impl FolderWatch {
    /// The folder's live state.
    pub fn folder(&self) -> &Arc<Folder> {
        &self.folder
    }
}

impl Drop for FolderWatch {
    fn drop(&mut self) {
        let dir = self.folder.dir();
        if let Some(watcher) = lock(&self.watcher.watcher).as_mut() {
            // Fails only if the folder is gone, which stops the watch anyway.
            let _ = watcher.unwatch(dir);
        }
        lock(&self.watcher.folders).remove(dir);
        self.folder.close();
    }
}

fn start(folders: Folders) -> notify::Result<RecommendedWatcher> {
    notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                log::warn!("watching the media folder: {e}");
                return;
            }
        };
        if event.need_rescan() {
            let all: Vec<Arc<Watched>> = lock(&folders).values().cloned().collect();
            for watched in all {
                watched.folder.rescan();
                (watched.on_change)();
            }
            return;
        }
        let Some(change) = classify(&event.kind) else { return };
        for path in &event.paths {
            let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
                continue;
            };
            // Cloned out so the table is not locked while the folder reads files.
            let Some(watched) = lock(&folders).get(dir).cloned() else { continue };
            watched.folder.on_event(change, name);
            (watched.on_change)();
        }
    })
}

/// The events that matter, or `None` for those to ignore (opens, attribute changes, and the combined
/// rename event that repeats the separate from/to ones).
fn classify(kind: &EventKind) -> Option<Change> {
    match kind {
        EventKind::Create(_) => Some(Change::Created),
        EventKind::Modify(ModifyKind::Data(_)) => Some(Change::Written),
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(Change::Written),
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Some(Change::RenamedFrom),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => Some(Change::RenamedTo),
        EventKind::Remove(_) => Some(Change::Removed),
        _ => None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_and_reads_are_not_changes() {
        assert_eq!(classify(&EventKind::Access(AccessKind::Open(AccessMode::Any))), None);
        assert_eq!(classify(&EventKind::Access(AccessKind::Close(AccessMode::Read))), None);
        assert_eq!(classify(&EventKind::Modify(ModifyKind::Name(RenameMode::Both))), None);
        assert_eq!(classify(&EventKind::Modify(ModifyKind::Name(RenameMode::From))), Some(Change::RenamedFrom));
    }
}
