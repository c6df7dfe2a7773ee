//! Reading media back in tests: real libavformat demuxing of fixtures and of what livedash wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;

/// The recorder fixtures (tests/fixtures/recorder), recorded from Chromium's MediaRecorder.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recorder").join(name)
}

/// Packets per media kind ("video"/"audio") in a media file.
pub fn count_packets(path: &Path) -> BTreeMap<&'static str, u64> {
    ffmpeg::init().unwrap();
    let mut input = ffmpeg::format::input(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let kinds: Vec<Option<&'static str>> = input
        .streams()
        .map(|s| match s.parameters().medium() {
            ffmpeg::media::Type::Video => Some("video"),
            ffmpeg::media::Type::Audio => Some("audio"),
            _ => None,
        })
        .collect();
    let mut counts = BTreeMap::new();
    for (stream, _packet) in input.packets() {
        if let Some(kind) = kinds[stream.index()] {
            *counts.entry(kind).or_insert(0) += 1;
        }
    }
    counts
}

/// One representation of a finished presentation, re-assembled as a single playable file
/// (init segment followed by every media segment in order), written into `scratch`.
pub fn assemble_representation(dir: &Path, representation: usize, scratch: &Path) -> PathBuf {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let suffix_init = format!("-{representation}.");
    let init = names
        .iter()
        .find(|n| n.starts_with("init-") && n.contains(&suffix_init))
        .unwrap_or_else(|| panic!("no init segment for representation {representation} in {names:?}"));
    let chunk_marker = format!("-{representation}-");
    let chunks: Vec<&String> =
        names.iter().filter(|n| n.starts_with("chunk-") && n.contains(&chunk_marker) && !n.ends_with(".tmp")).collect();
    assert!(!chunks.is_empty(), "no segments for representation {representation} in {names:?}");
    let extension = Path::new(init).extension().unwrap().to_str().unwrap();
    let out = scratch.join(format!("rep{representation}.{}", if extension == "webm" { "webm" } else { "mp4" }));
    let mut bytes = std::fs::read(dir.join(init)).unwrap();
    for chunk in chunks {
        bytes.extend(std::fs::read(dir.join(chunk)).unwrap());
    }
    std::fs::write(&out, bytes).unwrap();
    out
}

/// Packets per kind across all representations of a finished presentation.
pub fn count_presentation_packets(dir: &Path, representations: usize, scratch: &Path) -> BTreeMap<&'static str, u64> {
    let mut total = BTreeMap::new();
    for rep in 0..representations {
        for (kind, n) in count_packets(&assemble_representation(dir, rep, scratch)) {
            *total.entry(kind).or_insert(0) += n;
        }
    }
    total
}

/// `fixture` repeated `loops` times as one continuous Matroska stream (timestamps carried on), written
/// into `dir`: real recorder frames, as long as a test needs.
pub fn looped(fixture_name: &str, loops: u32, dir: &Path) -> PathBuf {
    looped_file(&fixture(fixture_name), loops, dir)
}

/// The recording at `source` repeated `loops` times, as [`looped`] does for a fixture.
pub fn looped_file(source: &Path, loops: u32, dir: &Path) -> PathBuf {
    ffmpeg::init().unwrap();
    let name = source.file_name().and_then(|n| n.to_str()).unwrap_or("source");
    let out_path = dir.join(format!("looped-{loops}-{name}.mkv"));
    let mut output = ffmpeg::format::output_as(&out_path, "matroska").unwrap();
    let (time_bases, duration_micros) = {
        let input = ffmpeg::format::input(source).unwrap();
        for stream in input.streams() {
            let mut out = output.add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None)).unwrap();
            out.set_parameters(stream.parameters());
        }
        let time_bases: Vec<ffmpeg::Rational> = input.streams().map(|s| s.time_base()).collect();
        (time_bases, media_duration_micros(source))
    };
    output.write_header().unwrap();
    let out_time_bases: Vec<ffmpeg::Rational> = output.streams().map(|s| s.time_base()).collect();
    let micros = ffmpeg::Rational::new(1, 1_000_000);
    for round in 0..loops as i64 {
        // A frame's worth of space between rounds keeps timestamps increasing.
        let offset = round * (duration_micros + 40_000);
        let mut input = ffmpeg::format::input(source).unwrap();
        for (stream, mut packet) in input.packets() {
            let i = stream.index();
            let shift = |ts: Option<i64>| ts.map(|t| t + ffmpeg::Rescale::rescale(&offset, micros, time_bases[i]));
            packet.set_pts(shift(packet.pts()));
            packet.set_dts(shift(packet.dts()));
            packet.rescale_ts(time_bases[i], out_time_bases[i]);
            packet.set_position(-1);
            packet.write_interleaved(&mut output).unwrap();
        }
    }
    output.write_trailer().unwrap();
    out_path
}

/// The end of the last packet of a media file, in microseconds.
pub fn media_duration_micros(path: &Path) -> i64 {
    ffmpeg::init().unwrap();
    let mut input = ffmpeg::format::input(path).unwrap();
    let time_bases: Vec<ffmpeg::Rational> = input.streams().map(|s| s.time_base()).collect();
    let mut end = 0;
    for (stream, packet) in input.packets() {
        let tb = time_bases[stream.index()];
        let ts = packet.pts().or(packet.dts()).unwrap_or(0) + packet.duration();
        end = end.max(ffmpeg::Rescale::rescale(&ts, tb, ffmpeg::Rational::new(1, 1_000_000)));
    }
    end
}

/// `fixture_name` re-muxed as Matroska with every track's header but the packets of its video tracks
/// only: a recording that declares audio and never sends any, written into `dir`.
pub fn audio_declared_never_sent(fixture_name: &str, dir: &Path) -> PathBuf {
    ffmpeg::init().unwrap();
    let mut input = ffmpeg::format::input(&fixture(fixture_name)).unwrap();
    let out_path = dir.join(format!("no-audio-packets-{fixture_name}.mkv"));
    let mut output = ffmpeg::format::output_as(&out_path, "matroska").unwrap();
    let mut is_video = Vec::new();
    for stream in input.streams() {
        let mut out = output.add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None)).unwrap();
        out.set_parameters(stream.parameters());
        is_video.push(stream.parameters().medium() == ffmpeg::media::Type::Video);
    }
    assert!(is_video.contains(&false), "{fixture_name} has an audio track to declare");
    let in_time_bases: Vec<ffmpeg::Rational> = input.streams().map(|s| s.time_base()).collect();
    output.write_header().unwrap();
    let out_time_bases: Vec<ffmpeg::Rational> = output.streams().map(|s| s.time_base()).collect();
    for (stream, mut packet) in input.packets() {
        let i = stream.index();
        if !is_video[i] {
            continue;
        }
        packet.rescale_ts(in_time_bases[i], out_time_bases[i]);
        packet.set_position(-1);
        packet.write_interleaved(&mut output).unwrap();
    }
    output.write_trailer().unwrap();
    out_path
}

/// Per media kind, the earliest presentation timestamp of a media file, in seconds.
pub fn first_timestamps(path: &Path) -> BTreeMap<&'static str, f64> {
    ffmpeg::init().unwrap();
    let mut input = ffmpeg::format::input(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let streams: Vec<(Option<&'static str>, ffmpeg::Rational)> = input
        .streams()
        .map(|s| {
            let kind = match s.parameters().medium() {
                ffmpeg::media::Type::Video => Some("video"),
                ffmpeg::media::Type::Audio => Some("audio"),
                _ => None,
            };
            (kind, s.time_base())
        })
        .collect();
    let mut first: BTreeMap<&'static str, f64> = BTreeMap::new();
    for (stream, packet) in input.packets() {
        let (Some(kind), time_base) = streams[stream.index()] else { continue };
        let Some(pts) = packet.pts().or(packet.dts()) else { continue };
        let seconds = pts as f64 * f64::from(time_base);
        let entry = first.entry(kind).or_insert(seconds);
        *entry = entry.min(seconds);
    }
    first
}
