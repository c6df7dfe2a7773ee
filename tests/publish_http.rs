//! HTTP ingest (`PUT`/`POST /ingest/{stream}`) with real clients: the `ffmpeg` CLI (`-method PUT`),
//! `curl -T` and GStreamer's `curlhttpsink` (one chunked `POST`). Each becomes a live low-latency
//! stream (viewers are told it comes over `http`), then a static recording holding every packet
//! sent, timestamps from 0; refusals come as the contract's statuses and sentences; a client that
//! vanishes mid-body leaves the stream waiting for the reconnect grace, like a browser.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::WAIT;
use common::clients::{Process, ffmpeg, wait_for_status};
use common::live::TEN_SECONDS;
use common::media::{assemble_representation, count_packets, count_presentation_packets, first_timestamps, fixture};
use common::server::Server;
use common::ws::Client;

const MKV: &str = "video/x-matroska;codecs=avc1,opus";

fn ll_server(args: &[&str]) -> Server {
    let mut all = vec!["--latency", "low", "--segment-duration", "2"];
    all.extend_from_slice(args);
    Server::start(&all)
}

/// `curl` uploading its stdin (chunked) to `/ingest/{stream}`, printing the answer's body then its status.
fn curl_stdin(server: &Server, stream: &str, content_type: &str, extra: &[&str]) -> Process {
    let url = server.url(&format!("/ingest/{stream}"));
    let header = format!("Content-Type: {content_type}");
    let mut args = vec!["-sS", "-T", "-", "-H", header.as_str(), "-w", "\n%{http_code}"];
    args.extend_from_slice(extra);
    args.push(&url);
    Process::spawn("curl", &args)
}

/// Writes `data` to the process's stdin at real-time pace over `duration` (on this thread).
fn feed_paced(process: &mut Process, data: &[u8], duration: Duration) {
    write_paced(process.child.stdin.as_mut().unwrap(), data, duration);
}

fn write_paced(stdin: &mut impl Write, data: &[u8], duration: Duration) {
    let pieces: Vec<&[u8]> = data.chunks((data.len() / 100).max(1)).collect();
    let started = Instant::now();
    let step = duration / pieces.len() as u32;
    for (i, piece) in pieces.iter().enumerate() {
        if let Some(wait) = (started + step * i as u32).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        stdin.write_all(piece).unwrap();
        stdin.flush().unwrap();
    }
}

/// The answer curl printed: (status, body).
fn answer(process: Process) -> (u16, serde_json::Value) {
    let (code, out, err) = process.wait(WAIT);
    assert_eq!(code, Some(0), "curl failed: {err}");
    let (body, status) = out.rsplit_once('\n').unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("answer {body:?}: {e}"));
    (status.parse().unwrap(), body)
}

/// Waits for the viewer's `manifest_ready`, which says the stream comes over HTTP, and checks the
/// manifest is live with low-latency signalling.
fn expect_live_low_latency(server: &Server, viewer: &mut Client, stream: &str, started: Instant) {
    let ready = viewer.expect("manifest_ready", WAIT);
    assert_eq!(ready["source"], "http", "{ready}");
    println!("stream {stream}: live {:?} after the client started", started.elapsed());
    let mpd = server.get(&format!("/dash/{stream}/manifest.mpd")).into_string().unwrap();
    assert!(mpd.contains("type=\"dynamic\"") && mpd.contains("availabilityTimeOffset"), "{mpd}");
}

/// The finished presentation is static, holds every packet of `sent`, and its timestamps start at 0.
fn expect_complete_recording(server: &Server, stream: &str, sent: &Path) {
    let mpd = server.get(&format!("/dash/{stream}/manifest.mpd")).into_string().unwrap();
    assert!(mpd.contains("type=\"static\""), "{mpd}");
    let scratch = tempfile::tempdir().unwrap();
    let dir = server.stream_dir(stream);
    assert_eq!(count_presentation_packets(&dir, 2, scratch.path()), count_packets(sent));
    let mut starts = Vec::new();
    for rep in 0..2 {
        starts.extend(first_timestamps(&assemble_representation(&dir, rep, scratch.path())).into_values());
    }
    let earliest = starts.iter().copied().fold(f64::MAX, f64::min);
    assert!(earliest.abs() < 0.001, "the recording starts at 0: {starts:?}");
    assert!(starts.iter().all(|s| *s < 0.5), "every track starts near 0: {starts:?}");
}

#[test]
fn ffmpeg_put_goes_live_then_is_a_complete_recording() {
    let server = ll_server(&[]);
    let mut viewer = Client::watch(&server, "put");
    let started = Instant::now();
    let source = fixture(TEN_SECONDS);
    let url = server.url("/ingest/put");
    let client = ffmpeg(&[
        "-re", "-i", source.to_str().unwrap(), "-c", "copy", "-f", "matroska", "-content_type", "video/x-matroska",
        "-method", "PUT", &url,
    ]);
    expect_live_low_latency(&server, &mut viewer, "put", started);
    assert_eq!(viewer.expect("ended", WAIT)["type"], "ended");
    let (code, _, err) = client.wait(WAIT);
    assert_eq!(code, Some(0), "ffmpeg failed: {err}");
    expect_complete_recording(&server, "put", &source);
}

#[test]
fn curl_upload_goes_live_and_is_answered_with_ended() {
    let server = ll_server(&[]);
    let mut viewer = Client::watch(&server, "curl");
    let started = Instant::now();
    let mut client = curl_stdin(&server, "curl", MKV, &[]);
    let mut stdin = client.child.stdin.take().unwrap();
    let data = std::fs::read(fixture(TEN_SECONDS)).unwrap();
    let feeder = std::thread::spawn(move || write_paced(&mut stdin, &data, Duration::from_secs(10)));
    expect_live_low_latency(&server, &mut viewer, "curl", started);
    assert!(!feeder.is_finished(), "live while the upload is still going");
    feeder.join().unwrap();
    let (status, body) = answer(client);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "ended");
    assert_eq!(viewer.expect("ended", WAIT), body, "the answer is the ended message");
    expect_complete_recording(&server, "curl", &fixture(TEN_SECONDS));
}

#[test]
fn gstreamer_curlhttpsink_goes_live_then_is_a_complete_recording() {
    let server = ll_server(&[]);
    let mut viewer = Client::watch(&server, "gst");
    let scratch = tempfile::tempdir().unwrap();
    let sent = scratch.path().join("sent.mkv");
    let location = format!("location={}", server.url("/ingest/gst"));
    let copy = format!("location={}", sent.display());
    // The README's command line, 6 s long, with a copy of what is sent kept to count its packets.
    let pipeline = format!(
        "videotestsrc is-live=true num-buffers=180 ! video/x-raw,width=640,height=360,framerate=30/1 ! \
         x264enc tune=zerolatency key-int-max=60 ! h264parse ! matroskamux streamable=true name=mux ! tee name=t ! \
         queue ! curlhttpsink {location} content-type=video/x-matroska use-content-length=false \
         t. ! queue ! filesink {copy} \
         audiotestsrc is-live=true num-buffers=300 samplesperbuffer=960 ! audio/x-raw,rate=48000 ! opusenc ! mux."
    );
    let started = Instant::now();
    let mut args = vec!["-q"];
    args.extend(pipeline.split_whitespace());
    let client = Process::spawn("gst-launch-1.0", &args);
    expect_live_low_latency(&server, &mut viewer, "gst", started);
    assert_eq!(viewer.expect("ended", WAIT)["type"], "ended");
    let (code, out, err) = client.wait(WAIT);
    assert_eq!(code, Some(0), "gst-launch-1.0 failed: {out}{err}");
    expect_complete_recording(&server, "gst", &sent);
}

/// `curl -T file` with `args`, returning (status, answer).
fn curl_file(server: &Server, path: &str, file: &Path, args: &[&str]) -> (u16, serde_json::Value) {
    let url = server.url(path);
    let mut all = vec!["-sS", "-T", file.to_str().unwrap(), "-w", "\n%{http_code}"];
    all.extend_from_slice(args);
    all.push(&url);
    answer(Process::spawn("curl", &all))
}

#[test]
fn refusals_are_the_contracts_statuses_and_sentences() {
    let server = ll_server(&["--publish-token", "s3cret"]);
    let recording = fixture("h264-opus.mkv");
    let mkv = ["-H", "Content-Type: video/x-matroska"];

    let (status, body) = curl_file(&server, "/ingest/tok", &recording, &mkv);
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("requires a publish token"), "{body}");
    let (status, body) = curl_file(&server, "/ingest/tok?token=nope", &recording, &mkv);
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")), "{body}");

    let bearer = ["-H", "Content-Type: video/x-matroska", "-H", "Authorization: Bearer s3cret"];
    let (status, body) = curl_file(&server, "/ingest/bad%20id", &recording, &bearer);
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")), "{body}");
    let (status, body) = curl_file(&server, "/ingest/ogg", &recording, &["-H", "Content-Type: video/ogg", "-H", "Authorization: Bearer s3cret"]);
    assert_eq!((status, body["code"].as_str()), (415, Some("unsupported_media")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("\"video/ogg\" is not supported"), "{body}");

    let scratch = tempfile::tempdir().unwrap();
    let garbage = scratch.path().join("garbage.mkv");
    std::fs::write(&garbage, vec![0x1A, 0x45, 0xDF, 0xA3].into_iter().chain((0..60_000u32).map(|i| (i * 7919 % 251) as u8)).collect::<Vec<u8>>()).unwrap();
    let (status, body) = curl_file(&server, "/ingest/junk", &garbage, &bearer);
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_data")), "{body}");

    // While one publisher is live, a second is refused as busy.
    let mut live = curl_stdin(&server, "busy", MKV, &["-H", "Authorization: Bearer s3cret"]);
    let data = std::fs::read(&recording).unwrap();
    let (first, rest) = data.split_at(data.len() / 2);
    feed_paced(&mut live, first, Duration::from_secs(1));
    wait_for_status(&server, "busy", "accepted", |s| s["publisherConnected"] == true);
    let (status, body) = curl_file(&server, "/ingest/busy?token=s3cret", &recording, &mkv);
    assert_eq!((status, body["code"].as_str()), (409, Some("stream_busy")), "{body}");
    feed_paced(&mut live, rest, Duration::from_secs(1));
    let (status, body) = answer(live);
    assert_eq!((status, body["type"].as_str()), (200, Some("ended")), "{body}");

    // A whole file at once (`curl -T file`, Content-Length) is a recording too, with the token as a Bearer.
    let (status, body) = curl_file(&server, "/ingest/whole", &recording, &bearer);
    assert_eq!((status, body["type"].as_str()), (200, Some("ended")), "{body}");
    expect_complete_recording(&server, "whole", &recording);
}

#[test]
fn a_client_that_vanishes_mid_body_can_continue_within_the_grace_period() {
    let server = ll_server(&["--reconnect-grace", "20"]);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let mut client = curl_stdin(&server, "gone", MKV, &[]);
    feed_paced(&mut client, &data[..data.len() * 3 / 4], Duration::from_secs(3));
    let live = wait_for_status(&server, "gone", "received everything", |s| s["bytesReceived"] == (data.len() * 3 / 4) as u64);
    client.kill();
    let waiting = wait_for_status(&server, "gone", "waiting for its publisher", |s| s["publisherConnected"] == false);
    assert_eq!(waiting["state"], "live", "{waiting}");
    assert_eq!(waiting["presentation"], live["presentation"]);

    let (status, body) = curl_file(&server, "/ingest/gone", &fixture("h264-opus.mkv"), &["-H", &format!("Content-Type: {MKV}")]);
    assert_eq!((status, body["type"].as_str()), (200, Some("ended")), "{body}");
    let duration = body["durationSeconds"].as_f64().unwrap();
    assert!(duration > 5.0, "the second upload continued the first presentation: {duration}");
    let ended = wait_for_status(&server, "gone", "ended", |s| s["state"] == "ended");
    assert_eq!(ended["presentation"], live["presentation"], "one presentation");
}
