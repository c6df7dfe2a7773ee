vcl 4.1;

# An HTTP cache (Varnish 7.1) in front of one livedash origin: every viewer of the edge costs the
# origin one request per file, however many viewers there are.
#
# - Segments are collapsed and streamed: the first request for a segment goes to the origin; every
#   request for it that arrives meanwhile waits on that one fetch (Varnish's waiting list) and then
#   streams from the same object as the origin writes it (`do_stream`), chunk by chunk, a segment
#   still being written included. Later requests are cache hits.
# - WebSockets (`/ws/...`: publishing, and the viewer page's events) are piped to the origin untouched.
# - Manifests and playlists change while a stream is live: kept at most one fragment (0.2 s, the
#   origin's default `--fragment-duration`), never served stale: collapsed like segments, and no copy
#   is more than a fragment older than the origin's. HLS's
#   `_HLS_msn`/`_HLS_part` query strings stay part of the cache key (the whole URL is hashed).
# - A 404 (a segment not there yet, which the origin sends with `Cache-Control: no-store`) and any
#   error are handed to the requests waiting for them and not kept, nor remembered as uncacheable:
#   the next request for that name goes to the origin and is collapsed again.
# - Everything else (`/time`, `/healthz`, `/metrics`, `/api/...`, pages) is passed through uncached:
#   they are answers about this moment or about the origin itself.
#
# deploy/varnish/run-edge ORIGIN_HOST:PORT LISTEN_PORT fills in the backend below and runs this file.

backend origin {
    .host = "127.0.0.1";
    .port = "8080";
    .connect_timeout = 2s;
    # The origin holds a request for the next segment until the muxer starts it (about a segment).
    .first_byte_timeout = 30s;
    # Between the chunks of a segment being written: a fragment apart, more while a publisher
    # reconnects (the origin's --reconnect-grace, 10 s by default).
    .between_bytes_timeout = 30s;
}

sub vcl_recv {
    if (req.url ~ "^/ws/" || req.http.Upgrade ~ "(?i)websocket") {
        return (pipe);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.url ~ "^/dash/") {
        # Public files: one copy for every viewer whatever their cookies.
        unset req.http.Cookie;
        unset req.http.Authorization;
        return (hash);
    }
    return (pass);
}

sub vcl_pipe {
    # The WebSocket handshake needs its Upgrade through to the origin.
    if (req.http.Upgrade) {
        set bereq.http.Upgrade = req.http.Upgrade;
        set bereq.http.Connection = req.http.Connection;
    }
}

sub vcl_backend_response {
    if (bereq.uncacheable || bereq.url !~ "^/dash/") {
        return (deliver);
    }
    if (beresp.status != 200) {
        # Not there yet, or broken: give it to whoever waited and keep nothing, not even a
        # hit-for-miss marker (that would stop collapsing the next requests for this name).
        set beresp.ttl = 0s;
        set beresp.grace = 0s;
        set beresp.keep = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (bereq.url ~ "^/dash/[^/?]+/(init|chunk)-[^/?]+\.(m4s|webm)(\?|$)") {
        # A segment's name is never reused (it carries a per-presentation tag) and its bytes never
        # change: the origin sends every segment, one still being written included, as
        # `public, max-age=31536000, immutable`, and aborts a response it cannot complete. Varnish
        # never keeps a cut one: a fetch that does not end with a complete body (reset, short chunked
        # body) fails the object and it is dropped. Streamed while it arrives; kept a day here
        # (viewers want the last minutes; the storage's LRU drops older ones first anyway).
        set beresp.do_stream = true;
        set beresp.ttl = 1d;
        set beresp.grace = 0s;
        return (deliver);
    }
    # Manifests and playlists: the origin says `public, max-age=1`; here they are kept a fragment
    # only, so one fetch serves every viewer asking within a fragment and none is a second behind.
    set beresp.do_stream = true;
    set beresp.ttl = 0.2s;
    set beresp.grace = 0s;
    set beresp.keep = 0s;
    return (deliver);
}
