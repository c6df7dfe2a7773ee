//! RTMP audio and video messages as an FLV byte stream, for the packager's `flv` demuxer. An RTMP
//! media message's body is exactly an FLV tag's body, so this only adds the file header and each tag's
//! 11-byte header and trailing size (Adobe FLV 10.1, E.4). Pure: bytes in, bytes out.
//!
//! It also reads the first bytes of each body, which say the codec and whether a video frame is a
//! keyframe: livedash carries H.264 video and AAC audio from RTMP and refuses anything else
//! ([`TagError`]) before a byte of it reaches the packager.

use bytes::{BufMut, BytesMut};

/// An FLV tag type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Audio,
    Video,
}

impl TagKind {
    fn code(self) -> u8 {
        match self {
            TagKind::Audio => 8,
            TagKind::Video => 9,
        }
    }

    /// For messages: "audio" or "video".
    pub fn name(self) -> &'static str {
        match self {
            TagKind::Audio => "audio",
            TagKind::Video => "video",
        }
    }
}

/// FLV's video codec id for H.264 (AVC).
const VIDEO_AVC: u8 = 7;
/// FLV's sound format for AAC.
const AUDIO_AAC: u8 = 10;
/// Enhanced RTMP marks its own video header (a FourCC: HEVC, AV1, VP9) with the top bit.
const VIDEO_EX_HEADER: u8 = 0x80;

/// A media message livedash will not package from RTMP; the message names the codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the encoder sends {codec} {kind}; livedash takes H.264 video and AAC audio over RTMP (set the encoder to x264/H.264 and AAC)", kind = .kind.name())]
pub struct TagError {
    pub kind: TagKind,
    pub codec: String,
}

/// What the first bytes of a media message say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagInfo {
    /// A video frame that starts a GOP (not the decoder configuration).
    pub keyframe: bool,
}

/// Checks a media message's codec; empty messages (some encoders send them) are `Ok(None)`.
pub fn inspect(kind: TagKind, body: &[u8]) -> Result<Option<TagInfo>, TagError> {
    let Some(&first) = body.first() else { return Ok(None) };
    match kind {
        TagKind::Video => {
            if first & VIDEO_EX_HEADER != 0 {
                let fourcc = body.get(1..5).map(|f| String::from_utf8_lossy(f).into_owned()).unwrap_or_default();
                return Err(TagError { kind, codec: format!("enhanced-RTMP \"{fourcc}\"") });
            }
            let codec = first & 0x0f;
            if codec != VIDEO_AVC {
                return Err(TagError { kind, codec: video_codec_name(codec) });
            }
            // Frame type 1 is a keyframe; AVC packet type 0 is the decoder configuration, not a frame.
            let keyframe = first >> 4 == 1 && body.get(1) == Some(&1);
            Ok(Some(TagInfo { keyframe }))
        }
        TagKind::Audio => {
            let format = first >> 4;
            if format != AUDIO_AAC {
                return Err(TagError { kind, codec: audio_codec_name(format) });
            }
            Ok(Some(TagInfo { keyframe: false }))
        }
    }
}

fn video_codec_name(id: u8) -> String {
    match id {
        2 => "Sorenson H.263".into(),
        3 => "Screen video".into(),
        4 | 5 => "VP6".into(),
        6 => "Screen video 2".into(),
        12 => "HEVC".into(),
        other => format!("video codec {other}"),
    }
}

fn audio_codec_name(format: u8) -> String {
    match format {
        0 | 3 => "PCM".into(),
        1 => "ADPCM".into(),
        2 | 14 => "MP3".into(),
        4..=6 => "Nellymoser".into(),
        7 | 8 => "G.711".into(),
        11 => "Speex".into(),
        other => format!("sound format {other}"),
    }
}

/// Writes the FLV stream: the file header before the first tag, then one tag per media message.
#[derive(Debug, Default)]
pub struct FlvWriter {
    started: bool,
}

/// The FLV file header's flags: audio present, video present.
const FLAG_AUDIO: u8 = 0x04;
const FLAG_VIDEO: u8 = 0x01;
/// Size of a tag header.
const TAG_HEADER_BYTES: usize = 11;
/// Largest body a tag's 24-bit size field can describe.
const MAX_TAG_BODY: usize = 0xFF_FFFF;

impl FlvWriter {
    /// Appends a tag for `body` at `timestamp_ms` to `out` (after the file header, the first time).
    /// `has_audio`/`has_video` go into that header: the demuxer waits for every track it announces.
    pub fn write(&mut self, out: &mut BytesMut, kind: TagKind, timestamp_ms: u32, body: &[u8], tracks: (bool, bool)) {
        if !self.started {
            self.started = true;
            let (has_audio, has_video) = tracks;
            let flags = if has_audio { FLAG_AUDIO } else { 0 } | if has_video { FLAG_VIDEO } else { 0 };
            out.put_slice(b"FLV\x01");
            out.put_u8(flags);
            out.put_u32(9);
            // PreviousTagSize0.
            out.put_u32(0);
        }
        // An RTMP message's length field is 24 bits too, so no body is ever cut here.
        let size = body.len().min(MAX_TAG_BODY);
        out.put_u8(kind.code());
        out.put_uint(size as u64, 3);
        // 24 low bits, then the 8 high bits (TimestampExtended).
        out.put_uint(u64::from(timestamp_ms & 0xFF_FFFF), 3);
        out.put_u8((timestamp_ms >> 24) as u8);
        // StreamID, always 0.
        out.put_uint(0, 3);
        out.put_slice(&body[..size]);
        out.put_u32((TAG_HEADER_BYTES + size) as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tag read back: (type, timestamp, body).
    type Tag = (u8, u32, Vec<u8>);

    /// A minimal FLV reader: the header's flags, then each tag. Checks every size field, so a writer
    /// mistake shows as a parse failure.
    fn read_flv(data: &[u8]) -> Result<(u8, Vec<Tag>), String> {
        if data.len() < 13 || &data[..4] != b"FLV\x01" {
            return Err("no FLV header".into());
        }
        let flags = data[4];
        let mut at = 13;
        let mut tags = Vec::new();
        while at < data.len() {
            let header = data.get(at..at + 11).ok_or("cut tag header")?;
            let size = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
            let timestamp = u32::from_be_bytes([header[7], header[4], header[5], header[6]]);
            let body = data.get(at + 11..at + 11 + size).ok_or("cut body")?.to_vec();
            let trailer = data.get(at + 11 + size..at + 15 + size).ok_or("cut trailer")?;
            if u32::from_be_bytes(trailer.try_into().unwrap()) as usize != 11 + size {
                return Err(format!("wrong previous tag size at {at}"));
            }
            tags.push((header[0], timestamp, body));
            at += 15 + size;
        }
        Ok((flags, tags))
    }

    #[test]
    fn the_header_comes_once_and_each_tag_round_trips() {
        let mut writer = FlvWriter::default();
        let mut out = BytesMut::new();
        writer.write(&mut out, TagKind::Video, 0, &[0x17, 0, 0, 0, 0, 1, 2], (true, true));
        writer.write(&mut out, TagKind::Audio, 23, &[0xAF, 1, 9], (true, true));
        // Above 24 bits: the extended byte carries the rest.
        writer.write(&mut out, TagKind::Video, 0x0123_4567, &[0x27, 1, 0, 0, 0], (true, true));
        assert_eq!(&out[..13], b"FLV\x01\x05\0\0\0\x09\0\0\0\0");
        let (flags, tags) = read_flv(&out).unwrap();
        assert_eq!(flags, 0x05);
        assert_eq!(tags.len(), 3);
        assert_eq!(tags[0], (9, 0, vec![0x17, 0, 0, 0, 0, 1, 2]));
        assert_eq!(tags[1], (8, 23, vec![0xAF, 1, 9]));
        assert_eq!(tags[2].1, 0x0123_4567);
        let mut video_only = BytesMut::new();
        FlvWriter::default().write(&mut video_only, TagKind::Video, 0, &[0x17, 0], (false, true));
        assert_eq!(video_only[4], 0x01);
    }

    #[test]
    fn any_cut_of_the_stream_is_seen_as_cut_never_misread() {
        let mut writer = FlvWriter::default();
        let mut out = BytesMut::new();
        for i in 0..4u32 {
            writer.write(&mut out, TagKind::Video, i * 40, &vec![0x27; 10 + i as usize], (true, true));
        }
        let whole = read_flv(&out).unwrap().1;
        // Split at every byte: the part before the cut is a prefix of the tags, never a different tag.
        for cut in 13..out.len() {
            match read_flv(&out[..cut]) {
                Ok((_, tags)) => assert_eq!(tags[..], whole[..tags.len()], "cut at {cut}"),
                Err(e) => assert!(e.starts_with("cut"), "cut at {cut}: {e}"),
            }
        }
    }

    #[test]
    fn h264_and_aac_pass_and_other_codecs_are_named() {
        assert_eq!(inspect(TagKind::Video, &[0x17, 1, 0, 0, 0]), Ok(Some(TagInfo { keyframe: true })));
        assert_eq!(inspect(TagKind::Video, &[0x17, 0, 0, 0, 0]), Ok(Some(TagInfo { keyframe: false })), "configuration");
        assert_eq!(inspect(TagKind::Video, &[0x27, 1, 0, 0, 0]), Ok(Some(TagInfo { keyframe: false })));
        assert_eq!(inspect(TagKind::Audio, &[0xAF, 1]), Ok(Some(TagInfo { keyframe: false })));
        assert_eq!(inspect(TagKind::Video, &[]), Ok(None));

        let hevc = inspect(TagKind::Video, &[0x1C, 1]).unwrap_err();
        assert_eq!(hevc.codec, "HEVC");
        assert!(hevc.to_string().contains("sends HEVC video"), "{hevc}");
        let mp3 = inspect(TagKind::Audio, &[0x2F, 0]).unwrap_err();
        assert!(mp3.to_string().contains("sends MP3 audio") && mp3.to_string().contains("AAC"), "{mp3}");
        let enhanced = inspect(TagKind::Video, &[0x90, b'h', b'v', b'c', b'1']).unwrap_err();
        assert_eq!(enhanced.codec, "enhanced-RTMP \"hvc1\"");
        assert!(inspect(TagKind::Video, &[0x80]).is_err(), "a cut enhanced header is still refused");
    }
}
