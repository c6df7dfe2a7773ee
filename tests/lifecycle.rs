//! Who owns a stream's packager, and until when: a stream id stays taken (and counted) until its
//! packager thread has exited; a reconnect is `accepted` only once the packager took it; a
//! pushed-back publisher costs no thread; shutdown waits for every packager; and a presentation an
//! earlier run left live is never served as live. The packager is slowed with the hidden, test-only
//! `--test-packager-delay` (a pause before each 64 KiB piece it takes), standing in for a slow disk.

mod common;

use std::time::Duration;

use common::media::fixture;
use common::server::Server;
use common::ws::Client;
use common::WAIT;

const MIME: &str = "video/x-matroska;codecs=avc1,opus";

fn recording() -> Vec<u8> {
    std::fs::read(fixture("h264-opus-10s.mkv")).unwrap()
}

/// Publishes `data` as `messages` equal messages without waiting for the packager.
fn send_in(publisher: &mut Client, data: &[u8], messages: usize) {
    for piece in data.chunks(data.len().div_ceil(messages)) {
        assert!(publisher.send_bytes(piece));
    }
}

#[test]
fn a_stream_id_stays_taken_and_counted_until_its_slow_packager_has_exited() {
    // 20 pieces at 0.25 s each: after `stop` the packager still has 16 to take (4 s), longer than the
    // 2.5 s the publisher waits, so it is told the stream failed while the packager runs on.
    let server = Server::start(&["--test-packager-delay", "0.25", "--finalise-timeout", "2.5", "--max-streams", "1"]);
    let data = recording();
    let mut first = Client::publish(&server, "same");
    first.start(MIME);
    first.expect("accepted", WAIT);
    send_in(&mut first, &data, 20);
    first.stop();
    let error = first.expect("error", WAIT);
    assert!(error["message"].as_str().unwrap().contains("took too long"), "{error}");

    // Its packager still runs: it holds the only slot...
    let mut other = Client::publish(&server, "other");
    other.start(MIME);
    let refused = other.expect("error", WAIT);
    assert_eq!(refused["code"], "too_large", "a running packager counts toward --max-streams: {refused}");

    // ...and the stream id: a new publisher gets it only once the old packager has exited.
    let mut second = Client::publish(&server, "same");
    second.start(MIME);
    second.expect("accepted", WAIT);
    second.send_bytes(&data);
    second.stop();
    second.expect("ended", WAIT);
    let log = server.log();
    let old_ended = log.find("stream same: ended").expect("the old packager finished its recording");
    let publishing: Vec<_> = log.match_indices("stream same: publishing").map(|(at, _)| at).collect();
    assert_eq!(publishing.len(), 2, "{log}");
    assert!(old_ended < publishing[1], "the second publisher was accepted while the first packager ran:\n{log}");

    // The folder holds the second presentation only: its manifest, and every file it names.
    let dir = server.stream_dir("same");
    let manifest = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
    assert!(manifest.contains("type=\"static\""), "{manifest}");
    let tags: std::collections::BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_prefix("chunk-").map(|rest| rest.split('-').next().unwrap().to_string()))
        .collect();
    assert_eq!(tags.len(), 1, "segments of one presentation: {tags:?}");
    let tag = tags.first().unwrap();
    assert!(manifest.contains(&format!("chunk-{tag}-")), "the manifest names the segments on disk ({tag}):\n{manifest}");
}

#[test]
fn a_reconnect_the_packager_can_no_longer_take_starts_a_new_presentation() {
    // No grace: a vanished publisher's presentation is finalised once its packager has read what was
    // sent. A publisher coming back while that happens (4 s here) must not be told `accepted` for a
    // presentation that will never read its bytes.
    let server = Server::start(&["--reconnect-grace", "0", "--test-packager-delay", "0.25"]);
    let data = recording();
    let first_part = &data[..data.len() * 4 / 10];
    let mut first = Client::publish(&server, "late");
    first.start(MIME);
    first.expect("accepted", WAIT);
    send_in(&mut first, first_part, 20);
    server.wait_until_received("late", first_part.len());
    first.reset();
    for _ in 0..200 {
        let listing: serde_json::Value = server.get("/api/streams").into_json().unwrap();
        if listing[0]["publisherConnected"] == false {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }

    let mut again = Client::publish(&server, "late");
    again.start(MIME);
    again.expect("accepted", WAIT);
    assert!(again.send_bytes(&data));
    again.stop();
    let ended = again.expect("ended", WAIT);
    let duration = ended["durationSeconds"].as_f64().unwrap();
    assert!(duration > 9.0, "the reconnected publisher's 10 s were packaged, not dropped: {ended}");
}

/// Threads of the server's blocking pools (tokio names them `tokio-rt-worker`; actix's own threads
/// are `actix-*`, packagers `pkg-*`).
fn blocking_pool_threads(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|name| name.trim() == "tokio-rt-worker")
        .count()
}

#[test]
fn pushed_back_publishers_hold_no_thread() {
    // The packager takes its first piece after 30 s: every publisher's channel fills and stays full.
    let server = Server::start(&["--test-packager-delay", "30"]);
    let data = recording();
    const PUBLISHERS: usize = 12;
    const MESSAGES: usize = 24;
    let message = data.len().div_ceil(MESSAGES);
    let mut publishers = Vec::new();
    for i in 0..PUBLISHERS {
        let mut publisher = Client::publish(&server, &format!("pushed-{i}"));
        publisher.start(MIME);
        publisher.expect("accepted", WAIT);
        publishers.push(publisher);
    }
    let before = blocking_pool_threads(&server);
    for publisher in &mut publishers {
        send_in(publisher, &data, MESSAGES);
    }
    // 16 pieces fill the channel and a 17th is taken off the socket; the rest waits in TCP buffers.
    for i in 0..PUBLISHERS {
        server.wait_until_received(&format!("pushed-{i}"), 17 * message);
    }
    let during = blocking_pool_threads(&server);
    assert!(
        during < before + PUBLISHERS / 2,
        "{PUBLISHERS} pushed-back publishers took {} blocking-pool threads ({before} before)",
        during - before.min(during)
    );
}

#[test]
fn shutdown_waits_for_a_slow_packager_and_a_pushed_back_publisher_hears_it() {
    let mut server = Server::start(&["--test-packager-delay", "0.15"]);
    let data = recording();
    let mut publisher = Client::publish(&server, "slow");
    publisher.start(MIME);
    publisher.expect("accepted", WAIT);
    send_in(&mut publisher, &data, 40);
    server.wait_until_received("slow", 17 * data.len().div_ceil(40));
    // The packager needs 16 × 0.15 s to take what is queued: longer than the old fixed 1.5 s wait.
    let status = server.signal_and_wait("SIGTERM", WAIT).expect("the server exits");
    assert!(status.success(), "{status:?}\n{}", server.log());
    publisher.expect("ended", WAIT);
    let dir = server.stream_dir("slow");
    let manifest = std::fs::read_to_string(dir.join("manifest.mpd")).unwrap();
    assert!(manifest.contains("type=\"static\""), "finalised before the exit:\n{manifest}");
    let unfinished: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(unfinished.is_empty(), "{unfinished:?}");
}

#[test]
fn a_presentation_left_live_by_a_crash_is_not_served_as_live_after_a_restart() {
    let server = Server::start(&["--segment-duration", "1"]);
    let data = recording();
    let mut publisher = Client::publish(&server, "crashed");
    publisher.start(MIME);
    publisher.expect("accepted", WAIT);
    publisher.send_paced(&data[..data.len() / 2], 4000, Duration::from_secs(2));
    publisher.expect("manifest_ready", WAIT);
    let manifest = std::fs::read_to_string(server.stream_dir("crashed").join("manifest.mpd")).unwrap();
    assert!(manifest.contains("type=\"dynamic\""), "live when the server died:\n{manifest}");

    let server = server.kill_and_restart(&[]);
    let response = server.get("/dash/crashed/manifest.mpd");
    let body = response.into_string().unwrap_or_default();
    assert!(!body.contains("type=\"dynamic\""), "an interrupted presentation was served as live:\n{body}");
    let dir = server.stream_dir("crashed");
    assert!(dir.join("manifest.mpd.interrupted").exists(), "kept for recovery by hand");
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    assert!(server.log().contains("crashed"), "the log names the stream:\n{}", server.log());

    // The id can be published again.
    let ended = Client::publish_whole(&server, "crashed", MIME, &data);
    assert!(ended["durationSeconds"].as_f64().unwrap() > 9.0, "{ended}");
}

#[test]
fn run_in_process_stops_when_its_shutdown_future_resolves_with_every_stream_finalised() {
    use clap::Parser;
    use tungstenite::Message;

    let media = tempfile::tempdir().unwrap();
    let config = livedash::config::Config::try_parse_from([
        "livedash".as_ref(),
        "--media-dir".as_ref(),
        media.path().as_os_str(),
        "--test-packager-delay".as_ref(),
        "0.2".as_ref(),
    ])
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(livedash::server::run(config, listener, async move {
            let _ = stopped.await;
        }))
    });

    let (mut socket, _) = tungstenite::connect(format!("ws://{addr}/ws/publish/inproc")).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream.set_read_timeout(Some(WAIT)).unwrap();
    }
    socket.send(Message::text(format!(r#"{{"type":"start","mimeType":"{MIME}"}}"#))).unwrap();
    let accepted = socket.read().unwrap();
    assert!(accepted.to_text().unwrap().contains("accepted"), "{accepted}");
    let data = recording();
    let message = data.len().div_ceil(30);
    for piece in data.chunks(message) {
        socket.send(Message::binary(piece.to_vec())).unwrap();
    }
    // Shut down once the channel is full (16 pieces) and a 17th waits: 3.2 s of packaging left.
    let received = || -> u64 {
        let listing: serde_json::Value = ureq::get(&format!("http://{addr}/api/streams")).call().unwrap().into_json().unwrap();
        listing[0]["bytesReceived"].as_u64().unwrap_or(0)
    };
    for _ in 0..200 {
        if received() >= 17 * message as u64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.send(()).unwrap();
    let ended = (0..20).find_map(|_| match socket.read() {
        Ok(Message::Text(text)) if text.contains("ended") => Some(text.to_string()),
        Ok(_) => None,
        Err(_) => Some(String::new()),
    });
    // `run` returns only once the packager has finished: the manifest is final when it does.
    server.join().unwrap().unwrap();
    assert!(ended.is_some_and(|m| m.contains("ended")), "the publisher was told the stream ended");
    let manifest = std::fs::read_to_string(media.path().join("inproc/manifest.mpd")).unwrap();
    assert!(manifest.contains("type=\"static\""), "{manifest}");
}
