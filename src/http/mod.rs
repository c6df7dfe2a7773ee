//! http — everything actix-web serves, on one port:
//! pages ([`pages`]: `/`, `/watch/{stream}`, `/streams`, `/assets/...`), the WebSockets ([`sockets`]:
//! `/ws/publish/{stream}`, `/ws/watch/{stream}`), HTTP ingest ([`ingest`]: `PUT`/`POST /ingest/{stream}`),
//! the DASH/HLS files ([`dash`]: `/dash/{stream}/{file}`, its playlists rendered by [`hls`], the
//! publisher's [`thumbnail`] and the [`recording`] as one file) and the small API ([`api`]: `/time`,
//! `/healthz`, `/metrics`, `/api/streams[/{stream}]`, with each stream's [`audience`]). Every route answers
//! `HEAD` as it answers `GET` (CDNs, players and health checkers send it). Any origin may GET: every
//! response says `Access-Control-Allow-Origin: *`, whether or not the request had an `Origin`, and
//! never `Vary: Origin`, so one cached copy serves every site that embeds the player; `Date` is
//! exposed for players' clock sync.

pub mod api;
pub mod audience;
pub mod dash;
pub mod hls;
pub mod ingest;
mod hls_source;
pub mod pages;
pub mod recording;
pub mod sockets;
pub mod thumbnail;

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::middleware::DefaultHeaders;
use actix_web::{guard, web};

use crate::config::Config;
use crate::ingest::publish::IngestContext;
use crate::metrics::Metrics;
use crate::streams::Registry;

/// Manifests and playlists change with every segment or part (and a stream id may be published again):
/// a cache may reuse one for a second, which collapses a crowd's reloads without making players fall
/// behind.
const MANIFEST_CACHE: &str = "public, max-age=1";
/// A missing file may appear a moment later (and an error answer may change): no cache may remember it.
const NOT_FOUND_CACHE: &str = "no-store";

/// Shared by every handler.
pub struct AppState {
    pub config: Config,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub ingest: Arc<IngestContext>,
    /// `GET /` with this server's settings filled in.
    pub publisher_page: String,
    /// Open viewer sockets, bounded in total and per client address.
    pub viewer_slots: Arc<sockets::ViewerSlots>,
    /// The streams' HLS playlists, followed from their folders.
    pub hls: hls::HlsStreams,
    /// Who is watching which stream (viewer sockets and HTTP players).
    pub audience: Arc<audience::Audience>,
    /// Recordings being made into one file for download.
    pub recordings: recording::Recordings,
}

/// Registers every route of the contract.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // Media files first, under a static prefix: actix-web tries routes in order and matches each
    // pattern with a placeholder by a regex, so the route that takes almost every request neither pays
    // for the others nor for a regex of its own (`dash::file` splits the path).
    cfg.service(web::scope("/dash").default_service(web::to(dash::file)))
        .route("/", get_or_head().to(pages::publisher))
        .route("/watch/{stream}", get_or_head().to(pages::viewer))
        .route("/streams", get_or_head().to(pages::stream_list))
        .route("/assets/{file}", get_or_head().to(pages::asset))
        .route("/ws/publish/{stream}", get_or_head().to(sockets::publish))
        .route("/ws/watch/{stream}", get_or_head().to(sockets::watch))
        .route("/ingest/{stream}", web::route().guard(guard::Any(guard::Put()).or(guard::Post())).to(ingest::publish))
        .route("/time", get_or_head().to(api::time))
        .route("/healthz", get_or_head().to(api::healthz))
        .route("/metrics", get_or_head().to(api::metrics))
        .route("/api/streams", get_or_head().to(api::streams))
        .route("/api/streams/{stream}", get_or_head().to(api::stream));
}

/// A route for `GET` and `HEAD` (actix-web sends no body for `HEAD`, headers as for `GET`).
fn get_or_head() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// The headers exposed to pages of other origins: `Date` for players' clock sync, the rest for
/// players that read sizes and ranges.
const EXPOSED_HEADERS: [&str; 5] = ["Date", "Content-Length", "Content-Type", "Content-Range", "Accept-Ranges"];

/// CORS preflights and requests that carry an `Origin`: any origin, answered with `*`.
pub fn cors() -> Cors {
    Cors::default()
        .allow_any_origin()
        .send_wildcard()
        .disable_vary_header()
        .allowed_methods(["GET", "HEAD"])
        .allow_any_header()
        .expose_headers(EXPOSED_HEADERS)
        .max_age(86400)
}

/// The same CORS headers on every response, with or without `Origin`: a response cached from a
/// request without one must still work for a page that embeds the player.
pub fn public_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Access-Control-Allow-Origin", "*"))
        .add(("Access-Control-Expose-Headers", EXPOSED_HEADERS.join(", ")))
}
