//! Publish rights per stream: tokens signed with `--publish-secret` (minted by `livedash token`) let
//! their holder publish one stream id until they expire, beside the global `--publish-token`; the
//! admission webhook (`--auth-webhook`) is asked before a publisher is accepted and fails closed.
//! A refused publisher gets `unauthorized` with a sentence, and nothing is created for it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::media::fixture;
use common::server::Server;
use common::ws::Client;
use common::WAIT;
use livedash::auth::{token, unix_now};
use livedash::stream_id::StreamId;

const SECRET: &str = "correct horse battery staple";
const MIME: &str = "video/x-matroska;codecs=avc1,opus";

/// Publishes with `?token=`; returns the first answer to `start` (`accepted` or `error`).
fn try_publish(server: &Server, stream: &str, token: &str) -> (Client, serde_json::Value) {
    let mut client = Client::connect(server, &format!("/ws/publish/{stream}?token={token}"));
    client.start(MIME);
    let answer = client.next(WAIT).unwrap_or_else(|| panic!("{stream}: no answer, close code {:?}", client.close_code));
    (client, answer)
}

fn unauthorized(server: &Server, stream: &str, token: &str) -> String {
    let (mut client, answer) = try_publish(server, stream, token);
    assert_eq!(answer["code"], "unauthorized", "{stream}: {answer}");
    assert_eq!(client.expect_close(WAIT), 1008);
    answer["message"].as_str().unwrap().to_string()
}

/// `livedash token STREAM --ttl TTL`, the real command, with the secret from the environment.
fn mint_with_the_command(stream: &str, ttl: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_livedash"))
        .args(["token", stream, "--ttl", ttl])
        .env("LIVEDASH_PUBLISH_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn signed_tokens_grant_one_stream_until_they_expire() {
    let server = Server::start_with_env(&["--access-log"], &[("LIVEDASH_PUBLISH_SECRET", SECRET), ("LIVEDASH_PUBLISH_TOKEN", "global-token")]);
    assert!(server.get("/").into_string().unwrap().contains(r#""tokenRequired":true"#));
    let cam = mint_with_the_command("cam", "1h");

    let (mut publisher, answer) = try_publish(&server, "cam", &cam);
    assert_eq!(answer["type"], "accepted", "{answer}");
    assert!(publisher.send_bytes(&std::fs::read(fixture("h264-opus.mkv")).unwrap()));
    publisher.stop();
    publisher.expect("ended", WAIT);

    let message = unauthorized(&server, "other", &cam);
    assert!(message.contains("not valid for stream other"), "{message}");
    let expired = token::mint(SECRET.as_bytes(), &StreamId::parse("cam").unwrap(), unix_now() - 60);
    let message = unauthorized(&server, "cam", &expired);
    assert!(message.contains("expired"), "{message}");
    let forged = token::mint(b"not the secret", &StreamId::parse("cam").unwrap(), unix_now() + 3600);
    unauthorized(&server, "cam", &forged);
    let message = unauthorized(&server, "cam", "");
    assert!(message.contains("?token="), "{message}");
    let (_, answer) = try_publish(&server, "global", "global-token");
    assert_eq!(answer["type"], "accepted", "the global token still works: {answer}");

    let log = server.log();
    for secret in [cam.as_str(), expired.as_str(), forged.as_str(), SECRET, "global-token"] {
        assert!(!log.contains(secret), "a token reached the log:\n{log}");
    }
}

/// A tiny HTTP server on loopback standing in for an auth service: records each request body and
/// answers by the stream asked about — `yes*` 204, `slow*` after 10 s, anything else 403.
fn auth_service() -> (SocketAddr, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&asked);
    std::thread::spawn(move || {
        for connection in listener.incoming().take(20).flatten() {
            let record = Arc::clone(&record);
            std::thread::spawn(move || {
                connection.set_read_timeout(Some(WAIT)).unwrap();
                let mut reader = BufReader::new(connection.try_clone().unwrap());
                let mut length = 0;
                for _ in 0..100 {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let stream = body["stream"].as_str().unwrap_or_default().to_string();
                record.lock().unwrap().push(body);
                let status = if stream.starts_with("yes") {
                    "204 No Content"
                } else if stream.starts_with("slow") {
                    std::thread::sleep(Duration::from_secs(10));
                    "204 No Content"
                } else {
                    "403 Forbidden"
                };
                let mut connection = connection;
                let _ = write!(connection, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            });
        }
    });
    (addr, asked)
}

#[test]
fn the_admission_webhook_admits_refuses_and_fails_closed() {
    let (auth, asked) = auth_service();
    let server = Server::start(&["--auth-webhook", &format!("http://{auth}/on_publish")]);

    let (mut publisher, answer) = try_publish(&server, "yes-cam", "their-token");
    assert_eq!(answer["type"], "accepted", "{answer}");
    publisher.stop();
    let request = asked.lock().unwrap()[0].clone();
    assert_eq!(
        request,
        serde_json::json!({"stream": "yes-cam", "mimeType": MIME, "remoteAddr": "127.0.0.1", "token": "their-token"})
    );

    let message = unauthorized(&server, "no-cam", "x");
    assert!(message.contains("no-cam") && message.contains("refused") && message.contains("403"), "{message}");
    let started = Instant::now();
    let message = unauthorized(&server, "slow-cam", "x");
    assert!(message.contains("did not answer"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10), "the publisher was not held until the service answered");
    let listing = server.get("/api/streams").into_string().unwrap();
    assert!(!listing.contains("no-cam") && !listing.contains("slow-cam"), "refused publishers created nothing: {listing}");

    // An auth service that is down refuses everyone.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let down = Server::start(&["--auth-webhook", &format!("http://{closed}/on_publish")]);
    let message = unauthorized(&down, "yes-anyway", "x");
    assert!(message.contains("could not be reached"), "{message}");
}
