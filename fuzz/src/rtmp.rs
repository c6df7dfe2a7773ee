//! The RTMP ingest's protocol side on arbitrary encoder bytes: `ingest::rtmp::session::Session` (the
//! handshake, the chunk stream and the commands, through `rml_rtmp`), each publish request accepted,
//! every media message checked by `flv::inspect` and written by `FlvWriter` as the connection does.
//!
//! Input layout: byte 0 seeds how the rest is cut into reads (whole, fixed sizes 1..=255, or
//! pseudo-random sizes), as TCP would deliver it; the rest is what the encoder sent. Checked: no panic,
//! and the FLV stream grows by exactly one 11-byte header + body + 4-byte size per media message
//! written (plus the 13-byte file header once).

use bytes::BytesMut;
use livedash::ingest::rtmp::flv::{self, FlvWriter};
use livedash::ingest::rtmp::session::{Event, Session};

/// FLV file header (9) + PreviousTagSize0 (4).
const FILE_HEADER: usize = 13;
/// Tag header (11) + trailing PreviousTagSize (4).
const TAG_OVERHEAD: usize = 15;

pub fn run(data: &[u8]) {
    // libfuzzer-sys aborts on any panic, even one caught by `catch_unwind`. `Session::feed` contains
    // rml_rtmp's panics on hostile chunk headers (the finding `rtmp-chunk-shorter-than-its-payload-…`)
    // as `ProtocolError::Unreadable`, which is what the server sees; with the default hook back, those
    // are contained here as there, while a panic anywhere else still reaches `fuzz_target!`'s
    // `catch_unwind`, which aborts: a finding.
    static DEFAULT_HOOK: std::sync::Once = std::sync::Once::new();
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    let Some((&cut, bytes)) = data.split_first() else { return };
    let mut session = Session::new();
    let mut writer = FlvWriter::default();
    let mut flv_out = BytesMut::new();
    let mut tracks = (true, true);
    let mut state = u32::from(cut) | 1;
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = match cut {
            0 => rest.len(),
            1..=127 => usize::from(cut),
            _ => {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                1 + (state as usize % 4096)
            }
        }
        .min(rest.len());
        let (piece, next) = rest.split_at(len);
        rest = next;
        let fed = match session.feed(piece) {
            Ok(fed) => fed,
            Err(_) => return,
        };
        for event in fed.events {
            match event {
                Event::Publish { request, stream_key } => {
                    let _ = livedash::ingest::rtmp::stream_key::parse(&stream_key);
                    if session.accept(request).is_err() {
                        return;
                    }
                }
                Event::Tracks { has_audio, has_video } => tracks = (has_audio, has_video),
                Event::Media { kind, timestamp_ms, body } => {
                    if flv::inspect(kind, &body).is_err() {
                        continue;
                    }
                    let before = flv_out.len();
                    let header = if before == 0 { FILE_HEADER } else { 0 };
                    writer.write(&mut flv_out, kind, timestamp_ms, &body, tracks);
                    assert_eq!(flv_out.len() - before, header + TAG_OVERHEAD + body.len(), "one tag per media message");
                    // Bounded memory in a long run: only the framing is checked, not kept.
                    if flv_out.len() > 1 << 20 {
                        flv_out.clear();
                        flv_out.extend_from_slice(&[0; FILE_HEADER]);
                    }
                }
                Event::WrongApp { .. } | Event::Finished => {}
            }
        }
    }
}
