//! Command line and environment: every flag also reads a `LIVEDASH_*` variable, and `--help` documents
//! each. Defaults are named constants with the reason for their value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// 2 s segments: short enough for a quick start in normal mode, long enough for efficient coding with
/// a keyframe per segment (the publisher page sets the recorder's keyframe interval to match).
pub const DEFAULT_SEGMENT_SECONDS: &str = "2";

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

    /// Secret publishers must pass as `?token=` to `/ws/publish/{stream}`; without it anyone may publish.
    #[arg(long, env = "LIVEDASH_PUBLISH_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub publish_token: Option<String>,
}

/// How the presentation trades latency for robustness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Latency {
    /// Chunked low-latency DASH (LL-DASH): players start segments while they are being written.
    Low,
    /// Whole segments only: players lag by a few segments.
    Normal,
}

fn parse_segment_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("\"{text}\" is not a number of seconds"))?;
    if !(0.5..=30.0).contains(&seconds) {
        return Err(format!("{seconds} s is outside 0.5–30 s"));
    }
    Ok(Duration::from_secs_f64(seconds))
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
