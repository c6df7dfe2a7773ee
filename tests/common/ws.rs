//! A real WebSocket client (tungstenite) speaking the publish/watch protocol.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::server::Server;

/// One WebSocket connection to the server.
pub struct Client {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    /// Text messages received, in order.
    pub received: Vec<Value>,
    /// The close frame's code, once closed.
    pub close_code: Option<u16>,
}

impl Client {
    pub fn connect(server: &Server, path: &str) -> Client {
        let (socket, _) = tungstenite::connect(server.ws_url(path)).unwrap_or_else(|e| panic!("connecting {path}: {e}"));
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_nodelay(true).unwrap();
        }
        Client { socket, received: Vec::new(), close_code: None }
    }

    pub fn publish(server: &Server, stream: &str) -> Client {
        Self::connect(server, &format!("/ws/publish/{stream}"))
    }

    pub fn watch(server: &Server, stream: &str) -> Client {
        Self::connect(server, &format!("/ws/watch/{stream}"))
    }

    pub fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text)).unwrap();
    }

    pub fn start(&mut self, mime_type: &str) {
        self.send_text(&serde_json::json!({"type": "start", "mimeType": mime_type}).to_string());
    }

    pub fn stop(&mut self) {
        self.send_text(r#"{"type":"stop"}"#);
    }

    /// Sends binary data; false if the connection is gone.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> bool {
        self.socket.send(Message::binary(bytes.to_vec())).is_ok()
    }

    /// Sends `data` in chunks of `chunk` bytes, spread evenly over `duration` (real-time pacing).
    pub fn send_paced(&mut self, data: &[u8], chunk: usize, duration: Duration) {
        let pieces: Vec<&[u8]> = data.chunks(chunk).collect();
        let started = Instant::now();
        let step = duration / pieces.len().max(1) as u32;
        for (i, piece) in pieces.iter().enumerate() {
            let due = started + step * i as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            assert!(self.send_bytes(piece), "the server closed the socket while media was being sent");
        }
    }

    fn set_timeout(&mut self, timeout: Duration) {
        if let MaybeTlsStream::Plain(stream) = self.socket.get_ref() {
            stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1)))).unwrap();
        }
    }

    /// The next text message, or None on close/timeout.
    pub fn next(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.set_timeout(left);
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    let value: Value = serde_json::from_str(&text).expect("server sends JSON");
                    self.received.push(value.clone());
                    return Some(value);
                }
                Ok(Message::Close(frame)) => {
                    self.close_code = Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005));
                    return None;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits for a message of `kind`, failing with everything received if it doesn't come.
    pub fn expect(&mut self, kind: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next(left) {
                Some(message) if message["type"] == kind => return message,
                Some(_) => {}
                None if self.close_code.is_some() => break,
                None => {}
            }
        }
        panic!("expected a {kind:?} message; received {:?}, close code {:?}", self.received, self.close_code);
    }

    /// Waits for the close frame; returns its code.
    pub fn expect_close(&mut self, timeout: Duration) -> u16 {
        let deadline = Instant::now() + timeout;
        while self.close_code.is_none() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
            self.next(left);
        }
        self.close_code.unwrap_or_else(|| panic!("no close frame; received {:?}", self.received))
    }
}

impl Client {
    /// Aborts the connection with a TCP reset (SO_LINGER 0), as a crashed tab or dropped network would.
    pub fn reset(self) {
        let stream = match self.socket.get_ref() {
            MaybeTlsStream::Plain(stream) => stream.try_clone().unwrap(),
            _ => unreachable!("tests use plain TCP"),
        };
        socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
        drop(self);
        drop(stream);
    }
}

impl Client {
    /// Publishes `data` (a recording of `mime_type`) to `stream` at once, stops, and returns `ended`.
    pub fn publish_whole(server: &Server, stream: &str, mime_type: &str, data: &[u8]) -> Value {
        let mut publisher = Client::publish(server, stream);
        publisher.start(mime_type);
        publisher.expect("accepted", super::WAIT);
        assert!(publisher.send_bytes(data), "{stream}: the server closed the socket");
        publisher.stop();
        publisher.expect("ended", super::WAIT)
    }
}

impl Client {
    /// Connects with handshake headers added or replaced exactly as given (`Host`, `Origin`, ...), as a
    /// hostile client could send them. `Err` carries a refused handshake's status and body.
    pub fn connect_with_headers(server: &Server, path: &str, headers: &[(&str, &str)]) -> Result<Client, (u16, String)> {
        use tungstenite::client::IntoClientRequest;
        use tungstenite::http::{HeaderName, HeaderValue};
        let mut request = server.ws_url(path).into_client_request().unwrap();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            request.headers_mut().insert(name, HeaderValue::from_str(value).unwrap());
        }
        let stream = TcpStream::connect(server.addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(super::WAIT)).unwrap();
        match tungstenite::client(request, MaybeTlsStream::Plain(stream)) {
            Ok((socket, _)) => Ok(Client { socket, received: Vec::new(), close_code: None }),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
                Err((response.status().as_u16(), body))
            }
            Err(e) => panic!("handshake on {path}: {e}"),
        }
    }

    /// Sends a WebSocket ping; false if the connection is gone.
    pub fn send_ping(&mut self) -> bool {
        self.socket.send(Message::Ping(Vec::new().into())).is_ok()
    }
}
