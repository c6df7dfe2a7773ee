//! The HTTP side of the contract: pages, embedded assets (dash.js from npm, no CDN), `/time`,
//! `/healthz`, `/metrics`, `/api/streams`, CORS, and 404s for files the muxer doesn't write.

mod common;

use std::time::{Duration, SystemTime};

use common::media::fixture;
use common::server::Server;
use common::ws::Client;

#[test]
fn pages_and_embedded_assets() {
    let server = Server::start(&["--segment-duration", "3"]);
    let index = server.get("/");
    assert_eq!(index.status(), 200);
    assert_eq!(index.content_type(), "text/html");
    let html = index.into_string().unwrap();
    assert!(html.contains("/assets/dash.all.min.js") && html.contains("/assets/publish.js"));
    assert!(html.contains(r#""segmentDuration":3.0"#), "the page knows the segment length: {html}");
    assert!(!html.contains("cdn") && !html.contains("https://"), "no outside resources");

    let watch = server.get("/watch/some-stream");
    assert_eq!(watch.status(), 200);
    assert!(watch.into_string().unwrap().contains("/assets/watch.js"));

    let dashjs = server.get("/assets/dash.all.min.js");
    assert_eq!(dashjs.status(), 200);
    assert_eq!(dashjs.content_type(), "text/javascript");
    let etag = dashjs.header("etag").unwrap().to_string();
    let body = dashjs.into_string().unwrap();
    assert!(body.len() > 500_000 && body.contains("MediaPlayer"), "the real dash.js bundle");
    let revalidated = ureq::get(&server.url("/assets/dash.all.min.js")).set("If-None-Match", &etag).call().unwrap();
    assert_eq!(revalidated.status(), 304);

    for asset in ["publish.js", "uplink.js", "uplink-rate.js", "capture.js", "capture-worker.js", "thumbnail.js", "live-info.js", "watch.js", "player.js", "style.css"] {
        assert_eq!(server.get(&format!("/assets/{asset}")).status(), 200, "{asset}");
    }
    assert_eq!(server.get("/assets/nothing.js").status(), 404);
    assert_eq!(server.get("/assets/..%2fCargo.toml").status(), 404);
}

#[test]
fn time_health_and_metrics() {
    let server = Server::start(&[]);
    let time = server.get("/time").into_string().unwrap();
    let parsed = humantime::parse_rfc3339(&time).unwrap_or_else(|e| panic!("{time:?}: {e}"));
    assert!(time.ends_with('Z') && time.len() == "2026-11-24T22:45:12.123Z".len(), "ISO 8601 with ms: {time}");
    let skew = SystemTime::now().duration_since(parsed).unwrap_or_else(|e| e.duration());
    assert!(skew < Duration::from_secs(2), "{time} is the server's clock");

    let health = server.get("/healthz");
    assert_eq!(health.status(), 200);

    let metrics = server.get("/metrics");
    assert!(metrics.content_type().starts_with("text/plain"));
    let text = metrics.into_string().unwrap();
    for name in ["livedash_ingest_bytes_total", "livedash_publishes_total", "livedash_streams{state=\"live\"}"] {
        assert!(text.contains(name), "{name} in\n{text}");
    }
}

#[test]
fn api_streams_lists_streams_with_their_state_and_metrics_count_them() {
    let server = Server::start(&[]);
    assert!(server.registry_is_empty());
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    Client::publish_whole(&server, "listed", "video/x-matroska;codecs=avc1,opus", &data);

    let listing: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    let stream = &listing[0];
    assert_eq!(stream["stream"], "listed");
    assert_eq!(stream["state"], "ended");
    assert_eq!(stream["manifestUrl"], "/dash/listed/manifest.mpd");
    assert_eq!(stream["watchUrl"], "/watch/listed");
    assert_eq!(stream["mimeType"], "video/x-matroska;codecs=avc1,opus");
    assert_eq!(stream["segmentType"], "mp4");
    assert!(stream["durationSeconds"].as_f64().unwrap() > 3.0);
    assert_eq!(stream["tracks"][0]["codec"], "h264");

    let metrics = server.get("/metrics").into_string().unwrap();
    assert!(metrics.contains(&format!("livedash_ingest_bytes_total {}", data.len())), "{metrics}");
    assert!(metrics.contains("livedash_publishes_total{result=\"accepted\"} 1"), "{metrics}");
    assert!(metrics.contains("livedash_streams{state=\"ended\"} 1"), "{metrics}");
}

#[test]
fn dash_files_have_cors_and_unknown_names_are_404() {
    let server = Server::start(&[]);
    Client::publish_whole(&server, "cors", "video/x-matroska;codecs=avc1,opus", &std::fs::read(fixture("h264-opus.mkv")).unwrap());

    let response = ureq::get(&server.url("/dash/cors/manifest.mpd")).set("Origin", "https://player.example").call().unwrap();
    let allowed = response.header("access-control-allow-origin").unwrap();
    assert!(allowed == "*" || allowed == "https://player.example", "{allowed}");
    let exposed = response.header("access-control-expose-headers").unwrap().to_ascii_lowercase();
    assert!(exposed.contains("date"), "{exposed}");
    assert!(response.header("date").is_some());

    for name in ["secret.txt", "manifest.mpd.tmp", "init-stream0.m4s", "chunk-zz-0-00099.m4s"] {
        assert_eq!(server.get(&format!("/dash/cors/{name}")).status(), 404, "{name}");
    }
    assert_eq!(server.get("/dash/nobody/manifest.mpd").status(), 404);
    for shape in ["/dash/cors", "/dash/cors/", "/dash//manifest.mpd", "/dash/cors/sub/manifest.mpd"] {
        let response = server.get(shape);
        assert_eq!(response.status(), 404, "{shape}");
        assert_eq!(response.header("cache-control"), Some("no-store"), "{shape}");
    }
    let put = ureq::put(&server.url("/dash/cors/manifest.mpd")).send_string("x");
    let Err(ureq::Error::Status(405, response)) = put else { panic!("PUT on a stream file: {put:?}") };
    assert_eq!(response.header("allow"), Some("GET, HEAD"));
    assert!(server.get("/dash/cors/manifest.mpd").into_string().unwrap().contains("type=\"static\""), "still there");
}
