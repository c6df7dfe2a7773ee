//! `GET /time` (UTC, ISO 8601 with milliseconds, for the MPD's `<UTCTiming>`), `GET /healthz`,
//! `GET /metrics` (Prometheus text), `GET /api/streams` (JSON list of streams with their state) and
//! `GET /api/streams/{stream}` (one of them, for a page that follows one stream).
//!
//! Besides the stream's status, each entry says how many are watching now (`viewers`, see
//! [`super::audience`]), its `thumbnailUrl` (or null), `uptimeSeconds` while it is live, and once it
//! ended its `recordingUrl` (the one-file download; null when there is none).

use std::time::SystemTime;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::AppState;
use crate::protocol::manifest_url;
use crate::stream_id::StreamId;
use crate::media::recording::RecordingFormat;
use crate::streams::{StreamState, StreamStatus};
use tokio::time::Instant;

/// The server's clock, e.g. `2026-11-24T22:45:12.123Z`.
pub async fn time() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(humantime::format_rfc3339_millis(SystemTime::now()).to_string())
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok\n")
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.registry))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamListing {
    stream: StreamId,
    manifest_url: String,
    watch_url: String,
    /// Watching now: viewer sockets plus HTTP-only players.
    viewers: usize,
    /// The publisher's latest picture of this presentation, if any.
    thumbnail_url: Option<String>,
    /// Whole seconds since the presentation started; only while it is starting or live.
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime_seconds: Option<u64>,
    /// The recording as one file, once ended.
    recording_url: Option<String>,
    #[serde(flatten)]
    status: StreamStatus,
}

impl StreamListing {
    fn new(state: &AppState, stream: StreamId, status: StreamStatus, now: Instant) -> StreamListing {
        let thumbnail_url =
            state.registry.thumbnails().get(&stream, status.presentation).map(|t| super::thumbnail::url(&stream, t.version));
        let uptime_seconds = status
            .state
            .is_active()
            .then(|| SystemTime::now().duration_since(status.started_at).unwrap_or_default().as_secs());
        let recording_url = match (&status.state, status.segment_type) {
            (StreamState::Ended { .. }, Some(segments)) => Some(super::recording::url(&stream, RecordingFormat::of(segments))),
            _ => None,
        };
        StreamListing {
            manifest_url: manifest_url(&stream),
            watch_url: format!("/watch/{stream}"),
            viewers: state.audience.count(&stream, now),
            thumbnail_url,
            uptime_seconds,
            recording_url,
            stream,
            status,
        }
    }
}

pub async fn streams(state: web::Data<AppState>) -> HttpResponse {
    let now = Instant::now();
    let listing: Vec<StreamListing> =
        state.registry.list().into_iter().map(|(stream, status)| StreamListing::new(&state, stream, status, now)).collect();
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(listing)
}

/// One stream's entry, or 404 when the server has none.
pub async fn stream(stream: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let stream = match StreamId::parse(&stream) {
        Ok(stream) => stream,
        Err(e) => return HttpResponse::BadRequest().content_type("text/plain; charset=utf-8").body(format!("{e}\n")),
    };
    match state.registry.status(&stream) {
        Some(status) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(StreamListing::new(&state, stream, status, Instant::now())),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(format!("stream {stream} is not known to this server (never published, or its recording was removed)\n")),
    }
}
