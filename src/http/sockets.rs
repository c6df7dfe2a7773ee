//! The WebSocket routes: `/ws/publish/{stream}` hands the socket to the WebSocket ingest;
//! `/ws/watch/{stream}` tells a viewer `manifest_ready` / `ended` / `error` for the stream's current
//! presentation (and each later one), without ingest.
//!
//! A publisher is checked before the upgrade: its page's `Origin` ([`crate::auth::origin`], 403 when
//! refused) and its `?token=` ([`crate::auth::PublishRights`], `unauthorized`); the admission webhook
//! runs in the session, after `start`. A viewer needs no rights (what it is told is public), but takes
//! a slot ([`viewer_slots`]: 503 / 429 when none is left) and is pinged every
//! `--viewer-ping-interval`: one that doesn't answer by the next ping is closed.
//!
//! `HEAD` on either route is answered as a `GET` without `Upgrade` is (after the same checks): a
//! `HEAD` never upgrades, so the handshake's own 400 rather than a 405 for a route that does take `GET`.

mod viewer_slots;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, MissedTickBehavior};

use super::AppState;
use crate::auth::host::{RequestFacts, ServerOrigin, client_address, server_origin};
use crate::auth::origin::publisher_origin_allowed;
use crate::auth::{Admission, PublishRights, unix_now};
use crate::config::Config;
use crate::error_code::ErrorCode;
use crate::ingest::websocket;
use crate::media::DashSettings;
use crate::metrics::Metrics;
use crate::protocol::ServerMessage;
use crate::stream_id::StreamId;
use crate::streams::EventCursor;
use super::audience::WatchingSocket;
pub use viewer_slots::{SlotRefused, ViewerSlot, ViewerSlots};

/// Viewers send nothing but pings and close frames.
const VIEWER_MAX_FRAME: usize = 4096;

#[derive(Deserialize)]
pub struct PublishQuery {
    token: Option<String>,
}

pub(super) fn text(mut response: actix_web::HttpResponseBuilder, body: String) -> HttpResponse {
    response.content_type("text/plain; charset=utf-8").body(body)
}

/// The headers and addresses [`crate::auth::host`] decides from.
pub(super) fn request_facts(request: &HttpRequest) -> RequestFacts<'_> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    RequestFacts {
        host: header("host").or_else(|| request.uri().authority().map(|a| a.as_str())),
        forwarded: header("forwarded"),
        x_forwarded_host: header("x-forwarded-host"),
        x_forwarded_proto: header("x-forwarded-proto"),
        x_forwarded_for: header("x-forwarded-for"),
        peer: request.peer_addr(),
        local: Some(request.app_config().local_addr()),
    }
}

/// This server's origin: `--public-url`'s when set, else the one the request reached.
pub(super) fn own_origin(config: &Config, facts: &RequestFacts) -> Option<ServerOrigin> {
    match &config.public_url {
        Some(url) => ServerOrigin::of_url(url),
        None => server_origin(facts, config.trust_forwarded),
    }
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
        Err(e) => return Ok(text(HttpResponse::BadRequest(), e.to_string())),
    };
    let config = &state.config;
    let facts = request_facts(&request);
    // A header that is not text is no origin this server allows.
    let origin = request.headers().get("origin").map(|v| v.to_str().unwrap_or("(not text)"));
    if !publisher_origin_allowed(origin, own_origin(config, &facts).as_ref(), &config.allowed_origins) {
        Metrics::add(&state.metrics.publishes_refused, 1);
        let origin = origin.unwrap_or_default();
        log::info!("stream {stream}: publish refused, the page's origin {origin:?} is not allowed");
        let sentence = format!(
            "stream {stream}: publishing from a page at {origin:?} is not allowed by this server (unauthorized); \
             its operator can add the origin to --allowed-origins\n"
        );
        return Ok(text(HttpResponse::Forbidden(), sentence));
    }
    let rights = PublishRights {
        token: config.publish_token.as_deref(),
        secret: config.publish_secret.as_deref().map(str::as_bytes),
    };
    let refusal = rights.check(&stream, query.token.as_deref(), unix_now()).err();
    let is_upgrade = request.headers().get("upgrade").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if let (Some(refusal), false) = (&refusal, is_upgrade) {
        return Ok(text(HttpResponse::Unauthorized(), format!("stream {stream}: {refusal}\n")));
    }
    let (response, mut socket, messages) = handshake(&request, body)?;
    if let Some(refusal) = refusal {
        // Browsers can't read a refused handshake's status, so say it on the socket.
        Metrics::add(&state.metrics.publishes_refused, 1);
        // The sentence tells the publisher how to pass a token; the log says only what was wrong.
        let why = refusal.log_reason();
        log::info!("stream {stream}: publish refused: {why}");
        actix_web::rt::spawn(async move {
            let message = refusal.to_string();
            let _ = socket.text(ServerMessage::Error { code: ErrorCode::Unauthorized, message }.to_json()).await;
            let reason = CloseReason { code: CloseCode::Policy, description: Some("unauthorized".into()) };
            let _ = socket.close(Some(reason)).await;
        });
        return Ok(response);
    }
    let max = state.ingest.max_message_bytes;
    let messages = messages.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    let settings = dash_settings(config, &facts);
    let admission = Admission {
        webhook: config.auth_webhook.clone(),
        remote_addr: client_address(&facts, config.trust_forwarded),
        token: query.into_inner().token,
    };
    actix_web::rt::spawn(websocket::run(Arc::clone(&state.ingest), stream, settings, admission, socket, messages));
    Ok(response)
}

/// Upgrades a `GET` to a WebSocket; a `HEAD` gets what a `GET` without `Upgrade` gets (400).
fn handshake(
    request: &HttpRequest,
    body: web::Payload,
) -> actix_web::Result<(HttpResponse, Session, actix_ws::MessageStream)> {
    if request.method() == actix_web::http::Method::HEAD {
        return Err(actix_http::ws::HandshakeError::NoWebsocketUpgrade.into());
    }
    actix_ws::handle(request, body)
}

/// The packager settings for a publish request: `/time` on this server as the clock for players, from
/// `--public-url` when set, otherwise from the host the publisher reached (validated, see
/// [`crate::auth::host`]).
pub(super) fn dash_settings(config: &Config, facts: &RequestFacts) -> DashSettings {
    let base = match &config.public_url {
        Some(url) => Some(url.trim_end_matches('/').to_string()),
        None => server_origin(facts, config.trust_forwarded).map(|origin| origin.to_string()),
    };
    DashSettings {
        segment_duration: config.segment_duration,
        low_latency: config.latency == crate::config::Latency::Low,
        fragment_duration: config.fragment_duration,
        target_latency: config.target_latency,
        utc_timing_url: base.map(|base| format!("{base}/time")),
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
        Err(e) => return Ok(text(HttpResponse::BadRequest(), e.to_string())),
    };
    let address = client_address(&request_facts(&request), state.config.trust_forwarded);
    let slot = match state.viewer_slots.take(address) {
        Ok(slot) => slot,
        Err(refused) => {
            log::info!("stream {stream}: viewer refused: {refused}");
            let status = match refused {
                SlotRefused::ServerFull(_) => HttpResponse::ServiceUnavailable(),
                SlotRefused::AddressFull(_) => HttpResponse::TooManyRequests(),
            };
            return Ok(text(status, format!("{refused}\n")));
        }
    };
    let (response, socket, messages) = handshake(&request, body)?;
    let messages = messages.max_frame_size(VIEWER_MAX_FRAME).aggregate_continuations();
    let watching = state.audience.socket_opened(&stream, address);
    actix_web::rt::spawn(follow(state.into_inner(), stream, (slot, watching), socket, messages));
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

/// A viewer's session: the stream's events, for as long as the viewer stays and answers pings.
async fn follow(
    state: Arc<AppState>,
    stream: StreamId,
    // Held while the socket is open: its slot, and its place in the stream's viewer count.
    _held: (ViewerSlot, WatchingSocket),
    mut socket: Session,
    mut messages: actix_ws::AggregatedMessageStream,
) {
    let _count = ViewerCount::new(&state.metrics);
    let mut changes = state.registry.subscribe();
    let mut cursor = EventCursor::viewer();
    let every = state.config.viewer_ping_interval;
    let mut heartbeat = tokio::time::interval_at(Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Anything from the viewer since the last ping (a pong, usually) shows it is still there.
    let mut answered = true;
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
                message = messages.recv() => {
                    answered = true;
                    match message {
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if socket.pong(&bytes).await.is_err() {
                                return;
                            }
                        }
                        Some(Ok(AggregatedMessage::Close(_))) | None | Some(Err(_)) => return,
                        Some(Ok(_)) => {}
                    }
                }
                _ = heartbeat.tick() => {
                    if !answered {
                        log::info!("stream {stream}: closing a viewer socket that did not answer a ping within {every:?}");
                        let reason = CloseReason { code: CloseCode::Policy, description: Some("ping unanswered".into()) };
                        let _ = socket.close(Some(reason)).await;
                        return;
                    }
                    answered = false;
                    if socket.ping(b"").await.is_err() {
                        return;
                    }
                }
                change = changes.recv() => match change {
                    Ok(id) if id != stream => {}
                    Ok(_) | Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }
}
