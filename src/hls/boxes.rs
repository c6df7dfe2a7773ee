//! ISO BMFF (fMP4/CMAF) boxes, read without IO: what an init segment says about its track (codec string
//! for `CODECS`, picture size, timescale, audio channels) and what a `moof` says about its fragment
//! (start time, duration, whether it starts with a keyframe). Only the boxes the packager writes are
//! understood; anything malformed is a [`BoxError`] with the byte offset where it went wrong.

use crate::media::TrackKind;

/// Why bytes could not be read as the boxes we expect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoxError {
    #[error("box at byte {offset} is cut short or has an impossible size")]
    Truncated { offset: u64 },
    #[error("the init segment has no {what}")]
    Missing { what: &'static str },
}

/// A box header: where its payload starts and where the box ends, relative to the slice it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: [u8; 4],
    /// Length of the header (8, or 16 with a 64-bit size).
    pub header_len: u64,
    /// Whole box length, header included.
    pub size: u64,
}

/// Reads the box header at the start of `bytes`; `None` when fewer bytes than the header are given.
/// `size == 0` (box runs to the end of the file) is refused: the packager never writes it.
pub fn header(bytes: &[u8], offset: u64) -> Option<Result<Header, BoxError>> {
    if bytes.len() < 8 {
        return None;
    }
    let size32 = u32::from_be_bytes(bytes[0..4].try_into().expect("4 bytes"));
    let kind: [u8; 4] = bytes[4..8].try_into().expect("4 bytes");
    let (size, header_len) = match size32 {
        1 => {
            if bytes.len() < 16 {
                return None;
            }
            (u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes")), 16)
        }
        size => (u64::from(size), 8),
    };
    if size < header_len {
        return Some(Err(BoxError::Truncated { offset }));
    }
    Some(Ok(Header { kind, header_len, size }))
}

/// A child box: its kind, its payload, and the payload's file offset.
type Child<'a> = ([u8; 4], &'a [u8], u64);

/// The child boxes of a payload that is fully in memory.
fn children(payload: &[u8], base: u64) -> Result<Vec<Child<'_>>, BoxError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < payload.len() {
        let offset = base + pos as u64;
        let head = header(&payload[pos..], offset).ok_or(BoxError::Truncated { offset })??;
        let end = usize::try_from(head.size).ok().and_then(|s| pos.checked_add(s)).filter(|&e| e <= payload.len());
        let end = end.ok_or(BoxError::Truncated { offset })?;
        out.push((head.kind, &payload[pos + head.header_len as usize..end], offset + head.header_len));
        pos = end;
    }
    Ok(out)
}

fn child<'a>(payload: &'a [u8], base: u64, kind: &[u8; 4]) -> Result<Option<(&'a [u8], u64)>, BoxError> {
    Ok(children(payload, base)?.into_iter().find(|(k, _, _)| k == kind).map(|(_, p, o)| (p, o)))
}

fn path<'a>(payload: &'a [u8], base: u64, kinds: &[&[u8; 4]]) -> Result<Option<(&'a [u8], u64)>, BoxError> {
    let mut here = (payload, base);
    for kind in kinds {
        match child(here.0, here.1, kind)? {
            Some(next) => here = next,
            None => return Ok(None),
        }
    }
    Ok(Some(here))
}

fn be_u32(bytes: &[u8], at: usize, offset: u64) -> Result<u32, BoxError> {
    bytes.get(at..at + 4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes"))).ok_or(BoxError::Truncated { offset })
}

fn be_u64(bytes: &[u8], at: usize, offset: u64) -> Result<u64, BoxError> {
    bytes.get(at..at + 8).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes"))).ok_or(BoxError::Truncated { offset })
}

fn be_u16(bytes: &[u8], at: usize, offset: u64) -> Result<u16, BoxError> {
    bytes.get(at..at + 2).map(|b| u16::from_be_bytes(b.try_into().expect("2 bytes"))).ok_or(BoxError::Truncated { offset })
}

/// What an init segment says about its (single) track.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackSetup {
    pub kind: TrackKind,
    /// RFC 6381 codec string, e.g. `avc1.42c01f`, `vp09.00.10.08`, `opus`, `mp4a.40.2`.
    pub codec: String,
    /// Picture size (video only).
    pub width: u32,
    pub height: u32,
    /// Audio channels (audio only).
    pub channels: u16,
    /// Ticks per second of the track's timestamps (`mdhd`).
    pub timescale: u32,
    /// `trex` default sample duration, used when a fragment gives none.
    pub default_sample_duration: u32,
}

/// Reads an init segment (`ftyp` + `moov` with one track).
pub fn parse_init(bytes: &[u8]) -> Result<TrackSetup, BoxError> {
    let (moov, base) = child(bytes, 0, b"moov")?.ok_or(BoxError::Missing { what: "moov box" })?;
    let (mdhd, mdhd_at) = path(moov, base, &[b"trak", b"mdia", b"mdhd"])?.ok_or(BoxError::Missing { what: "mdhd box" })?;
    let timescale = match mdhd.first() {
        Some(1) => be_u32(mdhd, 20, mdhd_at)?,
        _ => be_u32(mdhd, 12, mdhd_at)?,
    };
    let default_sample_duration = match path(moov, base, &[b"mvex", b"trex"])? {
        Some((trex, at)) => be_u32(trex, 12, at)?,
        None => 0,
    };
    let (stsd, stsd_at) = path(moov, base, &[b"trak", b"mdia", b"minf", b"stbl", b"stsd"])?
        .ok_or(BoxError::Missing { what: "stsd box" })?;
    // stsd: version/flags, entry count, then the sample entries.
    let entries = stsd.get(8..).ok_or(BoxError::Truncated { offset: stsd_at })?;
    let (entry_kind, entry, entry_at) =
        children(entries, stsd_at + 8)?.into_iter().next().ok_or(BoxError::Missing { what: "sample entry" })?;
    let mut setup = TrackSetup {
        kind: TrackKind::Video,
        codec: String::new(),
        width: 0,
        height: 0,
        channels: 0,
        timescale,
        default_sample_duration,
    };
    match &entry_kind {
        b"avc1" | b"avc3" | b"vp09" | b"av01" | b"hvc1" | b"hev1" => {
            // VisualSampleEntry: 6 reserved, data ref index, 16 bytes predefined, width, height,
            // then 50 more bytes before the child boxes.
            setup.width = u32::from(be_u16(entry, 24, entry_at)?);
            setup.height = u32::from(be_u16(entry, 26, entry_at)?);
            let boxes = entry.get(78..).ok_or(BoxError::Truncated { offset: entry_at })?;
            setup.codec = video_codec(&entry_kind, boxes, entry_at + 78)?;
        }
        b"Opus" | b"mp4a" => {
            // AudioSampleEntry: 6 reserved, data ref index, 8 reserved, channel count, sample size,
            // 4 reserved, sample rate; then the child boxes.
            setup.kind = TrackKind::Audio;
            setup.channels = be_u16(entry, 16, entry_at)?;
            let boxes = entry.get(28..).ok_or(BoxError::Truncated { offset: entry_at })?;
            setup.codec = if &entry_kind == b"Opus" { "opus".to_string() } else { aac_codec(boxes, entry_at + 28)? };
        }
        _ => return Err(BoxError::Missing { what: "sample entry of a codec HLS can carry" }),
    }
    Ok(setup)
}

fn video_codec(entry_kind: &[u8; 4], boxes: &[u8], at: u64) -> Result<String, BoxError> {
    let fourcc = String::from_utf8_lossy(entry_kind).into_owned();
    Ok(match entry_kind {
        b"avc1" | b"avc3" => {
            let (avcc, at) = child(boxes, at, b"avcC")?.ok_or(BoxError::Missing { what: "avcC box" })?;
            let b = avcc.get(1..4).ok_or(BoxError::Truncated { offset: at })?;
            format!("{fourcc}.{:02x}{:02x}{:02x}", b[0], b[1], b[2])
        }
        b"vp09" => {
            // vpcC (version 1): version/flags, profile, level, bitDepth(4) chroma(3) range(1).
            let (vpcc, at) = child(boxes, at, b"vpcC")?.ok_or(BoxError::Missing { what: "vpcC box" })?;
            let b = vpcc.get(4..7).ok_or(BoxError::Truncated { offset: at })?;
            format!("vp09.{:02}.{:02}.{:02}", b[0], b[1], b[2] >> 4)
        }
        b"av01" => {
            // av1C: marker/version, profile(3) level(5), tier(1) high_bitdepth(1) twelve_bit(1) ...
            let (av1c, at) = child(boxes, at, b"av1C")?.ok_or(BoxError::Missing { what: "av1C box" })?;
            let b = av1c.get(1..3).ok_or(BoxError::Truncated { offset: at })?;
            let tier = if b[1] & 0x80 != 0 { 'H' } else { 'M' };
            let depth = if b[1] & 0x40 == 0 { 8 } else if b[1] & 0x20 != 0 { 12 } else { 10 };
            format!("av01.{}.{:02}{tier}.{depth:02}", b[0] >> 5, b[0] & 0x1f)
        }
        _ => fourcc,
    })
}

/// `mp4a.40.<audio object type>` from the esds DecoderSpecificInfo (AAC-LC is `mp4a.40.2`).
fn aac_codec(boxes: &[u8], at: u64) -> Result<String, BoxError> {
    let (esds, _) = child(boxes, at, b"esds")?.ok_or(BoxError::Missing { what: "esds box" })?;
    // Find the DecoderSpecificInfo descriptor (tag 5) and read its first 5 bits; fall back to LC.
    let object_type = esds
        .windows(2)
        .position(|w| w[0] == 0x05)
        .and_then(|i| {
            let mut j = i + 1;
            while esds.get(j).is_some_and(|b| b & 0x80 != 0) {
                j += 1;
            }
            esds.get(j + 1).map(|b| b >> 3)
        })
        .filter(|&t| t > 0)
        .unwrap_or(2);
    Ok(format!("mp4a.40.{object_type}"))
}

/// What one `moof` says about its fragment (first track fragment only: the packager writes one
/// track per file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// `tfdt` decode time, in the track's timescale.
    pub start: u64,
    /// Sum of the sample durations, in the track's timescale.
    pub duration: u64,
    pub samples: u32,
    /// The first sample is a sync sample (a keyframe; always true for audio).
    pub independent: bool,
}

const TFHD_DEFAULT_DURATION: u32 = 0x08;
const TFHD_DEFAULT_FLAGS: u32 = 0x20;
const TRUN_DATA_OFFSET: u32 = 0x01;
const TRUN_FIRST_FLAGS: u32 = 0x04;
const TRUN_DURATION: u32 = 0x100;
const TRUN_SIZE: u32 = 0x200;
const TRUN_FLAGS: u32 = 0x400;
const TRUN_CTS: u32 = 0x800;
/// `sample_is_non_sync_sample` in sample flags.
const NON_SYNC: u32 = 0x0001_0000;

/// Reads a `moof` payload (the bytes after its header; `at` is their file offset, for errors).
pub fn parse_moof(moof: &[u8], at: u64, trex_default_duration: u32) -> Result<Fragment, BoxError> {
    let (traf, traf_at) = child(moof, at, b"traf")?.ok_or(BoxError::Missing { what: "traf box" })?;
    let (tfhd, tfhd_at) = child(traf, traf_at, b"tfhd")?.ok_or(BoxError::Missing { what: "tfhd box" })?;
    let tfhd_flags = be_u32(tfhd, 0, tfhd_at)? & 0x00ff_ffff;
    // tfhd: flags, track id, then optional base offset (0x01), description index (0x02), default
    // duration (0x08), default size (0x10), default flags (0x20).
    let mut pos = 8usize;
    if tfhd_flags & 0x01 != 0 {
        pos += 8;
    }
    if tfhd_flags & 0x02 != 0 {
        pos += 4;
    }
    let mut default_duration = trex_default_duration;
    if tfhd_flags & TFHD_DEFAULT_DURATION != 0 {
        default_duration = be_u32(tfhd, pos, tfhd_at)?;
        pos += 4;
    }
    if tfhd_flags & 0x10 != 0 {
        pos += 4;
    }
    let default_flags = if tfhd_flags & TFHD_DEFAULT_FLAGS != 0 { Some(be_u32(tfhd, pos, tfhd_at)?) } else { None };
    let start = match child(traf, traf_at, b"tfdt")? {
        Some((tfdt, at)) if tfdt.first() == Some(&1) => be_u64(tfdt, 4, at)?,
        Some((tfdt, at)) => u64::from(be_u32(tfdt, 4, at)?),
        None => 0,
    };
    let (trun, trun_at) = child(traf, traf_at, b"trun")?.ok_or(BoxError::Missing { what: "trun box" })?;
    let trun_flags = be_u32(trun, 0, trun_at)? & 0x00ff_ffff;
    let samples = be_u32(trun, 4, trun_at)?;
    let mut pos = 8usize;
    if trun_flags & TRUN_DATA_OFFSET != 0 {
        pos += 4;
    }
    let first_flags = if trun_flags & TRUN_FIRST_FLAGS != 0 {
        pos += 4;
        Some(be_u32(trun, pos - 4, trun_at)?)
    } else {
        None
    };
    let per_sample = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTS].iter().filter(|f| trun_flags & **f != 0).count() * 4;
    let mut duration = 0u64;
    let mut first_sample_flags = first_flags;
    for i in 0..samples as usize {
        let mut field = pos + i * per_sample;
        if trun_flags & TRUN_DURATION != 0 {
            duration += u64::from(be_u32(trun, field, trun_at)?);
            field += 4;
        } else {
            duration += u64::from(default_duration);
        }
        if trun_flags & TRUN_SIZE != 0 {
            field += 4;
        }
        if i == 0 && first_sample_flags.is_none() && trun_flags & TRUN_FLAGS != 0 {
            first_sample_flags = Some(be_u32(trun, field, trun_at)?);
        }
    }
    if samples > 0 && per_sample > 0 && trun.len() < pos + samples as usize * per_sample {
        return Err(BoxError::Truncated { offset: trun_at });
    }
    let independent = first_sample_flags.or(default_flags).is_none_or(|flags| flags & NON_SYNC == 0);
    Ok(Fragment { start, duration, samples, independent })
}

/// A Producer Reference Time box: the wall clock (NTP) at which `media_time` was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerTime {
    /// Unix time in milliseconds.
    pub unix_millis: i64,
    /// In the track's timescale.
    pub media_time: u64,
}

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// Reads a `prft` payload.
pub fn parse_prft(prft: &[u8], at: u64) -> Result<ProducerTime, BoxError> {
    let ntp = be_u64(prft, 8, at)?;
    let media_time = if prft.first() == Some(&1) { be_u64(prft, 16, at)? } else { u64::from(be_u32(prft, 16, at)?) };
    let seconds = (ntp >> 32) as i64 - NTP_UNIX_OFFSET;
    let millis = ((ntp & 0xffff_ffff) * 1000) >> 32;
    Ok(ProducerTime { unix_millis: seconds * 1000 + millis as i64, media_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_needs_eight_bytes_and_a_sane_size() {
        assert_eq!(header(&[0, 0, 0], 0), None);
        assert_eq!(header(&[0, 0, 0, 4, b'm', b'o', b'o', b'f'], 7), Some(Err(BoxError::Truncated { offset: 7 })));
        let head = header(&[0, 0, 0, 16, b'm', b'd', b'a', b't'], 0).unwrap().unwrap();
        assert_eq!((&head.kind, head.header_len, head.size), (b"mdat", 8, 16));
    }
}
