//! Owned work: every packager thread and publisher session holds a [`TaskGuard`] from [`Tasks`] for as
//! long as it runs, so shutdown can wait until all of them have ended (mini-redis's
//! `_shutdown_complete`, with names): [`Tasks::wait_all`] resolves when the last guard is dropped, or
//! says by name what was still running when its deadline passed. Packager threads' handles are kept
//! here too ([`Tasks::keep_thread`]) so that [`Tasks::finish`] joins them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How long a packager thread may take to exit after dropping its lease (it has nothing left to do).
const THREAD_EXIT: Duration = Duration::from_secs(1);

/// What is running, by a key of its own, with a name for the log.
#[derive(Default)]
pub struct Tasks {
    running: Arc<watch::Sender<BTreeMap<u64, String>>>,
    next: AtomicU64,
    /// Every packager thread, joined once it has ended.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Held by a running thread or task; dropping it records that it ended.
#[derive(Debug)]
pub struct TaskGuard {
    running: Arc<watch::Sender<BTreeMap<u64, String>>>,
    key: u64,
}

impl Tasks {
    /// Records that `name` (e.g. "the packager of stream x") is running until the guard is dropped.
    pub fn track(&self, name: String) -> TaskGuard {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.running.send_modify(|running| {
            running.insert(key, name);
        });
        TaskGuard { running: Arc::clone(&self.running), key }
    }

    /// Waits until nothing is running, or until `deadline`; returns the names of what still runs then.
    pub async fn wait_all(&self, deadline: Instant) -> Vec<String> {
        let mut running = self.running.subscribe();
        let all_ended = tokio::time::timeout_at(deadline, running.wait_for(BTreeMap::is_empty)).await.is_ok();
        if all_ended { Vec::new() } else { running.borrow().values().cloned().collect() }
    }
}

impl Tasks {
    /// Keeps a thread to join it; joins those that have already ended.
    pub fn keep_thread(&self, thread: JoinHandle<()>) {
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        let (ended, running): (Vec<_>, Vec<_>) = threads.drain(..).partition(JoinHandle::is_finished);
        *threads = running;
        threads.push(thread);
        drop(threads);
        join_ended(ended);
    }

    /// At shutdown: waits until every tracked thread and task has ended, or until `deadline`, then
    /// joins the ended threads. Logs what did not end in time.
    pub async fn finish(&self, deadline: Instant) {
        let late = self.wait_all(deadline).await;
        if !late.is_empty() {
            log::warn!("shutdown deadline passed; still running: {}", late.join(", "));
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        // A thread that dropped its lease is past its last event and ends within microseconds: join it.
        // One still running (deadline passed) is left to the process exit.
        let (ended, running): (Vec<_>, Vec<_>) = threads.into_iter().partition(|t| late.is_empty() || t.is_finished());
        let joined = ended.len();
        let ended = tokio::task::spawn_blocking(move || join_ended(ended));
        if tokio::time::timeout(THREAD_EXIT, ended).await.is_err() {
            log::warn!("{joined} packager threads did not exit within {THREAD_EXIT:?} of their last event");
        }
        if !running.is_empty() {
            log::warn!("leaving {} packager threads running at exit", running.len());
        }
    }
}

/// Joins threads that have ended (or are about to, having done their last work); logs a panic.
fn join_ended(threads: Vec<JoinHandle<()>>) {
    for thread in threads {
        let name = thread.thread().name().unwrap_or("packager").to_string();
        if thread.join().is_err() {
            log::warn!("thread {name} panicked after its last event");
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.running.send_modify(|running| {
            running.remove(&self.key);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_every_guard_and_names_what_is_late() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let tasks = Tasks::default();
        let first = tasks.track("the packager of stream a".into());
        let second = tasks.track("the publisher session of stream b".into());
        runtime.block_on(async {
            let soon = Instant::now() + Duration::from_millis(20);
            assert_eq!(tasks.wait_all(soon).await, ["the packager of stream a", "the publisher session of stream b"]);
            drop(first);
            let ended = std::thread::spawn(move || drop(second));
            assert!(tasks.wait_all(Instant::now() + Duration::from_secs(20)).await.is_empty());
            ended.join().unwrap();
        });
    }
}
