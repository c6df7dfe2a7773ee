//! The packager loop: open the recorder's stream, map its tracks into the `dash` muxer, then copy
//! packets (timestamps rebased and repaired) until the input ends, and write the trailer.

use std::time::{SystemTime, UNIX_EPOCH};

use ffmpeg_next as ffmpeg;
use ffmpeg::format::context::Output;
use ffmpeg::{Dictionary, Packet, Rational, codec, media};

use super::chunks::ChunkSource;
use super::dash_options::{self, SegmentType};
use super::ffi::{self, ChunkInput};
use super::timestamps::{MICROS, PresentationStart, Stamps, TrackClock};
use super::{MANIFEST, MediaError, PackagerEvent, PackagerJob, StartInfo, Summary, TrackInfo};

/// How many recorder bytes libavformat may read to learn the tracks. Small, because every byte read
/// before the muxer starts delays its clock; 32 KiB covers a recorder's header and first frames.
const PROBE_BYTES: &str = "32768";

/// Containers the demuxer may accept, whatever the publisher claims.
const FORMAT_WHITELIST: &str = "matroska,webm,mov,mp4";

/// Runs one presentation to its end, reporting through `on_event`.
pub(super) fn run(job: &PackagerJob, source: ChunkSource, on_event: &mut dyn FnMut(PackagerEvent)) {
    let started = std::time::Instant::now();
    let mut input = match open_input(job, source) {
        Ok(input) => input,
        Err(error) => return on_event(PackagerEvent::Failed { error, salvaged: None }),
    };
    let (mut output, mut tracks, start) = match open_output(job, &input) {
        Ok(opened) => opened,
        Err(error) => return on_event(PackagerEvent::Failed { error, salvaged: None }),
    };
    let segment_type = start.segment_type;
    log::debug!(
        "stream {}: muxer started {:?} after the packager, having read {} bytes",
        job.stream,
        started.elapsed(),
        input.source().bytes_read()
    );
    on_event(PackagerEvent::Started(start));
    let copied = copy_packets(job, &mut input, &mut output, &mut tracks, segment_type);
    let trailer = output.write_trailer().map_err(|e| output_error(job, e));
    let summary = Summary {
        duration_seconds: copied.end_seconds,
        packets: copied.packets,
        bytes_in: input.source().bytes_read(),
    };
    let event = match (copied.error, trailer) {
        (None, Ok(())) => PackagerEvent::Finished(summary),
        (Some(error), Ok(())) => PackagerEvent::Failed { error, salvaged: Some(summary) },
        (_, Err(error)) => PackagerEvent::Failed { error, salvaged: None },
    };
    on_event(event);
}

fn open_input(job: &PackagerJob, source: ChunkSource) -> Result<ChunkInput, MediaError> {
    let mut options = Dictionary::new();
    options.set("probesize", PROBE_BYTES);
    // Don't wait for ~20 video frames to guess a frame rate: stream copy doesn't need it.
    options.set("fpsprobesize", "0");
    // Matroska stores no dts; libavformat would decode ~7 H.264 frames (~0.25 s of waiting, which would
    // stay as latency) to guess the reordering delay. Our timestamp repair fills dts instead.
    options.set("max_ts_probe", "1");
    options.set("format_whitelist", FORMAT_WHITELIST);
    // The input is our own AVIOContext: no protocol (file, http...) may ever be opened from it.
    options.set("protocol_whitelist", "none");
    let opened = ffi::open_chunk_input(source, job.format.container.demuxer(), options).and_then(|(mut input, unused)| {
        debug_assert!(unused.iter().next().is_none(), "unknown demuxer options: {unused:?}");
        // Every packet read before the muxer starts delays its clock (availabilityStartTime), and that
        // delay stays as latency: read ahead only when the header doesn't tell enough for stream copy.
        let header_suffices = input.streams().all(|s| {
            let parameters = s.parameters();
            header_suffices(parameters.medium(), parameters.id(), ffi::known_parameters(&parameters))
        });
        if !header_suffices {
            ffi::find_stream_info(&mut input)?;
        }
        Ok(input)
    });
    match opened {
        Ok(input) => Ok(input),
        Err(ffmpeg::Error::Eof) => Err(MediaError::NoMedia { stream: job.stream.clone() }),
        Err(e) => Err(MediaError::InvalidData {
            stream: job.stream.clone(),
            container: job.format.container,
            reason: e.to_string(),
        }),
    }
}

/// Whether a stream's header alone gives what stream copy into DASH needs. H.264 and AAC/Opus carry
/// their decoder configuration in the header; VP9 and AV1 in MP4 also need the pixel format (for
/// `vpcC`/`av1C`), which only decoding a frame tells.
fn header_suffices(medium: media::Type, codec: codec::Id, known: ffi::KnownParameters) -> bool {
    match medium {
        media::Type::Video => {
            let sized = known.width > 0 && known.height > 0;
            match codec {
                codec::Id::H264 => sized && known.extradata_len > 0,
                codec::Id::VP8 => sized,
                _ => sized && known.pixel_format_known,
            }
        }
        media::Type::Audio => {
            let configured = known.sample_rate > 0 && known.channels > 0;
            match codec {
                codec::Id::OPUS | codec::Id::AAC => configured && known.extradata_len > 0,
                _ => configured,
            }
        }
        // Subtitles and data are not packaged.
        _ => true,
    }
}

/// Where each input stream goes.
struct Track {
    output_index: usize,
    input_time_base: Rational,
    clock: TrackClock,
}

type TrackMap = Vec<Option<Track>>;

fn open_output(job: &PackagerJob, input: &ChunkInput) -> Result<(Output, TrackMap, StartInfo), MediaError> {
    let stream = || job.stream.clone();
    let mut infos = Vec::new();
    let mut has_vp8 = false;
    let mut non_opus_audio = None;
    for input_stream in input.streams() {
        let parameters = input_stream.parameters();
        let kind = match parameters.medium() {
            media::Type::Video => "video",
            media::Type::Audio => "audio",
            _ => continue,
        };
        let id = parameters.id();
        let supported = match kind {
            "video" => matches!(id, codec::Id::H264 | codec::Id::VP8 | codec::Id::VP9 | codec::Id::AV1),
            _ => matches!(id, codec::Id::OPUS | codec::Id::AAC),
        };
        let name = codec_name(id);
        if !supported {
            return Err(MediaError::UnsupportedCodec { stream: stream(), kind, codec: name });
        }
        has_vp8 |= id == codec::Id::VP8;
        if kind == "audio" && id != codec::Id::OPUS {
            non_opus_audio = Some(name.clone());
        }
        infos.push((input_stream.index(), TrackInfo { kind, codec: name }));
    }
    if infos.is_empty() {
        return Err(MediaError::NoTracks { stream: stream() });
    }
    let segment_type = if has_vp8 { SegmentType::Webm } else { SegmentType::Mp4 };
    if let (SegmentType::Webm, Some(audio)) = (segment_type, non_opus_audio) {
        return Err(MediaError::Vp8NeedsOpus { stream: stream(), audio });
    }

    let mut output = ffi::dash_output(&job.dir.join(MANIFEST)).map_err(|e| output_error(job, e))?;
    let mut tracks: TrackMap = (0..input.nb_streams()).map(|_| None).collect();
    for (output_index, (input_index, _)) in infos.iter().enumerate() {
        let input_stream = input.stream(*input_index).expect("index from streams()");
        let mut output_stream =
            output.add_stream(ffmpeg::encoder::find(codec::Id::None)).map_err(|e| output_error(job, e))?;
        output_stream.set_parameters(input_stream.parameters());
        output_stream.set_time_base(input_stream.time_base());
        ffi::clear_codec_tag(&mut output_stream);
        tracks[*input_index] =
            Some(Track { output_index, input_time_base: input_stream.time_base(), clock: TrackClock::default() });
    }

    let mut options = Dictionary::new();
    for (name, value) in dash_options::muxer_options(&job.settings, segment_type) {
        options.set(name, &value);
    }
    let unknown: Vec<String> = match output.write_header_with(options) {
        Ok(unused) => unused.iter().map(|(name, _)| name.to_string()).collect(),
        Err(e) => return Err(output_error(job, e)),
    };
    if !unknown.is_empty() {
        return Err(output_error(job, format!("the dash muxer does not know the options {unknown:?}")));
    }
    let start = StartInfo {
        tracks: infos.into_iter().map(|(_, info)| info).collect(),
        segment_type,
        low_latency: dash_options::is_low_latency(&job.settings, segment_type),
    };
    Ok((output, tracks, start))
}

/// What the copy loop achieved.
struct Copied {
    packets: u64,
    end_seconds: f64,
    /// Set when the input became unreadable before its end.
    error: Option<MediaError>,
}

/// When media time 0 was captured, as well as the server can tell. The publisher page starts its
/// recorder right before it sends `start`, so that message's arrival is the estimate; a client that
/// sends `start` long before any media is bounded by its first chunk, which can't hold more than about
/// a segment (Chromium's MP4 recorder sends one chunk per keyframe interval).
fn capture_start(job: &PackagerJob, first_chunk_at: Option<SystemTime>) -> SystemTime {
    let latest = first_chunk_at.unwrap_or(job.recording_started);
    job.recording_started.max(latest.checked_sub(job.settings.segment_duration).unwrap_or(latest))
}

fn unix_micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

fn copy_packets(
    job: &PackagerJob,
    input: &mut ChunkInput,
    output: &mut Output,
    tracks: &mut TrackMap,
    segment_type: SegmentType,
) -> Copied {
    let output_time_bases: Vec<Rational> = output.streams().map(|s| s.time_base()).collect();
    let capture_zero = unix_micros(capture_start(job, input.source().first_chunk_at()));
    let mut tagged = vec![false; output_time_bases.len()];
    let mut webm_audio_tail = WebmAudioTail::new(output, segment_type);
    let mut start = PresentationStart::default();
    let mut copied = Copied { packets: 0, end_seconds: 0.0, error: None };
    loop {
        let mut packet = Packet::empty();
        match packet.read(input) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            Err(e) => {
                // An unreadable tail after the publisher left is a cut-off last block, not bad data.
                if !input.source().ended() {
                    copied.error = Some(MediaError::CorruptAfter {
                        stream: job.stream.clone(),
                        bytes: input.source().bytes_read(),
                        reason: e.to_string(),
                    });
                }
                break;
            }
        }
        let Some(track) = tracks.get_mut(packet.stream()).and_then(Option::as_mut) else { continue };
        if packet.size() == 0 {
            continue;
        }
        let time_base = track.input_time_base;
        let first_seen = packet.dts().or(packet.pts()).map(|ts| rescale(ts, time_base, MICROS.into()));
        let start_micros = start.observe(first_seen);
        let offset = rescale(start_micros, MICROS.into(), time_base);
        let repaired = track.clock.repair(Stamps { pts: packet.pts(), dts: packet.dts() }, offset, packet.duration());
        packet.set_pts(Some(repaired.pts));
        packet.set_dts(Some(repaired.dts));
        let end = (repaired.pts + packet.duration().max(0)) as f64 * f64::from(time_base);
        copied.end_seconds = copied.end_seconds.max(end);

        let output_index = track.output_index;
        if !tagged[output_index] {
            tagged[output_index] = true;
            let captured = capture_zero + rescale(repaired.pts, time_base, MICROS.into());
            if let Err(e) = ffi::set_capture_time(&mut packet, captured) {
                copied.error = Some(output_error(job, e));
                return copied;
            }
        }
        packet.rescale_ts(time_base, output_time_bases[output_index]);
        packet.set_stream(output_index);
        packet.set_position(-1);
        if let Err(e) = packet.write(output) {
            copied.error = Some(output_error(job, e));
            return copied;
        }
        copied.packets += 1;
        webm_audio_tail.remember(output_index, packet);
    }
    if let Err(e) = webm_audio_tail.push_out(output) {
        copied.error.get_or_insert(output_error(job, e));
    }
    copied
}

/// Works around a packet loss in FFmpeg 5.1's dash muxer with WebM segments: the WebM muxer holds back
/// each audio packet until the next one arrives (to keep it in the video keyframe's cluster), but at the
/// end the dash muxer closes the last segment file before that held-back packet is written, so the last
/// audio packet of every track would be lost. Sending a copy of it after the input ends pushes the real
/// one into the last segment; the copy is the one held back and dropped.
struct WebmAudioTail {
    /// The last packet written, per output stream, for WebM audio tracks only.
    last: Vec<Option<Packet>>,
    /// Which output streams need it.
    applies: Vec<bool>,
}

impl WebmAudioTail {
    fn new(output: &Output, segment_type: SegmentType) -> WebmAudioTail {
        let applies: Vec<bool> = output
            .streams()
            .map(|s| segment_type == SegmentType::Webm && s.parameters().medium() == media::Type::Audio)
            .collect();
        WebmAudioTail { last: applies.iter().map(|_| None).collect(), applies }
    }

    fn remember(&mut self, output_index: usize, packet: Packet) {
        if self.applies[output_index] {
            self.last[output_index] = Some(packet);
        }
    }

    fn push_out(&mut self, output: &mut Output) -> Result<(), ffmpeg::Error> {
        for mut copy in self.last.iter_mut().filter_map(Option::take) {
            let step = copy.duration().max(1);
            copy.set_pts(copy.pts().map(|pts| pts + step));
            copy.set_dts(copy.dts().map(|dts| dts + step));
            copy.write(output)?;
        }
        Ok(())
    }
}

fn rescale(value: i64, from: Rational, to: Rational) -> i64 {
    use ffmpeg::Rescale;
    value.rescale(from, to)
}

fn codec_name(id: codec::Id) -> String {
    format!("{id:?}").to_ascii_lowercase()
}

fn output_error(job: &PackagerJob, reason: impl ToString) -> MediaError {
    MediaError::Output { stream: job.stream.clone(), dir: job.dir.clone(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(width: i32, extradata_len: i32, pixel_format_known: bool) -> ffi::KnownParameters {
        ffi::KnownParameters { width, height: width, pixel_format_known, extradata_len, ..Default::default() }
    }

    #[test]
    fn h264_and_opus_headers_are_enough_vp9_needs_a_frame() {
        assert!(header_suffices(media::Type::Video, codec::Id::H264, video(640, 30, false)));
        assert!(!header_suffices(media::Type::Video, codec::Id::H264, video(640, 0, false)), "no avcC");
        assert!(!header_suffices(media::Type::Video, codec::Id::H264, video(0, 30, false)), "no size");
        assert!(header_suffices(media::Type::Video, codec::Id::VP8, video(640, 0, false)));
        assert!(!header_suffices(media::Type::Video, codec::Id::VP9, video(640, 0, false)));
        assert!(header_suffices(media::Type::Video, codec::Id::VP9, video(640, 0, true)));
        let opus = ffi::KnownParameters { sample_rate: 48000, channels: 1, extradata_len: 19, ..Default::default() };
        assert!(header_suffices(media::Type::Audio, codec::Id::OPUS, opus));
        assert!(!header_suffices(media::Type::Audio, codec::Id::OPUS, ffi::KnownParameters { channels: 0, ..opus }));
    }
}
