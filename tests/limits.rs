//! Limits and backpressure: oversized messages, too many streams, too many bytes and silent publishers
//! each end cleanly with what was received kept; a flooding publisher is pushed back by TCP instead of
//! being buffered, and nothing it sent is dropped.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::media::{count_packets, fixture, looped};
use common::server::Server;
use common::ws::Client;
use common::WAIT;

fn h264() -> Vec<u8> {
    std::fs::read(fixture("h264-opus.mkv")).unwrap()
}

fn status(server: &Server, stream: &str) -> serde_json::Value {
    let listing: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    listing.as_array().unwrap().iter().find(|s| s["stream"] == stream).cloned().unwrap()
}

fn static_manifest(server: &Server, stream: &str) -> String {
    let manifest = server.get(&format!("/dash/{stream}/manifest.mpd")).into_string().unwrap();
    assert!(manifest.contains("type=\"static\""), "{manifest}");
    manifest
}

#[test]
fn an_oversized_message_is_too_large_and_what_came_before_is_kept() {
    let server = Server::start(&["--max-message-bytes", "65536"]);
    let data = h264();
    let mut publisher = Client::publish(&server, "big");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    for chunk in data[..48_000].chunks(8000) {
        publisher.send_bytes(chunk);
    }
    publisher.send_bytes(&vec![0u8; 100_000]);
    let error = publisher.expect("error", WAIT);
    assert_eq!(error["code"], "too_large", "{error}");
    assert!(error["message"].as_str().unwrap().contains("65536"), "{error}");
    assert_eq!(publisher.expect_close(WAIT), 1009);
    // Finalised, not failed: the first ~2 s are a recording.
    for _ in 0..100 {
        if status(&server, "big")["state"] == "ended" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(status(&server, "big")["state"], "ended");
    static_manifest(&server, "big");
}

#[test]
fn more_streams_than_allowed_get_too_large() {
    let server = Server::start(&["--max-streams", "1"]);
    let mut first = Client::publish(&server, "first");
    first.start("video/x-matroska;codecs=avc1,opus");
    first.expect("accepted", WAIT);
    let mut second = Client::publish(&server, "second");
    second.start("video/x-matroska;codecs=avc1,opus");
    let error = second.expect("error", WAIT);
    assert_eq!(error["code"], "too_large", "{error}");
    assert!(error["message"].as_str().unwrap().contains("limit of 1 live stream"), "{error}");
    first.send_bytes(&h264());
    first.stop();
    first.expect("ended", WAIT);
    // The slot is free again.
    let mut third = Client::publish(&server, "second");
    third.start("video/x-matroska;codecs=avc1,opus");
    third.expect("accepted", WAIT);
}

#[test]
fn a_stream_over_its_byte_limit_is_finalised_with_everything_received() {
    let server = Server::start(&["--max-stream-bytes", "50000"]);
    let data = h264();
    let mut viewer = Client::watch(&server, "capped");
    let mut publisher = Client::publish(&server, "capped");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    let mut sent = 0;
    for chunk in data.chunks(10_000) {
        if !publisher.send_bytes(chunk) {
            break;
        }
        sent += chunk.len();
        if sent > 50_000 {
            break;
        }
    }
    let error = publisher.expect("error", WAIT);
    assert_eq!(error["code"], "too_large", "{error}");
    let ended = viewer.expect("ended", WAIT);
    assert!(ended["durationSeconds"].as_f64().unwrap() > 1.5, "the bytes up to the limit were packaged: {ended}");
    static_manifest(&server, "capped");
}

#[test]
fn a_silent_publisher_is_finalised_after_the_idle_timeout() {
    let server = Server::start(&["--idle-timeout", "1"]);
    let data = h264();
    let mut publisher = Client::publish(&server, "quiet");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    publisher.send_bytes(&data[..data.len() / 2]);
    // Then nothing, with the connection open.
    let ended = publisher.expect("ended", WAIT);
    assert!(ended["durationSeconds"].as_f64().unwrap() > 1.0, "{ended}");
    assert_eq!(publisher.expect_close(WAIT), 1000);
    static_manifest(&server, "quiet");
}

/// Bytes the server has read off publisher sockets, from `/metrics`.
fn ingest_bytes(server: &Server) -> u64 {
    let metrics = server.get("/metrics").into_string().unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("livedash_ingest_bytes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn bytes_on_disk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).into_iter().flatten().flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
}

#[test]
fn a_flooding_publisher_is_pushed_back_and_nothing_is_dropped() {
    let scratch = tempfile::tempdir().unwrap();
    // 2000 × 4 s of Opus: ~29 MB of small packets, far more than the packager takes per second.
    let flood = looped("opus.webm", 2000, scratch.path());
    let data = std::fs::read(&flood).unwrap();
    let server = Server::start(&["--latency", "normal"]);
    let mut publisher = Client::publish(&server, "flood");
    publisher.start("audio/webm;codecs=opus");
    publisher.expect("accepted", WAIT);

    // While the publisher floods, watch how far the server reads ahead of what the packager wrote.
    let done = Arc::new(AtomicBool::new(false));
    let max_lead = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (done, max_lead) = (Arc::clone(&done), Arc::clone(&max_lead));
        let (base, dir) = (server.url(""), server.stream_dir("flood"));
        std::thread::spawn(move || {
            let mut samples = 0;
            while !done.load(Ordering::Relaxed) {
                let metrics = ureq::get(&format!("{base}/metrics")).timeout(WAIT).call().expect("the server stays responsive");
                let text = metrics.into_string().unwrap();
                let read: u64 = text.lines().find_map(|l| l.strip_prefix("livedash_ingest_bytes_total ")).unwrap().trim().parse().unwrap();
                max_lead.fetch_max(read.saturating_sub(bytes_on_disk(&dir)), Ordering::Relaxed);
                samples += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        })
    };
    for chunk in data.chunks(1 << 20) {
        assert!(publisher.send_bytes(chunk));
    }
    publisher.stop();
    publisher.expect("ended", Duration::from_secs(300));
    done.store(true, Ordering::Relaxed);
    let samples = watcher.join().unwrap();

    assert_eq!(ingest_bytes(&server), data.len() as u64, "every byte was read eventually");
    let lead = max_lead.load(Ordering::Relaxed);
    assert!(samples > 10, "{samples} samples");
    assert!(
        lead < 8 * 1024 * 1024,
        "the server read {lead} bytes ahead of the packager out of {}: it must push back, not buffer",
        data.len()
    );
    let manifest = static_manifest(&server, "flood");
    let doc = roxmltree::Document::parse(&manifest).unwrap();
    let template = doc.descendants().find(|n| n.has_tag_name("SegmentTemplate")).unwrap();
    let init = template.attribute("initialization").unwrap().replace("$RepresentationID$", "0");
    let mut all = std::fs::read(server.stream_dir("flood").join(&init)).unwrap();
    let mut segments: Vec<_> = std::fs::read_dir(server.stream_dir("flood"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("chunk-"))
        .collect();
    segments.sort();
    for segment in segments {
        all.extend(std::fs::read(server.stream_dir("flood").join(segment)).unwrap());
    }
    let assembled = scratch.path().join("out.mp4");
    std::fs::write(&assembled, all).unwrap();
    assert_eq!(count_packets(&assembled), count_packets(&flood), "no packet dropped");
}
