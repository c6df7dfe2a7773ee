//! A finished stream downloads as one file: `recording.mp4` (H.264 + Opus here) remuxed in-process,
//! with every packet of the stream, timestamps from 0 and the index before the media data (faststart);
//! made once and then served from the stream folder; `Range` works; VP8 downloads as `recording.webm`;
//! a live stream's recording is a 409.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::WAIT;
use common::media::{count_packets, count_presentation_packets, fixture};
use common::server::Server;
use common::ws::Client;
use ffmpeg_next as ffmpeg;

/// Status, headers we check, and body of a GET.
fn download(server: &Server, path: &str, range: Option<&str>) -> (u16, BTreeMap<String, String>, Vec<u8>) {
    let mut request = ureq::get(&server.url(path)).timeout(Duration::from_secs(60));
    if let Some(range) = range {
        request = request.set("Range", range);
    }
    let response = match request.call() {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("GET {path}: {e}"),
    };
    let headers = ["content-type", "content-disposition", "content-range", "cache-control", "accept-ranges"]
        .iter()
        .filter_map(|name| response.header(name).map(|v| (name.to_string(), v.to_string())))
        .collect();
    let status = response.status();
    let mut body = Vec::new();
    response.into_reader().read_to_end(&mut body).unwrap();
    (status, headers, body)
}

/// Top-level ISO BMFF boxes in order.
fn top_level_boxes(bytes: &[u8]) -> Vec<String> {
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let size = if size == 1 { u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize } else { size };
        boxes.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        assert!(size >= 8, "box size {size} at {at}");
        at += size;
    }
    boxes
}

/// The earliest presentation time over all tracks, in seconds.
fn first_timestamp(path: &Path) -> f64 {
    let mut input = ffmpeg::format::input(path).unwrap();
    let time_bases: Vec<f64> = input.streams().map(|s| f64::from(s.time_base())).collect();
    let mut first = f64::MAX;
    for (stream, packet) in input.packets() {
        if let Some(pts) = packet.pts() {
            first = first.min(pts as f64 * time_bases[stream.index()]);
        }
    }
    first
}

/// The cached recording file in a stream folder.
fn cached_file(dir: &Path, extension: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("recording-") && name.ends_with(&format!(".{extension}"))
        })
        .collect();
    assert_eq!(found.len(), 1, "one cached recording in {}: {found:?}", dir.display());
    found[0].clone()
}

#[test]
fn a_finished_h264_stream_downloads_as_one_faststart_mp4_with_every_packet() {
    let server = Server::start(&["--segment-duration", "1"]);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let mut publisher = Client::publish(&server, "cam");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    let (first, rest) = data.split_at(data.len() / 2);
    assert!(publisher.send_bytes(first));
    server.wait_until_received("cam", first.len());
    let (status, _, body) = download(&server, "/dash/cam/recording.mp4", None);
    assert_eq!(status, 409, "a live stream has no recording to download yet");
    assert!(String::from_utf8_lossy(&body).contains("still live"), "{}", String::from_utf8_lossy(&body));
    assert!(publisher.send_bytes(rest));
    publisher.stop();
    publisher.expect("ended", WAIT);

    // Several first requests at once: every one gets the same file, made once.
    let downloads: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3).map(|_| scope.spawn(|| download(&server, "/dash/cam/recording.mp4", None))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (status, headers, mp4) = downloads[0].clone();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&mp4));
    assert!(downloads.iter().all(|(s, _, body)| *s == 200 && *body == mp4), "every concurrent request got the same file");
    assert_eq!(server.log().matches("made ").count(), 1, "remuxed once:\n{}", server.log());
    assert_eq!(headers["content-type"], "video/mp4");
    assert_eq!(headers["content-disposition"], "attachment; filename=\"cam.mp4\"");

    let boxes = top_level_boxes(&mp4);
    let moov = boxes.iter().position(|b| b == "moov").expect("a moov box");
    let mdat = boxes.iter().position(|b| b == "mdat").expect("an mdat box");
    assert!(moov < mdat, "faststart: moov before mdat, got {boxes:?}");

    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("cam.mp4");
    std::fs::write(&file, &mp4).unwrap();
    let in_file = count_packets(&file);
    assert_eq!(in_file, count_packets(&fixture("h264-opus.mkv")), "every packet the publisher sent");
    assert_eq!(in_file, count_presentation_packets(&server.stream_dir("cam"), 2, scratch.path()), "every packet of the segments");
    assert_eq!(in_file.len(), 2, "video and audio: {in_file:?}");
    assert_eq!(first_timestamp(&file), 0.0, "timestamps start at 0");

    // From the cache: the same file, not made again; ranges honoured.
    let cached = cached_file(&server.stream_dir("cam"), "mp4");
    let modified = std::fs::metadata(&cached).unwrap().modified().unwrap();
    let (status, _, again) = download(&server, "/dash/cam/recording.mp4", None);
    assert_eq!((status, again == mp4), (200, true));
    assert_eq!(std::fs::metadata(&cached).unwrap().modified().unwrap(), modified, "served from the cached file");
    assert_eq!(server.log().matches("made ").count(), 1);
    let (status, headers, part) = download(&server, "/dash/cam/recording.mp4", Some("bytes=100-199"));
    assert_eq!(status, 206);
    assert_eq!(part, mp4[100..200]);
    assert_eq!(headers["content-range"], format!("bytes 100-199/{}", mp4.len()));

    let (status, _, body) = download(&server, "/dash/cam/recording.webm", None);
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("/dash/cam/recording.mp4"), "{}", String::from_utf8_lossy(&body));
    let listing: serde_json::Value = server.get("/api/streams/cam").into_json().unwrap();
    assert_eq!(listing["recordingUrl"], "/dash/cam/recording.mp4");
}

#[test]
fn a_vp8_stream_downloads_as_webm() {
    let server = Server::start(&[]);
    let data = std::fs::read(fixture("vp8-opus.webm")).unwrap();
    Client::publish_whole(&server, "old-cam", "video/webm;codecs=vp8,opus", &data);
    let (status, _, body) = download(&server, "/dash/old-cam/recording.mp4", None);
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("/dash/old-cam/recording.webm"), "{}", String::from_utf8_lossy(&body));

    let (status, headers, webm) = download(&server, "/dash/old-cam/recording.webm", None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&webm));
    assert_eq!(headers["content-type"], "video/webm");
    assert_eq!(headers["content-disposition"], "attachment; filename=\"old-cam.webm\"");
    assert_eq!(&webm[..4], [0x1A, 0x45, 0xDF, 0xA3], "an EBML (WebM) file");
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("old-cam.webm");
    std::fs::write(&file, &webm).unwrap();
    let in_file = count_packets(&file);
    assert_eq!(in_file, count_presentation_packets(&server.stream_dir("old-cam"), 2, scratch.path()), "every packet of the segments");
    assert_eq!(in_file.len(), 2, "video and audio: {in_file:?}");
    assert_eq!(first_timestamp(&file), 0.0, "timestamps start at 0");
    cached_file(&server.stream_dir("old-cam"), "webm");
}

#[test]
fn streams_without_a_recording_say_so() {
    let server = Server::start(&[]);
    let (status, _, body) = download(&server, "/dash/nobody/recording.mp4", None);
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("nobody"));
}
