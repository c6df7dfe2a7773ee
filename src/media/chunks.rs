//! The ingest → packager hand-off: recorder bytes arrive as chunks on a bounded channel, and
//! [`ChunkSource`] turns them into the blocking byte stream libavformat's read callback wants.
//!
//! The channel closing (the ingest dropped its sender: stop, socket closed, publisher gone) is the end
//! of the input. That end is sticky: libavformat calls the read callback again after EOF.

use bytes::{Buf, Bytes};
use std::time::SystemTime;

use crossbeam_channel::Receiver;

/// The receiving end of one stream's chunks, read by the packager thread.
#[derive(Debug)]
pub struct ChunkSource {
    chunks: Receiver<Bytes>,
    /// What is left of the chunk being read.
    current: Bytes,
    ended: bool,
    bytes_read: u64,
    /// When the first bytes arrived, to estimate when the recording started.
    first_chunk_at: Option<SystemTime>,
}

impl ChunkSource {
    pub fn new(chunks: Receiver<Bytes>) -> ChunkSource {
        ChunkSource { chunks, current: Bytes::new(), ended: false, bytes_read: 0, first_chunk_at: None }
    }

    /// Copies the next bytes into `buf`, blocking until some arrive. Returns `None` once the sender is
    /// gone and every received byte has been read; never `Some(0)` (libavformat treats 0 as an error).
    pub fn read_into(&mut self, buf: &mut [u8]) -> Option<usize> {
        if buf.is_empty() {
            return None;
        }
        while self.current.is_empty() {
            if self.ended {
                return None;
            }
            match self.chunks.recv() {
                Ok(chunk) => {
                    if !chunk.is_empty() && self.first_chunk_at.is_none() {
                        self.first_chunk_at = Some(SystemTime::now());
                    }
                    self.current = chunk;
                }
                Err(_) => self.ended = true,
            }
        }
        let n = self.current.len().min(buf.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        self.bytes_read += n as u64;
        Some(n)
    }

    /// How many bytes libavformat has taken so far (used to say where bad data was found).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// When the packager received the first bytes.
    pub fn first_chunk_at(&self) -> Option<SystemTime> {
        self.first_chunk_at
    }

    /// True once the sender is gone and everything it sent has been read.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_across_chunk_boundaries_then_stays_at_end() {
        let (tx, rx) = crossbeam_channel::bounded(4);
        tx.send(Bytes::from_static(b"abc")).unwrap();
        tx.send(Bytes::new()).unwrap();
        tx.send(Bytes::from_static(b"defgh")).unwrap();
        drop(tx);
        let mut source = ChunkSource::new(rx);
        let mut buf = [0u8; 4];
        assert_eq!(source.read_into(&mut buf), Some(3));
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(source.read_into(&mut buf), Some(4));
        assert_eq!(&buf, b"defg");
        assert_eq!(source.read_into(&mut buf), Some(1));
        assert_eq!(source.read_into(&mut buf), None);
        assert_eq!(source.read_into(&mut buf), None, "the end is sticky");
        assert!(source.ended());
        assert_eq!(source.bytes_read(), 8);
    }
}
