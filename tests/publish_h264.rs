//! The vertical slice with a real server and WebSocket: a publisher sends Chromium's H.264+Opus
//! Matroska recording at real-time pace; it becomes a live DASH presentation (manifest_ready while
//! still sending), then a static recording with every packet; a viewer follows along.

mod common;

use std::time::Duration;

use common::media::{count_packets, fixture};
use common::server::Server;
use common::ws::Client;
use common::WAIT;

fn publish_live(latency: &str) {
    let server = Server::start(&["--latency", latency, "--segment-duration", "1"]);
    let mut viewer = Client::watch(&server, "cam1");
    let mut publisher = Client::publish(&server, "cam1");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    let mut accepted = publisher.expect("accepted", WAIT);
    let token = accepted.as_object_mut().unwrap().remove("resumeToken");
    assert!(token.is_some_and(|t| t.as_str().is_some_and(|t| t.len() >= 22)), "a resume token of at least 128 bits");
    assert_eq!(
        accepted,
        serde_json::json!({"type":"accepted","stream":"cam1","manifestUrl":"/dash/cam1/manifest.mpd","watchUrl":"/watch/cam1"})
    );

    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let (first, rest) = data.split_at(data.len() * 3 / 4);
    publisher.send_paced(first, 4096, Duration::from_secs(3));
    // Three quarters in, still sending: the stream must already be playable.
    let ready = publisher.expect("manifest_ready", WAIT);
    assert_eq!(ready, serde_json::json!({"type":"manifest_ready","manifestUrl":"/dash/cam1/manifest.mpd"}));
    // The viewer is also told where the stream comes from and its codecs.
    let mut described = ready.clone();
    described["source"] = "browser".into();
    described["tracks"] = serde_json::json!([{"kind":"video","codec":"h264"},{"kind":"audio","codec":"opus"}]);
    assert_eq!(viewer.expect("manifest_ready", WAIT), described);
    let manifest = String::from_utf8(server.get_bytes("/dash/cam1/manifest.mpd")).unwrap();
    assert!(manifest.contains("type=\"dynamic\""), "{manifest}");

    publisher.send_paced(rest, 4096, Duration::from_secs(1));
    publisher.stop();
    let ended = publisher.expect("ended", WAIT);
    let duration = ended["durationSeconds"].as_f64().unwrap();
    assert!((3.5..4.5).contains(&duration), "durationSeconds {duration}");
    assert_eq!(publisher.expect_close(WAIT), 1000);
    assert_eq!(viewer.expect("ended", WAIT), ended);
    assert_eq!(
        publisher.received.iter().map(|m| m["type"].as_str().unwrap()).filter(|t| *t != "received").collect::<Vec<_>>(),
        ["accepted", "manifest_ready", "ended"],
        "manifest_ready exactly once"
    );

    // The finished presentation, read back over HTTP: static, and every recorded packet is in it.
    let manifest = String::from_utf8(server.get_bytes("/dash/cam1/manifest.mpd")).unwrap();
    assert!(manifest.contains("type=\"static\""), "{manifest}");
    let scratch = tempfile::tempdir().unwrap();
    let mut got = std::collections::BTreeMap::new();
    for rep in 0..2 {
        let file = download_representation(&server, "cam1", &manifest, rep, scratch.path());
        for (kind, n) in count_packets(&file) {
            *got.entry(kind).or_insert(0) += n;
        }
    }
    assert_eq!(got, count_packets(&fixture("h264-opus.mkv")));
}

/// Downloads a representation's init and media segments listed by `manifest` into one file.
fn download_representation(server: &Server, stream: &str, manifest: &str, rep: usize, dir: &std::path::Path) -> std::path::PathBuf {
    let doc = roxmltree::Document::parse(manifest).unwrap();
    let representation = doc
        .descendants()
        .find(|n| n.has_tag_name("Representation") && n.attribute("id") == Some(&rep.to_string()))
        .unwrap();
    let template = representation.descendants().find(|n| n.has_tag_name("SegmentTemplate")).unwrap();
    let init = template.attribute("initialization").unwrap().replace("$RepresentationID$", &rep.to_string());
    let media = template.attribute("media").unwrap().replace("$RepresentationID$", &rep.to_string());
    let mut bytes = server.get_bytes(&format!("/dash/{stream}/{init}"));
    let segments = std::fs::read_dir(server.stream_dir(stream))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name().into_string().unwrap();
            name.starts_with(media.split("$Number").next().unwrap()) && !name.ends_with(".tmp")
        })
        .count();
    for number in 1..=segments {
        let name = media.replace("$Number%05d$", &format!("{number:05}"));
        bytes.extend(server.get_bytes(&format!("/dash/{stream}/{name}")));
    }
    let path = dir.join(format!("rep{rep}.mp4"));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn publish_h264_normal_latency() {
    publish_live("normal");
}

#[test]
fn publish_h264_low_latency() {
    publish_live("low");
}
