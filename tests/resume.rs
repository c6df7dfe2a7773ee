//! Zero-loss resume over the publish WebSocket: the server acknowledges what it holds (`received`), a
//! publisher whose TCP connection drops resumes the same recording with its token (`resume`), and the
//! finished recording has every packet of the original with no gap. A wrong, expired or other
//! stream's token is `not_resumable`.

mod common;

use std::time::Duration;

use common::WAIT;
use common::media::{count_packets, count_presentation_packets, fixture, media_duration_micros};
use common::server::Server;
use common::ws::Client;
use serde_json::Value;

const MIME: &str = "video/x-matroska;codecs=avc1,opus";

/// Starts a recording on `stream`; returns the publisher and its resume token.
fn start(server: &Server, stream: &str) -> (Client, String) {
    let mut publisher = Client::publish(server, stream);
    publisher.start(MIME);
    let accepted = publisher.expect("accepted", WAIT);
    let token = accepted["resumeToken"].as_str().unwrap_or_else(|| panic!("no resumeToken in {accepted}")).to_string();
    (publisher, token)
}

/// Waits until the server says it holds `bytes` bytes; returns every `received` count seen.
fn await_received(publisher: &mut Client, bytes: usize) -> Vec<u64> {
    let mut counts = Vec::new();
    while counts.last() != Some(&(bytes as u64)) {
        let message = publisher.expect("received", WAIT);
        counts.push(message["bytes"].as_u64().unwrap());
    }
    counts
}

fn resume(server: &Server, stream: &str, token: &str) -> Client {
    let mut publisher = Client::publish(server, stream);
    publisher.send_text(&serde_json::json!({"type": "resume", "resumeToken": token}).to_string());
    publisher
}

fn expect_not_resumable(mut publisher: Client) {
    let error = publisher.expect("error", WAIT);
    assert_eq!(error["code"], "not_resumable", "{error}");
    publisher.expect_close(WAIT);
}

#[test]
fn the_server_acknowledges_every_byte_it_holds_while_bytes_arrive() {
    let server = Server::start(&["--segment-duration", "1"]);
    let (mut publisher, token) = start(&server, "acked");
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    publisher.send_paced(&data, 2000, Duration::from_secs(3));
    let counts = await_received(&mut publisher, data.len());
    // Sent over 3 seconds: one acknowledgement per 500 ms at least, so several distinct counts.
    assert!(counts.len() >= 3, "{counts:?}");
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "counts grow and repeat nothing: {counts:?}");
    publisher.stop();
    publisher.expect("ended", WAIT);
    assert!(!server.log().contains(&token), "the token is never logged");
}

#[test]
fn a_dropped_publisher_resumes_mid_cluster_and_nothing_is_lost() {
    let server = Server::start(&["--reconnect-grace", "10", "--segment-duration", "1"]);
    let mut viewer = Client::watch(&server, "resumed");
    let data = std::fs::read(fixture("h264-opus-10s.mkv")).unwrap();
    // An odd place, in the middle of a cluster and of a frame.
    let k = data.len() * 4 / 10 + 7;
    let (mut publisher, token) = start(&server, "resumed");
    publisher.send_paced(&data[..k], 1500, Duration::from_secs(3));
    await_received(&mut publisher, k);
    publisher.reset();
    // The drop is felt: the registry hears of it before the publisher comes back.
    for _ in 0..200 {
        let listing: Value = server.get("/api/streams").into_json().unwrap();
        if listing[0]["publisherConnected"] == false {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut again = resume(&server, "resumed", &token);
    let accepted = again.expect("accepted", WAIT);
    assert_eq!(accepted["resumed"], true, "{accepted}");
    assert_eq!(accepted["bytes"], k as u64, "{accepted}");
    let from = accepted["bytes"].as_u64().unwrap() as usize;
    again.send_paced(&data[from..], 1500, Duration::from_secs(3));
    await_received(&mut again, data.len());
    again.stop();
    let ended = again.expect("ended", WAIT);
    assert_eq!(viewer.expect("ended", WAIT), ended);
    assert_eq!(
        viewer.received.iter().map(|m| m["type"].as_str().unwrap()).collect::<Vec<_>>(),
        ["manifest_ready", "ended"],
        "one presentation for viewers"
    );

    // Every packet of the recording, and a timeline as long as the recording: no gap for the outage.
    let scratch = tempfile::tempdir().unwrap();
    let kept = count_presentation_packets(&server.stream_dir("resumed"), 2, scratch.path());
    assert_eq!(kept, count_packets(&fixture("h264-opus-10s.mkv")));
    // The same recording published without a drop is the measure (the fixture itself is ~10 s).
    let whole = Client::publish_whole(&server, "whole", MIME, &data)["durationSeconds"].as_f64().unwrap();
    let recorded = media_duration_micros(&fixture("h264-opus-10s.mkv")) as f64 / 1e6;
    assert!((whole - recorded).abs() < 0.1, "published whole: {whole} s, recorded {recorded} s");
    let duration = ended["durationSeconds"].as_f64().unwrap();
    // One frame at the recorder's 30 fps.
    assert!((duration - whole).abs() <= 0.034, "duration {duration} s, without a drop {whole} s");
    assert!(!server.log().contains(&token), "the token is never logged");
}

#[test]
fn a_wrong_token_is_not_resumable_and_leaves_the_right_one_working() {
    let server = Server::start(&["--reconnect-grace", "10"]);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let (mut publisher, token) = start(&server, "guarded");
    publisher.send_bytes(&data[..20_000]);
    await_received(&mut publisher, 20_000);
    publisher.reset();

    let mut wrong = token.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    expect_not_resumable(resume(&server, "guarded", std::str::from_utf8(&wrong).unwrap()));
    expect_not_resumable(resume(&server, "guarded", ""));

    let mut again = resume(&server, "guarded", &token);
    assert_eq!(again.expect("accepted", WAIT)["bytes"], 20_000);
    again.send_bytes(&data[20_000..]);
    again.stop();
    again.expect("ended", WAIT);
}

#[test]
fn a_token_is_not_resumable_on_another_stream() {
    let server = Server::start(&["--reconnect-grace", "10"]);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let (mut publisher, token) = start(&server, "mine");
    publisher.send_bytes(&data[..20_000]);
    await_received(&mut publisher, 20_000);
    publisher.reset();
    let (mut other, _) = start(&server, "theirs");
    other.send_bytes(&data[..20_000]);
    await_received(&mut other, 20_000);
    other.reset();

    expect_not_resumable(resume(&server, "theirs", &token));
    let mut again = resume(&server, "mine", &token);
    again.expect("accepted", WAIT);
}

#[test]
fn after_the_grace_period_a_token_is_not_resumable_and_the_presentation_is_finalised() {
    let server = Server::start(&["--reconnect-grace", "1"]);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let (mut publisher, token) = start(&server, "late");
    publisher.send_bytes(&data);
    await_received(&mut publisher, data.len());
    publisher.reset();
    let mut viewer = Client::watch(&server, "late");
    // Ended once the grace ran out: finalised then, with everything received.
    let ended = viewer.expect("ended", WAIT);
    assert!(ended["durationSeconds"].as_f64().unwrap() > 3.5, "{ended}");
    expect_not_resumable(resume(&server, "late", &token));
}

#[test]
fn a_resume_takes_the_recording_from_a_connection_the_server_still_thinks_is_alive() {
    let server = Server::start(&["--reconnect-grace", "10", "--segment-duration", "1"]);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let k = data.len() / 2 + 3;
    // The old connection stays open on the server's side, as one whose network vanished silently.
    let (mut old, token) = start(&server, "silent");
    old.send_paced(&data[..k], 2000, Duration::from_secs(1));
    await_received(&mut old, k);

    let mut again = resume(&server, "silent", &token);
    let accepted = again.expect("accepted", WAIT);
    assert_eq!(accepted["bytes"], k as u64, "{accepted}");
    again.send_bytes(&data[k..]);
    again.stop();
    again.expect("ended", WAIT);
    let scratch = tempfile::tempdir().unwrap();
    let kept = count_presentation_packets(&server.stream_dir("silent"), 2, scratch.path());
    assert_eq!(kept, count_packets(&fixture("h264-opus.mkv")));
    drop(old);
}
