//! livedash — live streaming from a web browser over MPEG-DASH.
//!
//! The data path, one module each: [`ingest`] (WebSocket publish sessions) → [`media`] (the packager
//! thread, libavformat in-process) → [`streams`] (registry, file watcher, events for pages) →
//! [`delivery`] (the live edge in memory, fanned out) → [`http`] (routes, DASH files, pages); [`auth`]
//! decides who may publish, and from where.

pub mod auth;
pub mod config;
pub mod error_code;
pub mod hls;
pub mod media;
pub mod stream_id;
pub mod protocol;
pub mod streams;
pub mod ingest;
pub mod metrics;
pub mod delivery;
pub mod http;
pub mod limits;
pub mod server;
