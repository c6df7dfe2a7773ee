//! Thumbnails from the publisher's socket: a valid JPEG is kept and served at
//! `/dash/{stream}/thumbnail.jpg` and listed in `/api/streams` (with the live stream's uptime); bad ones
//! (not base64, not a JPEG, over 64 KB) are logged with the stream's name and dropped while the stream
//! goes on; before the first one, and for a new presentation, there is none (404, `no-store`).

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use base64::Engine;
use common::WAIT;
use common::media::fixture;
use common::server::Server;
use common::ws::Client;

fn thumbnail_message(jpeg: &[u8]) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(jpeg);
    serde_json::json!({"type": "thumbnail", "data": data}).to_string()
}

fn entry(server: &Server, stream: &str) -> serde_json::Value {
    let list: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    list.as_array().unwrap().iter().find(|e| e["stream"] == stream).cloned().unwrap_or_else(|| panic!("{stream} in {list}"))
}

/// Waits (bounded) until the server's log contains `text`.
fn wait_for_log(server: &Server, text: &str) {
    let deadline = Instant::now() + WAIT;
    while !server.log().contains(text) {
        assert!(Instant::now() < deadline, "the log never said {text:?}:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_publishers_thumbnail_is_served_and_listed_and_bad_ones_are_dropped() {
    let server = Server::start(&["--segment-duration", "1"]);
    let jpeg = std::fs::read(common::media::fixture("../thumbnails/testsrc-160x90.jpg")).unwrap();
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let mut publisher = Client::publish(&server, "cam");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    let (first, rest) = data.split_at(data.len() / 2);
    assert!(publisher.send_bytes(first));
    server.wait_until_received("cam", first.len());

    let none = server.get("/dash/cam/thumbnail.jpg");
    assert_eq!((none.status(), none.header("cache-control")), (404, Some("no-store")));
    assert_eq!(entry(&server, "cam")["thumbnailUrl"], serde_json::Value::Null);
    assert!(entry(&server, "cam")["uptimeSeconds"].is_u64(), "a live stream has an uptime: {}", entry(&server, "cam"));

    publisher.send_text(&thumbnail_message(&jpeg));
    let deadline = Instant::now() + WAIT;
    let url = loop {
        if let Some(url) = entry(&server, "cam")["thumbnailUrl"].as_str() {
            break url.to_string();
        }
        assert!(Instant::now() < deadline, "the thumbnail was never listed");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(url.starts_with("/dash/cam/thumbnail.jpg?v="), "{url}");
    let served = server.get(&url);
    assert_eq!(served.status(), 200);
    assert_eq!(served.header("content-type"), Some("image/jpeg"));
    assert_eq!(served.header("cache-control"), Some("public, max-age=2"));
    let mut body = Vec::new();
    served.into_reader().read_to_end(&mut body).unwrap();
    assert_eq!(body, jpeg);

    // Bad ones: each is named in the log, none replaces the good one, the stream goes on.
    publisher.send_text(r#"{"type":"thumbnail","data":"this is not base64!"}"#);
    wait_for_log(&server, "stream cam: ignoring a thumbnail from the publisher: the thumbnail is not valid base64");
    publisher.send_text(&thumbnail_message(b"\x89PNG\r\n\x1a\nnot a jpeg"));
    wait_for_log(&server, "stream cam: ignoring a thumbnail from the publisher: the thumbnail is not a JPEG");
    let mut huge = jpeg.clone();
    huge.resize(64 * 1024 + 1, 0);
    publisher.send_text(&thumbnail_message(&huge));
    wait_for_log(&server, "stream cam: ignoring a thumbnail from the publisher: the thumbnail is larger than 65536 bytes");
    assert_eq!(entry(&server, "cam")["thumbnailUrl"], url, "the good thumbnail stays");
    assert_eq!(server.get_bytes("/dash/cam/thumbnail.jpg"), jpeg);

    assert!(publisher.send_bytes(rest));
    publisher.stop();
    publisher.expect("ended", WAIT);
    let ended = entry(&server, "cam");
    assert!(ended.get("uptimeSeconds").is_none(), "no uptime once ended: {ended}");
    assert_eq!(ended["thumbnailUrl"], url, "a recording keeps its picture for the stream list");

    // A new presentation of the same stream id has no picture until its publisher sends one.
    Client::publish_whole(&server, "cam", "video/x-matroska;codecs=avc1,opus", &data);
    assert_eq!(entry(&server, "cam")["thumbnailUrl"], serde_json::Value::Null);
    assert_eq!(server.get("/dash/cam/thumbnail.jpg").status(), 404);
}

#[test]
fn a_thumbnail_before_start_is_refused_like_any_other_first_message() {
    let server = Server::start(&[]);
    let mut publisher = Client::publish(&server, "cam");
    publisher.send_text(&thumbnail_message(b"\xFF\xD8\xFF"));
    let error = publisher.expect("error", WAIT);
    assert_eq!(error["code"], "bad_request");
    assert!(error["message"].as_str().unwrap().contains("not a thumbnail message"), "{error}");
}
