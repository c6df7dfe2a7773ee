//! The files the packager writes in a stream's folder, recognised by name. Only these names are ever
//! served, so nothing else in (or outside) the media folder can be reached through `/dash/`.
//!
//! Names come from [`super::dash_options`]: `manifest.mpd`, `init-<tag>-<rep>.<ext>` and
//! `chunk-<tag>-<rep>-<number>.<ext>` with `<ext>` `m4s` or `webm`; the HLS playlists `master.m3u8` and
//! `media_<rep>.m3u8` are not files but rendered on request ([`crate::http::hls`]).

/// What a served file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DashFile {
    /// The MPD.
    Manifest,
    /// An HLS playlist (multivariant or per representation), rendered by livedash.
    Playlist,
    /// An initialisation segment of representation `rep`.
    Init { rep: u32, webm: bool },
    /// A media segment of representation `rep`.
    Media { rep: u32, number: u64, webm: bool },
}

/// Longest presentation tag accepted in a file name.
const MAX_TAG: usize = 16;

impl DashFile {
    /// Recognises `name`, or `None` for anything the muxer does not write.
    pub fn parse(name: &str) -> Option<DashFile> {
        if name == super::MANIFEST {
            return Some(DashFile::Manifest);
        }
        if name == "master.m3u8" {
            return Some(DashFile::Playlist);
        }
        if let Some(rep) = name.strip_prefix("media_").and_then(|r| r.strip_suffix(".m3u8")) {
            return digits(rep, 4).map(|_| DashFile::Playlist);
        }
        let (stem, webm) = match name.rsplit_once('.')? {
            (stem, "m4s") => (stem, false),
            (stem, "webm") => (stem, true),
            _ => return None,
        };
        if let Some(rest) = stem.strip_prefix("init-") {
            let (tag, rep) = rest.split_once('-')?;
            tag_ok(tag)?;
            return Some(DashFile::Init { rep: digits(rep, 4)? as u32, webm });
        }
        let rest = stem.strip_prefix("chunk-")?;
        let mut parts = rest.split('-');
        let (tag, rep, number) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        tag_ok(tag)?;
        Some(DashFile::Media { rep: digits(rep, 4)? as u32, number: digits(number, 12)?, webm })
    }

    /// Manifests and playlists change while live; segments never change once finished.
    pub fn is_segment(self) -> bool {
        matches!(self, DashFile::Init { .. } | DashFile::Media { .. })
    }

    /// The representation a segment belongs to.
    pub fn representation(self) -> Option<u32> {
        match self {
            DashFile::Init { rep, .. } | DashFile::Media { rep, .. } => Some(rep),
            _ => None,
        }
    }

    /// The HTTP content type; WebM segments of an audio-only representation are `audio/webm`.
    pub fn content_type(self, audio_representation: bool) -> &'static str {
        match self {
            DashFile::Manifest => "application/dash+xml",
            DashFile::Playlist => "application/vnd.apple.mpegurl",
            DashFile::Init { webm: true, .. } | DashFile::Media { webm: true, .. } if audio_representation => {
                "audio/webm"
            }
            DashFile::Init { webm: true, .. } | DashFile::Media { webm: true, .. } => "video/webm",
            DashFile::Init { .. } | DashFile::Media { .. } => "video/mp4",
        }
    }
}

fn digits(text: &str, max: usize) -> Option<u64> {
    if text.is_empty() || text.len() > max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn tag_ok(tag: &str) -> Option<()> {
    let ok = !tag.is_empty() && tag.len() <= MAX_TAG && tag.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    ok.then_some(())
}

/// Deletes the muxer's unfinished files (`<name>.tmp`) from a presentation that ended without its
/// trailer: they will never be completed, so no request may wait on them. Returns how many went.
pub fn remove_unfinished(dir: &std::path::Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && entry.file_name().to_string_lossy().ends_with(".tmp") {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// A new presentation tag: the current time in milliseconds, base 36 (8 characters until 2059).
pub fn new_presentation_tag() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut n = millis;
    let mut tag = Vec::new();
    loop {
        tag.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    tag.reverse();
    String::from_utf8(tag).expect("ascii")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_every_name_the_muxer_writes() {
        assert_eq!(DashFile::parse("manifest.mpd"), Some(DashFile::Manifest));
        assert_eq!(DashFile::parse("master.m3u8"), Some(DashFile::Playlist));
        assert_eq!(DashFile::parse("media_1.m3u8"), Some(DashFile::Playlist));
        assert_eq!(DashFile::parse("init-mk2x9a-0.m4s"), Some(DashFile::Init { rep: 0, webm: false }));
        assert_eq!(DashFile::parse("init-mk2x9a-1.webm"), Some(DashFile::Init { rep: 1, webm: true }));
        assert_eq!(
            DashFile::parse("chunk-mk2x9a-1-00042.m4s"),
            Some(DashFile::Media { rep: 1, number: 42, webm: false })
        );
    }

    #[test]
    fn refuses_everything_else() {
        for name in [
            "", ".", "..", "manifest.mpd.tmp", "chunk-a-0-00001.m4s.tmp", "init-stream0.m4s", "chunk-A-0-1.m4s",
            "chunk-a-0-1-2.m4s", "chunk-a-x-1.m4s", "init-a-0.mp4", "media_.m3u8", "media_1.m3u8x", "../manifest.mpd",
            "init-a-0.m4s/x", "chunk--0-1.m4s", "secret.txt", "chunk-a-0-1234567890123.m4s",
        ] {
            assert_eq!(DashFile::parse(name), None, "{name:?}");
        }
    }

    #[test]
    fn content_types_follow_the_contract() {
        assert_eq!(DashFile::Manifest.content_type(false), "application/dash+xml");
        assert_eq!(DashFile::Playlist.content_type(false), "application/vnd.apple.mpegurl");
        assert_eq!(DashFile::Init { rep: 0, webm: false }.content_type(false), "video/mp4");
        assert_eq!(DashFile::Media { rep: 0, number: 1, webm: true }.content_type(false), "video/webm");
        assert_eq!(DashFile::Media { rep: 0, number: 1, webm: true }.content_type(true), "audio/webm");
    }

    #[test]
    fn presentation_tags_are_valid_in_file_names() {
        let tag = new_presentation_tag();
        assert!(tag_ok(&tag).is_some(), "{tag}");
        assert!(DashFile::parse(&format!("chunk-{tag}-0-00001.m4s")).is_some());
    }
}
