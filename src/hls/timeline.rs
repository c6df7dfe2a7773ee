//! One rendition's segments as HLS sees them: a sliding window of [`Segment`]s, the newest ones with
//! their parts (CMAF chunks), plus the running figures the multivariant playlist needs (peak and
//! average bitrate, frame rate). Memory is bounded: segments older than the window are dropped, and
//! only the last few segments keep their parts. Fed by [`Timeline::add_part`] and
//! [`Timeline::finish_segment`]; no IO.

use std::collections::VecDeque;

use super::scan::ScannedPart;

/// How many of the newest segments keep their parts: a player only needs the parts of the last few
/// target durations (RFC 8216bis: parts older than that SHOULD be removed from the playlist).
const SEGMENTS_WITH_PARTS: usize = 4;

/// A CMAF chunk of a segment, as an `EXT-X-PART` byte range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Part {
    pub offset: u64,
    pub length: u64,
    pub duration: f64,
    pub independent: bool,
}

/// A media segment, finished or still being written.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// HLS Media Sequence Number (consecutive, unlike `number` after a reconnect's gap).
    pub msn: u64,
    /// The number in the segment's file name.
    pub number: u64,
    /// Seconds covered so far (all of it once complete).
    pub duration: f64,
    pub bytes: u64,
    pub samples: u64,
    /// Wall-clock time of its first sample, Unix milliseconds.
    pub program_date_millis: Option<i64>,
    /// The file numbering jumped before this segment (a publisher came back after a gap).
    pub discontinuity: bool,
    /// The file is finished.
    pub complete: bool,
    /// Its chunks, while it is among the newest segments.
    pub parts: Vec<Part>,
}

/// Where the newest part stands: (MSN, part index within that segment).
pub type PartPosition = (u64, u64);

/// A rendition's sliding window.
#[derive(Debug, Clone)]
pub struct Timeline {
    timescale: u32,
    /// Seconds of finished segments kept; `None` keeps everything (a finished recording).
    window: Option<f64>,
    segments: VecDeque<Segment>,
    /// `EXT-X-DISCONTINUITY` tags that slid out of the window (for `EXT-X-DISCONTINUITY-SEQUENCE`).
    discontinuities_dropped: u64,
    /// Highest bitrate of a finished segment, bits per second.
    peak_bps: f64,
    total_bytes: u64,
    total_seconds: f64,
    total_samples: u64,
    longest_segment: f64,
}

impl Timeline {
    pub fn new(timescale: u32, window: Option<f64>) -> Timeline {
        Timeline {
            timescale: timescale.max(1),
            window,
            segments: VecDeque::new(),
            discontinuities_dropped: 0,
            peak_bps: 0.0,
            total_bytes: 0,
            total_seconds: 0.0,
            total_samples: 0,
            longest_segment: 0.0,
        }
    }

    /// Adds a chunk of segment `number` (starting that segment if it is new).
    pub fn add_part(&mut self, number: u64, part: &ScannedPart) {
        let seconds = part.fragment.duration as f64 / f64::from(self.timescale);
        let starts_new = self.segments.back().is_none_or(|s| s.number != number);
        if starts_new {
            let (msn, discontinuity) = match self.segments.back() {
                Some(last) => (last.msn + 1, number != last.number + 1),
                None => (number, false),
            };
            let program_date_millis = part.produced.map(|p| {
                let ahead = part.fragment.start as i128 - p.media_time as i128;
                p.unix_millis + (ahead * 1000 / i128::from(self.timescale)) as i64
            });
            self.segments.push_back(Segment {
                msn,
                number,
                duration: 0.0,
                bytes: 0,
                samples: 0,
                program_date_millis,
                discontinuity,
                complete: false,
                parts: Vec::new(),
            });
            self.trim();
        }
        let segment = self.segments.back_mut().expect("pushed above");
        segment.duration += seconds;
        segment.bytes += part.length;
        segment.samples += u64::from(part.fragment.samples);
        segment.parts.push(Part { offset: part.offset, length: part.length, duration: seconds, independent: part.fragment.independent });
        self.total_bytes += part.length;
        self.total_seconds += seconds;
        self.total_samples += u64::from(part.fragment.samples);
    }

    /// Marks segment `number` finished; `trailing_bytes` are bytes after its last chunk (none in files
    /// our packager writes, but counted so the sizes stay true).
    pub fn finish_segment(&mut self, number: u64, trailing_bytes: u64) {
        let Some(segment) = self.segments.back_mut().filter(|s| s.number == number && !s.complete) else { return };
        segment.complete = true;
        segment.bytes += trailing_bytes;
        if segment.duration > 0.0 {
            self.peak_bps = self.peak_bps.max(segment.bytes as f64 * 8.0 / segment.duration);
        }
        self.longest_segment = self.longest_segment.max(segment.duration);
    }

    fn trim(&mut self) {
        let keep_parts_from = self.segments.len().saturating_sub(SEGMENTS_WITH_PARTS);
        for segment in self.segments.iter_mut().take(keep_parts_from) {
            if segment.parts.is_empty() {
                break;
            }
            segment.parts = Vec::new();
        }
        let Some(window) = self.window else { return };
        // Keep `window` seconds of finished segments before the newest one, and at least three.
        let mut kept = 0.0;
        let mut keep = 0;
        for segment in self.segments.iter().rev() {
            keep += 1;
            kept += segment.duration;
            if kept >= window && keep > 3 {
                break;
            }
        }
        while self.segments.len() > keep {
            if let Some(dropped) = self.segments.pop_front()
                && dropped.discontinuity
            {
                self.discontinuities_dropped += 1;
            }
        }
    }

    pub fn segments(&self) -> &VecDeque<Segment> {
        &self.segments
    }

    /// `EXT-X-DISCONTINUITY-SEQUENCE`.
    pub fn discontinuity_sequence(&self) -> u64 {
        self.discontinuities_dropped
    }

    /// The newest part, if any.
    pub fn last_part(&self) -> Option<PartPosition> {
        let segment = self.segments.back()?;
        Some((segment.msn, segment.parts.len().checked_sub(1)? as u64))
    }

    /// MSN of the newest segment (finished or not).
    pub fn last_msn(&self) -> Option<u64> {
        self.segments.back().map(|s| s.msn)
    }

    /// MSN of the newest finished segment.
    pub fn last_complete_msn(&self) -> Option<u64> {
        self.segments.iter().rev().find(|s| s.complete).map(|s| s.msn)
    }

    /// Peak bitrate: the busiest finished segment, or while none is finished, what arrived so far.
    pub fn peak_bps(&self) -> u64 {
        self.peak_bps.max(self.average_bps() as f64).ceil() as u64
    }

    /// Average bitrate over everything seen.
    pub fn average_bps(&self) -> u64 {
        if self.total_seconds > 0.0 { (self.total_bytes as f64 * 8.0 / self.total_seconds).ceil() as u64 } else { 0 }
    }

    /// Samples per second (frames per second for video).
    pub fn sample_rate(&self) -> Option<f64> {
        (self.total_seconds > 0.0 && self.total_samples > 1).then(|| self.total_samples as f64 / self.total_seconds)
    }

    /// The longest finished segment, in seconds.
    pub fn longest_segment(&self) -> f64 {
        self.longest_segment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::boxes::Fragment;

    fn part(offset: u64, start: u64) -> ScannedPart {
        ScannedPart {
            offset,
            length: 1000,
            fragment: Fragment { start, duration: 500, samples: 5, independent: offset == 0 },
            produced: None,
        }
    }

    fn segments(timeline: &mut Timeline, numbers: impl IntoIterator<Item = u64>) {
        for number in numbers {
            for i in 0..4 {
                timeline.add_part(number, &part(i * 1000, number * 2000 + i * 500));
            }
            timeline.finish_segment(number, 0);
        }
    }

    #[test]
    fn a_window_slides_and_keeps_parts_only_for_the_newest_segments() {
        let mut timeline = Timeline::new(1000, Some(10.0));
        segments(&mut timeline, 1..=20);
        let kept: Vec<u64> = timeline.segments().iter().map(|s| s.msn).collect();
        // 10 s of finished segments before the newest one.
        assert_eq!(kept, (15..=20).collect::<Vec<_>>());
        assert!(timeline.segments().iter().take(1).all(|s| s.parts.is_empty()));
        assert_eq!(timeline.segments().back().unwrap().parts.len(), 4);
        assert_eq!(timeline.last_part(), Some((20, 3)));
        assert_eq!(timeline.peak_bps(), 16_000);
        assert_eq!(timeline.sample_rate(), Some(10.0));
    }

    #[test]
    fn a_numbering_gap_is_a_discontinuity_with_consecutive_msns() {
        let mut timeline = Timeline::new(1000, None);
        segments(&mut timeline, [1, 2, 9]);
        let seen: Vec<(u64, u64, bool)> = timeline.segments().iter().map(|s| (s.msn, s.number, s.discontinuity)).collect();
        assert_eq!(seen, [(1, 1, false), (2, 2, false), (3, 9, true)]);
    }
}
