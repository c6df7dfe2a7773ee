//! A live stream for delivery tests: a fixture published at real-time pace on a thread, and the
//! segments it is writing found on disk.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::WAIT;
use super::media::fixture;
use super::server::Server;
use super::ws::Client;

/// The 10 s H.264 + Opus recording.
pub const TEN_SECONDS: &str = "h264-opus-10s.mkv";

/// Publishes `data` at real-time pace over `duration` on a thread, then stops; returns once
/// `accepted` arrived. The thread yields the publisher's last message (`ended` or `error`).
pub fn start_live(server: &Server, stream: &str, data: Vec<u8>, duration: Duration) -> std::thread::JoinHandle<serde_json::Value> {
    let mut publisher = Client::publish(server, stream);
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    std::thread::spawn(move || {
        let chunk = (data.len() / 100).max(1);
        let pieces: Vec<&[u8]> = data.chunks(chunk).collect();
        let started = Instant::now();
        let step = duration / pieces.len().max(1) as u32;
        for (i, piece) in pieces.iter().enumerate() {
            if let Some(wait) = (started + step * i as u32).checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if !publisher.send_bytes(piece) {
                return serde_json::json!({"type": "closed"});
            }
        }
        publisher.stop();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match publisher.next(WAIT) {
                Some(message) if message["type"] == "ended" || message["type"] == "error" => return message,
                Some(_) => {}
                None => break,
            }
        }
        serde_json::json!({"type": "closed"})
    })
}

/// The 10 s fixture published live.
pub fn start_ten_seconds(server: &Server, stream: &str) -> std::thread::JoinHandle<serde_json::Value> {
    start_live(server, stream, std::fs::read(fixture(TEN_SECONDS)).unwrap(), Duration::from_secs(10))
}

/// Waits (bounded) for a media segment of representation `rep` numbered above `after` that is being
/// written and has data; returns its final path.
pub fn in_progress_segment(dir: &Path, rep: u32, after: u64) -> PathBuf {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().into_string().unwrap();
            if let Some(final_name) = name.strip_suffix(".tmp")
                && final_name.starts_with("chunk-")
                && final_name.contains(&format!("-{rep}-"))
                && number(final_name) > after
                && entry.metadata().is_ok_and(|m| m.len() > 0)
            {
                return dir.join(final_name);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no segment of representation {rep} in progress in {}", dir.display());
}

/// The number of a segment file name.
pub fn number(segment: &str) -> u64 {
    segment.rsplit('-').next().unwrap().split('.').next().unwrap().parse().unwrap()
}

/// `segment`'s name with its number replaced by `n`.
pub fn renumbered(segment: &str, n: u64) -> String {
    let (stem, ext) = segment.rsplit_once('.').unwrap();
    let (prefix, digits) = stem.rsplit_once('-').unwrap();
    format!("{prefix}-{n:0width$}.{ext}", width = digits.len())
}

/// The first finished file of `dir` whose name starts with `prefix`.
pub fn finished_file(dir: &Path, prefix: &str) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix) && !n.ends_with(".tmp"))
        .collect();
    names.sort();
    names.into_iter().next().unwrap_or_else(|| panic!("no {prefix}* in {}", dir.display()))
}
