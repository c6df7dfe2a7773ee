//! The WebSocket contract: the start handshake, error codes with a close frame, one publisher per
//! stream, viewers before and after the stream, publishing again on an ended stream.

mod common;

use std::time::Duration;

use common::media::fixture;
use common::server::Server;
use common::ws::Client;
use common::WAIT;

fn h264() -> Vec<u8> {
    std::fs::read(fixture("h264-opus.mkv")).unwrap()
}

fn expect_error(client: &mut Client, code: &str) -> String {
    let error = client.expect("error", WAIT);
    assert_eq!(error["code"], code, "{error}");
    let message = error["message"].as_str().unwrap().to_string();
    assert!(message.len() > 20, "a sentence a person can act on: {message:?}");
    client.expect_close(WAIT);
    message
}

#[test]
fn the_first_message_must_be_start() {
    let server = Server::start(&[]);
    let mut binary_first = Client::publish(&server, "s1");
    binary_first.send_bytes(&h264()[..1000]);
    let message = expect_error(&mut binary_first, "bad_request");
    assert!(message.contains("first message must be"), "{message}");
    assert_eq!(binary_first.close_code, Some(1008));

    let mut garbage = Client::publish(&server, "s1");
    garbage.send_text("hello");
    expect_error(&mut garbage, "bad_request");

    let mut stop_first = Client::publish(&server, "s1");
    stop_first.send_text(r#"{"type":"stop"}"#);
    expect_error(&mut stop_first, "bad_request");
}

#[test]
fn unsupported_containers_and_codecs_are_refused_by_name() {
    let server = Server::start(&[]);
    let mut ogg = Client::publish(&server, "s2");
    ogg.start("video/ogg;codecs=theora");
    let message = expect_error(&mut ogg, "unsupported_media");
    assert!(message.contains("video/ogg"), "{message}");

    let mut hevc = Client::publish(&server, "s2");
    hevc.start("video/mp4;codecs=hvc1.1.6.L93.B0,opus");
    let message = expect_error(&mut hevc, "unsupported_media");
    assert!(message.contains("hvc1"), "{message}");
    assert!(server.registry_is_empty(), "refused before a stream was created");
}

#[test]
fn a_second_publisher_gets_stream_busy_and_the_first_is_untouched() {
    let server = Server::start(&[]);
    let mut first = Client::publish(&server, "busy");
    first.start("video/x-matroska;codecs=avc1,opus");
    first.expect("accepted", WAIT);
    let data = h264();
    first.send_bytes(&data[..data.len() / 2]);

    let mut second = Client::publish(&server, "busy");
    second.start("video/x-matroska;codecs=avc1,opus");
    let message = expect_error(&mut second, "stream_busy");
    assert!(message.contains("busy"), "{message}");

    first.send_bytes(&data[data.len() / 2..]);
    first.stop();
    first.expect("ended", WAIT);
}

#[test]
fn garbage_after_start_is_invalid_data() {
    let server = Server::start(&[]);
    let mut publisher = Client::publish(&server, "junk");
    publisher.start("video/webm;codecs=vp8,opus");
    publisher.expect("accepted", WAIT);
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    publisher.send_bytes(&garbage);
    let message = expect_error(&mut publisher, "invalid_data");
    assert!(message.contains("junk") && message.contains("WebM/Matroska"), "{message}");
    let status: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    assert_eq!(status[0]["state"], "failed", "{status}");
}

#[test]
fn invalid_stream_ids_are_refused_before_touching_the_disk() {
    let server = Server::start(&[]);
    for path in ["/ws/publish/bad.id", "/ws/watch/a%20b", "/watch/x.y", "/dash/bad.id/manifest.mpd"] {
        let response = server.get(path);
        assert_eq!(response.status(), 400, "{path}");
    }
    let long = format!("/ws/publish/{}", "x".repeat(65));
    assert_eq!(server.get(&long).status(), 400);
    assert_eq!(std::fs::read_dir(server.media_dir()).unwrap().count(), 0);
}

#[test]
fn viewers_before_and_after_the_stream_get_its_events_in_order() {
    let server = Server::start(&["--segment-duration", "1"]);
    let mut early = Client::watch(&server, "show");
    assert!(early.next(Duration::from_millis(300)).is_none(), "nothing to say before the stream exists");

    let mut publisher = Client::publish(&server, "show");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    publisher.send_paced(&h264(), 8192, Duration::from_secs(2));
    publisher.stop();
    let ended = publisher.expect("ended", WAIT);

    early.expect("ended", WAIT);
    assert_eq!(early.received.iter().map(|m| m["type"].as_str().unwrap()).collect::<Vec<_>>(), ["manifest_ready", "ended"]);
    assert!(early.received.iter().all(|m| m["type"] != "accepted"), "accepted is for publishers only");

    let mut late = Client::watch(&server, "show");
    late.expect("ended", WAIT);
    assert_eq!(late.received[0]["type"], "manifest_ready");
    assert_eq!(late.received[1], ended);
}

#[test]
fn publishing_again_on_an_ended_stream_starts_a_new_presentation() {
    let server = Server::start(&[]);
    let mut segment_names = Vec::new();
    for round in 0..2 {
        Client::publish_whole(&server, "again", "video/x-matroska;codecs=avc1,opus", &h264());
        let mut names: Vec<String> = std::fs::read_dir(server.stream_dir("again"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("chunk-"))
            .collect();
        names.sort();
        assert!(!names.is_empty(), "round {round}");
        segment_names.push(names);
    }
    assert!(
        segment_names[1].iter().all(|n| !segment_names[0].contains(n)),
        "a new presentation never reuses a segment name (segments are cached as immutable)"
    );
}
