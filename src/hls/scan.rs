//! Reads a media segment's fragments as the segment grows, one box at a time: each CMAF chunk
//! (`[styp] [prft] moof mdat`) becomes one [`ScannedPart`] once its `mdat` is complete. The scanner
//! remembers where it stopped, so each update reads only the new bytes' box headers and `moof`s (never
//! the media data): O(1) in the length of the stream. The file access is the caller's (`read_at`),
//! so this stays free of IO and is tested on bytes in memory.

use super::boxes::{self, BoxError, Fragment, ProducerTime};

/// Largest `moof`/`prft` read into memory: a 0.5 s chunk's `moof` is a few hundred bytes; anything
/// near this is not a file our packager wrote.
const MAX_METADATA_BOX: u64 = 1 << 20;

/// One complete CMAF chunk: its byte range in the segment and what its `moof` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScannedPart {
    pub offset: u64,
    pub length: u64,
    pub fragment: Fragment,
    /// The chunk's producer reference time, when the packager wrote one.
    pub produced: Option<ProducerTime>,
}

/// Why a segment could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading it failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("it is not CMAF as expected: {0}")]
    Box(#[from] BoxError),
}

/// Where the scan of one segment stands.
#[derive(Debug, Clone, Default)]
pub struct SegmentScan {
    /// The first byte not yet looked at (a box boundary).
    pos: u64,
    /// Where the chunk being collected starts (the end of the previous chunk's `mdat`).
    part_start: u64,
    /// The current chunk's `moof`, waiting for its `mdat`.
    moof: Option<Fragment>,
    produced: Option<ProducerTime>,
}

impl SegmentScan {
    /// Bytes accounted for in complete chunks so far.
    pub fn scanned_bytes(&self) -> u64 {
        self.part_start
    }

    /// Reads the boxes complete within the first `len` bytes that were not read before, and returns
    /// the chunks they complete. `read_at(offset, n)` returns up to `n` bytes from `offset`.
    pub fn scan(
        &mut self,
        len: u64,
        trex_default_duration: u32,
        mut read_at: impl FnMut(u64, usize) -> std::io::Result<Vec<u8>>,
    ) -> Result<Vec<ScannedPart>, ScanError> {
        let mut parts = Vec::new();
        // Every turn moves `pos` forward by a whole box (at least 8 bytes), so this ends.
        while self.pos + 8 <= len {
            let head_bytes = read_at(self.pos, 16.min((len - self.pos) as usize))?;
            let Some(head) = boxes::header(&head_bytes, self.pos) else { break };
            let head = head?;
            let end = self.pos.checked_add(head.size).ok_or(BoxError::Truncated { offset: self.pos })?;
            if end > len {
                break;
            }
            match &head.kind {
                b"moof" | b"prft" => {
                    if head.size > MAX_METADATA_BOX {
                        return Err(BoxError::Truncated { offset: self.pos }.into());
                    }
                    let payload_at = self.pos + head.header_len;
                    let payload = read_at(payload_at, (head.size - head.header_len) as usize)?;
                    if payload.len() as u64 != head.size - head.header_len {
                        break;
                    }
                    if &head.kind == b"moof" {
                        self.moof = Some(boxes::parse_moof(&payload, payload_at, trex_default_duration)?);
                    } else {
                        self.produced = Some(boxes::parse_prft(&payload, payload_at)?);
                    }
                }
                b"mdat" => {
                    if let Some(fragment) = self.moof.take() {
                        parts.push(ScannedPart {
                            offset: self.part_start,
                            length: end - self.part_start,
                            fragment,
                            produced: self.produced.take(),
                        });
                        self.part_start = end;
                    }
                }
                _ => {}
            }
            self.pos = end;
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    /// A chunk of `samples` samples of `duration` ticks each, starting at `start`; keyframe first or not.
    fn chunk(start: u64, samples: u32, duration: u32, keyframe: bool, mdat_len: usize) -> Vec<u8> {
        let tfhd = [&0x0002_0000u32.to_be_bytes()[..], &1u32.to_be_bytes()].concat();
        let tfdt = [&0x0100_0000u32.to_be_bytes()[..], &start.to_be_bytes()].concat();
        let first_flags: u32 = if keyframe { 0x0200_0000 } else { 0x0101_0000 };
        let mut trun = [&0x0000_0105u32.to_be_bytes()[..], &samples.to_be_bytes(), &0u32.to_be_bytes(), &first_flags.to_be_bytes()]
            .concat();
        for _ in 0..samples {
            trun.extend_from_slice(&duration.to_be_bytes());
        }
        let traf = [boxed(b"tfhd", &tfhd), boxed(b"tfdt", &tfdt), boxed(b"trun", &trun)].concat();
        let moof = boxed(b"moof", &[boxed(b"mfhd", &[0; 8]), boxed(b"traf", &traf)].concat());
        [moof, boxed(b"mdat", &vec![0; mdat_len])].concat()
    }

    fn segment() -> Vec<u8> {
        [boxed(b"styp", b"msdhcmfs"), chunk(0, 5, 3200, true, 900), chunk(16000, 5, 3200, false, 300)].concat()
    }

    #[test]
    fn chunks_cover_the_segment_byte_for_byte() {
        let bytes = segment();
        let mut scan = SegmentScan::default();
        let parts = scan.scan(bytes.len() as u64, 0, |at, n| Ok(bytes[at as usize..(at as usize + n).min(bytes.len())].to_vec())).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].offset, 0);
        assert_eq!(parts[1].offset, parts[0].length);
        assert_eq!(parts[0].length + parts[1].length, bytes.len() as u64);
        assert_eq!(parts[0].fragment, Fragment { start: 0, duration: 16000, samples: 5, independent: true });
        assert_eq!(parts[1].fragment, Fragment { start: 16000, duration: 16000, samples: 5, independent: false });
    }

    #[test]
    fn a_growing_file_yields_each_chunk_once_whatever_the_split() {
        let bytes = segment();
        for split in 0..bytes.len() {
            let mut scan = SegmentScan::default();
            let read = |at: u64, n: usize| Ok(bytes[at as usize..(at as usize + n).min(bytes.len())].to_vec());
            let mut parts = scan.scan(split as u64, 0, read).unwrap();
            parts.extend(scan.scan(bytes.len() as u64, 0, read).unwrap());
            assert_eq!(parts.len(), 2, "split at {split}");
            assert_eq!(parts.iter().map(|p| p.length).sum::<u64>(), bytes.len() as u64, "split at {split}");
        }
    }

    #[test]
    fn an_impossible_box_size_is_an_error_not_a_hang() {
        let mut bytes = segment();
        bytes[0..4].copy_from_slice(&3u32.to_be_bytes());
        let mut scan = SegmentScan::default();
        let result = scan.scan(bytes.len() as u64, 0, |at, n| Ok(bytes[at as usize..(at as usize + n).min(bytes.len())].to_vec()));
        assert!(matches!(result, Err(ScanError::Box(BoxError::Truncated { offset: 0 }))));
    }
}
