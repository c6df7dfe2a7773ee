//! `GET /dash/{stream}/{file}`: the DASH and HLS files of a stream.
//!
//! Only names the muxer writes are served ([`DashFile`]); anything else is a 404 before the file system
//! is touched, and symbolic links are never followed (neither a stream folder that is a link nor a
//! file that is one), so nothing outside the media folder can be reached. Files are opened first and
//! their size taken from the open handle, so a manifest being replaced (written as `.tmp`, then
//! renamed) is always served whole, old or new. Manifests and
//! playlists are `no-cache`; segments never change once written, so they are cached as immutable
//! (their names carry a per-presentation tag, so a reused stream id never hits an old segment).
//!
//! While a stream is live, a segment that is not finished yet is not a 404: a request for it waits
//! (about one segment duration at most) for the muxer to start it, then streams it as it is written
//! ([`super::in_progress`]). That is what lets a low-latency player start a segment early.

use std::fs::File;
use std::io;
use std::path::PathBuf;

use actix_files::NamedFile;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::in_progress::{self, Found};
use crate::media::TrackKind;
use crate::media::files::DashFile;
use crate::metrics::Metrics;
use crate::stream_id::StreamId;

const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";
const MANIFEST_CACHE: &str = "no-cache";

fn text(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(body)
}

pub async fn file(request: HttpRequest, path: web::Path<(String, String)>, state: web::Data<AppState>) -> HttpResponse {
    let (stream, name) = path.into_inner();
    let stream = match StreamId::parse(&stream) {
        Ok(stream) => stream,
        Err(e) => return text(actix_web::http::StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let Some(kind) = DashFile::parse(&name) else {
        return text(actix_web::http::StatusCode::NOT_FOUND, format!("stream {stream} has no file {name:?}\n"));
    };
    if kind == DashFile::Playlist {
        return super::hls::playlist(&request, &state, &stream, &name).await;
    }
    if matches!(kind, DashFile::Media { .. }) {
        Metrics::add(&state.metrics.segment_requests, 1);
    }
    let audio = is_audio_representation(&state, &stream, kind);
    let path = state.registry.stream_dir(&stream).join(&name);
    match open(path.clone()).await {
        Ok((file, path)) => serve(&request, file, path, kind, audio),
        Err(e) if e.kind() == io::ErrorKind::NotFound => not_finished(&request, &state, &stream, &name, path, kind, audio).await,
        Err(e) => {
            log::error!("stream {stream}: reading {name}: {e}");
            text(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, format!("stream {stream}: could not read {name}\n"))
        }
    }
}

/// A segment of a live stream that isn't finished: wait for it to start, then stream it as it grows.
async fn not_finished(
    request: &HttpRequest,
    state: &AppState,
    stream: &StreamId,
    name: &str,
    path: PathBuf,
    kind: DashFile,
    audio: bool,
) -> HttpResponse {
    let not_found = || text(actix_web::http::StatusCode::NOT_FOUND, format!("stream {stream} has no file {name} (yet)\n"));
    let changes = match (kind.is_segment(), state.registry.file_changes(stream)) {
        (true, Some(changes)) => changes,
        _ => return not_found(),
    };
    let segment = state.config.segment_duration;
    let wait_deadline = tokio::time::Instant::now() + segment + WAIT_SLACK;
    match in_progress::wait_for_segment(&path, changes.clone(), wait_deadline).await {
        Found::Finished => match open(path).await {
            Ok((file, path)) => serve(request, file, path, kind, audio),
            Err(_) => not_found(),
        },
        Found::InProgress(mut file) => {
            let part_deadline = tokio::time::Instant::now() + segment * 2 + WAIT_SLACK;
            if let Some(part) = super::hls::part_of_growing_segment(request, &mut file, &path, changes.clone(), part_deadline).await {
                return part;
            }
            if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                return match open(path).await {
                    Ok((file, path)) => serve(request, file, path, kind, audio),
                    Err(_) => not_found(),
                };
            }
            Metrics::add(&state.metrics.in_progress_segments_served, 1);
            // A segment lasts about `segment` but ends on a keyframe, and while its publisher is away
            // (up to the reconnect grace) it stays open: ending the response sooner would hand the
            // player a cut-off segment as if it were complete.
            let deadline = tokio::time::Instant::now() + segment * 4 + state.config.reconnect_grace + WAIT_SLACK;
            HttpResponse::Ok()
                .content_type(kind.content_type(audio))
                // Not `immutable`: if this response is cut short, no cache may keep it.
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .streaming(in_progress::stream_growing(file, path, changes, deadline))
        }
        Found::Missing => not_found(),
    }
}

/// Added to a segment duration when waiting for a segment, for clock differences between players and us.
const WAIT_SLACK: std::time::Duration = std::time::Duration::from_secs(1);

/// Opens a file off the async executor, without following links.
async fn open(path: PathBuf) -> io::Result<(File, PathBuf)> {
    web::block(move || open_no_follow(&path).map(|file| (file, path))).await.map_err(io::Error::other)?
}

/// Opens `path` (a file in a stream folder) for reading, refusing symbolic links: the file must not be
/// one (`O_NOFOLLOW`) and neither may its folder be. A refused link reads as "not found".
pub fn open_no_follow(path: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let folder = path.parent().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    if !std::fs::symlink_metadata(folder)?.is_dir() {
        return Err(io::ErrorKind::NotFound.into());
    }
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) { io::ErrorKind::NotFound.into() } else { e }
    })?;
    if !file.metadata()?.is_file() {
        return Err(io::ErrorKind::NotFound.into());
    }
    Ok(file)
}

/// A finished file, through actix-files (ranges, validators, HEAD).
fn serve(request: &HttpRequest, file: File, path: PathBuf, kind: DashFile, audio: bool) -> HttpResponse {
    let named = match NamedFile::from_file(file, path) {
        Ok(named) => named,
        Err(e) => return text(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    };
    let mut response = named
        .set_content_type(kind.content_type(audio).parse().expect("static MIME types parse"))
        .disable_content_disposition()
        .into_response(request);
    let cache = if kind.is_segment() { SEGMENT_CACHE } else { MANIFEST_CACHE };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// WebM segments of an audio track are `audio/webm`; the registry knows which representation is audio.
fn is_audio_representation(state: &AppState, stream: &StreamId, kind: DashFile) -> bool {
    let Some(rep) = kind.representation() else { return false };
    state
        .registry
        .status(stream)
        .and_then(|status| status.tracks.get(rep as usize).map(|t| t.kind == TrackKind::Audio))
        .unwrap_or(false)
}
