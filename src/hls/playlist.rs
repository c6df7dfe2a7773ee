//! HLS playlists as pure functions of a snapshot: [`render_multivariant`] from what the init segments
//! and the first chunks say, [`render_media`] from a rendition's [`Timeline`]. Low-latency mode adds
//! the LL-HLS tags (RFC 8216bis; Apple's "Enabling Low-Latency HLS"): a part per CMAF chunk as a byte
//! range of its segment, `EXT-X-PART-INF`, `EXT-X-SERVER-CONTROL` with blocking reload, a preload hint
//! for the next part and a rendition report for the other rendition. A finished recording is a VOD
//! playlist of every segment, without parts.

use std::fmt::Write;

use super::timeline::{Segment, Timeline};
use crate::media::TrackKind;

/// The playlist version: byte ranges and `EXT-X-MAP` in fMP4 playlists need 6; 7 adds nothing we rely
/// on but is what every LL-HLS player expects at least.
const VERSION: u32 = 7;
/// The audio rendition group's id in the multivariant playlist.
const AUDIO_GROUP: &str = "audio";

/// A rendition as the multivariant playlist describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionSummary {
    pub kind: TrackKind,
    /// Its playlist, relative to the multivariant playlist.
    pub uri: String,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub frame_rate: Option<f64>,
    pub channels: u16,
    pub peak_bps: u64,
    pub average_bps: u64,
}

/// The multivariant playlist: one variant (the video, or the audio of an audio-only stream), the
/// audio as an `EXT-X-MEDIA` rendition of it when there is video.
pub fn render_multivariant(renditions: &[RenditionSummary]) -> String {
    let video = renditions.iter().find(|r| r.kind == TrackKind::Video);
    let audio = renditions.iter().find(|r| r.kind == TrackKind::Audio);
    let mut out = format!("#EXTM3U\n#EXT-X-VERSION:{VERSION}\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let Some(main) = video.or(audio) else { return out };
    let with_group = video.and(audio);
    if let Some(audio) = with_group {
        let channels = if audio.channels > 0 { format!(",CHANNELS=\"{}\"", audio.channels) } else { String::new() };
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES{channels},URI=\"{}\"",
            audio.uri
        );
    }
    let extra = with_group.map_or((0, 0), |a| (a.peak_bps, a.average_bps));
    let codecs: Vec<&str> = [video, audio].into_iter().flatten().map(|r| r.codec.as_str()).collect();
    let _ = write!(
        out,
        "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"",
        (main.peak_bps + extra.0).max(1),
        (main.average_bps + extra.1).max(1),
        codecs.join(",")
    );
    if let Some(video) = video {
        let _ = write!(out, ",RESOLUTION={}x{}", video.width, video.height);
        if let Some(rate) = video.frame_rate {
            let _ = write!(out, ",FRAME-RATE={rate:.3}");
        }
    }
    if with_group.is_some() {
        let _ = write!(out, ",AUDIO=\"{AUDIO_GROUP}\"");
    }
    let _ = writeln!(out, "\n{}", main.uri);
    out
}

/// The newest part of another rendition, for `EXT-X-RENDITION-REPORT`.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionReport {
    pub uri: String,
    pub last_msn: u64,
    pub last_part: Option<u64>,
}

/// Everything a media playlist shows besides the timeline itself.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaView {
    pub init_uri: String,
    /// The segment file name for a segment number, e.g. `chunk-<tag>-0-00042.m4s`.
    pub segment_prefix: String,
    /// `EXT-X-TARGETDURATION`, whole seconds.
    pub target_duration: u64,
    /// `Some(PART-TARGET)` in low-latency mode.
    pub part_target: Option<f64>,
    /// The presentation is finished: a VOD playlist with `EXT-X-ENDLIST`.
    pub ended: bool,
    pub reports: Vec<RenditionReport>,
}

impl MediaView {
    /// The file name of segment `number`.
    pub fn segment_uri(&self, number: u64) -> String {
        format!("{}{number:05}.m4s", self.segment_prefix)
    }
}

/// How long before the live edge a low-latency player should play: three part targets, the least
/// RFC 8216bis allows.
pub fn part_hold_back(part_target: f64) -> f64 {
    3.0 * part_target
}

/// A rendition's media playlist.
pub fn render_media(view: &MediaView, timeline: &Timeline) -> String {
    let low_latency = view.part_target.filter(|_| !view.ended);
    let segments: Vec<&Segment> =
        timeline.segments().iter().filter(|s| s.complete || (low_latency.is_some() && !s.parts.is_empty())).collect();
    let mut out = format!("#EXTM3U\n#EXT-X-VERSION:{VERSION}\n#EXT-X-TARGETDURATION:{}\n", view.target_duration);
    if let Some(part_target) = low_latency {
        let _ = writeln!(
            out,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3}\n#EXT-X-PART-INF:PART-TARGET={part_target:.3}",
            part_hold_back(part_target)
        );
    }
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", segments.first().map_or(0, |s| s.msn));
    if timeline.discontinuity_sequence() > 0 {
        let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", timeline.discontinuity_sequence());
    }
    if view.ended {
        out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", view.init_uri);
    for (i, segment) in segments.iter().enumerate() {
        let uri = view.segment_uri(segment.number);
        if segment.discontinuity && i > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if let Some(millis) = segment.program_date_millis {
            let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", rfc3339_millis(millis));
        }
        if low_latency.is_some() {
            for part in &segment.parts {
                let independent = if part.independent { ",INDEPENDENT=YES" } else { "" };
                let _ = writeln!(
                    out,
                    "#EXT-X-PART:DURATION={:.3},URI=\"{uri}\",BYTERANGE=\"{}@{}\"{independent}",
                    part.duration, part.length, part.offset
                );
            }
        }
        if segment.complete {
            let _ = writeln!(out, "#EXTINF:{:.3},\n{uri}", segment.duration);
        }
    }
    if low_latency.is_some() {
        let hint = match timeline.segments().back() {
            Some(last) if !last.complete => Some((last.number, last.bytes)),
            Some(last) => Some((last.number + 1, 0)),
            None => None,
        };
        if let Some((number, start)) = hint {
            let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\",BYTERANGE-START={start}", view.segment_uri(number));
        }
        for report in &view.reports {
            let _ = write!(out, "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={}", report.uri, report.last_msn);
            if let Some(part) = report.last_part {
                let _ = write!(out, ",LAST-PART={part}");
            }
            out.push('\n');
        }
    }
    if view.ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// `2026-11-27T15:00:00.123Z` for Unix milliseconds (proleptic Gregorian, UTC).
pub fn rfc3339_millis(unix_millis: i64) -> String {
    let (days, millis) = (unix_millis.div_euclid(86_400_000), unix_millis.rem_euclid(86_400_000));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, ms) = (millis / 3_600_000, millis / 60_000 % 60, millis / 1000 % 60, millis % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::boxes::{Fragment, ProducerTime};
    use crate::hls::scan::ScannedPart;

    fn video() -> RenditionSummary {
        RenditionSummary {
            kind: TrackKind::Video,
            uri: "media_1.m3u8".into(),
            codec: "avc1.42c01f".into(),
            width: 640,
            height: 480,
            frame_rate: Some(30.0),
            channels: 0,
            peak_bps: 150_000,
            average_bps: 140_000,
        }
    }

    fn audio() -> RenditionSummary {
        RenditionSummary {
            kind: TrackKind::Audio,
            uri: "media_0.m3u8".into(),
            codec: "opus".into(),
            width: 0,
            height: 0,
            frame_rate: None,
            channels: 1,
            peak_bps: 40_000,
            average_bps: 36_000,
        }
    }

    #[test]
    fn the_multivariant_playlist_has_the_video_variant_with_the_audio_group() {
        let text = render_multivariant(&[audio(), video()]);
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "#EXTM3U",
                "#EXT-X-VERSION:7",
                "#EXT-X-INDEPENDENT-SEGMENTS",
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"1\",URI=\"media_0.m3u8\"",
                "#EXT-X-STREAM-INF:BANDWIDTH=190000,AVERAGE-BANDWIDTH=176000,CODECS=\"avc1.42c01f,opus\",RESOLUTION=640x480,FRAME-RATE=30.000,AUDIO=\"audio\"",
                "media_1.m3u8",
            ]
        );
    }

    #[test]
    fn an_audio_only_stream_is_a_single_audio_variant() {
        let text = render_multivariant(&[audio()]);
        assert_eq!(
            text.lines().skip(3).collect::<Vec<_>>(),
            ["#EXT-X-STREAM-INF:BANDWIDTH=40000,AVERAGE-BANDWIDTH=36000,CODECS=\"opus\"", "media_0.m3u8"]
        );
    }

    fn timeline(segments: u64, parts_in_last: u64) -> Timeline {
        let mut timeline = Timeline::new(1000, Some(60.0));
        let produced = Some(ProducerTime { unix_millis: 1_795_000_000_000, media_time: 0 });
        for number in 1..=segments {
            let parts = if number == segments { parts_in_last } else { 4 };
            for i in 0..parts {
                let start = (number - 1) * 2000 + i * 500;
                timeline.add_part(number, &ScannedPart {
                    offset: i * 1000,
                    length: 1000,
                    fragment: Fragment { start, duration: 500, samples: 15, independent: i == 0 },
                    produced,
                });
            }
            if number < segments {
                timeline.finish_segment(number, 0);
            }
        }
        timeline
    }

    fn view(ended: bool) -> MediaView {
        MediaView {
            init_uri: "init-t-1.m4s".into(),
            segment_prefix: "chunk-t-1-".into(),
            target_duration: 2,
            part_target: Some(0.5),
            ended,
            reports: vec![RenditionReport { uri: "media_0.m3u8".into(), last_msn: 2, last_part: Some(1) }],
        }
    }

    #[test]
    fn a_low_latency_playlist_lists_parts_a_preload_hint_and_the_other_rendition() {
        let text = render_media(&view(false), &timeline(2, 2));
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "#EXTM3U",
                "#EXT-X-VERSION:7",
                "#EXT-X-TARGETDURATION:2",
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500",
                "#EXT-X-PART-INF:PART-TARGET=0.500",
                "#EXT-X-MEDIA-SEQUENCE:1",
                "#EXT-X-MAP:URI=\"init-t-1.m4s\"",
                "#EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:06:40.000Z",
                "#EXT-X-PART:DURATION=0.500,URI=\"chunk-t-1-00001.m4s\",BYTERANGE=\"1000@0\",INDEPENDENT=YES",
                "#EXT-X-PART:DURATION=0.500,URI=\"chunk-t-1-00001.m4s\",BYTERANGE=\"1000@1000\"",
                "#EXT-X-PART:DURATION=0.500,URI=\"chunk-t-1-00001.m4s\",BYTERANGE=\"1000@2000\"",
                "#EXT-X-PART:DURATION=0.500,URI=\"chunk-t-1-00001.m4s\",BYTERANGE=\"1000@3000\"",
                "#EXTINF:2.000,",
                "chunk-t-1-00001.m4s",
                "#EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:06:42.000Z",
                "#EXT-X-PART:DURATION=0.500,URI=\"chunk-t-1-00002.m4s\",BYTERANGE=\"1000@0\",INDEPENDENT=YES",
                "#EXT-X-PART:DURATION=0.500,URI=\"chunk-t-1-00002.m4s\",BYTERANGE=\"1000@1000\"",
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"chunk-t-1-00002.m4s\",BYTERANGE-START=2000",
                "#EXT-X-RENDITION-REPORT:URI=\"media_0.m3u8\",LAST-MSN=2,LAST-PART=1",
            ]
        );
    }

    #[test]
    fn a_finished_recording_is_vod_without_parts_and_ends_with_endlist() {
        let mut timeline = timeline(3, 4);
        timeline.finish_segment(3, 0);
        let text = render_media(&view(true), &timeline);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..6], ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:1", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-MAP:URI=\"init-t-1.m4s\""]);
        assert_eq!(lines.iter().filter(|l| l.starts_with("#EXTINF:2.000,")).count(), 3);
        assert!(!text.contains("#EXT-X-PART") && !text.contains("PRELOAD-HINT") && !text.contains("SERVER-CONTROL"));
        assert_eq!(lines.last(), Some(&"#EXT-X-ENDLIST"));
    }

    #[test]
    fn normal_mode_lists_whole_segments_only() {
        let mut view = view(false);
        view.part_target = None;
        let text = render_media(&view, &timeline(2, 2));
        assert!(!text.contains("#EXT-X-PART") && !text.contains("chunk-t-1-00002.m4s"));
        assert!(text.ends_with("#EXTINF:2.000,\nchunk-t-1-00001.m4s\n"));
    }

    #[test]
    fn dates_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(951_782_400_001), "2000-02-29T00:00:00.001Z");
    }
}
