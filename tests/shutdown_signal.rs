//! SIGTERM and SIGINT stop the server gracefully: every live stream is finalised (static manifest,
//! publishers told `ended`), streams waiting for a reconnect too, and the process exits 0 within 2 s.

mod common;

use std::time::{Duration, Instant};

use common::media::fixture;
use common::server::Server;
use common::ws::Client;
use common::WAIT;

fn stop_with(signal: &str) {
    let mut server = Server::start(&["--reconnect-grace", "60"]);
    let data = std::fs::read(fixture("h264-opus-10s.mkv")).unwrap();

    let mut live = Client::publish(&server, "live");
    live.start("video/x-matroska;codecs=avc1,opus");
    live.expect("accepted", WAIT);
    live.send_bytes(&data[..data.len() / 2]);
    live.expect("manifest_ready", WAIT);

    // A stream whose publisher vanished and would be waited for for a minute.
    let mut gone = Client::publish(&server, "gone");
    gone.start("video/x-matroska;codecs=avc1,opus");
    gone.expect("accepted", WAIT);
    gone.send_bytes(&data[..data.len() / 3]);
    gone.expect("manifest_ready", WAIT);
    gone.reset();
    std::thread::sleep(Duration::from_millis(300));

    let signalled = Instant::now();
    let status = server.signal_and_wait(signal, Duration::from_secs(10)).expect("the server exits");
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}\n{}", server.log());
    // Well under the reconnect grace the vanished publisher would otherwise be waited for.
    assert!(took < Duration::from_secs(6), "took {took:?} to stop");

    live.expect("ended", WAIT);
    for stream in ["live", "gone"] {
        let manifest = std::fs::read_to_string(server.stream_dir(stream).join("manifest.mpd")).unwrap();
        assert!(manifest.contains("type=\"static\""), "{stream}: {manifest}");
    }
    assert!(server.log().contains(signal), "the log names the signal:\n{}", server.log());
}

#[test]
fn sigterm_finalises_every_stream_and_exits_0() {
    stop_with("SIGTERM");
}

#[test]
fn sigint_finalises_every_stream_and_exits_0() {
    stop_with("SIGINT");
}

#[test]
fn an_idle_server_stops_at_once() {
    let mut server = Server::start(&[]);
    let signalled = Instant::now();
    let status = server.signal_and_wait("SIGTERM", Duration::from_secs(10)).expect("the server exits");
    assert!(status.success());
    assert!(signalled.elapsed() < Duration::from_secs(5), "{:?}", signalled.elapsed());
}
