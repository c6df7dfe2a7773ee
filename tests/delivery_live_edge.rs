//! The live edge fanned out once: every viewer of a segment still being written gets the same bytes,
//! read from disk once; a byte range of it streams as the bytes arrive; a response that cannot be
//! completed is aborted, never ended cleanly; only the live edge of the current presentation waits.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};

use common::WAIT;
use common::live::{in_progress_segment, number, renumbered, start_ten_seconds};
use common::server::Server;

#[test]
fn twenty_viewers_of_one_in_progress_segment_get_the_finished_file_read_once() {
    let server = Server::start(&["--latency", "low", "--segment-duration", "2", "--fragment-duration", "0.25"]);
    let dir = server.stream_dir("crowd");
    let publisher = start_ten_seconds(&server, "crowd");
    let segment = in_progress_segment(&dir, 0, 1);
    let name = segment.file_name().unwrap().to_str().unwrap().to_string();

    let url = server.url(&format!("/dash/crowd/{name}"));
    let start = Arc::new(Barrier::new(20));
    let viewers: Vec<_> = (0..20)
        .map(|_| {
            let (url, start) = (url.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let response = ureq::get(&url).timeout(WAIT).call().unwrap();
                assert!(response.header("cache-control").unwrap().contains("public"), "cacheable while in progress");
                let chunked = response.header("transfer-encoding") == Some("chunked");
                let mut body = Vec::new();
                response.into_reader().read_to_end(&mut body).unwrap();
                (chunked, body)
            })
        })
        .collect();
    let bodies: Vec<(bool, Vec<u8>)> = viewers.into_iter().map(|v| v.join().unwrap()).collect();
    let finished = std::fs::read(&segment).unwrap();
    assert!(bodies.iter().any(|(chunked, _)| *chunked), "some viewers were served while it was being written");
    for (i, (_, body)) in bodies.iter().enumerate() {
        assert_eq!(body.len(), finished.len(), "viewer {i}");
        assert!(body == &finished, "viewer {i}: byte for byte the finished segment");
    }
    let read = server.metric("livedash_live_edge_read_bytes_total");
    assert!(read <= finished.len() as u64, "read {read} bytes from disk for a {} byte segment and 20 viewers", finished.len());
    assert_eq!(server.metric("livedash_segment_requests_total"), 20);
    publisher.join().unwrap();
}

#[test]
fn byte_ranges_of_an_in_progress_segment_stream_as_the_bytes_arrive() {
    let server = Server::start(&["--latency", "low", "--segment-duration", "2", "--fragment-duration", "0.25"]);
    let dir = server.stream_dir("parts");
    let publisher = start_ten_seconds(&server, "parts");
    let segment = in_progress_segment(&dir, 0, 1);
    let name = segment.file_name().unwrap().to_str().unwrap().to_string();
    let url = server.url(&format!("/dash/parts/{name}"));

    let open_ended = ureq::get(&url).set("Range", "bytes=100-").timeout(WAIT).call().unwrap();
    let bounded = ureq::get(&url).set("Range", "bytes=0-499").timeout(WAIT).call().unwrap();
    // A 206 must name its last byte, unknown until the segment is finished: `bytes=100-` is answered
    // with the whole segment, streamed as it is written (a 200 to a Range request is allowed).
    assert_eq!(open_ended.status(), 200);
    assert_eq!(open_ended.header("content-range"), None);
    assert_eq!(bounded.status(), 206);
    assert_eq!(bounded.header("content-range"), Some("bytes 0-499/*"), "length not known yet");
    let mut whole = Vec::new();
    open_ended.into_reader().read_to_end(&mut whole).unwrap();
    let mut head = Vec::new();
    bounded.into_reader().read_to_end(&mut head).unwrap();
    let finished = std::fs::read(&segment).unwrap();
    assert_eq!(whole, finished, "bytes=100- of a growing segment is the whole finished segment");
    assert_eq!(head, finished[..500]);
    publisher.join().unwrap();
}

/// Reads a raw HTTP/1.1 response until the server closes the connection or the chunked terminator
/// arrives (bounded by WAIT); returns everything read and whether it ended with the terminator.
fn read_chunked(stream: &mut TcpStream, on_first_body: impl FnOnce()) -> (Vec<u8>, bool) {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let mut on_first_body = Some(on_first_body);
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return (response, false),
            Ok(n) => response.extend_from_slice(&buffer[..n]),
        }
        if let Some(headers_end) = response.windows(4).position(|w| w == b"\r\n\r\n")
            && response.len() > headers_end + 4
            && let Some(callback) = on_first_body.take()
        {
            callback();
        }
        if response.ends_with(b"\r\n0\r\n\r\n") {
            return (response, true);
        }
    }
}

#[test]
fn an_in_progress_response_that_cannot_be_completed_is_aborted_not_ended() {
    let server = Server::start(&["--latency", "low", "--segment-duration", "2", "--reconnect-grace", "0"]);
    let dir = server.stream_dir("cut");
    let publisher = start_ten_seconds(&server, "cut");
    let segment = in_progress_segment(&dir, 0, 1);
    let name = segment.file_name().unwrap().to_str().unwrap().to_string();

    let mut stream = TcpStream::connect(server.addr).unwrap();
    write!(stream, "GET /dash/cut/{name} HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr).unwrap();
    // Once bytes flow, the segment goes away before it is finished.
    let temp = dir.join(format!("{name}.tmp"));
    let (response, ended_cleanly) = read_chunked(&mut stream, || std::fs::remove_file(&temp).unwrap());
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200") && text.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{text:.300}");
    assert!(!ended_cleanly, "a segment that was never finished must not look whole to a player or cache");
    assert!(!segment.exists());
    publisher.join().unwrap();
}

#[test]
fn only_the_live_edge_of_the_current_presentation_waits() {
    // 30 s segments: a request that waits would wait half a minute, far beyond the client's bound.
    let server = Server::start(&["--latency", "low", "--segment-duration", "30"]);
    let dir = server.stream_dir("edge");
    let publisher = start_ten_seconds(&server, "edge");
    let segment = in_progress_segment(&dir, 0, 0);
    let name = segment.file_name().unwrap().to_str().unwrap().to_string();
    let n = number(&name);
    let other_tag = name.replacen(name.split('-').nth(1).unwrap(), "zzzz", 1);
    for far in [renumbered(&name, n + 50), renumbered(&name, n + 3), other_tag] {
        let response = ureq::get(&server.url(&format!("/dash/edge/{far}"))).timeout(WAIT).call();
        match response {
            Err(ureq::Error::Status(404, response)) => {
                assert_eq!(response.header("cache-control"), Some("no-store"), "{far}");
            }
            other => panic!("{far}: expected a 404 at once, got {other:?}"),
        }
    }
    publisher.join().unwrap();
}
