//! RTMP ingest (`--rtmp-bind`, default `0.0.0.0:1935`, `0` = off): OBS, ffmpeg and hardware encoders
//! publish to `rtmp://HOST:1935/live` with the stream key `STREAM` or `STREAM?token=…`, and go live
//! exactly like a browser: same stream ids, token rights, admission webhook, limits, reconnect grace
//! and recording, through [`super::publish`]. Their audio and video messages become an FLV stream
//! ([`flv`]) for the packager's `flv` demuxer, which only this source may use. H.264 + AAC become
//! low-latency CMAF; another codec is refused with a log line naming it, and the connection closed.
//!
//! The IO-free parts are [`session`] (handshake, chunk stream and commands, by `rml_rtmp`),
//! [`stream_key`], [`flv`] and [`keyframes`] (the encoder's keyframe interval against the segment
//! duration, reported in the stream's status); [`connection`] is the socket glue.
//!
//! The listener logs `listening on rtmp://ADDR` (how a port of 0 becomes known) and stops accepting
//! when the server shuts down; publishing connections are finalised like any other publisher.

pub mod connection;
pub mod flv;
pub mod keyframes;
pub mod session;
pub mod stream_key;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::publish::IngestContext;
use crate::media::DashSettings;

/// What every RTMP connection needs from the server's configuration.
pub struct RtmpContext {
    pub ingest: Arc<IngestContext>,
    /// `--publish-token`.
    pub publish_token: Option<String>,
    /// `--publish-secret`.
    pub publish_secret: Option<String>,
    /// `--auth-webhook`.
    pub auth_webhook: Option<String>,
    /// The packager settings, all but the clock URL and the presentation tag.
    pub settings: DashSettings,
    /// `--public-url`: the base of the clock URL players are given, when set.
    pub public_url: Option<String>,
    /// The HTTP port, for the clock URL on the address the encoder reached when there is no public URL.
    pub http_port: u16,
}

impl RtmpContext {
    /// The packager settings for a connection that reached this server at `local`: players sync
    /// their clocks with `/time` on the public URL, or on the HTTP port of the address the encoder used.
    pub fn settings_for(&self, local: SocketAddr) -> DashSettings {
        let base = match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", SocketAddr::new(local.ip(), self.http_port)),
        };
        DashSettings { utc_timing_url: Some(format!("{base}/time")), ..self.settings.clone() }
    }
}

/// Accepts RTMP connections until the server begins shutting down.
pub async fn serve(listener: TcpListener, context: Arc<RtmpContext>) {
    let mut shutdown = context.ingest.registry.shutdown_signal();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    actix_web::rt::spawn(connection::run(Arc::clone(&context), socket, peer));
                }
                // Out of file descriptors, most likely: the next accept may work once some close.
                Err(e) => {
                    log::warn!("RTMP: accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
    }
}
