//! Timestamp repair for recorder output.
//!
//! MediaRecorder's timestamps need not start at 0 (a paused or long-running recorder), and demuxed
//! packets may lack a pts or dts. The DASH muxer wants every track to start near 0 with strictly
//! increasing dts, so each packet goes through [`TrackClock::repair`] before it is muxed. The
//! presentation-wide offset is taken from the first packet of any track so tracks stay in sync.

/// Microseconds: the common unit used to share one start offset between tracks of different time bases.
pub const MICROS: (i32, i32) = (1, 1_000_000);

/// A packet's timestamps, in its track's time base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamps {
    pub pts: Option<i64>,
    pub dts: Option<i64>,
}

/// Repaired timestamps: both present, `dts` strictly increasing per track, `pts >= dts`, both >= 0,
/// and a duration > 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repaired {
    pub pts: i64,
    pub dts: i64,
    pub duration: i64,
}

/// The presentation's start, shared by all tracks: the first timestamp seen on any track.
#[derive(Debug, Default)]
pub struct PresentationStart {
    start_micros: Option<i64>,
}

impl PresentationStart {
    /// Returns the start in microseconds, fixing it from this packet's time if it is the first packet
    /// with a time. Packets before that (without any timestamp) count from 0.
    pub fn observe(&mut self, packet_micros: Option<i64>) -> i64 {
        match (self.start_micros, packet_micros) {
            (Some(start), _) => start,
            (None, Some(first)) => *self.start_micros.insert(first),
            (None, None) => 0,
        }
    }
}

/// Per-track repair state, in the time base the track is muxed in.
#[derive(Debug)]
pub struct TrackClock {
    last_dts: Option<i64>,
    /// Duration of the previous packet, to place a packet that carries no timestamps at all and to
    /// give one without a duration.
    last_step: i64,
    /// The smallest step: one microsecond, rounded up to whole ticks. FFmpeg 5.1's dash muxer divides
    /// by segment and presentation durations in microseconds, and a zero one kills the process
    /// (SIGFPE), so no packet may last less than that and no two may share a dts.
    min_step: i64,
}

impl TrackClock {
    /// A clock for a track muxed in `time_base` (num, den).
    pub fn new(time_base: (i32, i32)) -> TrackClock {
        let (num, den) = (i64::from(time_base.0.max(1)), i64::from(time_base.1.max(1)));
        let min_step = (den + num * 1_000_000 - 1) / (num * 1_000_000);
        TrackClock { last_dts: None, last_step: 0, min_step: min_step.max(1) }
    }

    /// Rebases by `offset` (the presentation start in this track's time base) and repairs.
    pub fn repair(&mut self, stamps: Stamps, offset: i64, duration: i64) -> Repaired {
        let step = self.last_step.max(self.min_step);
        let (pts, dts) = match (stamps.pts, stamps.dts) {
            (Some(pts), Some(dts)) => (pts - offset, dts - offset),
            (Some(pts), None) => (pts - offset, pts - offset),
            (None, Some(dts)) => (dts - offset, dts - offset),
            (None, None) => {
                let next = self.last_dts.map_or(0, |last| last + step);
                (next, next)
            }
        };
        let floor = self.last_dts.map_or(0, |last| last + self.min_step);
        let dts = dts.max(floor);
        let pts = pts.max(dts);
        if let Some(last) = self.last_dts {
            self.last_step = dts - last;
        }
        // Without a duration a packet lasts as long as the step before it, as the dash muxer itself
        // assumes; the first one lasts `min_step` (its true length is unknown until the next arrives).
        let duration = if duration >= self.min_step { duration } else { self.last_step.max(self.min_step) };
        self.last_step = duration;
        self.last_dts = Some(dts);
        Repaired { pts, dts, duration }
    }
}

/// A gap this short between a recording and the one continuing it is closed: it is the jitter of
/// two connections' delays, not an outage, and players stall in a hole however short.
pub const CLOSED_GAP_MICROS: i64 = 150_000;

/// Where a continuing recording starts on the presentation timeline (microseconds): where the wall
/// clock says it was captured (`wall_micros`), so players that compute availability from the clock
/// keep their place, but never before the previous recording's end, and right at that end when only
/// a jitter apart ([`CLOSED_GAP_MICROS`]).
pub fn continuation_start(wall_micros: i64, end_micros: i64) -> i64 {
    if wall_micros <= end_micros + CLOSED_GAP_MICROS { end_micros } else { wall_micros }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continuation_starts_at_its_wall_clock_time_but_never_in_or_just_after_the_previous_recording() {
        assert_eq!(continuation_start(9_000_000, 4_000_000), 9_000_000, "after an outage: a gap");
        assert_eq!(continuation_start(3_000_000, 4_000_000), 4_000_000, "overlapping: right after it");
        assert_eq!(continuation_start(4_100_000, 4_000_000), 4_000_000, "a jitter apart: no hole");
        assert_eq!(continuation_start(4_000_000 + CLOSED_GAP_MICROS + 1, 4_000_000), 4_000_000 + CLOSED_GAP_MICROS + 1);
    }

    fn stamps(pts: Option<i64>, dts: Option<i64>) -> Stamps {
        Stamps { pts, dts }
    }

    fn repaired(pts: i64, dts: i64, duration: i64) -> Repaired {
        Repaired { pts, dts, duration }
    }

    /// A track in milliseconds, as Matroska's.
    fn millis() -> TrackClock {
        TrackClock::new((1, 1000))
    }

    #[test]
    fn rebases_to_zero() {
        let mut clock = millis();
        assert_eq!(clock.repair(stamps(Some(5000), Some(5000)), 5000, 33), repaired(0, 0, 33));
        assert_eq!(clock.repair(stamps(Some(5033), Some(5033)), 5000, 33), repaired(33, 33, 33));
    }

    #[test]
    fn fills_missing_dts_from_pts_and_pts_from_dts() {
        let mut clock = millis();
        assert_eq!(clock.repair(stamps(Some(10), None), 0, 0), repaired(10, 10, 1));
        assert_eq!(clock.repair(stamps(None, Some(20)), 0, 0), repaired(20, 20, 10));
    }

    #[test]
    fn places_packets_without_any_timestamp_after_the_previous_one() {
        let mut clock = millis();
        clock.repair(stamps(Some(0), Some(0)), 0, 20);
        assert_eq!(clock.repair(stamps(None, None), 0, 0), repaired(20, 20, 20));
        assert_eq!(clock.repair(stamps(None, None), 0, 0), repaired(40, 40, 20));
    }

    #[test]
    fn keeps_dts_strictly_increasing_and_pts_not_below_dts() {
        let mut clock = millis();
        clock.repair(stamps(Some(100), Some(100)), 0, 0);
        // A duplicate and a step back both move just past the last dts.
        assert_eq!(clock.repair(stamps(Some(100), Some(100)), 0, 0), repaired(101, 101, 1));
        assert_eq!(clock.repair(stamps(Some(50), Some(50)), 0, 0), repaired(102, 102, 1));
        // Reordered frames keep their pts when it is ahead of dts.
        assert_eq!(clock.repair(stamps(Some(200), Some(150)), 0, 0), repaired(200, 150, 48));
    }

    #[test]
    fn packets_without_a_duration_last_as_long_as_the_step_before_them() {
        let mut clock = millis();
        // The first one can't know: the smallest step. Matroska video blocks carry no duration.
        assert_eq!(clock.repair(stamps(Some(0), None), 0, 0), repaired(0, 0, 1));
        assert_eq!(clock.repair(stamps(Some(33), None), 0, 0), repaired(33, 33, 33));
        assert_eq!(clock.repair(stamps(Some(67), None), 0, 0), repaired(67, 67, 34));
        assert_eq!(clock.repair(stamps(Some(100), None), 0, -5), repaired(100, 100, 33), "negative = unknown");
    }

    #[test]
    fn no_step_is_shorter_than_a_microsecond_in_fine_time_bases() {
        // 1/90000 is coarser than a microsecond: one tick will do.
        assert_eq!(TrackClock::new((1, 90_000)).min_step, 1);
        // A (hostile) nanosecond time base: 1000 ticks, so the muxer never sees a zero-microsecond span.
        let mut clock = TrackClock::new((1, 1_000_000_000));
        assert_eq!(clock.repair(stamps(Some(0), Some(0)), 0, 0), repaired(0, 0, 1000));
        assert_eq!(clock.repair(stamps(Some(1), Some(1)), 0, 0), repaired(1000, 1000, 1000));
        assert_eq!(TrackClock::new((0, 0)).min_step, 1, "a broken time base doesn't divide by zero either");
    }

    #[test]
    fn packets_before_the_presentation_start_are_clamped_to_zero() {
        let mut clock = millis();
        assert_eq!(clock.repair(stamps(Some(-30), Some(-30)), 0, 0), repaired(0, 0, 1));
        assert_eq!(clock.repair(stamps(Some(-10), Some(-10)), 0, 0), repaired(1, 1, 1));
    }

    #[test]
    fn the_first_packet_of_any_track_fixes_the_start() {
        let mut start = PresentationStart::default();
        assert_eq!(start.observe(None), 0, "no time yet");
        assert_eq!(start.observe(Some(18_000)), 18_000);
        assert_eq!(start.observe(Some(0)), 18_000);
        assert_eq!(start.observe(None), 18_000);
    }
}
