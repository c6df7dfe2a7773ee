//! How many are watching each stream now: its open viewer sockets (`/ws/watch/{stream}`), plus players
//! that only use HTTP — distinct client addresses that fetched one of its media segments within the
//! last [`Audience::window`] and have no viewer socket open on it (the viewer page does both, and
//! counts once). Addresses follow `--trust-forwarded` as everywhere else ([`crate::auth::host`]), so
//! behind a proxy each viewer counts, not the proxy. Viewers behind one NAT address that only use HTTP
//! count as one: the count is "at least this many".
//!
//! Recording a segment request is on the hot path: one short lock, two hash lookups, no allocation
//! unless the address (or the stream) is new, never held across an await. Memory is bounded: at most
//! [`MAX_RECENT_ADDRESSES`] (stream, address) pairs are remembered; when full, expired ones are
//! dropped, and if none has expired the new address is not counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::HttpRequest;
use tokio::time::Instant;

use crate::auth::host::{RequestFacts, client_address};
use crate::stream_id::StreamId;

/// (stream, address) pairs remembered for HTTP-only players: about 5 MiB at most, and more viewers
/// than one origin serves (more than that sit behind caches, which count as their own addresses).
pub const MAX_RECENT_ADDRESSES: usize = 65_536;

/// An HTTP player asks for a segment once per segment per representation; two segment durations plus
/// this much slack without a request and it has gone.
const WINDOW_SLACK: Duration = Duration::from_secs(2);

/// Viewers per stream.
#[derive(Debug)]
pub struct Audience {
    window: Duration,
    streams: Mutex<Streams>,
}

#[derive(Debug, Default)]
struct Streams {
    by_stream: HashMap<StreamId, StreamAudience>,
    /// Addresses remembered over all streams (bounded by [`MAX_RECENT_ADDRESSES`]).
    recent_total: usize,
}

#[derive(Debug, Default)]
struct StreamAudience {
    /// Open viewer sockets per client address (unknown addresses share `None`).
    sockets: HashMap<Option<IpAddr>, usize>,
    socket_total: usize,
    /// When each address last fetched a media segment.
    recent: HashMap<IpAddr, Instant>,
}

impl StreamAudience {
    fn is_empty(&self) -> bool {
        self.socket_total == 0 && self.recent.is_empty()
    }
}

/// A viewer socket, counted while it is held.
#[derive(Debug)]
pub struct WatchingSocket {
    audience: Arc<Audience>,
    stream: StreamId,
    address: Option<IpAddr>,
}

impl Audience {
    /// Counts HTTP players that fetched a segment within two segment durations (plus slack).
    pub fn new(segment_duration: Duration) -> Arc<Audience> {
        Arc::new(Audience { window: segment_duration * 2 + WINDOW_SLACK, streams: Mutex::default() })
    }

    /// How long an HTTP player counts after its last segment request.
    pub fn window(&self) -> Duration {
        self.window
    }

    fn lock(&self) -> MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A viewer socket of `stream` from `address` opened; it counts until the returned guard drops.
    pub fn socket_opened(self: &Arc<Self>, stream: &StreamId, address: Option<IpAddr>) -> WatchingSocket {
        let mut streams = self.lock();
        let audience = streams.by_stream.entry(stream.clone()).or_default();
        *audience.sockets.entry(address).or_insert(0) += 1;
        audience.socket_total += 1;
        WatchingSocket { audience: Arc::clone(self), stream: stream.clone(), address }
    }

    /// `address` fetched a media segment of `stream` at `now`.
    pub fn segment_fetched(&self, stream: &StreamId, address: Option<IpAddr>, now: Instant) {
        let Some(address) = address else { return };
        let mut streams = self.lock();
        if let Some(seen) = streams.by_stream.get_mut(stream).and_then(|a| a.recent.get_mut(&address)) {
            *seen = now;
            return;
        }
        if streams.recent_total >= MAX_RECENT_ADDRESSES {
            streams.forget_expired(now, self.window);
            if streams.recent_total >= MAX_RECENT_ADDRESSES {
                return;
            }
        }
        streams.by_stream.entry(stream.clone()).or_default().recent.insert(address, now);
        streams.recent_total += 1;
    }

    /// Viewers of `stream` at `now`.
    pub fn count(&self, stream: &StreamId, now: Instant) -> usize {
        let mut streams = self.lock();
        let Some(audience) = streams.by_stream.get_mut(stream) else { return 0 };
        let before = audience.recent.len();
        audience.recent.retain(|_, seen| now.duration_since(*seen) < self.window);
        let forgotten = before - audience.recent.len();
        let http_only = audience.recent.keys().filter(|address| !audience.sockets.contains_key(&Some(**address))).count();
        let count = audience.socket_total + http_only;
        if audience.is_empty() {
            streams.by_stream.remove(stream);
        }
        streams.recent_total -= forgotten;
        count
    }
}

impl Streams {
    fn forget_expired(&mut self, now: Instant, window: Duration) {
        let mut remembered = 0;
        self.by_stream.retain(|_, audience| {
            audience.recent.retain(|_, seen| now.duration_since(*seen) < window);
            remembered += audience.recent.len();
            !audience.is_empty()
        });
        self.recent_total = remembered;
    }
}

impl Drop for WatchingSocket {
    fn drop(&mut self) {
        let mut streams = self.audience.lock();
        let Some(audience) = streams.by_stream.get_mut(&self.stream) else { return };
        audience.socket_total -= 1;
        if let Some(count) = audience.sockets.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                audience.sockets.remove(&self.address);
            }
        }
        if audience.is_empty() {
            streams.by_stream.remove(&self.stream);
        }
    }
}

/// The client's address for counting, by the same rule as everywhere else ([`client_address`]); reads
/// the forwarding headers only when they are trusted.
pub fn client_of(request: &HttpRequest, trust_forwarded: bool) -> Option<IpAddr> {
    if !trust_forwarded {
        return request.peer_addr().map(|peer| peer.ip());
    }
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let facts = RequestFacts {
        forwarded: header("forwarded"),
        x_forwarded_for: header("x-forwarded-for"),
        peer: request.peer_addr(),
        ..Default::default()
    };
    client_address(&facts, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn sockets_and_http_only_addresses_count_once_each() {
        let audience = Audience::new(Duration::from_secs(1));
        let cam = StreamId::parse("cam").unwrap();
        let now = Instant::now();
        let a = audience.socket_opened(&cam, ip("192.0.2.1"));
        let b = audience.socket_opened(&cam, ip("192.0.2.1"));
        audience.segment_fetched(&cam, ip("192.0.2.1"), now);
        assert_eq!(audience.count(&cam, now), 2, "a socket's own segment requests don't count again");
        audience.segment_fetched(&cam, ip("198.51.100.7"), now);
        audience.segment_fetched(&cam, ip("198.51.100.7"), now);
        assert_eq!(audience.count(&cam, now), 3);
        drop(a);
        drop(b);
        assert_eq!(audience.count(&cam, now), 2, "192.0.2.1 still fetched segments: it is an HTTP player now");
        let later = now + audience.window();
        assert_eq!(audience.count(&cam, later), 0, "quiet for a window: gone");
        assert!(audience.lock().by_stream.is_empty(), "nothing left behind");
        assert_eq!(audience.lock().recent_total, 0);
        assert_eq!(audience.count(&StreamId::parse("other").unwrap(), now), 0);
    }

    #[test]
    fn memory_is_bounded_and_expired_addresses_make_room() {
        let audience = Audience::new(Duration::from_secs(1));
        let now = Instant::now();
        for i in 0..MAX_RECENT_ADDRESSES as u32 + 100 {
            let stream = StreamId::parse(&format!("s{}", i % 7)).unwrap();
            audience.segment_fetched(&stream, Some(IpAddr::from(i.to_be_bytes())), now);
        }
        assert_eq!(audience.lock().recent_total, MAX_RECENT_ADDRESSES, "new addresses past the bound are not kept");
        let later = now + audience.window();
        let cam = StreamId::parse("cam").unwrap();
        audience.segment_fetched(&cam, ip("192.0.2.1"), later);
        assert_eq!(audience.lock().recent_total, 1, "the expired ones were forgotten to make room");
        assert_eq!(audience.count(&cam, later), 1);
    }
}
