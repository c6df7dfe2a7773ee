// The `packager` fuzz target's header byte 0, shared with tests/fuzz_regressions.rs (which replays
// kept crashers through the real server): included by both with `include!`, so they can't drift.

/// mimeTypes for raw mode, picked by the low 3 bits of byte 0.
pub const MIME_TYPES: [&str; 8] = [
    "video/x-matroska;codecs=avc1,opus",
    "video/webm;codecs=vp8,opus",
    "video/webm;codecs=vp9,opus",
    "video/mp4;codecs=avc1,opus",
    "video/mp4;codecs=vp9,opus",
    "audio/webm;codecs=opus",
    "audio/mp4;codecs=opus",
    "video/webm",
];

/// Segment durations, picked by the top 2 bits of byte 0.
pub const SEGMENT_MILLIS: [u64; 4] = [1000, 2000, 500, 1000];
