//! When may a player start? dash.js 5 fails on an AdaptationSet whose segment list is empty, so
//! `manifest_ready` waits until the MPD exists and every AdaptationSet has something to play:
//! - with a `SegmentTimeline` (normal mode), at least one `<S>` entry;
//! - with a `$Number$` template and no timeline (low latency), its init segment and the first media
//!   segment on disk, finished or still being written (`.tmp`) with its first fragment.
//!
//! Pure: the caller says which files exist, so this is tested without a muxer. [`required_files`]
//! splits the rule so that a manifest is parsed once per version: until the manifest changes, only
//! the files it names are looked at again.

use roxmltree::{Document, Node};

/// True when every AdaptationSet in `mpd` lists or has a playable first segment. `file_ready(name)`
/// says whether the file `name` (or its in-progress `.tmp`) exists with data.
pub fn presentation_ready(mpd: &str, file_ready: impl Fn(&str) -> bool) -> bool {
    required_files(mpd).is_some_and(|files| files.iter().all(|name| file_ready(name)))
}

/// What `mpd` needs before it is ready: `None` if it can never be ready as written (broken, no
/// AdaptationSet, or a set with nothing to play), else the files that must exist with data (for
/// `$Number$` templates: each representation's init and first media segment; none when every set
/// has a timeline entry).
pub fn required_files(mpd: &str) -> Option<Vec<String>> {
    let doc = Document::parse(mpd).ok()?;
    let mut files = Vec::new();
    let mut sets = 0;
    for set in doc.descendants().filter(|n| n.has_tag_name("AdaptationSet")) {
        sets += 1;
        adaptation_set_files(set, &mut files)?;
    }
    (sets > 0).then_some(files)
}

/// Adds what `set` needs to `files`; `None` if it can't be ready.
fn adaptation_set_files(set: Node, files: &mut Vec<String>) -> Option<()> {
    let mut representations = 0;
    for rep in set.children().filter(|n| n.has_tag_name("Representation")) {
        representations += 1;
        let template = child(rep, "SegmentTemplate").or_else(|| child(set, "SegmentTemplate"))?;
        match child(template, "SegmentTimeline") {
            Some(timeline) => {
                timeline.children().any(|n| n.has_tag_name("S")).then_some(())?;
            }
            None => first_files(rep, template, files)?,
        }
    }
    (representations > 0).then_some(())
}

fn first_files(rep: Node, template: Node, files: &mut Vec<String>) -> Option<()> {
    let id = rep.attribute("id").unwrap_or_default();
    let start_number: u64 = template.attribute("startNumber").and_then(|n| n.parse().ok()).unwrap_or(1);
    let (init, media) = (template.attribute("initialization")?, template.attribute("media")?);
    files.push(expand_template(init, id, start_number));
    files.push(expand_template(media, id, start_number));
    Some(())
}

/// Widest `$Number%0Nd$` honoured: a u64 has at most 20 digits, and a huge width from a hostile
/// manifest must not make `format!` panic (its width limit is 65535).
const MAX_NUMBER_WIDTH: usize = 64;

/// Expands `$RepresentationID$` and `$Number$` / `$Number%05d$` in a SegmentTemplate attribute.
pub fn expand_template(template: &str, representation_id: &str, number: u64) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('$') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let identifier = &after[..end];
        match identifier {
            "" => out.push('$'),
            "RepresentationID" => out.push_str(representation_id),
            _ if identifier.starts_with("Number") => {
                let width: usize = identifier
                    .strip_prefix("Number%0")
                    .and_then(|w| w.strip_suffix('d'))
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(0)
                    .min(MAX_NUMBER_WIDTH);
                out.push_str(&format!("{number:0width$}"));
            }
            _ => {
                out.push('$');
                out.push_str(identifier);
                out.push('$');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn child<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMELINE_MPD: &str = r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"><Period>
  <AdaptationSet contentType="video"><Representation id="0">
    <SegmentTemplate initialization="init-t-$RepresentationID$.m4s" media="chunk-t-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
      <SegmentTimeline>VIDEO_S</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet>
  <AdaptationSet contentType="audio"><Representation id="1">
    <SegmentTemplate initialization="init-t-$RepresentationID$.m4s" media="chunk-t-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
      <SegmentTimeline>AUDIO_S</SegmentTimeline></SegmentTemplate></Representation></AdaptationSet>
</Period></MPD>"#;

    const NUMBER_MPD: &str = r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"><Period>
  <AdaptationSet contentType="video"><Representation id="0">
    <SegmentTemplate duration="2000" timescale="1000" initialization="init-t-$RepresentationID$.m4s" media="chunk-t-$RepresentationID$-$Number%05d$.m4s" startNumber="1"/>
  </Representation></AdaptationSet></Period></MPD>"#;

    #[test]
    fn a_timeline_needs_a_segment_in_every_adaptation_set() {
        let both = TIMELINE_MPD.replace("VIDEO_S", r#"<S t="0" d="2000"/>"#).replace("AUDIO_S", r#"<S t="0" d="2000"/>"#);
        assert!(presentation_ready(&both, |_| false));
        let audio_empty = TIMELINE_MPD.replace("VIDEO_S", r#"<S t="0" d="2000"/>"#).replace("AUDIO_S", "");
        assert!(!presentation_ready(&audio_empty, |_| true));
    }

    #[test]
    fn a_number_template_needs_the_init_and_first_segment_on_disk() {
        assert!(presentation_ready(NUMBER_MPD, |name| ["init-t-0.m4s", "chunk-t-0-00001.m4s"].contains(&name)));
        assert!(!presentation_ready(NUMBER_MPD, |name| name == "init-t-0.m4s"));
        assert!(!presentation_ready(NUMBER_MPD, |name| name == "chunk-t-0-00001.m4s"));
    }

    #[test]
    fn the_files_a_manifest_needs_are_named_once() {
        assert_eq!(required_files(NUMBER_MPD).unwrap(), ["init-t-0.m4s", "chunk-t-0-00001.m4s"]);
        let both = TIMELINE_MPD.replace("VIDEO_S", r#"<S t="0" d="2000"/>"#).replace("AUDIO_S", r#"<S t="0" d="2000"/>"#);
        assert_eq!(required_files(&both).unwrap(), Vec::<String>::new(), "a timeline entry needs no file");
        assert_eq!(required_files(&TIMELINE_MPD.replace("VIDEO_S", "").replace("AUDIO_S", "")), None);
        assert_eq!(required_files("<MPD><Period><AdaptationSet/></Period></MPD>"), None);
    }

    #[test]
    fn broken_or_empty_manifests_are_not_ready() {
        assert!(!presentation_ready("", |_| true));
        assert!(!presentation_ready("<MPD><Period/></MPD>", |_| true));
        assert!(!presentation_ready("<MPD><Period><AdaptationSet/></Period></MPD>", |_| true));
        assert!(!presentation_ready("<MPD><Period><AdaptationSet>", |_| true));
    }

    #[test]
    fn templates_expand_like_the_muxer_names_files() {
        assert_eq!(expand_template("chunk-ab-$RepresentationID$-$Number%05d$.m4s", "1", 7), "chunk-ab-1-00007.m4s");
        assert_eq!(expand_template("seg-$Number$.webm", "0", 12), "seg-12.webm");
        assert_eq!(expand_template("a$$b", "0", 1), "a$b");
        assert_eq!(expand_template("x-$Bandwidth$", "0", 1), "x-$Bandwidth$");
    }

    /// Found by the `parsers` fuzz target: a width over 65535 made `format!` panic.
    #[test]
    fn a_huge_number_width_is_capped_not_a_panic() {
        let crasher = include_str!("../../tests/fixtures/fuzz/parsers-expand-template-width-overflow.bin");
        presentation_ready(crasher, |_| true); // must return, whatever it says
        assert_eq!(expand_template("$Number%099999d$", "0", 7).len(), MAX_NUMBER_WIDTH);
    }
}
