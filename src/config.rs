//! Command line and environment: every flag also reads a `LIVEDASH_*` variable, and `--help` documents
//! each. Defaults are named constants with the reason for their value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// 2 s segments: short enough for a quick start in normal mode, long enough for efficient coding with
/// a keyframe per segment (the publisher page sets the recorder's keyframe interval to match).
pub const DEFAULT_SEGMENT_SECONDS: &str = "2";

/// CMAF fragment (chunk) length in low-latency mode: a player can fetch a fragment as soon as it is
/// written, so shorter means lower latency, at the cost of a little overhead per fragment.
pub const DEFAULT_FRAGMENT_SECONDS: &str = "0.2";

/// The latency players aim for in low-latency mode (MPD ServiceDescription): below ~1 s the player has
/// no room to absorb a late fragment and stalls.
pub const DEFAULT_TARGET_LATENCY_SECONDS: &str = "0.6";

/// Largest WebSocket message a publisher may send. Chromium's chunks are 15 KB–1.5 MB; MP4 recordings
/// send a whole GOP per message, so leave room for high bitrates.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// Concurrent live streams: each costs a packager thread and about one core-percent of CPU on a webcam
/// stream (stream copy), so a small server can carry dozens.
pub const DEFAULT_MAX_STREAMS: usize = 64;

/// Bytes one presentation may receive: about 9 hours at 4 Mb/s, so the disk can't be filled by one
/// publisher who never stops.
pub const DEFAULT_MAX_STREAM_BYTES: u64 = 16 * 1024 * 1024 * 1024;

/// A recorder sends a chunk every 100 ms to 2 s; a publisher silent for this long is gone.
pub const DEFAULT_IDLE_TIMEOUT_SECONDS: &str = "15";

/// Long enough to reload a page or ride out a network change; short enough that a stream that is over
/// is finalised soon.
pub const DEFAULT_RECONNECT_GRACE_SECONDS: &str = "10";

/// livedash: go live from a web browser. MediaRecorder bytes arrive over a WebSocket, are packaged
/// in-process by libavformat into MPEG-DASH (and HLS), and are served with CORS to dash.js players.
#[derive(Debug, Clone, Parser)]
#[command(name = "livedash", version, about, max_term_width = 100)]
pub struct Config {
    /// Address and port to listen on (port 0 picks a free port; the chosen address is logged).
    #[arg(long, env = "LIVEDASH_BIND", value_name = "ADDR:PORT", default_value = "0.0.0.0:8080")]
    pub bind: SocketAddr,

    /// Folder for the streams' DASH files: one sub-folder per stream id.
    #[arg(long, env = "LIVEDASH_MEDIA_DIR", value_name = "DIR", default_value = "./media")]
    pub media_dir: PathBuf,

    /// Target segment length in seconds (segments start on keyframes, so real ones may be longer).
    #[arg(long, env = "LIVEDASH_SEGMENT_DURATION", value_name = "SECONDS", default_value = DEFAULT_SEGMENT_SECONDS,
          value_parser = parse_segment_seconds)]
    pub segment_duration: Duration,

    /// Latency mode: `low` serves chunked CMAF segments while they are written (H.264/VP9/AV1);
    /// VP8 streams always use `normal` (WebM segments can't be chunked).
    #[arg(long, env = "LIVEDASH_LATENCY", value_enum, default_value_t = Latency::Low)]
    pub latency: Latency,

    /// Low-latency fragment length in seconds (0.1–0.5).
    #[arg(long, env = "LIVEDASH_FRAGMENT_DURATION", value_name = "SECONDS", default_value = DEFAULT_FRAGMENT_SECONDS,
          value_parser = parse_fragment_seconds)]
    pub fragment_duration: Duration,

    /// Latency players aim for in low-latency mode, in seconds (written to the MPD).
    #[arg(long, env = "LIVEDASH_TARGET_LATENCY", value_name = "SECONDS", default_value = DEFAULT_TARGET_LATENCY_SECONDS,
          value_parser = parse_target_latency)]
    pub target_latency: Duration,

    /// This server's public base URL (e.g. `https://live.example.com`), used for the absolute `/time` URL
    /// in manifests; by default it is taken from each publisher's request.
    #[arg(long, env = "LIVEDASH_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Largest WebSocket message a publisher may send, in bytes (at least 4 MiB recommended).
    #[arg(long, env = "LIVEDASH_MAX_MESSAGE_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,

    /// Most streams starting or live at once; more publishers get `too_large`.
    #[arg(long, env = "LIVEDASH_MAX_STREAMS", value_name = "N", default_value_t = DEFAULT_MAX_STREAMS)]
    pub max_streams: usize,

    /// Most recorder bytes one stream may receive (0: no limit); past it the stream is finalised and
    /// the publisher gets `too_large`.
    #[arg(long, env = "LIVEDASH_MAX_STREAM_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAX_STREAM_BYTES)]
    pub max_stream_bytes: u64,

    /// A publisher that sends nothing for this many seconds has its stream finalised.
    #[arg(long, env = "LIVEDASH_IDLE_TIMEOUT", value_name = "SECONDS", default_value = DEFAULT_IDLE_TIMEOUT_SECONDS,
          value_parser = parse_idle_timeout)]
    pub idle_timeout: Duration,

    /// A publisher whose connection drops may reconnect to the same stream within this many seconds
    /// and continue the same presentation (0: finalise at once).
    #[arg(long, env = "LIVEDASH_RECONNECT_GRACE", value_name = "SECONDS", default_value = DEFAULT_RECONNECT_GRACE_SECONDS,
          value_parser = parse_reconnect_grace)]
    pub reconnect_grace: Duration,

    /// Secret publishers must pass as `?token=` to `/ws/publish/{stream}`; without it anyone may publish.
    #[arg(long, env = "LIVEDASH_PUBLISH_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub publish_token: Option<String>,

    // Lifecycle knobs (hidden: tests use them to provoke a slow packager honestly; documented in
    // README's "Test-only flags"). Their defaults are what a real server runs with.
    /// Hidden: how long finalising may take after a publisher's input ended before the publisher is
    /// told the stream failed (the packager keeps running, and the stream id stays taken, until done).
    #[arg(long, env = "LIVEDASH_FINALISE_TIMEOUT", hide = true, value_name = "SECONDS",
          default_value = DEFAULT_FINALISE_TIMEOUT_SECONDS, value_parser = parse_finalise_timeout)]
    pub finalise_timeout: Duration,

    /// Hidden, test only: the packager pauses this long before taking each piece of input, standing in
    /// for a slow disk or a busy machine (backpressure, slow finalising). 0 in service.
    #[arg(long, env = "LIVEDASH_TEST_PACKAGER_DELAY", hide = true, value_name = "SECONDS", default_value = "0",
          value_parser = parse_test_packager_delay)]
    pub test_packager_delay: Duration,
}

/// Finalising writes the trailer and the last segments: milliseconds, unless the disk hangs. Generous,
/// because a publisher told "failed" may retry while the recording is in fact being finished.
pub const DEFAULT_FINALISE_TIMEOUT_SECONDS: &str = "30";

fn parse_finalise_timeout(text: &str) -> Result<Duration, String> {
    parse_seconds_in(text, 0.1, 600.0)
}

fn parse_test_packager_delay(text: &str) -> Result<Duration, String> {
    parse_seconds_in(text, 0.0, 60.0)
}

/// How the presentation trades latency for robustness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Latency {
    /// Chunked low-latency DASH (LL-DASH): players start segments while they are being written.
    Low,
    /// Whole segments only: players lag by a few segments.
    Normal,
}

fn parse_seconds_in(text: &str, min: f64, max: f64) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("\"{text}\" is not a number of seconds"))?;
    if !(min..=max).contains(&seconds) {
        return Err(format!("{seconds} s is outside {min}–{max} s"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_segment_seconds(text: &str) -> Result<Duration, String> {
    parse_seconds_in(text, 0.5, 30.0)
}

fn parse_fragment_seconds(text: &str) -> Result<Duration, String> {
    parse_seconds_in(text, 0.1, 0.5)
}

fn parse_target_latency(text: &str) -> Result<Duration, String> {
    parse_seconds_in(text, 0.2, 30.0)
}

fn parse_idle_timeout(text: &str) -> Result<Duration, String> {
    parse_seconds_in(text, 1.0, 3600.0)
}

fn parse_reconnect_grace(text: &str) -> Result<Duration, String> {
    parse_seconds_in(text, 0.0, 600.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract() {
        let config = Config::try_parse_from(["livedash"]).unwrap();
        assert_eq!(config.bind, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(config.media_dir, PathBuf::from("./media"));
        assert_eq!(config.segment_duration, Duration::from_secs(2));
        assert_eq!(config.latency, Latency::Low);
        assert_eq!(config.publish_token, None);
        assert_eq!(config.max_streams, DEFAULT_MAX_STREAMS);
        assert_eq!(config.idle_timeout, Duration::from_secs(15));
        assert_eq!(config.reconnect_grace, Duration::from_secs(10));
    }

    #[test]
    fn flags_are_parsed_and_bad_values_named() {
        let config = Config::try_parse_from([
            "livedash", "--bind", "127.0.0.1:0", "--segment-duration", "1.5", "--latency", "normal",
        ])
        .unwrap();
        assert_eq!(config.bind.port(), 0);
        assert_eq!(config.segment_duration, Duration::from_millis(1500));
        assert_eq!(config.latency, Latency::Normal);
        let err = Config::try_parse_from(["livedash", "--segment-duration", "abc"]).unwrap_err().to_string();
        assert!(err.contains("\"abc\" is not a number of seconds"), "{err}");
    }
}
