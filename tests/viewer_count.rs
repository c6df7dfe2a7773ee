//! `viewers` in `/api/streams`: open viewer sockets of the stream, plus HTTP-only players (distinct
//! client addresses that fetched a media segment within the last couple of segment durations; a
//! socket's own segment requests don't count again). Behind a proxy the address comes from
//! `X-Forwarded-For` only with `--trust-forwarded`.

mod common;

use std::time::{Duration, Instant};

use common::WAIT;
use common::live::finished_file;
use common::media::fixture;
use common::server::Server;
use common::ws::Client;

fn viewers(server: &Server, stream: &str) -> u64 {
    let one: serde_json::Value = server.get(&format!("/api/streams/{stream}")).into_json().unwrap();
    one["viewers"].as_u64().unwrap_or_else(|| panic!("viewers in {one}"))
}

/// The count in the list of all streams (the same as the stream's own entry while nothing expires).
fn listed_viewers(server: &Server, stream: &str) -> u64 {
    let list: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    list.as_array().unwrap().iter().find(|e| e["stream"] == stream).unwrap()["viewers"].as_u64().unwrap()
}

/// Waits (bounded) until the stream has `expected` viewers.
fn expect_viewers(server: &Server, stream: &str, expected: u64, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = viewers(server, stream);
        if now == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {now} viewers, expected {expected}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GETs a media segment of `stream` as a client behind a proxy that says it is `forwarded_for`.
fn fetch_segment(server: &Server, stream: &str, forwarded_for: &str) {
    let segment = finished_file(&server.stream_dir(stream), "chunk-");
    let response = ureq::get(&server.url(&format!("/dash/{stream}/{segment}")))
        .set("X-Forwarded-For", forwarded_for)
        .timeout(WAIT)
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn published(args: &[&str]) -> Server {
    let server = Server::start(args);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    Client::publish_whole(&server, "cam", "video/x-matroska;codecs=avc1,opus", &data);
    server
}

#[test]
fn viewer_sockets_and_http_players_are_counted_once_each() {
    let server = published(&["--segment-duration", "2", "--trust-forwarded"]);
    assert_eq!(viewers(&server, "cam"), 0);
    let first = Client::watch(&server, "cam");
    let second = Client::watch(&server, "cam");
    let _elsewhere = Client::watch(&server, "other");
    expect_viewers(&server, "cam", 2, "two viewer sockets");
    assert_eq!(listed_viewers(&server, "cam"), 2, "the list of all streams says the same");

    // The viewer page plays over HTTP from the address of its socket: not counted again.
    fetch_segment(&server, "cam", "127.0.0.1");
    expect_viewers(&server, "cam", 2, "a socket's own segment requests");
    // Two HTTP-only players behind a proxy, one fetching twice.
    fetch_segment(&server, "cam", "198.51.100.7");
    fetch_segment(&server, "cam", "198.51.100.7");
    fetch_segment(&server, "cam", "203.0.113.9");
    expect_viewers(&server, "cam", 4, "two sockets and two HTTP players");

    // Fresh requests from all three just before, so none is near the end of its window.
    for address in ["127.0.0.1", "198.51.100.7", "203.0.113.9"] {
        fetch_segment(&server, "cam", address);
    }
    drop(first);
    drop(second);
    // 127.0.0.1 fetched a segment a moment ago: it still counts, as an HTTP player, until it is quiet.
    expect_viewers(&server, "cam", 3, "sockets closed");
    // Players that stop asking for segments stop counting (two segment durations plus 2 s: 6 s here).
    expect_viewers(&server, "cam", 0, "everyone went quiet");
}

#[test]
fn forwarded_addresses_are_ignored_unless_trusted() {
    let server = published(&["--segment-duration", "1"]);
    fetch_segment(&server, "cam", "198.51.100.7");
    fetch_segment(&server, "cam", "203.0.113.9");
    expect_viewers(&server, "cam", 1, "one client (the loopback peer), whatever it claims");
}
