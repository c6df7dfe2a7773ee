//! `GET /time` (UTC, ISO 8601 with milliseconds, for the MPD's `<UTCTiming>`), `GET /healthz`,
//! `GET /metrics` (Prometheus text) and `GET /api/streams` (JSON list of streams with their state).

use std::time::SystemTime;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use super::AppState;
use crate::protocol::manifest_url;
use crate::stream_id::StreamId;
use crate::streams::StreamStatus;

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
    #[serde(flatten)]
    status: StreamStatus,
}

pub async fn streams(state: web::Data<AppState>) -> HttpResponse {
    let listing: Vec<StreamListing> = state
        .registry
        .list()
        .into_iter()
        .map(|(stream, status)| StreamListing {
            manifest_url: manifest_url(&stream),
            watch_url: format!("/watch/{stream}"),
            stream,
            status,
        })
        .collect();
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(listing)
}
