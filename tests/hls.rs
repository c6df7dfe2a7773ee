//! HLS and Low-Latency HLS over the same CMAF files as DASH, through real HTTP: the multivariant
//! playlist is complete when `manifest_ready` is sent, a blocking reload is held until its part exists,
//! one far ahead is a 400, a finished stream is a VOD playlist of every segment, and the parts' byte
//! ranges are, fetched, the finished segment byte for byte.

mod common;

use common::WAIT;
use common::live::start_ten_seconds;
use common::media::fixture;
use common::server::Server;
use common::ws::Client;

fn low_latency_server() -> Server {
    Server::start(&["--latency", "low", "--segment-duration", "2", "--fragment-duration", "0.25"])
}

/// Publishes the 10 s fixture at real-time pace on a thread; returns once `manifest_ready` was sent.
fn start_live(server: &Server, stream: &str) -> std::thread::JoinHandle<serde_json::Value> {
    let mut viewer = Client::watch(server, stream);
    let handle = start_ten_seconds(server, stream);
    viewer.expect("manifest_ready", WAIT);
    handle
}

fn get_text(server: &Server, path: &str) -> String {
    let response = ureq::get(&server.url(path)).timeout(WAIT).call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(response.content_type(), "application/vnd.apple.mpegurl", "{path}");
    assert_eq!(response.header("cache-control"), Some("public, max-age=1"), "{path}: cached like a manifest");
    response.into_string().unwrap()
}

/// The `(name, value)` attributes of a tag line.
fn attributes(line: &str) -> Vec<(String, String)> {
    let list = line.split_once(':').map_or("", |(_, rest)| rest);
    let mut out = Vec::new();
    let mut rest = list;
    while let Some((name, after)) = rest.split_once('=') {
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap();
            (quoted[..end].to_string(), quoted[end + 1..].trim_start_matches(','))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].to_string(), after[end..].trim_start_matches(','))
        };
        out.push((name.to_string(), value));
        rest = next;
    }
    out
}

fn attribute(line: &str, name: &str) -> Option<String> {
    attributes(line).into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// The video variant's playlist URI from the multivariant playlist.
fn video_playlist(master: &str) -> String {
    let lines: Vec<&str> = master.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("#EXT-X-STREAM-INF:")).expect("a variant");
    lines[at + 1].to_string()
}

/// Where a live media playlist's newest part is: (MSN of the segment being written, parts it has).
fn newest(playlist: &str) -> (u64, u64) {
    let mut msn: u64 = playlist.lines().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")).unwrap().parse().unwrap();
    let mut parts = 0;
    for line in playlist.lines() {
        if line.starts_with("#EXT-X-PART:") {
            parts += 1;
        } else if line.starts_with("#EXTINF:") {
            msn += 1;
            parts = 0;
        }
    }
    (msn, parts)
}

/// The `(offset, length)` byte ranges of segment `uri`'s parts in a playlist.
fn part_ranges(playlist: &str, uri: &str) -> Vec<(u64, u64)> {
    playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:") && attribute(l, "URI").as_deref() == Some(uri))
        .map(|l| {
            let range = attribute(l, "BYTERANGE").unwrap();
            let (length, offset) = range.split_once('@').unwrap();
            (offset.parse().unwrap(), length.parse().unwrap())
        })
        .collect()
}

#[test]
fn the_multivariant_playlist_has_the_video_variant_when_manifest_ready_is_sent() {
    let server = low_latency_server();
    let publisher = start_live(&server, "mv");
    let master = get_text(&server, "/dash/mv/master.m3u8");
    let variant = master.lines().find(|l| l.starts_with("#EXT-X-STREAM-INF:")).unwrap_or_else(|| panic!("no variant:\n{master}"));
    let bandwidth: u64 = attribute(variant, "BANDWIDTH").unwrap().parse().unwrap();
    let average: u64 = attribute(variant, "AVERAGE-BANDWIDTH").unwrap().parse().unwrap();
    assert!(bandwidth >= average && average > 10_000, "{variant}");
    assert_eq!(attribute(variant, "CODECS").as_deref(), Some("avc1.42c01f,opus"), "{variant}");
    assert_eq!(attribute(variant, "RESOLUTION").as_deref(), Some("640x480"), "{variant}");
    let frame_rate: f64 = attribute(variant, "FRAME-RATE").unwrap().parse().unwrap();
    assert!((10.0..=61.0).contains(&frame_rate), "{variant}");
    assert_eq!(attribute(variant, "AUDIO").as_deref(), Some("audio"), "{variant}");
    let media = master.lines().find(|l| l.starts_with("#EXT-X-MEDIA:")).expect("the audio rendition");
    assert_eq!(attribute(media, "TYPE").as_deref(), Some("AUDIO"));
    assert_eq!(attribute(media, "GROUP-ID").as_deref(), Some("audio"));
    let audio_uri = attribute(media, "URI").unwrap();
    assert_ne!(audio_uri, video_playlist(&master));
    assert!(get_text(&server, &format!("/dash/mv/{audio_uri}")).contains("#EXT-X-MAP:URI=\"init-"));
    assert_eq!(publisher.join().unwrap()["type"], "ended");
}

#[test]
fn a_blocking_reload_is_answered_with_the_next_part_and_one_far_ahead_is_400() {
    let server = low_latency_server();
    let publisher = start_live(&server, "block");
    let video = video_playlist(&get_text(&server, "/dash/block/master.m3u8"));
    let playlist = get_text(&server, &format!("/dash/block/{video}"));
    for tag in ["#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=", "#EXT-X-PART-INF:PART-TARGET=", "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=", "#EXT-X-RENDITION-REPORT:URI=", "#EXT-X-PROGRAM-DATE-TIME:"] {
        assert!(playlist.contains(tag), "{tag} missing:\n{playlist}");
    }

    // Ask for the part after the newest, several times in a row: each is held until it exists.
    let (mut msn, mut part) = newest(&playlist);
    for _ in 0..6 {
        let answer = get_text(&server, &format!("/dash/block/{video}?_HLS_msn={msn}&_HLS_part={part}"));
        let (now_msn, now_parts) = newest(&answer);
        assert!(
            (now_msn, now_parts) > (msn, part),
            "asked for part {part} of {msn}, got a playlist whose newest is part {} of {now_msn}:\n{answer}",
            now_parts as i64 - 1
        );
        (msn, part) = (now_msn, now_parts);
    }

    let far = ureq::get(&server.url(&format!("/dash/block/{video}?_HLS_msn={}", msn + 3))).timeout(WAIT).call();
    match far {
        Err(ureq::Error::Status(400, response)) => {
            assert_eq!(response.header("cache-control"), Some("no-store"));
            assert!(response.into_string().unwrap().contains("stream block"));
        }
        other => panic!("far ahead: {other:?}"),
    }
    match ureq::get(&server.url("/dash/block/media_99.m3u8")).timeout(WAIT).call() {
        Err(ureq::Error::Status(404, response)) => assert_eq!(response.header("cache-control"), Some("no-store")),
        other => panic!("no such rendition: {other:?}"),
    }
    assert_eq!(publisher.join().unwrap()["type"], "ended");
}

#[test]
fn a_finished_stream_is_a_vod_playlist_of_every_segment_and_parts_add_up_to_the_segments() {
    let server = low_latency_server();
    let publisher = start_live(&server, "vod");
    let video = video_playlist(&get_text(&server, "/dash/vod/master.m3u8"));
    // Keep the parts of every segment as the live playlists list them.
    let mut live = Vec::new();
    let (mut msn, mut part) = newest(&get_text(&server, &format!("/dash/vod/{video}")));
    for _ in 0..200 {
        let answer = ureq::get(&server.url(&format!("/dash/vod/{video}?_HLS_msn={msn}&_HLS_part={part}"))).timeout(WAIT).call();
        let Ok(answer) = answer else { break };
        let answer = answer.into_string().unwrap();
        if answer.contains("#EXT-X-ENDLIST") {
            break;
        }
        (msn, part) = newest(&answer);
        live.push(answer);
    }
    assert_eq!(publisher.join().unwrap()["type"], "ended");

    let vod = get_text(&server, &format!("/dash/vod/{video}"));
    assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{vod}");
    assert!(vod.ends_with("#EXT-X-ENDLIST\n"), "{vod}");
    let listed: Vec<&str> = vod.lines().filter(|l| !l.starts_with('#')).collect();
    let rep = video.trim_start_matches("media_").trim_end_matches(".m3u8");
    let mut on_disk: Vec<String> = std::fs::read_dir(server.stream_dir("vod"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("chunk-") && n.contains(&format!("-{rep}-")))
        .collect();
    on_disk.sort();
    assert!(on_disk.len() >= 4, "{on_disk:?}");
    assert_eq!(listed, on_disk, "every segment, in order");
    let total: f64 = vod.lines().filter_map(|l| l.strip_prefix("#EXTINF:")).map(|d| d.trim_end_matches(',').parse::<f64>().unwrap()).sum();
    assert!((8.0..=11.0).contains(&total), "the 10 s recording: {total}");

    // Every segment whose parts a live playlist showed whole: the ranges, fetched, are the file.
    let mut checked = 0;
    for segment in &on_disk {
        let Some(ranges) = live.iter().rev().map(|p| part_ranges(p, segment)).find(|r| !r.is_empty() && live_complete(&live, segment)) else {
            continue;
        };
        let whole = server.get_bytes(&format!("/dash/vod/{segment}"));
        let mut joined = Vec::new();
        let mut expected_offset = 0;
        for (offset, length) in ranges {
            assert_eq!(offset, expected_offset, "{segment}: parts are contiguous");
            let response = ureq::get(&server.url(&format!("/dash/vod/{segment}")))
                .set("Range", &format!("bytes={offset}-{}", offset + length - 1))
                .call()
                .unwrap();
            assert_eq!(response.status(), 206);
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).unwrap();
            joined.extend(bytes);
            expected_offset = offset + length;
        }
        assert_eq!(joined, whole, "{segment}: the parts are the segment byte for byte");
        checked += 1;
    }
    assert!(checked >= 2, "parts of at least two whole segments were seen live ({checked})");
}

/// A live playlist listed `segment` as finished (its `EXTINF` with its parts still shown).
fn live_complete(live: &[String], segment: &str) -> bool {
    live.iter().any(|p| p.contains(&format!("\n{segment}\n")) && !part_ranges(p, segment).is_empty())
}

#[test]
fn vp9_and_audio_only_streams_get_their_codec_strings() {
    let server = Server::start(&["--latency", "normal"]);
    for (stream, name, mime, codecs) in [
        ("vp9", "vp9-opus.webm", "video/webm;codecs=vp9,opus", "vp09.00."),
        ("sound", "opus.webm", "audio/webm;codecs=opus", "opus"),
    ] {
        let data = std::fs::read(fixture(name)).unwrap();
        Client::publish_whole(&server, stream, mime, &data);
        let master = get_text(&server, &format!("/dash/{stream}/master.m3u8"));
        let variant = master.lines().find(|l| l.starts_with("#EXT-X-STREAM-INF:")).unwrap();
        assert!(attribute(variant, "CODECS").unwrap().starts_with(codecs), "{name}: {variant}");
        let media = get_text(&server, &format!("/dash/{stream}/{}", video_playlist(&master)));
        assert!(media.ends_with("#EXT-X-ENDLIST\n") && !media.contains("#EXT-X-PART"), "{name}: {media}");
    }
}
