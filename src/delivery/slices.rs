//! The HTTP body of a finished file held in memory: its shared bytes handed to actix-web in slices
//! of at most [`SLICE_BYTES`], without copying them here.
//!
//! Why not the one `Bytes` as the body: actix-web's HTTP/1 writer copies each body chunk into its
//! connection's write buffer and frees that buffer after a flush if it grew past 128 KiB. A 139 KiB
//! segment as one chunk made that buffer grow and be freed on every response — one `mmap`, one
//! `munmap` and about 35 page faults (each page zeroed by the kernel) per request, about half of the
//! CPU of serving it (`perf record` and `strace -c` under `wrk`). In slices of 64 KiB the buffer
//! stays well under the limit and is reused, and each write to the socket is still one loopback
//! segment's worth.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;

/// The largest slice handed to actix-web: with its default 32 KiB write buffer (flushed once it holds
/// that much), the buffer peaks under 100 KiB, below the 128 KiB past which it is freed and
/// allocated again; and 64 KiB per `write` is about one TCP segment on loopback.
pub const SLICE_BYTES: usize = 64 * 1024;

/// A body of shared bytes, in slices of at most [`SLICE_BYTES`]; its length is known up front
/// (`Content-Length`).
pub struct Slices {
    rest: Bytes,
}

impl Slices {
    /// A body of `bytes`.
    pub fn new(bytes: Bytes) -> Slices {
        Slices { rest: bytes }
    }
}

impl MessageBody for Slices {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.rest.len() as u64)
    }

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        let rest = &mut self.get_mut().rest;
        if rest.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(rest.split_to(rest.len().min(SLICE_BYTES)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every slice the body yields, in order.
    fn slices_of(body: Slices) -> Vec<Bytes> {
        let mut body = std::pin::pin!(body);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut slices = Vec::new();
        while let Poll::Ready(Some(Ok(slice))) = body.as_mut().poll_next(&mut cx) {
            slices.push(slice);
        }
        slices
    }

    #[test]
    fn a_file_is_handed_on_in_bounded_slices_of_the_same_memory() {
        let file = Bytes::from((0..SLICE_BYTES * 2 + 123).map(|i| i as u8).collect::<Vec<u8>>());
        let body = Slices::new(file.clone());
        assert_eq!(body.size(), BodySize::Sized(file.len() as u64));
        let slices = slices_of(body);
        assert_eq!(slices.iter().map(Bytes::len).collect::<Vec<_>>(), [SLICE_BYTES, SLICE_BYTES, 123]);
        assert_eq!(slices.concat(), file);
        assert_eq!(slices[1].as_ptr(), file[SLICE_BYTES..].as_ptr(), "a slice of the shared bytes, not a copy");
    }

    #[test]
    fn small_and_empty_files_are_one_slice_or_none() {
        assert_eq!(slices_of(Slices::new(Bytes::from_static(b"<MPD/>"))), [Bytes::from_static(b"<MPD/>")]);
        let empty = Slices::new(Bytes::new());
        assert_eq!(empty.size(), BodySize::Sized(0));
        assert!(slices_of(empty).is_empty());
    }
}
