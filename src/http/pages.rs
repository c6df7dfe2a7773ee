//! The pages and their assets, embedded in the binary (dash.js and hls.js included: no CDN, no files beside the
//! binary). `GET /` is the publisher page, `GET /watch/{stream}` the viewer page, `GET /streams` the list
//! of live streams and recent recordings.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use crate::config::{Config, Latency};
use crate::stream_id::StreamId;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { name: "publish.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../assets/publish.js") },
    Asset { name: "uplink.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../assets/uplink.js") },
    Asset { name: "uplink-rate.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../assets/uplink-rate.js") },
    Asset { name: "capture.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../assets/capture.js") },
    Asset { name: "capture-worker.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../assets/capture-worker.js") },
    Asset { name: "thumbnail.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../assets/thumbnail.js") },
    Asset { name: "live-info.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../assets/live-info.js") },
    Asset { name: "watch.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../assets/watch.js") },
    Asset { name: "streams.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../assets/streams.js") },
    Asset { name: "player.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../assets/player.js") },
    Asset { name: "style.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../../assets/style.css") },
    Asset {
        name: "dash.all.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!(concat!(env!("OUT_DIR"), "/dash.all.min.js")),
    },
    Asset { name: "hls.min.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!(concat!(env!("OUT_DIR"), "/hls.min.js")) },
];

const PUBLISHER_PAGE: &str = include_str!("../../assets/index.html");
const VIEWER_PAGE: &str = include_str!("../../assets/watch.html");
const STREAM_LIST_PAGE: &str = include_str!("../../assets/streams.html");

/// Assets change only with the binary, so the version and size make a good validator.
fn etag(asset: &Asset) -> String {
    format!("\"{}-{}\"", env!("CARGO_PKG_VERSION"), asset.body.len())
}

/// Recorder timeslice in low-latency mode: bytes leave the browser every 100 ms, so a frame waits 50 ms
/// on average before it is sent.
const LOW_LATENCY_TIMESLICE_MS: u64 = 100;
/// In normal mode whole segments are the unit anyway; fewer, larger messages are cheaper.
const NORMAL_TIMESLICE_MS: u64 = 250;

/// The publisher page with this server's settings filled in (segment length for the recorder's keyframe
/// interval, timeslice, whether a token is needed). Rendered once at startup.
pub fn render_publisher_page(config: &Config) -> String {
    let low_latency = config.latency == Latency::Low;
    let settings = serde_json::json!({
        "segmentDuration": config.segment_duration.as_secs_f64(),
        "lowLatency": low_latency,
        "timesliceMs": if low_latency { LOW_LATENCY_TIMESLICE_MS } else { NORMAL_TIMESLICE_MS },
        "tokenRequired": config.publish_token.is_some() || config.publish_secret.is_some(),
    });
    // `</` can't appear in the JSON (no strings from users), so it is safe inside <script>.
    PUBLISHER_PAGE.replace("__LIVEDASH_CONFIG__", &settings.to_string())
}

pub async fn publisher(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(state.publisher_page.clone())
}

pub async fn viewer(stream: web::Path<String>) -> HttpResponse {
    match StreamId::parse(&stream) {
        Ok(_) => html(VIEWER_PAGE),
        Err(e) => HttpResponse::BadRequest().content_type("text/plain; charset=utf-8").body(e.to_string()),
    }
}

/// `GET /streams`: live streams and recent recordings (the page reads `/api/streams`).
pub async fn stream_list() -> HttpResponse {
    html(STREAM_LIST_PAGE)
}

fn html(page: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(page)
}

pub async fn asset(request: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name.as_str()) else {
        return HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("no such asset\n");
    };
    let etag = etag(asset);
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if unchanged { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .content_type(asset.content_type);
    if unchanged { response.finish() } else { response.body(asset.body) }
}
