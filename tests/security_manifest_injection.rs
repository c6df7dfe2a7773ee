//! The `/time` URL written into every MPD comes from the request only as far as it can be trusted: a
//! `Host` that is not a host falls back to the address the client reached, `Forwarded` /
//! `X-Forwarded-*` count only with `--trust-forwarded`, and whatever reaches the manifest is escaped.
//! A publisher can never add elements (a `<BaseURL>` sending viewers elsewhere) to a manifest.

mod common;

use common::media::fixture;
use common::server::Server;
use common::ws::Client;
use common::WAIT;

const HOSTILE: &str = r#"evil"/><BaseURL>http://evil.example/</BaseURL><x y=""#;

/// Publishes the H.264 fixture to `stream` with these handshake headers; returns the finished MPD.
fn publish_with_headers(server: &Server, stream: &str, headers: &[(&str, &str)]) -> String {
    let path = format!("/ws/publish/{stream}");
    let mut publisher = Client::connect_with_headers(server, &path, headers).unwrap_or_else(|e| panic!("{stream}: refused {e:?}"));
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    assert!(publisher.send_bytes(&std::fs::read(fixture("h264-opus.mkv")).unwrap()));
    publisher.stop();
    publisher.expect("ended", WAIT);
    server.get(&format!("/dash/{stream}/manifest.mpd")).into_string().unwrap()
}

/// The MPD's `<UTCTiming>` value, after checking that the MPD is well-formed and has no `<BaseURL>`.
fn utc_timing(manifest: &str) -> String {
    let document = roxmltree::Document::parse(manifest).unwrap_or_else(|e| panic!("the MPD is not well-formed ({e}):\n{manifest}"));
    let names: Vec<&str> = document.descendants().filter(|n| n.is_element()).map(|n| n.tag_name().name()).collect();
    assert!(!names.contains(&"BaseURL") && !names.contains(&"x"), "an element was injected: {names:?}\n{manifest}");
    let timings: Vec<_> = document.descendants().filter(|n| n.has_tag_name("UTCTiming")).collect();
    assert_eq!(timings.len(), 1, "{manifest}");
    assert_eq!(timings[0].attributes().count(), 2, "no attribute was injected: {manifest}");
    timings[0].attribute("value").unwrap().to_string()
}

#[test]
fn a_hostile_host_header_never_reaches_the_manifest() {
    let server = Server::start(&[]);
    let own = format!("http://{}/time", server.addr);
    let manifest = publish_with_headers(&server, "hostile-host", &[("Host", HOSTILE)]);
    assert_eq!(utc_timing(&manifest), own, "an invalid Host falls back to the address the client reached");
    let named = publish_with_headers(&server, "named-host", &[("Host", "Live.Example.com:8080")]);
    assert_eq!(utc_timing(&named), "http://live.example.com:8080/time", "a valid Host is used");
}

#[test]
fn forwarded_headers_count_only_with_trust_forwarded() {
    let forwarded = [("Forwarded", "for=192.0.2.1;proto=https;host=cdn.example.com"), ("X-Forwarded-Host", "other.example.com")];
    let direct = Server::start(&[]);
    let manifest = publish_with_headers(&direct, "untrusted", &forwarded);
    assert_eq!(utc_timing(&manifest), format!("http://{}/time", direct.addr), "forwarded headers are ignored by default");
    let hostile_x = publish_with_headers(&direct, "untrusted-x", &[("X-Forwarded-Host", HOSTILE), ("X-Forwarded-Proto", "https")]);
    assert_eq!(utc_timing(&hostile_x), format!("http://{}/time", direct.addr));

    let proxied = Server::start(&["--trust-forwarded"]);
    let manifest = publish_with_headers(&proxied, "trusted", &forwarded);
    assert_eq!(utc_timing(&manifest), "https://cdn.example.com/time", "a trusted proxy's Forwarded header wins");
    let x_only = publish_with_headers(&proxied, "trusted-x", &[("X-Forwarded-Host", "cdn.example.com"), ("X-Forwarded-Proto", "https")]);
    assert_eq!(utc_timing(&x_only), "https://cdn.example.com/time");
    let hostile = publish_with_headers(&proxied, "trusted-hostile", &[("Forwarded", &format!("host=\"{}\"", HOSTILE.replace('"', "\\\"")))]);
    assert_eq!(utc_timing(&hostile), format!("http://{}/time", proxied.addr), "even a trusted header must name a host");
    let hostile_x = publish_with_headers(&proxied, "trusted-hostile-x", &[("X-Forwarded-Host", HOSTILE)]);
    assert_eq!(utc_timing(&hostile_x), format!("http://{}/time", proxied.addr));
}

#[test]
fn the_public_url_is_escaped_in_the_manifest() {
    let public = "http://live.example.com/a&b'c";
    let server = Server::start(&["--public-url", public]);
    let manifest = publish_with_headers(&server, "escaped", &[("Host", HOSTILE)]);
    assert_eq!(utc_timing(&manifest), format!("{public}/time"), "escaped in the file, the same URL once read");
}
