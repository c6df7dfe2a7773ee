//! A segment the muxer is still writing (`name.tmp`), read once and shared by every request for it.
//!
//! The one file handle is read by whoever learns of new bytes first — the media-folder watcher on a
//! write event, or the request that opened it — always to the end of what is written, into shared
//! [`Bytes`] chunks that every waiting response hands on without copying. The handle follows the file
//! across the muxer's rename, so the chunks add up to exactly the finished segment. Memory: the
//! segment's bytes, once, however many viewers wait; the whole is moved into the
//! [`super::cache::FileCache`] when the segment is finished.

use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

/// Read size: a few fragments of a typical webcam stream per system call.
const READ_BYTES: usize = 64 * 1024;

/// How a segment's writing ended, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Still being written.
    Open,
    /// Renamed to its final name: every byte is in the chunks.
    Complete,
    /// It will never be finished (removed, or its stream stopped first): responses must be aborted.
    Aborted(&'static str),
}

/// What a reader at some offset gets now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Bytes from the offset on (one chunk or its tail).
    Data(Bytes),
    /// Nothing past the offset yet: wait for [`LiveSegment::subscribe`] to change.
    Wait,
    /// The segment is complete and the offset is at (or past) its end.
    End,
    /// The segment will never be complete.
    Aborted(&'static str),
}

struct State {
    /// `None` once the segment ended.
    file: Option<File>,
    /// Reused for every read; each read's bytes are copied out at their exact length, so a small
    /// fragment does not pin a whole read-sized allocation for the life of the segment.
    buffer: Box<[u8]>,
    /// `(offset, bytes)` in file order, without gaps.
    chunks: Vec<(u64, Bytes)>,
    len: u64,
    end: End,
}

/// One in-progress segment.
pub struct LiveSegment {
    state: Mutex<State>,
    /// Bytes read so far; changes wake the responses streaming this segment (and no others).
    grown: watch::Sender<u64>,
    /// Every byte read from in-progress files, server-wide (`livedash_live_edge_read_bytes_total`).
    read_total: Arc<AtomicU64>,
}

impl LiveSegment {
    /// Starts sharing the segment being written through `file` (its `.tmp`, opened without following
    /// links), with everything written so far already read. Bytes read are added to `read_total`.
    pub fn new(file: File, read_total: Arc<AtomicU64>) -> LiveSegment {
        let segment = LiveSegment {
            state: Mutex::new(State {
                file: Some(file),
                buffer: vec![0u8; READ_BYTES].into_boxed_slice(),
                chunks: Vec::new(),
                len: 0,
                end: End::Open,
            }),
            grown: watch::channel(0).0,
            read_total,
        };
        segment.fill();
        segment
    }

    /// Reads whatever the muxer wrote since the last read, and wakes the readers if there was any.
    pub fn fill(&self) {
        let mut state = self.lock();
        let before = state.len;
        self.read_to_end(&mut state);
        if state.len != before {
            let len = state.len;
            drop(state);
            self.grown.send_replace(len);
        }
    }

    /// The muxer renamed the segment to its final name: reads the last bytes and returns the whole.
    pub fn complete(&self) -> Bytes {
        let mut state = self.lock();
        self.read_to_end(&mut state);
        if state.end == End::Open {
            state.end = End::Complete;
        }
        state.file = None;
        let whole = match state.chunks.as_slice() {
            [(_, only)] => only.clone(),
            chunks => {
                let mut whole = Vec::with_capacity(state.len as usize);
                for (_, chunk) in chunks {
                    whole.extend_from_slice(chunk);
                }
                Bytes::from(whole)
            }
        };
        let len = state.len;
        drop(state);
        self.grown.send_replace(len + 1);
        whole
    }

    /// The segment will never be finished: every reader's response is aborted.
    pub fn abort(&self, reason: &'static str) {
        let mut state = self.lock();
        if state.end == End::Open {
            state.end = End::Aborted(reason);
        }
        state.file = None;
        drop(state);
        self.grown.send_modify(|n| *n += 1);
    }

    /// Whether the segment is still being written.
    pub fn is_open(&self) -> bool {
        self.lock().end == End::Open
    }

    /// Changes whenever bytes were added or the segment ended.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.grown.subscribe()
    }

    /// What a reader that has everything before `offset` gets now: at most `limit` bytes.
    pub fn read_at(&self, offset: u64, limit: u64) -> Progress {
        let state = self.lock();
        if offset < state.len {
            // The chunk holding `offset`: the last one starting at or before it.
            let index = state.chunks.partition_point(|(start, _)| *start <= offset) - 1;
            let (start, chunk) = &state.chunks[index];
            let from = (offset - start) as usize;
            let to = chunk.len().min(from.saturating_add(usize::try_from(limit).unwrap_or(usize::MAX)));
            return Progress::Data(chunk.slice(from..to));
        }
        match state.end {
            End::Open => Progress::Wait,
            End::Complete => Progress::End,
            End::Aborted(reason) => Progress::Aborted(reason),
        }
    }

    fn read_to_end(&self, state: &mut State) {
        let State { file, buffer, chunks, len, end } = state;
        let Some(reader) = file.as_mut() else { return };
        loop {
            match reader.read(buffer) {
                Ok(0) => return,
                Ok(n) => {
                    chunks.push((*len, Bytes::copy_from_slice(&buffer[..n])));
                    *len += n as u64;
                    self.read_total.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    *end = End::Aborted("reading the segment being written failed");
                    *file = None;
                    return;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn readers_get_every_byte_once_written_then_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join("chunk.m4s.tmp");
        let mut writer = File::create(&temp).unwrap();
        writer.write_all(b"hello ").unwrap();
        let segment = LiveSegment::new(File::open(&temp).unwrap(), Arc::default());
        assert_eq!(segment.read_at(0, u64::MAX), Progress::Data(Bytes::from_static(b"hello ")));
        assert_eq!(segment.read_at(6, u64::MAX), Progress::Wait);
        writer.write_all(b"world").unwrap();
        std::fs::rename(&temp, dir.path().join("chunk.m4s")).unwrap();
        writer.write_all(b"!").unwrap(); // the handle follows the rename
        assert_eq!(segment.complete(), Bytes::from_static(b"hello world!"));
        assert_eq!(segment.read_at(6, 3), Progress::Data(Bytes::from_static(b"wor")));
        assert_eq!(segment.read_at(12, u64::MAX), Progress::End);
    }

    #[test]
    fn an_aborted_segment_says_so_past_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join("chunk.m4s.tmp");
        std::fs::write(&temp, b"part").unwrap();
        let segment = LiveSegment::new(File::open(&temp).unwrap(), Arc::default());
        segment.abort("removed");
        assert_eq!(segment.read_at(0, u64::MAX), Progress::Data(Bytes::from_static(b"part")));
        assert_eq!(segment.read_at(4, u64::MAX), Progress::Aborted("removed"));
    }
}
