//! Wiring: the registry, metrics and ingest context shared by every handler, and the actix-web server
//! on a listener bound to `--bind` ([`bind`]). The address actually bound is logged
//! (`listening on http://...`), which is how a port of 0 becomes known; the RTMP listener on
//! `--rtmp-bind` likewise (`listening on rtmp://...`, logged first).
//!
//! [`run`] serves until its `shutdown` future resolves (the binary passes [`signals`]: SIGTERM or
//! SIGINT; tests pass their own), then stops gracefully: no new publishers, every live stream
//! finalised (its manifest static), and every packager thread and publisher session awaited, up to
//! [`SHUTDOWN_DEADLINE`], logging what did not end in time; then the listener closes.
//!
//! At start-up, presentations an earlier run left unfinished are retired ([`media::leftovers`]), so
//! they are never served as live.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::{Condition, Logger};
use actix_web::{App, HttpServer, web};
use tokio::signal::unix::{SignalKind, signal};

use crate::config::Config;
use crate::http::{self, AppState};
use crate::ingest::publish::IngestContext;
use crate::ingest::rtmp::{self, RtmpContext};
use crate::media;
use crate::metrics::Metrics;
use crate::streams::Registry;

/// How long shutdown waits for packagers to finish and publishers to be told: under the 10 s after
/// which `docker stop` and most service managers kill a process. A finalise takes milliseconds; this
/// is for a disk that hangs.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(8);

/// Binds `--bind`.
pub fn bind(config: &Config) -> std::io::Result<TcpListener> {
    TcpListener::bind(config.bind)
        .map_err(|e| std::io::Error::new(e.kind(), format!("listening on {}: {e}", config.bind)))
}

/// Serves on `listener` until `shutdown` resolves, then stops gracefully (see the module comment).
pub async fn run(mut config: Config, listener: TcpListener, shutdown: impl Future<Output = ()> + 'static) -> std::io::Result<()> {
    media::init();
    match crate::limits::raise_open_files() {
        Ok(open_files) => log::info!("open files limit {open_files}; at most {} live streams", config.max_streams),
        Err(e) => log::warn!("could not raise the open files limit: {e}"),
    }
    std::fs::create_dir_all(&config.media_dir).map_err(|e| {
        std::io::Error::new(e.kind(), format!("creating the media folder {}: {e}", config.media_dir.display()))
    })?;
    // Absolute from here on: the file watcher reports absolute paths, and a relative folder (the
    // default `./media`) would never match them, so no stream would go live before its end.
    config.media_dir = std::fs::canonicalize(&config.media_dir).map_err(|e| {
        std::io::Error::new(e.kind(), format!("finding the media folder {}: {e}", config.media_dir.display()))
    })?;
    match media::leftovers::retire_interrupted(&config.media_dir) {
        Ok(retired) if retired.is_empty() => {}
        Ok(retired) => log::warn!(
            "streams {} were interrupted by an earlier run; their manifests were renamed *.{} and are not served",
            retired.join(", "),
            media::leftovers::INTERRUPTED
        ),
        Err(e) => {
            let message = format!("retiring interrupted streams in {}: {e}", config.media_dir.display());
            return Err(std::io::Error::new(e.kind(), message));
        }
    }
    let registry = Registry::new(config.media_dir.clone(), config.max_streams);
    let metrics = Arc::new(Metrics::default());
    let ingest = Arc::new(IngestContext {
        registry: Arc::clone(&registry),
        metrics: Arc::clone(&metrics),
        max_message_bytes: config.max_message_bytes,
        max_stream_bytes: config.max_stream_bytes,
        idle_timeout: config.idle_timeout,
        reconnect_grace: config.reconnect_grace,
        finalise_timeout: config.finalise_timeout,
        packager_read_delay: config.test_packager_delay,
        resumes: Default::default(),
    });
    let rtmp = match config.rtmp_bind.0 {
        Some(address) => {
            let context = Arc::new(RtmpContext {
                ingest: Arc::clone(&ingest),
                publish_token: config.publish_token.clone(),
                publish_secret: config.publish_secret.clone(),
                auth_webhook: config.auth_webhook.clone(),
                settings: rtmp_settings(&config),
                public_url: config.public_url.clone(),
                http_port: listener.local_addr()?.port(),
            });
            let rtmp_listener = bind_rtmp(address)?;
            // Logged before the HTTP address: whoever waits for that one has this one too.
            log::info!("listening on rtmp://{}", rtmp_listener.local_addr()?);
            Some(actix_web::rt::spawn(rtmp::serve(rtmp_listener, context)))
        }
        None => None,
    };
    // Ends when shutdown begins; awaited below so no pass is cut off mid-delete.
    let retention = actix_web::rt::spawn(crate::streams::retention::run(Arc::clone(&registry), config.media_dir.clone(), config.keep_recordings));
    let publisher_page = http::pages::render_publisher_page(&config);
    let viewer_slots = http::sockets::ViewerSlots::new(config.max_viewers, config.max_viewers_per_address);
    let access_log = config.access_log;
    let audience = http::audience::Audience::new(config.segment_duration);
    let state = web::Data::new(AppState {
        config,
        registry: Arc::clone(&registry),
        metrics,
        ingest,
        publisher_page,
        viewer_slots,
        hls: Default::default(),
        audience,
        recordings: Default::default(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(http::cors())
            .wrap(http::public_headers())
            .wrap(Condition::new(access_log, request_log()))
            .configure(http::routes)
    })
    .disable_signals()
    .shutdown_timeout(1)
    // Without it (actix-web leaves Nagle's algorithm on) the last, short segment of a response
    // written in more than one `write` waits for the client's ACK of the ones before, which a client
    // may delay by up to 40 ms: a 33 KiB segment served in slices fell from ~11,000 to ~1,400 req/s.
    // nginx sets it on keep-alive connections too; the WebSocket events and live chunks go out at once.
    .tcp_nodelay(true)
    .listen(listener)?;
    for address in server.addrs() {
        log::info!("listening on http://{address}");
    }
    let server = server.run();
    let handle = server.handle();
    let stopping = actix_web::rt::spawn(async move {
        shutdown.await;
        log::info!("finalising {} live streams, then stopping", registry.active_count());
        registry.begin_shutdown();
        registry.finish(tokio::time::Instant::now() + SHUTDOWN_DEADLINE).await;
        let _ = retention.await;
        if let Some(rtmp) = rtmp {
            let _ = rtmp.await;
        }
        handle.stop(true).await;
    });
    server.await?;
    // The server only stops through that task; it has finished, and owns nothing left to wait for.
    let _ = stopping.await;
    log::info!("stopped");
    Ok(())
}

/// Binds `--rtmp-bind` on the running runtime.
fn bind_rtmp(address: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let listener = TcpListener::bind(address)
        .map_err(|e| std::io::Error::new(e.kind(), format!("listening for RTMP on {address}: {e} (--rtmp-bind 0 turns RTMP off)")))?;
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

/// The packager settings RTMP publishers get; the clock URL is made per connection.
fn rtmp_settings(config: &Config) -> media::DashSettings {
    media::DashSettings {
        segment_duration: config.segment_duration,
        low_latency: config.latency == crate::config::Latency::Low,
        fragment_duration: config.fragment_duration,
        target_latency: config.target_latency,
        utc_timing_url: None,
        presentation_tag: String::new(),
    }
}

/// Resolves on the first SIGTERM or SIGINT, logging which.
pub fn signals() -> std::io::Result<impl Future<Output = ()>> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        log::info!("{name}: shutting down");
    })
}

/// Request log without query strings: a publish token travels as `?token=` and must never be logged.
fn request_log() -> Logger {
    Logger::new(r#"%a "%{method}xi %U" %s %b %Dms"#).custom_request_replace("method", |request| request.method().to_string())
}
