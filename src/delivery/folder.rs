//! One live stream folder: its in-progress segments, the requests waiting for a file to appear, and
//! where the live edge is.
//!
//! Fed by the media-folder watcher ([`crate::streams::watcher`]) with the file events that matter
//! (`.tmp` writes, renames, removals; never opens or reads). A request asks [`Folder::lookup`], which
//! answers from memory: the segment is being written (shared [`LiveSegment`]), finished (serve the
//! file), coming soon (wait on a wake-up for that one name), or not coming (404 at once). Only the
//! live edge of the current presentation may wait: its init segments and, per representation, the
//! media segment being written and the [`EDGE_AHEAD`] after it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::cache::{FileCache, Identity};
use super::live::LiveSegment;
use crate::media::files::DashFile;

/// How many segments past the one being written a request may wait for: the next one or two, which
/// a player ahead of the server's clock (or a low-latency one starting a segment early) asks for.
pub const EDGE_AHEAD: u64 = 2;

/// Representations a request may wait for before the folder has seen any file of them: the muxer
/// writes one per packaged track, and every ingest path today carries at most one video and one audio
/// track. A representation beyond this may still wait once one of its segments was seen; the bound
/// keeps a client from growing the wake-up map with names that will never appear.
const WAITABLE_REPRESENTATIONS: u32 = 2;

/// A file event that matters, for one file of the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The file was created.
    Created,
    /// Bytes were written to it (or it was closed after writing).
    Written,
    /// It was renamed away (the muxer finishing `name.tmp`).
    RenamedFrom,
    /// A file was renamed to this name (a finished segment or manifest appearing).
    RenamedTo,
    /// It was deleted.
    Removed,
}

/// What a request for a file of a live stream should do.
pub enum Lookup {
    /// Stream this in-progress segment.
    Live(Arc<LiveSegment>),
    /// The finished file is on disk: serve it.
    Finished,
    /// Not there yet but at the live edge: wait for this to change, then look again.
    Wait(watch::Receiver<u64>),
    /// Not there and not coming (or the stream stopped): 404 at once.
    NotComing,
}

struct State {
    /// In-progress segments someone asked for, by final name.
    live: HashMap<String, Arc<LiveSegment>>,
    /// Wake-ups for requests waiting for a file to appear, by final name.
    waiters: HashMap<String, watch::Sender<u64>>,
    /// Per representation, the highest media segment number seen being written or finished.
    edge: HashMap<u32, u64>,
    /// The packager finished: nothing is live any more.
    closed: bool,
}

/// A live stream folder.
pub struct Folder {
    dir: PathBuf,
    /// The presentation's tag: segment names of any other tag are never waited for.
    tag: String,
    cache: Arc<FileCache>,
    /// Bytes read from in-progress files, server-wide.
    read_total: Arc<AtomicU64>,
    state: Mutex<State>,
    /// Bumped on every file event that matters; dropped when the packager finishes.
    changes: Mutex<Option<watch::Sender<u64>>>,
}

impl Folder {
    /// The live state of `dir`, holding presentation `tag`; finished segments go into `cache`, and
    /// bytes read from in-progress files are counted in `read_total`.
    pub fn new(dir: PathBuf, tag: String, cache: Arc<FileCache>, read_total: Arc<AtomicU64>) -> Folder {
        let state = State { live: HashMap::new(), waiters: HashMap::new(), edge: HashMap::new(), closed: false };
        let changes = Mutex::new(Some(watch::channel(0).0));
        Folder { dir, tag, cache, read_total, state: Mutex::new(state), changes }
    }

    /// The folder this is.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A receiver bumped on any file change in the folder, which errors once the packager finished.
    pub fn changes(&self) -> Option<watch::Receiver<u64>> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(watch::Sender::subscribe)
    }

    /// Applies a file event for `name` (watcher thread). Wakes only the requests for that file.
    pub fn on_event(&self, change: Change, name: &str) {
        let (base, temp) = match name.strip_suffix(".tmp") {
            Some(base) => (base, true),
            None => (name, false),
        };
        let mut state = self.lock();
        if let Some(DashFile::Media { rep, number, .. }) = DashFile::parse(base)
            && change != Change::Removed
            && self.is_current(base)
        {
            let edge = state.edge.entry(rep).or_insert(number);
            *edge = (*edge).max(number);
        }
        if temp {
            match change {
                Change::Created | Change::Written => {
                    if let Some(live) = state.live.get(base) {
                        live.fill();
                    }
                }
                Change::RenamedFrom => {
                    if let Some(live) = state.live.remove(base) {
                        self.finish(base, &live);
                    }
                }
                Change::Removed => {
                    if let Some(live) = state.live.remove(base) {
                        live.abort("the segment was removed before it was finished");
                    }
                }
                Change::RenamedTo => {}
            }
        } else {
            // A finished file appeared, was replaced or went: the in-memory copy follows before anyone
            // is told (`manifest_ready` is decided after this returns).
            self.cache.revalidate(&self.dir.join(base));
        }
        wake(&mut state, base);
        drop(state);
        self.bump();
    }

    /// Events may have been lost (the kernel's queue overflowed): bring everything up to date.
    pub fn rescan(&self) {
        self.cache.revalidate_dir(&self.dir);
        let mut state = self.lock();
        self.settle(&mut state, false);
        for waiter in state.waiters.values() {
            waiter.send_modify(|n| *n += 1);
        }
        drop(state);
        self.bump();
    }

    /// The packager finished: segments renamed by now are complete, the rest are aborted, and every
    /// waiting request is woken to find the final state on disk.
    pub fn close(&self) {
        let mut state = self.lock();
        self.settle(&mut state, true);
        // The in-memory copies need no check here: the packager's end already checked them all
        // (`ingest::pipeline`), and each later event checks its own file.
        state.closed = true;
        state.waiters.clear();
        drop(state);
        self.changes.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// What a request for `name` should do now. `name` is a file name [`DashFile::parse`] accepted.
    pub fn lookup(&self, name: &str) -> Lookup {
        let final_path = self.dir.join(name);
        let mut state = self.lock();
        if let Some(live) = state.live.get(name) {
            return Lookup::Live(Arc::clone(live));
        }
        if state.closed {
            return if final_path.exists() { Lookup::Finished } else { Lookup::NotComing };
        }
        let temp = self.dir.join(format!("{name}.tmp"));
        match super::open_no_follow(&temp) {
            Ok(file) => {
                let live = Arc::new(LiveSegment::new(file, Arc::clone(&self.read_total)));
                // Renamed between our open and now (its event may already have been handled).
                if final_path.exists() {
                    self.finish(name, &live);
                    return Lookup::Finished;
                }
                state.live.insert(name.to_string(), Arc::clone(&live));
                return Lookup::Live(live);
            }
            Err(_) if final_path.exists() => return Lookup::Finished,
            Err(_) => {}
        }
        if !self.may_wait(&state, name) {
            return Lookup::NotComing;
        }
        // Wake-ups whose requests gave up (timed out, disconnected) and whose file never appeared:
        // the map holds only live waits plus the few names `may_wait` allows.
        state.waiters.retain(|_, waiter| waiter.receiver_count() > 0);
        let waiter = state.waiters.entry(name.to_string()).or_insert_with(|| watch::channel(0).0);
        Lookup::Wait(waiter.subscribe())
    }

    /// Only the current presentation's init segments and the live edge's media segments may wait, and
    /// only spelt exactly as the muxer writes them, for a representation that exists (or may yet).
    fn may_wait(&self, state: &State, name: &str) -> bool {
        if !self.is_current(name) {
            return false;
        }
        let Some(file) = DashFile::parse(name) else { return false };
        if self.muxer_name(file).as_deref() != Some(name) {
            return false;
        }
        if let Some(rep) = file.representation()
            && rep >= WAITABLE_REPRESENTATIONS
            && !state.edge.contains_key(&rep)
        {
            return false;
        }
        match file {
            DashFile::Init { .. } => true,
            DashFile::Media { rep, number, .. } => {
                // Before the first segment of a representation the edge is just before its first number.
                let edge = state.edge.get(&rep).copied().unwrap_or(0);
                number >= edge && number <= edge + EDGE_AHEAD
            }
            _ => false,
        }
    }

    /// The name the muxer gives `file` in this presentation (`$RepresentationID$` unpadded,
    /// `$Number%05d$`), so that `chunk-t-0-0001.m4s` or `init-t-00.m4s` never wait.
    fn muxer_name(&self, file: DashFile) -> Option<String> {
        let ext = |webm: bool| if webm { "webm" } else { "m4s" };
        match file {
            DashFile::Init { rep, webm } => Some(format!("init-{}-{rep}.{}", self.tag, ext(webm))),
            DashFile::Media { rep, number, webm } => Some(format!("chunk-{}-{rep}-{number:05}.{}", self.tag, ext(webm))),
            _ => None,
        }
    }

    /// Whether a segment name carries this presentation's tag.
    fn is_current(&self, name: &str) -> bool {
        let rest = name.strip_prefix("chunk-").or_else(|| name.strip_prefix("init-"));
        rest.and_then(|r| r.strip_prefix(self.tag.as_str())).is_some_and(|r| r.starts_with('-'))
    }

    /// Brings every live segment up to date: complete if renamed, aborted if gone (or if `closing`
    /// and still unfinished), else read further.
    fn settle(&self, state: &mut State, closing: bool) {
        let names: Vec<String> = state.live.keys().cloned().collect();
        for name in names {
            let Some(live) = state.live.get(&name).cloned() else { continue };
            if self.dir.join(&name).exists() {
                state.live.remove(&name);
                self.finish(&name, &live);
            } else if closing || !self.dir.join(format!("{name}.tmp")).exists() {
                state.live.remove(&name);
                live.abort("the stream stopped before the segment was finished");
            } else {
                live.fill();
            }
        }
    }

    /// The segment is complete: keep its bytes in the cache as the finished file.
    fn finish(&self, name: &str, live: &LiveSegment) {
        let whole = live.complete();
        let path = self.dir.join(name);
        if let Ok(metadata) = std::fs::symlink_metadata(&path)
            && metadata.is_file()
        {
            self.cache.insert(path, whole, Identity::of(&metadata));
        }
    }

    fn bump(&self) {
        if let Some(changes) = self.changes.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            changes.send_modify(|generation| *generation += 1);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Wakes the requests waiting for `name`, and forgets the wake-up once nobody waits on it.
fn wake(state: &mut State, name: &str) {
    if let Some(waiter) = state.waiters.get(name) {
        waiter.send_modify(|n| *n += 1);
        if waiter.receiver_count() == 0 {
            state.waiters.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(dir: &Path) -> Folder {
        Folder::new(dir.to_path_buf(), "tag1".into(), Arc::new(FileCache::default()), Arc::default())
    }

    #[test]
    fn only_the_live_edge_of_the_current_presentation_waits() {
        let dir = tempfile::tempdir().unwrap();
        let folder = folder(dir.path());
        assert!(matches!(folder.lookup("chunk-tag1-0-00001.m4s"), Lookup::Wait(_)), "the first segment");
        assert!(matches!(folder.lookup("init-tag1-0.m4s"), Lookup::Wait(_)));
        assert!(matches!(folder.lookup("chunk-tag1-0-00004.m4s"), Lookup::NotComing), "far ahead");
        assert!(matches!(folder.lookup("chunk-old-0-00001.m4s"), Lookup::NotComing), "another presentation");
        folder.on_event(Change::Created, "chunk-tag1-0-00010.m4s.tmp");
        assert!(matches!(folder.lookup("chunk-tag1-0-00012.m4s"), Lookup::Wait(_)));
        assert!(matches!(folder.lookup("chunk-tag1-0-00013.m4s"), Lookup::NotComing));
        assert!(matches!(folder.lookup("chunk-tag1-0-00009.m4s"), Lookup::NotComing), "behind the edge and gone");
        folder.close();
        assert!(matches!(folder.lookup("chunk-tag1-0-00011.m4s"), Lookup::NotComing), "nothing waits once stopped");
    }

    #[test]
    fn only_names_the_muxer_writes_wait_and_abandoned_waits_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let folder = folder(dir.path());
        for name in [
            "chunk-tag1-0-0001.m4s",
            "chunk-tag1-0-000001.m4s",
            "chunk-tag1-00-00001.m4s",
            "init-tag1-00.m4s",
            "init-tag1-0001.m4s",
            "init-tag1-2.m4s",
            "chunk-tag1-7-00001.m4s",
        ] {
            assert!(matches!(folder.lookup(name), Lookup::NotComing), "{name}");
        }
        assert!(folder.lock().waiters.is_empty());
        folder.on_event(Change::Created, "chunk-tag1-0-123456.m4s.tmp");
        assert!(matches!(folder.lookup("chunk-tag1-0-123457.m4s"), Lookup::Wait(_)), "unpadded past 99999");
        assert!(matches!(folder.lookup("chunk-tag1-0-0123457.m4s"), Lookup::NotComing));
        folder.on_event(Change::Created, "chunk-tag1-2-00001.m4s.tmp");
        assert!(matches!(folder.lookup("init-tag1-2.m4s"), Lookup::Wait(_)), "a representation seen may wait");
        let Lookup::Wait(kept) = folder.lookup("init-tag1-1.webm") else { panic!("init waits") };
        assert_eq!(folder.lock().waiters.len(), 1, "the abandoned waits are gone, the one still waiting stays");
        drop(kept);
    }

    #[test]
    fn a_change_wakes_only_the_requests_for_that_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = folder(dir.path());
        let (Lookup::Wait(mut first), Lookup::Wait(mut second)) =
            (folder.lookup("chunk-tag1-0-00001.m4s"), folder.lookup("chunk-tag1-1-00001.m4s"))
        else {
            panic!("both wait")
        };
        std::fs::write(dir.path().join("chunk-tag1-0-00001.m4s.tmp"), b"moof").unwrap();
        folder.on_event(Change::Created, "chunk-tag1-0-00001.m4s.tmp");
        assert!(first.has_changed().unwrap());
        assert!(!second.has_changed().unwrap());
        let Lookup::Live(live) = folder.lookup("chunk-tag1-0-00001.m4s") else { panic!("in progress") };
        std::fs::rename(dir.path().join("chunk-tag1-0-00001.m4s.tmp"), dir.path().join("chunk-tag1-0-00001.m4s")).unwrap();
        folder.on_event(Change::RenamedFrom, "chunk-tag1-0-00001.m4s.tmp");
        assert!(!live.is_open());
        assert_eq!(folder.cache.get(&dir.path().join("chunk-tag1-0-00001.m4s"), std::time::Instant::now()).unwrap().bytes, "moof");
        first.borrow_and_update();
        second.borrow_and_update();
    }
}
