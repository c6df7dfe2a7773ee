//! The packager loop: open the recorder's stream, map its tracks into the `dash` muxer, copy packets
//! ([`super::copier`]) until the input ends; if the publisher vanished, wait for it to reconnect and
//! continue with its new recording; finally write the trailer.

use std::time::{Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use ffmpeg_next as ffmpeg;
use ffmpeg::{Dictionary, Rational, codec, media};

use super::chunks::ChunkSource;
use super::feed::{FeedReceiver, InputEnd};
use super::copier::{Copier, capture_start};
use super::dash_options::{self, SegmentType};
use super::ffi::{self, ChunkInput};
use super::timeline_log::TimelineLog;
use super::{Connection, MANIFEST, MediaError, PackagerEvent, PackagerJob, StartInfo, Summary, TrackInfo, TrackKind, files};

/// How many recorder bytes libavformat may read to learn the tracks when the header is not enough.
/// Small, because every byte read before the muxer starts delays its clock; 32 KiB covers a
/// recorder's header and first frames.
const PROBE_BYTES: &str = "32768";

/// Most memory the demuxer may use for its seek index, per track (it thins the index out beyond this).
const INDEX_BYTES: &str = "1024";

/// Runs one presentation to its end, reporting through `on_event`.
pub(super) fn run(job: &PackagerJob, connections: Receiver<Connection>, on_event: &mut dyn FnMut(PackagerEvent)) {
    let Ok(first) = connections.recv() else { return };
    let started = Instant::now();
    let (mut input, recording_started) = match open_connection(job, &connections, first) {
        Ok(Some(opened)) => opened,
        Ok(None) => return on_event(PackagerEvent::Failed { error: no_media(job), salvaged: None }),
        Err(error) => return on_event(PackagerEvent::Failed { error, salvaged: None }),
    };
    let (mut output, tracks, start) = match open_output(job, &input) {
        Ok(opened) => opened,
        Err(error) => return on_event(PackagerEvent::Failed { error, salvaged: None }),
    };
    log::debug!(
        "stream {}: muxer started {:?} after the packager, having read {} bytes",
        job.stream,
        started.elapsed(),
        input.source().bytes_read()
    );
    let capture_zero = capture_start(job, recording_started, input.source().first_chunk_at());
    let mut copier = Copier::new(job, &output, start.segment_type, tracks, capture_zero);
    on_event(PackagerEvent::Started(start));

    let mut bytes_in = 0;
    let error = loop {
        let copied = copier.copy(&mut input, &mut output);
        bytes_in += input.source().bytes_read();
        if let Err(error) = copied {
            break Some(error);
        }
        if input.source().end() != Some(InputEnd::Vanished) {
            break None;
        }
        let Some(next) = await_return(job, &connections) else { break None };
        match open_connection(job, &connections, next) {
            Ok(Some((next_input, recording_started))) => match copier.resume(&next_input, recording_started) {
                Ok(gap_seconds) => {
                    input = next_input;
                    on_event(PackagerEvent::Resumed { gap_seconds });
                }
                Err(error) => break Some(error),
            },
            Ok(None) => break None,
            Err(error) => break Some(error),
        }
    };
    // No more connections: a publisher arriving from now on starts a new presentation.
    drop(connections);

    let trailer = copier
        .check_finishable()
        .and_then(|()| copier.push_out_held_back(&mut output))
        .and_then(|()| output.write_trailer().map_err(|e| output_error(job, e)));
    if trailer.is_err() {
        match files::remove_unfinished(&job.dir) {
            Ok(0) => {}
            Ok(n) => log::debug!("stream {}: removed {n} unfinished files", job.stream),
            Err(e) => log::warn!("stream {}: removing unfinished files from {}: {e}", job.stream, job.dir.display()),
        }
    }
    let summary = Summary { duration_seconds: copier.end_seconds, packets: copier.packets, bytes_in };
    let event = match (error, trailer) {
        (None, Ok(())) => PackagerEvent::Finished(summary),
        (Some(error), Ok(())) => PackagerEvent::Failed { error, salvaged: (summary.packets > 0).then_some(summary) },
        // Why the input ended says more than why the presentation then couldn't be finished.
        (Some(error), Err(_)) | (None, Err(error)) => PackagerEvent::Failed { error, salvaged: None },
    };
    on_event(event);
}

/// After the publisher vanished: waits up to the grace period for it to reconnect.
fn await_return(job: &PackagerJob, connections: &Receiver<Connection>) -> Option<Connection> {
    if job.reconnect_grace.is_zero() {
        return None;
    }
    log::info!("stream {}: publisher gone; waiting {:?} for it to reconnect", job.stream, job.reconnect_grace);
    match connections.recv_timeout(job.reconnect_grace) {
        Ok(next) => Some(next),
        Err(RecvTimeoutError::Timeout) => {
            log::info!("stream {}: the publisher did not come back; finalising", job.stream);
            None
        }
        Err(RecvTimeoutError::Disconnected) => None,
    }
}

/// Opens a connection's recording, with when it started. A publisher that vanishes before its tracks
/// are known is waited for like any other; when it comes back its new recording is opened instead.
/// `Ok(None)`: it did not come back.
fn open_connection(
    job: &PackagerJob,
    connections: &Receiver<Connection>,
    mut connection: Connection,
) -> Result<Option<(ChunkInput, SystemTime)>, MediaError> {
    loop {
        let (chunks, recording_started) = connection.take();
        match open_input(job, chunks) {
            Ok(input) => return Ok(Some((input, recording_started))),
            Err(OpenError::Lost) => match await_return(job, connections) {
                Some(next) => connection = next,
                None => return Ok(None),
            },
            Err(OpenError::Failed(error)) => return Err(error),
        }
    }
}

/// Why a connection's recording could not be opened.
enum OpenError {
    /// The publisher vanished before its tracks were known; nothing to judge the data by.
    Lost,
    Failed(MediaError),
}

fn open_input(job: &PackagerJob, chunks: FeedReceiver) -> Result<ChunkInput, OpenError> {
    let mut options = Dictionary::new();
    options.set("probesize", PROBE_BYTES);
    // Don't wait for ~20 video frames to guess a frame rate: stream copy doesn't need it.
    options.set("fpsprobesize", "0");
    // Matroska stores no dts; libavformat would decode ~7 H.264 frames (~0.25 s of waiting, which would
    // stay as latency) to guess the reordering delay. Our timestamp repair fills dts instead.
    options.set("max_ts_probe", "1");
    // The Matroska demuxer indexes every keyframe, and every audio frame is one: 24 bytes per Opus frame,
    // up to 1 MiB per track by default, for seeking, which a live input never does.
    options.set("indexmem", INDEX_BYTES);
    // Containers the demuxer may accept, whatever the publisher claims.
    options.set("format_whitelist", job.format.container.format_whitelist());
    // The input is our own AVIOContext: no protocol (file, http...) may ever be opened from it.
    options.set("protocol_whitelist", "none");
    let source = ChunkSource::new(chunks, job.format.container).with_read_delay(job.read_delay);
    let opened = ffi::open_chunk_input(source, job.format.container.demuxer(), options).and_then(|(mut input, unused)| {
        debug_assert!(unused.iter().next().is_none(), "unknown demuxer options: {unused:?}");
        // Every packet read before the muxer starts delays its clock (availabilityStartTime), and
        // that delay stays as latency: read ahead only when the header doesn't tell enough.
        // A header that names no track (FLV: tracks appear with their first tags) tells nothing.
        let header_suffices = input.nb_streams() > 0 && input.streams().all(|s| {
            let parameters = s.parameters();
            header_suffices(parameters.medium(), parameters.id(), ffi::known_parameters(&parameters))
        });
        if !header_suffices {
            ffi::find_stream_info(&mut input).map_err(|error| ffi::OpenFailure::with_source(error, input.source()))?;
        }
        Ok(input)
    });
    opened.map_err(|failure| match failure {
        ffi::OpenFailure { refusal: Some(refusal), .. } => OpenError::Failed(invalid_data(job, refusal.to_string())),
        // Cut off mid-header by a lost connection: whether the rest would have been readable is unknown.
        ffi::OpenFailure { input_end: Some(InputEnd::Vanished), .. } => OpenError::Lost,
        // Stopped mid-header: the demuxer ran out of input (libavformat says EOF, or EIO from a read
        // that came up short), not into bad data.
        ffi::OpenFailure { error: ffmpeg::Error::Eof, .. }
        | ffi::OpenFailure { error: ffmpeg::Error::Other { errno: ffmpeg::ffi::EIO }, input_end: Some(InputEnd::Stop), .. } => {
            OpenError::Failed(no_media(job))
        }
        ffi::OpenFailure { error, .. } => OpenError::Failed(invalid_data(job, error.to_string())),
    })
}

fn no_media(job: &PackagerJob) -> MediaError {
    MediaError::NoMedia { stream: job.stream.clone() }
}

fn invalid_data(job: &PackagerJob, reason: String) -> MediaError {
    MediaError::InvalidData { stream: job.stream.clone(), container: job.format.container, reason }
}

/// Whether a stream's header alone gives what stream copy into DASH needs. H.264 and AAC/Opus carry
/// their decoder configuration in the header (Chromium's Matroska H.264 does not: SPS/PPS come in-band,
/// so it is probed); VP9 and AV1 in MP4 also need the pixel format (for `vpcC`/`av1C`), which only
/// decoding a frame tells.
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

/// The audio and video tracks of an input: (input index, what it is, its codec).
pub(super) fn media_tracks(input: &ChunkInput) -> Vec<(usize, TrackKind, codec::Id)> {
    input
        .streams()
        .filter_map(|s| {
            let parameters = s.parameters();
            let kind = match parameters.medium() {
                media::Type::Video => TrackKind::Video,
                media::Type::Audio => TrackKind::Audio,
                _ => return None,
            };
            Some((s.index(), kind, parameters.id()))
        })
        .collect()
}

/// Where each input stream goes.
#[derive(Clone, Copy)]
pub(super) struct Route {
    pub output_index: usize,
    pub input_time_base: Rational,
}

/// Per input stream index: its route, or `None` for streams that are not packaged.
pub(super) type Routes = Vec<Option<Route>>;

fn open_output(job: &PackagerJob, input: &ChunkInput) -> Result<(ffi::DashOutput, Routes, StartInfo), MediaError> {
    let stream = || job.stream.clone();
    let mut infos = Vec::new();
    let mut has_vp8 = false;
    let mut non_opus_audio = None;
    for (index, kind, id) in media_tracks(input) {
        let supported = match kind {
            TrackKind::Video => matches!(id, codec::Id::H264 | codec::Id::VP8 | codec::Id::VP9 | codec::Id::AV1),
            TrackKind::Audio => matches!(id, codec::Id::OPUS | codec::Id::AAC),
        };
        let name = codec_name(id);
        if !supported {
            return Err(MediaError::UnsupportedCodec { stream: stream(), kind, codec: name });
        }
        if id == codec::Id::OPUS {
            check_opus_header(job, input, index)?;
        }
        has_vp8 |= id == codec::Id::VP8;
        if kind == TrackKind::Audio && id != codec::Id::OPUS {
            non_opus_audio = Some(name.clone());
        }
        infos.push((index, TrackInfo { kind, codec: name }));
    }
    if infos.is_empty() {
        return Err(MediaError::NoTracks { stream: stream() });
    }
    let segment_type = if has_vp8 { SegmentType::Webm } else { SegmentType::Mp4 };
    if let (SegmentType::Webm, Some(audio)) = (segment_type, non_opus_audio) {
        return Err(MediaError::Vp8NeedsOpus { stream: stream(), audio });
    }

    let mut output = ffi::dash_output(&job.dir.join(MANIFEST)).map_err(|e| output_error(job, e))?;
    if !dash_options::is_low_latency(&job.settings, segment_type) {
        // Its MPD has a timeline the muxer keeps only a window of: the log keeps the rest.
        let mut log = TimelineLog::new(&job.dir);
        let stream = stream();
        output.on_manifest_written(Box::new(move |manifest| {
            if let Err(e) = log.manifest_written(manifest) {
                log::error!("stream {stream}: the recording's timeline: {e}");
            }
        }));
    }
    let mut routes: Routes = vec![None; input.nb_streams() as usize];
    for (output_index, (input_index, _)) in infos.iter().enumerate() {
        let input_stream = input.stream(*input_index).expect("index from streams()");
        let mut output_stream =
            output.add_stream(ffmpeg::encoder::find(codec::Id::None)).map_err(|e| output_error(job, e))?;
        output_stream.set_parameters(input_stream.parameters());
        output_stream.set_time_base(input_stream.time_base());
        ffi::clear_codec_tag(&mut output_stream);
        routes[*input_index] = Some(Route { output_index, input_time_base: input_stream.time_base() });
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
    Ok((output, routes, start))
}

/// Length of an `OpusHead` (RFC 7845) without a channel mapping table.
const OPUS_HEAD_BYTES: usize = 19;

/// An Opus track must bring a whole `OpusHead`: without it the MP4 muxer drops every packet of the
/// track (and leaks), or fails to write `dOps` when the presentation ends (and leaks), so the
/// publisher would be told all is well while the audio is lost.
fn check_opus_header(job: &PackagerJob, input: &ChunkInput, index: usize) -> Result<(), MediaError> {
    let parameters = input.stream(index).expect("index from streams()").parameters();
    match opus_head_problem(ffi::extradata(&parameters)) {
        None => Ok(()),
        Some(problem) => Err(invalid_data(job, format!("its Opus track's header (OpusHead) {problem}"))),
    }
}

/// What is wrong with an `OpusHead`, if anything: RFC 7845 section 5.1, as far as `dOps` needs it.
fn opus_head_problem(header: &[u8]) -> Option<String> {
    if header.len() < OPUS_HEAD_BYTES || !header.starts_with(b"OpusHead") {
        return Some(format!("must be {OPUS_HEAD_BYTES} or more bytes starting \"OpusHead\"; got {} bytes", header.len()));
    }
    let channels = usize::from(header[9]);
    let mapping_family = header[18];
    if channels == 0 {
        return Some("says 0 channels".to_string());
    }
    // Any family but 0 carries a table: stream count, coupled count, one byte per channel.
    let needed = if mapping_family == 0 { OPUS_HEAD_BYTES } else { OPUS_HEAD_BYTES + 2 + channels };
    (header.len() < needed).then(|| {
        format!(
            "is cut short: channel mapping family {mapping_family} with {channels} channels needs {needed} bytes; got {}",
            header.len()
        )
    })
}

pub(super) fn codec_name(id: codec::Id) -> String {
    format!("{id:?}").to_ascii_lowercase()
}

pub(super) fn output_error(job: &PackagerJob, reason: impl ToString) -> MediaError {
    MediaError::Output { stream: job.stream.clone(), dir: job.dir.clone(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(width: i32, extradata_len: i32, pixel_format_known: bool) -> ffi::KnownParameters {
        ffi::KnownParameters { width, height: width, pixel_format_known, extradata_len, ..Default::default() }
    }

    #[test]
    fn an_opus_head_needs_its_channel_mapping_table_unless_family_0() {
        let mut stereo = b"OpusHead".to_vec();
        stereo.extend([1, 2, 0x38, 0x01, 0x80, 0xBB, 0, 0, 0, 0, 0]);
        assert_eq!(opus_head_problem(&stereo), None);
        assert!(opus_head_problem(&stereo[..18]).unwrap().contains("got 18 bytes"));
        assert!(opus_head_problem(b"OpusTags\x01\x02\x38\x01\x80\xBB\0\0\0\0\0").is_some());

        let mut surround = stereo.clone();
        surround[9] = 6;
        surround[18] = 1;
        let problem = opus_head_problem(&surround).expect("family 1 without its table");
        assert!(problem.contains("family 1") && problem.contains("needs 27 bytes"), "{problem}");
        surround.extend([4, 2, 0, 4, 1, 2, 3, 5]);
        assert_eq!(opus_head_problem(&surround), None);

        let mut silent = stereo.clone();
        silent[9] = 0;
        assert_eq!(opus_head_problem(&silent).as_deref(), Some("says 0 channels"));
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
