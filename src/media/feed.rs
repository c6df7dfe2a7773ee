//! The bounded channel that carries a publisher's [`Feed`] from the ingest to its packager thread.
//!
//! It is a queue under a mutex with a condition variable the packager thread sleeps on: one sender,
//! one receiver, a wake-up only when the receiver sleeps. (crossbeam's channel spun and yielded before
//! sleeping, on every item: with 500 streams that was about a tenth of the server's CPU.) Its sender
//! never blocks a thread: [`FeedSender`] waits for room asynchronously, woken by the receiving side
//! after every item it takes and when it is dropped. A pushed-back publisher costs no thread, and its
//! session keeps hearing shutdown and failures while it waits.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

/// One item from the ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// Recorder bytes, in order, any size.
    Bytes(Bytes),
    /// The connection's input is over.
    End(InputEnd),
}

/// How a publisher's connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputEnd {
    /// Deliberately (`stop`, a limit, an idle timeout, shutdown): finalise the presentation.
    Stop,
    /// The connection was lost: the publisher may reconnect within the grace period.
    Vanished,
}

/// Makes a bounded feed channel of `capacity` items whose sender waits for room without a thread.
pub fn feed_channel(capacity: usize) -> (FeedSender, FeedReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            items: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
            receiver_sleeps: false,
            blocked_sender: false,
            sender_gone: false,
            receiver_gone: false,
        }),
        item_or_end: Condvar::new(),
        room_or_end: Condvar::new(),
        room: Notify::new(),
    });
    (FeedSender { shared: Arc::clone(&shared) }, FeedReceiver { shared })
}

/// What both ends share.
#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// The receiver sleeps here while the queue is empty.
    item_or_end: Condvar,
    /// A sender in [`FeedSender::send_blocking`] sleeps here while the queue is full.
    room_or_end: Condvar,
    /// Wakes an asynchronous sender waiting for room.
    room: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue's state is valid after any panic (every change is one push, pop or flag).
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug)]
struct Queue {
    items: VecDeque<Feed>,
    capacity: usize,
    /// The receiver waits on `item_or_end`: the next push must wake it.
    receiver_sleeps: bool,
    /// A blocking sender waits on `room_or_end`: the next pop must wake it.
    blocked_sender: bool,
    sender_gone: bool,
    receiver_gone: bool,
}

/// The ingest's end of a feed channel.
#[derive(Debug)]
pub struct FeedSender {
    shared: Arc<Shared>,
}

/// Why a feed item was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushback {
    /// The channel is full: wait with [`FeedSender::room`] and try again.
    Full(Feed),
    /// The packager stopped reading this connection.
    Closed,
}

impl FeedSender {
    /// Puts `feed` in the channel if there is room, never waiting.
    pub fn try_send(&self, feed: Feed) -> Result<(), Pushback> {
        let mut queue = self.shared.lock();
        if queue.receiver_gone {
            return Err(Pushback::Closed);
        }
        if queue.items.len() >= queue.capacity {
            return Err(Pushback::Full(feed));
        }
        queue.items.push_back(feed);
        let wake = std::mem::take(&mut queue.receiver_sleeps);
        drop(queue);
        if wake {
            self.shared.item_or_end.notify_one();
        }
        Ok(())
    }

    /// Sends `feed`, blocking the calling thread while the channel is full; false once the packager
    /// stopped reading. For feeders on a thread of their own (tests, the fuzz target), never on the
    /// async executor.
    pub fn send_blocking(&self, mut feed: Feed) -> bool {
        loop {
            match self.try_send(feed) {
                Ok(()) => return true,
                Err(Pushback::Closed) => return false,
                Err(Pushback::Full(back)) => feed = back,
            }
            let mut queue = self.shared.lock();
            while queue.items.len() >= queue.capacity && !queue.receiver_gone {
                queue.blocked_sender = true;
                queue = self.shared.room_or_end.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
        }
    }

    /// Resolves when the packager took an item or stopped reading, so a full channel may have room.
    /// Cancel-safe: a wake-up that arrives while nobody waits is kept for the next call.
    pub async fn room(&self) {
        self.shared.room.notified().await;
    }

    /// Sends `feed`, waiting asynchronously while the channel is full; false once the packager stopped
    /// reading. Not cancel-safe (the item is lost if the future is dropped): for ends of input.
    pub async fn send(&self, mut feed: Feed) -> bool {
        loop {
            match self.try_send(feed) {
                Ok(()) => return true,
                Err(Pushback::Closed) => return false,
                Err(Pushback::Full(back)) => feed = back,
            }
            self.room().await;
        }
    }
}

impl Drop for FeedSender {
    /// The receiver reads what is queued, then finds the channel closed.
    fn drop(&mut self) {
        self.shared.lock().sender_gone = true;
        self.shared.item_or_end.notify_one();
    }
}

/// The packager's end of a feed channel: wakes the sender after each item taken, and when dropped.
#[derive(Debug)]
pub struct FeedReceiver {
    shared: Arc<Shared>,
}

impl Drop for FeedReceiver {
    /// Wakes the sender: it may be waiting for room that will never come, and must find the channel
    /// closed, not still full.
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.receiver_gone = true;
        queue.items.clear();
        drop(queue);
        self.shared.room_or_end.notify_all();
        self.shared.room.notify_one();
    }
}

impl FeedReceiver {
    /// Waits (blocking the calling thread) for the next item; `None` when the sender is gone and
    /// everything it sent was taken.
    pub(super) fn recv(&self) -> Option<Feed> {
        let mut queue = self.shared.lock();
        let item = loop {
            if let Some(item) = queue.items.pop_front() {
                break Some(item);
            }
            if queue.sender_gone {
                break None;
            }
            queue.receiver_sleeps = true;
            queue = self.shared.item_or_end.wait(queue).unwrap_or_else(|p| p.into_inner());
        };
        let blocked = std::mem::take(&mut queue.blocked_sender);
        drop(queue);
        if blocked {
            self.shared.room_or_end.notify_one();
        }
        self.shared.room.notify_one();
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn bytes(b: &'static [u8]) -> Feed {
        Feed::Bytes(Bytes::from_static(b))
    }

    #[test]
    fn a_full_sender_is_woken_when_the_packager_takes_an_item_or_goes() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let (tx, rx) = feed_channel(1);
        tx.try_send(bytes(b"a")).unwrap();
        assert!(matches!(tx.try_send(bytes(b"b")), Err(Pushback::Full(_))));
        let reader = std::thread::spawn(move || {
            let first = rx.recv();
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(rx);
            first
        });
        runtime.block_on(async {
            tx.room().await;
            tx.try_send(bytes(b"b")).unwrap();
            assert!(!tx.send(bytes(b"c")).await, "the receiver went away while the sender waited");
        });
        assert_eq!(reader.join().unwrap(), Some(bytes(b"a")));
    }

    #[test]
    fn a_sleeping_packager_is_woken_by_each_item_and_by_the_sender_going() {
        let (tx, rx) = feed_channel(1);
        let reader = std::thread::spawn(move || (rx.recv(), rx.recv(), rx.recv(), rx.recv()));
        // Most likely asleep by now; either way every item must arrive and the end be seen.
        std::thread::sleep(Duration::from_millis(50));
        tx.try_send(bytes(b"a")).unwrap();
        assert!(tx.send_blocking(bytes(b"b")), "waits for room, then sends");
        assert!(tx.send_blocking(bytes(b"c")));
        drop(tx);
        assert_eq!(reader.join().unwrap(), (Some(bytes(b"a")), Some(bytes(b"b")), Some(bytes(b"c")), None));
    }

    #[test]
    fn a_blocked_sender_is_released_when_the_packager_goes() {
        let (tx, rx) = feed_channel(1);
        tx.try_send(bytes(b"a")).unwrap();
        let sender = std::thread::spawn(move || tx.send_blocking(bytes(b"b")));
        std::thread::sleep(Duration::from_millis(50));
        drop(rx);
        assert!(!sender.join().unwrap(), "the packager stopped reading");
    }
}
