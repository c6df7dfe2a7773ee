//! Soak, flood and publisher scale: N publishers send a real Chromium recording (looped to length) to a
//! release livedash at a chosen pace, while the server's resident memory and CPU time are sampled.
//!
//!   cargo build --release && LIVEDASH_BIN=target/release/livedash \
//!     cargo run --release --example soak -- --publishers 20 --minutes 10
//!   ... --example soak -- --publishers 1 --minutes 1 --speed 10      (one publisher flooding at 10×)
//!   ... --example soak -- --publishers 500 --minutes 1 --whole       (scripts/bench-publishers 500)
//!   ... --latency normal      (the server's latency mode: `normal` writes a SegmentTimeline)
//!
//! `scripts/soak` runs the first two, `scripts/bench-publishers` the last. Prints RSS over time, then
//! RSS at start (after a warm-up) and at the end, RSS per stream and its growth per stream-hour of media,
//! and the server's CPU use. `--whole` sends every publisher the whole looped recording and then checks
//! that every stream came out whole: every packet of the recording in its segments, counted by
//! libavformat. A publisher that is refused or loses its stream is counted and named, not fatal.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::media::{count_packets, count_presentation_packets, looped, media_duration_micros};
use common::server::Server;
use common::ws::Client;

struct Options {
    publishers: usize,
    minutes: f64,
    speed: f64,
    sample: Duration,
    whole: bool,
    /// The server's `--latency` (`low` by default; `normal` measures the timeline path).
    latency: String,
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
        whole: args.iter().any(|a| a == "--whole"),
        latency: args.iter().position(|a| a == "--latency").and_then(|i| args.get(i + 1)).cloned().unwrap_or("low".into()),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Whether a stream's folder holds a second media segment, i.e. its first one is finished.
fn has_second_segment(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("chunk-") && n.contains("-00002.")))
}

/// Waits for a message of `kind`; an `error` or a close instead is the publisher's failure.
fn wait_for(client: &mut Client, stream: &str, kind: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match client.next(left) {
            Some(message) if message["type"] == kind => return Ok(()),
            Some(message) if message["type"] == "error" => return Err(format!("{stream}: {message}")),
            Some(_) => {}
            None if client.close_code.is_some() => break,
            None => {}
        }
    }
    Err(format!("{stream}: no {kind:?} within {timeout:?} (close code {:?})", client.close_code))
}

fn main() {
    let options = options();
    let wall = Duration::from_secs_f64(options.minutes * 60.0);
    let media_seconds = wall.as_secs_f64() * options.speed;
    let scratch = tempfile::tempdir().unwrap();
    let fixture_seconds = media_duration_micros(&common::media::fixture("h264-opus-10s.mkv")) as f64 / 1e6;
    // Whole: exactly the recording looped to about the run's length, all of it sent. Otherwise a
    // loop more than needed, cut where the run ends.
    let loops = (media_seconds / fixture_seconds).ceil().max(1.0) as u32 + u32::from(!options.whole);
    let source = looped("h264-opus-10s.mkv", loops, scratch.path());
    let data = Arc::new(std::fs::read(&source).unwrap());
    let data_seconds = media_duration_micros(&source) as f64 / 1e6;
    let send_bytes = if options.whole {
        data.len()
    } else {
        ((data.len() as f64) * (media_seconds / data_seconds)).min(data.len() as f64) as usize
    };
    let sent_seconds = data_seconds * send_bytes as f64 / data.len() as f64;

    let max_streams = options.publishers.max(1).to_string();
    let server = Server::start(&["--max-streams", &max_streams, "--idle-timeout", "60", "--latency", &options.latency]);
    let idle_rss = server.rss_bytes();
    println!(
        "soak: {} publishers × {:.0} s of media at {}× real time ({:.1} MB each), server pid {} idle RSS {:.1} MiB",
        options.publishers,
        sent_seconds,
        options.speed,
        send_bytes as f64 / 1e6,
        server.pid(),
        mib(idle_rss)
    );
    // After the server started: it keeps the limit it was given and raises its own.
    let _ = rlimit::increase_nofile_limit(u64::MAX);

    let sent_total = Arc::new(AtomicU64::new(0));
    // Publishers that sent everything: the load lasts until the first one has (refused ones never count).
    let finished_sending = Arc::new(AtomicUsize::new(0));
    // Streams the server took: what RSS and CPU are shared by.
    let accepted = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let cpu_start = server.cpu_seconds();
    let publishers: Vec<_> = (0..options.publishers)
        .map(|i| {
            let stream = format!("soak-{i}");
            let mut client = Client::publish(&server, &stream);
            let (data, sent_total, finished_sending, accepted) =
                (Arc::clone(&data), Arc::clone(&sent_total), Arc::clone(&finished_sending), Arc::clone(&accepted));
            let speed = options.speed;
            std::thread::spawn(move || -> Result<String, String> {
                client.start("video/x-matroska;codecs=avc1,opus");
                wait_for(&mut client, &stream, "accepted", common::WAIT)?;
                accepted.fetch_add(1, Ordering::Relaxed);
                // ~100 ms of media per message, like the publisher page.
                let chunk = ((data.len() as f64 / data_seconds / 10.0) as usize).max(1);
                let begin = Instant::now();
                for (n, piece) in data[..send_bytes].chunks(chunk).enumerate() {
                    let due = Duration::from_secs_f64((n * chunk) as f64 / data.len() as f64 * data_seconds / speed);
                    if let Some(wait) = due.checked_sub(begin.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    if !client.send_bytes(piece) {
                        return Err(format!("{stream}: the server closed the socket while media was being sent"));
                    }
                    sent_total.fetch_add(piece.len() as u64, Ordering::Relaxed);
                }
                finished_sending.fetch_add(1, Ordering::Relaxed);
                client.stop();
                wait_for(&mut client, &stream, "ended", Duration::from_secs(120))?;
                Ok(stream)
            })
        })
        .collect();

    let warm_up = Duration::from_secs(30).min(wall / 4);
    let mut start = None;
    let mut loaded = (Duration::ZERO, 0, 0.0);
    let mut peak = 0;
    let mut samples = Vec::new();
    // Steady state: from the moment every publisher's stream has finished its first segment, so the
    // start-up burst (500 claims, muxers opened, first files created) is left out of that figure.
    let mut first_segment = vec![false; options.publishers];
    let mut steady = None;
    while publishers.iter().any(|p| !p.is_finished()) {
        std::thread::sleep(options.sample.min(Duration::from_secs(1)));
        let (rss, cpu) = (server.rss_bytes(), server.cpu_seconds());
        peak = peak.max(rss);
        let t = started.elapsed();
        if steady.is_none() {
            for (i, done) in first_segment.iter_mut().enumerate().filter(|(_, done)| !**done) {
                *done = has_second_segment(&server.stream_dir(&format!("soak-{i}")));
            }
            if first_segment.iter().all(|&done| done) {
                steady = Some((t, cpu));
            }
        }
        if finished_sending.load(Ordering::Relaxed) == 0 {
            loaded = (t, rss, cpu);
        }
        if start.is_none() && t >= warm_up {
            start = Some((t, rss));
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
    let outcomes: Vec<Result<String, String>> =
        publishers.into_iter().map(|p| p.join().unwrap_or_else(|_| Err("a publisher thread panicked".into()))).collect();
    let after_rss = server.rss_bytes();
    let (start_at, start_rss) = start.unwrap_or((Duration::ZERO, idle_rss));
    let (loaded_at, loaded_rss, loaded_cpu) = loaded;
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
    let n = accepted.load(Ordering::Relaxed).max(1) as f64;
    println!(
        "RSS per stream at the end of load: {:.2} MiB ({n} streams accepted)",
        mib(loaded_rss.saturating_sub(idle_rss)) / n
    );
    let stream_hours = n * (loaded_at.saturating_sub(start_at)).as_secs_f64() * options.speed / 3600.0;
    if stream_hours > 0.0 {
        println!(
            "RSS growth per stream-hour of media: {:+.1} MiB ({:.2} stream-hours measured after the warm-up)",
            (loaded_rss as f64 - start_rss as f64) / 1048576.0 / stream_hours,
            stream_hours
        );
    }
    if loaded_at > Duration::ZERO {
        let percent = (loaded_cpu - cpu_start) / loaded_at.as_secs_f64() * 100.0;
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        println!(
            "server CPU under load, whole run (start-up of every stream included): {percent:.0} % of one core ({:.0} % of {cores} cores)",
            percent / cores as f64
        );
        match steady {
            Some((steady_at, steady_cpu)) if loaded_at > steady_at => {
                let seconds = (loaded_at - steady_at).as_secs_f64();
                let percent = (loaded_cpu - steady_cpu) / seconds * 100.0;
                println!(
                    "server CPU under load, steady state (from t={:.0} s, when every stream had finished its first segment, {seconds:.0} s): {percent:.0} % of one core ({:.0} % of {cores} cores)",
                    steady_at.as_secs_f64(),
                    percent / cores as f64
                );
            }
            _ => println!("server CPU under load, steady state: not reached (not every stream finished its first segment while all were sending)"),
        }
    }

    let mut failures: Vec<String> = outcomes.iter().filter_map(|o| o.as_ref().err().cloned()).collect();
    if options.whole {
        let expected = count_packets(&source);
        let mut whole = 0;
        for stream in outcomes.iter().filter_map(|o| o.as_ref().ok()) {
            let dir = server.stream_dir(stream);
            let counted = std::panic::catch_unwind(|| count_presentation_packets(&dir, 2, scratch.path()));
            match counted {
                Ok(counts) if counts == expected => whole += 1,
                Ok(counts) => failures.push(format!("{stream}: packets {counts:?}, sent {expected:?}")),
                Err(_) => failures.push(format!("{stream}: its segments could not be read back")),
            }
        }
        println!("streams whole: {whole} of {} (every packet of the recording: {expected:?})", options.publishers);
    }
    if !failures.is_empty() {
        println!("failures: {}", failures.len());
        for failure in failures.iter().take(10) {
            println!("  {failure}");
        }
        std::process::exit(1);
    }
}
