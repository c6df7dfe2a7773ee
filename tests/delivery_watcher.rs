//! The media-folder watcher: a stream that never becomes ready does not make the server spin (issue 11,
//! item 2: reacting to the readiness check's own open of the manifest re-ran the check forever), and
//! hundreds of streams share one inotify instance.

mod common;

use std::time::Duration;

use common::WAIT;
use common::live::start_live;
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
    let publisher = start_live(&server, "mute", recording, Duration::from_secs(10));

    // Wait for the manifest and video segments: the state in which every event re-ran the check.
    let dir = server.stream_dir("mute");
    // The audio track is declared first, so the video is representation 1.
    common::live::in_progress_segment(&dir, 1, 2);
    assert!(dir.join("manifest.mpd").exists());
    let listing: serde_json::Value = server.get("/api/streams").into_json().unwrap();
    assert_eq!(listing[0]["state"], "starting", "never playable: its audio never comes");

    // Over four seconds of publishing at real-time pace, a spinning watcher burns a whole core (about
    // 4 s of CPU); the work this stream really needs is a small fraction of that.
    let before = cpu_seconds(server.pid());
    std::thread::sleep(Duration::from_secs(4));
    let used = cpu_seconds(server.pid()) - before;
    assert!(used < 1.5, "the server used {used:.2} s of CPU in 4 s for one idle-ish stream");
    publisher.join().unwrap();
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
