//! Shared helpers for the integration tests: the real server, a real WebSocket client, and real
//! libavformat reading media back.
#![allow(dead_code)]

pub mod clients;
pub mod live;
pub mod live_edge;
pub mod media;
pub mod server;
pub mod ws;

use std::time::Duration;

/// Generous bound for anything that should take a few seconds on a loaded 2-core CI machine.
pub const WAIT: Duration = Duration::from_secs(20);
