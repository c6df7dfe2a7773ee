//! Leftovers of an earlier run, dealt with at start-up. A presentation that was still live when the
//! process died (a crash, a kill, or a shutdown past its deadline) never got its trailer: its manifest
//! still says `type="dynamic"`, its HLS playlists have no end, and `.tmp` files will never be
//! completed. Served as they are, players would wait forever for a live edge that never moves.
//!
//! What a user gets instead: the unfinished files are removed, and the manifest and playlists are
//! renamed `<name>.interrupted`, so the stream is not served (404) and its id can be published again;
//! the finished segments stay on disk, with the manifest that lists them, for recovery by hand. A
//! presentation without a trailer has no reliable duration, so it is not passed off as a recording.

use std::io;
use std::path::Path;

use super::{MANIFEST, files};

/// Suffix given to the manifest and playlists of an interrupted presentation.
pub const INTERRUPTED: &str = "interrupted";

/// Retires every interrupted presentation under `media_dir`; returns the names of their folders.
pub fn retire_interrupted(media_dir: &Path) -> io::Result<Vec<String>> {
    let mut retired = Vec::new();
    for entry in std::fs::read_dir(media_dir)? {
        let entry = entry?;
        // `file_type` does not follow links: only the server's own folders are touched.
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let dir = entry.path();
        let removed = files::remove_unfinished(&dir)?;
        let live = std::fs::read_to_string(dir.join(MANIFEST)).is_ok_and(|mpd| is_dynamic(&mpd));
        if live {
            for name in std::fs::read_dir(&dir)?.filter_map(Result::ok).map(|e| e.file_name()) {
                let name = name.to_string_lossy();
                if name == MANIFEST || name.ends_with(".m3u8") {
                    std::fs::rename(dir.join(&*name), dir.join(format!("{name}.{INTERRUPTED}")))?;
                }
            }
        }
        if live || removed > 0 {
            retired.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    retired.sort();
    Ok(retired)
}

/// Whether an MPD describes a live presentation (its root's `type` is `dynamic`).
fn is_dynamic(mpd: &str) -> bool {
    roxmltree::Document::parse(mpd).is_ok_and(|doc| doc.root_element().attribute("type") == Some("dynamic"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_presentation_is_retired_and_a_finished_one_kept() {
        let media = tempfile::tempdir().unwrap();
        let live = media.path().join("live");
        let done = media.path().join("done");
        for dir in [&live, &done] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("chunk-t-0-00001.m4s"), b"x").unwrap();
        }
        std::fs::write(live.join(MANIFEST), r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"/>"#).unwrap();
        std::fs::write(live.join("media_0.m3u8"), "#EXTM3U\n").unwrap();
        std::fs::write(live.join("chunk-t-0-00002.m4s.tmp"), b"x").unwrap();
        std::fs::write(done.join(MANIFEST), r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"/>"#).unwrap();

        assert_eq!(retire_interrupted(media.path()).unwrap(), ["live"]);
        let mut names: Vec<_> = std::fs::read_dir(&live).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["chunk-t-0-00001.m4s", "manifest.mpd.interrupted", "media_0.m3u8.interrupted"]);
        assert!(done.join(MANIFEST).exists(), "a finished recording is left alone");
        assert!(retire_interrupted(media.path()).unwrap().is_empty(), "nothing left to do");
    }
}
