//! RTMP ingest with a real encoder: Debian's `ffmpeg` CLI publishing H.264 + AAC to
//! `rtmp://127.0.0.1:PORT/live/NAME` at real-time pace. It goes live with low-latency DASH, then
//! becomes a static recording holding every packet sent, timestamps from 0; tokens (global and
//! signed per stream) are required when configured; a second publisher on a live id is refused; a
//! publisher that vanishes (`kill -9`) keeps the stream for the reconnect grace and a new publish
//! continues it; a codec livedash cannot carry is refused, and a keyframe interval that does not fit
//! the segments is reported in the status.

mod common;

use std::path::Path;
use std::time::Instant;

use common::WAIT;
use common::clients::{Process, ffmpeg, wait_for_status};
use common::media::{assemble_representation, count_packets, count_presentation_packets, first_timestamps};
use common::server::Server;
use common::ws::Client;
use livedash::auth::{token, unix_now};
use livedash::stream_id::StreamId;

/// `ffmpeg` encoding a test pattern and a tone for `seconds` at real-time pace, 30 fps with a keyframe
/// every `gop` frames, to `url` (FLV over RTMP); with `copy_to`, the same packets also go to that file.
fn encoder(url: &str, seconds: u32, gop: u32, copy_to: Option<&Path>) -> Process {
    let (seconds, gop) = (seconds.to_string(), gop.to_string());
    let mut args = vec![
        "-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", &seconds, "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency",
        "-g", &gop, "-c:a", "aac", "-b:a", "64k",
    ];
    let tee;
    match copy_to {
        Some(file) => {
            tee = format!("[f=flv]{url}|[f=flv]{}", file.display());
            args.extend(["-flags", "+global_header", "-f", "tee", &tee]);
        }
        None => args.extend(["-f", "flv", url]),
    }
    ffmpeg(&args)
}

#[test]
fn rtmp_h264_aac_goes_live_then_is_a_complete_recording() {
    let server = Server::start(&["--latency", "low", "--segment-duration", "1"]);
    let scratch = tempfile::tempdir().unwrap();
    let sent = scratch.path().join("sent.flv");
    let mut viewer = Client::watch(&server, "obs");
    let started = Instant::now();
    let client = encoder(&server.rtmp_url("obs"), 10, 30, Some(&sent));

    let ready = viewer.expect("manifest_ready", WAIT);
    println!("stream obs: live {:?} after ffmpeg started", started.elapsed());
    let codecs = serde_json::json!([{"kind":"video","codec":"h264"},{"kind":"audio","codec":"aac"}]);
    assert_eq!((&ready["source"], &ready["tracks"]), (&"rtmp".into(), &codecs), "the viewer is told: {ready}");
    let mpd = server.get("/dash/obs/manifest.mpd").into_string().unwrap();
    assert!(mpd.contains("type=\"dynamic\"") && mpd.contains("availabilityTimeOffset"), "low-latency live: {mpd}");
    assert!(mpd.contains("codecs=\"mp4a.40.2\"") && mpd.contains("codecs=\"avc1."), "H.264 + AAC-LC: {mpd}");
    let live = wait_for_status(&server, "obs", "live", |s| s["state"] == "live");
    assert_eq!(live["source"], "rtmp", "{live}");
    assert_eq!(live["tracks"], codecs);

    let ended = viewer.expect("ended", WAIT);
    let (code, _, err) = client.wait(WAIT);
    assert_eq!(code, Some(0), "ffmpeg: {err}");
    let duration = ended["durationSeconds"].as_f64().unwrap();
    assert!((9.0..11.0).contains(&duration), "{ended}");
    let status = wait_for_status(&server, "obs", "ended", |s| s["state"] == "ended");
    assert_eq!(status["keyframeIntervalSeconds"], 1.0, "{status}");
    assert!(status.get("keyframeWarning").is_none(), "a keyframe every segment fits: {status}");

    let mpd = server.get("/dash/obs/manifest.mpd").into_string().unwrap();
    assert!(mpd.contains("type=\"static\""), "{mpd}");
    let dir = server.stream_dir("obs");
    assert_eq!(count_presentation_packets(&dir, 2, scratch.path()), count_packets(&sent), "every packet sent");
    let mut starts = Vec::new();
    for rep in 0..2 {
        starts.extend(first_timestamps(&assemble_representation(&dir, rep, scratch.path())).into_values());
    }
    assert!(starts.iter().copied().fold(f64::MAX, f64::min).abs() < 0.001, "from 0: {starts:?}");
    assert!(starts.iter().all(|s| *s < 0.5), "{starts:?}");
    assert!(server.metric("livedash_publishes_by_source_total{source=\"rtmp\"}") >= 1);
}

/// Publishes 2 s to `key` and returns ffmpeg's exit code and error output.
fn short_publish(server: &Server, key: &str) -> (Option<i32>, String) {
    let (code, _, err) = encoder(&server.rtmp_url(key), 2, 30, None).wait(WAIT);
    (code, err)
}

#[test]
fn rtmp_publishing_needs_the_token_when_one_is_configured() {
    let secret = "correct horse battery staple";
    let server = Server::start_with_env(&[], &[("LIVEDASH_PUBLISH_TOKEN", "s3cret"), ("LIVEDASH_PUBLISH_SECRET", secret)]);
    let (code, err) = short_publish(&server, "tok");
    assert_ne!(code, Some(0), "refused without a token");
    assert!(err.contains("requires a publish token"), "the encoder hears why: {err}");
    let (code, err) = short_publish(&server, "tok?token=nope");
    assert_ne!(code, Some(0));
    assert!(err.contains("publish token"), "{err}");
    assert!(server.registry_is_empty(), "a refused publisher changes nothing");

    let (code, err) = short_publish(&server, "tok?token=s3cret");
    assert_eq!(code, Some(0), "the global token: {err}");
    let signed = token::mint(secret.as_bytes(), &StreamId::parse("cam").unwrap(), unix_now() + 3600);
    let (code, err) = short_publish(&server, &format!("cam?token={signed}"));
    assert_eq!(code, Some(0), "a token signed for this stream: {err}");
    let (code, _) = short_publish(&server, &format!("other?token={signed}"));
    assert_ne!(code, Some(0), "a signed token is for its stream only");
    assert_eq!(wait_for_status(&server, "cam", "ended", |s| s["state"] == "ended")["source"], "rtmp");
    assert!(server.log().contains("stream tok: RTMP publish from 127.0.0.1"), "{}", server.log());
}

#[test]
fn a_second_rtmp_publisher_on_a_live_stream_is_refused() {
    let server = Server::start(&["--segment-duration", "1"]);
    let first = encoder(&server.rtmp_url("busy"), 6, 30, None);
    wait_for_status(&server, "busy", "live", |s| s["state"] == "live");
    let (code, err) = short_publish(&server, "busy");
    assert_ne!(code, Some(0), "the second publisher is refused");
    assert!(err.contains("already being published"), "{err}");
    let (code, _, err) = first.wait(WAIT);
    assert_eq!(code, Some(0), "the first carried on: {err}");
    let ended = wait_for_status(&server, "busy", "ended", |s| s["state"] == "ended");
    assert!(ended["durationSeconds"].as_f64().unwrap() > 5.0, "{ended}");
}

#[test]
fn an_rtmp_publisher_that_vanishes_can_continue_within_the_grace_period() {
    let server = Server::start(&["--segment-duration", "1", "--reconnect-grace", "20"]);
    let first = encoder(&server.rtmp_url("gone"), 30, 30, None);
    let live = wait_for_status(&server, "gone", "live", |s| s["state"] == "live");
    std::thread::sleep(std::time::Duration::from_secs(2));
    first.kill();
    let waiting = wait_for_status(&server, "gone", "waiting for its publisher", |s| s["publisherConnected"] == false);
    assert_eq!(waiting["state"], "live", "kept for the grace period: {waiting}");

    let (code, err) = short_publish(&server, "gone");
    assert_eq!(code, Some(0), "the new publisher continues: {err}");
    let ended = wait_for_status(&server, "gone", "ended", |s| s["state"] == "ended");
    assert_eq!(ended["presentation"], live["presentation"], "one presentation: {ended}");
    assert!(ended["durationSeconds"].as_f64().unwrap() > 3.5, "both publishers' media: {ended}");
}

#[test]
fn a_codec_livedash_cannot_carry_is_refused_and_a_misfit_keyframe_interval_is_reported() {
    let server = Server::start(&["--segment-duration", "1"]);
    let url = server.rtmp_url("flv1");
    let (_, _, err) = ffmpeg(&["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "3", "-c:v", "flv1", "-f", "flv", &url]).wait(WAIT);
    let log = server.log();
    assert!(log.contains("stream flv1: refusing RTMP publisher") && log.contains("Sorenson H.263 video"), "{log}\n{err}");
    let status = wait_for_status(&server, "flv1", "over", |s| s["state"] != "live" && s["state"] != "starting");
    assert_eq!(status["state"], "failed", "{status}");

    // A keyframe every 3 s, segments of 1 s: said in the status while live.
    let misfit = encoder(&server.rtmp_url("gop"), 8, 90, None);
    let status = wait_for_status(&server, "gop", "told about its keyframes", |s| s.get("keyframeWarning").is_some());
    assert_eq!(status["keyframeIntervalSeconds"], 3.0, "{status}");
    assert!(status["keyframeWarning"].as_str().unwrap().contains("set its keyframe interval to 1 s"), "{status}");
    misfit.wait(WAIT);
}

#[test]
fn gstreamer_publishes_over_rtmp() {
    let server = Server::start(&["--segment-duration", "1"]);
    let mut viewer = Client::watch(&server, "gst");
    let location = format!("location={}", server.rtmp_url("gst"));
    // The README's pipeline, with a bounded number of buffers (3 s).
    let pipeline = [
        "-q", "videotestsrc", "is-live=true", "num-buffers=90", "!", "video/x-raw,width=640,height=360,framerate=30/1", "!",
        "x264enc", "tune=zerolatency", "key-int-max=30", "!", "h264parse", "!", "flvmux", "streamable=true", "name=mux", "!",
        "rtmp2sink", &location, "audiotestsrc", "is-live=true", "num-buffers=140", "!", "voaacenc", "!", "aacparse", "!", "mux.",
    ];
    let client = Process::spawn("gst-launch-1.0", &pipeline);
    viewer.expect("manifest_ready", WAIT);
    let ended = viewer.expect("ended", WAIT);
    let (code, out, err) = client.wait(WAIT);
    assert_eq!(code, Some(0), "gst-launch-1.0: {out}{err}");
    assert!(ended["durationSeconds"].as_f64().unwrap() > 2.5, "{ended}");
    let status = wait_for_status(&server, "gst", "ended", |s| s["state"] == "ended");
    assert_eq!((status["source"].as_str(), status["tracks"].as_array().map(Vec::len)), (Some("rtmp"), Some(2)), "{status}");
}
