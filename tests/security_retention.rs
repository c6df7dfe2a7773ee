//! Retention (`--keep-recordings`): the oldest ended recordings are deleted and forgotten once the
//! total is over the size limit or they are past the age limit; a live stream is never touched.

mod common;

use std::time::Duration;

use common::media::fixture;
use common::server::Server;
use common::ws::Client;
use common::WAIT;

const MIME: &str = "video/x-matroska;codecs=avc1,opus";

fn listed(server: &Server, stream: &str) -> bool {
    let listing: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    listing.as_array().unwrap().iter().any(|s| s["stream"] == stream)
}

fn folder_bytes(server: &Server, stream: &str) -> u64 {
    std::fs::read_dir(server.stream_dir(stream)).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum()
}

/// Waits (bounded) until `stream` is gone from the disk and the registry.
fn wait_removed(server: &Server, stream: &str) -> bool {
    (0..100).any(|_| {
        let gone = !server.stream_dir(stream).exists() && !listed(server, stream);
        if !gone {
            std::thread::sleep(Duration::from_millis(100));
        }
        gone
    })
}

#[test]
fn the_oldest_recordings_go_when_over_the_size_and_a_live_stream_stays() {
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    // Measure one recording's size on a server that keeps everything.
    let probe = Server::start(&["--keep-recordings", "forever"]);
    Client::publish_whole(&probe, "probe", MIME, &data);
    let one = folder_bytes(&probe, "probe");
    drop(probe);

    // Room for about two and a half recordings.
    let budget = (one * 5 / 2).to_string() + "B";
    let server = Server::start(&["--keep-recordings", &budget]);
    let mut live = Client::publish(&server, "live");
    live.start(MIME);
    live.expect("accepted", WAIT);
    assert!(live.send_bytes(&data));
    live.expect("manifest_ready", WAIT);

    Client::publish_whole(&server, "first", MIME, &data);
    Client::publish_whole(&server, "second", MIME, &data);
    assert!(wait_removed(&server, "first"), "the oldest ended recording was kept over the budget");
    assert_eq!(server.get("/dash/first/manifest.mpd").status(), 404);
    assert_eq!(server.get("/dash/second/manifest.mpd").status(), 200, "the newer recording stays");
    assert_eq!(server.get("/dash/live/manifest.mpd").status(), 200, "the live stream is never touched");
    assert!(listed(&server, "second") && listed(&server, "live"));

    // The id of a removed recording can be published again.
    Client::publish_whole(&server, "first", MIME, &data);
    live.stop();
    live.expect("ended", WAIT);
}

#[test]
fn recordings_past_the_age_limit_are_removed() {
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let server = Server::start(&["--keep-recordings", "1s"]);
    Client::publish_whole(&server, "old", MIME, &data);
    // The next presentation to end runs the policy again; by then "old" is past a second.
    std::thread::sleep(Duration::from_millis(1500));
    Client::publish_whole(&server, "new", MIME, &data);
    assert!(wait_removed(&server, "old"), "a recording past the age limit was kept");
}
