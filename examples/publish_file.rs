//! Publishes a recording file to a livedash server over the WebSocket protocol, at real-time pace or
//! as fast as possible, and prints every message the server sends. Exits 0 once the server says
//! `ended`, 1 on an `error` or a lost connection.
//!
//!   cargo run --example publish_file -- ws://127.0.0.1:8080/ws/publish/demo \
//!       tests/fixtures/recorder/h264-opus.mkv 'video/x-matroska;codecs=avc1,opus' [--seconds 4]
//!
//! `--seconds N` spreads the file over N seconds (default: send at once). Messages from the server are
//! printed as they arrive, also while sending.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Error, Message, WebSocket, connect};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Prints a server message; exits on `ended` (0), `error` or a close (1).
fn handle(message: Message) {
    match message {
        Message::Text(text) => {
            println!("{text}");
            let message: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            match message["type"].as_str() {
                Some("ended") => std::process::exit(0),
                Some("error") => std::process::exit(1),
                _ => {}
            }
        }
        Message::Close(frame) => {
            eprintln!("closed by the server: {frame:?}");
            std::process::exit(1);
        }
        _ => {}
    }
}

/// Reads server messages until none arrives within the socket's read timeout.
fn read_messages(socket: &mut Socket) {
    loop {
        match socket.read() {
            Ok(message) => handle(message),
            Err(Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return;
            }
            Err(e) => {
                eprintln!("connection lost: {e}");
                std::process::exit(1);
            }
        }
    }
}

fn set_read_timeout(socket: &Socket, timeout: Duration) {
    if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream.set_read_timeout(Some(timeout)).expect("setting the read timeout");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, file, mime, ..] = &args[..] else {
        eprintln!("usage: publish_file <ws://host:port/ws/publish/stream> <file> <mimeType> [--seconds N]");
        std::process::exit(2);
    };
    let seconds: f64 = args.iter().position(|a| a == "--seconds").and_then(|i| args.get(i + 1)).map_or(0.0, |s| {
        s.parse().unwrap_or_else(|_| {
            eprintln!("--seconds takes a number");
            std::process::exit(2)
        })
    });
    let data = std::fs::read(file).unwrap_or_else(|e| {
        eprintln!("reading {file}: {e}");
        std::process::exit(2)
    });
    let (mut socket, _) = connect(url.as_str()).unwrap_or_else(|e| {
        eprintln!("connecting to {url}: {e}");
        std::process::exit(1)
    });
    let start = serde_json::json!({"type": "start", "mimeType": mime}).to_string();
    socket.send(Message::text(start)).expect("sending start");
    let pieces: Vec<&[u8]> = data.chunks(16 * 1024).collect();
    let began = Instant::now();
    set_read_timeout(&socket, Duration::from_millis(1));
    for (i, piece) in pieces.iter().enumerate() {
        let due = Duration::from_secs_f64(seconds * i as f64 / pieces.len() as f64);
        if let Some(wait) = due.checked_sub(began.elapsed()) {
            std::thread::sleep(wait);
        }
        socket.send(Message::binary(piece.to_vec())).expect("sending media");
        read_messages(&mut socket);
    }
    socket.send(Message::text(r#"{"type":"stop"}"#)).expect("sending stop");
    eprintln!("sent {} bytes in {:.1} s", data.len(), began.elapsed().as_secs_f64());
    // Bounded: the server finalises a stopped stream within seconds.
    set_read_timeout(&socket, Duration::from_secs(60));
    read_messages(&mut socket);
    eprintln!("no answer from the server within 60 s");
    std::process::exit(1);
}
