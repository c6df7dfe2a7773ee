//! One connection's way into the packager, whatever carries the bytes: the feed channel, and what was
//! taken off the transport but is not in the channel yet. While anything is pending the transport is
//! not read, so TCP pushes back on the publisher; waiting for room is asynchronous and cancellable
//! ([`FeedSender::room`]), so a pushed-back publisher holds no thread and its session still hears
//! shutdown, the idle timer and packager failures.

use bytes::Bytes;

use super::pipeline::PIECE_BYTES;
use crate::media::{Feed, FeedSender, InputEnd, Pushback};

/// A connection's input on its way to the packager.
pub struct Input {
    feed: FeedSender,
    pending: Bytes,
}

/// What [`Input::push`] achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Everything pending is in the channel.
    All,
    /// The channel is full: wait for [`Input::room`].
    Some,
    /// The packager stopped reading this connection; what was pending is dropped (its status says why).
    Closed,
}

impl Input {
    pub fn new(feed: FeedSender) -> Input {
        Input { feed, pending: Bytes::new() }
    }

    /// Whether bytes are waiting for room; take no more input until they are in.
    pub fn is_pushed_back(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Queues a message's bytes; call only when not pushed back, then [`Input::push`].
    pub fn take(&mut self, bytes: Bytes) {
        debug_assert!(self.pending.is_empty(), "input taken while pushed back");
        self.pending = bytes;
    }

    /// Moves pending bytes into the channel in pieces of at most [`PIECE_BYTES`], as far as there is room.
    pub fn push(&mut self) -> Pushed {
        while !self.pending.is_empty() {
            let piece = self.pending.slice(..self.pending.len().min(PIECE_BYTES));
            let length = piece.len();
            match self.feed.try_send(Feed::Bytes(piece)) {
                Ok(()) => {
                    let _ = self.pending.split_to(length);
                }
                Err(Pushback::Full(_)) => return Pushed::Some,
                Err(Pushback::Closed) => {
                    self.pending = Bytes::new();
                    return Pushed::Closed;
                }
            }
        }
        Pushed::All
    }

    /// Resolves when the packager may have made room. Cancel-safe.
    pub async fn room(&self) {
        self.feed.room().await;
    }

    /// Delivers what is pending, then how the input ended, waiting asynchronously for room. Nothing
    /// taken off the transport is dropped unless the packager stopped reading.
    pub async fn finish(mut self, end: InputEnd) {
        loop {
            match self.push() {
                Pushed::All => break,
                Pushed::Some => self.room().await,
                Pushed::Closed => return,
            }
        }
        self.feed.send(Feed::End(end)).await;
    }
}
