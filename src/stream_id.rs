//! Stream ids: 1–64 characters of `[A-Za-z0-9_-]`. Anything else is refused before it can reach the
//! disk, which is what makes `<media-dir>/<stream>/` safe to build from a URL.

use std::fmt;

/// Longest accepted stream id.
pub const MAX_LEN: usize = 64;

/// A validated stream id; the only way to name a stream's folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct StreamId(String);

/// Why a stream id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid stream id: use 1 to {MAX_LEN} characters of A-Z, a-z, 0-9, '_' or '-'")]
pub struct InvalidStreamId;

impl StreamId {
    /// Validates `id`.
    pub fn parse(id: &str) -> Result<StreamId, InvalidStreamId> {
        let valid = (1..=MAX_LEN).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid { Ok(StreamId(id.to_string())) } else { Err(InvalidStreamId) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_contract_alphabet_up_to_64_chars() {
        for id in ["a", "cam-1", "Studio_B", &"x".repeat(64), "0123456789"] {
            assert!(StreamId::parse(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for id in ["", &"x".repeat(65), "..", "a/b", "a\\b", "a.b", "a b", "é", "a\0", "%2e%2e", "a:b", "~"] {
            assert_eq!(StreamId::parse(id), Err(InvalidStreamId), "{id:?}");
        }
    }
}
