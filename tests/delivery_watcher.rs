//! The media-folder watcher: a stream that never becomes ready does not make the server spin (issue 11,
//! item 2: reacting to the readiness check's own open of the manifest re-ran the check forever), and
//! hundreds of streams share one inotify instance. Until a stream is ready, its manifest is read once
//! per version the muxer writes, not on every file event (at 500 publishers' start those reads were
//! a share of the server's CPU).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::WAIT;
use common::media::audio_declared_never_sent;
use common::server::Server;
use common::ws::Client;

const CHECKS: &str = "livedash_readiness_checks_total";

/// A low-latency stream "mute" whose recording declares audio and never sends any, so it never
/// becomes ready: all of it sent at once, then the publisher (returned, to stay connected) sends
/// nothing more within the idle timeout, and from then on the stream has no work at all.
fn never_ready_stream() -> (Server, Client, PathBuf) {
    let scratch = tempfile::tempdir().unwrap();
    let recording = std::fs::read(audio_declared_never_sent("h264-opus-10s.mkv", scratch.path())).unwrap();
    let server = Server::start(&["--latency", "low", "--segment-duration", "1"]);
    let mut publisher = Client::publish(&server, "mute");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    assert!(publisher.send_bytes(&recording));
    let dir = server.stream_dir("mute");
    (server, publisher, dir)
}

#[test]
fn a_stream_that_declares_audio_but_never_sends_any_does_not_spin_the_server() {
    let (server, _publisher, dir) = never_ready_stream();
    // The audio track is declared first, so the video is representation 1; its last segment stays
    // open while the publisher is connected.
    common::live::in_progress_segment(&dir, 1, 3);
    assert!(dir.join("manifest.mpd").exists());
    std::thread::sleep(Duration::from_millis(500));
    let listing: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    assert_eq!(listing[0]["state"], "starting", "never playable: its audio never comes");

    // Idle, the server does no readiness checks: nothing is written. A watcher that reacts to the
    // check's own open of the manifest re-runs the check forever (thousands in 3 s even when the
    // spinning thread gets a seventh of a core on a loaded 2-core machine). The bound leaves room for
    // the muxer's last writes landing late on a slow machine. The CPU used is printed, not asserted.
    let (checks, cpu) = (server.metric(CHECKS), server.cpu_seconds());
    std::thread::sleep(Duration::from_secs(3));
    let checks = server.metric(CHECKS) - checks;
    let cpu = server.cpu_seconds() - cpu;
    println!("idle for 3 s: {checks} readiness checks, {cpu:.2} s of CPU");
    assert!(checks < 50, "{checks} readiness checks in 3 s with one idle stream ({cpu:.2} s of CPU)");
}

#[test]
fn a_stream_not_yet_ready_reads_its_manifest_once_per_version_not_per_file_event() {
    let (server, _publisher, dir) = never_ready_stream();
    // Video is representation 1 (see above); wait until the muxer has written most of the recording.
    common::live::in_progress_segment(&dir, 1, 6);
    let (mut checks, mut still) = (server.metric(CHECKS) as f64, 0);
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(250));
        let now = server.metric(CHECKS) as f64;
        still = if now == checks { still + 1 } else { 0 };
        checks = now;
        if still == 4 {
            break;
        }
    }
    // Every fragment (0.2 s) is a write event, every segment a creation and a rename: well over a
    // hundred events for this recording. The muxer rewrites the manifest about once per segment.
    let segments = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("chunk-") && n.ends_with(".m4s")))
        .count() as f64;
    println!("{checks} manifest reads for {segments} finished segments");
    assert!(checks <= 2.0 * segments + 4.0, "{checks} manifest reads for {segments} finished segments");
}

#[test]
fn three_hundred_publishers_at_once_on_defaults_are_all_accepted() {
    // They send nothing: a long idle timeout keeps the first from being ended (15 s by default)
    // before the last is accepted on a slow machine.
    let server = Server::start(&["--idle-timeout", "120"]);
    let mut publishers: Vec<Client> = (0..300).map(|i| Client::publish(&server, &format!("crowd-{i}"))).collect();
    for publisher in &mut publishers {
        publisher.start("video/x-matroska;codecs=avc1,opus");
    }
    for (i, publisher) in publishers.iter_mut().enumerate() {
        let accepted = publisher.expect("accepted", WAIT);
        assert_eq!(accepted["stream"], format!("crowd-{i}"), "{accepted}");
    }
    let metrics = server.get("/metrics").into_string().unwrap();
    assert!(metrics.contains("livedash_streams{state=\"starting\"} 300"), "{metrics}");
}
