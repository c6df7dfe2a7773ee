//! Command line and environment: every flag also reads a `LIVEDASH_*` variable, and `--help` documents
//! each. Defaults are named constants with the reason for their value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::auth::origin::AllowedOrigins;
use crate::streams::retention::{DEFAULT_KEEP_RECORDINGS, KeepRecordings};
use crate::stream_id::StreamId;

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

/// Bytes one presentation may receive: about 9 hours at 4 Mb/s, so the disk can't be filled by one
/// publisher who never stops.
pub const DEFAULT_MAX_STREAM_BYTES: u64 = 16 * 1024 * 1024 * 1024;

/// A recorder sends a chunk every 100 ms to 2 s; a publisher silent for this long is gone.
pub const DEFAULT_IDLE_TIMEOUT_SECONDS: &str = "15";

/// Long enough to reload a page or ride out a network change; short enough that a stream that is over
/// is finalised soon.
pub const DEFAULT_RECONNECT_GRACE_SECONDS: &str = "10";

/// Viewer sockets the whole server holds open at once: each costs a task and a file descriptor, and
/// viewers of a busy stream fetch segments over plain HTTP anyway (the socket only carries events).
pub const DEFAULT_MAX_VIEWERS: usize = 10_000;

/// Viewer sockets one client address may hold: enough for a household or office behind one NAT with
/// several tabs open, few enough that one client can't take the server's sockets.
pub const DEFAULT_MAX_VIEWERS_PER_ADDRESS: usize = 32;

/// How often viewer sockets are pinged: below the 60 s idle timeout of common proxies (nginx), and a
/// viewer that doesn't answer within one interval is gone.
pub const DEFAULT_VIEWER_PING_SECONDS: &str = "15";

/// RTMP's registered port, where every encoder looks by default.
pub const DEFAULT_RTMP_BIND: &str = "0.0.0.0:1935";

/// How long a token minted by `livedash token` lasts unless `--ttl` says otherwise.
pub const DEFAULT_TOKEN_TTL: &str = "1h";

/// livedash: go live from a web browser. MediaRecorder bytes arrive over a WebSocket, are packaged
/// in-process by libavformat into MPEG-DASH (and HLS), and are served with CORS to dash.js players.
#[derive(Debug, Clone, Parser)]
#[command(name = "livedash", version, about, max_term_width = 100)]
pub struct Config {
    /// Without a command, livedash runs the server.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address and port to listen on (port 0 picks a free port; the chosen address is logged).
    #[arg(long, env = "LIVEDASH_BIND", value_name = "ADDR:PORT", default_value = "0.0.0.0:8080")]
    pub bind: SocketAddr,

    /// Address and port for RTMP publishers (OBS: Server `rtmp://HOST:1935/live`, Stream key the
    /// stream id); `0` turns RTMP off. Port 0 picks a free port; the chosen address is logged.
    #[arg(long, env = "LIVEDASH_RTMP_BIND", value_name = "ADDR:PORT|0", default_value = DEFAULT_RTMP_BIND,
          value_parser = parse_rtmp_bind)]
    pub rtmp_bind: RtmpBind,

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
    /// in manifests and as this server's own origin; by default both come from each request's host.
    #[arg(long, env = "LIVEDASH_PUBLIC_URL", value_name = "URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Believe the `Forwarded` / `X-Forwarded-Host` / `-Proto` / `-For` headers: set it only when every
    /// request comes through a proxy that writes them. Without it they are ignored.
    #[arg(long, env = "LIVEDASH_TRUST_FORWARDED", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_forwarded: bool,

    /// Web pages (origins, comma-separated, e.g. `https://app.example.com`; `*` for any) that may open
    /// the publisher WebSocket besides this server's own pages. Clients that send no `Origin` (programs,
    /// not browsers) are not affected.
    #[arg(long, env = "LIVEDASH_ALLOWED_ORIGINS", value_name = "ORIGINS", default_value = "", hide_default_value = true,
          value_parser = parse_allowed_origins)]
    pub allowed_origins: AllowedOrigins,

    /// Largest WebSocket message a publisher may send, in bytes (at least 4 MiB recommended).
    #[arg(long, env = "LIVEDASH_MAX_MESSAGE_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,

    /// Most streams starting or live at once; more publishers get `too_large`. Default: what this
    /// machine can hold, min((open-files hard limit - 4096) / 16, available memory / 16 MiB).
    #[arg(long, env = "LIVEDASH_MAX_STREAMS", value_name = "N", default_value_t = crate::limits::default_max_streams())]
    pub max_streams: usize,

    /// Most recorder bytes one stream may receive (0: no limit); past it the stream is finalised and
    /// the publisher gets `too_large`.
    #[arg(long, env = "LIVEDASH_MAX_STREAM_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAX_STREAM_BYTES)]
    pub max_stream_bytes: u64,

    /// A publisher that sends no media bytes for this many seconds (pings and text messages don't
    /// count) has its stream finalised.
    #[arg(long, env = "LIVEDASH_IDLE_TIMEOUT", value_name = "SECONDS", default_value = DEFAULT_IDLE_TIMEOUT_SECONDS,
          value_parser = parse_idle_timeout)]
    pub idle_timeout: Duration,

    /// A publisher whose connection drops may reconnect to the same stream within this many seconds
    /// and continue the same presentation (0: finalise at once).
    #[arg(long, env = "LIVEDASH_RECONNECT_GRACE", value_name = "SECONDS", default_value = DEFAULT_RECONNECT_GRACE_SECONDS,
          value_parser = parse_reconnect_grace)]
    pub reconnect_grace: Duration,

    /// Secret publishers must pass as `?token=` to `/ws/publish/{stream}`; without it (and without
    /// `--publish-secret`) anyone may publish.
    #[arg(long, env = "LIVEDASH_PUBLISH_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub publish_token: Option<String>,

    /// Key for signed per-stream publish tokens (`livedash token STREAM` mints them); publishers pass
    /// one as `?token=`. Works beside `--publish-token`. At least 16 bytes.
    #[arg(long, env = "LIVEDASH_PUBLISH_SECRET", value_name = "SECRET", hide_env_values = true, global = true,
          value_parser = parse_publish_secret)]
    pub publish_secret: Option<String>,

    /// Admission webhook (plain `http://`): before a publisher is accepted, livedash POSTs
    /// `{"stream","mimeType","remoteAddr","token"}` as JSON; only a 2xx answer within 3 s admits it.
    #[arg(long, env = "LIVEDASH_AUTH_WEBHOOK", value_name = "URL", value_parser = crate::auth::webhook::parse_webhook_url)]
    pub auth_webhook: Option<String>,

    /// Which ended recordings to keep: an age (`7d`), a total size (`20GiB`), both (`7d,20GiB`) or
    /// `forever`. Older ones, then the oldest while over the size, are deleted and forgotten; live
    /// streams never are.
    #[arg(long, env = "LIVEDASH_KEEP_RECORDINGS", value_name = "AGE,SIZE", default_value = DEFAULT_KEEP_RECORDINGS,
          value_parser = KeepRecordings::parse)]
    pub keep_recordings: KeepRecordings,

    /// Most viewer WebSockets (`/ws/watch/...`) open at once; more get 503.
    #[arg(long, env = "LIVEDASH_MAX_VIEWERS", value_name = "N", default_value_t = DEFAULT_MAX_VIEWERS)]
    pub max_viewers: usize,

    /// Most viewer WebSockets one client address may hold; more get 429.
    #[arg(long, env = "LIVEDASH_MAX_VIEWERS_PER_ADDRESS", value_name = "N", default_value_t = DEFAULT_MAX_VIEWERS_PER_ADDRESS)]
    pub max_viewers_per_address: usize,

    /// Viewer WebSockets are pinged this often, in seconds, and closed when a ping goes unanswered
    /// until the next.
    #[arg(long, env = "LIVEDASH_VIEWER_PING_INTERVAL", value_name = "SECONDS", default_value = DEFAULT_VIEWER_PING_SECONDS,
          value_parser = parse_ping_interval)]
    pub viewer_ping_interval: Duration,

    /// Log every HTTP request (address, method, path without its query, status, bytes, time). Off by
    /// default: at thousands of viewers the log line costs about a third of serving a segment, and
    /// an access log belongs in the HTTP cache in front anyway.
    #[arg(long, env = "LIVEDASH_ACCESS_LOG")]
    pub access_log: bool,

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

/// What livedash does other than serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Prints a publish token for STREAM, signed with `--publish-secret` (or LIVEDASH_PUBLISH_SECRET).
    Token {
        /// The stream id the token lets its holder publish.
        #[arg(value_parser = parse_stream_id)]
        stream: StreamId,
        /// How long the token may be used to start publishing (e.g. `30m`, `1h`, `7d`).
        #[arg(long, value_name = "DURATION", default_value = DEFAULT_TOKEN_TTL, value_parser = parse_ttl)]
        ttl: Duration,
    },
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

fn parse_ping_interval(text: &str) -> Result<Duration, String> {
    parse_seconds_in(text, 0.1, 300.0)
}

/// `--rtmp-bind`: where to listen for RTMP, or nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtmpBind(pub Option<SocketAddr>);

/// `0` (RTMP off) or an `ADDR:PORT`.
fn parse_rtmp_bind(text: &str) -> Result<RtmpBind, String> {
    if text.trim() == "0" {
        return Ok(RtmpBind(None));
    }
    text.parse().map(|a| RtmpBind(Some(a))).map_err(|_| format!("\"{text}\" is not ADDR:PORT (e.g. 0.0.0.0:1935) or 0 for no RTMP"))
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("\"{text}\" is not a duration like 30m, 1h or 7d ({e})"))
}

fn parse_stream_id(text: &str) -> Result<StreamId, String> {
    StreamId::parse(text).map_err(|e| e.to_string())
}

fn parse_allowed_origins(text: &str) -> Result<AllowedOrigins, String> {
    AllowedOrigins::parse(text.split(','))
}

/// `http(s)://host[:port][/path]`, the host a host and the path plain URL characters: the URL is
/// written into every manifest.
fn parse_public_url(text: &str) -> Result<String, String> {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    let (host, path) = match rest {
        Some(rest) => rest.split_at(rest.find('/').unwrap_or(rest.len())),
        None => return Err(format!("{text:?} must start with http:// or https://")),
    };
    let path_ok = path.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>' | b'\\' | b'`' | b'{' | b'}' | b'|' | b'^'));
    if !crate::auth::host::is_valid_host(host) || !path_ok || path.contains(['?', '#']) {
        return Err(format!("{text:?} is not a base URL like https://live.example.com"));
    }
    Ok(text.to_string())
}

fn parse_reconnect_grace(text: &str) -> Result<Duration, String> {
    parse_seconds_in(text, 0.0, 600.0)
}

/// Shortest `--publish-secret`: an HMAC key of a few bytes can be guessed offline from one token.
const MIN_PUBLISH_SECRET_BYTES: usize = 16;

fn parse_publish_secret(text: &str) -> Result<String, String> {
    if text.len() < MIN_PUBLISH_SECRET_BYTES {
        return Err(format!(
            "the publish secret is {} bytes long; use at least {MIN_PUBLISH_SECRET_BYTES} random bytes (e.g. `openssl rand -hex 32`)",
            text.len()
        ));
    }
    Ok(text.to_string())
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
        assert_eq!(config.max_streams, crate::limits::default_max_streams());
        assert_eq!(config.idle_timeout, Duration::from_secs(15));
        assert_eq!(config.reconnect_grace, Duration::from_secs(10));
        assert!(!config.trust_forwarded);
        assert_eq!(config.allowed_origins, AllowedOrigins::default());
        assert_eq!(config.max_viewers_per_address, DEFAULT_MAX_VIEWERS_PER_ADDRESS);
        assert!(config.command.is_none(), "the server is the default command");
        assert_eq!(config.rtmp_bind, RtmpBind(Some("0.0.0.0:1935".parse().unwrap())));
        let off = Config::try_parse_from(["livedash", "--rtmp-bind", "0"]).unwrap();
        assert_eq!(off.rtmp_bind, RtmpBind(None));
        assert!(Config::try_parse_from(["livedash", "--rtmp-bind", "1935"]).is_err(), "a port alone is no address");
    }

    #[test]
    fn security_flags_are_parsed_and_checked() {
        let config = Config::try_parse_from([
            "livedash", "--trust-forwarded", "--allowed-origins", "https://a.example, *", "--publish-secret", "0123456789abcdef",
            "--auth-webhook", "http://127.0.0.1:9/auth", "--public-url", "https://live.example.com/a&b",
        ])
        .unwrap();
        assert!(config.trust_forwarded && config.allowed_origins.any);
        assert_eq!(config.allowed_origins.listed, ["https://a.example"]);
        for (flag, bad) in [
            ("--allowed-origins", "a.example"),
            ("--auth-webhook", "https://auth.example"),
            ("--public-url", "live.example.com"),
            ("--public-url", "http://x\"/><BaseURL>"),
            ("--public-url", "http://live.example.com/\"><x>"),
            ("--publish-secret", "fifteen bytes.."),
        ] {
            assert!(Config::try_parse_from(["livedash", flag, bad]).is_err(), "{flag} {bad}");
        }
    }

    #[test]
    fn the_token_command_takes_a_stream_and_a_ttl() {
        let config = Config::try_parse_from(["livedash", "token", "cam1", "--ttl", "30m", "--publish-secret", "a long enough secret"]).unwrap();
        match config.command {
            Some(Command::Token { stream, ttl }) => assert_eq!((stream.as_str(), ttl), ("cam1", Duration::from_secs(1800))),
            other => panic!("{other:?}"),
        }
        assert_eq!(config.publish_secret.as_deref(), Some("a long enough secret"));
        let short = Config::try_parse_from(["livedash", "--publish-secret", "k"]).unwrap_err().to_string();
        assert!(short.contains("the publish secret is 1 bytes long; use at least 16"), "{short}");
        assert!(Config::try_parse_from(["livedash", "token", "../x"]).is_err());
        assert!(Config::try_parse_from(["livedash", "token", "cam", "--ttl", "soon"]).is_err());
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
