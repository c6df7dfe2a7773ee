//! A publisher that vanishes (TCP reset, closed tab, lost network) leaves a finalised recording: once
//! the reconnect grace period is over the trailer is written, the manifest is static, and every
//! complete frame that arrived is in the segments.

mod common;

use std::time::Duration;

use common::media::{count_packets, count_presentation_packets, fixture};
use common::server::Server;
use common::ws::Client;
use common::WAIT;

/// Sends the first `fraction` of the 10 s fixture, returns the bytes sent.
fn publish_part(server: &Server, stream: &str, fraction: f64) -> (Client, Vec<u8>) {
    let data = std::fs::read(fixture("h264-opus-10s.mkv")).unwrap();
    let sent = data[..(data.len() as f64 * fraction) as usize].to_vec();
    let mut publisher = Client::publish(server, stream);
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    for chunk in sent.chunks(4000) {
        assert!(publisher.send_bytes(chunk));
    }
    (publisher, sent)
}

/// Every packet that was completely received is in the finished presentation.
fn assert_everything_received_is_kept(server: &Server, stream: &str, sent: &[u8]) {
    let scratch = tempfile::tempdir().unwrap();
    let prefix = scratch.path().join("sent.mkv");
    std::fs::write(&prefix, sent).unwrap();
    let received = count_packets(&prefix);
    let kept = count_presentation_packets(&server.stream_dir(stream), 2, scratch.path());
    assert_eq!(kept, received, "packets kept vs. packets completely received");
}

#[test]
fn a_tcp_reset_finalises_the_stream_after_the_grace_period() {
    let server = Server::start(&["--reconnect-grace", "1"]);
    let mut viewer = Client::watch(&server, "reset");
    let (publisher, sent) = publish_part(&server, "reset", 0.6);
    viewer.expect("manifest_ready", WAIT);
    server.wait_until_received("reset", sent.len());
    publisher.reset();
    let ended = viewer.expect("ended", WAIT);
    assert!(ended["durationSeconds"].as_f64().unwrap() > 4.0, "{ended}");
    let manifest = server.get("/dash/reset/manifest.mpd").into_string().unwrap();
    assert!(manifest.contains("type=\"static\""), "{manifest}");
    assert_everything_received_is_kept(&server, "reset", &sent);
}

#[test]
fn a_socket_closed_mid_block_keeps_every_complete_frame() {
    let server = Server::start(&["--reconnect-grace", "0"]);
    let mut viewer = Client::watch(&server, "cut");
    // 0.537 of the file ends in the middle of a block.
    let (publisher, sent) = publish_part(&server, "cut", 0.537);
    server.wait_until_received("cut", sent.len());
    drop(publisher);
    viewer.expect("ended", WAIT);
    assert_everything_received_is_kept(&server, "cut", &sent);
}

#[test]
fn with_no_grace_a_vanished_publisher_is_finalised_at_once() {
    let server = Server::start(&["--reconnect-grace", "0"]);
    let mut viewer = Client::watch(&server, "now");
    let (publisher, sent) = publish_part(&server, "now", 0.3);
    // Unread data at the close makes it a reset, which would discard what the server hasn't read yet.
    server.wait_until_received("now", sent.len());
    let started = std::time::Instant::now();
    drop(publisher);
    viewer.expect("ended", WAIT);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}
