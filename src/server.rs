//! Wiring: the registry, metrics and ingest context shared by every handler, and the actix-web server
//! on `--bind`. The address actually bound is logged (`listening on http://...`), which is how a port
//! of 0 becomes known.

use std::sync::Arc;

use actix_web::middleware::Logger;
use actix_web::{App, HttpServer, web};

use crate::config::Config;
use crate::http::{self, AppState};
use crate::ingest::session::IngestContext;
use crate::media;
use crate::metrics::Metrics;
use crate::streams::Registry;

/// Runs the server until it is stopped.
pub async fn run(config: Config) -> std::io::Result<()> {
    media::init();
    std::fs::create_dir_all(&config.media_dir).map_err(|e| {
        std::io::Error::new(e.kind(), format!("creating the media folder {}: {e}", config.media_dir.display()))
    })?;
    let registry = Registry::new(config.media_dir.clone());
    let metrics = Arc::new(Metrics::default());
    let ingest = Arc::new(IngestContext {
        registry: Arc::clone(&registry),
        metrics: Arc::clone(&metrics),
        max_message_bytes: config.max_message_bytes,
    });
    let bind = config.bind;
    let publisher_page = http::pages::render_publisher_page(&config);
    let state = web::Data::new(AppState { config, registry, metrics, ingest, publisher_page });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(http::cors())
            .wrap(request_log())
            .configure(http::routes)
    })
    .bind(bind)?;
    for address in server.addrs() {
        log::info!("listening on http://{address}");
    }
    server.run().await
}

/// Request log without query strings: a publish token travels as `?token=` and must never be logged.
fn request_log() -> Logger {
    Logger::new(r#"%a "%{method}xi %U" %s %b %Dms"#).custom_request_replace("method", |request| request.method().to_string())
}
