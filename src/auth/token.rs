//! Signed publish tokens: the right to publish one stream id until a time, without a database.
//!
//! A token is `<expiry>.<mac>`: the expiry in Unix seconds, then the base64url (no padding) HMAC-SHA256,
//! keyed by `--publish-secret`, of the stream id and that expiry. Whoever holds the secret mints them
//! (`livedash token STREAM --ttl 1h`, or any HMAC library); the server checks the MAC in constant time
//! and then the expiry. The expiry bounds when a publisher may start (or resume), not how long it may
//! stay live.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::stream_id::StreamId;

type HmacSha256 = Hmac<Sha256>;

/// Domain separation: a MAC made for something else with the same secret is never a publish token.
const CONTEXT: &[u8] = b"livedash publish token v1\n";

/// Longest token worth reading: 20 digits, a dot and 43 base64 characters.
const MAX_TOKEN_LEN: usize = 64;

/// Why a signed token does not grant publishing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the publish token is not a livedash token (expected <expiry>.<signature>)")]
    Malformed,
    #[error("the publish token is not valid for stream {stream}")]
    BadSignature { stream: StreamId },
    #[error("the publish token for stream {stream} expired {ago} seconds ago; ask for a new one")]
    Expired { stream: StreamId, ago: u64 },
}

fn mac(secret: &[u8], stream: &StreamId, expires_at: u64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(CONTEXT);
    mac.update(stream.as_str().as_bytes());
    mac.update(b"\n");
    mac.update(expires_at.to_string().as_bytes());
    mac
}

/// A token for `stream`, valid until `expires_at` (Unix seconds).
pub fn mint(secret: &[u8], stream: &StreamId, expires_at: u64) -> String {
    let signature = mac(secret, stream, expires_at).finalize().into_bytes();
    format!("{expires_at}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Checks `token` for `stream` at `now` (Unix seconds).
pub fn verify(secret: &[u8], stream: &StreamId, token: &str, now: u64) -> Result<(), TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (expiry, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
    if expiry.is_empty() || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::Malformed);
    }
    let expires_at: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Malformed)?;
    // `verify_slice` compares in constant time. The expiry is parsed back to a number and re-printed
    // for the MAC, so "0100" can't stand in for "100": only the canonical spelling verifies.
    if expiry != expires_at.to_string() || mac(secret, stream, expires_at).verify_slice(&signature).is_err() {
        return Err(TokenError::BadSignature { stream: stream.clone() });
    }
    if expires_at <= now {
        return Err(TokenError::Expired { stream: stream.clone(), ago: now - expires_at });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a secret of any length";

    fn id(s: &str) -> StreamId {
        StreamId::parse(s).unwrap()
    }

    #[test]
    fn a_minted_token_verifies_for_its_stream_until_it_expires() {
        let token = mint(SECRET, &id("cam1"), 1_000);
        assert!(token.starts_with("1000.") && token.len() == 5 + 43, "{token}");
        assert_eq!(verify(SECRET, &id("cam1"), &token, 999), Ok(()));
        assert_eq!(verify(SECRET, &id("cam1"), &token, 1_000), Err(TokenError::Expired { stream: id("cam1"), ago: 0 }));
        assert_eq!(verify(SECRET, &id("cam2"), &token, 999), Err(TokenError::BadSignature { stream: id("cam2") }));
        assert_eq!(verify(b"another secret", &id("cam1"), &token, 999), Err(TokenError::BadSignature { stream: id("cam1") }));
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let token = mint(SECRET, &id("cam1"), 1_000);
        let later = token.replacen("1000", "9000", 1);
        assert_eq!(verify(SECRET, &id("cam1"), &later, 999), Err(TokenError::BadSignature { stream: id("cam1") }));
        let padded = token.replacen("1000", "01000", 1);
        assert_eq!(verify(SECRET, &id("cam1"), &padded, 999), Err(TokenError::BadSignature { stream: id("cam1") }));
        for bad in ["", ".", "1000", "1000.", "x.abc", "-1.abc", "1000.not base64!", &"9".repeat(80)] {
            assert!(verify(SECRET, &id("cam1"), bad, 999).is_err(), "{bad}");
        }
        let truncated = &token[..token.len() - 2];
        assert!(verify(SECRET, &id("cam1"), truncated, 999).is_err());
    }
}
