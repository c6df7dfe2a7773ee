//! `GET /dash/{stream}/master.m3u8` and `/dash/{stream}/media_<rep>.m3u8`: HLS and Low-Latency HLS
//! playlists over the same CMAF files as DASH (segments and parts are served by [`super::dash`]).
//!
//! Playlists are rendered on request from a per-stream state ([`super::hls_source`]) refreshed from the
//! stream folder. A media playlist request with `_HLS_msn`/`_HLS_part` (blocking reload) is held until
//! that part exists, woken by the folder watcher (`Registry::file_changes`), and answered then; one
//! more than two segments ahead is a 400, and one still unsatisfied after three target durations a 503
//! (RFC 8216bis §6.2.5.2). The multivariant playlist is held the same way until every rendition has
//! its first chunk, so its bitrates, codecs and frame rate are true when a player loads it at
//! `manifest_ready`; a live media playlist is held until its first segment is finished (players take a
//! playlist without a whole segment for an empty one). VP8 streams (WebM segments) have no HLS: a 404 that says so.
//!
//! Memory is bounded: a live stream's state keeps a sliding window ([`crate::hls::Timeline`]); a new
//! presentation of the stream replaces its state on the next request; an ended one keeps the VOD
//! timeline read once from disk until retention retires the stream, and the state of a stream the
//! registry has forgotten is dropped when a request names it or before any new state is created.
//!
//! Playlists, blocking reloads included, are cached like DASH manifests (`public, max-age=1`: a
//! blocking reload's URL names the part it waits for, so a cached answer is still right); errors are
//! `no-store`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use tokio::time::Instant;

use super::{AppState, MANIFEST_CACHE, NOT_FOUND_CACHE};
use super::hls_source::{Answer, Settings, StreamHls, Wanted};
use crate::hls::reload;
use crate::media::SegmentType;
use crate::stream_id::StreamId;
use crate::streams::Registry;

/// How long a held request waits for a file change before checking again anyway (a missed wake-up,
/// or a stream whose watcher is not attached yet, costs at most this).
const RECHECK: Duration = Duration::from_millis(250);

/// Every stream's HLS state, created on the first playlist request. Holds only streams the registry
/// still knows (see the module doc).
#[derive(Default)]
pub struct HlsStreams {
    streams: Mutex<HashMap<StreamId, Arc<Mutex<Option<StreamHls>>>>>,
}

impl HlsStreams {
    /// The stream's state. Creating one first drops those of streams the registry has forgotten, so
    /// there are never more entries than streams the registry knew at the last creation.
    fn entry(&self, stream: &StreamId, registry: &Registry) -> Arc<Mutex<Option<StreamHls>>> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if !streams.contains_key(stream) {
            streams.retain(|id, _| registry.status(id).is_some());
        }
        Arc::clone(streams.entry(stream.clone()).or_default())
    }

    /// Drops a stream's state (its stream was retired).
    fn forget(&self, stream: &StreamId) {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).remove(stream);
    }
}

/// An error answer (404, 400, 503): never cached, the playlist may be there a moment later.
fn text(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").insert_header((header::CACHE_CONTROL, NOT_FOUND_CACHE)).body(body)
}

/// Which playlist a file name is; `None` for names that are not ours.
fn wanted(name: &str) -> Option<Wanted> {
    if name == crate::hls::MULTIVARIANT {
        return Some(Wanted::Multivariant);
    }
    let rep = name.strip_prefix("media_")?.strip_suffix(".m3u8")?;
    (!rep.is_empty() && rep.len() <= 4 && rep.bytes().all(|b| b.is_ascii_digit())).then(|| rep.parse().ok()).flatten().map(Wanted::Media)
}

/// Serves a playlist of `stream`.
pub async fn playlist(request: &HttpRequest, state: &AppState, stream: &StreamId, name: &str) -> HttpResponse {
    let Some(wanted) = wanted(name) else {
        return text(StatusCode::NOT_FOUND, format!("stream {stream} has no file {name:?}\n"));
    };
    let Some(status) = state.registry.status(stream) else {
        state.hls.forget(stream);
        return text(StatusCode::NOT_FOUND, format!("stream {stream} is not being published\n"));
    };
    if status.segment_type == Some(SegmentType::Webm) {
        return text(
            StatusCode::NOT_FOUND,
            format!("stream {stream} is VP8 video in WebM segments, which HLS cannot carry; play it as DASH (manifest.mpd)\n"),
        );
    }
    let reload = match reload::parse_query(request.query_string()) {
        Ok(reload) => reload.filter(|_| matches!(wanted, Wanted::Media(_))),
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("stream {stream}: bad blocking reload: {e}\n")),
    };
    let settings = Settings { segment_duration: state.config.segment_duration, fragment_duration: state.config.fragment_duration };
    let hold = state.config.segment_duration * 3 + Duration::from_secs(1);
    let deadline = Instant::now() + hold;
    let entry = state.hls.entry(stream, &state.registry);
    let dir = state.registry.stream_dir(stream);
    let mut changes = state.registry.file_changes(stream);
    // Each turn either answers or waits for a change (or RECHECK), and the deadline ends the loop.
    loop {
        let change = changes.as_mut().map(|changes| *changes.borrow_and_update());
        let Some(status) = state.registry.status(stream) else {
            state.hls.forget(stream);
            return text(StatusCode::NOT_FOUND, format!("stream {stream} is not being published\n"));
        };
        let (entry, dir, stream_name) = (Arc::clone(&entry), dir.clone(), stream.to_string());
        let answer = web::block(move || {
            let mut guard = entry.lock().unwrap_or_else(|p| p.into_inner());
            let hls = guard.get_or_insert_with(|| StreamHls::new(&status));
            hls.refresh_on_change(&dir, &status, change, settings.segment_duration);
            hls.answer(&stream_name, wanted, reload, status.low_latency, settings)
        })
        .await;
        match answer {
            Ok(Answer::Playlist(body)) => {
                return HttpResponse::Ok()
                    .content_type("application/vnd.apple.mpegurl")
                    .insert_header((header::CACHE_CONTROL, MANIFEST_CACHE))
                    .body(body);
            }
            Ok(Answer::TooFarAhead(message)) => return text(StatusCode::BAD_REQUEST, message),
            Ok(Answer::NotFound(message)) => return text(StatusCode::NOT_FOUND, message),
            Ok(Answer::Wait) => {}
            Err(e) => {
                log::error!("stream {stream}: rendering {name}: {e}");
                return text(StatusCode::INTERNAL_SERVER_ERROR, format!("stream {stream}: could not render {name}\n"));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("stream {stream}: {name} did not have what was asked for within {} s\n", hold.as_secs()),
            );
        }
        let wake = deadline.min(now + RECHECK);
        match &mut changes {
            Some(receiver) => {
                if let Ok(Err(_)) = tokio::time::timeout_at(wake, receiver.changed()).await {
                    // The watcher stopped: the presentation is ending; its final files are checked next.
                    changes = None;
                }
            }
            None => {
                tokio::time::sleep_until(wake).await;
                changes = state.registry.file_changes(stream);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_names() {
        assert_eq!(wanted("master.m3u8"), Some(Wanted::Multivariant));
        assert_eq!(wanted("media_1.m3u8"), Some(Wanted::Media(1)));
        assert_eq!(wanted("media_.m3u8"), None);
        assert_eq!(wanted("media_12345.m3u8"), None);
        assert_eq!(wanted("other.m3u8"), None);
    }

    #[test]
    fn states_of_retired_streams_are_dropped() {
        use crate::error_code::ErrorCode;
        use crate::streams::registry::Claim;
        let media = tempfile::tempdir().unwrap();
        let registry = Registry::new(media.path().to_path_buf(), 10);
        let hls = HlsStreams::default();
        let old = StreamId::parse("old").unwrap();
        let Ok(Claim::New(p, lease)) = registry.claim(&old, "video/mp4", crate::streams::status::Source::Browser, "t".into()) else { panic!() };
        hls.entry(&old, &registry);
        registry.fail(&p, ErrorCode::Internal, "gone".into());
        drop(lease);
        assert!(registry.retire(&old, &media.path().join("trash")).unwrap());
        let new = StreamId::parse("new").unwrap();
        let _claim = registry.claim(&new, "video/mp4", crate::streams::status::Source::Browser, "t".into()).unwrap();
        hls.entry(&new, &registry);
        let held: Vec<StreamId> = hls.streams.lock().unwrap().keys().cloned().collect();
        assert_eq!(held, [new]);
    }
}
