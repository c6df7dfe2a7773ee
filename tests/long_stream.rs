//! A stream longer than the dash muxer's live window: the muxer forgets its oldest segments (so its
//! memory stays bounded over a 24-hour stream), but every one of them stays on disk, and the recording
//! lists and plays them all — with a `$Number$` template (low latency) and with a `SegmentTimeline`
//! (VP8, `--latency normal`), whose live MPD lists only the window while the recording's lists all.

mod common;

use common::media::{count_packets, count_presentation_packets, looped};
use common::server::Server;
use common::ws::Client;
use common::WAIT;

use std::time::{Duration, Instant};

#[test]
fn a_stream_longer_than_the_live_window_keeps_every_segment() {
    let scratch = tempfile::tempdir().unwrap();
    // 16 × 10 s: longer than the muxer's 2-minute window plus the 5 segments it keeps beyond it.
    let source = looped("h264-opus-10s.mkv", 16, scratch.path());
    let server = Server::start(&["--segment-duration", "2"]);
    let mut publisher = Client::publish(&server, "long");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    for chunk in std::fs::read(&source).unwrap().chunks(256 * 1024) {
        assert!(publisher.send_bytes(chunk));
    }
    publisher.stop();
    publisher.expect("ended", std::time::Duration::from_secs(300));

    let dir = server.stream_dir("long");
    let manifest = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
    assert!(manifest.contains("type=\"static\""), "{manifest}");
    assert!(manifest.contains("startNumber=\"1\""), "the recording starts at the first segment: {manifest}");
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    for rep in 0..2 {
        let marker = format!("-{rep}-");
        let numbers: Vec<u32> = names
            .iter()
            .filter(|n| n.starts_with("chunk-") && n.contains(&marker))
            .map(|n| n.rsplit('-').next().unwrap().split('.').next().unwrap().parse().unwrap())
            .collect();
        assert!(numbers.contains(&1), "representation {rep} lost its first segment ({} files left)", names.len());
        assert!(numbers.len() > 70, "representation {rep} has only {} segments", numbers.len());
    }
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "unfinished files left: {names:?}");
    assert_eq!(
        count_presentation_packets(&dir, 2, scratch.path()),
        count_packets(&source),
        "every packet sent is in the recording"
    );
}

/// Segments the muxer lists in a live timeline: two minutes of 2 s segments.
const WINDOW_SEGMENTS: usize = 60;

/// `(representation, segment numbers, total duration in seconds)` of each timeline in `mpd`.
fn timelines(mpd: &str) -> Vec<(String, Vec<u64>, f64)> {
    let doc = roxmltree::Document::parse(mpd).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("Representation"))
        .map(|rep| {
            let template = rep.descendants().find(|n| n.has_tag_name("SegmentTemplate")).expect("SegmentTemplate");
            let timescale: f64 = template.attribute("timescale").unwrap().parse().unwrap();
            let mut number: u64 = template.attribute("startNumber").unwrap_or("1").parse().unwrap();
            let (mut numbers, mut ticks) = (Vec::new(), 0u64);
            for s in template.descendants().filter(|n| n.has_tag_name("S")) {
                let d: u64 = s.attribute("d").unwrap().parse().unwrap();
                for _ in 0..=s.attribute("r").map_or(0, |r| r.parse().unwrap()) {
                    numbers.push(number);
                    number += 1;
                    ticks += d;
                }
            }
            (rep.attribute("id").unwrap().to_string(), numbers, ticks as f64 / timescale)
        })
        .collect()
}

/// Publishes `fixture` looped to 160 s as fast as the server takes it; once the live MPD's window has
/// moved on, checks it lists no more than the window; then checks the recording's MPD lists every
/// segment on disk, from 1, covering the whole duration, and that every packet is there.
fn timeline_stream_keeps_every_segment(fixture: &str, loops: u32, mime_type: &str, args: &[&str]) {
    let scratch = tempfile::tempdir().unwrap();
    let source = looped(fixture, loops, scratch.path());
    let server = Server::start(args);
    let mut publisher = Client::publish(&server, "timeline");
    publisher.start(mime_type);
    publisher.expect("accepted", WAIT);
    let bytes = std::fs::read(&source).unwrap();
    // Nine tenths first (144 s): enough for segments past the window, with more to come.
    let (first, rest) = bytes.split_at(bytes.len() / 10 * 9);
    for chunk in first.chunks(256 * 1024) {
        assert!(publisher.send_bytes(chunk));
    }
    let manifest_path = server.stream_dir("timeline").join("manifest.mpd");
    let deadline = Instant::now() + Duration::from_secs(120);
    let live = loop {
        let mpd = std::fs::read_to_string(&manifest_path).unwrap_or_default();
        assert!(Instant::now() < deadline, "the live MPD's window never moved past segment 1: {mpd}");
        if mpd.contains("type=\"dynamic\"") && timelines(&mpd).iter().any(|(_, numbers, _)| numbers.first() > Some(&1)) {
            break mpd;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for (rep, numbers, _) in timelines(&live) {
        assert!(numbers.len() <= WINDOW_SEGMENTS, "the live MPD lists {} segments of representation {rep}", numbers.len());
    }
    for chunk in rest.chunks(256 * 1024) {
        assert!(publisher.send_bytes(chunk));
    }
    publisher.stop();
    let ended = publisher.expect("ended", Duration::from_secs(300));
    let duration = ended["durationSeconds"].as_f64().unwrap();

    let dir = server.stream_dir("timeline");
    let recording = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
    assert!(recording.contains("type=\"static\""), "{recording}");
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    let recorded = timelines(&recording);
    assert!(recorded.iter().any(|(_, numbers, _)| numbers.len() > WINDOW_SEGMENTS + 5), "longer than the window: {recorded:?}");
    for (rep, numbers, seconds) in recorded {
        let on_disk = names.iter().filter(|n| n.starts_with("chunk-") && n.contains(&format!("-{rep}-"))).count();
        assert_eq!(numbers, (1..=on_disk as u64).collect::<Vec<_>>(), "representation {rep}: the recording lists every segment");
        assert!((seconds - duration).abs() < 2.5, "representation {rep} covers {seconds} s of {duration} s");
    }
    assert!(!names.iter().any(|n| n.ends_with(".tmp") || n == "timeline.log"), "left behind: {names:?}");
    assert_eq!(
        count_presentation_packets(&dir, 2, scratch.path()),
        count_packets(&source),
        "every packet sent is in the recording"
    );
}

#[test]
fn a_normal_latency_stream_longer_than_the_window_lists_every_segment_in_its_recording() {
    timeline_stream_keeps_every_segment(
        "h264-opus-10s.mkv",
        16,
        "video/x-matroska;codecs=avc1,opus",
        &["--segment-duration", "2", "--latency", "normal"],
    );
}

#[test]
fn a_vp8_stream_longer_than_the_window_lists_every_segment_in_its_recording() {
    timeline_stream_keeps_every_segment("vp8-opus.webm", 40, "video/webm;codecs=vp8,opus", &["--segment-duration", "2"]);
}
