//! Nobody holds a slot for free: a publisher that only pings (or sends text) is idle and finalised
//! after `--idle-timeout`; viewer sockets are bounded per client address (`--max-viewers-per-address`,
//! 429) and in total (`--max-viewers`, 503), and a viewer that doesn't answer the server's pings is
//! closed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::media::fixture;
use common::server::Server;
use common::ws::Client;
use common::WAIT;

#[test]
fn a_publisher_that_only_pings_is_finalised_after_the_idle_timeout() {
    let server = Server::start(&["--idle-timeout", "1"]);
    let data = std::fs::read(fixture("h264-opus.mkv")).unwrap();
    let mut publisher = Client::publish(&server, "pinger");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    assert!(publisher.send_bytes(&data[..data.len() / 2]));
    // Then only pings and text, several per idle timeout, until the stream ends (bounded).
    let deadline = Instant::now() + WAIT;
    let mut ended = None;
    while ended.is_none() && Instant::now() < deadline {
        if !publisher.send_ping() {
            break;
        }
        publisher.send_text(r#"{"type":"start","mimeType":"video/x-matroska;codecs=avc1,opus"}"#);
        ended = publisher.next(Duration::from_millis(200)).filter(|m| m["type"] == "ended");
    }
    let ended = ended.unwrap_or_else(|| panic!("pings kept the stream alive; received {:?}", publisher.received));
    assert!(ended["durationSeconds"].as_f64().unwrap() > 1.0, "what was received is a recording: {ended}");
    assert!(server.log().contains("no media bytes from the publisher"), "{}", server.log());
}

#[test]
fn viewer_sockets_are_bounded_per_address_and_in_total() {
    let server = Server::start(&["--max-viewers-per-address", "2"]);
    let first = Client::watch(&server, "show");
    let _second = Client::watch(&server, "show");
    let (status, body) = Client::connect_with_headers(&server, "/ws/watch/show", &[]).err().expect("a third viewer from one address");
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("at most 2"), "{body}");
    // A closed viewer gives its slot back (once the server has seen the close).
    drop(first);
    let again = (0..100).find_map(|_| {
        let attempt = Client::connect_with_headers(&server, "/ws/watch/show", &[]).ok();
        if attempt.is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        attempt
    });
    assert!(again.is_some(), "the closed viewer's slot was not given back");

    let small = Server::start(&["--max-viewers", "2"]);
    let _a = Client::watch(&small, "show");
    let _b = Client::watch(&small, "other");
    let (status, body) = Client::connect_with_headers(&small, "/ws/watch/show", &[]).err().expect("a viewer over --max-viewers");
    assert_eq!(status, 503, "{body}");
}

/// A viewer socket opened by hand, which never answers a ping: returns true when the server closes it
/// (a close frame or the end of the connection) within `WAIT`.
fn silent_viewer_is_closed(server: &Server) -> bool {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET /ws/watch/show HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return false,
        }
        let Some(head_end) = received.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        assert!(received.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&received));
        // Server frames are unmasked: opcode in the first byte, a short length in the second.
        let mut frames = &received[head_end + 4..];
        while frames.len() >= 2 && frames.len() >= 2 + (frames[1] & 0x7f) as usize {
            if frames[0] & 0x0f == 0x8 {
                return true;
            }
            frames = &frames[2 + (frames[1] & 0x7f) as usize..];
        }
    }
    false
}

#[test]
fn a_viewer_that_does_not_answer_pings_is_closed_and_one_that_does_stays() {
    let server = Server::start(&["--viewer-ping-interval", "2"]);
    let mut answering = Client::watch(&server, "show");
    // The answering viewer reads (and so answers pings) on its own thread meanwhile.
    let reader = std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(6);
        while Instant::now() < until && answering.close_code.is_none() {
            answering.next(Duration::from_millis(100));
        }
        answering.close_code
    });
    assert!(silent_viewer_is_closed(&server), "a viewer that never answers pings was kept open");
    assert_eq!(reader.join().unwrap(), None, "a viewer that answers pings was closed");
    assert!(server.log().contains("did not answer a ping"), "{}", server.log());
}
