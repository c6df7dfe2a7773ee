//! Paths from the network never reach outside the media folder: stream ids are validated, only names
//! the muxer writes are served, and symbolic links are not followed — tested with raw requests (no
//! client-side URL normalisation) and a canary file beside the media folder.

mod common;

use common::media::fixture;
use common::server::Server;
use common::ws::Client;
use common::WAIT;

const CANARY: &str = "CANARY-a8f3e1: you must never see this";

/// File names (the last path segment under /dash/{stream}/) that try to get out or get something else.
const FILE_ATTACKS: &[&str] = &[
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/canary.txt",
    "..%252f..%252fcanary.txt",
    "%252e%252e%252fcanary.txt",
    "..%5c..%5ccanary.txt",
    "%5c..%5c..%5ccanary.txt",
    "..\\..\\canary.txt",
    "manifest.mpd%00.txt",
    "manifest.mpd%00",
    "%00",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "....//....//canary.txt",
    "..;/..;/canary.txt",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/canary.txt",
    "%e0%80%ae%e0%80%ae/canary.txt",
    "..%c0%af..%c0%afcanary.txt",
    ".%2e/.%2e/canary.txt",
    "%2e./%2e./canary.txt",
    "manifest.mpd/..",
    "manifest.mpd.tmp",
    "init-x-0.m4s/../../../canary.txt",
    "chunk-a-0-00001.m4s%2f..%2f..%2fcanary.txt",
    "~root/.ssh/id_rsa",
    ".env",
    ".",
    "..",
    "%2e%2e",
    "%2e",
    "file:%2f%2f%2fetc%2fpasswd",
    "http:%2f%2fevil.example%2fx",
    "CON",
    "%ff%fe",
    "linked.m4s",
    "chunk-linked-0-00001.m4s",
];

/// Whole request paths that attack the stream id instead.
const STREAM_ATTACKS: &[&str] = &[
    "/dash/..%2f..%2fcanary.txt/manifest.mpd",
    "/dash/%2e%2e/canary.txt",
    "/dash/../canary.txt",
    "/dash/.../manifest.mpd",
    "/dash/a%00b/manifest.mpd",
    "/dash/%2e%2e%2f%2e%2e/manifest.mpd",
    "/dash/evil/manifest.mpd",
    "/dash/evil/chunk-aaaa-0-00001.m4s",
    "/ws/publish/..%2f..%2ftmp",
    "/ws/watch/%2e%2e",
    "/watch/..%2f..%2fcanary.txt",
    "/assets/..%2f..%2fCargo.toml",
    "/assets/%2e%2e/%2e%2e/canary.txt",
];

#[test]
fn attack_paths_never_leave_the_media_folder() {
    let server = Server::start(&[]);
    let outside = server.outside_dir();
    std::fs::write(outside.join("canary.txt"), CANARY).unwrap();
    let secret_dir = outside.join("secret");
    std::fs::create_dir(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("manifest.mpd"), CANARY).unwrap();
    std::fs::write(secret_dir.join("chunk-aaaa-0-00001.m4s"), CANARY).unwrap();

    // A real stream, so its folder exists and real names are served.
    Client::publish_whole(&server, "s", "video/x-matroska;codecs=avc1,opus", &std::fs::read(fixture("h264-opus.mkv")).unwrap());
    assert_eq!(server.raw_get("/dash/s/manifest.mpd").0, 200, "the real file is served");

    // Links planted in the media folder: a stream folder, and a segment name, pointing outside.
    std::os::unix::fs::symlink(&secret_dir, server.media_dir().join("evil")).unwrap();
    std::os::unix::fs::symlink(outside.join("canary.txt"), server.stream_dir("s").join("chunk-linked-0-00001.m4s")).unwrap();
    std::os::unix::fs::symlink(outside.join("canary.txt"), server.stream_dir("s").join("linked.m4s")).unwrap();

    let mut tried = 0;
    let requests = FILE_ATTACKS.iter().map(|f| format!("/dash/s/{f}")).chain(STREAM_ATTACKS.iter().map(|p| p.to_string()));
    for path in requests {
        let (status, body) = server.raw_get(&path);
        tried += 1;
        assert!(matches!(status, 400 | 404), "{path}: status {status}");
        assert!(!String::from_utf8_lossy(&body).contains("CANARY"), "{path}: leaked the canary");
    }
    assert!(tried >= 30, "{tried} attack strings");
}

#[test]
fn publishing_into_a_linked_stream_folder_is_refused_and_deletes_nothing_outside() {
    let server = Server::start(&[]);
    let secret_dir = server.outside_dir().join("precious");
    std::fs::create_dir(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("keep.txt"), CANARY).unwrap();
    std::os::unix::fs::symlink(&secret_dir, server.media_dir().join("linked")).unwrap();

    let mut publisher = Client::publish(&server, "linked");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    let error = publisher.expect("error", WAIT);
    assert_eq!(error["code"], "internal", "{error}");
    assert!(error["message"].as_str().unwrap().contains("not a plain folder"), "{error}");
    assert_eq!(std::fs::read_to_string(secret_dir.join("keep.txt")).unwrap(), CANARY, "nothing outside was touched");
}
