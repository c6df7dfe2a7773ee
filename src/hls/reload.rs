//! Blocking playlist reload (RFC 8216bis §6.2.5.2): the `_HLS_msn`/`_HLS_part` query of a media
//! playlist request, and whether a timeline satisfies it yet. Pure; the HTTP handler holds the request
//! while the answer is [`Wait`](Delivery::Wait).

use super::timeline::Timeline;

/// A player's request to be answered only once a segment (or part) exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reload {
    pub msn: u64,
    pub part: Option<u64>,
}

/// A query that is not a valid blocking reload (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    #[error("{name}={value:?} is not a whole number")]
    NotANumber { name: &'static str, value: String },
    #[error("_HLS_part needs _HLS_msn")]
    PartWithoutMsn,
}

/// Reads `_HLS_msn` and `_HLS_part` from a query string; other parameters (`_HLS_skip`, cache
/// busters) are ignored. `Ok(None)` is a plain reload.
pub fn parse_query(query: &str) -> Result<Option<Reload>, ReloadError> {
    let mut msn = None;
    let mut part = None;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "_HLS_msn" => (&mut msn, "_HLS_msn"),
            "_HLS_part" => (&mut part, "_HLS_part"),
            _ => continue,
        };
        let number = value
            .parse::<u64>()
            .map_err(|_| ReloadError::NotANumber { name: slot.1, value: value.chars().take(32).collect() })?;
        *slot.0 = Some(number);
    }
    match (msn, part) {
        (None, Some(_)) => Err(ReloadError::PartWithoutMsn),
        (None, None) => Ok(None),
        (Some(msn), part) => Ok(Some(Reload { msn, part })),
    }
}

/// What to do with a blocking reload now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The playlist has what was asked for (or never will have more): answer.
    Now,
    /// Not there yet: hold the request.
    Wait,
    /// More than two segments ahead of the newest: 400, as the spec says.
    TooFarAhead,
}

/// Decides a blocking reload against a timeline; `ended` playlists never grow, so they answer at once.
pub fn delivery(reload: Reload, timeline: &Timeline, ended: bool) -> Delivery {
    if ended {
        return Delivery::Now;
    }
    let newest = timeline.last_msn();
    if reload.msn > newest.map_or(0, |m| m + 2) {
        return Delivery::TooFarAhead;
    }
    let satisfied = match reload.part {
        Some(part) => timeline.last_part().is_some_and(|last| last >= (reload.msn, part)),
        None => timeline.last_complete_msn().is_some_and(|last| last >= reload.msn),
    };
    if satisfied { Delivery::Now } else { Delivery::Wait }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::boxes::Fragment;
    use crate::hls::scan::ScannedPart;

    #[test]
    fn queries_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_query(""), Ok(None));
        assert_eq!(parse_query("x=1"), Ok(None));
        assert_eq!(parse_query("_HLS_msn=5"), Ok(Some(Reload { msn: 5, part: None })));
        assert_eq!(parse_query("_HLS_msn=5&_HLS_part=2&_HLS_skip=YES"), Ok(Some(Reload { msn: 5, part: Some(2) })));
        assert_eq!(parse_query("_HLS_part=2"), Err(ReloadError::PartWithoutMsn));
        assert!(matches!(parse_query("_HLS_msn=-1"), Err(ReloadError::NotANumber { name: "_HLS_msn", .. })));
        assert!(matches!(parse_query("_HLS_msn=99999999999999999999999"), Err(ReloadError::NotANumber { .. })));
    }

    /// Segment 1 finished with 3 parts, segment 2 with 1 part so far.
    fn timeline() -> Timeline {
        let mut timeline = Timeline::new(1000, None);
        let part = |offset| ScannedPart {
            offset,
            length: 10,
            fragment: Fragment { start: 0, duration: 500, samples: 1, independent: true },
            produced: None,
        };
        for offset in [0, 10, 20] {
            timeline.add_part(1, &part(offset));
        }
        timeline.finish_segment(1, 0);
        timeline.add_part(2, &part(0));
        timeline
    }

    #[test]
    fn a_reload_waits_for_its_part_and_refuses_the_far_future() {
        let t = timeline();
        let at = |msn, part| delivery(Reload { msn, part }, &t, false);
        assert_eq!(at(1, Some(2)), Delivery::Now);
        assert_eq!(at(1, Some(3)), Delivery::Now, "the next part after a finished segment exists: 2.0");
        assert_eq!(at(2, Some(0)), Delivery::Now);
        assert_eq!(at(2, Some(1)), Delivery::Wait);
        assert_eq!(at(1, None), Delivery::Now);
        assert_eq!(at(2, None), Delivery::Wait);
        assert_eq!(at(4, Some(0)), Delivery::Wait);
        assert_eq!(at(5, None), Delivery::TooFarAhead);
        assert_eq!(delivery(Reload { msn: 9, part: None }, &t, true), Delivery::Now);
    }
}
