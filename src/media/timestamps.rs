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

/// Repaired timestamps: both present, `dts` strictly increasing per track, `pts >= dts`, both >= 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repaired {
    pub pts: i64,
    pub dts: i64,
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

/// Per-track repair state.
#[derive(Debug, Default)]
pub struct TrackClock {
    last_dts: Option<i64>,
    /// Duration of the previous packet (or 1 tick), to place a packet that carries no timestamps at all.
    last_step: i64,
}

impl TrackClock {
    /// Rebases by `offset` (the presentation start in this track's time base) and repairs.
    pub fn repair(&mut self, stamps: Stamps, offset: i64, duration: i64) -> Repaired {
        let step = self.last_step.max(1);
        let (pts, dts) = match (stamps.pts, stamps.dts) {
            (Some(pts), Some(dts)) => (pts - offset, dts - offset),
            (Some(pts), None) => (pts - offset, pts - offset),
            (None, Some(dts)) => (dts - offset, dts - offset),
            (None, None) => {
                let next = self.last_dts.map_or(0, |last| last + step);
                (next, next)
            }
        };
        let floor = self.last_dts.map_or(0, |last| last + 1);
        let dts = dts.max(floor);
        let pts = pts.max(dts);
        if let Some(last) = self.last_dts {
            self.last_step = (dts - last).max(1);
        }
        if duration > 0 {
            self.last_step = duration;
        }
        self.last_dts = Some(dts);
        Repaired { pts, dts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamps(pts: Option<i64>, dts: Option<i64>) -> Stamps {
        Stamps { pts, dts }
    }

    #[test]
    fn rebases_to_zero() {
        let mut clock = TrackClock::default();
        assert_eq!(clock.repair(stamps(Some(5000), Some(5000)), 5000, 33), Repaired { pts: 0, dts: 0 });
        assert_eq!(clock.repair(stamps(Some(5033), Some(5033)), 5000, 33), Repaired { pts: 33, dts: 33 });
    }

    #[test]
    fn fills_missing_dts_from_pts_and_pts_from_dts() {
        let mut clock = TrackClock::default();
        assert_eq!(clock.repair(stamps(Some(10), None), 0, 0), Repaired { pts: 10, dts: 10 });
        assert_eq!(clock.repair(stamps(None, Some(20)), 0, 0), Repaired { pts: 20, dts: 20 });
    }

    #[test]
    fn places_packets_without_any_timestamp_after_the_previous_one() {
        let mut clock = TrackClock::default();
        clock.repair(stamps(Some(0), Some(0)), 0, 20);
        assert_eq!(clock.repair(stamps(None, None), 0, 0), Repaired { pts: 20, dts: 20 });
        assert_eq!(clock.repair(stamps(None, None), 0, 0), Repaired { pts: 40, dts: 40 });
    }

    #[test]
    fn keeps_dts_strictly_increasing_and_pts_not_below_dts() {
        let mut clock = TrackClock::default();
        clock.repair(stamps(Some(100), Some(100)), 0, 0);
        // A duplicate and a step back both move just past the last dts.
        assert_eq!(clock.repair(stamps(Some(100), Some(100)), 0, 0), Repaired { pts: 101, dts: 101 });
        assert_eq!(clock.repair(stamps(Some(50), Some(50)), 0, 0), Repaired { pts: 102, dts: 102 });
        // Reordered frames keep their pts when it is ahead of dts.
        assert_eq!(clock.repair(stamps(Some(200), Some(150)), 0, 0), Repaired { pts: 200, dts: 150 });
    }

    #[test]
    fn packets_before_the_presentation_start_are_clamped_to_zero() {
        let mut clock = TrackClock::default();
        assert_eq!(clock.repair(stamps(Some(-30), Some(-30)), 0, 0), Repaired { pts: 0, dts: 0 });
        assert_eq!(clock.repair(stamps(Some(-10), Some(-10)), 0, 0), Repaired { pts: 1, dts: 1 });
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
