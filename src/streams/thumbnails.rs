//! Stream thumbnails: a small JPEG the publisher's browser makes from its preview every few seconds
//! and sends on its socket as `{"type":"thumbnail","data":"<base64 JPEG>"}` (any time after `start`).
//! The server never decodes video, nor the JPEG: it checks the message is base64 of at most
//! [`MAX_THUMBNAIL_BYTES`] that starts with JPEG's magic bytes, keeps the latest one per stream in
//! memory, and serves it at `/dash/{stream}/thumbnail.jpg` while it belongs to the stream's current
//! presentation. A bad thumbnail is logged with the stream's name and dropped; the stream goes on.
//!
//! Memory is bounded: at most [`MAX_THUMBNAILS`] streams keep one (the oldest is forgotten first),
//! each at most [`MAX_THUMBNAIL_BYTES`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use bytes::Bytes;

use super::{Presentation, Registry};
use crate::stream_id::StreamId;

/// Largest thumbnail, decoded: the contract's limit, plenty for a 320 px JPEG.
pub const MAX_THUMBNAIL_BYTES: usize = 64 * 1024;

/// Streams whose thumbnail is kept: with [`MAX_THUMBNAIL_BYTES`] each, at most 64 MiB, and more than
/// the live streams one server packages.
pub const MAX_THUMBNAILS: usize = 1024;

/// Every JPEG starts with SOI (FF D8) followed by another marker (FF).
const JPEG_MAGIC: [u8; 3] = [0xFF, 0xD8, 0xFF];

/// Why a thumbnail message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThumbnailError {
    #[error("the thumbnail is not valid base64")]
    NotBase64,
    #[error("the thumbnail is larger than {MAX_THUMBNAIL_BYTES} bytes")]
    TooLarge,
    #[error("the thumbnail is not a JPEG (it does not start with FF D8 FF)")]
    NotJpeg,
}

/// The JPEG in a thumbnail message's `data`, checked.
pub fn decode(data: &str) -> Result<Bytes, ThumbnailError> {
    // Refused before decoding: base64 is 4 characters per 3 bytes, so a longer text is too large.
    if data.len() > MAX_THUMBNAIL_BYTES.div_ceil(3) * 4 {
        return Err(ThumbnailError::TooLarge);
    }
    let jpeg = base64::engine::general_purpose::STANDARD.decode(data).map_err(|_| ThumbnailError::NotBase64)?;
    if jpeg.len() > MAX_THUMBNAIL_BYTES {
        return Err(ThumbnailError::TooLarge);
    }
    if !jpeg.starts_with(&JPEG_MAGIC) {
        return Err(ThumbnailError::NotJpeg);
    }
    Ok(Bytes::from(jpeg))
}

/// A stream's latest thumbnail.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    pub jpeg: Bytes,
    /// The presentation it was sent in: a later presentation doesn't show an earlier one's picture.
    pub presentation: u64,
    /// Grows with every new thumbnail of any stream: put in its URL so a cached old one isn't shown,
    /// and the smallest is the one forgotten first when the store is full.
    pub version: u64,
}

/// The latest thumbnail of each stream, bounded.
#[derive(Debug, Default)]
pub struct Thumbnails {
    latest: Mutex<HashMap<StreamId, Thumbnail>>,
    versions: AtomicU64,
}

impl Thumbnails {
    /// Keeps `jpeg` as `stream`'s thumbnail for `presentation`.
    pub fn put(&self, stream: &StreamId, presentation: u64, jpeg: Bytes) {
        let version = self.versions.fetch_add(1, Ordering::Relaxed) + 1;
        let thumbnail = Thumbnail { jpeg, presentation, version };
        let mut latest = self.latest.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !latest.contains_key(stream) && latest.len() >= MAX_THUMBNAILS {
            let oldest = latest.iter().min_by_key(|(_, t)| t.version).map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                latest.remove(&oldest);
            }
        }
        latest.insert(stream.clone(), thumbnail);
    }

    /// `stream`'s thumbnail if it belongs to `presentation`.
    pub fn get(&self, stream: &StreamId, presentation: u64) -> Option<Thumbnail> {
        let latest = self.latest.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        latest.get(stream).filter(|t| t.presentation == presentation).cloned()
    }
}

/// A thumbnail message from `presentation`'s publisher: kept when valid, else a warning naming the
/// stream (the stream goes on either way).
pub fn receive(registry: &Registry, presentation: &Presentation, data: &str) {
    match decode(data) {
        Ok(jpeg) => registry.thumbnails().put(&presentation.stream, presentation.id, jpeg),
        Err(e) => log::warn!("stream {}: ignoring a thumbnail from the publisher: {e}", presentation.stream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn only_base64_jpegs_within_the_limit_are_taken() {
        let jpeg = [&JPEG_MAGIC[..], &[0xE0, 0, 16]].concat();
        assert_eq!(decode(&b64(&jpeg)).unwrap(), Bytes::from(jpeg.clone()));
        assert_eq!(decode("not base64!"), Err(ThumbnailError::NotBase64));
        assert_eq!(decode(&b64(b"\x89PNG\r\n\x1a\n")), Err(ThumbnailError::NotJpeg));
        assert_eq!(decode(""), Err(ThumbnailError::NotJpeg));
        let mut largest = jpeg.clone();
        largest.resize(MAX_THUMBNAIL_BYTES, 0);
        assert!(decode(&b64(&largest)).is_ok(), "exactly the limit is fine");
        largest.push(0);
        assert_eq!(decode(&b64(&largest)), Err(ThumbnailError::TooLarge));
        assert_eq!(decode(&"A".repeat(10 * MAX_THUMBNAIL_BYTES)), Err(ThumbnailError::TooLarge));
    }

    #[test]
    fn the_latest_is_kept_per_presentation_and_the_store_is_bounded() {
        let thumbnails = Thumbnails::default();
        let cam = StreamId::parse("cam").unwrap();
        thumbnails.put(&cam, 1, Bytes::from_static(b"one"));
        thumbnails.put(&cam, 1, Bytes::from_static(b"two"));
        let latest = thumbnails.get(&cam, 1).unwrap();
        assert_eq!(latest.jpeg, Bytes::from_static(b"two"));
        assert!(thumbnails.get(&cam, 2).is_none(), "a new presentation has no picture until it sends one");
        for i in 0..MAX_THUMBNAILS + 10 {
            thumbnails.put(&StreamId::parse(&format!("s{i}")).unwrap(), 1, Bytes::from_static(b"x"));
        }
        assert_eq!(thumbnails.latest.lock().unwrap().len(), MAX_THUMBNAILS);
        assert!(thumbnails.get(&cam, 1).is_none(), "the oldest was forgotten first");
    }
}
