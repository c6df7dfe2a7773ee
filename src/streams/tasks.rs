//! Owned work: every packager thread and publisher session holds a [`TaskGuard`] from [`Tasks`] for as
//! long as it runs, so shutdown can wait until all of them have ended (mini-redis's
//! `_shutdown_complete`, with names): [`Tasks::wait_all`] resolves when the last guard is dropped, or
//! says by name what was still running when its deadline passed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

/// What is running, by a key of its own, with a name for the log.
#[derive(Default)]
pub struct Tasks {
    running: Arc<watch::Sender<BTreeMap<u64, String>>>,
    next: AtomicU64,
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
    use std::time::Duration;

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
