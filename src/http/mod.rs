//! http — everything actix-web serves, on one port:
//! pages ([`pages`]: `/`, `/watch/{stream}`, `/assets/...`), the WebSockets ([`sockets`]:
//! `/ws/publish/{stream}`, `/ws/watch/{stream}`), the DASH/HLS files ([`dash`]: `/dash/{stream}/{file}`, its playlists rendered by [`hls`])
//! and the small API ([`api`]: `/time`, `/healthz`, `/metrics`, `/api/streams`). Any origin may GET
//! (CORS), with `Date` exposed for players' clock sync.

pub mod api;
pub mod dash;
pub mod hls;
mod hls_source;
pub mod in_progress;
pub mod pages;
pub mod sockets;

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::web;

use crate::config::Config;
use crate::ingest::session::IngestContext;
use crate::metrics::Metrics;
use crate::streams::Registry;

/// Shared by every handler.
pub struct AppState {
    pub config: Config,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub ingest: Arc<IngestContext>,
    /// `GET /` with this server's settings filled in.
    pub publisher_page: String,
    /// The streams' HLS playlists, followed from their folders.
    pub hls: hls::HlsStreams,
}

/// Registers every route of the contract.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::publisher))
        .route("/watch/{stream}", web::get().to(pages::viewer))
        .route("/assets/{file}", web::get().to(pages::asset))
        .route("/ws/publish/{stream}", web::get().to(sockets::publish))
        .route("/ws/watch/{stream}", web::get().to(sockets::watch))
        .route("/dash/{stream}/{file}", web::get().to(dash::file))
        .route("/time", web::get().to(api::time))
        .route("/healthz", web::get().to(api::healthz))
        .route("/metrics", web::get().to(api::metrics))
        .route("/api/streams", web::get().to(api::streams));
}

/// CORS: any origin may GET; players need `Date` for clock sync.
pub fn cors() -> Cors {
    Cors::default()
        .allow_any_origin()
        .allowed_methods(["GET", "HEAD"])
        .allow_any_header()
        .expose_headers(["Date", "Content-Length", "Content-Type"])
        .max_age(86400)
}
