//! The `parsers` target: every text parser that sees client- or muxer-supplied text.
//!
//! The input, read as UTF-8 (lossily), goes whole to `RecorderFormat::parse`, `DashFile::parse`,
//! `ClientMessage::parse`, `StreamId::parse` and `presentation_ready` (with files always, never, and
//! "if `DashFile::parse` accepts the name" ready), and to `expand_template` as the template, with the
//! text after its first newline as the representation id and a number taken from its first bytes.
//! None may panic. Also checked: a name `DashFile::parse` accepts can't leave the stream folder.

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
}
