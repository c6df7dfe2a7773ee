//! The ingest → packager hand-off: recorder bytes arrive as [`Feed`] items on a bounded channel, and
//! [`ChunkSource`] turns them into the blocking byte stream libavformat's read callback wants.
//!
//! A connection's input ends with [`Feed::End`] saying how (the publisher stopped, or vanished and may
//! come back); a channel closed without it counts as vanished. The end is sticky: libavformat calls the
//! read callback again after EOF.
//!
//! The source also refuses to feed a demuxer that keeps reading without producing frames: some
//! demuxers skip unknown data or resynchronise indefinitely, which would swallow garbage silently.
//!
//! The channel itself is [`super::feed`].

use std::cell::Cell;
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes, BytesMut};

use super::feed::{Feed, FeedReceiver, InputEnd};

use super::recorder_format::{Container, HEAD_BYTES};

/// More bytes than this read without a single frame coming out means the input is not media. A
/// recorder's largest unit is one keyframe (or one MP4 fragment header), far below this.
pub const MAX_BYTES_WITHOUT_MEDIA: u64 = 2 * 1024 * 1024;

/// What a read gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// This many bytes (never 0) were copied.
    Data(usize),
    /// The input ended and everything was read.
    End,
    /// The source refuses to give more: too many bytes without a frame.
    Refused,
}

/// Why a source stopped feeding its demuxer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The first bytes are not the announced container.
    NotContainer(Container),
    /// [`MAX_BYTES_WITHOUT_MEDIA`] bytes went by without a frame.
    NoFrames,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotContainer(container) => write!(f, "the first bytes are not the start of a {container} stream"),
            Refusal::NoFrames => write!(f, "{} MiB arrived without a readable frame", MAX_BYTES_WITHOUT_MEDIA / (1024 * 1024)),
        }
    }
}

/// The receiving end of one connection's chunks, read by the packager thread.
#[derive(Debug)]
pub struct ChunkSource {
    chunks: FeedReceiver,
    /// Test only: a pause before taking each item, standing in for a slow machine (see `PackagerJob`).
    read_delay: Duration,
    /// The container the publisher announced; its first bytes are checked before anything is read.
    container: Container,
    head_checked: bool,
    /// What is left of the chunk being read.
    current: Bytes,
    end: Option<InputEnd>,
    bytes_read: u64,
    /// `bytes_read` when the demuxer last produced a frame.
    progress_at: Cell<u64>,
    /// When the first bytes arrived, to estimate when the recording started.
    first_chunk_at: Option<SystemTime>,
}

impl ChunkSource {
    pub fn new(chunks: FeedReceiver, container: Container) -> ChunkSource {
        ChunkSource {
            chunks,
            read_delay: Duration::ZERO,
            container,
            head_checked: false,
            current: Bytes::new(),
            end: None,
            bytes_read: 0,
            progress_at: Cell::new(0),
            first_chunk_at: None,
        }
    }

    /// Pauses `delay` before taking each item (test only: a slow packager, honestly slow to read).
    pub fn with_read_delay(self, delay: Duration) -> ChunkSource {
        ChunkSource { read_delay: delay, ..self }
    }

    /// Copies the next bytes into `buf`, blocking until some arrive.
    pub fn read_into(&mut self, buf: &mut [u8]) -> Read {
        if buf.is_empty() {
            return Read::End;
        }
        if self.refusal().is_some() {
            return Read::Refused;
        }
        if !self.head_checked {
            self.head_checked = true;
            let head = self.head();
            // No bytes at all is an input that ended early, not one in the wrong container.
            if !head.is_empty() && !self.container.recognises(&head) {
                return Read::Refused;
            }
        }
        while self.current.is_empty() && self.receive() {}
        if self.current.is_empty() {
            return Read::End;
        }
        let n = self.current.len().min(buf.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        self.bytes_read += n as u64;
        Read::Data(n)
    }

    /// Waits for the next item; false once the input has ended.
    fn receive(&mut self) -> bool {
        if self.end.is_some() {
            return false;
        }
        if !self.read_delay.is_zero() {
            std::thread::sleep(self.read_delay);
        }
        match self.chunks.recv() {
            Some(Feed::Bytes(chunk)) => {
                if !chunk.is_empty() && self.first_chunk_at.is_none() {
                    self.first_chunk_at = Some(SystemTime::now());
                }
                if self.current.is_empty() {
                    self.current = chunk;
                } else {
                    let mut joined = BytesMut::from(&self.current[..]);
                    joined.extend_from_slice(&chunk);
                    self.current = joined.freeze();
                }
            }
            Some(Feed::End(end)) => self.end = Some(end),
            None => self.end = Some(InputEnd::Vanished),
        }
        true
    }

    /// The first [`HEAD_BYTES`] of the input (fewer if it ends sooner), buffered but not consumed.
    fn head(&mut self) -> Bytes {
        while self.current.len() < HEAD_BYTES && self.receive() {}
        self.current.slice(..self.current.len().min(HEAD_BYTES))
    }

    /// Records that the demuxer produced a frame: the byte budget without media starts again.
    pub fn mark_progress(&self) {
        self.progress_at.set(self.bytes_read);
    }

    /// Why the source refused more input, if it did.
    pub fn refusal(&self) -> Option<Refusal> {
        if self.head_checked && self.bytes_read == 0 && !self.current.is_empty() && !self.container.recognises(&self.current) {
            return Some(Refusal::NotContainer(self.container));
        }
        (self.bytes_read - self.progress_at.get() > MAX_BYTES_WITHOUT_MEDIA).then_some(Refusal::NoFrames)
    }

    /// How many bytes libavformat has taken so far (used to say where bad data was found).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// When the packager received the first bytes.
    pub fn first_chunk_at(&self) -> Option<SystemTime> {
        self.first_chunk_at
    }

    /// How the input ended, once everything it sent has been read.
    pub fn end(&self) -> Option<InputEnd> {
        if self.current.is_empty() { self.end } else { None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::feed::feed_channel;

    fn bytes(b: &'static [u8]) -> Feed {
        Feed::Bytes(Bytes::from_static(b))
    }

    const EBML: &[u8] = &[0x1A, 0x45, 0xDF, 0xA3];

    #[test]
    fn reads_across_chunk_boundaries_then_stays_at_end() {
        let (tx, rx) = feed_channel(8);
        for feed in [Feed::Bytes(Bytes::from_static(EBML)), bytes(b""), bytes(b"abcdefgh"), Feed::End(InputEnd::Stop)] {
            tx.try_send(feed).unwrap();
        }
        let mut source = ChunkSource::new(rx, Container::Matroska);
        let mut buf = [0u8; 6];
        assert_eq!(source.read_into(&mut buf), Read::Data(6), "the head was gathered across chunks");
        assert_eq!(&buf, &[0x1A, 0x45, 0xDF, 0xA3, b'a', b'b']);
        assert_eq!(source.read_into(&mut buf), Read::Data(6));
        assert_eq!(&buf, b"cdefgh");
        assert_eq!(source.end(), None, "not known until the next read");
        assert_eq!(source.read_into(&mut buf), Read::End);
        assert_eq!(source.end(), Some(InputEnd::Stop));
        assert_eq!(source.read_into(&mut buf), Read::End, "the end is sticky");
        assert_eq!(source.bytes_read(), 12);
    }

    #[test]
    fn a_closed_channel_without_an_end_is_a_vanished_publisher() {
        let (tx, rx) = feed_channel(2);
        tx.try_send(Feed::Bytes(Bytes::from_static(EBML))).unwrap();
        drop(tx);
        let mut source = ChunkSource::new(rx, Container::Matroska);
        let mut buf = [0u8; 8];
        assert_eq!(source.read_into(&mut buf), Read::Data(4));
        assert_eq!(source.read_into(&mut buf), Read::End);
        assert_eq!(source.end(), Some(InputEnd::Vanished));
    }

    #[test]
    fn an_input_that_ends_before_its_first_byte_is_an_end_not_a_refusal() {
        let (tx, rx) = feed_channel(2);
        tx.try_send(Feed::End(InputEnd::Stop)).unwrap();
        let mut source = ChunkSource::new(rx, Container::Matroska);
        let mut buf = [0u8; 8];
        assert_eq!(source.read_into(&mut buf), Read::End);
        assert_eq!(source.refusal(), None);
        assert_eq!(source.end(), Some(InputEnd::Stop));
    }

    #[test]
    fn refuses_bytes_that_are_not_the_announced_container() {
        let (tx, rx) = feed_channel(2);
        tx.try_send(bytes(b"\x00\x00\x00\x18ftypmp42")).unwrap();
        let mut source = ChunkSource::new(rx, Container::Matroska);
        let mut buf = [0u8; 8];
        assert_eq!(source.read_into(&mut buf), Read::Refused);
        assert_eq!(source.refusal(), Some(Refusal::NotContainer(Container::Matroska)));
        assert_eq!(source.bytes_read(), 0, "nothing reached the demuxer");
    }

    #[test]
    fn refuses_to_feed_a_demuxer_that_produces_no_frames() {
        let (tx, rx) = feed_channel(64);
        let mut first = EBML.to_vec();
        first.resize(64 * 1024, 0);
        let chunk = Bytes::from(first);
        for _ in 0..(MAX_BYTES_WITHOUT_MEDIA / chunk.len() as u64 + 8) {
            tx.try_send(Feed::Bytes(chunk.clone())).unwrap();
        }
        drop(tx);
        let mut source = ChunkSource::new(rx, Container::Matroska);
        let mut buf = vec![0u8; chunk.len()];
        let mut reads = 0;
        while let Read::Data(_) = source.read_into(&mut buf) {
            reads += 1;
            if reads == 3 {
                source.mark_progress();
            }
        }
        assert_eq!(source.refusal(), Some(Refusal::NoFrames));
        assert_eq!(source.read_into(&mut buf), Read::Refused);
        assert!(source.bytes_read() > MAX_BYTES_WITHOUT_MEDIA + 3 * chunk.len() as u64 - 1, "the budget restarted");
    }
}
