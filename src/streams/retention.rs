//! Retention (`--keep-recordings`): the disk and the registry don't grow forever. A background task
//! owned by the server removes the oldest ended recordings (their folders) and forgets ended streams,
//! by age (`7d`), by total size (`20GiB`) or both (`7d,20GiB`; `forever` keeps everything). It runs at
//! start-up (recordings of earlier runs count), whenever presentations end (those that end during a
//! pass share the next one), and every [`RETENTION_INTERVAL`]. A live stream is never touched, nor one whose packager still runs (a
//! presentation given up on may still be writing), and its size counts towards the total. A stream's
//! size is everything in its folder, so the one-file download made from a recording
//! ([`crate::media::recording`]) counts and goes with it.
//!
//! [`expired`] decides (pure); [`Registry::retire`] forgets a stream and moves its folder aside in one
//! step under the registry's lock, so no publisher can claim the id in between; the folder is then
//! deleted outside the lock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::Registry;
use crate::stream_id::StreamId;

/// Keep a week of recordings (time to come back to one) within 20 GiB (about 11 hours at 4 Mb/s, room
/// on a small server's disk).
pub const DEFAULT_KEEP_RECORDINGS: &str = "7d,20GiB";

/// How often ages are checked besides the end of every presentation: age limits are days, not seconds.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(60);

/// Folders being deleted are renamed to this prefix first (never a stream id: ids have no dots).
const REMOVING_PREFIX: &str = ".removing-";

/// What `--keep-recordings` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeepRecordings {
    /// Recordings whose last change is older than this are removed.
    pub max_age: Option<Duration>,
    /// Oldest recordings are removed while all of them (live ones included) take more than this.
    pub max_bytes: Option<u64>,
}

impl KeepRecordings {
    /// Reads `7d`, `20GiB`, `7d,20GiB` or `forever`.
    pub fn parse(text: &str) -> Result<KeepRecordings, String> {
        let mut keep = KeepRecordings::default();
        if text.trim().eq_ignore_ascii_case("forever") {
            return Ok(keep);
        }
        for part in text.split(',').map(str::trim) {
            if let Some(bytes) = parse_size(part) {
                keep.max_bytes = Some(bytes);
            } else if let Ok(age) = humantime::parse_duration(part) {
                keep.max_age = Some(age);
            } else {
                return Err(format!("{part:?} is neither an age (7d, 12h) nor a size (20GiB, 500MB); or say forever"));
            }
        }
        Ok(keep)
    }

    fn keeps_everything(&self) -> bool {
        self.max_age.is_none() && self.max_bytes.is_none()
    }
}

/// `20GiB`, `500MB`, `1024B`, `1.5TiB` → bytes.
fn parse_size(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit = match unit.trim().to_ascii_lowercase().as_str() {
        "b" => 1u64,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return None,
    };
    Some((number * unit as f64) as u64)
}

/// A stream's recording as retention sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub stream: StreamId,
    /// When its files last changed (for an ended one: about when it ended).
    pub last_change: SystemTime,
    pub bytes: u64,
    /// A packager is running for it: never removed.
    pub live: bool,
}

/// Which recordings to remove, oldest first: ended ones past the age limit, then the oldest ended ones
/// while the total is over the size limit.
pub fn expired(recordings: &[Recording], keep: &KeepRecordings, now: SystemTime) -> Vec<StreamId> {
    let mut ended: Vec<&Recording> = recordings.iter().filter(|r| !r.live).collect();
    ended.sort_by_key(|r| r.last_change);
    let mut total: u64 = recordings.iter().map(|r| r.bytes).sum();
    let mut remove = Vec::new();
    for recording in ended {
        let too_old = keep.max_age.is_some_and(|age| now.duration_since(recording.last_change).unwrap_or_default() > age);
        let over_budget = keep.max_bytes.is_some_and(|max| total > max);
        if too_old || over_budget {
            total -= recording.bytes;
            remove.push(recording.stream.clone());
        }
    }
    remove
}

/// Applies the policy until the server stops: at start-up, after every presentation that ends, and
/// every [`RETENTION_INTERVAL`].
pub async fn run(registry: Arc<Registry>, media_dir: PathBuf, keep: KeepRecordings) {
    if keep.keeps_everything() {
        return;
    }
    let mut changes = registry.subscribe();
    let mut shutdown = registry.shutdown_signal();
    let mut tick = tokio::time::interval(RETENTION_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            change = changes.recv() => match change {
                Ok(stream) if registry.status(&stream).is_some_and(|s| !s.state.is_active()) => {}
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        loop {
            let (pass_registry, pass_dir) = (Arc::clone(&registry), media_dir.clone());
            // Scanning and deleting folders is disk work: off the async workers.
            let _ = tokio::task::spawn_blocking(move || apply(&pass_registry, &pass_dir, &keep)).await;
            // Presentations that ended during the pass get one more pass together, not one each:
            // when hundreds end at once, a pass apiece would scan every folder hundreds of times.
            if !ended_since(&registry, &mut changes) {
                break;
            }
        }
    }
}

/// Whether a stream ended (or announcements were missed) since `changes` was last read; takes every
/// announcement waiting, without waiting for more.
fn ended_since(registry: &Registry, changes: &mut broadcast::Receiver<StreamId>) -> bool {
    let mut ended = false;
    loop {
        match changes.try_recv() {
            Ok(stream) => ended |= registry.status(&stream).is_some_and(|s| !s.state.is_active()),
            Err(TryRecvError::Lagged(_)) => ended = true,
            Err(TryRecvError::Empty | TryRecvError::Closed) => return ended,
        }
    }
}

/// One pass: scan, decide, retire and delete.
fn apply(registry: &Registry, media_dir: &Path, keep: &KeepRecordings) {
    let recordings = scan(registry, media_dir);
    for stream in expired(&recordings, keep, SystemTime::now()) {
        let trash = media_dir.join(format!("{REMOVING_PREFIX}{stream}"));
        match registry.retire(&stream, &trash) {
            Ok(true) => {
                log::info!("stream {stream}: recording removed (--keep-recordings)");
                remove_folder(&trash);
            }
            Ok(false) => {}
            Err(e) => log::warn!("stream {stream}: could not remove its recording: {e}"),
        }
    }
}

fn remove_folder(folder: &Path) {
    if let Err(e) = std::fs::remove_dir_all(folder)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        log::warn!("could not delete {}: {e}", folder.display());
    }
}

/// Every stream folder in the media folder (real folders only, never a link), and every stream the
/// registry remembers without one. Leftovers of an interrupted deletion are deleted.
fn scan(registry: &Registry, media_dir: &Path) -> Vec<Recording> {
    let mut recordings = Vec::new();
    for entry in std::fs::read_dir(media_dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Ok(metadata) = entry.path().symlink_metadata() else { continue };
        if !metadata.is_dir() {
            continue;
        }
        if name.starts_with(REMOVING_PREFIX) {
            remove_folder(&entry.path());
            continue;
        }
        let Ok(stream) = StreamId::parse(name) else { continue };
        let (bytes, last_change) = folder_usage(&entry.path(), metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        // In use until its packager exits, even once marked failed: it may still be writing.
        let live = registry.in_use(&stream);
        recordings.push(Recording { stream, last_change, bytes, live });
    }
    for (stream, status) in registry.list() {
        if !recordings.iter().any(|r| r.stream == stream) {
            let live = registry.in_use(&stream);
            recordings.push(Recording { stream, last_change: status.started_at, bytes: 0, live });
        }
    }
    recordings
}

/// Bytes of the files in a stream folder (it is flat), and when the newest changed.
fn folder_usage(folder: &Path, folder_changed: SystemTime) -> (u64, SystemTime) {
    let mut bytes = 0;
    let mut last_change = folder_changed;
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        if let Ok(metadata) = entry.path().symlink_metadata() {
            bytes += metadata.len();
            last_change = last_change.max(metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH));
        }
    }
    (bytes, last_change)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(stream: &str, age_secs: u64, bytes: u64, live: bool, now: SystemTime) -> Recording {
        Recording { stream: StreamId::parse(stream).unwrap(), last_change: now - Duration::from_secs(age_secs), bytes, live }
    }

    fn names(ids: Vec<StreamId>) -> Vec<String> {
        ids.into_iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_policy_is_read_from_ages_and_sizes() {
        assert_eq!(
            KeepRecordings::parse("7d,20GiB").unwrap(),
            KeepRecordings { max_age: Some(Duration::from_secs(7 * 86400)), max_bytes: Some(20 << 30) }
        );
        assert_eq!(KeepRecordings::parse("500MB").unwrap().max_bytes, Some(500_000_000));
        assert_eq!(KeepRecordings::parse("12h").unwrap().max_age, Some(Duration::from_secs(12 * 3600)));
        assert!(KeepRecordings::parse("forever").unwrap().keeps_everything());
        assert!(KeepRecordings::parse(DEFAULT_KEEP_RECORDINGS).is_ok());
        for bad in ["", "lots", "7x", "20 gigs", "7d,"] {
            assert!(KeepRecordings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_oldest_ended_recordings_go_first_and_live_ones_never() {
        let now = SystemTime::now();
        let all = [
            recording("old", 900, 100, false, now),
            recording("live", 10_000, 500, true, now),
            recording("mid", 500, 100, false, now),
            recording("new", 10, 100, false, now),
        ];
        let by_age = KeepRecordings { max_age: Some(Duration::from_secs(600)), max_bytes: None };
        assert_eq!(names(expired(&all, &by_age, now)), ["old"]);
        let by_size = KeepRecordings { max_age: None, max_bytes: Some(650) };
        assert_eq!(names(expired(&all, &by_size, now)), ["old", "mid"], "800 bytes → 600, oldest first");
        let tiny = KeepRecordings { max_age: None, max_bytes: Some(1) };
        assert_eq!(names(expired(&all, &tiny, now)), ["old", "mid", "new"], "the live one stays even over budget");
        assert!(expired(&all, &KeepRecordings::default(), now).is_empty());
    }

    #[test]
    fn announcements_of_ended_streams_are_taken_together() {
        use crate::streams::registry::Claim;
        let media = tempfile::tempdir().unwrap();
        let registry = Registry::new(media.path().to_path_buf(), 10);
        let mut changes = registry.subscribe();
        assert!(!ended_since(&registry, &mut changes), "nothing announced");
        let mut ended = Vec::new();
        for name in ["a", "b", "c"] {
            let stream = StreamId::parse(name).unwrap();
            let Ok(Claim::New(p, _lease)) = registry.claim(&stream, "video/webm", crate::streams::status::Source::Browser, "t".into()) else { panic!() };
            ended.push(p);
        }
        assert!(!ended_since(&registry, &mut changes), "claims are not ends");
        for p in &ended {
            registry.fail(p, crate::error_code::ErrorCode::Internal, "gone".into());
        }
        assert!(ended_since(&registry, &mut changes), "three ends, one more pass");
        assert!(!ended_since(&registry, &mut changes), "all three taken at once");
    }

    #[test]
    fn a_failed_stream_whose_packager_still_runs_is_kept() {
        use crate::error_code::ErrorCode;
        use crate::streams::registry::Claim;
        let media = tempfile::tempdir().unwrap();
        let registry = Registry::new(media.path().to_path_buf(), 10);
        let stream = StreamId::parse("slow").unwrap();
        let Ok(Claim::New(p, lease)) = registry.claim(&stream, "video/webm", crate::streams::status::Source::Browser, "t".into()) else { panic!() };
        std::fs::create_dir(&p.dir).unwrap();
        std::fs::write(p.dir.join("chunk"), b"data").unwrap();
        registry.fail(&p, ErrorCode::Internal, "finalising took too long".into());
        let tiny = KeepRecordings { max_age: None, max_bytes: Some(1) };
        apply(&registry, media.path(), &tiny);
        assert!(p.dir.exists() && registry.status(&stream).is_some(), "its packager may still write there");
        drop(lease);
        apply(&registry, media.path(), &tiny);
        assert!(!p.dir.exists() && registry.status(&stream).is_none());
    }
}
