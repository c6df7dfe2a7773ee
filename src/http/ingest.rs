//! `PUT`/`POST /ingest/{stream}`: publishing with a plain HTTP request (`ffmpeg -method PUT`,
//! `curl -T`, GStreamer's `souphttpclientsink`). `Content-Type` is the container's MIME type, as in
//! the WebSocket's `start`; the body is the recording, as long as the stream; the token comes in
//! `Authorization: Bearer …` or `?token=`. The same checks as the WebSocket run, in the same order:
//! stream id, page origin (when an `Origin` is sent), token, format, then the admission webhook.
//!
//! The answer comes when the presentation is finalised: 200 with the `ended` JSON, or the `error`
//! JSON with the status of its code (400, 401, 409 busy, 413, 415, 422 invalid data, 500).

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::sockets::{dash_settings, own_origin, request_facts};
use crate::auth::host::client_address;
use crate::auth::origin::publisher_origin_allowed;
use crate::auth::{Admission, PublishRights, unix_now};
use crate::error_code::ErrorCode;
use crate::ingest::publish::{Outcome, PublishRequest};
use crate::ingest::{self, IngestError};
use crate::media::RecorderFormat;
use crate::metrics::Metrics;
use crate::protocol::ServerMessage;
use crate::stream_id::StreamId;
use crate::streams::status::Source;

/// `?token=` on the ingest URL.
#[derive(serde::Deserialize)]
pub struct IngestQuery {
    token: Option<String>,
}

/// The HTTP status an error code is answered with.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::UnsupportedMedia => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::InvalidData => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::StreamBusy => StatusCode::CONFLICT,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        // HTTP ingest never resumes (a new request is a new recording); should the code reach here, the
        // recording it named is gone.
        ErrorCode::NotResumable => StatusCode::GONE,
    }
}

/// The `error` message as the answer, with its status.
fn error(code: ErrorCode, message: String) -> HttpResponse {
    HttpResponse::build(status_of(code)).content_type("application/json").body(ServerMessage::Error { code, message }.to_json())
}

/// The token: `Authorization: Bearer …` first, then `?token=`.
fn given_token(request: &HttpRequest, query: IngestQuery) -> Option<String> {
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")))
        .map(|(_, token)| token.trim().to_string());
    bearer.or(query.token)
}

pub async fn publish(
    request: HttpRequest,
    body: web::Payload,
    stream: web::Path<String>,
    query: web::Query<IngestQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let stream = match StreamId::parse(&stream) {
        Ok(stream) => stream,
        Err(e) => return error(ErrorCode::BadRequest, e.to_string()),
    };
    let config = &state.config;
    let facts = request_facts(&request);
    let refused = |state: &AppState, error: IngestError| {
        Metrics::add(&state.metrics.publishes_refused, 1);
        log::info!("{error}");
        self::error(error.code(), error.to_string())
    };
    let origin = request.headers().get("origin").map(|v| v.to_str().unwrap_or("(not text)"));
    if !publisher_origin_allowed(origin, own_origin(config, &facts).as_ref(), &config.allowed_origins) {
        let reason = format!("publishing from a page at {:?} is not allowed by this server", origin.unwrap_or_default());
        return refused(&state, IngestError::Refused { stream, code: ErrorCode::Unauthorized, reason });
    }
    let token = given_token(&request, query.into_inner());
    let rights = PublishRights {
        token: config.publish_token.as_deref(),
        secret: config.publish_secret.as_deref().map(str::as_bytes),
    };
    if let Err(refusal) = rights.check(&stream, token.as_deref(), unix_now()) {
        Metrics::add(&state.metrics.publishes_refused, 1);
        // The sentence tells the publisher how to pass a token; the log says only what was wrong.
        let why = refusal.log_reason();
        log::info!("stream {stream}: publish refused: {why}");
        return error(ErrorCode::Unauthorized, refusal.to_string());
    }
    let mime_type = request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let format = match RecorderFormat::parse(&mime_type) {
        Ok(format) => format,
        Err(source) => return refused(&state, IngestError::UnsupportedFormat { stream, source }),
    };
    let admission = Admission {
        webhook: config.auth_webhook.clone(),
        remote_addr: client_address(&facts, config.trust_forwarded),
        token,
    };
    let settings = dash_settings(config, &facts);
    let recorded_before = Duration::ZERO;
    let publish = PublishRequest { stream, format, mime_type, source: Source::Http, settings, admission, recorded_before };
    // Its own task: a client that vanishes drops this handler, but the publish must still end as a
    // vanished publisher's does.
    let (answer, outcome) = tokio::sync::oneshot::channel();
    let context = Arc::clone(&state.ingest);
    actix_web::rt::spawn(async move {
        let _ = answer.send(ingest::http::run(context, publish, body).await);
    });
    match outcome.await {
        Ok(Outcome::Ended { duration_seconds }) => {
            HttpResponse::Ok().content_type("application/json").body(ServerMessage::Ended { duration_seconds }.to_json())
        }
        Ok(Outcome::Error { code, message }) => error(code, message),
        // Nobody is left to read this.
        Ok(Outcome::Gone) | Err(_) => error(ErrorCode::BadRequest, "the request body broke off".to_string()),
    }
}
