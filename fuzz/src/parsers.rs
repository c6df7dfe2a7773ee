//! The `parsers` target: every text parser that sees client- or muxer-supplied text.
//!
//! The input, read as UTF-8 (lossily), goes whole to `RecorderFormat::parse`, `DashFile::parse`,
//! `ClientMessage::parse`, `StreamId::parse` and `presentation_ready` (with files always, never, and
//! "if `DashFile::parse` accepts the name" ready), and to `expand_template` as the template, with the
//! text after its first newline as the representation id and a number taken from its first bytes.
//! The text also goes to the HLS blocking-reload query parser (`hls::reload::parse_query`), and the raw
//! bytes to the CMAF readers HLS uses on the muxer's files (`hls::boxes::parse_init`, `parse_moof`,
//! `parse_prft`, and `hls::scan::SegmentScan` fed in two pieces, split at the first byte's value).
//! None may panic. Also checked: a name `DashFile::parse` accepts can't leave the stream folder, and the
//! scanned chunks are contiguous and within the bytes given.

use livedash::hls::{boxes, reload, scan::SegmentScan};
use livedash::media::RecorderFormat;
use livedash::media::files::DashFile;
use livedash::protocol::ClientMessage;
use livedash::stream_id::StreamId;
use livedash::streams::readiness::{expand_template, presentation_ready};

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    let _ = RecorderFormat::parse(text);

    if let Some(file) = DashFile::parse(text) {
        assert!(
            !text.contains(['/', '\\', '\0']) && text != "." && text != ".." && text.is_ascii(),
            "DashFile::parse accepted a name that is not a plain file name: {text:?}"
        );
        let _ = (file.is_segment(), file.representation(), file.content_type(true), file.content_type(false));
    }

    if let Err(message) = ClientMessage::parse(text) {
        assert!(!message.is_empty());
    }

    if let Ok(id) = StreamId::parse(text) {
        assert!(!id.as_str().contains(['/', '.']), "stream id {id:?} could leave the media folder");
    }

    let _ = presentation_ready(text, |_| true);
    let _ = presentation_ready(text, |_| false);
    let _ = presentation_ready(text, |name| DashFile::parse(name).is_some());

    let (template, representation) = text.split_once('\n').unwrap_or((text, "0"));
    let mut number = [0u8; 8];
    for (slot, byte) in number.iter_mut().zip(data) {
        *slot = *byte;
    }
    let _ = expand_template(template, representation, u64::from_le_bytes(number));
    let _ = expand_template(template, representation, 1);

    let _ = reload::parse_query(text);
    cmaf(data);
}

/// The CMAF readers on raw bytes.
fn cmaf(data: &[u8]) {
    let _ = boxes::parse_init(data);
    let _ = boxes::parse_moof(data, 0, 1024);
    let _ = boxes::parse_prft(data, 0);
    let read = |at: u64, n: usize| Ok(data[(at as usize).min(data.len())..(at as usize).saturating_add(n).min(data.len())].to_vec());
    let mut scan = SegmentScan::default();
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len()) as u64;
    let mut parts = scan.scan(split, 0, read).unwrap_or_default();
    parts.extend(scan.scan(data.len() as u64, 0, read).unwrap_or_default());
    let mut end = 0;
    for part in parts {
        assert_eq!(part.offset, end, "chunks are contiguous");
        end = part.offset + part.length;
    }
    assert!(end <= data.len() as u64, "a chunk reaches past the bytes given");
}
