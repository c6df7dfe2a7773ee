//! Counters for `GET /metrics` (Prometheus text format). Plain atomics: a handful of numbers does not
//! need a metrics framework.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::streams::status::Source;
use crate::streams::{Registry, StreamState};

/// Process-wide counters, updated on the data path.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Recorder bytes received from publishers.
    pub ingest_bytes: AtomicU64,
    /// Binary WebSocket messages received from publishers.
    pub ingest_messages: AtomicU64,
    /// Publish attempts that got `accepted`.
    pub publishes_accepted: AtomicU64,
    /// Accepted publishes by where they came from, in [`Source::ALL`] order.
    pub publishes_by_source: [AtomicU64; 3],
    /// Publish attempts refused with an error.
    pub publishes_refused: AtomicU64,
    /// Viewer WebSockets open now.
    pub viewers: AtomicU64,
    /// Segment requests answered while the segment was still being written.
    pub in_progress_segments_served: AtomicU64,
    /// GETs of media segments, finished or in progress: what an HTTP cache in front should collapse.
    pub segment_requests: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts an accepted publish from `source`.
    pub fn accepted_from(&self, source: Source) {
        Metrics::add(&self.publishes_accepted, 1);
        let index = Source::ALL.iter().position(|s| *s == source).unwrap_or_default();
        Metrics::add(&self.publishes_by_source[index], 1);
    }

    /// Renders the counters and the registry's stream states.
    pub fn render(&self, registry: &Registry) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(&mut out, "livedash_ingest_bytes_total", "Recorder bytes received.", "counter", get(&self.ingest_bytes));
        counter(
            &mut out,
            "livedash_ingest_messages_total",
            "Binary WebSocket messages received from publishers.",
            "counter",
            get(&self.ingest_messages),
        );
        let _ = writeln!(
            out,
            "# HELP livedash_publishes_total Publish attempts by result.\n# TYPE livedash_publishes_total counter\n\
             livedash_publishes_total{{result=\"accepted\"}} {}\nlivedash_publishes_total{{result=\"refused\"}} {}",
            get(&self.publishes_accepted),
            get(&self.publishes_refused)
        );
        let _ = writeln!(
            out,
            "# HELP livedash_publishes_by_source_total Accepted publishes by source.\n# TYPE livedash_publishes_by_source_total counter"
        );
        for (source, count) in Source::ALL.iter().zip(&self.publishes_by_source) {
            let _ = writeln!(out, "livedash_publishes_by_source_total{{source=\"{}\"}} {}", source.as_str(), get(count));
        }
        counter(&mut out, "livedash_viewer_sockets", "Viewer WebSockets open.", "gauge", get(&self.viewers));
        counter(
            &mut out,
            "livedash_in_progress_segments_served_total",
            "Segments streamed while still being written.",
            "counter",
            get(&self.in_progress_segments_served),
        );
        counter(
            &mut out,
            "livedash_segment_requests_total",
            "GET requests for media segments (finished or in progress).",
            "counter",
            get(&self.segment_requests),
        );
        let watcher = registry.media_watcher();
        counter(
            &mut out,
            "livedash_live_edge_read_bytes_total",
            "Bytes read from segments still being written: once per segment, however many viewers wait on it.",
            "counter",
            watcher.live_read_bytes(),
        );
        counter(
            &mut out,
            "livedash_file_cache_bytes",
            "Bytes of finished files held in memory (recent segments, current manifests).",
            "gauge",
            watcher.cache().used_bytes(),
        );
        counter(
            &mut out,
            "livedash_readiness_checks_total",
            "Manifests read to decide whether a starting presentation is playable yet.",
            "counter",
            registry.readiness_checks(),
        );
        let mut states = [("starting", 0u64), ("live", 0), ("ended", 0), ("failed", 0)];
        for (_, status) in registry.list() {
            let index = match status.state {
                StreamState::Starting => 0,
                StreamState::Live => 1,
                StreamState::Ended { .. } => 2,
                StreamState::Failed { .. } => 3,
            };
            states[index].1 += 1;
        }
        let _ = writeln!(out, "# HELP livedash_streams Streams by state.\n# TYPE livedash_streams gauge");
        for (state, n) in states {
            let _ = writeln!(out, "livedash_streams{{state=\"{state}\"}} {n}");
        }
        out
    }
}
