//! Finished files answered from memory: the recent segments and current manifest of every stream.
//!
//! Policy (written here, where the structure is made): files up to [`MAX_FILE_BYTES`] are kept, all of
//! them together within [`BUDGET_BYTES`]; past the budget the least recently served go first, and a
//! viewer asking for one of those again simply has it re-read from disk. Every hit is checked against
//! the file system with one `lstat` (no open, no thread-pool hop): the entry is used only if the path
//! is still the same regular file (device, inode, size, modification time). A manifest replaced by a
//! rename is a new inode, so it is never served stale; a deleted recording is never served at all.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// Bytes of file contents kept in memory at most: a few seconds of the live edge of a few hundred
/// webcam streams, and small next to the memory of any machine that carries that many.
pub const BUDGET_BYTES: u64 = 256 * 1024 * 1024;

/// Larger files (a long recording's segments at a high bitrate) are not kept: served from disk.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

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
}

struct Entry {
    cached: Cached,
    /// Tick of the last hit: the oldest go first when over budget.
    last_used: AtomicU64,
}

/// The in-memory copy of finished files, keyed by path.
pub struct FileCache {
    entries: Mutex<HashMap<PathBuf, Entry>>,
    used: AtomicU64,
    tick: AtomicU64,
    budget: u64,
}

impl Default for FileCache {
    fn default() -> Self {
        FileCache::with_budget(BUDGET_BYTES)
    }
}

impl FileCache {
    /// A cache holding at most `budget` bytes of contents.
    pub fn with_budget(budget: u64) -> FileCache {
        FileCache { entries: Mutex::new(HashMap::new()), used: AtomicU64::new(0), tick: AtomicU64::new(0), budget }
    }

    /// The cached contents of `path` if they are still what the file system holds there. The one
    /// `lstat` is the only system call; a link is never a hit.
    pub fn get(&self, path: &Path) -> Option<Cached> {
        let metadata = std::fs::symlink_metadata(path).ok()?;
        if !metadata.is_file() {
            return None;
        }
        let identity = Identity::of(&metadata);
        let entries = self.lock();
        let entry = entries.get(path)?;
        if entry.cached.identity != identity {
            return None;
        }
        entry.last_used.store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        Some(entry.cached.clone())
    }

    /// Keeps `bytes` as the contents of `path` in version `identity`, if the policy allows.
    pub fn insert(&self, path: PathBuf, bytes: Bytes, identity: Identity) {
        let len = bytes.len() as u64;
        if len > MAX_FILE_BYTES || len > self.budget || len != identity.len {
            return;
        }
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.lock();
        let entry = Entry { cached: Cached { bytes, identity }, last_used: AtomicU64::new(tick) };
        if let Some(old) = entries.insert(path, entry) {
            self.used.fetch_sub(old.cached.bytes.len() as u64, Ordering::Relaxed);
        }
        let used = self.used.fetch_add(len, Ordering::Relaxed) + len;
        if used > self.budget {
            self.evict(&mut entries);
        }
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
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

    #[test]
    fn a_hit_needs_the_same_file_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::default();
        let (path, identity) = write(dir.path(), "manifest.mpd", b"one");
        cache.insert(path.clone(), Bytes::from_static(b"one"), identity);
        assert_eq!(cache.get(&path).unwrap().bytes, "one");
        // Replaced the way the muxer does it: a new file renamed over the old one.
        let (temp, _) = write(dir.path(), "manifest.mpd.tmp", b"two!");
        std::fs::rename(temp, &path).unwrap();
        assert!(cache.get(&path).is_none(), "a replaced file is a miss");
        std::fs::remove_file(&path).unwrap();
        assert!(cache.get(&path).is_none(), "a deleted file is a miss");
    }

    #[test]
    fn the_budget_evicts_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::with_budget(100);
        let files: Vec<_> = (0..3).map(|i| write(dir.path(), &format!("f{i}"), &[i as u8; 40])).collect();
        for (i, (path, identity)) in files.iter().enumerate().take(2) {
            cache.insert(path.clone(), Bytes::from(vec![i as u8; 40]), *identity);
        }
        assert!(cache.get(&files[0].0).is_some(), "f0 is now the most recently used");
        cache.insert(files[2].0.clone(), Bytes::from(vec![2u8; 40]), files[2].1);
        assert!(cache.used_bytes() <= 100);
        assert!(cache.get(&files[1].0).is_none(), "f1 was the least recently used");
        assert!(cache.get(&files[0].0).is_some() && cache.get(&files[2].0).is_some());
    }
}
