//! The WebSocket routes: `/ws/publish/{stream}` hands the socket to an ingest session;
//! `/ws/watch/{stream}` tells a viewer `manifest_ready` / `ended` / `error` for the stream's current
//! presentation (and each later one), without ingest.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use crate::error_code::ErrorCode;
use crate::ingest::session;
use crate::media::DashSettings;
use crate::metrics::Metrics;
use crate::protocol::ServerMessage;
use crate::stream_id::StreamId;
use crate::streams::EventCursor;

/// Viewers send nothing but pings and close frames.
const VIEWER_MAX_FRAME: usize = 4096;

#[derive(Deserialize)]
pub struct PublishQuery {
    token: Option<String>,
}

fn bad_stream_id(error: impl ToString) -> HttpResponse {
    HttpResponse::BadRequest().content_type("text/plain; charset=utf-8").body(error.to_string())
}

/// Compares secrets in time that depends only on the length of `expected`.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut difference = (given.len() != expected.len()) as u8;
    for (i, e) in expected.iter().enumerate() {
        difference |= e ^ given.get(i).copied().unwrap_or(0);
    }
    difference == 0
}

pub async fn publish(
    request: HttpRequest,
    body: web::Payload,
    stream: web::Path<String>,
    query: web::Query<PublishQuery>,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let stream = match StreamId::parse(&stream) {
        Ok(stream) => stream,
        Err(e) => return Ok(bad_stream_id(e)),
    };
    let authorised = match &state.config.publish_token {
        None => true,
        Some(expected) => query.token.as_deref().is_some_and(|t| constant_time_eq(t.as_bytes(), expected.as_bytes())),
    };
    let is_upgrade = request.headers().get("upgrade").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !authorised && !is_upgrade {
        return Ok(HttpResponse::Unauthorized().content_type("text/plain; charset=utf-8").body("publish token required\n"));
    }
    let (response, mut socket, messages) = actix_ws::handle(&request, body)?;
    if !authorised {
        // Browsers can't read a refused handshake's status, so say it on the socket.
        Metrics::add(&state.metrics.publishes_refused, 1);
        log::info!("stream {stream}: publish refused, missing or wrong token");
        actix_web::rt::spawn(async move {
            let message = "this server requires a publish token: add ?token=... to the WebSocket URL".to_string();
            let _ = socket.text(ServerMessage::Error { code: ErrorCode::Unauthorized, message }.to_json()).await;
            let reason = CloseReason { code: CloseCode::Policy, description: Some("unauthorized".into()) };
            let _ = socket.close(Some(reason)).await;
        });
        return Ok(response);
    }
    let max = state.ingest.max_message_bytes;
    let messages = messages.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    let settings = dash_settings(&state, &request);
    actix_web::rt::spawn(session::run(Arc::clone(&state.ingest), stream, settings, socket, messages));
    Ok(response)
}

/// The packager settings for a publish request: `/time` on this server as the clock for players, from
/// `--public-url` when set, otherwise from how the publisher reached us.
fn dash_settings(state: &AppState, request: &HttpRequest) -> DashSettings {
    let config = &state.config;
    let base = match &config.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let info = request.connection_info();
            let scheme = if info.scheme() == "https" { "https" } else { "http" };
            format!("{scheme}://{}", info.host())
        }
    };
    DashSettings {
        segment_duration: config.segment_duration,
        low_latency: config.latency == crate::config::Latency::Low,
        fragment_duration: config.fragment_duration,
        target_latency: config.target_latency,
        utc_timing_url: Some(format!("{base}/time")),
        presentation_tag: String::new(),
    }
}

pub async fn watch(
    request: HttpRequest,
    body: web::Payload,
    stream: web::Path<String>,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let stream = match StreamId::parse(&stream) {
        Ok(stream) => stream,
        Err(e) => return Ok(bad_stream_id(e)),
    };
    let (response, socket, messages) = actix_ws::handle(&request, body)?;
    let messages = messages.max_frame_size(VIEWER_MAX_FRAME).aggregate_continuations();
    actix_web::rt::spawn(follow(state.into_inner(), stream, socket, messages));
    Ok(response)
}

/// Counts a viewer socket while it is open.
struct ViewerCount(Arc<Metrics>);

impl ViewerCount {
    fn new(metrics: &Arc<Metrics>) -> ViewerCount {
        metrics.viewers.fetch_add(1, Ordering::Relaxed);
        ViewerCount(Arc::clone(metrics))
    }
}

impl Drop for ViewerCount {
    fn drop(&mut self) {
        self.0.viewers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A viewer's session: the stream's events, for as long as the viewer stays.
async fn follow(state: Arc<AppState>, stream: StreamId, mut socket: Session, mut messages: actix_ws::AggregatedMessageStream) {
    let _count = ViewerCount::new(&state.metrics);
    let mut changes = state.registry.subscribe();
    let mut cursor = EventCursor::viewer();
    loop {
        if let Some(status) = state.registry.status(&stream) {
            for message in cursor.due(&stream, &status) {
                let is_error = matches!(message, ServerMessage::Error { .. });
                if socket.text(message.to_json()).await.is_err() {
                    return;
                }
                if is_error {
                    let _ = socket.close(Some(CloseCode::Normal.into())).await;
                    return;
                }
            }
        }
        loop {
            tokio::select! {
                message = messages.recv() => match message {
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        if socket.pong(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(AggregatedMessage::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                },
                change = changes.recv() => match change {
                    Ok(id) if id != stream => {}
                    Ok(_) | Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cre", b"s3cret"));
        assert!(!constant_time_eq(b"s3cretx", b"s3cret"));
        assert!(!constant_time_eq(b"S3cret", b"s3cret"));
        assert!(!constant_time_eq(b"", b"s3cret"));
    }
}
