//! The HTTP body of a segment still being written: its bytes from `start` (to `last`, inclusive, for a
//! range) as they arrive, from the shared [`LiveSegment`].
//!
//! A body that cannot be completed — the segment was removed, its stream stopped, or `deadline`
//! passed — ends with an error, which makes actix-web drop the connection without the chunked
//! terminator: a player or cache sees a failed transfer, never a truncated segment that looks whole.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::Instant;

use super::live::{LiveSegment, Progress};

/// The most handed to actix-web at once. Each connection's write buffer grows to hold what it is
/// given (it appends body chunks until it holds 32 KiB, then writes) and keeps that allocation up to
/// 128 KiB; with whole 64 KiB reads of a 2.5 Mbit/s camera's fragments that was ~100 KiB kept per
/// viewer, most of the server's memory for a crowd. At 16 KiB it stays under 48 KiB, and the bytes
/// still go to the socket in 32 KiB writes.
const LIVE_SLICE_BYTES: u64 = 16 * 1024;

/// The offset of a body that has failed: it ends after its one error.
const FAILED: u64 = u64::MAX;

/// Streams `segment` from byte `start` to `last` (inclusive; `None`: to its end).
pub fn stream(
    segment: Arc<LiveSegment>,
    start: u64,
    last: Option<u64>,
    deadline: Instant,
    name: String,
) -> impl Stream<Item = io::Result<Bytes>> {
    let grown = segment.subscribe();
    let state = (segment, grown, start, name);
    futures_util::stream::unfold(state, move |(segment, mut grown, offset, name)| async move {
        if offset == FAILED {
            return None;
        }
        let at_most = match last {
            Some(last) if offset > last => return None,
            Some(last) => last + 1 - offset,
            None => u64::MAX,
        }
        .min(LIVE_SLICE_BYTES);
        loop {
            // Mark the current value seen before reading, so growth in between still wakes us.
            grown.borrow_and_update();
            let failure = match segment.read_at(offset, at_most) {
                Progress::Data(bytes) => {
                    let next = offset + bytes.len() as u64;
                    return Some((Ok(bytes), (segment, grown, next, name)));
                }
                Progress::End if last.is_none() => return None,
                Progress::End => format!("{name} ended at byte {offset}, before the requested range"),
                Progress::Aborted(reason) => format!("{name}: {reason}"),
                Progress::Wait => match tokio::time::timeout_at(deadline, grown.changed()).await {
                    Ok(Ok(())) => continue,
                    // The sender lives in the segment we hold: it cannot be gone.
                    Ok(Err(_)) => continue,
                    Err(_) => format!("{name} was still not finished at the deadline"),
                },
            };
            log::warn!("{failure}; aborting the response");
            return Some((Err(io::Error::other(failure)), (segment, grown, FAILED, name)));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    /// Every piece the body of `segment` from byte 0 yields, and how it ended.
    async fn pieces(segment: Arc<LiveSegment>) -> Vec<io::Result<Bytes>> {
        let deadline = Instant::now() + std::time::Duration::from_secs(60);
        stream(segment, 0, None, deadline, "chunk.m4s".into()).collect().await
    }

    #[tokio::test]
    async fn a_large_fragment_goes_out_in_bounded_slices_of_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join("chunk.m4s.tmp");
        let written: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&temp, &written).unwrap();
        let segment = Arc::new(LiveSegment::new(std::fs::File::open(&temp).unwrap(), Arc::default()));
        segment.complete();
        let pieces = pieces(segment).await;
        let sizes: Vec<usize> = pieces.iter().map(|p| p.as_ref().unwrap().len()).collect();
        assert!(sizes.iter().all(|&n| n as u64 <= LIVE_SLICE_BYTES), "slices larger than the bound: {sizes:?}");
        let joined: Vec<u8> = pieces.into_iter().flat_map(|p| p.unwrap()).collect();
        assert_eq!(joined, written);
    }

    #[tokio::test]
    async fn a_segment_that_will_never_finish_ends_the_body_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join("chunk.m4s.tmp");
        std::fs::write(&temp, b"part").unwrap();
        let segment = Arc::new(LiveSegment::new(std::fs::File::open(&temp).unwrap(), Arc::default()));
        segment.abort("removed");
        let pieces = pieces(segment).await;
        assert_eq!(pieces.len(), 2, "the bytes written, then the error");
        assert_eq!(pieces[0].as_ref().unwrap().as_ref(), b"part");
        let error = pieces[1].as_ref().unwrap_err().to_string();
        assert!(error.contains("chunk.m4s: removed"), "{error}");
    }
}
