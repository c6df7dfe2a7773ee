//! An RTMP publish's stream key: `STREAM` or `STREAM?token=…` (what OBS calls the "Stream key", and
//! what follows `rtmp://HOST:1935/live/` in an ffmpeg URL). Pure parsing; the token is checked by
//! [`crate::auth::PublishRights`] like a WebSocket's `?token=`.

use crate::stream_id::{InvalidStreamId, StreamId};

/// A parsed stream key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamKey {
    pub stream: StreamId,
    /// The `token` parameter, when given.
    pub token: Option<String>,
}

/// Splits `key` into the stream id and its `token` parameter (other parameters are ignored, as
/// encoders add their own). The token is taken as written: livedash's tokens need no escaping.
pub fn parse(key: &str) -> Result<StreamKey, InvalidStreamId> {
    let (name, query) = key.split_once('?').unwrap_or((key, ""));
    let stream = StreamId::parse(name)?;
    let token = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "token")
        .map(|(_, value)| value.to_string());
    Ok(StreamKey { stream, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_a_stream_id_with_an_optional_token() {
        let plain = parse("cam1").unwrap();
        assert_eq!((plain.stream.as_str(), plain.token), ("cam1", None));
        let with = parse("cam1?token=123.abc_-").unwrap();
        assert_eq!((with.stream.as_str(), with.token.as_deref()), ("cam1", Some("123.abc_-")));
        let among = parse("cam1?obs=1&token=t&x=2").unwrap();
        assert_eq!(among.token.as_deref(), Some("t"));
        assert_eq!(parse("cam1?").unwrap().token, None);
        assert!(parse("").is_err());
        assert!(parse("../etc?token=t").is_err());
        assert!(parse("cam 1").is_err());
    }
}
