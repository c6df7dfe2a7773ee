//! `GET /dash/{stream}/thumbnail.jpg`: the latest picture the stream's publisher sent
//! ([`crate::streams::thumbnails`]), as long as it belongs to the stream's current presentation;
//! `404` (`no-store`) when there is none.

use actix_web::HttpResponse;
use actix_web::http::header;

use super::{AppState, NOT_FOUND_CACHE};
use crate::stream_id::StreamId;

/// Publishers send a new picture every few seconds: a cache may keep one that long.
const THUMBNAIL_CACHE: &str = "public, max-age=2";

/// Where a stream's thumbnail is served; `version` changes with each picture, so a cached old one is
/// never shown for a new one.
pub fn url(stream: &StreamId, version: u64) -> String {
    format!("/dash/{stream}/thumbnail.jpg?v={version}")
}

pub fn serve(state: &AppState, stream: &StreamId) -> HttpResponse {
    let thumbnail = state.registry.status(stream).and_then(|status| state.registry.thumbnails().get(stream, status.presentation));
    match thumbnail {
        Some(thumbnail) => HttpResponse::Ok()
            .content_type("image/jpeg")
            .insert_header((header::CACHE_CONTROL, THUMBNAIL_CACHE))
            .body(thumbnail.jpeg),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, NOT_FOUND_CACHE))
            .body(format!("stream {stream} has no thumbnail (yet): its publisher sends one every few seconds while live\n")),
    }
}
