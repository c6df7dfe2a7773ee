//! A publisher whose connection drops and who comes back to the same stream id within the grace period
//! continues the same presentation: same segment names, continued numbering, one `manifest_ready` and
//! one `ended` for viewers. After the grace period a new presentation starts instead.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::media::{count_packets, count_presentation_packets, fixture};
use common::server::Server;
use common::ws::Client;
use common::WAIT;

const MIME: &str = "video/x-matroska;codecs=avc1,opus";

fn tags(server: &Server, stream: &str) -> BTreeSet<String> {
    std::fs::read_dir(server.stream_dir(stream))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("chunk-"))
        .map(|n| n.split('-').nth(1).unwrap().to_string())
        .collect()
}

fn types(client: &Client) -> Vec<String> {
    client.received.iter().map(|m| m["type"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_publisher_back_within_the_grace_period_continues_the_presentation() {
    let server = Server::start(&["--reconnect-grace", "5", "--segment-duration", "1"]);
    let mut viewer = Client::watch(&server, "back");
    let first_part = std::fs::read(fixture("h264-opus-10s.mkv")).unwrap();
    let first_part = &first_part[..first_part.len() * 4 / 10];
    let second = std::fs::read(fixture("h264-opus.mkv")).unwrap();

    let mut publisher = Client::publish(&server, "back");
    publisher.start(MIME);
    publisher.expect("accepted", WAIT);
    publisher.send_paced(first_part, 4000, Duration::from_secs(3));
    viewer.expect("manifest_ready", WAIT);
    server.wait_until_received("back", first_part.len());
    let before: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    publisher.reset();

    std::thread::sleep(Duration::from_millis(1500));
    let waiting: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    assert_eq!(waiting[0]["state"], "live", "still live while the publisher may come back");
    assert_eq!(waiting[0]["publisherConnected"], false);

    let mut again = Client::publish(&server, "back");
    again.start(MIME);
    again.expect("accepted", WAIT);
    again.send_paced(&second, 4000, Duration::from_secs(2));
    again.stop();
    let ended = again.expect("ended", WAIT);
    viewer.expect("ended", WAIT);
    assert_eq!(types(&viewer), ["manifest_ready", "ended"], "viewers saw one presentation");
    let after: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    assert_eq!(after[0]["presentation"], before[0]["presentation"]);

    // One set of segment names, and every frame of both recordings, with the outage as a gap.
    assert_eq!(tags(&server, "back").len(), 1, "{:?}", tags(&server, "back"));
    let duration = ended["durationSeconds"].as_f64().unwrap();
    assert!((7.5..12.0).contains(&duration), "about 4 s + the outage + 4 s: {duration}");
    let scratch = tempfile::tempdir().unwrap();
    let first_file = scratch.path().join("first.mkv");
    std::fs::write(&first_file, first_part).unwrap();
    let mut expected = count_packets(&first_file);
    for (kind, n) in count_packets(&fixture("h264-opus.mkv")) {
        *expected.get_mut(kind).unwrap() += n;
    }
    let kept = count_presentation_packets(&server.stream_dir("back"), 2, scratch.path());
    assert_eq!(kept, expected);
}

/// A page that changes its bitrate starts the new recorder before its new connection is open and
/// says how long ago (`startedMsAgo`): the new recording follows the old one's last frame with no
/// hole, however long the reconnect took (here far longer than the media already sent).
#[test]
fn a_new_recording_that_says_it_started_before_the_reconnect_continues_with_no_gap() {
    let server = Server::start(&["--reconnect-grace", "10", "--segment-duration", "1"]);
    let recording = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let alone = Client::publish_whole(&server, "alone", MIME, &recording);
    let one_recording = alone["durationSeconds"].as_f64().unwrap();

    let mut publisher = Client::publish(&server, "switch");
    publisher.start(MIME);
    publisher.expect("accepted", WAIT);
    assert!(publisher.send_bytes(&recording));
    server.wait_until_received("switch", recording.len());
    publisher.reset();
    // Longer than the recording: a reconnect placed by the wall clock would leave a hole of seconds.
    std::thread::sleep(Duration::from_secs_f64(one_recording + 2.0));

    let mut again = Client::publish(&server, "switch");
    let start = serde_json::json!({"type": "start", "mimeType": MIME, "startedMsAgo": 60_000});
    again.send_text(&start.to_string());
    again.expect("accepted", WAIT);
    assert!(again.send_bytes(&recording));
    again.stop();
    let duration = again.expect("ended", WAIT)["durationSeconds"].as_f64().unwrap();
    assert!(
        (duration - 2.0 * one_recording).abs() < 0.1,
        "two recordings of {one_recording:.3} s back to back, no gap: {duration:.3} s"
    );
    let scratch = tempfile::tempdir().unwrap();
    let mut expected = count_packets(&fixture("h264-opus.mkv"));
    expected.values_mut().for_each(|n| *n *= 2);
    assert_eq!(count_presentation_packets(&server.stream_dir("switch"), 2, scratch.path()), expected);
}

#[test]
fn after_the_grace_period_the_next_publisher_starts_a_new_presentation() {
    let server = Server::start(&["--reconnect-grace", "1"]);
    let mut viewer = Client::watch(&server, "late");
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let mut publisher = Client::publish(&server, "late");
    publisher.start(MIME);
    publisher.expect("accepted", WAIT);
    publisher.send_bytes(&data);
    viewer.expect("manifest_ready", WAIT);
    drop(publisher);
    viewer.expect("ended", WAIT);
    let old_tags = tags(&server, "late");

    Client::publish_whole(&server, "late", MIME, &data);
    viewer.expect("ended", WAIT);
    assert_eq!(types(&viewer), ["manifest_ready", "ended", "manifest_ready", "ended"]);
    assert!(tags(&server, "late").is_disjoint(&old_tags), "new segment names");
}

#[test]
fn coming_back_with_another_format_is_refused_and_the_stream_still_waits() {
    let server = Server::start(&["--reconnect-grace", "5"]);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let mut publisher = Client::publish(&server, "same");
    publisher.start(MIME);
    publisher.expect("accepted", WAIT);
    publisher.send_bytes(&data[..data.len() / 2]);
    publisher.expect("manifest_ready", WAIT);
    publisher.reset();
    std::thread::sleep(Duration::from_millis(300));

    let mut other = Client::publish(&server, "same");
    other.start("video/webm;codecs=vp8,opus");
    let error = other.expect("error", WAIT);
    assert_eq!(error["code"], "unsupported_media", "{error}");
    assert!(error["message"].as_str().unwrap().contains("same format"), "{error}");

    Client::publish_whole(&server, "same", MIME, &data);
}

/// Starts publishing `recording` to `stream`, and resets the connection 100 bytes in, inside the header.
fn lose_inside_header(server: &Server, stream: &str, recording: &[u8]) {
    let mut publisher = Client::publish(server, stream);
    publisher.start(MIME);
    publisher.expect("accepted", WAIT);
    publisher.send_bytes(&recording[..100]);
    publisher.reset();
}

#[test]
fn a_publisher_lost_inside_its_header_may_come_back_and_start_over() {
    let server = Server::start(&["--reconnect-grace", "5"]);
    let mut viewer = Client::watch(&server, "early");
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    lose_inside_header(&server, "early", &data);
    std::thread::sleep(Duration::from_millis(300));
    let waiting: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    assert_eq!(waiting[0]["state"], "starting", "{waiting}");
    assert_eq!(waiting[0]["publisherConnected"], false, "{waiting}");

    let mut other = Client::publish(&server, "early");
    other.start("video/webm;codecs=vp8,opus");
    let error = other.expect("error", WAIT);
    assert_eq!(error["code"], "unsupported_media", "{error}");

    // The recording starts over: the 100 bytes of the lost header are not part of it.
    Client::publish_whole(&server, "early", MIME, &data);
    viewer.expect("ended", WAIT);
    assert_eq!(types(&viewer), ["manifest_ready", "ended"]);
    let scratch = tempfile::tempdir().unwrap();
    let kept = count_presentation_packets(&server.stream_dir("early"), 2, scratch.path());
    assert_eq!(kept, count_packets(&fixture("h264-opus.mkv")));
}

#[test]
fn a_publisher_lost_inside_its_header_who_does_not_come_back_is_told_to_viewers() {
    let server = Server::start(&["--reconnect-grace", "1"]);
    let mut viewer = Client::watch(&server, "gone");
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    lose_inside_header(&server, "gone", &data);
    let error = viewer.expect("error", WAIT);
    assert_eq!(error["code"], "invalid_data", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("stream gone") && message.contains("ended before the recording's first frame"), "{message}");
}
