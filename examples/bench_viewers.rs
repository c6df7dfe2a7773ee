//! Live-edge fan-out: one publisher at real-time pace and N viewers following the live edge as a
//! low-latency DASH player does, against a release livedash started here.
//!
//!   scripts/bench-viewers 1000        (builds the release binary and this, then runs it)
//!   LIVEDASH_BIN=target/release/livedash cargo run --release --example bench_viewers -- \
//!       --viewers 1000 [--seconds 20] [--ramp-seconds 1] [--source REC.mkv] [-- livedash flags]
//!
//! It publishes the 168 kbit/s recorder fixture, or `--source` (H.264 + Opus in Matroska, keyframes
//! at the server's segment length); `scripts/bench-viewers --kbps K` makes one at K kbit/s.
//!
//! Every viewer reads the MPD once (`availabilityStartTime`, each `SegmentTemplate`), then for each
//! representation, on its own keep-alive HTTP/1.1 connection (as a browser fetches audio and video
//! side by side), requests the segment being written, reads it as it streams (chunked), then the
//! next, for `--seconds`. Prints failures (errors, non-200, bodies that differ from the finished file),
//! lateness p50/p99 (when a viewer got a segment's last byte minus when the first viewer did), server CPU
//! seconds per GB delivered (utime+stime from /proc/PID/stat), and server RSS per viewer (peak while
//! viewing minus before). The client runs on tokio so that it is not what limits the figures; it raises
//! its own open-files limit after starting the server (which must raise its own).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::live_edge::LiveTemplate;
use common::media::{looped_file, media_duration_micros};
use common::server::Server;
use common::ws::Client;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Per-connection read buffer: small, since thousands of connections each hold one.
const READ_BUFFER: usize = 8 * 1024;

struct Options {
    viewers: usize,
    seconds: f64,
    /// Viewers join evenly over this long, as a crowd arrives (all in one instant would only measure
    /// the kernel's accept queue and SYN retries).
    ramp: Duration,
    /// A recording to publish (looped) instead of the 168 kbit/s recorder fixture: CPU per GB is a
    /// per-byte figure, and a camera at the page's bitrate sends over ten times the bytes per chunk.
    source: Option<std::path::PathBuf>,
    server_args: Vec<String>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (ours, server_args) = match args.iter().position(|a| a == "--") {
        Some(at) => (args[..at].to_vec(), args[at + 1..].to_vec()),
        None => (args, Vec::new()),
    };
    let get = |name: &str, default: f64| -> f64 {
        ours.iter()
            .position(|a| a == name)
            .and_then(|i| ours.get(i + 1))
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
            .unwrap_or(default)
    };
    Options {
        viewers: get("--viewers", 100.0) as usize,
        seconds: get("--seconds", 20.0),
        ramp: Duration::from_secs_f64(get("--ramp-seconds", 1.0)),
        source: ours.iter().position(|a| a == "--source").map(|i| {
            ours.get(i + 1).expect("--source takes the path of a Matroska recording").into()
        }),
        server_args,
    }
}

/// One segment a viewer received whole.
struct Received {
    rep: usize,
    number: u64,
    /// When its last byte arrived.
    at: Instant,
    len: u64,
    hash: u64,
}

/// CRC-32 carried on over `bytes`: enough to tell whether two bodies are the same bytes, and at
/// several GB/s (SIMD) cheap enough that the one client thread keeps up with megabit streams (a
/// byte-at-a-time hash took most of its CPU at 2.5 Mbit/s × 1,000 viewers).
fn checksum(crc: u64, bytes: &[u8]) -> u64 {
    let mut hasher = crc32fast::Hasher::new_with_initial(crc as u32);
    hasher.update(bytes);
    hasher.finalize() as u64
}
const CHECKSUM_START: u64 = 0;

/// A keep-alive HTTP/1.1 connection.
struct Connection {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Result<Connection, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(Connection { reader: BufReader::with_capacity(READ_BUFFER, stream), host: addr.to_string() })
    }

    async fn line(&mut self, line: &mut String) -> Result<(), String> {
        line.clear();
        match self.reader.read_line(line).await {
            Ok(0) => Err("connection closed".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Hashes the next `len` body bytes as they arrive.
    async fn body_bytes(&mut self, mut len: u64, hash: &mut u64) -> Result<(), String> {
        while len > 0 {
            let buffer = self.reader.fill_buf().await.map_err(|e| format!("read: {e}"))?;
            if buffer.is_empty() {
                return Err("connection closed mid-body".into());
            }
            let n = buffer.len().min(len as usize);
            *hash = checksum(*hash, &buffer[..n]);
            self.reader.consume(n);
            len -= n as u64;
        }
        Ok(())
    }

    /// GET `path`, reading the body as it streams; (status, length, hash). Closes on `Connection: close`.
    async fn get(&mut self, path: &str) -> Result<(u16, u64, u64, bool), String> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.reader.get_mut().write_all(request.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
        let mut line = String::new();
        self.line(&mut line).await?;
        let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad status line {line:?}"))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            self.line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else { continue };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<u64>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let (mut total, mut hash) = (0, CHECKSUM_START);
        if chunked {
            loop {
                self.line(&mut line).await?;
                let size = u64::from_str_radix(line.trim_end().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| format!("bad chunk size {line:?}"))?;
                if size == 0 {
                    // Trailers, then the blank line.
                    loop {
                        self.line(&mut line).await?;
                        if line.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                self.body_bytes(size, &mut hash).await?;
                total += size;
                self.line(&mut line).await?;
            }
        } else if let Some(length) = length {
            self.body_bytes(length, &mut hash).await?;
            total = length;
        } else {
            let mut rest = Vec::new();
            self.reader.read_to_end(&mut rest).await.map_err(|e| format!("read: {e}"))?;
            hash = checksum(hash, &rest);
            total = rest.len() as u64;
            close = true;
        }
        Ok((status, total, hash, close))
    }
}

/// One viewer's representation: from the segment being written now, segment after segment until `until`.
async fn follow(
    addr: SocketAddr,
    stream: &str,
    live: &LiveTemplate,
    rep: usize,
    until: Instant,
) -> (Vec<Received>, Vec<String>) {
    let representation = &live.representations[rep];
    let (mut received, mut failures) = (Vec::new(), Vec::new());
    let mut connection: Option<Connection> = None;
    let mut number = live.number_at(representation, SystemTime::now());
    while Instant::now() < until {
        let path = format!("/dash/{stream}/{}", representation.media_name(number));
        if connection.is_none() {
            match Connection::open(addr).await {
                Ok(c) => connection = Some(c),
                Err(e) => {
                    failures.push(format!("{path}: {e}"));
                    tokio::time::sleep(representation.segment).await;
                    number = live.number_at(representation, SystemTime::now());
                    continue;
                }
            }
        }
        let Some(open) = connection.as_mut() else { continue };
        match open.get(&path).await {
            Ok((200, len, hash, close)) => {
                received.push(Received { rep, number, at: Instant::now(), len, hash });
                if close {
                    connection = None;
                }
                number += 1;
            }
            Ok((status, _, _, close)) => {
                failures.push(format!("{path}: status {status}"));
                if close {
                    connection = None;
                }
                number = (number + 1).max(live.number_at(representation, SystemTime::now()));
            }
            Err(e) => {
                failures.push(format!("{path}: {e}"));
                connection = None;
                number = (number + 1).max(live.number_at(representation, SystemTime::now()));
            }
        }
    }
    (received, failures)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let options = options();
    let scratch = tempfile::tempdir().unwrap();
    // Live for a segment or two of warm-up, the viewing, and a margin.
    let media_seconds = options.seconds + 10.0;
    let original = options.source.clone().unwrap_or_else(|| common::media::fixture("h264-opus-10s.mkv"));
    let original_seconds = media_duration_micros(&original) as f64 / 1e6;
    let source = looped_file(&original, (media_seconds / original_seconds).ceil() as u32, scratch.path());
    let source_seconds = media_duration_micros(&source) as f64 / 1e6;
    let data = std::fs::read(&source).unwrap();
    let source_kbps = data.len() as f64 * 8.0 / source_seconds / 1000.0;

    let server_args: Vec<&str> = options.server_args.iter().map(String::as_str).collect();
    let server = Server::start(&server_args);
    // After the server started, so that it keeps the limit it was given and raises its own.
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    let needed = options.viewers as u64 * 2 + 64;
    if limit < needed {
        eprintln!("bench-viewers: open-files limit {limit} is below the {needed} this run needs; expect failures");
    }

    let mut publisher = Client::publish(&server, "bench");
    publisher.start("video/x-matroska;codecs=avc1,opus");
    publisher.expect("accepted", common::WAIT);
    let publishing = std::thread::spawn(move || {
        // ~100 ms of media per message, like the publisher page.
        let chunk = (data.len() as f64 / source_seconds / 10.0) as usize;
        publisher.send_paced(&data, chunk.max(1), Duration::from_secs_f64(source_seconds));
        publisher.stop();
        publisher.expect("ended", Duration::from_secs(120));
    });
    Client::watch(&server, "bench").expect("manifest_ready", common::WAIT);
    let mpd = server.get("/dash/bench/manifest.mpd").into_string().unwrap();
    let live = Arc::new(LiveTemplate::parse(&mpd).unwrap_or_else(|e| panic!("stream bench: {e}")));
    // A segment in, so that every viewer starts on a segment being written.
    std::thread::sleep(live.representations[0].segment);

    let rss_before = server.rss_bytes();
    let cpu_before = server.cpu_seconds();
    let viewing = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (viewing, pid) = (Arc::clone(&viewing), server.pid());
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while viewing.load(Ordering::Relaxed) {
                peak = peak.max(common::server::rss_bytes(pid));
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        })
    };

    let client_cpu_before = common::server::cpu_seconds(std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let until = Instant::now() + Duration::from_secs_f64(options.seconds);
    let addr = server.addr;
    let results: Vec<(Vec<Received>, Vec<String>)> = runtime.block_on(async {
        let began = tokio::time::Instant::now();
        let (viewers, ramp) = (options.viewers, options.ramp);
        let tasks: Vec<_> = (0..viewers)
            .flat_map(|viewer| (0..live.representations.len()).map(move |rep| (viewer, rep)))
            .map(|(viewer, rep)| {
                let live = Arc::clone(&live);
                let join_at = began + ramp.mul_f64(viewer as f64 / viewers as f64);
                tokio::spawn(async move {
                    tokio::time::sleep_until(join_at).await;
                    follow(addr, "bench", &live, rep, until).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    });
    let cpu = server.cpu_seconds() - cpu_before;
    let client_cpu = common::server::cpu_seconds(std::process::id()) - client_cpu_before;
    viewing.store(false, Ordering::Relaxed);
    let rss_peak = sampler.join().unwrap();
    publishing.join().unwrap();

    // Failures: errors, and bodies that are not the finished file.
    let mut failures: Vec<String> = results.iter().flat_map(|(_, f)| f.iter().cloned()).collect();
    let dir = server.stream_dir("bench");
    let mut finished: HashMap<(usize, u64), (u64, u64)> = HashMap::new();
    let mut first: HashMap<(usize, u64), Instant> = HashMap::new();
    let mut delivered = 0u64;
    for received in results.iter().flat_map(|(r, _)| r) {
        let key = (received.rep, received.number);
        let (len, hash) = *finished.entry(key).or_insert_with(|| {
            let name = live.representations[key.0].media_name(key.1);
            let bytes = std::fs::read(dir.join(&name)).unwrap_or_default();
            (bytes.len() as u64, checksum(CHECKSUM_START, &bytes))
        });
        if (received.len, received.hash) != (len, hash) {
            failures.push(format!(
                "{}: got {} bytes, not the finished file's {len}",
                live.representations[key.0].media_name(key.1),
                received.len
            ));
        }
        delivered += received.len;
        first.entry(key).and_modify(|t| *t = (*t).min(received.at)).or_insert(received.at);
    }
    let mut lateness: Vec<Duration> =
        results.iter().flat_map(|(r, _)| r).map(|r| r.at - first[&(r.rep, r.number)]).collect();
    lateness.sort();

    let segments: usize = results.iter().map(|(r, _)| r.len()).sum();
    println!(
        "bench-viewers: {} viewers × {} representations of a {:.0} kbit/s stream for {:.0} s (joining over {:.1} s): \
         {segments} segments received, {:.1} MB",
        options.viewers,
        live.representations.len(),
        source_kbps,
        options.seconds,
        options.ramp.as_secs_f64(),
        delivered as f64 / 1e6
    );
    println!("failures: {}", failures.len());
    for failure in failures.iter().take(5) {
        println!("  {failure}");
    }
    println!(
        "lateness against the first viewer: p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        percentile(&lateness, 0.5).as_secs_f64(),
        percentile(&lateness, 0.99).as_secs_f64(),
        lateness.last().copied().unwrap_or_default().as_secs_f64()
    );
    println!(
        "server CPU: {cpu:.2} s over the viewing, {:.2} s per GB delivered, {:.0} µs per segment response",
        if delivered > 0 { cpu / (delivered as f64 / 1e9) } else { 0.0 },
        if segments > 0 { cpu * 1e6 / segments as f64 } else { 0.0 }
    );
    println!("client CPU (one thread): {client_cpu:.2} s over the viewing: near the viewing time means the client was the limit");
    println!(
        "server RSS: {:.1} MiB before, peak {:.1} MiB while viewing, {:.1} KB per viewer",
        rss_before as f64 / 1048576.0,
        rss_peak as f64 / 1048576.0,
        rss_peak.saturating_sub(rss_before) as f64 / 1000.0 / options.viewers.max(1) as f64
    );
    if !failures.is_empty() {
        // exit() runs no destructors: stop the server first, or it outlives the benchmark.
        drop(server);
        std::process::exit(1);
    }
}
