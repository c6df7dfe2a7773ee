//! The `packager` target: recorder bytes through the same ingest → packager path the server uses.
//!
//! Input layout (every field is optional: a short input takes zeros):
//!
//! | byte | meaning |
//! |---|---|
//! | 0 | bits 0-2 mimeType ([`MIME_TYPES`], raw mode); bit 3 low latency; bit 4 spliced mode; bit 5 reconnect; bits 6-7 segment duration ([`SEGMENT_MILLIS`]) |
//! | 1 | bits 6-7 chunking pattern ([`Chunking`]); bits 0-5 size, high part |
//! | 2 | size, low part (fixed size) or PRNG seed (random sizes) |
//! | raw mode: 3.. | the recording |
//! | spliced: 3 | fixture ([`FIXTURES`], its own mimeType) |
//! | spliced: 4-5 | cut point, as a fraction (big-endian /65536) of the fixture's length |
//! | spliced: 6 | 0 append: fixture[..cut] + payload; 1 overwrite: fixture[..cut] + payload + fixture[cut+len..]; 2 insert: fixture[..cut] + payload + fixture[cut..] |
//! | spliced: 7.. | the payload |
//!
//! The recording is cut into "WebSocket messages" by the chunking pattern, and each message into
//! pieces of at most [`PIECE_BYTES`] on a channel of [`CHANNEL_PIECES`], exactly as `ingest::session`
//! forwards them (empty messages send nothing). The input ends with `Feed::End(InputEnd::Stop)`.
//! In reconnect mode the same recording is sent twice, on two connections: the first ends with
//! `Feed::End(InputEnd::Vanished)` and the packager (grace 60 s, but the second connection is already
//! queued and the connection sender dropped, so it never waits) resumes with the second.
//!
//! Checked after every run: the packager thread did not panic and returned; the events came in the
//! documented order (at most one `Started`, `Resumed` only after it, exactly one terminal event, last);
//! a `Finished` presentation has a static `manifest.mpd`; and every file left in the stream folder has a
//! name `DashFile::parse` accepts (so everything the muxer wrote can be served).
//!
//! With `LIVEDASH_FUZZ_DEBUG` set, each run prints its decoded case and the events.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, mpsc};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use livedash::ingest::pipeline::{CHANNEL_PIECES, PIECE_BYTES};
use livedash::media::files::DashFile;
use livedash::media::{self, Connection, DashSettings, Feed, InputEnd, PackagerEvent, PackagerJob, RecorderFormat};
use livedash::stream_id::StreamId;

include!("raw_mode.rs");

macro_rules! fixture {
    ($name:literal, $mime:literal) => {
        ($name, $mime, include_bytes!(concat!("../../tests/fixtures/recorder/", $name)) as &[u8])
    };
}

/// The recorder fixtures for spliced mode: (file, mimeType Chromium reported, bytes).
pub const FIXTURES: [(&str, &str, &[u8]); 11] = [
    fixture!("h264-opus.mkv", "video/x-matroska;codecs=avc1,opus"),
    fixture!("vp8-opus.webm", "video/webm;codecs=vp8,opus"),
    fixture!("vp9-opus.webm", "video/webm;codecs=vp9,opus"),
    fixture!("h264-opus.mp4", "video/mp4;codecs=avc1,opus"),
    fixture!("vp9-opus.mp4", "video/mp4;codecs=vp9,opus"),
    fixture!("h264.mkv", "video/x-matroska;codecs=avc1"),
    fixture!("vp8.webm", "video/webm;codecs=vp8"),
    fixture!("opus.webm", "audio/webm;codecs=opus"),
    fixture!("opus.mp4", "audio/mp4;codecs=opus"),
    // The server refuses "codecs=pcm" up front; a client that announces no codecs gets this far.
    fixture!("pcm.webm", "audio/webm"),
    fixture!("h264-opus-10s.mkv", "video/x-matroska;codecs=avc1,opus"),
];

/// How the recording is cut into WebSocket messages (top 2 bits of byte 1).
#[derive(Debug, Clone, Copy)]
pub enum Chunking {
    /// Every message `size` bytes (1..=16384).
    Fixed(usize),
    /// Sizes from a PRNG: mostly small, sometimes up to 128 KiB, sometimes empty.
    Random(u32),
    /// One message with everything.
    Whole,
    /// Tiny messages of 1..=16 bytes from a PRNG.
    Tiny(u32),
}

/// A decoded fuzz input.
#[derive(Debug)]
pub struct Case {
    pub mime_type: &'static str,
    pub low_latency: bool,
    pub reconnect: bool,
    pub segment_duration: Duration,
    pub chunking: Chunking,
    pub recording: Vec<u8>,
}

impl Case {
    pub fn decode(data: &[u8]) -> Case {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        let (b0, b1, b2) = (byte(0), byte(1), byte(2));
        let size = ((usize::from(b1 & 0x3f) << 8) | usize::from(b2)) % 16384 + 1;
        let chunking = match b1 >> 6 {
            0 => Chunking::Fixed(size),
            1 => Chunking::Random(u32::from(b1) << 8 | u32::from(b2)),
            2 => Chunking::Whole,
            _ => Chunking::Tiny(u32::from(b1) << 8 | u32::from(b2)),
        };
        let spliced = b0 & 0x10 != 0;
        let (mime_type, recording) = if spliced {
            let (_, mime, fixture) = FIXTURES[usize::from(byte(3)) % FIXTURES.len()];
            let fraction = (usize::from(byte(4)) << 8) | usize::from(byte(5));
            let cut = fixture.len() * fraction / 65536;
            let payload = data.get(7..).unwrap_or_default();
            let mut recording = fixture[..cut].to_vec();
            recording.extend_from_slice(payload);
            match byte(6) % 3 {
                0 => {}
                1 => recording.extend_from_slice(fixture.get(cut + payload.len()..).unwrap_or_default()),
                _ => recording.extend_from_slice(&fixture[cut..]),
            }
            (mime, recording)
        } else {
            (MIME_TYPES[usize::from(b0 & 7)], data.get(3..).unwrap_or_default().to_vec())
        };
        Case {
            mime_type,
            low_latency: b0 & 0x08 != 0,
            reconnect: b0 & 0x20 != 0,
            segment_duration: Duration::from_millis(SEGMENT_MILLIS[usize::from(b0 >> 6)]),
            chunking,
            recording,
        }
    }

    /// The recording cut into WebSocket messages.
    pub fn messages(&self) -> Vec<Bytes> {
        let data = Bytes::copy_from_slice(&self.recording);
        let mut messages = Vec::new();
        let mut at = 0;
        let mut rng = match self.chunking {
            Chunking::Random(seed) | Chunking::Tiny(seed) => seed | 1,
            _ => 1,
        };
        let mut next = || {
            // xorshift32
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            rng as usize
        };
        while at < data.len() {
            let len = match self.chunking {
                Chunking::Fixed(size) => size,
                Chunking::Whole => data.len(),
                Chunking::Tiny(_) => next() % 16 + 1,
                Chunking::Random(_) => match next() % 8 {
                    0 => 0,
                    1 => next() % (128 * 1024) + 1,
                    2..=4 => next() % 64 + 1,
                    _ => next() % 8192 + 1,
                },
            };
            let end = (at + len).min(data.len());
            messages.push(data.slice(at..end));
            at = end;
        }
        messages
    }
}

static INIT: Once = Once::new();
static RUNS: AtomicU64 = AtomicU64::new(0);

/// Runs one case through a packager thread and checks what came out.
pub fn run(data: &[u8]) {
    INIT.call_once(media::init);
    let case = Case::decode(data);
    let dir = StreamDir::new();
    let job = PackagerJob {
        stream: StreamId::parse("fuzz").expect("valid id"),
        dir: dir.0.clone(),
        format: RecorderFormat::parse(case.mime_type).expect("the table's mimeTypes parse"),
        settings: DashSettings {
            segment_duration: case.segment_duration,
            low_latency: case.low_latency,
            fragment_duration: Duration::from_millis(250),
            target_latency: Duration::from_secs(1),
            utc_timing_url: Some("http://127.0.0.1:9/time".into()),
            presentation_tag: "fz1".into(),
        },
        reconnect_grace: if case.reconnect { Duration::from_secs(60) } else { Duration::ZERO },
        read_delay: Duration::ZERO,
    };

    let (connections, receiver) = crossbeam_channel::unbounded();
    let (events_tx, events_rx) = mpsc::channel();
    let thread = media::spawn_packager(
        job,
        receiver,
        move |event| {
            let _ = events_tx.send(event);
        },
        (),
    )
    .expect("packager thread starts");

    let recordings = if case.reconnect { 2 } else { 1 };
    let mut senders = Vec::new();
    for _ in 0..recordings {
        let (chunks, chunk_receiver) = media::feed_channel(CHANNEL_PIECES);
        // Nobody waits to learn that it was taken: every connection is queued up front.
        let (connection, _) = Connection::new(chunk_receiver, SystemTime::now());
        // Fails only if the packager is already gone, which it can't be before its first connection.
        let _ = connections.send(connection);
        senders.push(chunks);
    }
    // Every connection is queued: the packager must never wait for another.
    drop(connections);

    let messages = case.messages();
    let last = senders.len() - 1;
    for (i, chunks) in senders.into_iter().enumerate() {
        'messages: for message in &messages {
            let mut message = message.clone();
            while !message.is_empty() {
                let piece = message.split_to(message.len().min(PIECE_BYTES));
                if !chunks.send_blocking(Feed::Bytes(piece)) {
                    break 'messages; // the packager stopped reading this connection
                }
            }
        }
        let end = if i == last { InputEnd::Stop } else { InputEnd::Vanished };
        let _ = chunks.send_blocking(Feed::End(end));
    }

    thread.join().expect("the packager thread panicked");
    let events: Vec<PackagerEvent> = events_rx.try_iter().collect();
    if std::env::var_os("LIVEDASH_FUZZ_DEBUG").is_some() {
        eprintln!(
            "{} ll={} reconnect={} seg={:?} {:?} {} bytes in {} messages -> {events:?}",
            case.mime_type,
            case.low_latency,
            case.reconnect,
            case.segment_duration,
            case.chunking,
            case.recording.len(),
            messages.len()
        );
    }
    check_events(&events, &case);
    if let Some(PackagerEvent::Finished(_)) = events.last() {
        let manifest = std::fs::read_to_string(dir.0.join(media::MANIFEST))
            .unwrap_or_else(|e| panic!("Finished without a readable manifest: {e}; events {events:?}"));
        assert!(manifest.contains("type=\"static\""), "Finished but the manifest is not static:\n{manifest}");
    }
    for entry in std::fs::read_dir(&dir.0).expect("stream dir readable") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        assert!(DashFile::parse(&name).is_some(), "the muxer wrote {name:?}, which can't be served; events {events:?}");
    }
}

fn check_events(events: &[PackagerEvent], case: &Case) {
    let terminal = |e: &PackagerEvent| matches!(e, PackagerEvent::Finished(_) | PackagerEvent::Failed { .. });
    let terminals = events.iter().filter(|e| terminal(e)).count();
    assert_eq!(terminals, 1, "expected exactly one Finished/Failed, got {events:?}");
    assert!(terminal(events.last().expect("one event at least")), "the terminal event is not last: {events:?}");
    let started = events.iter().filter(|e| matches!(e, PackagerEvent::Started(_))).count();
    assert!(started <= 1, "Started more than once: {events:?}");
    let resumed = events.iter().filter(|e| matches!(e, PackagerEvent::Resumed { .. })).count();
    if started == 1 {
        assert!(matches!(events[0], PackagerEvent::Started(_)), "Started is not first: {events:?}");
    } else {
        assert_eq!(resumed, 0, "Resumed without Started: {events:?}");
        assert!(!matches!(events[0], PackagerEvent::Finished(_)), "Finished without Started: {events:?}");
    }
    assert!(resumed <= usize::from(case.reconnect), "more resumes than reconnects: {events:?}");
    for event in events {
        if let PackagerEvent::Resumed { gap_seconds } = event {
            assert!(gap_seconds.is_finite() && *gap_seconds >= 0.0, "gap {gap_seconds}");
        }
    }
}

/// A fresh, empty stream folder under /dev/shm, removed when dropped.
struct StreamDir(PathBuf);

impl StreamDir {
    fn new() -> StreamDir {
        let base = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("livedash-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("create the stream folder");
        StreamDir(dir)
    }
}

impl Drop for StreamDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
