//! Inputs the `packager` fuzz target (fuzz/) found crashing, published to the real server. Each one
//! used to kill the whole server process (SIGFPE inside FFmpeg 5.1's dash muxer), lose a track or leak; now
//! each gets its stream's proper end and the server carries on.
//!
//! The fixtures are raw-mode fuzz inputs (fuzz/src/packager.rs): byte 0 picks the mimeType, low latency
//! and the segment duration; bytes 1-2 the chunking (irrelevant to these crashes); the rest is the
//! recording.

mod common;

use std::path::Path;

use common::media::count_presentation_packets;
use common::server::Server;
use common::ws::Client;
use common::WAIT;

include!("../fuzz/src/raw_mode.rs");

enum Outcome {
    /// `ended`, with this many video frames in the finished presentation.
    Ended { video_frames: u64 },
    /// `error` `invalid_data` whose message says this.
    InvalidData(&'static str),
}

/// Publishes the fixture to a server configured as the fuzz case was, checks the outcome, and that the
/// server is still alive and serving.
fn replay(name: &str, expected: Outcome) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz").join(name);
    let input = std::fs::read(&path).unwrap();
    let (mime_type, recording) = (MIME_TYPES[usize::from(input[0] & 7)], &input[3..]);
    let latency = if input[0] & 0x08 != 0 { "low" } else { "normal" };
    let segment = (SEGMENT_MILLIS[usize::from(input[0] >> 6)] as f64 / 1000.0).to_string();
    let server = Server::start(&["--latency", latency, "--segment-duration", &segment]);

    let mut publisher = Client::publish(&server, "replay");
    publisher.start(mime_type);
    publisher.expect("accepted", WAIT);
    assert!(publisher.send_bytes(recording), "{name}: the server closed the socket");
    publisher.stop();
    match expected {
        Outcome::Ended { video_frames } => {
            publisher.expect("ended", WAIT);
            let manifest = server.get("/dash/replay/manifest.mpd").into_string().unwrap();
            assert!(manifest.contains(r#"type="static""#), "{name}: {manifest}");
            let scratch = tempfile::tempdir().unwrap();
            let counts = count_presentation_packets(&server.stream_dir("replay"), 1, scratch.path());
            assert_eq!(counts.get("video"), Some(&video_frames), "{name}");
        }
        Outcome::InvalidData(says) => {
            let error = publisher.expect("error", WAIT);
            assert_eq!(error["code"], "invalid_data", "{name}: {error}");
            let message = error["message"].as_str().unwrap();
            assert!(message.contains("replay") && message.contains(says), "{name}: {message}");
            let unfinished: Vec<_> = std::fs::read_dir(server.stream_dir("replay"))
                .map(|dir| dir.map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().ends_with(".tmp")).collect())
                .unwrap_or_default();
            assert!(unfinished.is_empty(), "{name}: a failed stream left unfinished files {unfinished:?}");
        }
    }
    assert_eq!(server.get("/healthz").status(), 200, "{name}: the server died; log:\n{}", server.log());
}

#[test]
fn a_header_without_frames_is_invalid_data_not_a_crash_in_the_trailer() {
    replay("packager-no-packets-trailer-fpe.bin", Outcome::InvalidData("ended before the recording's first frame"));
}

#[test]
fn a_vp8_recording_cut_inside_its_first_frame_is_invalid_data_not_a_crash() {
    replay("packager-vp8-cut-in-first-frame-trailer-fpe.bin", Outcome::InvalidData("ended before the recording's first frame"));
}

#[test]
fn a_single_frame_is_finished_as_a_recording_of_one_frame() {
    replay("packager-one-frame-then-stop-trailer-fpe.bin", Outcome::Ended { video_frames: 1 });
}

#[test]
fn a_first_segment_of_one_frame_is_flushed_without_a_crash() {
    replay("packager-one-frame-first-segment-flush-fpe.bin", Outcome::Ended { video_frames: 2 });
}

#[test]
fn an_opus_track_without_its_opushead_is_invalid_data_not_silently_dropped_audio() {
    replay("packager-opus-short-extradata-leak.bin", Outcome::InvalidData("OpusHead"));
}

#[test]
fn an_opushead_cut_before_its_channel_mapping_table_is_invalid_data_not_a_leak() {
    // A second Opus track whose header names mapping family 1 without the table: `dOps` could not be
    // written for it when the presentation ended, and FFmpeg leaked its size-probe buffer.
    replay("packager-opus-mapping-table-cut-leak.bin", Outcome::InvalidData("channel mapping family"));
}

#[test]
fn a_failed_presentation_leaves_no_unfinished_segment_behind() {
    // VP8 with an empty first (Opus) track: no trailer can be written, and the WebM segment the muxer
    // had begun stayed as a `.tmp` that nothing would ever finish.
    replay("packager-empty-first-track-leaves-tmp.bin", Outcome::InvalidData("never carried a frame"));
}
