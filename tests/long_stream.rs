//! A stream longer than the dash muxer's live window: the muxer forgets its oldest segments (so its
//! memory stays bounded over a 24-hour stream), but every one of them stays on disk, and the recording
//! lists and plays them all.

mod common;

use common::media::{count_packets, count_presentation_packets, looped};
use common::server::Server;
use common::ws::Client;
use common::WAIT;

#[test]
fn a_stream_longer_than_the_live_window_keeps_every_segment() {
    let scratch = tempfile::tempdir().unwrap();
    // 16 × 10 s: longer than the muxer's 2-minute window plus the 5 segments it keeps beyond it.
    let source = looped("h264-opus-10s.mkv", 16, scratch.path());
    let server = Server::start(&["--segment-duration", "2"]);
    let mut publisher = Client::publish(&server, "long");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    for chunk in std::fs::read(&source).unwrap().chunks(256 * 1024) {
        assert!(publisher.send_bytes(chunk));
    }
    publisher.stop();
    publisher.expect("ended", std::time::Duration::from_secs(300));

    let dir = server.stream_dir("long");
    let manifest = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
    assert!(manifest.contains("type=\"static\""), "{manifest}");
    assert!(manifest.contains("startNumber=\"1\""), "the recording starts at the first segment: {manifest}");
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    for rep in 0..2 {
        let marker = format!("-{rep}-");
        let numbers: Vec<u32> = names
            .iter()
            .filter(|n| n.starts_with("chunk-") && n.contains(&marker))
            .map(|n| n.rsplit('-').next().unwrap().split('.').next().unwrap().parse().unwrap())
            .collect();
        assert!(numbers.contains(&1), "representation {rep} lost its first segment ({} files left)", names.len());
        assert!(numbers.len() > 70, "representation {rep} has only {} segments", numbers.len());
    }
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "unfinished files left: {names:?}");
    assert_eq!(
        count_presentation_packets(&dir, 2, scratch.path()),
        count_packets(&source),
        "every packet sent is in the recording"
    );
}
