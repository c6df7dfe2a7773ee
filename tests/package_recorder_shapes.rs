//! The packager, driven directly (no server): every shape Chromium's MediaRecorder produces goes in as
//! arbitrary chunks, and a complete static DASH presentation with every packet comes out.

mod common;

use std::time::Duration;

use bytes::Bytes;
use livedash::media::{self, Connection, DashSettings, Feed, InputEnd, PackagerEvent, PackagerJob, RecorderFormat, SegmentType};
use livedash::stream_id::StreamId;

fn settings(low_latency: bool) -> DashSettings {
    DashSettings {
        segment_duration: Duration::from_secs(1),
        low_latency,
        fragment_duration: Duration::from_millis(250),
        target_latency: Duration::from_secs(1),
        utc_timing_url: Some("http://127.0.0.1:9/time".into()),
        presentation_tag: "t1".into(),
    }
}

struct Packaged {
    events: Vec<PackagerEvent>,
    dir: tempfile::TempDir,
}

fn package(fixture: &str, mime: &str, low_latency: bool, chunk_size: usize) -> Packaged {
    media::init();
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(common::media::fixture(fixture)).unwrap();
    let job = PackagerJob {
        stream: StreamId::parse("shape-test").unwrap(),
        dir: dir.path().to_path_buf(),
        format: RecorderFormat::parse(mime).unwrap(),
        settings: settings(low_latency),
        reconnect_grace: Duration::ZERO,
        read_delay: Duration::ZERO,
    };
    let (connections, receiver) = crossbeam_channel::unbounded();
    let (events_tx, events_rx) = std::sync::mpsc::channel();
    let thread = media::spawn_packager(job, receiver, move |e| events_tx.send(e).unwrap(), ()).unwrap();
    let (tx, rx) = media::feed_channel(8);
    let (connection, _) = Connection::new(rx, std::time::SystemTime::now());
    connections.send(connection).unwrap();
    for chunk in data.chunks(chunk_size) {
        assert!(tx.send_blocking(Feed::Bytes(Bytes::copy_from_slice(chunk))));
    }
    assert!(tx.send_blocking(Feed::End(InputEnd::Stop)));
    thread.join().unwrap();
    Packaged { events: events_rx.try_iter().collect(), dir }
}

fn check_shape(fixture: &str, mime: &str, segment_type: SegmentType, low_latency: bool) {
    let packaged = package(fixture, mime, low_latency, 7919);
    let [PackagerEvent::Started(start), PackagerEvent::Finished(summary)] = &packaged.events[..] else {
        panic!("{fixture}: unexpected events {:?}", packaged.events);
    };
    assert_eq!(start.segment_type, segment_type, "{fixture}");
    assert_eq!(start.low_latency, low_latency && segment_type == SegmentType::Mp4, "{fixture}");
    let manifest = std::fs::read_to_string(packaged.dir.path().join("manifest.mpd")).unwrap();
    assert!(manifest.contains("type=\"static\""), "{fixture}: manifest not static:\n{manifest}");

    let scratch = tempfile::tempdir().unwrap();
    let expected = common::media::count_packets(&common::media::fixture(fixture));
    let got = common::media::count_presentation_packets(packaged.dir.path(), start.tracks.len(), scratch.path());
    assert_eq!(got, expected, "{fixture}: packets in segments vs packets recorded");
    assert_eq!(summary.packets, expected.values().sum::<u64>(), "{fixture}");
    assert!(summary.duration_seconds > 3.0, "{fixture}: duration {}", summary.duration_seconds);
}

#[test]
fn h264_opus_in_matroska() {
    check_shape("h264-opus.mkv", "video/x-matroska;codecs=avc1,opus", SegmentType::Mp4, false);
}

#[test]
fn h264_opus_in_matroska_low_latency() {
    check_shape("h264-opus.mkv", "video/x-matroska;codecs=avc1,opus", SegmentType::Mp4, true);
}

#[test]
fn vp8_opus_in_webm() {
    check_shape("vp8-opus.webm", "video/webm;codecs=vp8,opus", SegmentType::Webm, true);
}

#[test]
fn vp9_opus_in_webm() {
    check_shape("vp9-opus.webm", "video/webm;codecs=vp9,opus", SegmentType::Mp4, true);
}

#[test]
fn h264_opus_in_fragmented_mp4() {
    check_shape("h264-opus.mp4", "video/mp4;codecs=avc1,opus", SegmentType::Mp4, true);
}

#[test]
fn vp9_opus_in_fragmented_mp4() {
    check_shape("vp9-opus.mp4", "video/mp4;codecs=vp9,opus", SegmentType::Mp4, false);
}

#[test]
fn h264_video_only() {
    check_shape("h264.mkv", "video/x-matroska;codecs=avc1", SegmentType::Mp4, true);
}

#[test]
fn vp8_video_only() {
    check_shape("vp8.webm", "video/webm;codecs=vp8", SegmentType::Webm, false);
}

#[test]
fn opus_audio_only_in_webm() {
    check_shape("opus.webm", "audio/webm;codecs=opus", SegmentType::Mp4, true);
}

#[test]
fn opus_audio_only_in_mp4() {
    check_shape("opus.mp4", "audio/mp4;codecs=opus", SegmentType::Mp4, false);
}

