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
        let remaining = match last {
            Some(last) if offset > last => return None,
            Some(last) => last + 1 - offset,
            None => u64::MAX,
        };
        loop {
            // Mark the current value seen before reading, so growth in between still wakes us.
            grown.borrow_and_update();
            let failure = match segment.read_at(offset, remaining) {
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
            return Some((Err(io::Error::other(failure)), (segment, grown, u64::MAX, name)));
        }
    })
}
