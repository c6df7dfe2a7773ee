//! Copying packets into the muxer on one timeline: timestamps rebased and repaired per track, a
//! reconnected publisher's recording placed where the wall clock says, each track's first packet
//! tagged with its capture time, and a workaround for FFmpeg 5.1 losing the last WebM audio packet.

use std::time::{SystemTime, UNIX_EPOCH};

use ffmpeg_next as ffmpeg;
use ffmpeg::format::context::Output;
use ffmpeg::{Packet, Rational, media};

use super::dash_options::SegmentType;
use super::ffi::{self, ChunkInput};
use super::packager::{Route, Routes, codec_name, media_tracks, output_error};
use super::timestamps::{MICROS, PresentationStart, Stamps, TrackClock, continuation_start};
use super::{MediaError, PackagerJob, TrackKind};

/// When media time 0 was captured, as well as the server can tell. The publisher page starts its
/// recorder right before it sends `start`, so that message's arrival is the estimate; a client that
/// sends `start` long before any media is bounded by its first chunk, which can't hold more than about
/// a segment (Chromium's MP4 recorder sends one chunk per keyframe interval).
pub(super) fn capture_start(job: &PackagerJob, recording_started: SystemTime, first_chunk_at: Option<SystemTime>) -> SystemTime {
    let latest = first_chunk_at.unwrap_or(recording_started);
    recording_started.max(latest.checked_sub(job.settings.segment_duration).unwrap_or(latest))
}

fn unix_micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// Per output track state that lives across connections.
struct OutputTrack {
    /// What a reconnected recording must bring again: `video`/`audio` and the codec.
    kind: (TrackKind, String),
    time_base: Rational,
    clock: TrackClock,
    packets: u64,
    /// The first packet carries the capture time (once per presentation).
    tagged: bool,
    /// WebM audio only: the last packet written, see [`Copier::push_out_held_back`].
    held_back: Option<Packet>,
    is_webm_audio: bool,
}

/// Copies packets from one input after another into the muxer, on one timeline.
pub(super) struct Copier<'j> {
    job: &'j PackagerJob,
    tracks: Vec<OutputTrack>,
    /// The current input's routes to output tracks.
    routes: Routes,
    /// The current input's first timestamp, which lands at `base_micros` on the presentation timeline.
    input_start: PresentationStart,
    base_micros: i64,
    /// Wall-clock capture time of presentation time 0, in Unix microseconds.
    capture_zero: i64,
    pub packets: u64,
    pub end_seconds: f64,
}

impl<'j> Copier<'j> {
    pub fn new(job: &'j PackagerJob, output: &Output, segment_type: SegmentType, routes: Routes, capture_zero: SystemTime) -> Copier<'j> {
        let tracks = output
            .streams()
            .map(|s| OutputTrack {
                kind: (
                    if s.parameters().medium() == media::Type::Video { TrackKind::Video } else { TrackKind::Audio },
                    codec_name(s.parameters().id()),
                ),
                time_base: s.time_base(),
                clock: TrackClock::new((s.time_base().numerator(), s.time_base().denominator())),
                packets: 0,
                tagged: false,
                held_back: None,
                is_webm_audio: segment_type == SegmentType::Webm && s.parameters().medium() == media::Type::Audio,
            })
            .collect();
        Copier {
            job,
            tracks,
            routes,
            input_start: PresentationStart::default(),
            base_micros: 0,
            capture_zero: unix_micros(capture_zero),
            packets: 0,
            end_seconds: 0.0,
        }
    }

    /// Copies until the input ends (`Ok`) or can't be read or written (`Err`).
    pub fn copy(&mut self, input: &mut ChunkInput, output: &mut Output) -> Result<(), MediaError> {
        loop {
            let mut packet = Packet::empty();
            match packet.read(input) {
                Ok(()) => input.source().mark_progress(),
                Err(ffmpeg::Error::Eof) => return Ok(()),
                // An unreadable tail after the publisher left is a cut-off last block, not bad data.
                Err(_) if input.source().end().is_some() => return Ok(()),
                Err(e) => {
                    let reason = match input.source().refusal() {
                        Some(refusal) => refusal.to_string(),
                        None => e.to_string(),
                    };
                    return Err(MediaError::CorruptAfter {
                        stream: self.job.stream.clone(),
                        bytes: input.source().bytes_read(),
                        reason,
                    });
                }
            }
            let Some(route) = self.routes.get(packet.stream()).copied().flatten() else { continue };
            if packet.size() == 0 {
                continue;
            }
            self.write(packet, route, output)?;
        }
    }

    fn write(&mut self, mut packet: Packet, route: Route, output: &mut Output) -> Result<(), MediaError> {
        let track = &mut self.tracks[route.output_index];
        let time_base = track.time_base;
        // Repaired in the muxer's time base, so no two packets can round onto the same tick.
        packet.rescale_ts(route.input_time_base, time_base);
        let first_seen = packet.dts().or(packet.pts()).map(|ts| rescale(ts, time_base, MICROS.into()));
        let input_start_micros = self.input_start.observe(first_seen);
        let offset = rescale(input_start_micros - self.base_micros, MICROS.into(), time_base);
        let repaired = track.clock.repair(Stamps { pts: packet.pts(), dts: packet.dts() }, offset, packet.duration());
        packet.set_pts(Some(repaired.pts));
        packet.set_dts(Some(repaired.dts));
        packet.set_duration(repaired.duration);
        let end = (repaired.pts + repaired.duration) as f64 * f64::from(time_base);
        self.end_seconds = self.end_seconds.max(end);
        if !track.tagged {
            track.tagged = true;
            let captured = self.capture_zero + rescale(repaired.pts, time_base, MICROS.into());
            ffi::set_capture_time(&mut packet, captured).map_err(|e| output_error(self.job, e))?;
        }
        packet.set_stream(route.output_index);
        packet.set_position(-1);
        packet.write(output).map_err(|e| output_error(self.job, e))?;
        self.packets += 1;
        track.packets += 1;
        if track.is_webm_audio {
            track.held_back = Some(packet);
        }
        Ok(())
    }

    /// Whether the trailer may be written. FFmpeg 5.1's dash muxer divides by the first track's
    /// duration when it writes the final manifest; if that track never got a packet the division is by
    /// zero and kills the whole process (SIGFPE), so such a presentation can't be finalised.
    pub fn check_finishable(&self) -> Result<(), MediaError> {
        let stream = || self.job.stream.clone();
        match self.tracks.first() {
            _ if self.packets == 0 => Err(MediaError::NoMedia { stream: stream() }),
            Some(first) if first.packets == 0 => Err(MediaError::EmptyTrack { stream: stream(), kind: first.kind.0 }),
            _ => Ok(()),
        }
    }

    /// Takes `input` (a reconnected publisher's new recording) as the continuation. Its first frame is
    /// placed where the wall clock says it was captured ([`continuation_start`]), so players that
    /// compute segment availability from the clock keep their place; an outage is a gap, a new
    /// recorder started before the old one stopped (a change of bitrate) none. Returns the gap in seconds.
    pub fn resume(&mut self, input: &ChunkInput, recording_started: SystemTime) -> Result<f64, MediaError> {
        let mut routes: Routes = vec![None; input.nb_streams() as usize];
        let mut taken = vec![false; self.tracks.len()];
        let outputs: Vec<(TrackKind, String)> = self.output_kinds();
        let incoming = media_tracks(input);
        for (index, kind, id) in &incoming {
            let wanted = (*kind, codec_name(*id));
            let Some(output_index) = (0..outputs.len()).find(|&i| !taken[i] && outputs[i] == wanted) else { continue };
            taken[output_index] = true;
            let time_base = input.stream(*index).expect("index from streams()").time_base();
            routes[*index] = Some(Route { output_index, input_time_base: time_base });
        }
        let matched = routes.iter().flatten().count();
        if matched != outputs.len() || matched != incoming.len() {
            return Err(MediaError::ResumeMismatch {
                stream: self.job.stream.clone(),
                was: outputs.iter().map(|(kind, codec)| format!("{kind} {codec}")).collect(),
                now: incoming.iter().map(|(_, kind, id)| format!("{kind} {}", codec_name(*id))).collect(),
            });
        }
        let end_micros = (self.end_seconds * 1e6) as i64;
        let wall_micros = unix_micros(recording_started) - self.capture_zero;
        self.base_micros = continuation_start(wall_micros, end_micros);
        self.routes = routes;
        self.input_start = PresentationStart::default();
        Ok((self.base_micros - end_micros) as f64 / 1e6)
    }

    fn output_kinds(&self) -> Vec<(TrackKind, String)> {
        self.tracks.iter().map(|t| t.kind.clone()).collect()
    }

    /// Works around a packet loss in FFmpeg 5.1's dash muxer with WebM segments: the WebM muxer holds
    /// back each audio packet until the next one arrives (to keep it in the video keyframe's cluster),
    /// but at the end the dash muxer closes the last segment file before that held-back packet is
    /// written, so the last audio packet of every track would be lost. Sending a copy of it pushes the
    /// real one into the last segment; the copy is the one held back and dropped.
    pub fn push_out_held_back(&mut self, output: &mut Output) -> Result<(), MediaError> {
        for track in &mut self.tracks {
            let Some(mut copy) = track.held_back.take() else { continue };
            let step = copy.duration().max(1);
            copy.set_pts(copy.pts().map(|pts| pts + step));
            copy.set_dts(copy.dts().map(|dts| dts + step));
            copy.write(output).map_err(|e| output_error(self.job, e))?;
        }
        Ok(())
    }
}

fn rescale(value: i64, from: Rational, to: Rational) -> i64 {
    use ffmpeg::Rescale;
    value.rescale(from, to)
}
