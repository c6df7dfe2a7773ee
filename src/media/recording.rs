//! A finished presentation as one file: `recording.mp4` (CMAF presentations: H.264, VP9, AV1 with Opus
//! or AAC) or `recording.webm` (VP8), remuxed in-process with libavformat from the stream's own init and
//! media segments, every representation, stream copy (nothing is decoded). MP4 gets `+faststart` (the
//! `moov` box before the media data), so a player or a browser's preview can start before the whole file
//! is there; timestamps start at 0, without edit lists.
//!
//! Each representation is read as one input through FFmpeg's `concatf` protocol (a list of its init
//! segment and media segments in number order), so no segment is copied to build the input; the tracks
//! are written interleaved by decode time. The output is written to a `.part` file and renamed, so a
//! reader never sees half a recording. The caller runs this on a blocking thread: it reads and writes
//! the whole recording.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;
use ffmpeg::{Packet, Rational, Rescale, media};

use super::SegmentType;
use super::ffi;
use crate::stream_id::StreamId;

/// Microseconds: the common time base tracks are interleaved in.
const MICROS: Rational = Rational(1, 1_000_000);

/// Which single-file container a presentation's segments become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingFormat {
    Mp4,
    /// VP8 has no MP4 mapping; its WebM segments stay WebM.
    Webm,
}

impl RecordingFormat {
    /// The container a presentation's segments allow.
    pub fn of(segments: SegmentType) -> RecordingFormat {
        match segments {
            SegmentType::Mp4 => RecordingFormat::Mp4,
            SegmentType::Webm => RecordingFormat::Webm,
        }
    }

    /// `mp4` or `webm`: the file extension and the libavformat muxer name.
    pub fn extension(self) -> &'static str {
        match self {
            RecordingFormat::Mp4 => "mp4",
            RecordingFormat::Webm => "webm",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            RecordingFormat::Mp4 => "video/mp4",
            RecordingFormat::Webm => "video/webm",
        }
    }

    /// Where the finished file of presentation `tag` is kept in its stream folder. The tag is in the
    /// name so a file left by an earlier presentation can never be served for a later one.
    pub fn cached_name(self, tag: &str) -> String {
        format!("recording-{tag}.{}", self.extension())
    }
}

/// Why a recording could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("stream {stream}: the recording has no segments to put in a file")]
    NoSegments { stream: StreamId },
    #[error("stream {stream}: representation {representation} has media segments but no init segment")]
    NoInit { stream: StreamId, representation: u32 },
    #[error("stream {stream}: {doing}: {source}")]
    Io { stream: StreamId, doing: String, source: io::Error },
    #[error("stream {stream}: {doing}: {source}")]
    Media { stream: StreamId, doing: String, source: ffmpeg::Error },
}

/// One representation's files, in order.
#[derive(Debug, Default, PartialEq)]
struct Representation {
    init: Option<String>,
    /// (number, file name), sorted by number once collected.
    media: Vec<(u64, String)>,
}

/// The init and media segments of presentation `tag` among `names`, per representation. Names of
/// other presentations, unfinished files (`.tmp`) and anything else are ignored.
fn segments_of(tag: &str, names: impl IntoIterator<Item = String>) -> BTreeMap<u32, Representation> {
    let mut representations: BTreeMap<u32, Representation> = BTreeMap::new();
    let init_prefix = format!("init-{tag}-");
    let media_prefix = format!("chunk-{tag}-");
    for name in names {
        let Some(kind) = super::files::DashFile::parse(&name) else { continue };
        match kind {
            super::files::DashFile::Init { rep, .. } if name.starts_with(&init_prefix) => {
                representations.entry(rep).or_default().init = Some(name);
            }
            super::files::DashFile::Media { rep, number, .. } if name.starts_with(&media_prefix) => {
                representations.entry(rep).or_default().media.push((number, name));
            }
            _ => {}
        }
    }
    for representation in representations.values_mut() {
        representation.media.sort();
    }
    representations
}

/// Makes `<dir>/<format.cached_name(tag)>` from presentation `tag`'s segments in `dir` and returns its
/// path. Blocking.
pub fn remux(stream: &StreamId, dir: &Path, tag: &str, format: RecordingFormat) -> Result<PathBuf, RecordingError> {
    let io_error = |doing: String| move |source| RecordingError::Io { stream: stream.clone(), doing, source };
    let names = std::fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect::<io::Result<Vec<_>>>())
        .map_err(io_error(format!("listing {}", dir.display())))?;
    let representations = segments_of(tag, names);
    if representations.values().all(|r| r.media.is_empty()) {
        return Err(RecordingError::NoSegments { stream: stream.clone() });
    }
    let final_path = dir.join(format.cached_name(tag));
    let part = Scratch(dir.join(format!("{}.part", format.cached_name(tag))));
    let mut lists = Vec::new();
    for (&number, representation) in representations.iter().filter(|(_, r)| !r.media.is_empty()) {
        let Some(init) = &representation.init else {
            return Err(RecordingError::NoInit { stream: stream.clone(), representation: number });
        };
        let list = Scratch(dir.join(format!("recording-{tag}-{number}.list")));
        write_list(&list.0, dir, init, &representation.media).map_err(io_error(format!("writing {}", list.0.display())))?;
        lists.push(list);
    }
    Remuxer { stream, format }.run(&lists, &part.0)?;
    std::fs::rename(&part.0, &final_path).map_err(io_error(format!("renaming {}", part.0.display())))?;
    Ok(final_path)
}

/// A `concatf` list: one `file:` URL per line (the prefix keeps a `:` in a folder name from being read
/// as a protocol).
fn write_list(list: &Path, dir: &Path, init: &str, media: &[(u64, String)]) -> io::Result<()> {
    let mut out = io::BufWriter::new(std::fs::File::create(list)?);
    for name in std::iter::once(init).chain(media.iter().map(|(_, name)| name.as_str())) {
        writeln!(out, "file:{}", dir.join(name).display())?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// A file removed when dropped (list files always; the `.part` output when it was not renamed).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One input (a representation) and where its tracks go in the output.
struct Source {
    input: ffmpeg::format::context::Input,
    /// Output stream index for each input stream (`None`: not audio or video).
    routes: Vec<Option<usize>>,
    /// The next packet, read ahead so tracks can be written in decode order.
    next: Option<Packet>,
}

struct Remuxer<'a> {
    stream: &'a StreamId,
    format: RecordingFormat,
}

impl Remuxer<'_> {
    fn media_error(&self, doing: impl Into<String>) -> impl FnOnce(ffmpeg::Error) -> RecordingError + '_ {
        let doing = doing.into();
        move |source| RecordingError::Media { stream: self.stream.clone(), doing, source }
    }

    fn run(&self, lists: &[Scratch], part: &Path) -> Result<(), RecordingError> {
        let mut output = ffmpeg::format::output_as(part, self.format.extension())
            .map_err(self.media_error(format!("creating {}", part.display())))?;
        let mut sources = Vec::new();
        for list in lists {
            let url = format!("concatf:{}", list.0.display());
            let input = ffmpeg::format::input(&url).map_err(self.media_error(format!("reading the segments listed in {}", list.0.display())))?;
            let mut routes = Vec::new();
            for stream in input.streams() {
                let medium = stream.parameters().medium();
                if medium != media::Type::Video && medium != media::Type::Audio {
                    routes.push(None);
                    continue;
                }
                let mut out = output
                    .add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None))
                    .map_err(self.media_error("adding a track"))?;
                out.set_parameters(stream.parameters());
                out.set_time_base(stream.time_base());
                // The segments' codec tag may not be the output container's; the muxer picks its own.
                ffi::clear_codec_tag(&mut out);
                routes.push(Some(out.index()));
            }
            sources.push(Source { input, routes, next: None });
        }
        let mut options = ffmpeg::Dictionary::new();
        if self.format == RecordingFormat::Mp4 {
            options.set("movflags", "+faststart");
            // No edit lists: with one, FFmpeg 5.1's MP4 reader hides the last Opus packet behind the
            // pre-skip edit (measured: 65 of 66 packets), and so may other players. Without, a track
            // that starts a few milliseconds after 0 starts at 0 instead (18 ms in the fixtures).
            options.set("use_editlist", "0");
        }
        output.write_header_with(options).map_err(self.media_error("writing the file header"))?;
        let out_time_bases: Vec<Rational> = output.streams().map(|s| s.time_base()).collect();

        for source in &mut sources {
            self.read_next(source)?;
        }
        // Timestamps from 0: the earliest first decode time of any track becomes 0.
        let start = sources.iter().filter_map(|s| s.next.as_ref().map(|p| micros(s, p))).min().unwrap_or(0);
        while let Some(earliest) = (0..sources.len())
            .filter(|&i| sources[i].next.is_some())
            .min_by_key(|&i| sources[i].next.as_ref().map(|p| micros(&sources[i], p)))
        {
            let source = &mut sources[earliest];
            let mut packet = source.next.take().expect("chosen for its packet");
            let in_time_base = source.input.stream(packet.stream()).map(|s| s.time_base()).unwrap_or(MICROS);
            let out_index = source.routes[packet.stream()].expect("only routed packets are kept");
            let out_time_base = out_time_bases[out_index];
            packet.rescale_ts(in_time_base, out_time_base);
            let offset = start.rescale(MICROS, out_time_base);
            packet.set_pts(packet.pts().map(|t| t - offset));
            packet.set_dts(packet.dts().map(|t| t - offset));
            packet.set_position(-1);
            packet.set_stream(out_index);
            packet.write_interleaved(&mut output).map_err(self.media_error("writing a packet"))?;
            self.read_next(source)?;
        }
        output.write_trailer().map_err(self.media_error("finishing the file (moving the index to the front)"))
    }

    /// Reads the source's next audio or video packet (none at its end).
    fn read_next(&self, source: &mut Source) -> Result<(), RecordingError> {
        loop {
            let mut packet = Packet::empty();
            match packet.read(&mut source.input) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => {
                    source.next = None;
                    return Ok(());
                }
                Err(e) => return Err(self.media_error("reading a segment")(e)),
            }
            if source.routes.get(packet.stream()).copied().flatten().is_some() && packet.size() > 0 {
                source.next = Some(packet);
                return Ok(());
            }
        }
    }
}

/// A packet's decode time (its presentation time when it has none) in microseconds.
fn micros(source: &Source, packet: &Packet) -> i64 {
    let time_base = source.input.stream(packet.stream()).map(|s| s.time_base()).unwrap_or(MICROS);
    packet.dts().or(packet.pts()).unwrap_or(0).rescale(time_base, MICROS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_grouped_per_representation_in_number_order() {
        let names = [
            "init-abc-0.m4s", "chunk-abc-0-00010.m4s", "chunk-abc-0-00002.m4s", "init-abc-1.m4s", "chunk-abc-1-00001.m4s",
            "chunk-abc-1-00002.m4s.tmp", "chunk-old-0-00001.m4s", "init-old-0.m4s", "manifest.mpd", "recording-abc.mp4",
        ];
        let reps = segments_of("abc", names.iter().map(|n| n.to_string()));
        assert_eq!(reps.len(), 2);
        assert_eq!(reps[&0].init.as_deref(), Some("init-abc-0.m4s"));
        assert_eq!(reps[&0].media, vec![(2, "chunk-abc-0-00002.m4s".to_string()), (10, "chunk-abc-0-00010.m4s".to_string())]);
        assert_eq!(reps[&1].media, vec![(1, "chunk-abc-1-00001.m4s".to_string())]);
    }

    #[test]
    fn the_cached_file_is_named_after_its_presentation() {
        assert_eq!(RecordingFormat::Mp4.cached_name("mk2x9a"), "recording-mk2x9a.mp4");
        assert_eq!(RecordingFormat::of(SegmentType::Webm).cached_name("a"), "recording-a.webm");
    }
}
