//! Cross-site WebSocket hijacking: a web page from another origin can't make a visitor's browser
//! publish. `/ws/publish` refuses a handshake whose `Origin` is not this server's own or listed in
//! `--allowed-origins` with 403 before the upgrade; programs (no `Origin`) and viewers are unaffected.

mod common;

use common::server::Server;
use common::ws::Client;
use common::WAIT;

const MIME: &str = "video/x-matroska;codecs=avc1,opus";

fn publish_from(server: &Server, stream: &str, origin: &str) -> Result<Client, (u16, String)> {
    Client::connect_with_headers(server, &format!("/ws/publish/{stream}"), &[("Origin", origin)])
}

fn accepted(mut client: Client) {
    client.start(MIME);
    client.expect("accepted", WAIT);
    client.stop();
}

#[test]
fn a_page_from_another_origin_cannot_publish() {
    let server = Server::start(&[]);
    for origin in ["https://evil.example", "null", "http://127.0.0.1.evil.example", &format!("http://127.0.0.2:{}", server.addr.port())] {
        let Err((status, body)) = publish_from(&server, "victim", origin) else { panic!("{origin} could publish") };
        assert_eq!(status, 403, "{origin}");
        assert!(body.contains("--allowed-origins") && body.contains("victim"), "says why: {body}");
    }
    assert!(server.registry_is_empty(), "nothing was created for refused pages");
    let metrics = server.get("/metrics").into_string().unwrap();
    assert!(metrics.contains("livedash_publishes_total{result=\"refused\"} 4"), "{metrics}");

    // This server's own pages, and programs that send no Origin, may publish.
    accepted(publish_from(&server, "own", &format!("http://{}", server.addr)).expect("the server's own origin"));
    let localhost = format!("localhost:{}", server.addr.port());
    let by_name = Client::connect_with_headers(&server, "/ws/publish/by-name", &[("Host", &localhost), ("Origin", &format!("http://{localhost}"))]);
    accepted(by_name.expect("the host the page was loaded from"));
    accepted(Client::publish(&server, "program"));

    // Viewing is read-only and public: any page may open a viewer socket.
    let mut viewer = Client::connect_with_headers(&server, "/ws/watch/own", &[("Origin", "https://evil.example")]).expect("viewers from any page");
    assert!(viewer.send_ping());
}

#[test]
fn allowed_origins_admit_the_listed_pages() {
    let server = Server::start_with_env(&[], &[("LIVEDASH_ALLOWED_ORIGINS", "https://app.example.com,https://studio.example.com:8443")]);
    accepted(publish_from(&server, "app", "https://app.example.com").expect("a listed origin"));
    accepted(publish_from(&server, "studio", "https://studio.example.com:8443").expect("a listed origin"));
    assert_eq!(publish_from(&server, "plain", "http://app.example.com").err().map(|e| e.0), Some(403), "the scheme counts");
    assert_eq!(publish_from(&server, "evil", "https://evil.example").err().map(|e| e.0), Some(403));
    accepted(publish_from(&server, "own", &format!("http://{}", server.addr)).expect("the server's own pages still work"));

    let open = Server::start(&["--allowed-origins", "*"]);
    accepted(publish_from(&open, "anyone", "https://evil.example").expect("* allows every page"));
}

#[test]
fn with_a_public_url_its_origin_is_the_servers_own() {
    let server = Server::start(&["--public-url", "https://live.example.com"]);
    accepted(publish_from(&server, "public", "https://live.example.com").expect("the public origin"));
    assert_eq!(publish_from(&server, "direct", &format!("http://{}", server.addr)).err().map(|e| e.0), Some(403));
}
