//! What the publisher says it sends: the MediaRecorder `mimeType`, parsed into a container (which
//! demuxer to use) and the codecs it announces. The codecs actually used are read from the stream
//! itself; the announced ones only let us refuse an unsupported recording before any byte arrives.

use std::fmt;

/// The container the recorder writes, and so the demuxer we open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// WebM or Matroska (`video/webm`, `video/x-matroska`): Chromium's default shape.
    Matroska,
    /// Fragmented MP4 (`video/mp4`): Chromium writes one fragment per GOP.
    Mp4,
    /// FLV, as the RTMP ingest writes it from an encoder's messages. Never accepted from a
    /// publisher's `mimeType`: only the RTMP ingest makes one ([`RecorderFormat::flv`]).
    Flv,
}

impl Container {
    /// libavformat's demuxer name for this container.
    pub fn demuxer(self) -> &'static str {
        match self {
            Container::Matroska => "matroska",
            Container::Mp4 => "mov",
            Container::Flv => "flv",
        }
    }

    /// The demuxers libavformat may pick for this container, whatever the bytes look like: the
    /// browser's containers for a browser's or HTTP upload, `flv` only for the RTMP ingest's own stream.
    pub fn format_whitelist(self) -> &'static str {
        match self {
            Container::Matroska | Container::Mp4 => "matroska,webm,mov,mp4",
            Container::Flv => "flv",
        }
    }
}

/// The MIME type the RTMP ingest registers its presentations with.
pub const FLV_MIME: &str = "video/x-flv";

/// Box types an MP4 stream can start with.
const MP4_FIRST_BOXES: [&[u8; 4]; 10] = [b"ftyp", b"styp", b"moov", b"moof", b"free", b"skip", b"wide", b"mdat", b"sidx", b"uuid"];

/// Bytes [`Container::recognises`] needs to decide.
pub const HEAD_BYTES: usize = 8;

impl Container {
    /// Whether a stream starting with `head` (at least [`HEAD_BYTES`], unless the stream is shorter)
    /// can be this container: Matroska's EBML magic, or a plausible first MP4 box. Demuxers skip or
    /// resynchronise over junk and would only fail much later.
    pub fn recognises(self, head: &[u8]) -> bool {
        match self {
            Container::Matroska => head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]),
            Container::Flv => head.starts_with(b"FLV\x01"),
            Container::Mp4 => {
                head.len() >= 8 && {
                    let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                    (size == 1 || size >= 8) && MP4_FIRST_BOXES.iter().any(|b| &head[4..8] == *b)
                }
            }
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Container::Matroska => "WebM/Matroska",
            Container::Mp4 => "MP4",
            Container::Flv => "FLV",
        })
    }
}

/// A codec livedash can package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    Vp8,
    Vp9,
    Av1,
    Opus,
    Aac,
}

impl Codec {
    /// Maps a `codecs=` entry (`avc1.42E01E`, `vp09.00.10.08`, `opus`, `h264`...) to a codec.
    fn from_mime_entry(entry: &str) -> Option<Codec> {
        let lower = entry.to_ascii_lowercase();
        let family = lower.split('.').next().unwrap_or_default();
        Some(match family {
            "avc1" | "avc3" | "h264" => Codec::H264,
            "vp8" => Codec::Vp8,
            "vp9" | "vp09" => Codec::Vp9,
            "av1" | "av01" => Codec::Av1,
            "opus" => Codec::Opus,
            "mp4a" | "aac" => Codec::Aac,
            _ => return None,
        })
    }
}

/// A parsed, supported recorder `mimeType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderFormat {
    pub container: Container,
    /// Codecs named in the `codecs=` parameter (may be empty: then the stream tells).
    pub announced: Vec<Codec>,
}

/// Why a `mimeType` was refused; the message is shown to the publisher.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("the mimeType is empty; send the MediaRecorder's mimeType, e.g. \"video/webm;codecs=vp8,opus\"")]
    Empty,
    #[error(
        "container \"{0}\" is not supported; record video/webm, video/x-matroska or video/mp4 (or their audio/ forms)"
    )]
    Container(String),
    #[error("codec \"{0}\" is not supported; use H.264, VP8, VP9 or AV1 video with Opus or AAC audio")]
    Codec(String),
}

impl RecorderFormat {
    /// The RTMP ingest's FLV stream of H.264 and AAC.
    pub fn flv() -> RecorderFormat {
        RecorderFormat { container: Container::Flv, announced: vec![Codec::H264, Codec::Aac] }
    }

    /// The format a presentation was started with (its registered MIME type): what [`parse`] accepts,
    /// and the RTMP ingest's [`FLV_MIME`].
    ///
    /// [`parse`]: RecorderFormat::parse
    pub fn of_presentation(mime_type: &str) -> Option<RecorderFormat> {
        if mime_type == FLV_MIME {
            return Some(RecorderFormat::flv());
        }
        RecorderFormat::parse(mime_type).ok()
    }

    /// Parses a MediaRecorder `mimeType` such as `video/x-matroska;codecs=avc1,opus`.
    pub fn parse(mime_type: &str) -> Result<RecorderFormat, FormatError> {
        let mut parts = mime_type.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence.is_empty() {
            return Err(FormatError::Empty);
        }
        let container = match essence.as_str() {
            "video/webm" | "audio/webm" | "video/x-matroska" | "audio/x-matroska" => Container::Matroska,
            "video/mp4" | "audio/mp4" => Container::Mp4,
            _ => return Err(FormatError::Container(essence)),
        };
        let mut announced = Vec::new();
        for param in parts {
            let Some((name, value)) = param.split_once('=') else { continue };
            if !name.trim().eq_ignore_ascii_case("codecs") {
                continue;
            }
            for entry in value.trim().trim_matches('"').split(',') {
                let entry = entry.trim();
                if entry.is_empty() {
                    continue;
                }
                let codec = Codec::from_mime_entry(entry).ok_or_else(|| FormatError::Codec(entry.to_string()))?;
                announced.push(codec);
            }
        }
        Ok(RecorderFormat { container, announced })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_chromium_records_is_accepted() {
        let cases = [
            ("video/x-matroska;codecs=avc1,opus", Container::Matroska, vec![Codec::H264, Codec::Opus]),
            ("video/webm;codecs=vp8,opus", Container::Matroska, vec![Codec::Vp8, Codec::Opus]),
            ("video/webm;codecs=vp9,opus", Container::Matroska, vec![Codec::Vp9, Codec::Opus]),
            ("video/mp4;codecs=avc1,opus", Container::Mp4, vec![Codec::H264, Codec::Opus]),
            ("video/mp4;codecs=vp9,opus", Container::Mp4, vec![Codec::Vp9, Codec::Opus]),
            ("video/x-matroska;codecs=avc1", Container::Matroska, vec![Codec::H264]),
            ("audio/webm;codecs=opus", Container::Matroska, vec![Codec::Opus]),
            ("audio/mp4;codecs=opus", Container::Mp4, vec![Codec::Opus]),
            ("video/webm", Container::Matroska, vec![]),
        ];
        for (mime, container, codecs) in cases {
            let parsed = RecorderFormat::parse(mime).unwrap_or_else(|e| panic!("{mime}: {e}"));
            assert_eq!(parsed.container, container, "{mime}");
            assert_eq!(parsed.announced, codecs, "{mime}");
        }
    }

    #[test]
    fn quoted_spaced_and_profiled_codec_lists_are_understood() {
        let parsed = RecorderFormat::parse("Video/MP4; codecs=\"avc1.42E01E, mp4a.40.2\"").unwrap();
        assert_eq!(parsed.container, Container::Mp4);
        assert_eq!(parsed.announced, vec![Codec::H264, Codec::Aac]);
        let parsed = RecorderFormat::parse("video/webm;codecs=vp09.00.10.08").unwrap();
        assert_eq!(parsed.announced, vec![Codec::Vp9]);
    }

    #[test]
    fn containers_are_recognised_by_their_first_bytes() {
        let webm = [0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81];
        let mp4 = [0, 0, 0, 0x18, b'f', b't', b'y', b'p'];
        assert!(Container::Matroska.recognises(&webm));
        assert!(!Container::Matroska.recognises(&mp4));
        assert!(Container::Mp4.recognises(&mp4));
        assert!(!Container::Mp4.recognises(&webm));
        assert!(!Container::Mp4.recognises(&[0, 0, 0, 4, b'f', b't', b'y', b'p']), "a box can't be 4 bytes");
        assert!(!Container::Mp4.recognises(b"GET / HT"));
        assert!(!Container::Matroska.recognises(b""));
    }

    #[test]
    fn flv_is_only_ever_the_rtmp_ingests_own() {
        assert_eq!(RecorderFormat::parse(FLV_MIME), Err(FormatError::Container(FLV_MIME.into())));
        assert_eq!(RecorderFormat::of_presentation(FLV_MIME), Some(RecorderFormat::flv()));
        assert_eq!(Container::Flv.format_whitelist(), "flv");
        assert!(!Container::Matroska.format_whitelist().contains("flv"));
        assert!(Container::Flv.recognises(b"FLV\x01\x05\0\0\0"));
        assert!(!Container::Flv.recognises(b"FLV\x02"));
    }

    #[test]
    fn unsupported_containers_and_codecs_are_named_in_the_error() {
        assert_eq!(RecorderFormat::parse(""), Err(FormatError::Empty));
        assert_eq!(RecorderFormat::parse("video/ogg;codecs=theora"), Err(FormatError::Container("video/ogg".into())));
        assert_eq!(RecorderFormat::parse("audio/webm;codecs=pcm"), Err(FormatError::Codec("pcm".into())));
        let err = RecorderFormat::parse("video/webm;codecs=hevc,opus").unwrap_err();
        assert!(err.to_string().contains("\"hevc\""), "{err}");
    }
}
