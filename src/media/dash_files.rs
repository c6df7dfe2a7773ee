//! The dash muxer's files, opened and finished by livedash instead of libavformat, so that every
//! segment stays on disk while the muxer remembers only a window of them.
//!
//! FFmpeg 5.1's dash muxer keeps a record of every segment of every track (about 1.1 KB each: a
//! 1024-byte file name) unless `window_size` is set, and with a window it *deletes* the segments that
//! leave it. livedash needs both: memory bounded over a 24-hour stream, and every segment kept as the
//! recording. So the muxer is given its manifest as `livedash-dash:<path>` ([`muxer_url`]), a URL with
//! no libavformat protocol behind it. The FFI callbacks (`media::ffi`) then do what this module says:
//! - every file the muxer opens is `<path>.tmp` in the real folder ([`PendingFile`]), and when the
//!   muxer closes it, [`OpenFiles::finish`] renames it to `<path>`, as the muxer does itself for local
//!   files (watchers and the live edge rely on that `.tmp` then rename);
//! - its deletions (`ffurl_delete` on that URL) find no protocol and change nothing; the warnings they
//!   log are dropped ([`is_expected_warning`]).
//!
//! The manifest is written to memory instead, and [`OpenFiles::finish_manifest`] puts it on disk
//! (`.tmp`, then renamed) only when it says something new: in streaming mode the muxer writes it
//! when each track opens a segment, so twice per segment, and the second copy differs only in its
//! `publishTime` (a file, a rename and their watcher events saved per segment of every stream).
//! Without a timeline (low latency) nothing else changes either but `timeShiftBufferDepth`, which the
//! muxer sets to the window's segment count times the *last* segment's length, so it wobbles by a few
//! frames every segment: a depth within [`DEPTH_TOLERANCE`] of the one on disk is not new. Every
//! segment stays on disk whatever the depth says, so a depth a little stale hides nothing a player
//! asks for; a real change (longer or shorter segments) still reaches disk.
//! Before a manifest takes its real name, the hook set with [`OpenFiles::set_manifest_hook`] sees it
//! (the full timeline of a windowed manifest, `media::timeline_log`).
//!
//! A file still open when the muxer is freed without its trailer (a failed presentation) is closed but
//! not renamed ([`OpenFiles::abandon`]): the `.tmp` is left for `files::remove_unfinished`.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The scheme the muxer sees in front of every path. Must be no libavformat protocol's name.
const SCHEME: &str = "livedash-dash:";

/// The URL to give the dash muxer for `manifest`.
pub fn muxer_url(manifest: &Path) -> Vec<u8> {
    let mut url = SCHEME.as_bytes().to_vec();
    url.extend_from_slice(manifest.as_os_str().as_bytes());
    url
}

/// Called with the path of each manifest the muxer has finished writing, before it is renamed.
pub type ManifestHook = Box<dyn FnMut(&Path) + Send>;

/// A file the muxer asked for: written as `temp`, named `path` once the muxer closes it.
#[derive(Debug, PartialEq, Eq)]
pub struct PendingFile {
    pub temp: PathBuf,
    pub path: PathBuf,
}

impl PendingFile {
    /// The file behind a URL the muxer made from its manifest's (`None`: not one of ours).
    pub fn from_muxer_url(url: &[u8]) -> Option<PendingFile> {
        let path = url.strip_prefix(SCHEME.as_bytes())?;
        if path.is_empty() {
            return None;
        }
        Some(PendingFile::named(PathBuf::from(OsStr::from_bytes(path))))
    }

    /// The file that will be `path`, written first as `<path>.tmp`.
    fn named(path: PathBuf) -> PendingFile {
        let mut temp = path.as_os_str().to_owned();
        temp.push(".tmp");
        PendingFile { temp: PathBuf::from(temp), path }
    }

    /// libavformat's `file:` URL for the `.tmp` (`None` if the path holds a NUL).
    pub fn temp_file_url(&self) -> Option<CString> {
        let mut url = b"file:".to_vec();
        url.extend_from_slice(self.temp.as_os_str().as_bytes());
        CString::new(url).ok()
    }
}

/// The muxer's open files, keyed by their `AVIOContext`'s address, and what to do when they close.
pub struct OpenFiles {
    open: Mutex<Vec<(usize, PendingFile)>>,
    abandoned: AtomicBool,
    manifest: PendingFile,
    on_manifest: Mutex<Option<ManifestHook>>,
    /// The manifest last put on disk.
    last_manifest: Mutex<Vec<u8>>,
}

impl OpenFiles {
    /// For a muxer whose manifest is `manifest`.
    pub fn new(manifest: &Path) -> OpenFiles {
        OpenFiles {
            open: Mutex::default(),
            abandoned: AtomicBool::new(false),
            manifest: PendingFile::named(manifest.to_path_buf()),
            on_manifest: Mutex::new(None),
            last_manifest: Mutex::default(),
        }
    }

    /// Whether `file` is the manifest, which the muxer writes to memory ([`OpenFiles::finish_manifest`]).
    pub fn is_manifest(&self, file: &PendingFile) -> bool {
        file.path == self.manifest.path
    }

    /// Has `hook` called with every manifest the muxer writes, at its `.tmp` path, before the rename.
    pub fn set_manifest_hook(&self, hook: ManifestHook) {
        *self.on_manifest.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// Whatever the muxer closes from now on was not finished by it: keep it a `.tmp`.
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }

    /// The muxer opened `file` as the context at `key`.
    pub fn opened(&self, key: usize, file: PendingFile) {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).push((key, file));
    }

    /// The file the context at `key` was writing, now closed (`None`: not one we opened).
    pub fn closed(&self, key: usize) -> Option<PendingFile> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let at = open.iter().position(|(open_key, _)| *open_key == key)?;
        Some(open.swap_remove(at).1)
    }

    /// Gives a closed, complete `file` its real name. Nothing happens once the muxer is abandoned.
    pub fn finish(&self, file: &PendingFile) -> std::io::Result<()> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Ok(());
        }
        std::fs::rename(&file.temp, &file.path)
    }

    /// Puts a complete manifest the muxer wrote on disk, unless it says nothing new ([`says_nothing_new`]:
    /// only a new `publishTime` or a wobbling depth): written as `.tmp`, shown to the hook, then renamed.
    /// Nothing happens once the muxer is abandoned (a failed presentation's manifest stays the last
    /// complete one).
    pub fn finish_manifest(&self, manifest: Vec<u8>) -> std::io::Result<()> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut last = self.last_manifest.lock().unwrap_or_else(|p| p.into_inner());
        if says_nothing_new(&last, &manifest) {
            return Ok(());
        }
        let file = &self.manifest;
        std::fs::write(&file.temp, &manifest)?;
        // A panicking hook must not stop the manifest taking its name (nor unwind into libavformat).
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if let Some(hook) = self.on_manifest.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                hook(&file.temp);
            }
        }));
        std::fs::rename(&file.temp, &file.path)?;
        *last = manifest;
        Ok(())
    }
}

/// How far the manifest on disk's `timeShiftBufferDepth` may be from the muxer's latest before the
/// manifest is written again: the wobble from one segment's length to the next (a frame or two of a
/// 2 s segment, times the window's 60 segments: about 2 % measured) stays below it, a change in the
/// segments' length (keyframes twice as far apart) is far above it.
const DEPTH_TOLERANCE: f64 = 0.05;

/// Whether two manifests say the same thing: the same document but for the value of their first
/// `publishTime`, and a first `timeShiftBufferDepth` (if any) within [`DEPTH_TOLERANCE`] of `on_disk`'s.
fn says_nothing_new(on_disk: &[u8], new: &[u8]) -> bool {
    let (Some((disk_before, _, disk_rest)), Some((new_before, _, new_rest))) =
        (split_at_value(on_disk, "publishTime"), split_at_value(new, "publishTime"))
    else {
        return false;
    };
    if disk_before != new_before {
        return false;
    }
    match (split_at_value(disk_rest, "timeShiftBufferDepth"), split_at_value(new_rest, "timeShiftBufferDepth")) {
        (Some((disk_before, disk_depth, disk_after)), Some((new_before, new_depth, new_after))) => {
            disk_before == new_before
                && disk_after == new_after
                && match (duration_seconds(disk_depth), duration_seconds(new_depth)) {
                    (Some(disk), Some(new)) => (new - disk).abs() <= disk * DEPTH_TOLERANCE,
                    _ => disk_depth == new_depth,
                }
        }
        (None, None) => disk_rest == new_rest,
        _ => false,
    }
}

/// The document before the first `name="` value, the value, and the rest from its closing quote.
fn split_at_value<'a>(manifest: &'a [u8], name: &str) -> Option<(&'a [u8], &'a [u8], &'a [u8])> {
    let attribute = [name.as_bytes(), b"=\""].concat();
    let start = manifest.windows(attribute.len()).position(|w| w == attribute)? + attribute.len();
    let end = start + manifest[start..].iter().position(|&byte| byte == b'"')?;
    Some((&manifest[..start], &manifest[start..end], &manifest[end..]))
}

/// Seconds in a duration as the dash muxer writes one (`PT[hH][mM]s.fS`); `None` for anything else.
fn duration_seconds(value: &[u8]) -> Option<f64> {
    let mut rest = std::str::from_utf8(value).ok()?.strip_prefix("PT")?;
    let mut seconds = 0.0;
    for (unit, scale) in [('H', 3600.0), ('M', 60.0), ('S', 1.0)] {
        if let Some((number, after)) = rest.split_once(unit) {
            seconds += number.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0)? * scale;
            rest = after;
        }
    }
    rest.is_empty().then_some(seconds)
}

/// Whether a libavformat log line is the expected side effect of livedash keeping the muxer's files:
/// its failed deletions of segments leaving the window, and its one warning that it can't rename.
pub fn is_expected_warning(line: &str) -> bool {
    let deletion = format!("failed to delete {SCHEME}");
    line.contains(&deletion) || line.contains("Cannot use rename on non file protocol")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(url: &[u8]) -> Option<(PathBuf, PathBuf)> {
        PendingFile::from_muxer_url(url).map(|file| (file.temp, file.path))
    }

    #[test]
    fn only_urls_made_from_the_manifest_map_to_files() {
        assert_eq!(muxer_url(Path::new("/media/a/manifest.mpd")), b"livedash-dash:/media/a/manifest.mpd");
        assert_eq!(
            pending(b"livedash-dash:/media/a/chunk-t-0-00001.m4s"),
            Some(("/media/a/chunk-t-0-00001.m4s.tmp".into(), "/media/a/chunk-t-0-00001.m4s".into()))
        );
        assert_eq!(pending(b"livedash-dash:media/a/manifest.mpd"), Some(("media/a/manifest.mpd.tmp".into(), "media/a/manifest.mpd".into())));
        assert_eq!(pending(b"/media/a/manifest.mpd"), None);
        assert_eq!(pending(b"file:/media/a/manifest.mpd"), None);
        assert_eq!(pending(b"livedash-dash:"), None);
        let file = PendingFile::from_muxer_url(b"livedash-dash:/m/a/manifest.mpd").unwrap();
        assert_eq!(file.temp_file_url().unwrap().as_bytes(), b"file:/m/a/manifest.mpd.tmp");
    }

    #[test]
    fn a_closed_file_takes_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let files = OpenFiles::new(&dir.path().join("manifest.mpd"));
        for (key, name) in [(1, "chunk-0-00001.m4s"), (2, "chunk-1-00001.m4s")] {
            let file = PendingFile::from_muxer_url(&muxer_url(&dir.path().join(name))).unwrap();
            assert!(!files.is_manifest(&file));
            std::fs::write(&file.temp, name).unwrap();
            files.opened(key, file);
        }
        assert_eq!(files.closed(3), None, "a context we never opened");
        files.finish(&files.closed(2).unwrap()).unwrap();
        files.finish(&files.closed(1).unwrap()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("chunk-0-00001.m4s")).unwrap(), b"chunk-0-00001.m4s");
        assert_eq!(std::fs::read(dir.path().join("chunk-1-00001.m4s")).unwrap(), b"chunk-1-00001.m4s");
        assert!(!dir.path().join("chunk-0-00001.m4s.tmp").exists());
    }

    /// A manifest as the dash muxer writes it, with `publishTime` and one value that changes.
    fn mpd(publish_time: &str, depth: &str) -> Vec<u8> {
        format!("<MPD\n\ttype=\"dynamic\"\n\tpublishTime=\"{publish_time}\"\n\ttimeShiftBufferDepth=\"{depth}\">\n<Period/>\n</MPD>\n").into_bytes()
    }

    #[test]
    fn a_manifest_reaches_disk_through_the_hook_only_when_it_says_something_new() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("manifest.mpd");
        let files = OpenFiles::new(&manifest);
        assert!(files.is_manifest(&PendingFile::from_muxer_url(&muxer_url(&manifest)).unwrap()));
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let hook_seen = seen.clone();
        files.set_manifest_hook(Box::new(move |temp| {
            hook_seen.lock().unwrap().push((temp.to_path_buf(), std::fs::read(temp).unwrap()));
        }));
        let first = mpd("2026-11-28T04:00:00.000Z", "PT4.0S");
        files.finish_manifest(first.clone()).unwrap();
        files.finish_manifest(mpd("2026-11-28T04:00:00.100Z", "PT4.0S")).unwrap();
        assert_eq!(std::fs::read(&manifest).unwrap(), first, "a new publishTime alone is not a new manifest");
        let second = mpd("2026-11-28T04:00:02.000Z", "PT6.0S");
        files.finish_manifest(second.clone()).unwrap();
        assert_eq!(std::fs::read(&manifest).unwrap(), second);
        let temp = dir.path().join("manifest.mpd.tmp");
        assert_eq!(*seen.lock().unwrap(), vec![(temp.clone(), first), (temp.clone(), second.clone())]);
        assert!(!temp.exists());
        files.abandon();
        files.finish_manifest(mpd("2026-11-28T04:00:04.000Z", "PT8.0S")).unwrap();
        assert_eq!(std::fs::read(&manifest).unwrap(), second, "an abandoned muxer's manifest is not written");
    }

    #[test]
    fn manifests_differing_anywhere_but_publish_time_differ() {
        let same = says_nothing_new;
        assert!(same(&mpd("a", "PT2S"), &mpd("bb", "PT2S")));
        assert!(!same(&mpd("a", "PT2S"), &mpd("a", "PT4S")));
        assert!(!same(&mpd("a", "PT2M0.3S"), &mpd("a", "PT2M0.3S ")), "a depth that isn't one is compared as text");
        let other = String::from_utf8(mpd("a", "PT2S")).unwrap().replace("dynamic", "static").into_bytes();
        assert!(!same(&mpd("a", "PT2S"), &other));
        assert!(!same(b"", &mpd("a", "PT2S")), "the first manifest is always new");
        assert!(!same(b"<MPD/>", b"<MPD/>"), "without a publishTime nothing is assumed");
    }

    #[test]
    fn a_depth_wobbling_by_a_frame_is_not_new_but_a_new_segment_length_is() {
        let same = says_nothing_new;
        // Measured: one low-latency stream's consecutive manifests (60 segments of about 2 s).
        assert!(same(&mpd("a", "PT2M2.6S"), &mpd("b", "PT2M0.3S")));
        assert!(same(&mpd("a", "PT2M0.3S"), &mpd("b", "PT2M2.8S")));
        assert!(!same(&mpd("a", "PT2M0.3S"), &mpd("b", "PT4M0.5S")), "keyframes twice as far apart");
        assert!(!same(&mpd("a", "PT1M12.0S"), &mpd("b", "PT2M0.0S")), "after a short first segment");
        assert!(same(&mpd("a", "PT1H0M0.0S"), &mpd("b", "PT1H1M0.0S")));
        assert_eq!(duration_seconds(b"PT1H2M3.5S"), Some(3723.5));
        assert_eq!(duration_seconds(b"PT0.4S"), Some(0.4));
        for bad in [&b"2M"[..], b"PT2X", b"PT-1.0S", b"PTS", b"PTNaNS"] {
            assert_eq!(duration_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn after_abandon_a_closed_file_stays_a_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let files = OpenFiles::new(&dir.path().join("manifest.mpd"));
        let file = PendingFile::from_muxer_url(&muxer_url(&dir.path().join("chunk-0-00002.m4s"))).unwrap();
        std::fs::write(&file.temp, b"half").unwrap();
        files.opened(7, file);
        files.abandon();
        files.finish(&files.closed(7).unwrap()).unwrap();
        assert!(dir.path().join("chunk-0-00002.m4s.tmp").exists());
        assert!(!dir.path().join("chunk-0-00002.m4s").exists());
    }

    #[test]
    fn only_the_kept_files_side_effects_are_expected_warnings() {
        assert!(is_expected_warning("[dash @ 0x55d1] failed to delete livedash-dash:/m/a/chunk-t-0-00001.m4s: Protocol not found"));
        assert!(is_expected_warning("[dash @ 0x55d1] Cannot use rename on non file protocol, this may lead to races and temporary partial files"));
        assert!(!is_expected_warning("[dash @ 0x55d1] failed to delete /m/a/chunk-t-0-00001.m4s: Permission denied"));
        assert!(!is_expected_warning("[matroska,webm @ 0x55d1] Invalid EBML number size tag"));
    }
}
