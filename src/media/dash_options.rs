//! The `dash` muxer's options for one presentation, decided from the configuration and the tracks.
//!
//! Pure so the choices can be tested without libavformat:
//! - H.264/VP9/AV1 (+Opus/AAC) → CMAF/fMP4 segments (forced: `auto` would put Opus in WebM). The same
//!   segments are served as HLS, but livedash writes those playlists itself ([`crate::hls`]): FFmpeg's
//!   `hls_playlist` writes the multivariant playlist once, before any bitrate is known, so it has no video
//!   variant, and it rewrites every media playlist whole on every segment.
//! - VP8 → WebM segments (VP8 has no MP4 mapping in FFmpeg 5.1); WebM segments can't be chunked, so no
//!   low latency and no HLS.
//! - Low latency (`ldash`): chunked segments (`streaming`), `$Number$` templates without a timeline (so
//!   the MPD need not change per segment), short fragments, producer reference time and a target latency
//!   (which libavformat only writes together with `write_prft`, which needs `utc_timing_url`).
//! - Every segment stays on disk so a finished stream is a complete recording. In low latency the muxer
//!   remembers only a window of them ([`LIVE_WINDOW`]; without one it keeps ~1.1 KB per segment per
//!   track for the whole stream) and its deletions of older ones change nothing
//!   (`media::dash_files`); the MPD has no timeline there, so its recording still lists every
//!   segment. With a timeline (VP8, `--latency normal`) the muxer has the same window and its final
//!   MPD would list only that: the rest of the timeline is kept on disk and put back into the final
//!   MPD ([`super::timeline_log`]).

use std::time::Duration;

/// Which segment container a presentation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentType {
    Mp4,
    Webm,
}

impl SegmentType {
    fn muxer_value(self) -> &'static str {
        match self {
            SegmentType::Mp4 => "mp4",
            SegmentType::Webm => "webm",
        }
    }
}

/// What the operator configured, per presentation.
#[derive(Debug, Clone, PartialEq)]
pub struct DashSettings {
    /// Target segment length; segments are cut at the first keyframe after it.
    pub segment_duration: Duration,
    /// Whether low latency was asked for (it applies only to MP4 segments).
    pub low_latency: bool,
    /// Length of a CMAF fragment (chunk) inside a segment in low-latency mode.
    pub fragment_duration: Duration,
    /// The latency players should aim for (MPD ServiceDescription) in low-latency mode.
    pub target_latency: Duration,
    /// Absolute URL of this server's `/time`, for the MPD's `<UTCTiming>`.
    pub utc_timing_url: Option<String>,
    /// A tag unique to this presentation, put in every segment name so that a stream id used again
    /// never serves a cached segment of an earlier presentation (segments are cached as immutable).
    pub presentation_tag: String,
}

/// How far back a live low-latency viewer may seek (the MPD's `timeShiftBufferDepth`), and so how many
/// segments the muxer remembers: two minutes, the same as the HLS playlists' live window.
pub const LIVE_WINDOW: Duration = Duration::from_secs(120);

/// Seconds as the muxer's duration options expect them.
fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// Returns the `dash` muxer options for these settings and segment type.
pub fn muxer_options(settings: &DashSettings, segment_type: SegmentType) -> Vec<(&'static str, String)> {
    let tag = &settings.presentation_tag;
    let mut options = vec![
        ("dash_segment_type", segment_type.muxer_value().to_string()),
        ("seg_duration", seconds(settings.segment_duration)),
        ("remove_at_exit", "0".to_string()),
        ("use_template", "1".to_string()),
        ("init_seg_name", format!("init-{tag}-$RepresentationID$.$ext$")),
        ("media_seg_name", format!("chunk-{tag}-$RepresentationID$-$Number%05d$.$ext$")),
    ];
    if let Some(url) = &settings.utc_timing_url {
        options.push(("utc_timing_url", xml_attribute(url)));
    }
    if is_low_latency(settings, segment_type) {
        options.extend([
            ("window_size", window_segments(settings.segment_duration).to_string()),
            ("ldash", "1".to_string()),
            ("streaming", "1".to_string()),
            ("use_timeline", "0".to_string()),
            ("frag_type", "duration".to_string()),
            ("frag_duration", seconds(settings.fragment_duration)),
            ("target_latency", seconds(settings.target_latency)),
            ("write_prft", "1".to_string()),
            // Segment numbers follow timestamps, so after a reconnect's gap they match the wall clock
            // players compute them from (without it the numbering falls behind by the gap for good).
            ("index_correction", "1".to_string()),
            // Without a timeline the MPD never changes while live, and libavformat would tell players
            // to re-read it only every 500 s: re-reading it every segment lets them see the end.
            ("update_period", settings.segment_duration.as_secs().max(1).to_string()),
        ]);
    } else {
        // A new segment is listed only when it is finished; re-reading the MPD every second (not every
        // segment, libavformat's default) lets players find it up to a segment sooner.
        options.extend([
            ("window_size", window_segments(settings.segment_duration).to_string()),
            ("use_timeline", "1".to_string()),
            ("update_period", "1".to_string()),
        ]);
    }
    options
}

/// Segments in [`LIVE_WINDOW`], at least one.
fn window_segments(segment_duration: Duration) -> u64 {
    let segment = segment_duration.as_secs_f64().max(0.001);
    (LIVE_WINDOW.as_secs_f64() / segment).ceil().max(1.0) as u64
}

/// FFmpeg 5.1's dashenc prints `utc_timing_url` into the MPD's `<UTCTiming value="%s"/>` as it is, so
/// it must arrive escaped for an XML attribute (it is used nowhere else).
fn xml_attribute(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Low latency applies only when asked for and the segments are chunkable (MP4).
pub fn is_low_latency(settings: &DashSettings, segment_type: SegmentType) -> bool {
    settings.low_latency && segment_type == SegmentType::Mp4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(low_latency: bool) -> DashSettings {
        DashSettings {
            segment_duration: Duration::from_secs(2),
            low_latency,
            fragment_duration: Duration::from_millis(250),
            target_latency: Duration::from_millis(1000),
            utc_timing_url: Some("http://127.0.0.1:8080/time".into()),
            presentation_tag: "p1".into(),
        }
    }

    fn get<'a>(options: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        options.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn low_latency_mp4_is_chunked_templated_and_targets_a_latency() {
        let options = muxer_options(&settings(true), SegmentType::Mp4);
        assert_eq!(get(&options, "ldash"), Some("1"));
        assert_eq!(get(&options, "streaming"), Some("1"));
        assert_eq!(get(&options, "use_timeline"), Some("0"));
        assert_eq!(get(&options, "frag_duration"), Some("0.250"));
        assert_eq!(get(&options, "target_latency"), Some("1.000"));
        assert_eq!(get(&options, "write_prft"), Some("1"));
        assert_eq!(get(&options, "utc_timing_url"), Some("http://127.0.0.1:8080/time"));
        assert_eq!(get(&options, "dash_segment_type"), Some("mp4"));
        assert_eq!(get(&options, "window_size"), Some("60"), "two minutes of 2 s segments");
    }

    #[test]
    fn the_window_covers_two_minutes_whatever_the_segment_length() {
        assert_eq!(window_segments(Duration::from_millis(500)), 240);
        assert_eq!(window_segments(Duration::from_secs(3)), 40);
        assert_eq!(window_segments(Duration::from_secs(7)), 18);
        assert_eq!(window_segments(Duration::from_secs(600)), 1);
    }

    #[test]
    fn ffmpeg_never_writes_hls_playlists() {
        for segment_type in [SegmentType::Mp4, SegmentType::Webm] {
            for low_latency in [true, false] {
                assert_eq!(get(&muxer_options(&settings(low_latency), segment_type), "hls_playlist"), None);
            }
        }
    }

    #[test]
    fn webm_segments_never_get_low_latency_or_hls() {
        let options = muxer_options(&settings(true), SegmentType::Webm);
        assert!(!is_low_latency(&settings(true), SegmentType::Webm));
        assert_eq!(get(&options, "dash_segment_type"), Some("webm"));
        assert_eq!(get(&options, "ldash"), None);
        assert_eq!(get(&options, "streaming"), None);
        assert_eq!(get(&options, "use_timeline"), Some("1"));
    }

    #[test]
    fn normal_mode_keeps_a_timeline_with_a_window() {
        let options = muxer_options(&settings(false), SegmentType::Mp4);
        assert_eq!(get(&options, "ldash"), None);
        assert_eq!(get(&options, "use_timeline"), Some("1"));
        assert_eq!(get(&options, "window_size"), Some("60"), "two minutes of 2 s segments");
        assert_eq!(get(&options, "seg_duration"), Some("2.000"));
        assert_eq!(get(&options, "update_period"), Some("1"));
    }

    #[test]
    fn the_time_url_is_escaped_for_the_mpd() {
        let hostile = DashSettings { utc_timing_url: Some(r#"http://a/x"/><BaseURL>&'</BaseURL>"#.into()), ..settings(true) };
        let options = muxer_options(&hostile, SegmentType::Mp4);
        assert_eq!(get(&options, "utc_timing_url"), Some("http://a/x&quot;/&gt;&lt;BaseURL&gt;&amp;&apos;&lt;/BaseURL&gt;"));
    }

    #[test]
    fn segment_names_carry_the_presentation_tag() {
        let options = muxer_options(&settings(false), SegmentType::Mp4);
        assert_eq!(get(&options, "init_seg_name"), Some("init-p1-$RepresentationID$.$ext$"));
        assert_eq!(get(&options, "media_seg_name"), Some("chunk-p1-$RepresentationID$-$Number%05d$.$ext$"));
    }
}
