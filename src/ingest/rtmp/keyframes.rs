//! The encoder's keyframe interval, from the timestamps of its keyframes, judged against the segment
//! duration: segments can only start on keyframes, so an encoder whose interval does not divide the
//! segment duration makes longer, uneven segments (and more latency). Pure; the RTMP session reports
//! what [`KeyframeInterval::keyframe`] returns in the stream's status.

use std::time::Duration;

/// How far (as a fraction of the segment duration) a multiple of the interval may be from the
/// segment duration and still fit: encoders round to frames.
const TOLERANCE: f64 = 0.1;

/// Follows one publisher's keyframes.
#[derive(Debug)]
pub struct KeyframeInterval {
    segment_seconds: f64,
    last_keyframe_ms: Option<u32>,
    /// The last interval reported, in tenths of a second: report only changes.
    reported: Option<u32>,
}

/// A change worth reporting: the interval and, when it does not fit the segments, what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalReport {
    pub seconds: f64,
    pub warning: Option<String>,
}

impl KeyframeInterval {
    pub fn new(segment_duration: Duration) -> KeyframeInterval {
        KeyframeInterval { segment_seconds: segment_duration.as_secs_f64(), last_keyframe_ms: None, reported: None }
    }

    /// A keyframe at `timestamp_ms`; returns a report when the interval changed since the last one.
    pub fn keyframe(&mut self, timestamp_ms: u32) -> Option<IntervalReport> {
        let previous = self.last_keyframe_ms.replace(timestamp_ms)?;
        let interval_ms = timestamp_ms.wrapping_sub(previous);
        // A timestamp going back (a restarted encoder) or the same frame twice says nothing.
        if interval_ms == 0 || interval_ms > u32::MAX / 2 {
            return None;
        }
        let tenths = (interval_ms + 50) / 100;
        if self.reported == Some(tenths) {
            return None;
        }
        self.reported = Some(tenths);
        let seconds = f64::from(tenths) / 10.0;
        Some(IntervalReport { seconds, warning: self.warning(f64::from(interval_ms) / 1000.0) })
    }

    fn warning(&self, interval: f64) -> Option<String> {
        let segment = self.segment_seconds;
        let multiples = (segment / interval).round();
        let fits = multiples >= 1.0 && (multiples * interval - segment).abs() <= TOLERANCE * segment;
        (!fits).then(|| {
            format!(
                "the encoder sends a keyframe every {interval:.1} s but segments are {segment} s long: set its keyframe \
                 interval to {segment} s (OBS: Keyframe Interval; ffmpeg: -g <fps × {segment}>)"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_that_divides_the_segment_fits() {
        let mut tracker = KeyframeInterval::new(Duration::from_secs(2));
        assert_eq!(tracker.keyframe(1000), None, "one keyframe is no interval");
        assert_eq!(tracker.keyframe(3000), Some(IntervalReport { seconds: 2.0, warning: None }));
        assert_eq!(tracker.keyframe(5000), None, "unchanged: not reported again");
        assert_eq!(tracker.keyframe(6000), Some(IntervalReport { seconds: 1.0, warning: None }), "1 s divides 2 s");
        assert_eq!(tracker.keyframe(8033), Some(IntervalReport { seconds: 2.0, warning: None }), "a frame off still fits");
    }

    #[test]
    fn an_interval_that_does_not_divide_the_segment_is_reported_with_the_fix() {
        let mut tracker = KeyframeInterval::new(Duration::from_secs(2));
        tracker.keyframe(0);
        let report = tracker.keyframe(3333).unwrap();
        assert_eq!(report.seconds, 3.3);
        let warning = report.warning.unwrap();
        assert!(warning.contains("every 3.3 s") && warning.contains("set its keyframe interval to 2 s"), "{warning}");
        let report = tracker.keyframe(3333 + 5000).unwrap();
        assert!(report.warning.is_some(), "5 s is not a divisor of 2 s");
    }

    #[test]
    fn timestamps_going_back_or_repeating_are_ignored() {
        let mut tracker = KeyframeInterval::new(Duration::from_secs(1));
        tracker.keyframe(5000);
        assert_eq!(tracker.keyframe(5000), None);
        assert_eq!(tracker.keyframe(100), None, "went back");
        assert_eq!(tracker.keyframe(1100).map(|r| r.seconds), Some(1.0));
        let mut wrapping = KeyframeInterval::new(Duration::from_secs(1));
        wrapping.keyframe(u32::MAX - 499);
        assert_eq!(wrapping.keyframe(500).map(|r| r.seconds), Some(1.0), "across the 32-bit wrap");
    }
}
