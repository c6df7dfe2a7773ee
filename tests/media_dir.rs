//! The media folder as people give it: the default `./media` is relative to where the server runs.

mod common;

use std::time::Duration;

use common::media::fixture;
use common::server::Server;
use common::ws::Client;
use common::WAIT;

#[test]
fn a_relative_media_folder_goes_live_while_the_publisher_is_still_sending() {
    let server = Server::start_with_relative_media_dir(&["--segment-duration", "1"]);
    let data = std::fs::read(fixture("h264-opus-10s.mkv")).unwrap();
    let mut publisher = Client::publish(&server, "relative");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    // Half the recording at about real-time pace, and no `stop`: the stream must be live by now.
    publisher.send_paced(&data[..data.len() / 2], 16 * 1024, Duration::from_secs(4));
    publisher.expect("manifest_ready", WAIT);
    let manifest = server.get("/dash/relative/manifest.mpd").into_string().unwrap();
    assert!(manifest.contains("type=\"dynamic\""), "live, not yet a recording: {manifest}");
    publisher.send_bytes(&data[data.len() / 2..]);
    publisher.stop();
    publisher.expect("ended", WAIT);
    assert!(server.stream_dir("relative").join("manifest.mpd").exists());
}
