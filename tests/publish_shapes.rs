//! Every shape Chromium's MediaRecorder produces, published over a real WebSocket in small arbitrary
//! chunks: each is accepted, becomes playable, ends as a static recording, and is served over HTTP
//! with the contract's content types and caching.

mod common;

use common::media::fixture;
use common::server::Server;
use common::ws::Client;
use common::WAIT;

struct Shape {
    fixture: &'static str,
    mime: &'static str,
    /// Segment file extension the presentation must use.
    segments: &'static str,
    /// AdaptationSet content types in the manifest.
    content: &'static [&'static str],
}

const SHAPES: &[Shape] = &[
    Shape { fixture: "h264-opus.mkv", mime: "video/x-matroska;codecs=avc1,opus", segments: "m4s", content: &["video", "audio"] },
    Shape { fixture: "vp8-opus.webm", mime: "video/webm;codecs=vp8,opus", segments: "webm", content: &["audio", "video"] },
    Shape { fixture: "vp9-opus.webm", mime: "video/webm;codecs=vp9,opus", segments: "m4s", content: &["audio", "video"] },
    Shape { fixture: "h264-opus.mp4", mime: "video/mp4;codecs=avc1,opus", segments: "m4s", content: &["video", "audio"] },
    Shape { fixture: "vp9-opus.mp4", mime: "video/mp4;codecs=vp9,opus", segments: "m4s", content: &["audio", "video"] },
    Shape { fixture: "h264.mkv", mime: "video/x-matroska;codecs=avc1", segments: "m4s", content: &["video"] },
    Shape { fixture: "vp8.webm", mime: "video/webm;codecs=vp8", segments: "webm", content: &["video"] },
    Shape { fixture: "opus.webm", mime: "audio/webm;codecs=opus", segments: "m4s", content: &["audio"] },
    Shape { fixture: "opus.mp4", mime: "audio/mp4;codecs=opus", segments: "m4s", content: &["audio"] },
];

fn publish_in_odd_chunks(server: &Server, stream: &str, shape: &Shape) {
    let mut publisher = Client::publish(server, stream);
    publisher.start(shape.mime);
    publisher.expect("accepted", WAIT);
    // Odd-sized chunks: boundaries fall in the middle of blocks and boxes.
    for chunk in std::fs::read(fixture(shape.fixture)).unwrap().chunks(3001) {
        assert!(publisher.send_bytes(chunk));
    }
    publisher.stop();
    publisher.expect("manifest_ready", WAIT);
    let ended = publisher.expect("ended", WAIT);
    assert!(ended["durationSeconds"].as_f64().unwrap() > 3.0, "{}: {ended}", shape.fixture);
}

#[test]
fn every_recorder_shape_becomes_a_served_recording() {
    let server = Server::start(&[]);
    for (i, shape) in SHAPES.iter().enumerate() {
        let stream = format!("shape-{i}");
        publish_in_odd_chunks(&server, &stream, shape);

        let manifest = server.get(&format!("/dash/{stream}/manifest.mpd"));
        assert_eq!(manifest.content_type(), "application/dash+xml", "{}", shape.fixture);
        assert_eq!(manifest.header("cache-control"), Some("public, max-age=1"), "true for about a second");
        let manifest = manifest.into_string().unwrap();
        assert!(manifest.contains("type=\"static\""), "{}: {manifest}", shape.fixture);
        let doc = roxmltree::Document::parse(&manifest).unwrap();
        let content: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("AdaptationSet"))
            .map(|n| n.attribute("contentType").unwrap())
            .collect();
        assert_eq!(content, shape.content, "{}", shape.fixture);

        let files: Vec<String> = std::fs::read_dir(server.stream_dir(&stream))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!files.iter().any(|f| f.ends_with(".tmp")), "{}: leftover temp files {files:?}", shape.fixture);
        for (rep, kind) in shape.content.iter().enumerate() {
            let marker = format!("-{rep}-00001.");
            let segment = files.iter().find(|f| f.starts_with("chunk-") && f.contains(&marker)).unwrap();
            assert!(segment.ends_with(shape.segments), "{}: {segment}", shape.fixture);
            let response = server.get(&format!("/dash/{stream}/{segment}"));
            assert_eq!(response.status(), 200);
            let expected_type = match shape.segments {
                "webm" => format!("{kind}/webm"),
                _ => "video/mp4".to_string(),
            };
            assert_eq!(response.content_type(), expected_type, "{}: {segment}", shape.fixture);
            assert_eq!(response.header("cache-control"), Some("public, max-age=31536000, immutable"));
            let on_disk = std::fs::metadata(server.stream_dir(&stream).join(segment)).unwrap().len();
            assert_eq!(response.header("content-length"), Some(on_disk.to_string().as_str()));
        }

        // HLS carries the fMP4 segments; WebM (VP8) has none, and says so.
        let playlist = ureq::get(&server.url(&format!("/dash/{stream}/master.m3u8"))).call();
        if shape.segments == "m4s" {
            let playlist = playlist.unwrap_or_else(|e| panic!("{}: master.m3u8: {e}", shape.fixture));
            assert_eq!(playlist.content_type(), "application/vnd.apple.mpegurl");
            assert!(playlist.into_string().unwrap().contains("#EXT-X-STREAM-INF:"), "{}", shape.fixture);
        } else {
            match playlist {
                Err(ureq::Error::Status(404, response)) => assert!(response.into_string().unwrap().contains("HLS cannot carry")),
                other => panic!("{}: master.m3u8 of WebM segments: {other:?}", shape.fixture),
            }
        }
    }
}
