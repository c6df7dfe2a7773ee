//! hls — HLS and Low-Latency HLS playlists for the CMAF segments the packager writes for DASH, so the
//! same files serve both (nothing is stored twice, nothing is transcoded).
//!
//! Pure, without IO: [`boxes`] reads what the init segments and `moof`s say, [`scan`] follows a growing
//! segment chunk by chunk, [`timeline`] keeps a rendition's sliding window of segments and parts,
//! [`playlist`] renders the multivariant and media playlists from that, and [`reload`] decides
//! blocking playlist reloads. Reading the stream folder and answering HTTP is [`crate::http::hls`].
//! VP8 streams (WebM segments) have no HLS: HLS carries fMP4, not WebM.

pub mod boxes;
pub mod playlist;
pub mod reload;
pub mod scan;
pub mod timeline;

pub use boxes::TrackSetup;
pub use playlist::{MediaView, RenditionReport, RenditionSummary};
pub use timeline::Timeline;

/// The multivariant playlist's file name.
pub const MULTIVARIANT: &str = "master.m3u8";

/// The media playlist name of representation `rep`.
pub fn media_playlist_name(rep: u32) -> String {
    format!("media_{rep}.m3u8")
}
