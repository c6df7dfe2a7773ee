//! The whole `SegmentTimeline` of a presentation whose muxer remembers only a window of it.
//!
//! With a timeline (VP8, `--latency normal`) each MPD the muxer writes lists its segments one by one,
//! and FFmpeg 5.1's dash muxer keeps a ~1.1 KB record of each for as long as it lists it. Given a
//! window it forgets old segments, and so would the recording's final MPD. [`TimelineLog`] keeps the
//! rest on disk instead: every time the muxer writes its manifest, the segments new in it are
//! appended to a log in the stream's folder (a few bytes each, constant work per segment), and the
//! final, static MPD gets its timelines back whole from that log before it takes its real name.
//! Parsing and rendering are pure functions of the text ([`parse_windows`], [`complete`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The log's name in the stream folder; no name the delivery serves (see [`super::files`]).
pub const LOG_NAME: &str = "timeline.log";

/// One segment as a timeline lists it: its number, start and duration in the timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub number: u64,
    pub start: u64,
    pub duration: u64,
}

/// What one representation's `SegmentTemplate` lists, and where its parts are in the MPD's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub representation: String,
    pub segments: Vec<Listed>,
    /// The `startNumber` attribute's value, if the template has one.
    start_number_value: Option<Range<usize>>,
    /// The whole `<SegmentTimeline>` element.
    timeline: Range<usize>,
}

/// Why a manifest's timelines could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("the manifest is not XML: {0}")]
    Xml(#[from] roxmltree::Error),
    #[error("representation {representation}: {what} is not a number")]
    NotANumber { representation: String, what: &'static str },
    #[error("reading or writing the timeline log: {0}")]
    Io(#[from] io::Error),
    #[error("timeline log line {line} is damaged")]
    Damaged { line: usize },
}

/// Every representation's timeline in `mpd`, expanded segment by segment (`r` repeats resolved).
pub fn parse_windows(mpd: &str) -> Result<Vec<Window>, TimelineError> {
    let doc = roxmltree::Document::parse(mpd)?;
    let mut windows = Vec::new();
    for representation in doc.descendants().filter(|n| n.has_tag_name("Representation")) {
        let id = representation.attribute("id").unwrap_or_default().to_string();
        let Some(template) = representation.children().find(|n| n.has_tag_name("SegmentTemplate")) else { continue };
        let Some(timeline) = template.children().find(|n| n.has_tag_name("SegmentTimeline")) else { continue };
        let number = |value: Option<&str>, what: &'static str, default: u64| match value {
            None => Ok(default),
            Some(v) => v.parse::<u64>().map_err(|_| TimelineError::NotANumber { representation: id.clone(), what }),
        };
        let start_number = template.attribute_node("startNumber");
        let mut next = Listed { number: number(start_number.map(|a| a.value()), "startNumber", 1)?, start: 0, duration: 0 };
        let mut segments = Vec::new();
        for s in timeline.children().filter(|n| n.has_tag_name("S")) {
            let start = number(s.attribute("t"), "S@t", next.start)?;
            let duration = number(s.attribute("d"), "S@d", 0)?;
            let repeats = number(s.attribute("r"), "S@r", 0)?;
            let mut at = start;
            for _ in 0..=repeats {
                segments.push(Listed { number: next.number, start: at, duration });
                next.number += 1;
                at += duration;
            }
            next.start = at;
        }
        windows.push(Window {
            representation: id,
            segments,
            start_number_value: start_number.map(|a| a.range_value()),
            timeline: timeline.range(),
        });
    }
    Ok(windows)
}

/// `mpd` with each representation's timeline replaced by `whole[representation]` (sorted by number)
/// and its `startNumber` set to that timeline's first number. Representations not in `whole` are
/// left as they are.
pub fn complete(mpd: &str, whole: &HashMap<String, Vec<Listed>>) -> Result<String, TimelineError> {
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for window in parse_windows(mpd)? {
        let Some(segments) = whole.get(&window.representation).filter(|s| !s.is_empty()) else { continue };
        if let Some(value) = window.start_number_value {
            edits.push((value, segments[0].number.to_string()));
        }
        let line_start = mpd[..window.timeline.start].rfind('\n').map_or(0, |i| i + 1);
        let indent = &mpd[line_start..window.timeline.start];
        edits.push((window.timeline, render_timeline(segments, indent)));
    }
    edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut text = mpd.to_string();
    for (range, replacement) in edits {
        text.replace_range(range, &replacement);
    }
    Ok(text)
}

/// A `<SegmentTimeline>` listing `segments`: a start time wherever a segment does not follow the one
/// before it (the first, and after a gap), equal durations in a row folded into `r`.
pub fn render_timeline(segments: &[Listed], indent: &str) -> String {
    let mut text = String::from("<SegmentTimeline>\n");
    let mut i = 0;
    while i < segments.len() {
        let first = segments[i];
        let mut repeats = 0;
        while let Some(next) = segments.get(i + repeats + 1) {
            let previous = segments[i + repeats];
            if next.duration != first.duration || next.start != previous.start + previous.duration {
                break;
            }
            repeats += 1;
        }
        let follows = i > 0 && segments[i - 1].start + segments[i - 1].duration == first.start;
        text.push_str(indent);
        text.push_str("\t<S");
        if !follows {
            text.push_str(&format!(" t=\"{}\"", first.start));
        }
        text.push_str(&format!(" d=\"{}\"", first.duration));
        if repeats > 0 {
            text.push_str(&format!(" r=\"{repeats}\""));
        }
        text.push_str(" />\n");
        i += repeats + 1;
    }
    text.push_str(indent);
    text.push_str("</SegmentTimeline>");
    text
}

/// The log of one presentation's timelines (see the module comment).
pub struct TimelineLog {
    path: PathBuf,
    file: Option<File>,
    /// Per representation, the first segment number not logged yet.
    next: HashMap<String, u64>,
}

impl TimelineLog {
    /// A log in the stream folder `dir`; nothing is written until the first manifest.
    pub fn new(dir: &Path) -> TimelineLog {
        TimelineLog { path: dir.join(LOG_NAME), file: None, next: HashMap::new() }
    }

    /// Called with every manifest the muxer has written (at `manifest`, before it takes its real name):
    /// logs the segments new in it, and makes a final (static) manifest list every segment logged.
    pub fn manifest_written(&mut self, manifest: &Path) -> Result<(), TimelineError> {
        let mpd = std::fs::read_to_string(manifest)?;
        self.record(&mpd)?;
        if is_static(&mpd) {
            let whole = self.read_back()?;
            std::fs::write(manifest, complete(&mpd, &whole)?)?;
            self.file = None;
            std::fs::remove_file(&self.path)?;
        }
        Ok(())
    }

    /// Appends the segments of `mpd` not logged before.
    fn record(&mut self, mpd: &str) -> Result<(), TimelineError> {
        let mut lines = String::new();
        for window in parse_windows(mpd)? {
            let next = self.next.entry(window.representation.clone()).or_insert(0);
            for segment in &window.segments {
                if segment.number < *next {
                    continue;
                }
                lines.push_str(&format!("{} {} {} {}\n", window.representation, segment.number, segment.start, segment.duration));
                *next = segment.number + 1;
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            // Created afresh: a log left by an earlier presentation in this folder is not this one's.
            None => self.file.insert(File::create(&self.path)?),
        };
        file.write_all(lines.as_bytes())?;
        Ok(())
    }

    /// Every logged segment, per representation, in order.
    fn read_back(&self) -> Result<HashMap<String, Vec<Listed>>, TimelineError> {
        let mut whole: HashMap<String, Vec<Listed>> = HashMap::new();
        for (index, line) in BufReader::new(File::open(&self.path)?).lines().enumerate() {
            let line = line?;
            let damaged = || TimelineError::Damaged { line: index + 1 };
            let fields: Vec<&str> = line.split(' ').collect();
            let [representation, number, start, duration] = fields[..] else { return Err(damaged()) };
            let parse = |v: &str| v.parse::<u64>().map_err(|_| damaged());
            let listed = Listed { number: parse(number)?, start: parse(start)?, duration: parse(duration)? };
            whole.entry(representation.to_string()).or_default().push(listed);
        }
        Ok(whole)
    }
}

fn is_static(mpd: &str) -> bool {
    roxmltree::Document::parse(mpd).is_ok_and(|doc| doc.root_element().attribute("type") == Some("static"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mpd(kind: &str, start_number: u64, timeline: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\n<MPD type=\"{kind}\">\n\t<Period>\n\t\t<AdaptationSet>\n\t\t\t<Representation id=\"0\">\n\
             \t\t\t\t<SegmentTemplate timescale=\"1000\" media=\"c-$Number$.webm\" startNumber=\"{start_number}\">\n\
             \t\t\t\t\t<SegmentTimeline>\n{timeline}\t\t\t\t\t</SegmentTimeline>\n\t\t\t\t</SegmentTemplate>\n\
             \t\t\t</Representation>\n\t\t</AdaptationSet>\n\t</Period>\n</MPD>\n"
        )
    }

    fn listed(number: u64, start: u64, duration: u64) -> Listed {
        Listed { number, start, duration }
    }

    #[test]
    fn repeats_and_implicit_starts_are_expanded_with_their_numbers() {
        let text = mpd("dynamic", 7, "<S t=\"100\" d=\"1020\" r=\"2\" />\n<S d=\"960\" />\n<S t=\"9000\" d=\"500\" />\n");
        let windows = parse_windows(&text).unwrap();
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].representation, "0");
        assert_eq!(
            windows[0].segments,
            vec![listed(7, 100, 1020), listed(8, 1120, 1020), listed(9, 2140, 1020), listed(10, 3160, 960), listed(11, 9000, 500)]
        );
    }

    #[test]
    fn a_rendered_timeline_folds_repeats_and_states_starts_after_gaps() {
        let segments = [listed(1, 0, 1000), listed(2, 1000, 1000), listed(3, 2000, 1050), listed(4, 5000, 1050)];
        assert_eq!(
            render_timeline(&segments, "\t"),
            "<SegmentTimeline>\n\t\t<S t=\"0\" d=\"1000\" r=\"1\" />\n\t\t<S d=\"1050\" />\n\t\t<S t=\"5000\" d=\"1050\" />\n\t</SegmentTimeline>"
        );
    }

    #[test]
    fn completing_puts_the_whole_timeline_back_and_starts_at_its_first_number() {
        let window = mpd("static", 3, "<S t=\"2000\" d=\"1000\" r=\"1\" />\n");
        let whole = HashMap::from([(
            "0".to_string(),
            vec![listed(1, 0, 1000), listed(2, 1000, 1000), listed(3, 2000, 1000), listed(4, 3000, 1000)],
        )]);
        let completed = complete(&window, &whole).unwrap();
        assert!(completed.contains("startNumber=\"1\""), "{completed}");
        assert_eq!(parse_windows(&completed).unwrap()[0].segments, whole["0"]);
        // Everything else is the muxer's text, unchanged.
        assert!(completed.starts_with("<?xml version=\"1.0\"?>\n<MPD type=\"static\">") && completed.ends_with("</MPD>\n"));
    }

    #[test]
    fn the_log_keeps_what_the_window_forgets_and_the_final_manifest_lists_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("manifest.mpd.tmp");
        let mut log = TimelineLog::new(dir.path());
        // Three rewrites of a two-segment window, then the final manifest with the same window.
        for (kind, first) in [("dynamic", 1), ("dynamic", 2), ("dynamic", 3), ("static", 3)] {
            let t = (first - 1) * 1000;
            std::fs::write(&manifest, mpd(kind, first, &format!("<S t=\"{t}\" d=\"1000\" r=\"1\" />\n"))).unwrap();
            log.manifest_written(&manifest).unwrap();
        }
        let finished = std::fs::read_to_string(&manifest).unwrap();
        let segments = &parse_windows(&finished).unwrap()[0].segments;
        assert_eq!(segments.iter().map(|s| s.number).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(segments.iter().map(|s| s.start).collect::<Vec<_>>(), vec![0, 1000, 2000, 3000]);
        assert!(!dir.path().join(LOG_NAME).exists(), "the log is removed once the final manifest has it");
    }

    #[test]
    fn a_damaged_log_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOG_NAME), "0 1 0 1000\n0 two 1000 1000\n").unwrap();
        let error = TimelineLog::new(dir.path()).read_back().unwrap_err();
        assert_eq!(error.to_string(), "timeline log line 2 is damaged");
    }
}
