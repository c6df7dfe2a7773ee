//! The admission webhook (`--auth-webhook URL`): before a publisher is accepted, livedash POSTs
//! `{"stream","mimeType","remoteAddr"}` (plus `"token"` when the publisher passed one) as JSON to the
//! URL, the way SRS's `on_publish` works. A 2xx answer admits the publisher; any other status, a
//! redirect, an unreachable service or no answer within [`WEBHOOK_TIMEOUT`] refuses it: the check fails
//! closed. The URL must be plain `http://` (an internal service; this build has no TLS client).

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

/// How long the webhook may take to answer: a publisher waits for it, so a hung auth service must
/// not hold publishers (or their sockets) for long.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(3);

/// What the webhook is asked about one publisher.
#[derive(Debug, Serialize)]
pub struct AdmissionRequest<'a> {
    pub stream: &'a str,
    #[serde(rename = "mimeType")]
    pub mime_type: &'a str,
    /// The client's address (see [`super::host::client_address`]).
    #[serde(rename = "remoteAddr")]
    pub remote_addr: Option<IpAddr>,
    /// The `?token=` the publisher passed, so the service can decide on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'a str>,
}

/// Why the webhook did not admit a publisher.
#[derive(Debug, thiserror::Error)]
pub enum WebhookRefusal {
    #[error("the admission check refused it (HTTP {0})")]
    Refused(u16),
    #[error("the admission check did not answer within {} s", WEBHOOK_TIMEOUT.as_secs())]
    Timeout,
    #[error("the admission check could not be reached ({0})")]
    Unreachable(String),
}

/// Checks that `--auth-webhook` is a URL this build can call.
pub fn parse_webhook_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .ok_or_else(|| format!("{text:?} must be an http:// URL (the admission service is reached without TLS)"))?;
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if !super::host::is_valid_host(host) {
        return Err(format!("{text:?} has no valid host"));
    }
    Ok(text.to_string())
}

/// Asks the webhook at `url` whether `request` may publish.
pub async fn ask(url: &str, request: &AdmissionRequest<'_>) -> Result<(), WebhookRefusal> {
    let client = awc::Client::builder().timeout(WEBHOOK_TIMEOUT).disable_redirects().finish();
    let sent = tokio::time::timeout(WEBHOOK_TIMEOUT, client.post(url).send_json(request)).await;
    match sent {
        Err(_) | Ok(Err(awc::error::SendRequestError::Timeout)) => Err(WebhookRefusal::Timeout),
        Ok(Err(e)) => Err(WebhookRefusal::Unreachable(e.to_string())),
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) => Err(WebhookRefusal::Refused(response.status().as_u16())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_body_has_the_documented_fields() {
        let request = AdmissionRequest {
            stream: "cam1",
            mime_type: "video/webm;codecs=vp8,opus",
            remote_addr: Some("192.0.2.7".parse().unwrap()),
            token: None,
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"stream":"cam1","mimeType":"video/webm;codecs=vp8,opus","remoteAddr":"192.0.2.7"}"#
        );
    }

    #[test]
    fn only_plain_http_urls_with_a_host() {
        assert!(parse_webhook_url("http://auth.internal:9000/on_publish").is_ok());
        assert!(parse_webhook_url("http://127.0.0.1:9000").is_ok());
        for bad in ["https://auth.example/x", "auth.internal/x", "http:///x", "http://a b/"] {
            assert!(parse_webhook_url(bad).is_err(), "{bad}");
        }
    }
}
