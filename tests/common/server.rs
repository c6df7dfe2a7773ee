//! The real `livedash` binary on an ephemeral loopback port with a temporary media folder.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// The server binary: `LIVEDASH_BIN` when set (tools use the release build), else the one cargo built
/// for these tests.
fn binary() -> PathBuf {
    std::env::var_os("LIVEDASH_BIN")
        .map(PathBuf::from)
        .or(option_env!("CARGO_BIN_EXE_livedash").map(PathBuf::from))
        .expect("set LIVEDASH_BIN to the livedash binary")
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Where it takes RTMP publishers (`--rtmp-bind 127.0.0.1:0` unless a test passes its own).
    pub rtmp_addr: Option<SocketAddr>,
    /// Private to this server: `media/` (the media folder) and room beside it for test files.
    root: tempfile::TempDir,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `livedash --bind 127.0.0.1:0 --media-dir <tmp>` (and `--rtmp-bind 127.0.0.1:0` unless
    /// `args` has one) plus `args`.
    pub fn start(args: &[&str]) -> Server {
        Self::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("media")).unwrap();
        Self::start_in(root, args, env)
    }

    /// Like [`Server::start`], but run from the server's own folder with `--media-dir media`: a
    /// relative media folder, as `./media` (the default) is.
    pub fn start_with_relative_media_dir(args: &[&str]) -> Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("media")).unwrap();
        Self::start_from(root, args, &[], true)
    }

    /// Starts a server on `root`'s existing `media/` folder.
    fn start_in(root: tempfile::TempDir, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_from(root, args, env, false)
    }

    fn start_from(root: tempfile::TempDir, args: &[&str], env: &[(&str, &str)], relative: bool) -> Server {
        let media = if relative { PathBuf::from("media") } else { root.path().join("media") };
        let mut command = Command::new(binary());
        if relative {
            command.current_dir(root.path());
        }
        command
            .args(["--bind", "127.0.0.1:0", "--media-dir"])
            .arg(&media)
            .args(if args.contains(&"--rtmp-bind") { &[][..] } else { &["--rtmp-bind", "127.0.0.1:0"][..] })
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
        let rtmp_addr = Arc::new(Mutex::new(None));
        let rtmp_found = Arc::clone(&rtmp_addr);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Logged before the HTTP address.
                if let Some(addr) = line.split("listening on rtmp://").nth(1) {
                    *rtmp_found.lock().unwrap() = Some(addr.trim().parse::<SocketAddr>().unwrap());
                }
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
        let rtmp_addr = *rtmp_addr.lock().unwrap();
        Server { child, addr, rtmp_addr, root, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `rtmp://ADDR/live/{key}` on this server's RTMP port.
    pub fn rtmp_url(&self, key: &str) -> String {
        format!("rtmp://{}/live/{key}", self.rtmp_addr.expect("this server takes RTMP"))
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

    pub fn media_dir(&self) -> PathBuf {
        self.root.path().join("media")
    }

    /// A folder beside the media folder, outside what the server may serve.
    pub fn outside_dir(&self) -> PathBuf {
        self.root.path().to_path_buf()
    }

    pub fn stream_dir(&self, stream: &str) -> PathBuf {
        self.media_dir().join(stream)
    }

    /// Sends `GET <raw_path>` exactly as given (no URL normalisation); returns the status and body.
    pub fn raw_get(&self, raw_path: &str) -> (u16, Vec<u8>) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(stream, "GET {raw_path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = match response.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(at) => response[at + 4..].to_vec(),
            None => Vec::new(),
        };
        (status, body)
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends a signal and waits (bounded) for the exit status.
    pub fn signal_and_wait(&mut self, signal: &str, timeout: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let name = signal.trim_start_matches("SIG");
        Command::new("kill").args([&format!("-{name}"), &pid]).status().unwrap();
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
        // Gracefully if it will (tools like valgrind report at exit), else by force.
        if self.child.try_wait().ok().flatten().is_none() && self.signal_and_wait("TERM", Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
        }
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

impl Server {
    /// Waits (bounded) until the server has read `bytes` bytes of `stream`'s presentation off the
    /// socket: bytes still in the kernel's buffers when a test resets the connection are discarded by
    /// the kernel, never received.
    pub fn wait_until_received(&self, stream: &str, bytes: usize) {
        for _ in 0..200 {
            let listing: serde_json::Value = self.get("/api/streams").into_json().unwrap();
            let entry = listing.as_array().unwrap().iter().find(|s| s["stream"] == stream).cloned();
            if entry.is_some_and(|e| e["bytesReceived"] == bytes as u64) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not read all {bytes} bytes of stream {stream}");
    }
}

impl Server {
    /// The server process's resident memory, from /proc.
    pub fn rss_bytes(&self) -> u64 {
        rss_bytes(self.pid())
    }

    /// The value of the counter or gauge `name` (without labels) in `GET /metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let text = self.get("/metrics").into_string().unwrap();
        let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name} in\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// CPU time the server process has used (user + system), from /proc.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid())
    }
}

/// A process's resident memory, from /proc/PID/status (0 once it is gone).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A process's utime + stime in seconds, from /proc/PID/stat (0 once it is gone).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    // USER_HZ is 100 on every Linux architecture this runs on (sysconf would need unsafe here).
    ticks as f64 / 100.0
}

impl Server {
    /// Kills the server at once (SIGKILL: nothing finalised), then starts a new one on the same media
    /// folder with `args`: what a crash and a restart leave behind.
    pub fn kill_and_restart(mut self, args: &[&str]) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let root = std::mem::replace(&mut self.root, tempfile::tempdir().unwrap());
        Server::start_in(root, args, &[])
    }
}
