//! Finished files answered from memory: the recent segments and current manifest of every stream.
//!
//! Policy (written here, where the structure is made): files up to [`MAX_FILE_BYTES`] are kept, all of
//! them together within [`BUDGET_BYTES`]; past the budget the least recently served go first, and a
//! viewer asking for one of those again simply has it re-read from disk.
//!
//! An entry is the file's contents only while the path is still the same regular file (device, inode,
//! size, modification time). That is checked with one `lstat`, not on every hit (the `lstat` was a
//! sixth of the CPU of serving a small segment) but when it is kept, when the media-folder watcher
//! reports an event for the name ([`FileCache::revalidate`]: a manifest replaced by a rename is a new
//! inode, dropped as the event arrives, before anyone is told of the new one), when a stream folder
//! may have changed without a reported event ([`FileCache::revalidate_dir`]: a packager ending, lost
//! events), and on a hit when the last check is older than [`TRUSTED_FOR`] (folders nobody watches: a
//! finished recording deleted or replaced by hand). A link is never kept.
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Bytes of file contents kept in memory at most: a few seconds of the live edge of a few hundred
/// webcam streams, and small next to the memory of any machine that carries that many.
pub const BUDGET_BYTES: u64 = 256 * 1024 * 1024;

/// Larger files (a long recording's segments at a high bitrate) are not kept: served from disk.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// How long a check of an entry against the file system holds for a hit without a new `lstat`: a
/// change nobody reports (a file of a finished recording deleted or replaced by hand) is seen within
/// this. As long as a manifest may be kept anywhere (`max-age=1`); segments never change once written.
pub const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_nanos: i128,
}

impl Identity {
    /// The identity of what `metadata` describes.
    pub fn of(metadata: &std::fs::Metadata) -> Identity {
        Identity {
            dev: metadata.dev(),
            ino: metadata.ino(),
            len: metadata.len(),
            mtime_nanos: metadata.mtime() as i128 * 1_000_000_000 + metadata.mtime_nsec() as i128,
        }
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.len
    }

    /// A strong validator for this version (`ETag`).
    pub fn etag(&self) -> String {
        format!("\"{:x}-{:x}-{:x}\"", self.ino, self.mtime_nanos, self.len)
    }
}

/// A cached file: its contents and which version they are.
#[derive(Debug, Clone)]
pub struct Cached {
    pub bytes: Bytes,
    pub identity: Identity,
    /// [`Identity::etag`], made once per version rather than once per request.
    pub etag: Bytes,
}

impl Cached {
    /// `bytes` as version `identity` of a file.
    pub fn new(bytes: Bytes, identity: Identity) -> Cached {
        Cached { bytes, identity, etag: Bytes::from(identity.etag()) }
    }
}

struct Entry {
    cached: Cached,
    /// Tick of the last hit: the oldest go first when over budget.
    last_used: AtomicU64,
    /// When the entry was last found to match the file system, in milliseconds since the cache's epoch.
    checked: AtomicU64,
}

/// The in-memory copy of finished files, keyed by path.
pub struct FileCache {
    entries: Mutex<HashMap<PathBuf, Entry>>,
    used: AtomicU64,
    tick: AtomicU64,
    budget: u64,
    /// What [`Entry::checked`] counts from.
    epoch: Instant,
}

impl Default for FileCache {
    fn default() -> Self {
        FileCache::with_budget(BUDGET_BYTES)
    }
}

impl FileCache {
    /// A cache holding at most `budget` bytes of contents.
    pub fn with_budget(budget: u64) -> FileCache {
        let epoch = Instant::now();
        FileCache { entries: Mutex::new(HashMap::new()), used: AtomicU64::new(0), tick: AtomicU64::new(0), budget, epoch }
    }

    /// The cached contents of `path` at `now`, if they are still what the file system holds there
    /// (checked again with one `lstat` once the last check is [`TRUSTED_FOR`] old). No system call
    /// otherwise.
    pub fn get(&self, path: &Path, now: Instant) -> Option<Cached> {
        let now = self.millis(now);
        let mut entries = self.lock();
        let entry = entries.get(path)?;
        if now.saturating_sub(entry.checked.load(Ordering::Relaxed)) >= TRUSTED_FOR.as_millis() as u64 {
            if !still_on_disk(path, &entry.cached.identity) {
                self.remove(&mut entries, path);
                return None;
            }
            entry.checked.store(now, Ordering::Relaxed);
        }
        entry.last_used.store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        Some(entry.cached.clone())
    }

    /// Keeps `bytes` as the contents of `path` in version `identity`, if the policy allows and the
    /// path is still that version: checked under the lock [`FileCache::revalidate`] takes, so a file
    /// replaced while it was being read is never kept (its event may already have been handled).
    pub fn insert(&self, path: PathBuf, bytes: Bytes, identity: Identity) {
        let len = bytes.len() as u64;
        if len > MAX_FILE_BYTES || len > self.budget || len != identity.len {
            return;
        }
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        let checked = self.millis(Instant::now());
        let mut entries = self.lock();
        if !still_on_disk(&path, &identity) {
            return;
        }
        let entry = Entry {
            cached: Cached::new(bytes, identity),
            last_used: AtomicU64::new(tick),
            checked: AtomicU64::new(checked),
        };
        if let Some(old) = entries.insert(path, entry) {
            self.used.fetch_sub(old.cached.bytes.len() as u64, Ordering::Relaxed);
        }
        let used = self.used.fetch_add(len, Ordering::Relaxed) + len;
        if used > self.budget {
            self.evict(&mut entries);
        }
    }

    /// The file at `path` changed (the watcher saw an event for it): its entry goes unless it is still
    /// what the path holds (a finished segment kept just before its own rename event arrives).
    pub fn revalidate(&self, path: &Path) {
        let checked = self.millis(Instant::now());
        let mut entries = self.lock();
        let Some(entry) = entries.get(path) else { return };
        if still_on_disk(path, &entry.cached.identity) {
            entry.checked.store(checked, Ordering::Relaxed);
        } else {
            self.remove(&mut entries, path);
        }
    }

    /// Files under `dir` may have changed without an event being handled (its packager ended, or the
    /// kernel dropped events): every entry there is checked now.
    pub fn revalidate_dir(&self, dir: &Path) {
        let checked = self.millis(Instant::now());
        let mut entries = self.lock();
        entries.retain(|path, entry| {
            if !path.starts_with(dir) {
                return true;
            }
            let keep = still_on_disk(path, &entry.cached.identity);
            if keep {
                entry.checked.store(checked, Ordering::Relaxed);
            } else {
                self.used.fetch_sub(entry.cached.bytes.len() as u64, Ordering::Relaxed);
            }
            keep
        });
    }

    /// Forgets every file under `dir` (a stream folder emptied for a new presentation).
    pub fn forget_dir(&self, dir: &Path) {
        let mut entries = self.lock();
        entries.retain(|path, entry| {
            let keep = !path.starts_with(dir);
            if !keep {
                self.used.fetch_sub(entry.cached.bytes.len() as u64, Ordering::Relaxed);
            }
            keep
        });
    }

    /// Bytes held now.
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Drops the least recently used entries until a tenth of the budget is free again, so eviction
    /// (a sort) runs once per many inserts rather than on each.
    fn evict(&self, entries: &mut HashMap<PathBuf, Entry>) {
        let target = self.budget - self.budget / 10;
        let mut by_age: Vec<(u64, PathBuf)> =
            entries.iter().map(|(path, e)| (e.last_used.load(Ordering::Relaxed), path.clone())).collect();
        by_age.sort_unstable();
        for (_, path) in by_age {
            if self.used.load(Ordering::Relaxed) <= target {
                break;
            }
            if let Some(old) = entries.remove(&path) {
                self.used.fetch_sub(old.cached.bytes.len() as u64, Ordering::Relaxed);
            }
        }
    }

    fn remove(&self, entries: &mut HashMap<PathBuf, Entry>, path: &Path) {
        if let Some(old) = entries.remove(path) {
            self.used.fetch_sub(old.cached.bytes.len() as u64, Ordering::Relaxed);
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether `path` is still the regular file `identity` describes (one `lstat`; a link never is).
fn still_on_disk(path: &Path, identity: &Identity) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_file() && Identity::of(&metadata) == *identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, Identity) {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let identity = Identity::of(&std::fs::symlink_metadata(&path).unwrap());
        (path, identity)
    }

    /// Replaces `path` the way the muxer does: a new file renamed over the old one.
    fn replace(dir: &Path, path: &Path, bytes: &[u8]) {
        let (temp, _) = write(dir, "replacement.tmp", bytes);
        std::fs::rename(temp, path).unwrap();
    }

    #[test]
    fn a_reported_change_drops_the_old_version_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::default();
        let (path, identity) = write(dir.path(), "manifest.mpd", b"one");
        cache.insert(path.clone(), Bytes::from_static(b"one"), identity);
        let now = Instant::now();
        assert_eq!(cache.get(&path, now).unwrap().bytes, "one");
        assert_eq!(cache.get(&path, now).unwrap().etag, identity.etag());
        cache.revalidate(&path);
        assert!(cache.get(&path, now).is_some(), "an event for the file as it is keeps it");
        replace(dir.path(), &path, b"two!");
        cache.revalidate(&path);
        assert!(cache.get(&path, now).is_none(), "a replaced file is a miss once its event is handled");
        assert_eq!(cache.used_bytes(), 0);
    }

    #[test]
    fn an_unreported_change_is_seen_within_the_trusted_time() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::default();
        let (path, identity) = write(dir.path(), "chunk-a-0-00001.m4s", b"one");
        cache.insert(path.clone(), Bytes::from_static(b"one"), identity);
        replace(dir.path(), &path, b"two!");
        let now = Instant::now();
        assert!(cache.get(&path, now).is_some(), "trusted without a system call until the check is old");
        assert!(cache.get(&path, now + TRUSTED_FOR).is_none(), "then checked: a replaced file is a miss");

        let (kept, identity) = write(dir.path(), "chunk-a-0-00002.m4s", b"kept");
        cache.insert(kept.clone(), Bytes::from_static(b"kept"), identity);
        assert!(cache.get(&kept, now + TRUSTED_FOR * 3).is_some(), "an old check of an unchanged file holds");
        std::fs::remove_file(&kept).unwrap();
        cache.revalidate_dir(dir.path());
        assert!(cache.get(&kept, now).is_none(), "a deleted file is a miss once its folder is checked");
    }

    #[test]
    fn a_version_no_longer_on_disk_is_never_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::default();
        let (path, old) = write(dir.path(), "manifest.mpd", b"one");
        // Read before the rename, kept after it (and after its event was handled).
        replace(dir.path(), &path, b"two!");
        cache.insert(path.clone(), Bytes::from_static(b"one"), old);
        assert!(cache.get(&path, Instant::now()).is_none());
        std::os::unix::fs::symlink(&path, dir.path().join("link.mpd")).unwrap();
        let linked = Identity::of(&std::fs::metadata(dir.path().join("link.mpd")).unwrap());
        cache.insert(dir.path().join("link.mpd"), Bytes::from_static(b"two!"), linked);
        assert!(cache.get(&dir.path().join("link.mpd"), Instant::now()).is_none(), "a link is never kept");
    }

    #[test]
    fn the_budget_evicts_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::with_budget(100);
        let files: Vec<_> = (0..3).map(|i| write(dir.path(), &format!("f{i}"), &[i as u8; 40])).collect();
        for (i, (path, identity)) in files.iter().enumerate().take(2) {
            cache.insert(path.clone(), Bytes::from(vec![i as u8; 40]), *identity);
        }
        let now = Instant::now();
        assert!(cache.get(&files[0].0, now).is_some(), "f0 is now the most recently used");
        cache.insert(files[2].0.clone(), Bytes::from(vec![2u8; 40]), files[2].1);
        assert!(cache.used_bytes() <= 100);
        assert!(cache.get(&files[1].0, now).is_none(), "f1 was the least recently used");
        assert!(cache.get(&files[0].0, now).is_some() && cache.get(&files[2].0, now).is_some());
    }
}
