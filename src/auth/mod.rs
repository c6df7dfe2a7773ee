//! auth — who may publish, and from where. Every decision is a pure function, split from the IO so it
//! is tested without a server; the routes and the ingest only call them.
//!
//! - [`host`]: what a request may claim about its host, scheme and client address (`--trust-forwarded`).
//! - [`origin`]: which web pages may open a publisher socket (`--allowed-origins`).
//! - [`token`]: signed per-stream publish tokens (`--publish-secret`, `livedash token`).
//! - [`webhook`]: the admission webhook asked after `start` (`--auth-webhook`).
//!
//! A publisher passes the origin check and the token check before the WebSocket upgrade, and the
//! webhook (which needs the recording's mimeType) after `start`, before anything is claimed or
//! written. Each refusal is `unauthorized` with a sentence; nothing here logs a token.

pub mod host;
pub mod origin;
pub mod token;
pub mod webhook;

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::stream_id::StreamId;
use token::TokenError;

/// Compares secrets in time that depends only on the length of `expected`.
pub fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut difference = (given.len() != expected.len()) as u8;
    for (i, e) in expected.iter().enumerate() {
        difference |= e ^ given.get(i).copied().unwrap_or(0);
    }
    difference == 0
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The publish rights a server grants by token: the global `--publish-token`, and tokens signed with
/// `--publish-secret`. With neither configured, anyone may publish.
#[derive(Debug, Clone, Copy)]
pub struct PublishRights<'a> {
    pub token: Option<&'a str>,
    pub secret: Option<&'a [u8]>,
}

/// Why a publisher's token was refused; the message is the sentence it gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("this server requires a publish token: add ?token=... to the WebSocket URL")]
    Missing,
    #[error("the publish token is wrong: check the ?token=... in the WebSocket URL")]
    Wrong,
    #[error(transparent)]
    Signed(#[from] TokenError),
}

impl TokenRefusal {
    /// What was wrong, for the log: never the token, and without the publisher's how-to.
    pub fn log_reason(&self) -> String {
        match self {
            TokenRefusal::Missing => "no publish token".to_string(),
            TokenRefusal::Wrong => "wrong publish token".to_string(),
            TokenRefusal::Signed(e) => e.to_string(),
        }
    }
}

impl PublishRights<'_> {
    /// Whether `given` (the `?token=`) lets its holder publish `stream` at `now` (Unix seconds).
    pub fn check(&self, stream: &StreamId, given: Option<&str>, now: u64) -> Result<(), TokenRefusal> {
        if self.token.is_none() && self.secret.is_none() {
            return Ok(());
        }
        let given = given.filter(|g| !g.is_empty()).ok_or(TokenRefusal::Missing)?;
        if self.token.is_some_and(|expected| constant_time_eq(given.as_bytes(), expected.as_bytes())) {
            return Ok(());
        }
        match self.secret {
            // A token shaped like a signed one gets the precise reason (expired, other stream).
            Some(secret) if given.contains('.') || self.token.is_none() => Ok(token::verify(secret, stream, given, now)?),
            _ => Err(TokenRefusal::Wrong),
        }
    }
}

/// The check a publisher passes after `start`, once its mimeType is known: the admission webhook when
/// `--auth-webhook` is set. Made by the route (which knows the request), run by the ingest.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// `--auth-webhook`.
    pub webhook: Option<String>,
    /// The client's address, as [`host::client_address`] believes it.
    pub remote_addr: Option<IpAddr>,
    /// The `?token=` given, passed to the webhook so it can decide on it.
    pub token: Option<String>,
}

/// A publisher the admission check refused; the ingest puts the stream id in front of this sentence.
#[derive(Debug, thiserror::Error)]
#[error("publishing was refused: {reason}")]
pub struct AdmissionRefused {
    pub reason: webhook::WebhookRefusal,
}

impl Admission {
    /// Admits or refuses a publisher of `stream` sending `mime_type`.
    pub async fn admit(&self, stream: &StreamId, mime_type: &str) -> Result<(), AdmissionRefused> {
        let Some(url) = &self.webhook else { return Ok(()) };
        let request = webhook::AdmissionRequest {
            stream: stream.as_str(),
            mime_type,
            remote_addr: self.remote_addr,
            token: self.token.as_deref(),
        };
        webhook::ask(url, &request).await.map_err(|reason| AdmissionRefused { reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cre", b"s3cret"));
        assert!(!constant_time_eq(b"s3cretx", b"s3cret"));
        assert!(!constant_time_eq(b"S3cret", b"s3cret"));
        assert!(!constant_time_eq(b"", b"s3cret"));
    }

    #[test]
    fn rights_by_global_or_signed_token() {
        let cam = StreamId::parse("cam").unwrap();
        let open = PublishRights { token: None, secret: None };
        assert_eq!(open.check(&cam, None, 10), Ok(()));

        let global = PublishRights { token: Some("tok"), secret: None };
        assert_eq!(global.check(&cam, Some("tok"), 10), Ok(()));
        assert_eq!(global.check(&cam, None, 10), Err(TokenRefusal::Missing));
        assert_eq!(global.check(&cam, Some(""), 10), Err(TokenRefusal::Missing));
        assert_eq!(global.check(&cam, Some("tok2"), 10), Err(TokenRefusal::Wrong));

        let signed = token::mint(b"k", &cam, 100);
        let both = PublishRights { token: Some("tok"), secret: Some(b"k") };
        assert_eq!(both.check(&cam, Some("tok"), 10), Ok(()));
        assert_eq!(both.check(&cam, Some(&signed), 10), Ok(()));
        assert_eq!(both.check(&cam, Some("nope"), 10), Err(TokenRefusal::Wrong));
        assert!(matches!(both.check(&cam, Some(&signed), 100), Err(TokenRefusal::Signed(TokenError::Expired { .. }))));
        let other = StreamId::parse("other").unwrap();
        assert!(matches!(both.check(&other, Some(&signed), 10), Err(TokenRefusal::Signed(TokenError::BadSignature { .. }))));

        let secret_only = PublishRights { token: None, secret: Some(b"k") };
        assert_eq!(secret_only.check(&cam, Some(&signed), 10), Ok(()));
        assert_eq!(secret_only.check(&cam, Some("nope"), 10), Err(TokenRefusal::Signed(TokenError::Malformed)));
    }
}
