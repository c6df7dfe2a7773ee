//! The media-folder watcher: a stream that never becomes ready does not make the server spin (issue 11,
//! item 2: reacting to the readiness check's own open of the manifest re-ran the check forever), and
//! hundreds of streams share one inotify instance.

mod common;

use std::time::Duration;

use common::WAIT;
use common::media::audio_declared_never_sent;
use common::server::Server;
use common::ws::Client;

/// CPU seconds (user + system) the process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

#[test]
fn a_stream_that_declares_audio_but_never_sends_any_does_not_spin_the_server() {
    let scratch = tempfile::tempdir().unwrap();
    let recording = std::fs::read(audio_declared_never_sent("h264-opus-10s.mkv", scratch.path())).unwrap();
    let server = Server::start(&["--latency", "low", "--segment-duration", "1"]);
    let mut publisher = Client::publish(&server, "mute");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    // All of it at once, then the publisher stays connected and sends nothing more (within the idle
    // timeout): from then on the stream has no work at all.
    assert!(publisher.send_bytes(&recording));
    let dir = server.stream_dir("mute");
    // The audio track is declared first, so the video is representation 1; its last segment stays
    // open while the publisher is connected.
    common::live::in_progress_segment(&dir, 1, 3);
    assert!(dir.join("manifest.mpd").exists());
    std::thread::sleep(Duration::from_millis(500));
    let listing: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    assert_eq!(listing[0]["state"], "starting", "never playable: its audio never comes");

    // Idle, the server should use next to no CPU. A watcher that reacts to the readiness check's own
    // open of the manifest re-runs the check forever: a core's worth of CPU (3 s in 3 s; 0.4 s measured on a
    // 2-core machine at load 15, where the spinning thread got a seventh of a core). Idle it is 0.00 s.
    let before = cpu_seconds(server.pid());
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_seconds(server.pid()) - before;
    assert!(used < 0.2, "the server used {used:.2} s of CPU in 3 s with one idle stream");
}

#[test]
fn three_hundred_publishers_at_once_on_defaults_are_all_accepted() {
    let server = Server::start(&[]);
    let mut publishers: Vec<Client> = (0..300).map(|i| Client::publish(&server, &format!("crowd-{i}"))).collect();
    for publisher in &mut publishers {
        publisher.start("video/x-matroska;codecs=avc1,opus");
    }
    for (i, publisher) in publishers.iter_mut().enumerate() {
        let accepted = publisher.expect("accepted", WAIT);
        assert_eq!(accepted["stream"], format!("crowd-{i}"), "{accepted}");
    }
    let metrics = server.get("/metrics").into_string().unwrap();
    assert!(metrics.contains("livedash_streams{state=\"starting\"} 300"), "{metrics}");
}
