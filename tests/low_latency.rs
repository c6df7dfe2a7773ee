//! Low-latency DASH: the MPD carries the LL signalling, and a segment still being written is served at
//! once with chunked transfer, growing as the muxer writes, byte for byte the finished file.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::WAIT;
use common::live::{in_progress_segment, number, start_ten_seconds};
use common::server::Server;
use common::ws::Client;

fn manifest(server: &Server, stream: &str) -> String {
    server.get(&format!("/dash/{stream}/manifest.mpd")).into_string().unwrap()
}

#[test]
fn the_in_progress_segment_is_streamed_chunked_and_equals_the_finished_file() {
    let server = Server::start(&["--latency", "low", "--segment-duration", "2", "--fragment-duration", "0.25"]);
    let dir = server.stream_dir("ll");
    let publisher = start_ten_seconds(&server, "ll");

    // Skip the first segment (it may be nearly done by the time we look): take the next one as it starts.
    let segment = in_progress_segment(&dir, 0, 1);
    let name = segment.file_name().unwrap().to_str().unwrap().to_string();
    let response = ureq::get(&server.url(&format!("/dash/ll/{name}"))).timeout(WAIT).call().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"), "streamed, not sized up front");
    assert_eq!(response.content_type(), "video/mp4");
    let mut body = response.into_reader();
    let mut first = vec![0u8; 256];
    let n = body.read(&mut first).unwrap();
    assert!(n > 0);
    assert!(!segment.exists(), "the first bytes arrived before the segment was complete");
    let mut whole = first[..n].to_vec();
    body.read_to_end(&mut whole).unwrap();
    assert!(segment.exists(), "the response ended when the muxer finished the segment");
    assert_eq!(whole, std::fs::read(&segment).unwrap(), "byte for byte the finished segment");

    assert_eq!(publisher.join().unwrap()["type"], "ended");
}

#[test]
fn the_next_segment_waits_instead_of_404_and_a_far_one_is_404_in_bounded_time() {
    let server = Server::start(&["--latency", "low", "--segment-duration", "2"]);
    let dir = server.stream_dir("next");
    let publisher = start_ten_seconds(&server, "next");

    let current = in_progress_segment(&dir, 0, 0);
    let current_name = current.file_name().unwrap().to_str().unwrap();
    let n = number(current_name);
    let next_name = current_name.replace(&format!("-{n:05}.m4s"), &format!("-{:05}.m4s", n + 1));
    assert!(!dir.join(&next_name).exists() && !dir.join(format!("{next_name}.tmp")).exists());
    let next = server.get_bytes(&format!("/dash/next/{next_name}"));
    assert_eq!(next, std::fs::read(dir.join(&next_name)).unwrap(), "waited for the next segment, then streamed it");

    let far_name = current_name.replace(&format!("-{n:05}.m4s"), &format!("-{:05}.m4s", n + 50));
    let asked = Instant::now();
    assert_eq!(server.get(&format!("/dash/next/{far_name}")).status(), 404);
    assert!(asked.elapsed() < Duration::from_secs(5), "bounded by about a segment duration: {:?}", asked.elapsed());

    assert_eq!(publisher.join().unwrap()["type"], "ended");
    // Once the stream has ended nothing waits: a missing segment is a 404 at once.
    let asked = Instant::now();
    assert_eq!(server.get(&format!("/dash/next/{far_name}")).status(), 404);
    // A wait would take a segment and a second (3 s here).
    assert!(asked.elapsed() < Duration::from_secs(2), "{:?}", asked.elapsed());
}

#[test]
fn the_low_latency_manifest_signals_chunked_availability_and_this_servers_clock() {
    let server = Server::start(&["--latency", "low", "--segment-duration", "2", "--target-latency", "1.5"]);
    let publisher = start_ten_seconds(&server, "sig");
    let mut viewer = Client::watch(&server, "sig");
    viewer.expect("manifest_ready", WAIT);
    let mpd = manifest(&server, "sig");
    let doc = roxmltree::Document::parse(&mpd).unwrap();
    assert_eq!(doc.root_element().attribute("type"), Some("dynamic"));
    let template = doc.descendants().find(|n| n.has_tag_name("SegmentTemplate")).unwrap();
    let offset: f64 = template.attribute("availabilityTimeOffset").expect("availabilityTimeOffset").parse().unwrap();
    assert!(offset > 1.0 && offset < 2.0, "segment minus fragment duration: {offset}");
    assert_eq!(template.attribute("availabilityTimeComplete"), Some("false"));
    assert!(doc.descendants().all(|n| !n.has_tag_name("SegmentTimeline")), "$Number$ template, no timeline");
    let timing = doc.descendants().find(|n| n.has_tag_name("UTCTiming")).expect("UTCTiming");
    assert_eq!(timing.attribute("value"), Some(server.url("/time").as_str()), "this server's clock");
    let latency = doc.descendants().find(|n| n.has_tag_name("Latency")).expect("ServiceDescription Latency");
    assert_eq!(latency.attribute("target"), Some("1500"));
    assert_eq!(publisher.join().unwrap()["type"], "ended");

    // When the stream ends the same manifest becomes a complete static recording.
    let mpd = manifest(&server, "sig");
    assert!(mpd.contains("type=\"static\"") && !mpd.contains("availabilityTimeComplete"), "{mpd}");
}

#[test]
fn normal_mode_has_no_low_latency_signalling() {
    let server = Server::start(&["--latency", "normal"]);
    let publisher = start_ten_seconds(&server, "plain");
    let mut viewer = Client::watch(&server, "plain");
    viewer.expect("manifest_ready", WAIT);
    let mpd = manifest(&server, "plain");
    assert!(mpd.contains("<SegmentTimeline>"), "{mpd}");
    assert!(!mpd.contains("availabilityTimeOffset") && !mpd.contains("<Latency"), "{mpd}");
    assert_eq!(publisher.join().unwrap()["type"], "ended");
}
