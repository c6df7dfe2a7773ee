//! `GET /dash/{stream}/{file}` (and `HEAD`): the DASH files of a stream.
//!
//! Only names the muxer writes are served ([`DashFile`]); anything else is a 404 before the file system
//! is touched, and symbolic links are never followed (neither a stream folder that is a link nor a
//! file that is one), so nothing outside the media folder can be reached.
//!
//! Finished files are answered from memory ([`crate::delivery::cache`]: no open, no thread-pool hop,
//! usually no system call), handed to actix-web in slices ([`crate::delivery::slices`]); a miss reads
//! the file once on the blocking pool and keeps it. A manifest being replaced (written as `.tmp`, then
//! renamed) is always served whole, old or new. Single byte ranges
//! (`bytes=A-B`, `A-`, `-N`) are honoured; of a segment still being written only `A-B` is (its end is
//! not known yet), the others get the whole segment. Caching: segments never change once written (their names
//! carry a per-presentation tag), so they are `immutable`; manifests are true for about a second; a
//! 404 is `no-store`, since the file may exist a moment later.
//!
//! Besides the muxer's files, a stream folder's URL space has `thumbnail.jpg` ([`super::thumbnail`])
//! and `recording.mp4` / `recording.webm` ([`super::recording`]). Every `GET` of a media segment counts
//! its client as watching ([`super::audience`]).
//!
//! While a stream is live, a segment at its live edge that is not finished yet is not a 404: a request
//! for it waits (about one segment duration at most) for the muxer to start it, then streams it as it
//! is written, from the one shared copy ([`crate::delivery::live`]); far-off numbers and other
//! presentations' names are 404 at once.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use actix_files::NamedFile;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use bytes::Bytes;
use tokio::time::Instant;

use super::{AppState, MANIFEST_CACHE, NOT_FOUND_CACHE};
use crate::delivery::cache::{self, Cached, FileCache, Identity};
use crate::delivery::folder::{Folder, Lookup};
use crate::delivery::live::LiveSegment;
use crate::delivery::range::{self, ByteRange};
use crate::delivery::slices::Slices;
use crate::delivery::{body, open_no_follow};
use crate::media::TrackKind;
use crate::media::files::DashFile;
use crate::media::recording::RecordingFormat;
use crate::metrics::Metrics;
use crate::stream_id::StreamId;

/// Segments, finished or in progress: any cache may keep them for good (an in-progress response that
/// can't be completed is aborted, so no cache ever stores a truncated one).
const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";

/// Added to a segment duration when waiting for a segment, for clock differences between players and us.
const WAIT_SLACK: Duration = Duration::from_secs(1);

/// How a request for one file is answered, with what it needs to know about it.
struct Request<'a> {
    http: &'a HttpRequest,
    state: &'a AppState,
    stream: StreamId,
    name: String,
    kind: DashFile,
    path: PathBuf,
}

/// `GET`/`HEAD /dash/{stream}/{file}`. Registered as the default service of a static `/dash` scope,
/// not as a `{stream}/{file}` pattern: actix-router matches such a pattern with a regex, which was a
/// tenth of the CPU of serving a small segment; the two names are split here instead.
pub async fn file(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, "GET, HEAD")).finish();
    }
    let Some((stream, name)) = split_path(request.match_info().unprocessed()) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, NOT_FOUND_CACHE))
            .body("no such file: stream files are /dash/{stream}/{file}\n");
    };
    let name = name.to_string();
    let stream = match StreamId::parse(stream) {
        Ok(stream) => stream,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let Some(kind) = DashFile::parse(&name) else {
        // Not a muxer file: one of the few livedash makes itself, or nothing.
        return match name.as_str() {
            "thumbnail.jpg" => super::thumbnail::serve(&state, &stream),
            "recording.mp4" => super::recording::serve(&request, &state, &stream, RecordingFormat::Mp4).await,
            "recording.webm" => super::recording::serve(&request, &state, &stream, RecordingFormat::Webm).await,
            _ => not_found(&stream, &name),
        };
    };
    if kind == DashFile::Playlist {
        return super::hls::playlist(&request, &state, &stream, &name).await;
    }
    let now = Instant::now();
    if matches!(kind, DashFile::Media { .. }) && request.method() == Method::GET {
        Metrics::add(&state.metrics.segment_requests, 1);
        let client = super::audience::client_of(&request, state.config.trust_forwarded);
        state.audience.segment_fetched(&stream, client, now);
    }
    let path = state.registry.stream_dir(&stream).join(&name);
    let request = Request { http: &request, state: &state, stream, name, kind, path };
    let cache = state.registry.media_watcher().cache();
    if let Some(cached) = cache.get(&request.path, now.into_std()) {
        return request.finished(cached);
    }
    // A live stream's segments are looked up in its live state first: a viewer at the live edge is
    // answered from the shared copy without a trip to the blocking pool.
    if kind.is_segment()
        && let Some(folder) = state.registry.live_folder(&request.stream)
    {
        return request.live(&folder).await;
    }
    match load(cache, request.path.clone()).await {
        Ok(Loaded::Memory(cached)) => request.finished(cached),
        Ok(Loaded::Large(file)) => request.large(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => not_found(&request.stream, &request.name),
        Err(e) => {
            log::error!("stream {}: reading {}: {e}", request.stream, request.name);
            text(StatusCode::INTERNAL_SERVER_ERROR, format!("stream {}: could not read {}\n", request.stream, request.name))
        }
    }
}

impl Request<'_> {
    /// A segment of a live stream: finished, being written (streamed as it grows), at the live edge
    /// (wait for it to start), or not coming (404 at once).
    async fn live(&self, folder: &Folder) -> HttpResponse {
        let deadline = Instant::now() + self.state.config.segment_duration + WAIT_SLACK;
        loop {
            match folder.lookup(&self.name) {
                Lookup::Live(segment) => return self.in_progress(segment),
                Lookup::Finished => return self.reload().await,
                Lookup::NotComing => return not_found(&self.stream, &self.name),
                Lookup::Wait(mut wake) => match tokio::time::timeout_at(deadline, wake.changed()).await {
                    Ok(_) => {}
                    Err(_) => return not_found(&self.stream, &self.name),
                },
            }
        }
    }

    /// The file is finished: serve it from the cache or disk.
    async fn reload(&self) -> HttpResponse {
        let cache = self.state.registry.media_watcher().cache();
        if let Some(cached) = cache.get(&self.path, std::time::Instant::now()) {
            return self.finished(cached);
        }
        match load(cache, self.path.clone()).await {
            Ok(Loaded::Memory(cached)) => self.finished(cached),
            Ok(Loaded::Large(file)) => self.large(file),
            Err(_) => not_found(&self.stream, &self.name),
        }
    }

    /// A finished file from memory: whole, a byte range of it, or "not modified".
    fn finished(&self, cached: Cached) -> HttpResponse {
        if self.http.headers().get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == cached.etag) {
            return self.file_headers(HttpResponse::NotModified(), cached.etag).finish();
        }
        let etag = cached.etag;
        let len = cached.bytes.len() as u64;
        let Some(range) = self.range() else {
            return self.file_headers(HttpResponse::Ok(), etag).body(Slices::new(cached.bytes));
        };
        match range.resolve(len) {
            Some((first, last)) => {
                let mut partial = self.file_headers(HttpResponse::PartialContent(), etag);
                partial.insert_header((header::CONTENT_RANGE, format!("bytes {first}-{last}/{len}")));
                partial.body(Slices::new(cached.bytes.slice(first as usize..=last as usize)))
            }
            None => HttpResponse::RangeNotSatisfiable()
                .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
                .insert_header((header::CACHE_CONTROL, NOT_FOUND_CACHE))
                .finish(),
        }
    }

    /// The headers of every answer from a finished file: static values and the version's `ETag`, so
    /// that none of them is parsed or copied per request.
    fn file_headers(&self, mut response: HttpResponseBuilder, etag: Bytes) -> HttpResponseBuilder {
        let cache = if self.kind.is_segment() { SEGMENT_CACHE } else { MANIFEST_CACHE };
        response
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(self.content_type())))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(cache)))
            .insert_header((header::ACCEPT_RANGES, HeaderValue::from_static("bytes")));
        // Made from `Identity::etag` (hex digits and quotes), so always a valid value.
        if let Ok(etag) = HeaderValue::from_maybe_shared(etag) {
            response.insert_header((header::ETAG, etag));
        }
        response
    }

    /// A file too large to keep in memory, through actix-files (ranges, validators).
    fn large(&self, file: std::fs::File) -> HttpResponse {
        let named = match NamedFile::from_file(file, self.path.clone()) {
            Ok(named) => named,
            Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        };
        let mut response = named
            .set_content_type(self.content_type().parse().expect("static MIME types parse"))
            .disable_content_disposition()
            .into_response(self.http);
        let cache = if self.kind.is_segment() { SEGMENT_CACHE } else { MANIFEST_CACHE };
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        response
    }

    /// A segment being written, streamed from the shared copy as the muxer writes it: a bounded
    /// `Range` (`bytes=A-B`) is `206` with an unknown complete length (`bytes A-B/*`); anything else is
    /// the whole segment with `200`.
    fn in_progress(&self, segment: std::sync::Arc<LiveSegment>) -> HttpResponse {
        let (start, last, mut response) = match self.range() {
            Some(ByteRange::From { start, end: Some(end) }) => {
                let mut partial = HttpResponse::PartialContent();
                partial.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/*")));
                (start, Some(end), partial)
            }
            // `bytes=A-` and `bytes=-N` of a segment whose end is not written yet: a 206 must name its
            // last byte (RFC 9110 §14.4 allows `*` only for the complete length), and answering with the
            // bytes written so far would end the response before the segment does, so a player would
            // have to ask again and lose the low latency. A server may ignore `Range` (§14.2): the whole
            // segment, streamed from byte 0 as it is written, is the conforming answer that still
            // arrives as the muxer writes it; the client sees 200 and knows it got everything.
            Some(ByteRange::From { end: None, .. } | ByteRange::Suffix(_)) | None => (0, None, HttpResponse::Ok()),
        };
        response
            .content_type(self.content_type())
            .insert_header((header::CACHE_CONTROL, SEGMENT_CACHE))
            .insert_header((header::ACCEPT_RANGES, "bytes"));
        if self.http.method() == Method::HEAD {
            return response.streaming(futures_util::stream::empty::<io::Result<Bytes>>());
        }
        Metrics::add(&self.state.metrics.in_progress_segments_served, 1);
        // A segment lasts about `segment` but ends on a keyframe, and while its publisher is away (up
        // to the reconnect grace) it stays open: the response is aborted only past all of that.
        let config = &self.state.config;
        let deadline = Instant::now() + config.segment_duration * 4 + config.reconnect_grace + WAIT_SLACK;
        let label = format!("stream {}: {}", self.stream, self.name);
        response.streaming(body::stream(segment, start, last, deadline, label))
    }

    /// The single byte range asked for, if any.
    fn range(&self) -> Option<ByteRange> {
        self.http.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(range::parse)
    }

    /// WebM segments of an audio track are `audio/webm`; the registry knows which representation is audio.
    fn content_type(&self) -> &'static str {
        let audio = match self.kind {
            DashFile::Init { webm: true, rep } | DashFile::Media { webm: true, rep, .. } => self
                .state
                .registry
                .status(&self.stream)
                .and_then(|status| status.tracks.get(rep as usize).map(|t| t.kind == TrackKind::Audio))
                .unwrap_or(false),
            _ => false,
        };
        self.kind.content_type(audio)
    }
}

/// A file read from disk: in memory (and now in the cache), or too large to keep.
enum Loaded {
    Memory(Cached),
    Large(std::fs::File),
}

/// Opens `path` without following links and, if it is small enough, reads it into the cache; on the
/// blocking pool (a miss is the only time a request touches file contents).
async fn load(cache: &std::sync::Arc<FileCache>, path: PathBuf) -> io::Result<Loaded> {
    let cache = std::sync::Arc::clone(cache);
    web::block(move || {
        let mut file = open_no_follow(&path)?;
        let identity = Identity::of(&file.metadata()?);
        if identity.size() > cache::MAX_FILE_BYTES {
            return Ok(Loaded::Large(file));
        }
        let mut contents = Vec::with_capacity(identity.size() as usize);
        io::Read::read_to_end(&mut file, &mut contents)?;
        if contents.len() as u64 != identity.size() {
            // Changed while we read (never for the muxer's files): serve what we read, keep nothing.
            return Ok(Loaded::Memory(Cached::new(Bytes::from(contents), identity)));
        }
        let bytes = Bytes::from(contents);
        cache.insert(path, bytes.clone(), identity);
        Ok(Loaded::Memory(Cached::new(bytes, identity)))
    })
    .await
    .map_err(io::Error::other)?
}

fn not_found(stream: &StreamId, name: &str) -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, NOT_FOUND_CACHE))
        .body(format!("stream {stream} has no file {name:?} (yet)\n"))
}

fn text(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(body)
}

/// `/{stream}/{file}` (what follows `/dash`) as its two names; `None` for any other shape.
fn split_path(rest: &str) -> Option<(&str, &str)> {
    let (stream, file) = rest.strip_prefix('/')?.split_once('/')?;
    (!stream.is_empty() && !file.is_empty() && !file.contains('/')).then_some((stream, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dash_path_is_a_stream_and_a_file_name() {
        assert_eq!(split_path("/live/manifest.mpd"), Some(("live", "manifest.mpd")));
        for bad in ["", "/", "/live", "/live/", "//manifest.mpd", "/live/a/b.m4s", "live/manifest.mpd"] {
            assert_eq!(split_path(bad), None, "{bad:?}");
        }
    }
}
