//! Follows a stream folder for HLS: reads each representation's init segment once, then its media
//! segments chunk by chunk as the muxer writes them (the growing `<segment>.tmp`, then the finished
//! file), feeding [`crate::hls::Timeline`]s. Each refresh reads only the box headers and `moof`s
//! written since the last one. When the presentation has ended, the whole recording is read once from
//! the files on disk (the live window only kept the last minutes). Blocking file IO: call it off the
//! async executor.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::hls::boxes::{self, ProducerTime};
use crate::hls::playlist::{self, MediaView, RenditionReport, RenditionSummary};
use crate::hls::reload::{self, Delivery, Reload};
use crate::hls::scan::{ScanError, SegmentScan};
use crate::hls::{Timeline, TrackSetup, media_playlist_name};
use crate::streams::StreamStatus;

use crate::delivery::open_no_follow;

/// Seconds of finished segments a live media playlist lists: a few minutes to seek back in.
const LIVE_WINDOW_SECONDS: f64 = 120.0;
/// Most segment files one refresh moves through: bounds the work of a refresh that follows a long
/// stream for the first time (the rest is read by the next refresh).
const MAX_SEGMENTS_PER_REFRESH: usize = 100_000;

/// PART-TARGET over the configured fragment length: the muxer cuts a fragment at the first packet at or
/// after the fragment length, so parts run up to a frame longer (40 ms at 25 fps on a 0.2 s fragment).
/// Not the longest part seen: a recorder stall makes the odd part seconds long, and players aim
/// three part targets behind live, so one stall would raise everyone's latency for good.
const PART_TARGET_SLACK: f64 = 1.2;

/// The presentation's clock anchor while following files.
struct Clock<'a> {
    zero: &'a mut Option<i64>,
    started_millis: i64,
}

/// What the HLS side knows of one representation.
struct Rendition {
    rep: u32,
    setup: Option<TrackSetup>,
    timeline: Option<Timeline>,
    /// The segment number being read.
    number: u64,
    scan: SegmentScan,
    /// Since when neither that segment nor its `.tmp` exists (see [`Rendition::follow`]).
    missing_since: Option<Instant>,
}

/// What a refresh was made from: another one is needed only once one of these has changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// The folder watcher's change count.
    change: u64,
    presentation: u64,
    active: bool,
    tracks: usize,
}

/// One presentation's HLS state.
pub struct StreamHls {
    presentation: u64,
    tag: String,
    renditions: Vec<Rendition>,
    /// Built from the finished files: a complete recording.
    ended: bool,
    /// Unix milliseconds of presentation time 0: from the first producer reference time (`prft`) seen,
    /// else when the stream started. One anchor for every segment of every rendition, so program dates
    /// follow the media timeline (each chunk's own `prft` says when it was written, which jitters with
    /// the publisher's upload).
    clock_zero: Option<i64>,
    started_millis: i64,
    /// What the last refresh was made from, when there was a change count to go by.
    seen: Option<Seen>,
}

/// What a request gets.
pub enum Answer {
    Playlist(String),
    Wait,
    TooFarAhead(String),
    NotFound(String),
}

/// Which playlist is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Multivariant,
    Media(u32),
}

/// Settings the playlists depend on.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub segment_duration: Duration,
    pub fragment_duration: Duration,
}

impl StreamHls {
    /// Empty state for `status`'s presentation.
    pub fn new(status: &StreamStatus) -> StreamHls {
        StreamHls {
            presentation: status.presentation,
            tag: status.tag.clone(),
            renditions: (0..status.tracks.len() as u32)
                .map(|rep| Rendition { rep, setup: None, timeline: None, number: 1, scan: SegmentScan::default(), missing_since: None })
                .collect(),
            ended: false,
            clock_zero: None,
            started_millis: status.started_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64),
            seen: None,
        }
    }

    /// Refreshes unless neither the folder (`change`: the watcher's change count, `None` when there is
    /// no watcher to go by) nor the status changed since the last refresh: every held request of a
    /// stream wakes on each file event, and only the first of them reads the files.
    pub fn refresh_on_change(&mut self, dir: &Path, status: &StreamStatus, change: Option<u64>, segment: Duration) {
        let seen = change.map(|change| Seen {
            change,
            presentation: status.presentation,
            active: status.state.is_active(),
            tracks: status.tracks.len(),
        });
        if seen.is_some() && seen == self.seen {
            return;
        }
        self.refresh(dir, status, segment);
        self.seen = seen;
    }

    /// Reads what was written since the last refresh (all of it, once, when the stream has ended).
    /// `segment` is the configured segment length.
    pub fn refresh(&mut self, dir: &Path, status: &StreamStatus, segment: Duration) {
        if status.presentation != self.presentation || (self.renditions.len() != status.tracks.len() && !self.ended) {
            *self = StreamHls::new(status);
        }
        if self.ended {
            return;
        }
        let ended = !status.state.is_active();
        if ended {
            *self = StreamHls::new(status);
            self.ended = true;
        }
        let window = if ended { None } else { Some(LIVE_WINDOW_SECONDS) };
        for rendition in &mut self.renditions {
            let clock = Clock { zero: &mut self.clock_zero, started_millis: self.started_millis };
            if let Err(e) = rendition.follow(dir, &self.tag, window, clock, ended, segment) {
                log::warn!("{}: HLS could not read representation {}: {e}", dir.display(), rendition.rep);
            }
        }
    }

    /// Answers a request for `wanted` from the current state.
    pub fn answer(&self, stream: &str, wanted: Wanted, reload: Option<Reload>, low_latency: bool, settings: Settings) -> Answer {
        let not_yet = || {
            if self.ended {
                Answer::NotFound(format!("stream {stream} has no HLS playlist: no media was recorded\n"))
            } else {
                Answer::Wait
            }
        };
        // No renditions yet (the packager has not reported its tracks): a multivariant playlist
        // without a single EXT-X-STREAM-INF would be taken for an empty stream.
        if self.renditions.is_empty()
            || self.renditions.iter().any(|r| r.timeline.as_ref().is_none_or(|t| t.last_part().is_none() && t.segments().is_empty()))
        {
            return not_yet();
        }
        match wanted {
            Wanted::Multivariant => Answer::Playlist(playlist::render_multivariant(&self.summaries())),
            Wanted::Media(rep) => {
                let Some(rendition) = self.renditions.get(rep as usize) else {
                    return Answer::NotFound(format!("stream {stream} has no representation {rep}\n"));
                };
                let Some(timeline) = &rendition.timeline else { return not_yet() };
                // Players (hls.js) refuse a playlist without a whole segment as empty: hold the first
                // request until the first segment is finished.
                if !self.ended && timeline.last_complete_msn().is_none() {
                    return Answer::Wait;
                }
                if let Some(reload) = reload {
                    match reload::delivery(reload, timeline, self.ended) {
                        Delivery::Now => {}
                        Delivery::Wait => return Answer::Wait,
                        Delivery::TooFarAhead => {
                            return Answer::TooFarAhead(format!(
                                "stream {stream}: _HLS_msn={} is more than two segments past the newest ({})\n",
                                reload.msn,
                                timeline.last_msn().unwrap_or(0)
                            ));
                        }
                    }
                }
                Answer::Playlist(playlist::render_media(&self.view(rendition, low_latency, settings), timeline))
            }
        }
    }

    fn summaries(&self) -> Vec<RenditionSummary> {
        self.renditions
            .iter()
            .filter_map(|r| {
                let (setup, timeline) = (r.setup.as_ref()?, r.timeline.as_ref()?);
                Some(RenditionSummary {
                    kind: setup.kind,
                    uri: media_playlist_name(r.rep),
                    codec: setup.codec.clone(),
                    width: setup.width,
                    height: setup.height,
                    frame_rate: timeline.sample_rate(),
                    channels: setup.channels,
                    peak_bps: timeline.peak_bps(),
                    average_bps: timeline.average_bps(),
                })
            })
            .collect()
    }

    fn view(&self, rendition: &Rendition, low_latency: bool, settings: Settings) -> MediaView {
        let longest = self.renditions.iter().filter_map(|r| r.timeline.as_ref()).map(Timeline::longest_segment).fold(0.0, f64::max);
        let target_duration = (settings.segment_duration.as_secs_f64().ceil() as u64).max(longest.round() as u64).max(1);
        let part_target = (settings.fragment_duration.as_secs_f64() * PART_TARGET_SLACK * 1000.0).ceil() / 1000.0;
        MediaView {
            init_uri: format!("init-{}-{}.m4s", self.tag, rendition.rep),
            segment_prefix: format!("chunk-{}-{}-", self.tag, rendition.rep),
            target_duration,
            part_target: low_latency.then_some(part_target),
            ended: self.ended,
            reports: self
                .renditions
                .iter()
                .filter(|r| r.rep != rendition.rep)
                .filter_map(|r| {
                    let timeline = r.timeline.as_ref()?;
                    Some(RenditionReport {
                        uri: media_playlist_name(r.rep),
                        last_msn: timeline.last_msn()?,
                        last_part: timeline.last_part().map(|(_, part)| part),
                    })
                })
                .collect(),
        }
    }
}

impl Rendition {
    /// Moves through the representation's files from where it stopped. When the next segment is
    /// missing, the muxer normally starts it within moments (and a file event brings the next
    /// refresh); the folder is listed for a jump in numbering (a reconnect's gap) only once it has been
    /// missing for a `segment`, or at once in a finished recording.
    fn follow(&mut self, dir: &Path, tag: &str, window: Option<f64>, clock: Clock, ended: bool, segment: Duration) -> Result<(), ScanError> {
        if self.setup.is_none() {
            let Ok(mut file) = open_no_follow(&dir.join(format!("init-{tag}-{}.m4s", self.rep))) else { return Ok(()) };
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            let setup = boxes::parse_init(&bytes)?;
            self.timeline = Some(Timeline::new(setup.timescale, window));
            self.setup = Some(setup);
        }
        let (Some(setup), Some(timeline)) = (&self.setup, &mut self.timeline) else { return Ok(()) };
        let timescale = i128::from(setup.timescale.max(1));
        let trex = setup.default_sample_duration;
        for _ in 0..MAX_SEGMENTS_PER_REFRESH {
            let name = format!("chunk-{tag}-{}-{:05}.m4s", self.rep, self.number);
            let finished = open_no_follow(&dir.join(&name));
            let (file, complete) = match finished {
                Ok(file) => (file, true),
                Err(_) => match open_no_follow(&dir.join(format!("{name}.tmp"))) {
                    Ok(file) => (file, false),
                    Err(_) => {
                        let missing_since = *self.missing_since.get_or_insert_with(Instant::now);
                        if !ended && missing_since.elapsed() < segment {
                            return Ok(());
                        }
                        match next_number(dir, tag, self.rep, self.number, ended) {
                            Some(next) if next != self.number => {
                                self.number = next;
                                self.scan = SegmentScan::default();
                                self.missing_since = None;
                                continue;
                            }
                            // Listed but not openable (it was being renamed, or is a link): next refresh.
                            _ => return Ok(()),
                        }
                    }
                },
            };
            self.missing_since = None;
            let len = file.metadata()?.len();
            let mut file = file;
            let parts = self.scan.scan(len, trex, |at, n| read_at(&mut file, at, n))?;
            for mut part in parts {
                if clock.zero.is_none()
                    && let Some(produced) = part.produced
                {
                    *clock.zero = Some(produced.unix_millis - (i128::from(produced.media_time) * 1000 / timescale) as i64);
                }
                part.produced = Some(ProducerTime { unix_millis: clock.zero.unwrap_or(clock.started_millis), media_time: 0 });
                timeline.add_part(self.number, &part);
            }
            if !complete {
                return Ok(());
            }
            timeline.finish_segment(self.number, len - self.scan.scanned_bytes());
            self.number += 1;
            self.scan = SegmentScan::default();
        }
        Ok(())
    }
}

fn read_at(file: &mut File, at: u64, n: usize) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(at))?;
    let mut buffer = Vec::with_capacity(n);
    file.by_ref().take(n as u64).read_to_end(&mut buffer)?;
    Ok(buffer)
}

/// The lowest segment number at or after `from` in the folder for `rep`, when the expected file is
/// missing: after a reconnect's gap the muxer's numbering jumps. Lists the folder, which happens only
/// once the expected file has been missing for a segment (or in a finished recording), never per chunk.
fn next_number(dir: &Path, tag: &str, rep: u32, from: u64, ended: bool) -> Option<u64> {
    let prefix = format!("chunk-{tag}-{rep}-");
    let found = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let rest = name.strip_prefix(&prefix)?;
            let digits = rest.strip_suffix(".m4s").or_else(|| if ended { None } else { rest.strip_suffix(".m4s.tmp") })?;
            digits.parse::<u64>().ok()
        })
        .filter(|&n| n >= from)
        .min()?;
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::StreamState;

    fn status(state: StreamState) -> StreamStatus {
        StreamStatus { mime_type: "video/mp4".into(), tag: "t".into(), ..StreamStatus::for_test(1, state, true) }
    }

    #[test]
    fn no_renditions_is_no_playlist_yet() {
        let settings = Settings { segment_duration: Duration::from_secs(2), fragment_duration: Duration::from_millis(200) };
        let dir = tempfile::tempdir().unwrap();
        let live = status(StreamState::Live);
        let mut hls = StreamHls::new(&live);
        hls.refresh(dir.path(), &live, settings.segment_duration);
        assert!(matches!(hls.answer("s", Wanted::Multivariant, None, false, settings), Answer::Wait), "held until the tracks are known");
        let ended = status(StreamState::Ended { duration_seconds: 0.0 });
        hls.refresh(dir.path(), &ended, settings.segment_duration);
        assert!(matches!(hls.answer("s", Wanted::Multivariant, None, false, settings), Answer::NotFound(_)));
    }
}
