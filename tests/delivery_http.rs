//! HTTP that caches get right: `HEAD` on every route; `Access-Control-Allow-Origin: *` on every
//! response, with or without `Origin`, and never `Vary: Origin`; segments immutable, manifests true for
//! a second, a 404 for a segment that isn't there yet `no-store`; byte ranges of finished segments.

mod common;

use common::live::finished_file;
use common::media::fixture;
use common::server::Server;
use common::ws::Client;

fn publish_finished(server: &Server, stream: &str) {
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    Client::publish_whole(server, stream, "video/x-matroska;codecs=avc1,opus", &data);
}

fn head(server: &Server, path: &str) -> ureq::Response {
    match ureq::head(&server.url(path)).call() {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("HEAD {path}: {e}"),
    }
}

#[test]
fn every_route_answers_head_as_it_answers_get() {
    let server = Server::start(&[]);
    publish_finished(&server, "h");
    let segment = finished_file(&server.stream_dir("h"), "chunk-");
    let init = finished_file(&server.stream_dir("h"), "init-");
    for path in [
        "/".to_string(),
        "/watch/h".into(),
        "/assets/watch.js".into(),
        "/time".into(),
        "/healthz".into(),
        "/metrics".into(),
        "/api/streams".into(),
        "/api/streams/h".into(),
        "/streams".into(),
        "/assets/streams.js".into(),
        "/dash/h/recording.mp4".into(),
        "/dash/h/manifest.mpd".into(),
        format!("/dash/h/{segment}"),
        format!("/dash/h/{init}"),
    ] {
        let get = server.get(&path);
        let response = head(&server, &path);
        assert_eq!(response.status(), get.status(), "HEAD {path}");
        assert_eq!(response.status(), 200, "HEAD {path}");
        assert_eq!(response.content_type(), get.content_type(), "HEAD {path}");
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
        assert!(body.is_empty(), "HEAD {path} has no body");
    }
    // A WebSocket handshake is a GET (RFC 6455) and a HEAD never upgrades: HEAD is answered as a GET
    // without `Upgrade` is, not with 405.
    for path in ["/ws/publish/h", "/ws/watch/h"] {
        let get = match ureq::get(&server.url(path)).call() {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("GET {path}: {e}"),
        };
        let response = head(&server, path);
        assert_eq!(response.status(), get.status(), "HEAD {path}");
        assert_eq!(response.status(), 400, "HEAD {path}");
    }
    let metrics = server.get("/metrics").into_string().unwrap();
    assert!(metrics.contains("livedash_segment_requests_total 1\n"), "only the GET counted:\n{metrics}");
}

#[test]
fn public_files_are_cors_star_for_every_origin_and_cacheable_as_long_as_they_stay_true() {
    let server = Server::start(&[]);
    publish_finished(&server, "c");
    let segment = finished_file(&server.stream_dir("c"), "chunk-");

    for origin in [None, Some("https://a.example"), Some("https://b.example")] {
        for path in ["/dash/c/manifest.mpd".to_string(), format!("/dash/c/{segment}")] {
            let mut request = ureq::get(&server.url(&path));
            if let Some(origin) = origin {
                request = request.set("Origin", origin);
            }
            let response = request.call().unwrap();
            assert_eq!(response.header("access-control-allow-origin"), Some("*"), "{path} from {origin:?}");
            let vary = response.header("vary").unwrap_or_default().to_ascii_lowercase();
            assert!(!vary.contains("origin"), "{path} from {origin:?}: Vary: {vary}");
        }
    }

    let manifest = server.get("/dash/c/manifest.mpd");
    assert_eq!(manifest.header("cache-control"), Some("public, max-age=1"));
    let segment_response = server.get(&format!("/dash/c/{segment}"));
    assert!(segment_response.header("cache-control").unwrap().contains("immutable"));
    assert!(segment_response.header("etag").is_some());

    // Not there (yet): no cache may remember that.
    let missing = common::live::renumbered(&segment, 999);
    for path in [format!("/dash/c/{missing}"), "/dash/nobody/manifest.mpd".into(), "/dash/c/nothing.txt".into()] {
        let response = server.get(&path);
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(response.header("access-control-allow-origin"), Some("*"), "{path}");
    }
}

#[test]
fn byte_ranges_of_a_finished_segment() {
    let server = Server::start(&[]);
    publish_finished(&server, "r");
    let segment = finished_file(&server.stream_dir("r"), "chunk-");
    let whole = std::fs::read(server.stream_dir("r").join(&segment)).unwrap();
    let url = server.url(&format!("/dash/r/{segment}"));
    let len = whole.len();
    for (range, expected, content_range) in [
        ("bytes=0-99", &whole[..100], format!("bytes 0-99/{len}")),
        ("bytes=100-", &whole[100..], format!("bytes 100-{}/{len}", len - 1)),
        ("bytes=-10", &whole[len - 10..], format!("bytes {}-{}/{len}", len - 10, len - 1)),
    ] {
        let response = ureq::get(&url).set("Range", range).call().unwrap();
        assert_eq!(response.status(), 206, "{range}");
        assert_eq!(response.header("content-range"), Some(content_range.as_str()), "{range}");
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
        assert_eq!(body, expected, "{range}");
    }
    match ureq::get(&url).set("Range", &format!("bytes={len}-")).call() {
        Err(ureq::Error::Status(416, _)) => {}
        other => panic!("a range past the end is 416: {other:?}"),
    }
}
