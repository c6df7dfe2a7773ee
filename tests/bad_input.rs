//! Hostile and broken input: the publisher gets `invalid_data` or `unsupported_media` with a sentence a
//! person can act on, quickly; a failed stream is never served as live; what was received before bad
//! data is kept; other streams are untouched.

mod common;

use std::time::{Duration, Instant};

use common::media::{count_packets, fixture};
use common::server::Server;
use common::ws::Client;
use common::WAIT;

fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// How soon a publisher must hear about bad data: seconds, not the idle timeout or the end of the
/// stream that a demuxer swallowing garbage would take; generous, because CI machines are busy.
const PROMPTLY: Duration = Duration::from_secs(5);

fn error_after(publisher: &mut Client, sent_at: Instant, code: &str) -> (String, Duration) {
    let error = publisher.expect("error", WAIT);
    let took = sent_at.elapsed();
    assert_eq!(error["code"], code, "{error}");
    (error["message"].as_str().unwrap().to_string(), took)
}

fn state_of(server: &Server, stream: &str) -> String {
    let listing: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    let entry = listing.as_array().unwrap().iter().find(|s| s["stream"] == stream).cloned().unwrap();
    entry["state"].as_str().unwrap().to_string()
}

#[test]
fn random_bytes_are_invalid_data_promptly_and_other_streams_carry_on() {
    let server = Server::start(&[]);
    let mut healthy = Client::publish(&server, "healthy");
    healthy.start("video/x-matroska;codecs=avc1,opus");
    healthy.expect("accepted", WAIT);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    healthy.send_bytes(&data[..data.len() / 2]);

    for (stream, mime) in [("junk-webm", "video/webm;codecs=vp8,opus"), ("junk-mp4", "video/mp4;codecs=avc1,opus")] {
        let mut publisher = Client::publish(&server, stream);
        publisher.start(mime);
        publisher.expect("accepted", WAIT);
        let sent_at = Instant::now();
        publisher.send_bytes(&noise(64 * 1024, 7));
        let (message, took) = error_after(&mut publisher, sent_at, "invalid_data");
        assert!(took < PROMPTLY, "{stream}: told after {took:?}");
        assert!(message.contains(stream) && message.contains("not a readable"), "{message}");
        assert_eq!(state_of(&server, stream), "failed");
        assert_eq!(server.get(&format!("/dash/{stream}/manifest.mpd")).status(), 404, "never served as live");
    }

    healthy.send_bytes(&data[data.len() / 2..]);
    healthy.stop();
    healthy.expect("ended", WAIT);
    assert_eq!(state_of(&server, "healthy"), "ended");
}

#[test]
fn a_truncated_header_is_invalid_data() {
    let server = Server::start(&[]);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let mut publisher = Client::publish(&server, "cut");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    publisher.send_bytes(&data[..60]);
    let sent_at = Instant::now();
    publisher.stop();
    let (message, took) = error_after(&mut publisher, sent_at, "invalid_data");
    assert!(took < PROMPTLY, "told after {took:?}");
    assert!(message.contains("stream cut:") && message.contains("ended before the recording's first frame"), "{message}");
    assert_eq!(state_of(&server, "cut"), "failed");
}

#[test]
fn a_valid_start_then_garbage_is_invalid_data_and_the_start_is_kept() {
    let server = Server::start(&["--latency", "normal", "--segment-duration", "1"]);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let good = &data[..data.len() * 3 / 4];
    let mut viewer = Client::watch(&server, "spoiled");
    let mut publisher = Client::publish(&server, "spoiled");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    publisher.send_bytes(good);
    let sent_at = Instant::now();
    // More garbage than any real frame: a demuxer that resynchronises would swallow it silently.
    for piece in noise(3 * 1024 * 1024, 99).chunks(256 * 1024) {
        if !publisher.send_bytes(piece) {
            break;
        }
    }
    let (message, took) = error_after(&mut publisher, sent_at, "invalid_data");
    assert!(message.contains("unreadable") && message.contains("kept"), "{message}");
    assert!(took < PROMPTLY, "told after {took:?}");
    viewer.expect("manifest_ready", WAIT);
    viewer.expect("error", WAIT);

    // Everything before the garbage is a finished recording.
    let manifest = server.get("/dash/spoiled/manifest.mpd").into_string().unwrap();
    assert!(manifest.contains("type=\"static\""), "{manifest}");
    let scratch = tempfile::tempdir().unwrap();
    let good_file = scratch.path().join("good.mkv");
    std::fs::write(&good_file, good).unwrap();
    let received = count_packets(&good_file);
    let kept = common::media::count_presentation_packets(&server.stream_dir("spoiled"), 2, scratch.path());
    for (kind, n) in &received {
        assert!(kept[kind] + 1 >= *n, "{kind}: kept {} of {n} received packets", kept[kind]);
    }
}

#[test]
fn an_unsupported_codec_inside_a_supported_container_is_unsupported_media() {
    let server = Server::start(&[]);
    let mut publisher = Client::publish(&server, "pcm");
    // The recorder may not announce its codecs: the stream itself is checked.
    publisher.start("audio/webm");
    publisher.expect("accepted", WAIT);
    let sent_at = Instant::now();
    publisher.send_bytes(&std::fs::read(fixture("pcm.webm")).unwrap());
    let (message, took) = error_after(&mut publisher, sent_at, "unsupported_media");
    assert!(message.contains("pcm_f32le") && message.contains("Opus"), "{message}");
    assert!(took < PROMPTLY, "told after {took:?}");
    assert_eq!(state_of(&server, "pcm"), "failed");
}

#[test]
fn a_container_that_contradicts_the_mime_type_is_invalid_data() {
    let server = Server::start(&[]);
    let mut publisher = Client::publish(&server, "liar");
    publisher.start("video/mp4;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    publisher.send_bytes(&std::fs::read(fixture("h264-opus.mkv")).unwrap());
    publisher.stop();
    let error = publisher.expect("error", WAIT);
    assert_eq!(error["code"], "invalid_data", "{error}");
    assert!(error["message"].as_str().unwrap().contains("MP4"), "{error}");
}

#[test]
fn the_demuxers_own_reason_reaches_the_publisher() {
    let server = Server::start(&[]);
    let mut publisher = Client::publish(&server, "magic");
    publisher.start("video/webm;codecs=vp8,opus");
    publisher.expect("accepted", WAIT);
    // The container's magic number, so the bytes reach the demuxer, then noise.
    let mut data = vec![0x1A, 0x45, 0xDF, 0xA3];
    data.extend(noise(64 * 1024, 3));
    let sent_at = Instant::now();
    publisher.send_bytes(&data);
    let (message, took) = error_after(&mut publisher, sent_at, "invalid_data");
    assert!(took < PROMPTLY, "told after {took:?}");
    assert!(message.contains("(Invalid data found when processing input)"), "FFmpeg says why: {message}");
}
