//! Soak and flood: N publishers send a real Chromium recording (looped to length) to a release
//! livedash at a chosen pace, while the server's resident memory is sampled.
//!
//!   cargo build --release && LIVEDASH_BIN=target/release/livedash \
//!     cargo run --release --example soak -- --publishers 20 --minutes 10
//!   ... --example soak -- --publishers 1 --minutes 1 --speed 10      (one publisher flooding at 10×)
//!
//! `scripts/soak` runs both. Prints RSS over time, then RSS at start (after a warm-up) and at the end.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::media::{looped, media_duration_micros};
use common::server::Server;
use common::ws::Client;

struct Options {
    publishers: usize,
    minutes: f64,
    speed: f64,
    sample: Duration,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str, default: f64| -> f64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
            .unwrap_or(default)
    };
    Options {
        publishers: get("--publishers", 20.0) as usize,
        minutes: get("--minutes", 10.0),
        speed: get("--speed", 1.0),
        sample: Duration::from_secs_f64(get("--sample-seconds", 10.0)),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let options = options();
    let wall = Duration::from_secs_f64(options.minutes * 60.0);
    let media_seconds = wall.as_secs_f64() * options.speed;
    let scratch = tempfile::tempdir().unwrap();
    let fixture_seconds = media_duration_micros(&common::media::fixture("h264-opus-10s.mkv")) as f64 / 1e6;
    let loops = (media_seconds / fixture_seconds).ceil() as u32 + 1;
    let source = looped("h264-opus-10s.mkv", loops, scratch.path());
    let data = Arc::new(std::fs::read(&source).unwrap());
    let data_seconds = media_duration_micros(&source) as f64 / 1e6;
    // Send only as much as the run lasts, at the chosen pace.
    let send_bytes = ((data.len() as f64) * (media_seconds / data_seconds)).min(data.len() as f64) as usize;

    let max_streams = options.publishers.max(1).to_string();
    let server = Server::start(&["--max-streams", &max_streams, "--idle-timeout", "60"]);
    let idle_rss = server.rss_bytes();
    println!(
        "soak: {} publishers × {:.0} s at {}× real time ({:.1} MB each), server pid {} idle RSS {:.1} MiB",
        options.publishers,
        wall.as_secs_f64(),
        options.speed,
        send_bytes as f64 / 1e6,
        server.pid(),
        mib(idle_rss)
    );

    let sent_total = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let publishers: Vec<_> = (0..options.publishers)
        .map(|i| {
            let mut client = Client::publish(&server, &format!("soak-{i}"));
            let (data, sent_total, failed) = (Arc::clone(&data), Arc::clone(&sent_total), Arc::clone(&failed));
            std::thread::spawn(move || {
                client.start("video/x-matroska;codecs=avc1,opus");
                client.expect("accepted", common::WAIT);
                // ~100 ms of media per message, like the publisher page.
                let chunk = (data.len() as f64 / data_seconds / 10.0) as usize;
                let begin = Instant::now();
                for (n, piece) in data[..send_bytes].chunks(chunk.max(1)).enumerate() {
                    let due = Duration::from_secs_f64((n * chunk) as f64 / data.len() as f64 * data_seconds / options.speed);
                    if let Some(wait) = due.checked_sub(begin.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    if !client.send_bytes(piece) {
                        failed.store(true, Ordering::Relaxed);
                        return;
                    }
                    sent_total.fetch_add(piece.len() as u64, Ordering::Relaxed);
                }
                client.stop();
                if client.expect("ended", Duration::from_secs(120)).is_null() {
                    failed.store(true, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let warm_up = Duration::from_secs(30).min(wall / 4);
    let mut start_rss = None;
    let mut loaded_rss = 0;
    let mut peak = 0;
    let mut samples = Vec::new();
    while publishers.iter().any(|p| !p.is_finished()) {
        std::thread::sleep(options.sample.min(Duration::from_secs(1)));
        let rss = server.rss_bytes();
        peak = peak.max(rss);
        if publishers.iter().all(|p| !p.is_finished()) {
            loaded_rss = rss;
        }
        let t = started.elapsed();
        if start_rss.is_none() && t >= warm_up {
            start_rss = Some(rss);
        }
        if samples.last().is_none_or(|(last, _): &(Duration, u64)| t - *last >= options.sample) {
            samples.push((t, rss));
            println!(
                "t={:>5.0} s  RSS {:>6.1} MiB  sent {:>7.1} MB",
                t.as_secs_f64(),
                mib(rss),
                sent_total.load(Ordering::Relaxed) as f64 / 1e6
            );
        }
    }
    for publisher in publishers {
        publisher.join().unwrap();
    }
    let after_rss = server.rss_bytes();
    let start_rss = start_rss.unwrap_or(idle_rss);
    println!(
        "RSS: idle {:.1} MiB, start (after {:.0} s warm-up) {:.1} MiB, end of load {:.1} MiB, after the streams ended {:.1} MiB, peak {:.1} MiB",
        mib(idle_rss),
        warm_up.as_secs_f64(),
        mib(start_rss),
        mib(loaded_rss),
        mib(after_rss),
        mib(peak),
    );
    println!("growth from start to end of load: {:+.1} %", (loaded_rss as f64 / start_rss as f64 - 1.0) * 100.0);
    if failed.load(Ordering::Relaxed) {
        eprintln!("some publishers failed; server log:\n{}", server.log());
        std::process::exit(1);
    }
}
