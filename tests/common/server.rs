//! The real `livedash` binary on an ephemeral loopback port with a temporary media folder.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    media: tempfile::TempDir,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `livedash --bind 127.0.0.1:0 --media-dir <tmp>` plus `args`.
    pub fn start(args: &[&str]) -> Server {
        Self::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let media = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_livedash"));
        command
            .args(["--bind", "127.0.0.1:0", "--media-dir"])
            .arg(media.path())
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("starting livedash");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = addr_tx.send(addr.trim().parse::<SocketAddr>().unwrap());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("livedash did not start; its log:\n{}", log.lock().unwrap());
            }
        };
        Server { child, addr, media, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// GET, returning the response whatever its status.
    pub fn get(&self, path: &str) -> ureq::Response {
        match ureq::get(&self.url(path)).timeout(Duration::from_secs(20)).call() {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// GET a body as bytes, asserting 200.
    pub fn get_bytes(&self, path: &str) -> Vec<u8> {
        let response = self.get(path);
        assert_eq!(response.status(), 200, "GET {path}");
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
        body
    }

    pub fn media_dir(&self) -> &Path {
        self.media.path()
    }

    pub fn stream_dir(&self, stream: &str) -> PathBuf {
        self.media.path().join(stream)
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends a signal and waits (bounded) for the exit status.
    pub fn signal_and_wait(&mut self, signal: &str, timeout: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap();
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// True when `/api/streams` lists nothing.
    pub fn registry_is_empty(&self) -> bool {
        let listing: serde_json::Value = self.get("/api/streams").into_json().unwrap();
        listing.as_array().unwrap().is_empty()
    }
}
