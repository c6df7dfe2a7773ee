//! Wiring: the registry, metrics and ingest context shared by every handler, and the actix-web server
//! on `--bind`. The address actually bound is logged (`listening on http://...`), which is how a port
//! of 0 becomes known.
//!
//! SIGTERM or SIGINT stops the server gracefully: no new publishers, every live stream finalised (its
//! manifest static), then the listener closes and the process exits 0 — within about two seconds.

use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::Logger;
use actix_web::{App, HttpServer, web};
use tokio::signal::unix::{SignalKind, signal};

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
    let registry = Registry::new(config.media_dir.clone(), config.max_streams);
    let metrics = Arc::new(Metrics::default());
    let ingest = Arc::new(IngestContext {
        registry: Arc::clone(&registry),
        metrics: Arc::clone(&metrics),
        max_message_bytes: config.max_message_bytes,
        max_stream_bytes: config.max_stream_bytes,
        idle_timeout: config.idle_timeout,
        reconnect_grace: config.reconnect_grace,
    });
    let bind = config.bind;
    let publisher_page = http::pages::render_publisher_page(&config);
    let state = web::Data::new(AppState { config, registry: Arc::clone(&registry), metrics, ingest, publisher_page, hls: Default::default() });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(http::cors())
            .wrap(request_log())
            .configure(http::routes)
    })
    .disable_signals()
    .shutdown_timeout(1)
    .bind(bind)?;
    for address in server.addrs() {
        log::info!("listening on http://{address}");
    }
    let server = server.run();
    let handle = server.handle();
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    actix_web::rt::spawn(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        log::info!("{name}: finalising {} live streams, then stopping", registry.active_count());
        finalise_all(&registry).await;
        handle.stop(true).await;
    });
    server.await?;
    log::info!("stopped");
    Ok(())
}

/// How long shutdown waits for live streams to be finalised (trailers written, manifests static).
const FINALISE_ON_SHUTDOWN: Duration = Duration::from_millis(1500);

/// Has every presentation finalised and waits for it, bounded by [`FINALISE_ON_SHUTDOWN`].
async fn finalise_all(registry: &Registry) {
    let mut changes = registry.subscribe();
    registry.begin_shutdown();
    let deadline = tokio::time::Instant::now() + FINALISE_ON_SHUTDOWN;
    while registry.active_count() > 0 {
        tokio::select! {
            _ = changes.recv() => {}
            _ = tokio::time::sleep_until(deadline) => {
                log::warn!("{} streams were not finalised in time", registry.active_count());
                return;
            }
        }
    }
}

/// Request log without query strings: a publish token travels as `?token=` and must never be logged.
fn request_log() -> Logger {
    Logger::new(r#"%a "%{method}xi %U" %s %b %Dms"#).custom_request_replace("method", |request| request.method().to_string())
}
