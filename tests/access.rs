//! Publishing can require a token (`--publish-token`, `?token=`); watching never does. Without the right
//! token a publisher gets `unauthorized` (401 for plain HTTP), and the token never reaches the logs.

mod common;

use common::media::fixture;
use common::server::Server;
use common::ws::Client;
use common::WAIT;

const TOKEN: &str = "s3cret-Token_42";

fn refused(server: &Server, path: &str) -> String {
    let mut client = Client::connect(server, path);
    let error = client.expect("error", WAIT);
    assert_eq!(error["code"], "unauthorized", "{path}: {error}");
    assert_eq!(client.expect_close(WAIT), 1008);
    error["message"].as_str().unwrap().to_string()
}

#[test]
fn publishing_needs_the_token_and_watching_does_not() {
    let server = Server::start_with_env(&["--access-log"], &[("LIVEDASH_PUBLISH_TOKEN", TOKEN)]);
    let message = refused(&server, "/ws/publish/private");
    assert!(message.contains("?token="), "says how to pass it: {message}");
    for wrong in ["guess", "s3cret-Token_4", "s3cret-Token_420", "S3CRET-TOKEN_42", "%20s3cret-Token_42", ""] {
        refused(&server, &format!("/ws/publish/private?token={wrong}"));
    }
    assert_eq!(server.get("/ws/publish/private").status(), 401, "plain HTTP without a token");
    assert_eq!(server.get("/ws/publish/private?token=nope").status(), 401);
    assert!(server.registry_is_empty(), "nothing was created for refused publishers");

    let mut viewer = Client::watch(&server, "private");
    let mut publisher = Client::connect(&server, &format!("/ws/publish/private?token={TOKEN}"));
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", WAIT);
    publisher.send_bytes(&std::fs::read(fixture("h264-opus.mkv")).unwrap());
    publisher.stop();
    publisher.expect("ended", WAIT);
    viewer.expect("ended", WAIT);
    assert_eq!(server.get("/dash/private/manifest.mpd").status(), 200, "the stream id is public, the token is not");

    let log = server.log();
    assert!(log.contains("/ws/publish/private"), "requests are logged:\n{log}");
    assert!(!log.contains(TOKEN) && !log.contains("guess") && !log.contains("token="), "no token in the logs:\n{log}");
}

#[test]
fn the_publisher_page_knows_whether_a_token_is_needed() {
    let open = Server::start(&[]);
    assert!(open.get("/").into_string().unwrap().contains(r#""tokenRequired":false"#));
    let closed = Server::start_with_env(&[], &[("LIVEDASH_PUBLISH_TOKEN", TOKEN)]);
    let page = closed.get("/").into_string().unwrap();
    assert!(page.contains(r#""tokenRequired":true"#));
    assert!(!page.contains(TOKEN), "the page never carries the token itself");
}
