//! `GET /dash/{stream}/recording.mp4` (and `recording.webm` for VP8 streams): a finished stream's
//! recording as one file to download (`Content-Disposition: attachment; filename="<stream>.mp4"`),
//! with `Range` and validators (actix-files).
//!
//! The file is made by [`crate::media::recording`] on the blocking pool at the first request and kept
//! in the stream's folder (so `--keep-recordings` counts and removes it with the rest of the
//! recording); later requests are served from it. Requests arriving while it is being made wait for
//! that one remux rather than starting their own. A live stream gets 409 and a stream without a
//! recording 404, each with a sentence; asking for the other container (`.mp4` of a VP8 stream, `.webm`
//! of the others) gets a 404 that names the right URL.

use std::hash::BuildHasher;
use std::io;
use std::time::Instant;

use actix_files::NamedFile;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::{AppState, NOT_FOUND_CACHE};
use crate::delivery::open_no_follow;
use crate::media::recording::{self, RecordingFormat};
use crate::stream_id::StreamId;
use crate::streams::StreamState;

/// Locks that serialise the making of recordings: a stream's requests always take the same one.
/// Streams sharing a lock only wait for each other's first request; 16 keeps that rare.
const LOCKS: usize = 16;

/// Who is making which recording right now.
#[derive(Debug, Default)]
pub struct Recordings {
    locks: [tokio::sync::Mutex<()>; LOCKS],
    hasher: std::collections::hash_map::RandomState,
}

impl Recordings {
    fn lock_for(&self, stream: &StreamId) -> &tokio::sync::Mutex<()> {
        &self.locks[self.hasher.hash_one(stream) as usize % LOCKS]
    }
}

/// The URL of a finished stream's recording, in the container its segments allow.
pub fn url(stream: &StreamId, format: RecordingFormat) -> String {
    format!("/dash/{stream}/recording.{}", format.extension())
}

/// Answers `recording.mp4` / `recording.webm` (`asked`).
pub async fn serve(request: &HttpRequest, state: &AppState, stream: &StreamId, asked: RecordingFormat) -> HttpResponse {
    let Some(status) = state.registry.status(stream) else {
        return sentence(StatusCode::NOT_FOUND, format!("stream {stream} has no recording on this server"));
    };
    match &status.state {
        StreamState::Starting | StreamState::Live => {
            return sentence(
                StatusCode::CONFLICT,
                format!("stream {stream} is still live; its recording can be downloaded once it has ended"),
            );
        }
        StreamState::Failed { message, .. } => {
            return sentence(StatusCode::NOT_FOUND, format!("stream {stream} failed, so there is no recording to download ({message})"));
        }
        StreamState::Ended { .. } => {}
    }
    let Some(format) = status.segment_type.map(RecordingFormat::of) else {
        return sentence(StatusCode::NOT_FOUND, format!("stream {stream} ended before any media was packaged; there is no recording"));
    };
    if format != asked {
        let why = match format {
            RecordingFormat::Webm => "it is VP8, which MP4 can't hold",
            RecordingFormat::Mp4 => "it is not VP8, so it downloads as MP4",
        };
        return sentence(
            StatusCode::NOT_FOUND,
            format!("stream {stream} is recorded as {} ({why}): download {}", format.extension().to_uppercase(), url(stream, format)),
        );
    }
    let dir = state.registry.stream_dir(stream);
    let path = dir.join(format.cached_name(&status.tag));
    let file = {
        let _making = state.recordings.lock_for(stream).lock().await;
        match open(path.clone()).await {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (id, tag) = (stream.clone(), status.tag.clone());
                let started = Instant::now();
                match web::block(move || recording::remux(&id, &dir, &tag, format)).await {
                    Ok(Ok(made)) => {
                        log::info!("stream {stream}: made {} for download in {:.2} s", made.display(), started.elapsed().as_secs_f64());
                        open(made).await
                    }
                    Ok(Err(e)) => Err(io::Error::other(e)),
                    Err(e) => Err(io::Error::other(e)),
                }
            }
            Err(e) => Err(e),
        }
    };
    let file = match file {
        Ok(file) => file,
        Err(e) => {
            log::error!("stream {stream}: could not make its recording for download: {e}");
            return sentence(StatusCode::INTERNAL_SERVER_ERROR, format!("stream {stream}: the recording could not be made into one file"));
        }
    };
    let named = match NamedFile::from_file(file, &path) {
        Ok(named) => named,
        Err(e) => return sentence(StatusCode::INTERNAL_SERVER_ERROR, format!("stream {stream}: {e}")),
    };
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(format!("{stream}.{}", format.extension()))],
    };
    let mut response = named
        .set_content_type(format.content_type().parse().expect("static MIME types parse"))
        .set_content_disposition(disposition)
        .into_response(request);
    // The stream id may be published again, which makes a new recording: check before reusing.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Opens the cached file on the blocking pool (never through a link).
async fn open(path: std::path::PathBuf) -> io::Result<std::fs::File> {
    web::block(move || open_no_follow(&path)).await.map_err(io::Error::other)?
}

fn sentence(status: StatusCode, text: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, NOT_FOUND_CACHE))
        .body(format!("{text}\n"))
}
