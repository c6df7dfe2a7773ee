//! `Range: bytes=…` as players, caches and LL-HLS parts send it: one range, `A-B`, `A-` or `-N`.
//! Several ranges in one header are answered with the whole file (allowed by RFC 9110 §14.2).

/// One requested byte range, before the file's length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=A-B` (inclusive) or `bytes=A-` (`end: None`).
    From { start: u64, end: Option<u64> },
    /// `bytes=-N`: the last N bytes.
    Suffix(u64),
}

/// Parses a `Range` header value; `None` for anything but a single byte range (serve the whole file).
pub fn parse(header: &str) -> Option<ByteRange> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let number = |text: &str| -> Option<u64> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => number(suffix).map(ByteRange::Suffix),
        (start, "") => Some(ByteRange::From { start: number(start)?, end: None }),
        (start, end) => {
            let (start, end) = (number(start)?, number(end)?);
            (start <= end).then_some(ByteRange::From { start, end: Some(end) })
        }
    }
}

impl ByteRange {
    /// The inclusive `(first, last)` bytes of a file of `len` bytes, or `None` if unsatisfiable (416).
    pub fn resolve(self, len: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::From { start, .. } if start >= len => None,
            ByteRange::From { start, end } => Some((start, end.map_or(len - 1, |e| e.min(len - 1)))),
            ByteRange::Suffix(n) if n == 0 || len == 0 => None,
            ByteRange::Suffix(n) => Some((len.saturating_sub(n), len - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_refuses_the_rest() {
        assert_eq!(parse("bytes=0-99"), Some(ByteRange::From { start: 0, end: Some(99) }));
        assert_eq!(parse("bytes=100-"), Some(ByteRange::From { start: 100, end: None }));
        assert_eq!(parse("bytes=-5"), Some(ByteRange::Suffix(5)));
        for bad in ["", "bytes=", "bytes=5-1", "bytes=a-b", "items=0-1", "bytes=0-1,4-5", "bytes=-", "bytes=+1-2"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resolves_against_the_length() {
        assert_eq!(parse("bytes=0-99").unwrap().resolve(50), Some((0, 49)));
        assert_eq!(parse("bytes=10-").unwrap().resolve(50), Some((10, 49)));
        assert_eq!(parse("bytes=-5").unwrap().resolve(50), Some((45, 49)));
        assert_eq!(parse("bytes=-500").unwrap().resolve(50), Some((0, 49)));
        assert_eq!(parse("bytes=50-").unwrap().resolve(50), None);
        assert_eq!(parse("bytes=-0").unwrap().resolve(50), None);
    }
}
