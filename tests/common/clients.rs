//! Real publishing clients as child processes: Debian's `ffmpeg` CLI and `curl` (and GStreamer's
//! `gst-launch-1.0`), killed when dropped so a failed test leaves nothing running.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::WAIT;

/// A client process with its output collected for failure messages.
pub struct Process {
    pub child: Child,
    /// What the process is, for messages.
    pub name: String,
}

impl Process {
    /// Starts `program args`, stdin piped, stdout and stderr collected.
    pub fn spawn(program: &str, args: &[&str]) -> Process {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program} (install it with scripts/setup --test): {e}"));
        Process { child, name: format!("{program} {}", args.join(" ")) }
    }

    /// Waits (bounded by `limit`) for the process to exit; returns its status code and stdout + stderr.
    pub fn wait(mut self, limit: Duration) -> (Option<i32>, String, String) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{} did not finish within {limit:?}", self.name);
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut out = String::new();
        let mut err = String::new();
        let _ = self.child.stdout.take().unwrap().read_to_string(&mut out);
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
        (status.code(), out, err)
    }

    /// Kills the process at once (SIGKILL): a publisher that vanishes without a goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ffmpeg` with the options every test wants: quiet, no stdin interaction, overwrite nothing.
pub fn ffmpeg(args: &[&str]) -> Process {
    let mut all = vec!["-hide_banner", "-nostdin", "-loglevel", "warning"];
    all.extend_from_slice(args);
    Process::spawn("ffmpeg", &all)
}

/// Polls `/api/streams` (bounded by [`WAIT`]) until `stream`'s entry satisfies `ready`; returns it.
pub fn wait_for_status(server: &super::server::Server, stream: &str, what: &str, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let listing: serde_json::Value = server.get("/api/streams").into_json().unwrap();
        if let Some(entry) = listing.as_array().unwrap().iter().find(|s| s["stream"] == stream) {
            if ready(entry) {
                return entry.clone();
            }
            assert!(Instant::now() < deadline, "stream {stream}: never {what}; last status {entry}");
        } else {
            assert!(Instant::now() < deadline, "stream {stream}: never {what}; not listed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
