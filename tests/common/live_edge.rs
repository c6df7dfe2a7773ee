//! Following the live edge as a low-latency DASH player does, from the MPD alone: `availabilityStartTime`
//! and each representation's `SegmentTemplate` (`startNumber`, `duration`, `timescale`, `media`,
//! `initialization` with `$RepresentationID$` and `$Number%05d$`) give the number of the segment being
//! written now and every segment's URL.

use std::time::{Duration, SystemTime};

/// One representation's segment addressing.
#[derive(Debug, Clone)]
pub struct Representation {
    pub id: String,
    /// `media` with `$RepresentationID$` filled in; `$Number%05d$` still to fill.
    media: String,
    /// The initialisation segment's file name.
    pub init: String,
    pub start_number: u64,
    pub segment: Duration,
}

/// What a live MPD says about where the edge is.
#[derive(Debug, Clone)]
pub struct LiveTemplate {
    pub availability_start: SystemTime,
    pub representations: Vec<Representation>,
}

impl Representation {
    /// The file name of segment `number`.
    pub fn media_name(&self, number: u64) -> String {
        self.media.replace("$Number%05d$", &format!("{number:05}")).replace("$Number$", &number.to_string())
    }
}

impl LiveTemplate {
    /// Reads a dynamic MPD; `Err` says what is missing.
    pub fn parse(mpd: &str) -> Result<LiveTemplate, String> {
        let doc = roxmltree::Document::parse(mpd).map_err(|e| format!("MPD is not XML: {e}"))?;
        let root = doc.root_element();
        let start = root.attribute("availabilityStartTime").ok_or("MPD has no availabilityStartTime (not live?)")?;
        let availability_start =
            humantime::parse_rfc3339_weak(start.trim_end_matches('Z')).map_err(|e| format!("availabilityStartTime {start:?}: {e}"))?;
        let mut representations = Vec::new();
        for node in doc.descendants().filter(|n| n.has_tag_name("Representation")) {
            let id = node.attribute("id").ok_or("Representation without id")?.to_string();
            let template = node
                .descendants()
                .find(|n| n.has_tag_name("SegmentTemplate"))
                .ok_or_else(|| format!("representation {id} has no SegmentTemplate"))?;
            let number = |name: &str, default: Option<u64>| -> Result<u64, String> {
                match template.attribute(name) {
                    Some(v) => v.parse().map_err(|_| format!("representation {id}: {name}={v:?}")),
                    None => default.ok_or_else(|| format!("representation {id}: no {name}")),
                }
            };
            let timescale = number("timescale", Some(1))?;
            let duration = number("duration", None)?;
            let text = |name: &str| {
                template
                    .attribute(name)
                    .map(|v| v.replace("$RepresentationID$", &id))
                    .ok_or_else(|| format!("representation {id}: no {name}"))
            };
            representations.push(Representation {
                media: text("media")?,
                init: text("initialization")?,
                start_number: number("startNumber", Some(1))?,
                segment: Duration::from_secs_f64(duration as f64 / timescale as f64),
                id,
            });
        }
        if representations.is_empty() {
            return Err("MPD has no representations".into());
        }
        Ok(LiveTemplate { availability_start, representations })
    }

    /// The number of the segment `representation` is writing at `now`.
    pub fn number_at(&self, representation: &Representation, now: SystemTime) -> u64 {
        let since = now.duration_since(self.availability_start).unwrap_or_default();
        representation.start_number + (since.as_secs_f64() / representation.segment.as_secs_f64()) as u64
    }
}

